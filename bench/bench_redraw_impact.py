"""Benchmark: a redraw's impact preview, and publishing a redraw over a large store.

Issue 13's targets (printed here, never asserted): "Impact preview for a street
with 20,000 stored reports: ≤ 1 s. Publish with 1,000,000 stored reports: report
the time, and intake keeps working during it." For each backend (SQLite, PostGIS):

1. **Impact.** A store with the sample district active and 20,000 open reports
   inside street 330399001 (sample reports kept where they fall in the street).
   a) A "community" draft of the street (units: its 78 grids), proposed in
      keep-current mode with a band of 2,200–3,300 households, which moves a few
      grids between communities; b) the "grid" draft of community 330399001010,
      grown by the 2027 survey, proposed in keep-current mode. For each: building
      the Redraw (``redraw_of_draft``) and ``impact(...)`` are timed separately,
      p50 of 5 runs (the first, cold run shown too).
2. **Publish.** A store with N stored reports over the whole district (all open,
   the worst case for publishing; ``add_reports`` in batches of 50,000; load time
   printed), then the grown community's approved draft is published. Meanwhile a
   thread adds one report every 20 ms through a second store object on the same
   URL and records each add's latency; afterwards every intake report is counted
   by ``external_id`` (each must be stored exactly once). SQLite loads N too
   unless the load would take over 3 minutes: then it stops at 200,000 and says so.

Load averages (1/5/15 min) are printed with the figures: the machine may be shared.

    python bench/bench_redraw_impact.py [--reports 1000000] [--backends sqlite postgis]

PostGIS: each store is a new database ``geogrid_bench_redraw_<random>`` made (with
the postgis extension) on the server of ``$GEOGRID_BENCH_POSTGIS`` (a URL of any
database there, used as the maintenance connection; default ``$GEOGRID_TEST_POSTGRES``
or the local socket) and dropped afterwards. Without a server, PostGIS is skipped
with a note.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geogrid import Hierarchy  # noqa: E402
from geogrid.access import Principal  # noqa: E402
from geogrid.cli.drafts import redraw_of_draft  # noqa: E402
from geogrid.redraw.impact import impact  # noqa: E402
from geogrid.redraw.propose import propose  # noqa: E402
from geogrid.redraw.survey import read_survey  # noqa: E402
from geogrid.redraw.units import units_of  # noqa: E402
from geogrid.reports import NewReport  # noqa: E402
from geogrid.sample import sample_reports  # noqa: E402
from geogrid.storage import open_store  # noqa: E402

SAMPLE = ROOT / "data/boundaries/sample.toml"
SURVEY = ROOT / "data/boundaries/survey-2027.csv"
STREET = "330399001"
GROWN = "330399001010"
COMMUNITY_BAND = (2200.0, 3300.0)
ADMIN_URL = os.environ.get(
    "GEOGRID_BENCH_POSTGIS", os.environ.get("GEOGRID_TEST_POSTGRES", "postgresql:///postgres")
)
PLANNER = Principal("bench.planner", "planner", via="session")
COMMANDER = Principal("bench.commander", "commander", via="token")
RUNS = 5
BATCH = 50_000
SQLITE_LOAD_LIMIT_S = 180.0
SQLITE_FALLBACK = 200_000
INTAKE_EVERY_S = 0.020


def load() -> str:
    return "load avg " + "/".join(f"{v:.2f}" for v in os.getloadavg())


def say(text: str) -> None:
    print(text, flush=True)


# --- stores ------------------------------------------------------------------------------


def postgis_available() -> str | None:
    """None when a PostGIS database can be made on the server, else why not."""
    try:
        import psycopg

        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute("SELECT 1")
            found = admin.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
            ).fetchone()
        return None if found else "the server has no postgis extension"
    except Exception as exc:
        return str(exc).strip() or type(exc).__name__


@contextmanager
def fresh_url(backend: str) -> Iterator[str]:
    """A new, empty store URL of ``backend``, removed on exit."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="geogrid-bench-") as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    import psycopg

    name = f"geogrid_bench_redraw_{uuid.uuid4().hex[:10]}"
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_store(url: str, sample: Hierarchy):
    store = open_store(url)
    store.import_generation(sample, "bench 2026", activate=True, actor="cli:bench")
    store.hierarchy()  # read back from the database, as a server would
    return store


# --- reports -----------------------------------------------------------------------------


def street_reports(sample: Hierarchy, count: int) -> list[NewReport]:
    """``count`` sample reports that fall inside street ``STREET`` (hot spots and all)."""
    found: list[NewReport] = []
    seed = 500
    while len(found) < count:
        batch = sample_reports(sample, 60_000, seed=seed)
        lon = np.array([r.lon for r in batch])
        lat = np.array([r.lat for r in batch])
        inside = (sample.assign(lon, lat)["street_code"] == STREET).to_numpy()
        found.extend(r for r, keep in zip(batch, inside, strict=True) if keep)
        seed += 1
    return found[:count]


