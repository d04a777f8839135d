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

The store has the index it makes when boundaries become current (:data:`INDEX`: the
assessment's one query reads it instead of the wide rows); ``--no-index``
leaves it out, to compare. On SQLite the write-ahead log is checkpointed after
the fill, as a live store's would have been long before: the fill is one
transaction of a million updates.

    python bench/bench_stats.py [--reports 1000000] [--backends sqlite postgis] [--no-index]

The PostGIS run uses a database ``geogrid_bench_stats`` on the server of
``GEOGRID_TEST_POSTGRES`` (default: the local socket), recreated each run.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ADMIN_URL = os.environ.get("GEOGRID_TEST_POSTGRES", "postgresql:///postgres")
BATCH = 50_000
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2027, 1, 1, tzinfo=UTC)
#: The covering index of Store._index_for_assessment, both dialects: grid (the default level,
#: code2 in the sample district), assignee, then every column the query reads.
# The store makes it when the boundaries become current (Store._index_for_assessment); the
# sample's default level is at depth 2.
INDEX = ("CREATE INDEX IF NOT EXISTS reports_assessment_2 ON reports (code2, assignee, "
         "received_at, assigned_at, "
         "closed_at, deadline, status, escalations, returns, rating, rated_at)")  # fmt: skip


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


def index_mb(store, postgres: bool) -> float:
    """Size of the proposed index, MB."""
    sql = ("SELECT pg_relation_size('reports_assessment_2') AS n" if postgres else
           "SELECT SUM(pgsize) AS n FROM dbstat WHERE name = 'reports_assessment_2'")  # fmt: skip
    with store.db.transaction(write=False) as tx:
        return (store.db.rows(tx, sql)[0]["n"] or 0) / 1e6


def worker(url: str, count: int, index: bool) -> dict:
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
    fill_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with store.db.transaction() as tx:
        # The store made it at activation, before the bulk fill; made or dropped here.
        store.db.execute(tx, INDEX if index else "DROP INDEX IF EXISTS reports_assessment_2")
    index_s = time.perf_counter() - t0
    if not postgres:
        with closing(sqlite3.connect(store.db.path)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.optimize()
    now = datetime(2027, 1, 2, tzinfo=UTC)
    figures = {"load_s": load_s, "fill_s": fill_s, "index_s": index_s,
               "index_mb": index_mb(store, postgres) if index else 0.0}  # fmt: skip
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


def run(backend: str, count: int, index: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if backend == "sqlite" else postgis_url()
        command = [sys.executable, __file__, "--worker", url, "--reports", str(count)]
        command += [] if index else ["--no-index"]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgis"])
    parser.add_argument("--no-index", dest="index", action="store_false",
                        help="drop the store's assessment index first")  # fmt: skip
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.reports, args.index)))
        return
    print(f"assessment of a year with {args.reports:,} reports over the sample district")
    for backend in args.backends:
        figures = run(backend, args.reports, args.index)
        print(
            f"  {backend:<8} load {figures['load_s']:.0f} s, "
            f"loop columns {figures['fill_s']:.0f} s, "
            + (f"index {figures['index_mb']:.0f} MB in {figures['index_s']:.0f} s"
               if args.index else "no index")
        )  # fmt: skip
        for name in ("grid", "street", "worker", "grid+patrol"):
            f = figures[name]
            print(
                f"    {name:<12} {f['median_s']:.2f} s (first {f['first_s']:.2f} s): "
                f"{f['rows']} rows, {f['received']:,} received, {f['closed']:,} closed"
            )


if __name__ == "__main__":
    main()
