"""Benchmark: the assessment statistics (考核) of every grid over a year, 1,000,000 reports.

For each backend, in a fresh process: import the sample district, store N random
reports (batches, as bench_storage.py), then give them a year of the closed loop
in one UPDATE per column (receipt spread over the year, ~85 % closed 0–10 days
later, deadlines of 3 days, some escalated, returned, rated, dispatched to one of
225 workers): moving a million reports through ``store.transition`` one by one
would take hours and measure the workflow, not the statistics. Then time
:func:`geogrid.stats.assessment` for the year: every grid, every street, every
grid worker (reports only: ``patrol=False``), and the grids with patrol
compliance from the stored tracks (there are none here: that times the grid-day
table of 225 grids × 365 days; reading tracks costs what bench_patrol.py shows).
Prints figures only.

    python bench/bench_stats.py [--reports 1000000] [--backends sqlite postgis]

The PostGIS run uses a database ``geogrid_bench_stats`` on the server of
``GEOGRID_TEST_POSTGRES`` (default: the local socket), recreated each run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ADMIN_URL = os.environ.get("GEOGRID_TEST_POSTGRES", "postgresql:///postgres")
BATCH = 50_000
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2027, 1, 1, tzinfo=UTC)


def loop_updates(postgres: bool, count: int) -> list[str]:
    """SQL giving every report a year of the loop, from its id (deterministic)."""
    if postgres:

        def plus(column: str, hours: str) -> str:
            return f"{column} + ({hours}) * INTERVAL '1 hour'"

        start = "TIMESTAMPTZ '2026-01-01 00:00:00+00'"
    else:

        def plus(column: str, hours: str) -> str:
            return (
                f"strftime('%Y-%m-%dT%H:%M:%f', julianday({column}) + ({hours}) / 24.0)"
                " || '000+00:00'"
            )

        start = "'2026-01-01T00:00:00.000000+00:00'"
    received = plus(start, f"CAST(id AS DOUBLE PRECISION) * 8759.0 / {count}")
    closed = "MOD(id, 20) < 17"
    closed_at = plus(received, "MOD(id * 7919, 240)")
    # One pass: each report is written once.
    return [
        f"UPDATE reports SET received_at = {received}, assigned_at = {received}, "
        f"deadline = {plus(received, '72')}, "
        "assignee = 'worker' || CAST(CAST(MOD(id, 225) AS INTEGER) AS TEXT), "
        f"status = CASE WHEN {closed} THEN 'closed' ELSE status END, "
        f"closed_at = CASE WHEN {closed} THEN {closed_at} END, "
        "escalations = CASE WHEN MOD(id, 23) = 0 THEN 1 ELSE 0 END, "
        "returns = CASE WHEN MOD(id, 17) = 0 THEN 1 ELSE 0 END, "
        f"rating = CASE WHEN {closed} AND MOD(id, 3) = 0 THEN 1 + MOD(id, 5) END, "
        f"rated_at = CASE WHEN {closed} AND MOD(id, 3) = 0 THEN {plus(closed_at, '24')} END"
    ]


def worker(url: str, count: int) -> dict:
    from geogrid import Hierarchy
    from geogrid.sample import sample_reports
    from geogrid.stats import assessment
    from geogrid.storage import open_store
    from geogrid.storage.sqlite import SqliteDialect

    hierarchy = Hierarchy.from_manifest(ROOT / "data/boundaries/sample.toml")
    store = open_store(url)
    store.import_generation(hierarchy, "bench", activate=True)
    reports = sample_reports(hierarchy, count, seed=11)
    t0 = time.perf_counter()
    for start in range(0, count, BATCH):
        store.add_reports(reports[start : start + BATCH], actor="bench")
    load_s = time.perf_counter() - t0
    postgres = not isinstance(store.db, SqliteDialect)
    t0 = time.perf_counter()
    with store.db.transaction() as tx:
        for statement in loop_updates(postgres, count):
            store.db.execute(tx, statement.replace("%", "%%") if postgres else statement)
    for number in range(225):
        store.accounts.add_user(f"worker{number}", "grid_worker", None, actor="bench")
    store.optimize()
    fill_s = time.perf_counter() - t0
    now = datetime(2027, 1, 2, tzinfo=UTC)
    figures = {"load_s": load_s, "fill_s": fill_s}
    cases = {
        "grid": ("grid", "grid", False),
        "street": ("street", "grid", False),
        "worker": (None, "worker", False),
        "grid+patrol": ("grid", "grid", True),
    }
    for name, (level, by, patrol) in cases.items():
        times = []
        for _ in range(4):
            t0 = time.perf_counter()
            table = assessment(store, level, YEAR_START, YEAR_END, now, by=by, patrol=patrol)
            times.append(time.perf_counter() - t0)
        figures[name] = {"first_s": times[0], "median_s": statistics.median(times[1:]),
                         "rows": len(table), "received": int(table["received"].sum()),
                         "closed": int(table["closed"].sum())}  # fmt: skip
    store.close()
    return figures


def postgis_url() -> str:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS geogrid_bench_stats WITH (FORCE)")
        admin.execute("CREATE DATABASE geogrid_bench_stats")
    url = ADMIN_URL.rsplit("/", 1)[0] + "/geogrid_bench_stats"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url


def run(backend: str, count: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if backend == "sqlite" else postgis_url()
        command = [sys.executable, __file__, "--worker", url, "--reports", str(count)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgis"])
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.reports)))
        return
    print(f"assessment of a year with {args.reports:,} reports over the sample district")
    for backend in args.backends:
        figures = run(backend, args.reports)
        print(
            f"  {backend:<8} load {figures['load_s']:.0f} s, loop columns {figures['fill_s']:.0f} s"
        )
        for name in ("grid", "street", "worker", "grid+patrol"):
            f = figures[name]
            print(
                f"    {name:<12} {f['median_s']:.2f} s (first {f['first_s']:.2f} s): "
                f"{f['rows']} rows, {f['received']:,} received, {f['closed']:,} closed"
            )


if __name__ == "__main__":
    main()