def points_in(sample: Hierarchy, level: str, code: str, count: int, seed: int):
    """``count`` uniform random points inside grid ``code`` of ``level``."""
    grid = sample.grids(level).set_index("code").geometry[code]
    west, south, east, north = grid.bounds
    rng = np.random.default_rng(seed)
    lon, lat = np.empty(0), np.empty(0)
    while len(lon) < count:
        x, y = rng.uniform(west, east, count * 3), rng.uniform(south, north, count * 3)
        inside = (sample.assign(x, y)[f"{level}_code"] == code).to_numpy()
        lon, lat = np.concatenate([lon, x[inside]]), np.concatenate([lat, y[inside]])
    return lon[:count], lat[:count]


# --- drafts ------------------------------------------------------------------------------


def proposed_draft(store, name: str, level: str, parent: str, *, band, survey=None):
    """A draft of ``parent`` at ``level``, replaced by a keep-current proposal: its record,
    its units and how many units the proposal moved."""
    draft = store.drafts.create(name, level, parent, band=band, survey=survey, actor=PLANNER)
    units = units_of(store.hierarchy(draft.base_generation), level, parent,
                     survey=draft.survey_frame())  # fmt: skip
    found = propose(units, weight=draft.weight, band=draft.band, keep_current=True,
                    current=draft.assignment, time_limit_s=5.0)  # fmt: skip
    moves = [(u, draft.assignment[u], g, "propose") for u, g in sorted(found.assignment.items())
             if draft.assignment[u] != g]  # fmt: skip
    state = {"assignment": found.assignment, "history": [], "cursor": 0, "grids": None,
             "next_new": None}  # fmt: skip
    store.drafts.save(draft.id, state, moves, expected_version=draft.version, actor=PLANNER)
    return store.drafts.get(draft.id, actor=PLANNER), units, len(moves)


def grown_survey():
    """The whole 2027 survey, as ``geogrid redraw draft create --survey`` stores it."""
    return read_survey(SURVEY)


def timed(call, runs: int = RUNS) -> tuple[object, float, float]:
    """The last result, the first run's ms and the p50 ms of ``runs`` runs."""
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - t0) * 1000)
    return result, times[0], statistics.median(times)


# --- 1. impact ---------------------------------------------------------------------------


def bench_impact(backend: str, sample: Hierarchy, count: int) -> None:
    with fresh_url(backend) as url:
        store = new_store(url, sample)
        reports = street_reports(sample, count)
        t0 = time.perf_counter()
        for start in range(0, len(reports), 5_000):
            store.add_reports(reports[start : start + 5_000], actor="cli:bench")
        loaded = time.perf_counter() - t0
        store.optimize()
        say(f"  {backend}: {len(reports):,} open reports inside street {STREET} stored in "
            f"{loaded:.1f} s  [{load()}]")  # fmt: skip
        cases = [
            (f"community draft of street {STREET} (78 grids, keep-current "
             f"{COMMUNITY_BAND[0]:g}–{COMMUNITY_BAND[1]:g})",
             ("street v1", "community", STREET), {"band": COMMUNITY_BAND}),
            (f"grid draft of grown community {GROWN} (2027 survey, keep-current 300–500)",
             ("grown v1", "grid", GROWN), {"band": (300, 500), "survey": grown_survey()}),
        ]  # fmt: skip
        for title, args, options in cases:
            draft, units, moved = proposed_draft(store, *args, **options)
            redraw, redraw_first, redraw_p50 = timed(lambda d=draft: redraw_of_draft(store, d))
            now = datetime.now(UTC)
            found, first, p50 = timed(lambda u=units, r=redraw, t=now: impact(store, u, r, now=t))
            level = found.codes.get(draft.level, {})
            changed = {m["old_grid"] for m in found.moves} | {m["new_grid"] for m in found.moves}
            say(f"    {title}:")
            say(f"      {moved} units moved, {len(changed)} {draft.level}-level grids touched "
                f"({len(level.get('retired', []))} retired, {len(level.get('created', []))} "
                f"created, {len(level.get('reshaped', []))} reshaped); open reports re-assigned "
                f"{found.reports['total']:,} (in moved units {found.reports['in_moved_units']:,}"
                f", overdue {found.reports['overdue']:,})")  # fmt: skip
            say(f"      build Redraw: p50 {redraw_p50:.0f} ms (first {redraw_first:.0f} ms); "
                f"impact(): p50 {p50:.0f} ms (first {first:.0f} ms); together p50 "
                f"{redraw_p50 + p50:.0f} ms  [{load()}]")  # fmt: skip
        store.close()


