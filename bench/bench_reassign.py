"""Benchmark: activating a generation over 1,000,000 stored reports, before and after batching.

Builds, once per backend, a store of the sample district (generation "bench 1",
active) holding N random reports of which a share stays open (the others are
closed in one UPDATE), and a second generation "bench 2" of the same boundaries,
not active. Then, for each version of the code, on a fresh copy of that store
and in a fresh process: the second generation's point index is built first (it
is not what is measured), then ``store.activate`` re-assigns every open report
under it. Prints the activation's time and its peak memory (the process's RSS,
sampled every 10 ms, above what it held before the call). No assertion on time.
``--renumbered`` activates instead the same boundaries with new codes for the
finest full level (imported into the copy first): every open report changes
code and is written whole, the worst case; with "bench 2" none does.

    python bench/bench_reassign.py [--reports 1000000] [--open-share 0.2] [--renumbered]
                                   [--backends sqlite postgis] [--before REF] [--rebuild]
                                   [--runs before after]

``--before REF`` (default ``HEAD``) is the code the "before" figure runs:
``git archive REF geogrid`` unpacked into a temporary folder; "after" is the
working tree. The store is kept between runs (``--rebuild`` makes it again):
SQLite in ``/tmp/geogrid_bench_reassign.db``, PostGIS in the database
``geogrid_bench_reassign`` on the server of ``GEOGRID_TEST_POSTGRES`` (default:
the local socket); each measurement works on a copy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("GEOGRID_TEST_POSTGRES", "postgresql:///postgres")
KEPT_SQLITE = Path(tempfile.gettempdir()) / "geogrid_bench_reassign.db"
DATABASE = "geogrid_bench_reassign"
BATCH = 50_000


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


class PeakRss:
    """The highest RSS seen while the block runs, sampled every 10 ms in a thread."""

    def __enter__(self) -> PeakRss:
        self.base = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def build(url: str, count: int, open_share: float) -> dict:
    """The store to measure: N reports under "bench 1", ``open_share`` of them open."""
    from geogrid import Hierarchy
    from geogrid.sample import sample_reports
    from geogrid.storage import open_store
    from geogrid.storage.sqlite import SqliteDialect

    hierarchy = Hierarchy.from_manifest(ROOT / "data/boundaries/sample.toml")
    store = open_store(url)
    store.import_generation(hierarchy, "bench 1", activate=True)
    reports = sample_reports(hierarchy, count, seed=11)
    t0 = time.perf_counter()
    for start in range(0, count, BATCH):
        store.add_reports(reports[start : start + BATCH], actor="bench")
    del reports
    load_s = time.perf_counter() - t0
    every = round(1 / open_share)
    with store.db.transaction() as tx:
        modulo = "MOD(id, ?)" if not isinstance(store.db, SqliteDialect) else "(id % ?)"
        store.db.execute(tx, f"UPDATE reports SET status = 'closed' WHERE {modulo} <> 0", [every])
    store.import_generation(hierarchy, "bench 2")
    store.optimize()
    store.close()
    return {"load_s": load_s}


def renumbered():
    """The sample district with the finest full level's codes renamed: every report moves."""
    from geogrid import Hierarchy
    from geogrid.storage.rows import base_depth

    hierarchy = Hierarchy.from_manifest(ROOT / "data/boundaries/sample.toml")
    depth, keys = base_depth(hierarchy), hierarchy.levels
    frames = {key: hierarchy.grids(key).copy() for key in keys}
    frames[keys[depth]]["code"] += "R"
    if depth + 1 < len(keys):
        frames[keys[depth + 1]]["parent"] += "R"
    return Hierarchy([hierarchy.level(key) for key in keys], frames, name="renumbered")


def activate(url: str, renumber: bool) -> dict:
    """Activate "bench 2" (its index built first); seconds, peak MB above the start, counts.

    ``renumber``: activate instead a generation whose finest full level has new codes
    (imported now, before the measurement), so every open report changes code.
    """
    import gc

    from geogrid.storage import open_store

    store = open_store(url)
    if renumber:
        store.import_generation(renumbered(), "bench 2 renumbered")
    wanted = "bench 2 renumbered" if renumber else "bench 2"
    target = next(g for g in store.generations() if g.label == wanted)
    store.hierarchy(target.id)
    gc.collect()
    with PeakRss() as memory:
        t0 = time.perf_counter()
        result = store.activate(target.id, actor="bench")
        seconds = time.perf_counter() - t0
    with store.db.transaction(write=False) as tx:
        entries = store.db.rows(tx, "SELECT COUNT(*) AS n FROM report_history "
                                    "WHERE action = 'reassigned'")[0]["n"]  # fmt: skip
    store.close()
    return {"code": sys.modules["geogrid"].__file__, "seconds": seconds,
            "peak_mb": memory.peak - memory.base, "base_mb": memory.base,
            "reassigned": result.reassigned, "changed": result.changed,
            "history": entries}  # fmt: skip


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql)


