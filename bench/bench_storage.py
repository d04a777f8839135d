"""Benchmark: bulk import of reports (assign + store) and one grid's open reports.

For each backend, in a fresh process: import the sample district as the active
generation, then store N random reports in batches (each batch checked,
assigned at every level and committed), then time the query a grid worker's
phone makes: the open reports of one grid, first page. Prints figures only.

    python bench/bench_storage.py [--reports 1000000] [--backends sqlite postgis]

The PostGIS run uses a database ``geogrid_bench`` on the server of
``GEOGRID_TEST_POSTGRES`` (default: the local socket), recreated each run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ADMIN_URL = os.environ.get("GEOGRID_TEST_POSTGRES", "postgresql:///postgres")
BATCH = 50_000


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(url: str, count: int) -> dict:
    from geogrid import Hierarchy
    from geogrid.reports import ReportQuery
    from geogrid.sample import sample_reports
    from geogrid.storage import open_store
    from geogrid.workflow import OPEN_STATUSES

    hierarchy = Hierarchy.from_manifest(ROOT / "data/boundaries/sample.toml")
    store = open_store(url)
    t0 = time.perf_counter()
    store.import_generation(hierarchy, "bench", activate=True)
    store.hierarchy()  # rebuild from the database, as a server would
    import_s = time.perf_counter() - t0
    reports = sample_reports(hierarchy, count, seed=11)
    before = rss_mb()
    t0 = time.perf_counter()
    for start in range(0, count, BATCH):
        store.add_reports(reports[start : start + BATCH], actor="bench")
    load_s = time.perf_counter() - t0
    peak = peak_rss_mb() - before
    t0 = time.perf_counter()
    store.optimize()
    optimize_s = time.perf_counter() - t0
    grids = hierarchy.grids("grid")["code"].tolist()
    micro = hierarchy.grids("microgrid")["code"].tolist()
    latencies = {}
    for name, codes in (("grid", grids), ("microgrid", micro)):
        rng = np.random.default_rng(3)
        times = []
        for code in rng.choice(codes, 60):
            t0 = time.perf_counter()
            page = store.find_reports(ReportQuery(grid=str(code), status=OPEN_STATUSES, limit=20))
            times.append((time.perf_counter() - t0) * 1000)
        latencies[name] = (statistics.median(times[10:]), max(times[10:]), page.total)
    store.close()
    return {
        "import_s": import_s,
        "load_s": load_s,
        "peak_mb": peak,
        "latency": latencies,
        "optimize_s": optimize_s,
    }


def postgis_url() -> str:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS geogrid_bench WITH (FORCE)")
        admin.execute("CREATE DATABASE geogrid_bench")
    return ADMIN_URL.rsplit("/", 1)[0] + "/geogrid_bench"


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
    print(f"store {args.reports:,} random reports over the sample district, batches of {BATCH:,}")
    for backend in args.backends:
        figures = run(backend, args.reports)
        rate = args.reports / figures["load_s"]
        print(
            f"  {backend:<8} generation import {figures['import_s']:.1f} s; "
            f"bulk import {figures['load_s']:.1f} s = {rate:,.0f} reports/s, "
            f"peak +{figures['peak_mb']:,.0f} MB; statistics refreshed in "
            f"{figures['optimize_s']:.1f} s"
        )
        for level, (median, worst, total) in figures["latency"].items():
            print(
                f"           open reports of one {level:<9} (first page of 20, ~{total:,} "
                f"open): median {median:.1f} ms, max {worst:.1f} ms"
            )


if __name__ == "__main__":
    main()
