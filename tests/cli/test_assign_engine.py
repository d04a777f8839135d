"""``geogrid assign --engine dask``: the same answer as the in-process command, and its errors."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest
from distributed import LocalCluster

from geogrid.cli import main
from tests.cli.test_boundaries import POINTS_CSV
from tests.conftest import write_tiny_district


@pytest.fixture(scope="module")
def scheduler():
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """One district for the module: the workers keep the index of the boundaries they last saw."""
    return write_tiny_district(tmp_path_factory.mktemp("district"))


@pytest.fixture
def points_csv(tmp_path):
    path = tmp_path / "reports.csv"
    path.write_text(POINTS_CSV * 1 + POINTS_CSV.split("\n", 1)[1] * 3, encoding="utf-8")
    return path


def in_process(manifest, points, tmp_path) -> pd.DataFrame:
    out = tmp_path / "in-process.csv"
    assert main(["assign", str(manifest), str(points), "--out", str(out)]) == 0
    return pd.read_csv(out, dtype=str, keep_default_na=False)


def read_parts(out) -> pd.DataFrame:
    parts = sorted(out.glob("part-*.parquet"))
    frame = pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)
    text = frame.drop(columns="geometry").astype(object)
    return text.where(text.notna(), "").astype(str)


def whole_metres(text: pd.Series) -> pd.Series:
    """Distances as text from a CSV and from Parquet floats: "30.0" and "30" are one value."""
    return text.str.replace(r"\.0$", "", regex=True)


def assert_same_as_in_process(expected: pd.DataFrame, out) -> None:
    got = read_parts(out)
    got["distance_m"] = got["distance_m"].replace("nan", "")
    expected = expected.assign(distance_m=whole_metres(expected["distance_m"]))
    got["distance_m"] = whole_metres(got["distance_m"])
    pd.testing.assert_frame_equal(got, expected)


def test_dask_on_a_given_scheduler(manifest, points_csv, tmp_path, scheduler, capsys):
    expected = in_process(manifest, points_csv, tmp_path)
    capsys.readouterr()
    out = tmp_path / "assigned"
    argv = [
        "assign",
        str(manifest),
        str(points_csv),
        "--out",
        str(out),
        "--engine",
        "dask",
        "--scheduler",
        scheduler,
        "--partition-rows",
        "4",
    ]
    assert main(argv) == 0
    assert_same_as_in_process(expected, out)
    printed = capsys.readouterr().out
    assert "20 points assigned" in printed and "parts in" in printed


def test_dask_on_a_local_cluster_of_its_own(manifest, points_csv, tmp_path):
    expected = in_process(manifest, points_csv, tmp_path)
    out = tmp_path / "assigned"
    argv = [
        "assign",
        str(manifest),
        str(points_csv),
        "--out",
        str(out),
        "--engine",
        "dask",
        "--workers",
        "1",
    ]
    assert main(argv) == 0
    assert_same_as_in_process(expected, out)


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--engine", "dask", "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "1"],
            "--scheduler tcp://127.0.0.1:9: no Dask scheduler answered within 1 s",
        ),
        (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler needs --engine dask"),
        (
            ["--engine", "dask", "--scheduler", "tcp://127.0.0.1:9", "--workers", "2"],
            "a --scheduler has its own workers",
        ),
        (["--engine", "dask", "--lat", "y"], "reports.csv: no column 'y' for --lat"),
        # A local cluster of no workers would hang; no partitions would be planned at all.
        (["--engine", "dask", "--workers", "0"], "--workers: must be at least 1, got 0"),
        (["--engine", "dask", "--workers", "-3"], "--workers: must be at least 1, got -3"),
        (
            ["--engine", "dask", "--partition-rows", "0"],
            "--partition-rows: must be at least 1, got 0",
        ),
        (
            ["--engine", "dask", "--partition-rows", "-1"],
            "--partition-rows: must be at least 1, got -1",
        ),
        (["--engine", "dask", "--crs", "Atlantis-01"], "Atlantis-01"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(manifest, points_csv, tmp_path, capsys, extra, message):
    argv = ["assign", str(manifest), str(points_csv), "--out", str(tmp_path / "o")]
    assert main(argv + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("geogrid: error: ") and message in err and "Traceback" not in err


def test_a_file_for_out_is_refused(manifest, points_csv, tmp_path, capsys):
    argv = [
        "assign",
        str(manifest),
        str(points_csv),
        "--out",
        str(tmp_path / "o.csv"),
        "--engine",
        "dask",
    ]
    assert main(argv) == 2
    assert "writes a folder of GeoParquet parts" in capsys.readouterr().err


def test_a_bad_row_names_the_file_partition_and_line(manifest, tmp_path, scheduler, capsys):
    points = tmp_path / "reports.csv"
    rows = POINTS_CSV.splitlines()
    points.write_text("\n".join([*rows, *rows[1:], "b1,纠纷,120.0,28.0,note,extra", *rows[1:]]))
    argv = [
        "assign",
        str(manifest),
        str(points),
        "--out",
        str(tmp_path / "o"),
        "--engine",
        "dask",
        "--scheduler",
        scheduler,
        "--partition-rows",
        "3",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "reports.csv, partition " in err
    assert "line 12 of the file: Expected 5 fields, saw 6" in err
    assert err.count("\n") == 1
    # The partitions before the bad row succeeded; their parts went with the run.
    assert list((tmp_path / "o").iterdir()) == []
