"""``geogrid risk-map`` and the printable map: PNG and PDF, Chinese text, clear errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

import geogrid.cli as cli
from geogrid import Hierarchy
from geogrid.analysis.printmap import chinese_font, nice_length, save_risk_map
from geogrid.errors import InputError
from geogrid.hazards import Hazard
from geogrid.reports import NewReport
from geogrid.storage import open_store
from tests.analysis import RED_LEC, centre, tiny_hierarchy
from tests.conftest import RENAMED_MANIFEST, write_tiny_district


@pytest.fixture
def main():
    """The ``geogrid`` command."""
    return cli.main


@pytest.fixture
def store_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = open_store(url)
    store.import_generation(tiny_hierarchy(), "小区", activate=True)
    store.add_hazard(Hazard("加油站", "safety.hazmat", Point(*centre("101")), "lec", RED_LEC))
    when = datetime.now(UTC) - timedelta(days=2)
    store.add_reports([NewReport("dispute.family", *centre("203"), reported_at=when)])
    return url


@pytest.mark.parametrize("suffix", ["pdf", "png"])
def test_risk_map_writes_the_printable_map(main, store_url, tmp_path, capsys, suffix):
    out = tmp_path / f"map.{suffix}"
    assert main(["risk-map", "--level", "grid", "--out", str(out), "--store", store_url,
                 "--dpi", "40"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert f"wrote {out}: 8 grids of level grid — red 1, orange 0, yellow 0, blue 7" in printed
    magic = {"pdf": b"%PDF", "png": b"\x89PNG"}[suffix]
    assert out.read_bytes().startswith(magic)
    if suffix == "pdf":
        assert b"NotoSansCJK" in out.read_bytes()  # the Chinese font is embedded


def test_risk_map_as_of_a_date(main, store_url, tmp_path, capsys):
    out = tmp_path / "old.png"
    code = main(["risk-map", "--level", "street", "--out", str(out), "--store", store_url,
                 "--date", "2026-01-01", "--dpi", "40"])  # fmt: skip
    assert code == 0 and "red 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--level", "floor"], "--level: 'floor' is not one of street, grid"),
     (["--date", "01/02/2026"], "date: '01/02/2026' is not YYYY-MM-DD"),
     (["--window-days", "0"], "window_days: the time window must be at least 1 day"),
     (["--out", "map.svg"], "out: map.svg must end in .png or .pdf")],
)  # fmt: skip
def test_user_mistakes_are_one_line_and_exit_2(main, store_url, tmp_path, capsys, argv, message):
    base = ["risk-map", "--out", str(tmp_path / "m.png"), "--store", store_url]
    assert main(base + argv) == 2
    assert message in capsys.readouterr().err


def test_risk_map_colours_the_districts_default_level(main, tmp_path, capsys):
    manifest = write_tiny_district(tmp_path / "d", RENAMED_MANIFEST)  # levels township, zone
    url = f"sqlite:///{tmp_path / 'renamed.db'}"
    open_store(url).import_generation(Hierarchy.from_manifest(manifest), "t", activate=True)
    out = tmp_path / "map.png"
    assert main(["risk-map", "--out", str(out), "--store", url, "--dpi", "40"]) == 0
    assert "8 grids of level zone" in capsys.readouterr().out


def test_save_risk_map_refuses_what_it_cannot_draw(tmp_path):
    frame = gpd.GeoDataFrame({"name": ["甲"]}, geometry=[box(120, 28, 120.01, 28.01)], crs=4326)
    with pytest.raises(InputError, match="frame: needs grids with a 'colour' column"):
        save_risk_map(frame, tmp_path / "x.png", title="t", as_of=date(2026, 11, 23))


def test_a_chinese_font_is_found_and_scale_bars_are_round():
    assert "CJK" in chinese_font() or "Hei" in chinese_font()
    assert [nice_length(x) for x in (60, 240, 999, 1000, 4000)] == [50, 200, 500, 1000, 2500]
