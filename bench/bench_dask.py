"""Benchmark: ``geogrid assign --engine dask``, many points in Parquet partitions, 1 and 2 workers.

The points (uniform over the district's bounding box plus a margin, so that some are
nearest or unassigned) are written once as Parquet files of ``--partition-rows`` rows
in a cache folder outside the repository, then assigned on a local cluster of 1, then
2, worker processes (one thread each), each run into a fresh output folder. For each
run it prints the time, points/s, the peak resident memory of every worker process
(VmHWM: index, partitions in flight, Parquet buffers), the time inside the tasks, and
the scheduler's overhead per partition (wall time the workers were not in a task, and
a round trip of a task that does nothing). From these it states what a cluster of N
machines would need.

    python bench/bench_dask.py [--points 100000000] [--workers 1,2]
        [--manifest data/boundaries/sample.toml] [--partition-rows 2000000] [--cache DIR]

It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_CACHE = Path.home() / ".cache" / "geogrid" / "bench-dask"


def generate(manifest: str, count: int, rows: int, folder: Path) -> Path:
    """Parquet files of ``rows`` points each (two row groups), made once and kept."""
    from geogrid import Hierarchy

    points = folder / f"points-{Path(manifest).stem}-{count}-{rows}"
    if (points / "_complete").exists():
        return points
    shutil.rmtree(points, ignore_errors=True)
    points.mkdir(parents=True)
    hierarchy = Hierarchy.from_manifest(manifest)
    west, south, east, north = hierarchy.grids(hierarchy.levels[0]).total_bounds
    margin = 0.05 * max(east - west, north - south)
    rng = np.random.default_rng(2026)
    for number, start in enumerate(range(0, count, rows)):
        size = min(rows, count - start)
        table = pa.table(
            {
                "id": np.arange(start, start + size, dtype=np.int64),
                "lon": rng.uniform(west - margin, east + margin, size),
                "lat": rng.uniform(south - margin, north + margin, size),
            }
        )
        pq.write_table(table, points / f"{number:05d}.parquet", row_group_size=(size + 1) // 2)
    (points / "_complete").touch()
    return points


def peak_memory_mb() -> dict[str, float]:
    """Peak and current resident memory of this process (run on each worker)."""
    status = Path("/proc/self/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmHWM", "VmRSS")}


def noop(n: int) -> int:
    return n


def task_round_trip_s(client, tasks: int = 300) -> float:
    """Seconds per task the scheduler adds to a task that does nothing."""
    started = time.perf_counter()
    client.gather(client.map(noop, range(tasks), pure=False))
    return (time.perf_counter() - started) / tasks


def run(workers: int, manifest: str, points: Path, rows: int, out: Path) -> dict:
    from distributed import Client, LocalCluster

    from geogrid import Hierarchy
    from geogrid.assign.dask import PointColumns, assign_on_dask, plan_partitions

    load = os.getloadavg()[0]
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        round_trip = task_round_trip_s(client)
        started = time.perf_counter()
        partitions = plan_partitions(points, PointColumns(), rows)
        summary = assign_on_dask(client, Hierarchy.from_manifest(manifest), partitions, out)
        wall = time.perf_counter() - started
        memory = client.run(peak_memory_mb)
    size = sum(p.stat().st_size for p in out.iterdir())
    return {
        "workers": workers,
        "wall": wall,
        "summary": summary,
        "memory": memory,
        "round_trip": round_trip,
        "out_bytes": size,
        "load": load,
    }


def in_process_rate(manifest: str, count: int = 2_000_000) -> tuple[float, float]:
    """Index build seconds and points/s of the in-process bulk path, in this process."""
    from geogrid import Hierarchy
    from geogrid.assign.bulk import assign_in_chunks

    hierarchy = Hierarchy.from_manifest(manifest)
    started = time.perf_counter()
    hierarchy.prepare()
    build = time.perf_counter() - started
    west, south, east, north = hierarchy.grids(hierarchy.levels[0]).total_bounds
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(west, east, count), rng.uniform(south, north, count)
    started = time.perf_counter()
    assign_in_chunks(hierarchy, lon, lat)
    return build, count / (time.perf_counter() - started)


def print_run(figures: dict, count: int) -> None:
    summary, wall, workers = figures["summary"], figures["wall"], figures["workers"]
    rate = count / wall
    busy = summary.task_seconds / (wall * workers)
    idle_per_partition = max(wall * workers - summary.task_seconds, 0) / summary.partitions
    print(
        f"  {workers} worker(s): {wall:8.1f} s  {rate:12,.0f} points/s  ({rate / workers:,.0f} "
        f"per worker); load average before {figures['load']:.1f}"
    )
    print(
        f"    {summary.partitions} partitions, index built {summary.index_builds}×, "
        f"workers busy in tasks {100 * busy:.0f} % of the wall time"
    )
    print(
        f"    scheduler: {1000 * figures['round_trip']:.1f} ms per no-op task round trip; "
        f"{idle_per_partition:.2f} s per partition outside tasks (start-up included)"
    )
    for address, memory in sorted(figures["memory"].items()):
        print(
            f"    worker {address}: peak {memory['VmHWM']:,.0f} MB, now {memory['VmRSS']:,.0f} MB"
        )
    print(
        f"    output {figures['out_bytes'] / 1e9:.2f} GB "
        f"({figures['out_bytes'] / count:.1f} bytes per point)"
    )
    print(
        f"    processor time in tasks {summary.cpu_seconds:,.0f} s: "
        f"{count / summary.cpu_seconds:,.0f} points per CPU-second (what a core of its own does)"
    )
    print(f"    rows: {summary.counts}")


def print_projection(best: dict, count: int, in_bytes: int, cores: int = 8) -> None:
    """What N machines of ``cores`` cores would need, from the measured per-worker figures."""
    # Per CPU-second, not per wall second: on a shared machine a worker gets a share of
    # a core; on a cluster it has a core of its own.
    per_worker = count / best["summary"].cpu_seconds
    memory = max(m["VmHWM"] for m in best["memory"].values())
    per_point = (in_bytes + best["out_bytes"]) / count
    print(
        f"  a cluster of N machines with {cores} cores (one worker per core, {per_worker:,.0f} "
        f"points per CPU-second and {memory:,.0f} MB peak per worker as measured):"
    )
    for machines in (1, 4, 16, 64):
        rate = machines * cores * per_worker
        print(
            f"    N={machines:<3} {rate:14,.0f} points/s; 1,000,000,000 points in "
            f"{1e9 / rate / 60:6.1f} min; memory {cores * memory / 1024:5.1f} GB per machine; "
            f"shared storage {rate * per_point / 1e6:8,.0f} MB/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--manifest", default=str(ROOT / "data/boundaries/sample.toml"))
    parser.add_argument("--partition-rows", type=int, default=2_000_000)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    started = time.perf_counter()
    points = generate(args.manifest, args.points, args.partition_rows, args.cache)
    in_bytes = sum(p.stat().st_size for p in points.glob("*.parquet"))
    print(f"assign {args.points:,} points on Dask ({args.manifest})")
    print(
        f"  points: {in_bytes / 1e9:.2f} GB of Parquet in {points} "
        f"(made or found in {time.perf_counter() - started:.0f} s)"
    )
    build, rate = in_process_rate(args.manifest)
    print(
        f"  in-process reference: index build {build:.2f} s, "
        f"assign_in_chunks {rate:,.0f} points/s (no reading or writing)"
    )
    runs = []
    for workers in (int(w) for w in args.workers.split(",")):
        out = args.cache / f"out-{workers}"
        figures = run(workers, args.manifest, points, args.partition_rows, out)
        shutil.rmtree(out)
        print_run(figures, args.points)
        runs.append(figures)
    if len(runs) > 1:
        print(
            f"  speed-up {runs[0]['wall'] / runs[-1]['wall']:.2f}× from "
            f"{runs[0]['workers']} to {runs[-1]['workers']} workers"
        )
    print_projection(runs[-1], args.points, in_bytes)


if __name__ == "__main__":
    main()
