"""Benchmark: the work queue (待办) over 1,000,000 stored reports, first page ≤ 100 ms.

For each backend, in a fresh process: build the store as bench_stats.py does (the
sample district, N random reports in batches, a year of the closed loop in one
UPDATE: ~85 % closed), then give the open ~15 % what a queue sorts on, in a few
more UPDATEs: open statuses spread over the loop's six, receipt in the last five
days before "now" (so ~40 % are overdue, ~12 % nearly overdue (预警), the rest not
yet), a 72-hour deadline, ``warn_at`` at 80 % of the way, and an assignee (the
grid's worker ``gw.<grid code>``, or a department) on those dispatched or later.
Then time, after a warm-up, 30 calls each of ``store.queue`` for:

- ``commander``: an unscoped commander's queue (mine: received, registered,
  feedback, verified);
- ``commander all``: the same with ``mine=False`` (every open report);
- ``street``: a commander scoped to one street;
- ``grid worker``: the worker of one grid (dispatched or in progress, theirs or unassigned);
- ``department`` / ``department few``: an unscoped department with ~1/7 of what
  is dispatched, and one with ~50 reports (its queue walks past all the others);
- ``overdue`` / ``nearly``: the unscoped commander with ``warning=…``;

and ``GET /api/queue?limit=50`` through the Flask test client (a commander's
token), end to end with the JSON. Prints p50/p95/max in milliseconds; no
assertion on time.

    python bench/bench_queue.py [--reports 1000000] [--backends sqlite postgis]
                                [--explain] [--fix] [--keep | --store URL]

``--explain`` prints the plan of each case's SQL (EXPLAIN QUERY PLAN on SQLite,
EXPLAIN (ANALYZE, BUFFERS) on PostGIS), as is and after the last fix. ``--fix``
times the cases again after each fix of :data:`STAGES` (each adds to the ones
before), tried in this process and the benchmark's database only, the library
unchanged: A, the queue's WHERE also saying ``status <> 'closed'`` and the
indexes of :data:`FIX_INDEXES`; B, a handler's queue asking ``assignee = ?``
alone; C, on PostGIS, no server-side prepared statements.
``--store URL`` measures a store this script built before (``--keep`` keeps it:
SQLite in ``/tmp/geogrid_bench_queue.db``, PostGIS in the database
``geogrid_bench_queue``, recreated each run, on the server of
``GEOGRID_TEST_POSTGRES``, default: the local socket; ``--fix`` changes its indexes).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_stats import ADMIN_URL, BATCH, loop_updates  # noqa: E402

NOW = datetime(2027, 1, 2, tzinfo=UTC)
DATABASE = "geogrid_bench_queue"
KEPT_SQLITE = Path(tempfile.gettempdir()) / "geogrid_bench_queue.db"
CALLS, WARM_UP = 30, 3
#: What ``--fix`` tries, one stage after the other (each adds to the ones before).
STAGES = (
    "A: status <> 'closed' + covering indexes",
    "B: handler queues assignee = ?",
    "C: psycopg prepare_threshold=None",
)
#: Stage A's indexes: the work queue's partial indexes also hold what its filters read
#: (status, deadline or warn_at, assignee), so a page and its count are found in the
#: index alone ("nearly" walks past every overdue report; a department's queue past
#: every other one's); the assignee's index gets the status and both orders' columns.
FIX_INDEXES = [
    "DROP INDEX IF EXISTS reports_open_warn",
    "CREATE INDEX reports_open_warn ON reports (warn_at, id, status, deadline, assignee) "
    "WHERE status <> 'closed'",
    "DROP INDEX IF EXISTS reports_open_deadline",
    "CREATE INDEX reports_open_deadline ON reports (deadline, id, status, warn_at, assignee) "
    "WHERE status <> 'closed'",
    "DROP INDEX IF EXISTS reports_assignee",
    "CREATE INDEX reports_assignee ON reports (assignee, status, deadline, warn_at, id) "
    "WHERE assignee IS NOT NULL AND status <> 'closed'",
]
#: Stage B: what a department's or grid worker's queue (mine) says of the assignee.
HANDLER_TERM = "(assignee = ? OR assignee IS NULL)"


def queue_updates(postgres: bool) -> list[str]:
    """The open reports (``MOD(id, 20) >= 17`` in ``loop_updates``) made into a live queue."""
    now = "TIMESTAMPTZ '2027-01-02 00:00:00+00'" if postgres else "'2027-01-02T00:00:00'"

    def plus(column: str, hours: str) -> str:
        if postgres:
            return f"{column} + ({hours}) * INTERVAL '1 hour'"
        return (f"strftime('%Y-%m-%dT%H:%M:%f', julianday({column}) + ({hours}) / 24.0)"
                " || '000+00:00'")  # fmt: skip

    statuses = ("received", "registered", "dispatched", "in_progress", "feedback", "verified")
    status = "CASE MOD(id / 20, 6) " + " ".join(
        f"WHEN {i} THEN '{s}'" for i, s in enumerate(statuses)) + " END"  # fmt: skip
    # 0–120 hours before now: > 72 overdue (40 %), 57.6–72 nearly (12 %), else not yet.
    received = plus(now, "-CAST(MOD(id * 7919, 120011) AS DOUBLE PRECISION) / 1000.0")
    handled = "MOD(id / 20, 6) >= 2"  # dispatched or later: someone has it
    department = "MOD(id, 7) = 0 OR code2 IS NULL"  # outside every grid: a department's
    assignee = (f"CASE WHEN {handled} THEN (CASE WHEN MOD(id, 997) = 0 THEN 'dept.parks' "
                f"WHEN {department} THEN 'dept.works' ELSE 'gw.' || code2 END) END")  # fmt: skip
    open_ = "MOD(id, 20) >= 17"
    return [
        f"UPDATE reports SET status = {status}, received_at = {received} WHERE {open_}",
        f"UPDATE reports SET deadline = {plus('received_at', '72')}, "
        f"warn_at = {plus('received_at', '57.6')}, assignee = {assignee}, "
        f"assigned_at = CASE WHEN {handled} THEN {plus('received_at', '1')} END, "
        f"closed_at = NULL, rating = NULL, rated_at = NULL WHERE {open_}",
    ]


def build(url: str, count: int) -> dict:
    """The store of bench_stats.py plus a live queue; seconds taken and the people used."""
    from geogrid import Hierarchy
    from geogrid.sample import sample_reports
    from geogrid.storage import open_store
    from geogrid.storage.sqlite import SqliteDialect

    hierarchy = Hierarchy.from_manifest(ROOT / "data/boundaries/sample.toml")
    store = open_store(url)
    store.import_generation(hierarchy, "bench", activate=True)
    reports = sample_reports(hierarchy, count, seed=11)
    t0 = time.perf_counter()
    for start in range(0, count, BATCH):
        store.add_reports(reports[start : start + BATCH], actor="bench")
    del reports
    load_s = time.perf_counter() - t0
    postgres = not isinstance(store.db, SqliteDialect)
    t0 = time.perf_counter()
    with store.db.transaction() as tx:
        for statement in loop_updates(postgres, count) + queue_updates(postgres):
            store.db.execute(tx, statement.replace("%", "%%") if postgres else statement)
    store.optimize()
    fill_s = time.perf_counter() - t0
    people(store)
    store.close()
    return {"load_s": load_s, "fill_s": fill_s}


def people(store) -> None:
    """A commander, a street's commander and the worker of the grid with most open reports."""
    with store.db.transaction(write=False) as tx:
        (grid,) = store.db.rows(tx, "SELECT code2 AS code, COUNT(*) AS n FROM reports WHERE "
                                "status IN ('dispatched', 'in_progress') AND code2 IS NOT NULL "
                                "GROUP BY code2 ORDER BY n DESC, code2 LIMIT 1")  # fmt: skip
        (street,) = store.db.rows(tx, "SELECT code0 AS code FROM reports WHERE code2 = ? "
                                  "LIMIT 1", (grid["code"],))  # fmt: skip
    store.accounts.add_user("cmd", "commander", None, actor="bench")
    store.accounts.add_user("cmd.street", "commander", (street["code"],), actor="bench")
    store.accounts.add_user(f"gw.{grid['code']}", "grid_worker", (grid["code"],), actor="bench")
    store.accounts.add_user("dept.works", "department", None, actor="bench")
    store.accounts.add_user("dept.parks", "department", None, actor="bench")


