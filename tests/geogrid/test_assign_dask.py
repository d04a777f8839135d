"""Bulk assignment on a local Dask cluster of two worker processes gives the in-process answer."""

from __future__ import annotations

import functools
import os
import re
import signal
import threading
import time
from pathlib import Path

import dask_geopandas
import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster, WorkerPlugin
from shapely.geometry import box

from geogrid import Hierarchy
from geogrid.assign import dask as dask_engine
from geogrid.assign.bulk import assign_in_chunks
from geogrid.assign.dask import (
    BoundariesPlugin,
    PointColumns,
    assign_on_dask,
    dask_client,
    plan_partitions,
)
from geogrid.crs import wgs84_to_gcj02
from geogrid.errors import InputError
from geogrid.points import read_points
from tests.conftest import (
    RENAMED_MANIFEST,
    SAMPLE_MANIFEST,
    SOUTH,
    STEP,
    WEST,
    write_tiny_district,
)

#: Inside, on a shared edge inside a street (101/103), on the street edge (104/202: the
#: lowest code), 30 m outside (nearest), far away (unassigned), no or unreadable longitude.
CASES = [
    (WEST + 0.005, SOUTH + 0.005),
    (WEST + STEP, SOUTH + 0.005),
    (WEST + 2 * STEP, SOUTH + 0.015),
    (WEST - 0.0003, SOUTH + 0.005),
    (WEST - 1, SOUTH),
    ("", SOUTH),
    ("oops", SOUTH),
]


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def client(cluster):
    with Client(cluster) as client:
        yield client


#: The tiny district under other level keys (township, zone), with a partial level of houses.
HOUSES = """[[level]]
key = "house"
label = "楼栋"
path = "houses.geojson"
code = "code"
parent = "parent"
coverage = "partial"
"""


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> Path:
    """Not the sample: other level keys, and a house holding the first case's point.

    One for the module: the workers keep the index of the boundaries they last saw.
    """
    folder = tmp_path_factory.mktemp("district")
    manifest = write_tiny_district(folder, RENAMED_MANIFEST + HOUSES)
    houses = {
        "101001": box(WEST + 0.004, SOUTH + 0.004, WEST + 0.006, SOUTH + 0.006),
        "202001": box(WEST + 0.034, SOUTH + 0.001, WEST + 0.035, SOUTH + 0.002),
    }
    gpd.GeoDataFrame(
        {"code": list(houses), "parent": ["101", "202"]}, geometry=list(houses.values()), crs=4326
    ).to_file(folder / "houses.geojson")
    return manifest


def write_csv(path: Path, repeat: int = 6, gcj02: bool = False) -> Path:
    lines = ["id,name,lon,lat"]
    for n in range(repeat):
        for k, (lon, lat) in enumerate(CASES):
            if gcj02 and not isinstance(lon, str):
                lon, lat = (float(v[0]) for v in wgs84_to_gcj02([lon], [lat]))
            lines.append(f"r{n}-{k},点{k},{lon},{lat}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@functools.cache
def reference(manifest: Path) -> Hierarchy:
    """The in-process hierarchy, indexed once for the module."""
    return Hierarchy.from_manifest(manifest).prepare()


def in_process(manifest: Path, points: Path, crs: str | None = None) -> pd.DataFrame:
    """What ``geogrid assign`` without Dask writes: every row and its grids."""
    table = read_points(points, crs=crs)
    assigned = assign_in_chunks(reference(manifest), table.x, table.y, table.crs)
    return pd.concat([table.rows.reset_index(drop=True), assigned], axis=1)


def read_output(out: Path) -> pd.DataFrame:
    parts = sorted(out.glob("part-*.parquet"))
    return pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)


def comparable(frame: pd.DataFrame, columns) -> pd.DataFrame:
    frame = frame[list(columns)].astype(object)
    return frame.where(frame.notna(), None)


def run(client, manifest, points, out, rows=5, **columns):
    partitions = plan_partitions(points, PointColumns(**columns), partition_rows=rows)
    hierarchy = Hierarchy.from_manifest(manifest)
    return assign_on_dask(client, hierarchy, partitions, out), partitions