# --- 2. publish --------------------------------------------------------------------------


def load_reports(store, sample: Hierarchy, wanted: int, backend: str) -> tuple[int, float, float]:
    """Store up to ``wanted`` reports in batches; SQLite stops at 200,000 when the whole load
    would take over 3 minutes. How many were stored, seconds in add_reports, seconds making
    them."""
    stored, adding, making = 0, 0.0, 0.0
    batch_no = 0
    while stored < wanted:
        size = min(BATCH, wanted - stored)
        t0 = time.perf_counter()
        batch = sample_reports(sample, size, seed=10_000 + batch_no)
        making += time.perf_counter() - t0
        t0 = time.perf_counter()
        store.add_reports(batch, actor="cli:bench")
        adding += time.perf_counter() - t0
        stored += size
        batch_no += 1
        if stored % 200_000 == 0 or stored == wanted:
            say(f"      … {stored:,} stored, {adding:.0f} s in add_reports "
                f"({adding / stored * 100_000:.1f} s per 100k)  [{load()}]")  # fmt: skip
        if (backend == "sqlite" and stored == SQLITE_FALLBACK and wanted > stored
                and adding / stored * wanted > SQLITE_LOAD_LIMIT_S):  # fmt: skip
            say(f"      SQLite: {wanted:,} would take ~{adding / stored * wanted:.0f} s "
                f"(> {SQLITE_LOAD_LIMIT_S:.0f} s): stopping at {stored:,}")  # fmt: skip
            break
    return stored, adding, making