def principals(store) -> dict:
    """The principals of the cases, by user name."""
    with store.db.transaction(write=False) as tx:
        names = [r["name"] for r in store.db.rows(tx, "SELECT name FROM users")]
    worker = next(n for n in names if n.startswith("gw."))
    names = ("cmd", "cmd.street", worker, "dept.works", "dept.parks")
    return {n: store.accounts.user(n).principal("bench") for n in names}


def cases(store) -> dict:
    """Each case: (principal, QueueQuery)."""
    from geogrid.storage.loop import QueueQuery

    who = principals(store)
    worker = next(n for n in who if n.startswith("gw."))
    return {
        "commander": (who["cmd"], QueueQuery(now=NOW)),
        "commander all": (who["cmd"], QueueQuery(now=NOW, mine=False)),
        "street": (who["cmd.street"], QueueQuery(now=NOW)),
        "grid worker": (who[worker], QueueQuery(now=NOW)),
        "department": (who["dept.works"], QueueQuery(now=NOW)),
        "department few": (who["dept.parks"], QueueQuery(now=NOW)),
        "overdue": (who["cmd"], QueueQuery(now=NOW, warning="overdue")),
        "nearly": (who["cmd"], QueueQuery(now=NOW, warning="nearly")),
    }


def timed(call) -> dict:
    """p50/p95/max (ms) of :data:`CALLS` calls after :data:`WARM_UP`, and the last result."""
    for _ in range(WARM_UP):
        call()
    times = []
    for _ in range(CALLS):
        t0 = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    rank = lambda share: times[math.ceil(share * len(times)) - 1]  # noqa: E731
    return {"p50": rank(0.5), "p95": rank(0.95), "max": times[-1], "result": result}