def assert_same(expected: pd.DataFrame, out: Path) -> pd.DataFrame:
    got = read_output(out)
    assert len(got) == len(expected) and got["id"].is_unique
    columns = [c for c in expected.columns if c != "geometry"]
    pd.testing.assert_frame_equal(comparable(got, columns), comparable(expected, columns))
    return got


def test_csv_in_partitions_gives_the_in_process_answer(client, district, tmp_path):
    points = write_csv(tmp_path / "points.csv")
    summary, partitions = run(client, district, points, tmp_path / "out")
    assert len(partitions) > 4 and summary.partitions == len(partitions)
    got = assert_same(in_process(district, points), tmp_path / "out")
    first = comparable(got.iloc[: len(CASES)], ["zone_code", "house_code", "status"])
    assert first["zone_code"].tolist() == ["101", "101", "104", "101", None, None, None]
    assert first["house_code"].tolist() == ["101001"] + [None] * 6
    assert first["status"].tolist() == ["assigned"] * 3 + ["nearest"] + ["unassigned"] * 3
    assert summary.counts == got["status"].value_counts().to_dict()
    assert summary.index_builds <= 2  # once per worker, not once per partition
    frame = gpd.read_parquet(tmp_path / "out")  # GeoParquet, WGS-84 points
    assert frame.crs.equals("OGC:CRS84") and frame.geometry.isna().sum() == 2 * 6
    assert frame.geometry.x[0] == pytest.approx(WEST + 0.005, abs=1e-12)
    # The ecosystem's partitioned reader takes the folder as it is, one partition a part.
    partitioned = dask_geopandas.read_parquet(tmp_path / "out")
    assert partitioned.npartitions == len(partitions)
    read_back = partitioned.compute().reset_index(drop=True)
    assert read_back["id"].tolist() == frame["id"].tolist()
    assert read_back.geometry.to_wkt().tolist() == frame.geometry.to_wkt().tolist()
    # A second run into the same folder replaces every part of the first.
    run(client, district, points, tmp_path / "out", rows=20)
    assert_same(in_process(district, points), tmp_path / "out")
    (tmp_path / "out" / "mine.txt").write_text("keep")
    with pytest.raises(InputError, match=r"assignment did not write \(mine.txt\)"):
        run(client, district, points, tmp_path / "out")


def test_gcj02_csv(client, district, tmp_path):
    points = write_csv(tmp_path / "points.csv", repeat=1, gcj02=True)
    run(client, district, points, tmp_path / "out", crs="GCJ-02")
    got = assert_same(in_process(district, points, "GCJ-02"), tmp_path / "out")
    assert got["zone_code"][0] == "101"
    frame = gpd.read_parquet(tmp_path / "out")
    assert frame.geometry.x[0] == pytest.approx(WEST + 0.005, abs=1e-8)  # back in WGS-84


def test_parquet_row_groups_and_folders(client, district, tmp_path):
    frame = in_process(district, write_csv(tmp_path / "p.csv"))[["id", "lon", "lat"]]
    numbers = frame.assign(lon=pd.to_numeric(frame["lon"], errors="coerce"))
    folder = tmp_path / "points"
    folder.mkdir()
    pq.write_table(pa.Table.from_pandas(numbers[:20]), folder / "a.parquet", row_group_size=4)
    pq.write_table(pa.Table.from_pandas(numbers[20:]), folder / "b.parquet", row_group_size=4)
    _, partitions = run(client, district, folder, tmp_path / "out", rows=8)
    assert [p.row_groups for p in partitions[:4]] == [(0, 1), (2, 3), (4,), (0, 1)]
    expected = in_process(district, tmp_path / "p.csv").assign(lon=numbers["lon"])
    got = assert_same(expected.drop(columns="name"), tmp_path / "out")
    assert got["lon"].dtype == np.float64  # Parquet types kept as read


