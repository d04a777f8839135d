"""The geogrid command: exit codes, outputs, and one-line errors for user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from geogrid.cli import main
from tests.conftest import SOUTH, STEP, WEST, tiny_grids, write_tiny_district

POINTS_CSV = (
    "id,事件,lon,lat,note\n"
    f"a1,纠纷,{WEST + 0.005},{SOUTH + 0.005},inside 101\n"
    f"a2,隐患,{WEST + STEP},{SOUTH + 0.005},on the 101/103 edge\n"
    f"a3,治安,{WEST - 0.0003},{SOUTH + 0.005},30 m outside\n"
    f"a4,消防,,{SOUTH},no longitude\n"
    f"a5,其他,{WEST - 1},{SOUTH},far away\n"
)


@pytest.fixture
def points_csv(tmp_path):
    path = tmp_path / "reports.csv"
    path.write_text(POINTS_CSV, encoding="utf-8")
    return path


def test_validate_clean_district_exits_0(tiny_manifest, capsys):
    assert main(["validate", str(tiny_manifest)]) == 0
    assert "0 errors" in capsys.readouterr().out


def test_validate_with_errors_exits_1_and_writes_problems(tmp_path, capsys):
    grids = tiny_grids()
    grids.loc[0, "geometry"] = grids.geometry[0].buffer(0.002, join_style="mitre")
    manifest = write_tiny_district(tmp_path / "d", grids=grids)
    problems = tmp_path / "problems.geojson"
    assert main(["validate", str(manifest), "--json", "--problems", str(problems)]) == 1
    report = json.loads(capsys.readouterr().out)
    kinds = {issue["kind"] for issue in report["issues"]}
    assert {"overlap", "outside_parent"} <= kinds
    layer = gpd.read_file(problems)
    assert len(layer) == len(report["issues"]) and layer.crs.to_epsg() == 4326


#: Province → city → county with GB/T 2260 codes (every level 6 digits, a parent's own
#: digits padded with "00"), as a provincial planning office would hand them over.
GB2260 = """\
crs = "EPSG:4326"
[[level]]
key = "province"
label = "省"
path = "province.geojson"
code = "code"
[[level]]
key = "city"
label = "市"
path = "cities.geojson"
code = "code"
parent = "province"
[[level]]
key = "county"
label = "县"
path = "counties.geojson"
code = "code"
parent = "city"
"""


def write_gb2260_province(folder, wrong_county: str | None = None):
    """浙江省 330000: 温州市 330300 west, 衢州市 330800 east, two counties each."""
    folder.mkdir()
    gpd.GeoDataFrame({"code": ["330000"]}, geometry=[box(120, 28, 122, 29)], crs=4326).to_file(
        folder / "province.geojson"
    )
    cities = {"330300": box(120, 28, 121, 29), "330800": box(121, 28, 122, 29)}
    gpd.GeoDataFrame({"code": list(cities), "province": "330000"}, geometry=list(cities.values()),
                     crs=4326).to_file(folder / "cities.geojson")  # fmt: skip
    counties = [("330302", "330300", box(120, 28, 120.5, 29)),
                ("330381", "330300", box(120.5, 28, 121, 29)),
                ("330802", "330800", box(121, 28, 121.5, 29)),
                (wrong_county or "330824", "330800", box(121.5, 28, 122, 29))]  # fmt: skip
    codes, parents, shapes = zip(*counties, strict=True)
    gpd.GeoDataFrame({"code": codes, "city": parents}, geometry=list(shapes), crs=4326).to_file(
        folder / "counties.geojson"
    )
    (folder / "province.toml").write_text(GB2260, encoding="utf-8")
    return folder / "province.toml"


def test_validate_reads_gb2260_codes_of_one_length(tmp_path, capsys):
    assert main(["validate", str(write_gb2260_province(tmp_path / "ok"))]) == 0
    assert "0 warnings" in capsys.readouterr().out
    wrong = write_gb2260_province(tmp_path / "wrong", wrong_county="330924")
    assert main(["validate", str(wrong)]) == 0  # a warning, not an error
    printed = capsys.readouterr().out
    assert "1 warning" in printed
    assert (
        "county 330924 (row 3) code does not start with its city's code 330800, nor with 3308 "
        "as a code of its length near (121.75000, 28.50000)"
    ) in printed


def test_assign_csv_keeps_rows_and_columns(tiny_manifest, points_csv, tmp_path, capsys):
    out = tmp_path / "assigned.csv"
    assert main(["assign", str(tiny_manifest), str(points_csv), "--out", str(out)]) == 0
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(table.columns[:5]) == ["id", "事件", "lon", "lat", "note"]
    assert table["grid_code"].tolist() == ["101", "101", "101", "", ""]
    assert table["status"].tolist() == [
        "assigned",
        "assigned",
        "nearest",
        "unassigned",
        "unassigned",
    ]
    assert table["lon"][3] == ""  # kept exactly as received
    summary = capsys.readouterr().out
    assert "5 points assigned" in summary and "nearest" in summary


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg"])
def test_assign_to_layers(tiny_manifest, points_csv, tmp_path, suffix):
    out = tmp_path / f"assigned{suffix}"
    assert main(["assign", str(tiny_manifest), str(points_csv), "--out", str(out)]) == 0
    layer = gpd.read_file(out)
    assert len(layer) == 5 and layer["street_code"][0] == "1"
    assert layer.geometry.isna().tolist() == [False, False, False, True, False]


def test_assign_point_layer_in_gcj02(tiny_manifest, tmp_path):
    from geogrid.crs import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02([WEST + STEP - 0.0003], [SOUTH + 0.015])
    points = gpd.GeoDataFrame({"id": ["p"]}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    points.to_file(tmp_path / "p.geojson")
    out = tmp_path / "out.csv"
    argv = [
        "assign",
        str(tiny_manifest),
        str(tmp_path / "p.geojson"),
        "--out",
        str(out),
        "--crs",
        "GCJ-02",
    ]
    assert main(argv) == 0
    assert pd.read_csv(out, dtype=str)["grid_code"].tolist() == ["102"]


def test_assign_custom_columns_and_bd09(tiny_manifest, tmp_path):
    from geogrid.crs import wgs84_to_bd09

    lon, lat = wgs84_to_bd09([WEST + 0.005], [SOUTH + 0.005])
    path = tmp_path / "baidu.csv"
    path.write_text(f"经度,纬度\n{lon[0]},{lat[0]}\n", encoding="gb18030")
    out = tmp_path / "out.csv"
    argv = [
        "assign",
        str(tiny_manifest),
        str(path),
        "--out",
        str(out),
        "--lon",
        "经度",
        "--lat",
        "纬度",
        "--crs",
        "BD-09",
    ]
    assert main(argv) == 0
    assert pd.read_csv(out, dtype=str)["grid_code"].tolist() == ["101"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--lon", "x"], "no column 'x' for --lon; columns are: id, 事件, lon, lat, note"),
        (["--crs", "Atlantis-01"], "Atlantis-01"),
    ],
)
def test_assign_user_mistakes_exit_2_with_one_line(
    tiny_manifest, points_csv, tmp_path, capsys, extra, message
):
    argv = ["assign", str(tiny_manifest), str(points_csv), "--out", str(tmp_path / "o.csv")]
    assert main(argv + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("geogrid: error: ") and message in err and "Traceback" not in err


def test_assign_unknown_output_format(tiny_manifest, points_csv, tmp_path, capsys):
    argv = ["assign", str(tiny_manifest), str(points_csv), "--out", str(tmp_path / "o.xlsx")]
    assert main(argv) == 2
    assert "output must end in .csv" in capsys.readouterr().err


def test_missing_points_file(tiny_manifest, tmp_path, capsys):
    argv = ["assign", str(tiny_manifest), str(tmp_path / "none.csv"), "--out", "o.csv"]
    assert main(argv) == 2
    assert "none.csv: file not found" in capsys.readouterr().err


def test_command_line_entry_point_runs_without_traceback(tmp_path):
    # The installed console script, end to end, on a user mistake.
    result = subprocess.run(
        [sys.executable, "-m", "geogrid.cli", "validate", str(tmp_path / "missing.toml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "manifest not found" in result.stderr and "Traceback" not in result.stderr