def measure(url: str) -> dict:
    """Every case through the store, then the HTTP route."""
    from geogrid.storage import open_store

    store = open_store(url)
    figures = {}
    for name, (who, query) in cases(store).items():
        f = timed(lambda who=who, query=query: store.queue(who, query))
        page = f.pop("result")
        figures[name] = {**f, "total": page.total, "items": len(page.items),
                         "first": page.items[0].warning(NOW) if page.items else None}  # fmt: skip
    figures["GET /api/queue"] = http(store, url)
    store.close()
    return figures


def http(store, url: str) -> dict:
    """``GET /api/queue?limit=50`` as the unscoped commander, JSON included."""
    from geogrid.clock import fixed_clock
    from web import create_app

    token, _ = store.accounts.issue_token("cmd", days=None, actor="bench")
    app = create_app({"TESTING": True, "STORE": url, "TILES": "none",
                      "CLOCK": fixed_clock(NOW)})  # fmt: skip
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def call() -> dict:
        response = client.get("/api/queue?limit=50", headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return response.get_json()

    f = timed(call)
    body = f.pop("result")
    return {**f, "total": body["total"], "items": len(body["items"]),
            "first": body["items"][0]["warning"] if body["items"] else None}  # fmt: skip


def explain(url: str) -> dict:
    """The plan of every SQL statement each case's ``store.queue`` sends about reports."""
    from geogrid.storage import open_store
    from geogrid.storage.sqlite import SqliteDialect

    store = open_store(url)
    postgres = not isinstance(store.db, SqliteDialect)
    plans = {}
    for name, (who, query) in cases(store).items():
        sent: list[tuple[str, list]] = []
        rows = store.db.rows

        def recording(tx, sql, params=(), rows=rows, sent=sent):
            if "FROM reports" in sql:
                sent.append((sql, list(params)))
            return rows(tx, sql, params)

        store.db.rows = recording
        store.queue(who, query)
        store.db.rows = rows
        plans[name] = []
        for sql, params in sent:
            prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
            with store.db.transaction(write=False) as tx:
                lines = store.db.rows(tx, prefix + sql, params)
            shown = [" | ".join(str(v) for v in line.values()) for line in lines]
            # The page query's long column list says nothing about the plan.
            short = re.sub(r"SELECT r\.id, .*? FROM reports r ", "SELECT r.… FROM reports r ", sql)
            plans[name].append({"sql": short, "plan": shown})
    store.close()
    return plans


def open_term(store_class) -> None:
    """Stage A: the queue's WHERE also says ``status <> 'closed'`` (as Store.queue could):
    the planners then know the partial indexes apply (SQLite proves it only from the
    same term; PostgreSQL not in a generic plan, where the statuses are parameters)."""
    original = store_class._where_warning

    def patched(self, where, params, warning, now):
        original(self, where, params, warning, now)
        where.append("status <> 'closed'")  # a literal, as in the indexes' WHERE

    store_class._where_warning = patched


def covering_indexes(url: str) -> None:
    """Stage A: make :data:`FIX_INDEXES` in the benchmark's database."""
    from geogrid.storage import open_store

    store = open_store(url)
    with store.db.transaction() as tx:
        for statement in FIX_INDEXES:
            store.db.execute(tx, statement)
    store.optimize()
    store.close()


def assigned_only(store_class) -> None:
    """Stage B: a handler's queue (mine) lists what is assigned to them, not also every
    unassigned report in scope: ``assignee = ?`` reads the assignee's index; with
    ``OR assignee IS NULL`` both planners walk every open report instead."""
    original = store_class._where_warning

    def patched(self, where, params, warning, now):
        where[:] = ["assignee = ?" if term == HANDLER_TERM else term for term in where]
        original(self, where, params, warning, now)

    store_class._where_warning = patched


def custom_plans(dialect_class) -> None:
    """Stage C (PostGIS): no server-side prepared statements, so each query is planned
    with its values (psycopg prepares a query run 5 times; PostgreSQL may then reuse a
    generic plan that cannot see the partial index or the selectivity of ``now``)."""
    import psycopg

    def connect(self):
        return psycopg.connect(self.url, autocommit=True, connect_timeout=10,
                               prepare_threshold=None)  # fmt: skip

    dialect_class._connect = connect


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def worker(url: str, count: int, built: bool, show_plans: bool, fix: bool) -> dict:
    from geogrid.storage import Store
    from geogrid.storage.postgis import PostgisDialect

    out = {} if built else build(url, count)
    out["stages"] = [{"name": "as is", "figures": measure(url), "uptime": uptime()}]
    if show_plans:
        out["stages"][0]["plans"] = explain(url)
    if not fix:
        return out
    stages = [(STAGES[0], lambda: (open_term(Store), covering_indexes(url))),
              (STAGES[1], lambda: assigned_only(Store))]  # fmt: skip
    if url.startswith("postgres"):
        stages.append((STAGES[2], lambda: custom_plans(PostgisDialect)))
    for name, apply in stages:
        apply()
        out["stages"].append({"name": name, "figures": measure(url), "uptime": uptime()})
    if show_plans:
        out["stages"][-1]["plans"] = explain(url)
    return out


def postgis_url() -> str:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url


def run(backend: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        if args.store:
            url = args.store
        elif backend == "sqlite":
            KEPT_SQLITE.unlink(missing_ok=True)
            url = f"sqlite:///{KEPT_SQLITE if args.keep else Path(tmp) / 'bench.db'}"
        else:
            url = postgis_url()
        command = [sys.executable, __file__, "--worker", url, "--reports", str(args.reports)]
        command += ["--built"] * bool(args.store) + ["--explain"] * args.explain
        command += ["--fix"] * args.fix
        output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
        if backend == "postgis" and not (args.keep or args.store):
            import psycopg

            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        return json.loads(output.strip().splitlines()[-1])


def table(figures: dict) -> None:
    print(f"    {'case':<16}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}   total  first")
    for name, f in figures.items():
        print(f"    {name:<16}{f['p50']:>9.1f}{f['p95']:>9.1f}{f['max']:>9.1f}"
              f"  {f['total']:>6}  {f['first']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgis"])
    parser.add_argument("--store", help="measure a store built before (one backend)")
    parser.add_argument("--keep", action="store_true", help="keep the store built")
    parser.add_argument("--explain", action="store_true", help="print the SQL plans")
    parser.add_argument("--fix", action="store_true", help="time again with FIX_INDEXES")
    parser.add_argument("--worker")
    parser.add_argument("--built", action="store_true")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.reports, args.built, args.explain, args.fix)))
        return
    print(f"work queue (待办), first page of 50, {CALLS} calls after {WARM_UP}, "
          f"{args.reports:,} reports, now {NOW:%Y-%m-%d}")  # fmt: skip
    for backend in args.backends:
        out = run(backend, args)
        built = f"load {out['load_s']:.0f} s, loop columns {out['fill_s']:.0f} s" if (
            "load_s" in out) else f"store {args.store}"  # fmt: skip
        print(f"  {backend}: {built}")
        for stage in out["stages"]:
            print(f"  {backend}, {stage['name']}; {stage['uptime']}")
            table(stage["figures"])
            for name, plans in stage.get("plans", {}).items():
                for p in plans:
                    print(f"    -- {name}: {p['sql']}\n       " + "\n       ".join(p["plan"]))


if __name__ == "__main__":
    main()