class Intake(threading.Thread):
    """Adds one report every 20 ms through its own store, recording each add's latency."""

    def __init__(self, url: str, sample: Hierarchy, run: str) -> None:
        super().__init__(daemon=True)
        self.store = open_store(url)
        self.run_id = run
        # Every 4th report inside the grown community (placed again by the publication).
        lon, lat = points_in(sample, "community", GROWN, 5_000, seed=7)
        wide = sample_reports(sample, 20_000, seed=77)
        self.points = [(lon[i // 4], lat[i // 4]) if i % 4 == 0 else (wide[i].lon, wide[i].lat)
                       for i in range(20_000)]  # fmt: skip
        self.stop = threading.Event()
        self.log: list[tuple[float, float, str | None]] = []  # (start, seconds, error)
        self.sent: list[str] = []
        self.add(-1)  # warm: the intake store reads the active generation's boundaries

    def add(self, i: int) -> None:
        lon, lat = self.points[i % len(self.points)]
        external_id = f"intake-{self.run_id}-{i}"
        report = NewReport("dispute.neighbour", float(lon), float(lat), source="resident",
                           external_id=external_id)  # fmt: skip
        self.sent.append(external_id)
        t0 = time.perf_counter()
        error = None
        try:
            self.store.add_reports([report], actor="cli:intake")
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:120]
        if i >= 0:
            self.log.append((t0, time.perf_counter() - t0, error))

    def run(self) -> None:
        next_at, i = time.perf_counter(), 0
        while not self.stop.is_set():
            self.add(i)
            i += 1
            next_at += INTAKE_EVERY_S
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            else:
                next_at = time.perf_counter()  # late: go on at once, no burst to catch up


def intake_counts(store, run: str) -> dict[str, int]:
    """external_id → rows stored, for this run's intake reports."""
    with store.db.transaction(write=False) as tx:
        rows = store.db.rows(tx, "SELECT external_id, COUNT(*) AS n FROM reports WHERE "
                                 "external_id LIKE ? GROUP BY external_id",
                             (f"intake-{run}-%",))  # fmt: skip
    return {r["external_id"]: int(r["n"]) for r in rows}


def generations_of(store, external_ids: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    with store.db.transaction(write=False) as tx:
        for start in range(0, len(external_ids), 500):
            chunk = external_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = store.db.rows(tx, "SELECT external_id, generation_id FROM reports "
                                     f"WHERE external_id IN ({marks})", chunk)  # fmt: skip
            found.update({r["external_id"]: r["generation_id"] for r in rows})
    return found


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def bench_publish(backend: str, sample: Hierarchy, wanted: int) -> None:
    with fresh_url(backend) as url:
        store = new_store(url, sample)
        say(f"  {backend}: loading {wanted:,} reports over the district, batches of {BATCH:,}")
        stored, adding, making = load_reports(store, sample, wanted, backend)
        t0 = time.perf_counter()
        store.optimize()
        optimized = time.perf_counter() - t0
        say(f"    loaded {stored:,} reports in {adding:.1f} s of add_reports "
            f"({stored / adding:,.0f}/s, {adding / stored * 100_000:.1f} s per 100k; making "
            f"them {making:.1f} s; statistics {optimized:.1f} s)  [{load()}]")  # fmt: skip
        draft, _, moved = proposed_draft(store, "grown v1", "grid", GROWN, band=(300, 500),
                                         survey=grown_survey())  # fmt: skip
        store.drafts.submit(draft.id, actor=PLANNER)
        draft = store.drafts.approve(draft.id, actor=COMMANDER)
        t0 = time.perf_counter()
        redraw = redraw_of_draft(store, draft)
        built = time.perf_counter() - t0
        run = uuid.uuid4().hex[:6]
        intake = Intake(url, sample, run)
        intake.start()
        time.sleep(1.0)
        started = time.perf_counter()
        done = store.publish_redraw(draft.id, redraw, actor=COMMANDER)
        ended = time.perf_counter()
        publish_s = ended - started
        time.sleep(5.0)
        intake.stop.set()
        intake.join()
        say(f"    publish of the grown community's draft ({moved} units moved): "
            f"{publish_s:.1f} s (Redraw built before, {built * 1000:.0f} ms); "
            f"{done.placed:,} open reports placed again, {done.changed:,} changed grid, "
            f"{done.moved:,} moved to the new generation by one UPDATE  [{load()}]")  # fmt: skip
        during = [(t, s, e) for t, s, e in intake.log if t < ended and t + s > started]
        before = [(t, s, e) for t, s, e in intake.log if t + s <= started]
        after = [(t, s, e) for t, s, e in intake.log if t >= ended]
        for label, part in (("before publish", before), ("during publish", during),
                            ("after publish", after)):  # fmt: skip
            ok = [s * 1000 for _, s, e in part if e is None]
            failed = [e for _, _, e in part if e is not None]
            stored_in = sum(1 for t, s, e in part if e is None and started <= t + s <= ended)
            extra = (
                f", {stored_in} of them stored before the publication committed"
                if label == "during publish"
                else ""
            )
            say(f"    intake {label}: {len(part)} adds ({len(failed)} failed{extra}); "
                f"latency p50 {percentile(ok, 50):.0f} ms, p99 {percentile(ok, 99):.0f} ms, "
                f"max {max(ok, default=float('nan')):.0f} ms"
                + (f"; first error: {failed[0]}" if failed else ""))  # fmt: skip
        if intake.log:
            t, s, e = max(intake.log, key=lambda row: row[1])
            say(f"    slowest add: {s * 1000:.0f} ms, from {t - started:+.1f} s to "
                f"{t + s - ended:+.1f} s after the publication began / committed"
                + (f" ({e})" if e else ""))  # fmt: skip
        counts = intake_counts(store, run)
        sent = intake.sent
        once = sum(1 for e in sent if counts.get(e) == 1)
        missing = sum(1 for e in sent if e not in counts)
        twice = sum(1 for n in counts.values() if n > 1)
        placed = generations_of(store, sent)
        new_generation = sum(1 for g in placed.values() if g == done.generation.id)
        say(f"    intake check by external_id: {len(sent)} sent, {once} stored exactly once, "
            f"{missing} missing, {twice} stored more than once; {new_generation} of "
            f"{len(placed)} under the new generation {done.generation.id}  [{load()}]")  # fmt: skip
        intake.store.close()
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000,
                        help="reports stored before publishing (default 1,000,000)")  # fmt: skip
    parser.add_argument("--street-reports", type=int, default=20_000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgis"],
                        choices=["sqlite", "postgis"])  # fmt: skip
    parser.add_argument("--skip", choices=["impact", "publish"], action="append", default=[])
    args = parser.parse_args()
    say(f"redraw impact & publish bench; {os.cpu_count()} CPUs  [{load()}]")
    sample = Hierarchy.from_manifest(SAMPLE)
    backends = list(args.backends)
    if "postgis" in backends:
        why = postgis_available()
        if why is not None:
            say(f"PostGIS skipped: no server at {ADMIN_URL} ({why})")
            backends.remove("postgis")
    if "impact" not in args.skip:
        say(f"1. impact preview, street {STREET} with {args.street_reports:,} open reports "
            f"(target ≤ 1 s); p50 of {RUNS} runs")  # fmt: skip
        for backend in backends:
            bench_impact(backend, sample, args.street_reports)
    if "publish" not in args.skip:
        say(f"2. publish with {args.reports:,} stored reports, intake every "
            f"{INTAKE_EVERY_S * 1000:.0f} ms meanwhile")  # fmt: skip
        for backend in backends:
            bench_publish(backend, sample, args.reports)
    return 0


if __name__ == "__main__":
    sys.exit(main())