def _postgis(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def kept_store(backend: str, count: int, open_share: float, rebuild: bool, code: Path) -> str:
    """The URL of the kept store, built now if missing (or asked to)."""
    marker = Path(tempfile.gettempdir()) / f"geogrid_bench_reassign.{backend}.json"
    wanted = {"reports": count, "open_share": open_share}
    if not rebuild and marker.exists() and json.loads(marker.read_text()) == wanted:
        return f"sqlite:///{KEPT_SQLITE}" if backend == "sqlite" else _postgis(DATABASE)
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{KEPT_SQLITE}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{KEPT_SQLITE}"
    else:
        _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        _admin(f"CREATE DATABASE {DATABASE}")
        url = _postgis(DATABASE)
    figures = _in_process(code, "--build", url, "--reports", str(count),
                          "--open-share", str(open_share))  # fmt: skip
    print(f"  {backend}: built {count:,} reports in {figures['load_s']:.0f} s", flush=True)
    marker.write_text(json.dumps(wanted))
    return url


def copy_of(url: str, folder: Path) -> str:
    """A copy of the kept store to activate on (activation changes it)."""
    if url.startswith("sqlite:///"):
        target = folder / "copy.db"
        shutil.copy(KEPT_SQLITE, target)
        return f"sqlite:///{target}"
    _admin(f"DROP DATABASE IF EXISTS {DATABASE}_copy WITH (FORCE)")
    _admin(f"CREATE DATABASE {DATABASE}_copy TEMPLATE {DATABASE}")
    return _postgis(f"{DATABASE}_copy")


def _in_process(code: Path, *args: str) -> dict:
    """Run this script's worker in a fresh process, importing geogrid from ``code``."""
    command = [sys.executable, __file__, "--code", str(code), *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def export(ref: str, folder: Path) -> Path:
    """The ``geogrid`` package as it is at ``ref``, unpacked into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", ref, "geogrid", "data"], cwd=ROOT, check=True,
                             capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--open-share", type=float, default=0.2)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgis"])
    parser.add_argument("--before", default="HEAD")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--runs", nargs="+", choices=["before", "after"],
                        default=["before", "after"], help="which code to measure")  # fmt: skip
    parser.add_argument(
        "--renumbered",
        action="store_true",
        help="activate a generation whose finest full level has new codes",
    )
    parser.add_argument("--code", help=argparse.SUPPRESS)
    parser.add_argument("--build", help=argparse.SUPPRESS)
    parser.add_argument("--activate", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.code:
        sys.path.insert(0, args.code)
        os.chdir(args.code)
        worker = build(args.build, args.reports, args.open_share) if args.build else None
        print(json.dumps(worker or activate(args.activate, args.renumbered)))
        return
    kind = "renumbered (every open report changes code)" if args.renumbered else "same codes"
    print(f"activate a generation ({kind}) over {args.reports:,} stored reports "
          f"({args.open_share:.0%} open); load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        before = export(args.before, Path(tmp) / "before")
        for backend in args.backends:
            url = kept_store(backend, args.reports, args.open_share, args.rebuild, before)
            versions = {"before": (f"before ({args.before})", before), "after": ("after", ROOT)}
            for name, code in (versions[run] for run in args.runs):
                more = ["--renumbered"] if args.renumbered else []
                figures = _in_process(code, "--activate", copy_of(url, Path(tmp)), *more)
                print(f"  {backend:<8} {name:<14} {figures['seconds']:6.1f} s, peak "
                      f"+{figures['peak_mb']:,.0f} MB (process {figures['base_mb']:,.0f} MB "
                      f"before); re-assigned {figures['reassigned']:,}, changed "
                      f"{figures['changed']:,}; 'reassigned' entries now "
                      f"{figures['history']:,}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