def test_geoparquet_points_in_gcj02(client, district, tmp_path):
    lon, lat = wgs84_to_gcj02([WEST + STEP - 0.0003, WEST + 0.5], [SOUTH + 0.015, SOUTH])
    points = gpd.GeoDataFrame({"id": ["p", "q"]}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    points.to_parquet(tmp_path / "p.parquet")
    run(client, district, tmp_path / "p.parquet", tmp_path / "out", crs="GCJ-02")
    got = read_output(tmp_path / "out")
    assert comparable(got, ["zone_code"])["zone_code"].tolist() == ["102", None]
    expected = reference(district).assign(lon, lat, "GCJ-02")
    assert got["status"].tolist() == expected["status"].astype(str).tolist()


# --- bad input ------------------------------------------------------------------------------


def with_a_bad_row(points: Path, line: int) -> list[str]:
    """Give the 1-based ``line`` of the CSV a field too many; the file's lines."""
    lines = points.read_text(encoding="utf-8").splitlines()
    lines[line - 1] += ",extra"
    points.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def test_a_partition_with_a_bad_row_names_file_partition_and_line(client, district, tmp_path):
    points = write_csv(tmp_path / "points.csv")
    lines = with_a_bad_row(points, 31)
    partitions = plan_partitions(points, PointColumns(), partition_rows=5)
    starts = len("\n".join(lines[:30])) + 1  # the byte where line 31 starts
    bad = next(p for p in partitions if p.offset <= starts < p.offset + p.length)
    with pytest.raises(InputError) as caught:
        assign_on_dask(client, Hierarchy.from_manifest(district), partitions, tmp_path / "out")
    message = str(caught.value)
    assert f"points.csv, partition {bad.number} (bytes " in message
    assert "line 31 of the file: Expected 4 fields, saw 5" in message
    # The partitions that did succeed wrote parts; the failed run removed them all.
    assert list((tmp_path / "out").iterdir()) == []


class HoldPartitionZero(WorkerPlugin):
    """Holds the worker's index lock for a while as partition 0 starts: its part comes late."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish != "executing" or not re.fullmatch(r"geogrid-assign-\w+-0", str(key)):
            return
        # On the task's way to the index: after it found its run alive, before it writes.
        dask_engine._INDEXING.acquire()
        threading.Timer(self.seconds, dask_engine._INDEXING.release).start()


def assignments_on(dask_worker) -> int:
    """Tasks of an assignment a worker still holds (a cancelled one until it has run)."""
    return sum(str(key).startswith("geogrid-assign") for key in dask_worker.state.tasks)


def test_a_failed_run_leaves_no_parts_even_from_late_partitions(
    client, district, tmp_path, monkeypatch
):
    points = write_csv(tmp_path / "points.csv")
    with_a_bad_row(points, len(CASES) * 6 + 1)  # the last row: the others wrote their parts
    # The run gives up waiting for partition 0 at once: it must remove its own part.
    monkeypatch.setattr(dask_engine, "STOP_WAIT_S", 0.1)
    client.register_plugin(HoldPartitionZero(3.0), name="hold-zero")
    try:
        with pytest.raises(InputError, match=r"Expected 4 fields, saw 5"):
            run(client, district, points, tmp_path / "out")
        assert list((tmp_path / "out").iterdir()) == []
        deadline = time.monotonic() + 60
        while sum(client.run(assignments_on).values()) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        client.unregister_worker_plugin("hold-zero")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_write_error_names_the_partition_and_the_part(district, tmp_path):
    points = write_csv(tmp_path / "points.csv", repeat=1)
    partition = plan_partitions(points, PointColumns())[0]
    (tmp_path / "out").write_text("a file, not a folder")
    with pytest.raises(InputError) as caught:
        dask_engine.assign_partition(reference(district), partition, tmp_path / "out", 50)
    message = str(caught.value)
    assert "points.csv, partition 0 (bytes " in message
    assert f"cannot write {tmp_path / 'out' / 'part-00000.parquet'}: " in message


def test_workers_and_partition_rows_below_one_are_refused(tmp_path):
    points = write_csv(tmp_path / "points.csv", repeat=1)
    with pytest.raises(InputError, match=r"partition rows: must be at least 1, got 0"):
        plan_partitions(points, PointColumns(), partition_rows=0)
    for workers in (0, -1):
        with (
            pytest.raises(InputError, match=rf"--workers: must be at least 1, got {workers}"),
            dask_client(workers=workers),
        ):
            pass


def test_the_index_cache_keeps_the_last_two_boundaries(district, tmp_path, monkeypatch):
    monkeypatch.setattr(dask_engine, "_INDEXED", type(dask_engine._INDEXED)())
    tiny, sample, third = (
        BoundariesPlugin(Hierarchy.from_manifest(manifest))
        for manifest in (district, SAMPLE_MANIFEST, write_tiny_district(tmp_path / "third"))
    )
    # Two runs on other boundaries at once: each builds its index once, not each time.
    assert [p.prepared()[1] for p in (tiny, sample, tiny, sample)] == [True, True, False, False]
    # A third replaces the one used longest ago, and no more.
    assert [p.prepared()[1] for p in (third, sample, tiny)] == [True, False, True]
    assert len(dask_engine._INDEXED) == 2


def test_parquet_without_the_named_columns(district, tmp_path):
    pd.DataFrame({"id": [1], "x": [120.0], "y": [28.0]}).to_parquet(tmp_path / "p.parquet")
    with pytest.raises(
        InputError, match=r"p.parquet: no column 'lon' for --lon; columns are: id, x, y"
    ):
        plan_partitions(tmp_path / "p.parquet", PointColumns())
    folder = tmp_path / "many"
    folder.mkdir()
    pd.DataFrame({"lon": [120.0], "lat": [28.0]}).to_parquet(folder / "1.parquet")
    pd.DataFrame({"lon": [120.0], "y": [28.0]}).to_parquet(folder / "2.parquet")
    with pytest.raises(InputError, match=r"many/2.parquet: no column 'lat' for --lat"):
        plan_partitions(folder, PointColumns())


def test_parquet_coordinates_of_the_wrong_type(tmp_path):
    table = pa.table({"lon": [[120.0]], "lat": [28.0]})
    pq.write_table(table, tmp_path / "p.parquet")
    with pytest.raises(InputError, match=r"column 'lon' for --lon holds list<"):
        plan_partitions(tmp_path / "p.parquet", PointColumns())


def test_unreachable_scheduler_is_a_clear_error():
    with (
        pytest.raises(
            InputError, match=r"--scheduler tcp://127.0.0.1:9: no Dask scheduler answered"
        ),
        dask_client("tcp://127.0.0.1:9", timeout_s=1),
    ):
        pass


def test_a_scheduler_without_workers_is_a_clear_error():
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as empty:
        address = empty.scheduler_address
        with (
            pytest.raises(InputError, match=r"the scheduler has no workers \(none within 0.5 s\)"),
            # Connecting may take seconds on a busy machine; only the wait for workers is short.
            dask_client(address, timeout_s=30, workers_timeout_s=0.5),
        ):
            pass


class KillOnce(WorkerPlugin):
    """Kills its worker's process as it starts its third partition, once in the cluster."""

    def __init__(self, marker: str) -> None:
        self.marker, self.started = marker, 0

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish != "executing" or not str(key).startswith("geogrid-assign"):
            return
        self.started += 1
        if self.started == 3:
            try:
                os.unlink(self.marker)  # only the first worker to get here dies
            except FileNotFoundError:
                return
            os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_lost_mid_job(client, district, tmp_path):
    points = write_csv(tmp_path / "points.csv", repeat=6)
    marker = tmp_path / "kill-one"
    marker.touch()
    client.register_plugin(KillOnce(str(marker)), name="kill-once")
    try:
        summary, partitions = run(client, district, points, tmp_path / "out", rows=3)
    finally:
        client.unregister_worker_plugin("kill-once")
        client.wait_for_workers(2, timeout=60)
    assert not marker.exists()  # a worker did die
    assert summary.partitions == len(partitions)
    assert_same(in_process(district, points), tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"part-{n:05d}.parquet" for n in range(len(partitions))
    ]
