"""Reliability of the store under real concurrency and real crashes, on every backend.

The writers are separate OS processes: this module run as
``python -m tests.storage.test_reliability <mode> <json config>``. Nothing is mocked;
the parent checks the database afterwards through the store and, where the store
has no query for it (per-batch counts, history rows), with plain SQL.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from geogrid.errors import GeogridError
from geogrid.reports import NewReport, ReportQuery
from geogrid.storage import open_store
from tests.conftest import SOUTH, STEP, WEST
from tests.storage.test_contract import redrawn_hierarchy, report, tiny_hierarchy

ROOT = Path(__file__).resolve().parents[2]
WRITERS, PER_WRITER = 8, 500
KILL_BATCH = 2_000
TRICKLE_WRITERS, TRICKLE_STEP = 3, 40
SNAPSHOT_SECONDS = 1.5

pytestmark = pytest.mark.slow


# --- points with known grids -----------------------------------------------------------------


def point(n: int) -> tuple[float, float]:
    """The n-th test point: inside one of the eight tiny grids, well away from any edge."""
    column, row = divmod(n % 8, 2)
    fx = 0.1 + 0.8 * ((n * 7919) % 1000) / 1000
    fy = 0.1 + 0.8 * ((n * 104729) % 1000) / 1000
    return WEST + STEP * (column + fx), SOUTH + STEP * (row + fy)


def expected_codes(lon: float, lat: float, redrawn: bool = False) -> dict[str, str]:
    """The codes of a point's grids in the tiny district, or in its redrawn version."""
    column, row = int((lon - WEST) // STEP), int((lat - SOUTH) // STEP)
    street, west_half = ("1" if column < 2 else "2"), column % 2 == 0
    grid = f"{street}0{(column % 2) * 2 + row + 1}"
    if redrawn and street == "1":
        grid = "105" if west_half else "106"
    return {"street": street, "grid": grid}


def numbered(external_id: str, n: int) -> NewReport:
    """A report at the n-th test point."""
    return report(point(n), external_id=external_id, description=f"第{n}号")


# --- writer processes ------------------------------------------------------------------------


def write_many(url: str, writer: int, count: int) -> dict:
    """Chunks of 50, each one batch call, except that every fifth goes one report per call."""
    store = open_store(url)
    ids, created = {}, 0
    for start in range(0, count, 50):
        chunk = [
            numbered(f"w{writer}-{k:03d}", writer * count + k) for k in range(start, start + 50)
        ]
        if start // 50 % 5 != 1:
            for result in store.add_reports(chunk):
                ids[result.external_id] = result.id
                created += result.created
        else:
            for new in chunk:
                ids[new.external_id] = store.add_report(new).id
                created += 1
    store.close()
    return {"ids": ids, "created": created}


def write_batches(url: str, size: int, batches: int) -> dict:
    """Big batches, announcing each one on stdout once ``add_reports`` returned."""
    store = open_store(url)
    for batch in range(1, batches + 1):
        store.add_reports([numbered(f"b{batch:03d}-{k:05d}", k) for k in range(size)])
        print(f"committed {batch}", flush=True)
    return {}


def write_trickle(url: str, writer: int, stop: str) -> dict:
    """One to three reports per call, until the stop file appears."""
    store = open_store(url)
    ids, errors, n = {}, [], 0
    while not os.path.exists(stop):
        size = (1, 1, 3)[n % 3]
        chunk = [numbered(f"t{writer}-{n + k:05d}", writer * 100_000 + n + k) for k in range(size)]
        n += size
        try:
            results = store.add_reports(chunk)
        except GeogridError as exc:
            errors.append(str(exc))
        else:
            ids |= {r.external_id: r.id for r in results if r.created}
        time.sleep(0.005)
    store.close()
    return {"ids": ids, "errors": errors}


MODES = {"many": write_many, "batches": write_batches, "trickle": write_trickle}


class Processes:
    """Writer processes started by one test; any still running at teardown are killed."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, mode: str, **config) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.storage.test_reliability", mode, json.dumps(config)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started.append(process)
        return process

    @staticmethod
    def result(process: subprocess.Popen, timeout: float = 120) -> dict:
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, f"writer failed:\n{err}"
        return json.loads(out.splitlines()[-1])

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.communicate()


@pytest.fixture
def processes():
    started = Processes()
    yield started
    started.kill_all()


# --- looking into the database ---------------------------------------------------------------


def query(url: str, sql: str) -> list[tuple]:
    """Plain SQL on the store's database, outside the store."""
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url[len("sqlite:///") :])) as connection:
            return connection.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute(sql).fetchall()


def report_ids(url: str) -> set[int]:
    """Ids of the reports stored now, read in one statement (one snapshot)."""
    return {row[0] for row in query(url, "SELECT id FROM reports")}


def all_reports(store) -> list:
    """Every report, with its history; only once no writer is running."""
    page = store.find_reports(ReportQuery(limit=10_000))
    assert len(page.items) == page.total
    return page.items


def wait_for_reports(store, at_least: int, writers: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 30
    while store.find_reports(ReportQuery(limit=1)).total < at_least:
        assert all(w.poll() is None for w in writers), "a writer stopped early"
        assert time.monotonic() < deadline, f"fewer than {at_least} reports after 30 s"
        time.sleep(0.02)


def wait_inside_write_transaction(url: str, writer: subprocess.Popen) -> None:
    """Return once the writer is seen well inside a write transaction, not yet committed."""
    deadline = time.monotonic() + 30
    with closing(_transaction_probe(url)) as probe:
        while not probe.writer_in_transaction():
            assert writer.poll() is None, "the writer ended before it could be killed"
            assert time.monotonic() < deadline, "never saw the writer inside a transaction"
            time.sleep(0.001)


def _transaction_probe(url: str):
    if url.startswith("sqlite:///"):
        return _SqliteProbe(url[len("sqlite:///") :])
    return _PostgisProbe(url)


class _SqliteProbe:
    """SQLite has one write lock: if we cannot take it at once, a writer is inside.

    Held now and still held a moment later means the writer is past ``BEGIN`` and
    into its inserts (a 2,000-report batch holds the lock for tens of milliseconds).
    """

    SETTLE = 0.01

    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(path, timeout=0, isolation_level=None)

    def writer_in_transaction(self) -> bool:
        if not self._locked():
            return False
        time.sleep(self.SETTLE)
        return self._locked()

    def _locked(self) -> bool:
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return True
        self.connection.execute("ROLLBACK")
        return False

    def close(self) -> None:
        self.connection.close()


class _PostgisProbe:
    """The writer's session is copying history rows: its reports are in, uncommitted."""

    SQL = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
        "AND state = 'active' AND backend_xid IS NOT NULL AND query LIKE 'COPY report_history%'"
    )

    def __init__(self, url: str) -> None:
        import psycopg

        self.connection = psycopg.connect(url, autocommit=True)

    def writer_in_transaction(self) -> bool:
        return self.connection.execute(self.SQL).fetchone()[0] > 0

    def others(self) -> int:
        sql = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return self.connection.execute(sql).fetchone()[0]

    def close(self) -> None:
        self.connection.close()


def wait_for_server_cleanup(url: str) -> None:
    """PostgreSQL ends a dead client's session on its own; check only once it has."""
    if url.startswith("sqlite:///"):
        return
    deadline = time.monotonic() + 30
    with closing(_PostgisProbe(url)) as probe:
        while probe.others():
            assert time.monotonic() < deadline, "the killed writer's session never ended"
            time.sleep(0.01)


# --- the tests -------------------------------------------------------------------------------


def test_eight_concurrent_writers_lose_nothing(store_url, processes):
    """Eight processes write 500 reports each at once: each stored once, assigned, recorded."""
    store = open_store(store_url)
    generation = store.import_generation(tiny_hierarchy(), "v1", activate=True)
    writers = [
        processes.start("many", url=store_url, writer=w, count=PER_WRITER) for w in range(WRITERS)
    ]
    results = [processes.result(w) for w in writers]

    reports = all_reports(store)
    assert len(reports) == WRITERS * PER_WRITER
    assert len({r.id for r in reports}) == len(reports)
    expected = {f"w{w}-{k:03d}" for w in range(WRITERS) for k in range(PER_WRITER)}
    assert Counter(r.external_id for r in reports) == Counter(expected)
    told = {ext: i for result in results for ext, i in result["ids"].items()}
    assert {r.external_id: r.id for r in reports} == told
    assert sum(result["created"] for result in results) == len(reports)
    for r in reports:
        assert [h.action for h in r.history] == ["received"], r.external_id
        assert r.generation_id == generation.id and r.assignment == "assigned"
        assert r.codes == expected_codes(r.lon, r.lat), r.external_id
        assert r.handler_code == r.codes["grid"]
    store.close()


def test_a_writer_killed_mid_batch_leaves_whole_batches_only(store_url, processes):
    """SIGKILL inside a batch's transaction: committed batches stay whole, the rest vanish."""
    store = open_store(store_url)
    store.import_generation(tiny_hierarchy(), "v1", activate=True)
    store.close()
    writer = processes.start("batches", url=store_url, size=KILL_BATCH, batches=100)
    committed = 0
    while committed < 2:
        line = writer.stdout.readline()
        assert line.startswith("committed "), f"writer said {line!r}: {writer.stderr.read()}"
        committed = int(line.split()[1])
    wait_inside_write_transaction(store_url, writer)
    os.kill(writer.pid, signal.SIGKILL)
    out = writer.stdout.read()  # not communicate(): it would skip lines readline() buffered
    assert writer.wait() == -signal.SIGKILL
    committed = max([committed, *(int(line.split()[1]) for line in out.split("\n") if line)])
    wait_for_server_cleanup(store_url)

    if store_url.startswith("sqlite:///"):
        assert query(store_url, "PRAGMA integrity_check") == [("ok",)]
        assert query(store_url, "PRAGMA foreign_key_check") == []
    store = open_store(store_url)
    external_ids = [row[0] for row in query(store_url, "SELECT external_id FROM reports")]
    per_batch = Counter(int(e[1:4]) for e in external_ids)
    assert all(per_batch[b] == KILL_BATCH for b in range(1, committed + 1)), per_batch
    assert set(per_batch) <= set(range(1, committed + 2)), per_batch
    assert all(n == KILL_BATCH for n in per_batch.values()), per_batch
    assert store.find_reports(ReportQuery(limit=1)).total == len(external_ids)
    _assert_one_history_row_per_report(store_url, len(external_ids))
    store.add_report(report(external_id="after-the-crash"))
    assert store.find_reports(ReportQuery(limit=1)).total == len(external_ids) + 1
    store.close()


def _assert_one_history_row_per_report(url: str, reports: int) -> None:
    assert query(url, "SELECT count(*) FROM report_history") == [(reports,)]
    not_one = query(
        url,
        "SELECT r.id FROM reports r LEFT JOIN report_history h ON h.report_id = r.id "
        "GROUP BY r.id HAVING count(h.id) <> 1",
    )
    assert not_one == []
    orphans = query(
        url,
        "SELECT count(*) FROM report_history h LEFT JOIN reports r ON r.id = h.report_id "
        "WHERE r.id IS NULL",
    )
    assert orphans == [(0,)]


def test_activation_during_intake_reassigns_every_open_report(store_url, processes, tmp_path):
    """Redraw and activate (and go back) while three processes keep reporting.

    Intake and activation must exclude each other: nothing is lost, and no report is
    stored under a generation that was no longer active when it was committed.
    """
    store = open_store(store_url)
    first = store.import_generation(tiny_hierarchy(), "v1", activate=True)
    stop = tmp_path / "stop"
    writers = [
        processes.start("trickle", url=store_url, writer=w, stop=str(stop))
        for w in range(TRICKLE_WRITERS)
    ]
    wait_for_reports(store, TRICKLE_STEP, writers)
    redrawn = store.import_generation(redrawn_hierarchy(), "v2")
    before_redraw = report_ids(store_url)
    to_redrawn = store.activate(redrawn.id)
    wait_for_reports(store, to_redrawn.reassigned + TRICKLE_STEP, writers)
    before_back = report_ids(store_url)
    back = store.activate(first.id)
    wait_for_reports(store, back.reassigned + TRICKLE_STEP, writers)
    stop.touch()
    results = [processes.result(w) for w in writers]

    assert [result["errors"] for result in results] == [[]] * TRICKLE_WRITERS
    reports = all_reports(store)
    assert {r.external_id: r.id for r in reports} == {
        ext: i for result in results for ext, i in result["ids"].items()
    }
    assert store.active_generation().id == first.id
    reassigned_to = Counter()
    for r in reports:
        assert r.generation_id == first.id and r.codes == expected_codes(r.lon, r.lat)
        assert r.handler_code == r.codes["grid"]
        targets = _check_history_chain(r, redrawn.id)
        reassigned_to.update(targets)
        if r.id in before_redraw:
            assert targets == [redrawn.id, first.id], r.history
        elif r.id in before_back:
            assert targets[-1:] == [first.id], r.history
    assert len(before_redraw) <= to_redrawn.reassigned == reassigned_to[redrawn.id]
    assert len(before_back) <= back.reassigned == reassigned_to[first.id]
    store.close()


def _check_history_chain(r, redrawn_id: int) -> list[int]:
    """Each reassignment starts from the generation the report was in; returns the targets."""
    rest = r.history[1:]
    assert [h.action for h in r.history] == ["received"] + ["reassigned"] * len(rest), r.history
    generation = rest[0].data["from_generation"] if rest else r.generation_id
    targets = []
    for entry in rest:
        source, target = entry.data["from_generation"], entry.data["to_generation"]
        # from == to would mean intake assigned under a generation no longer active.
        assert source == generation != target, r.history
        assert entry.data["old"] == expected_codes(r.lon, r.lat, source == redrawn_id)
        assert entry.data["new"] == expected_codes(r.lon, r.lat, target == redrawn_id)
        generation = target
        targets.append(target)
    assert generation == r.generation_id
    return targets


def test_a_page_and_its_total_agree_while_reports_arrive(store_url, processes, tmp_path):
    """``find_reports`` reads its total and its items in one snapshot, even during intake.

    Otherwise a client sees, say, 462 reports "in all" on a page that lists 465.
    """
    store = open_store(store_url)
    store.import_generation(tiny_hierarchy(), "v1", activate=True)
    stop = tmp_path / "stop"
    writers = [
        processes.start("trickle", url=store_url, writer=w, stop=str(stop)) for w in range(2)
    ]
    wait_for_reports(store, 10, writers)
    disagreements, deadline = [], time.monotonic() + SNAPSHOT_SECONDS
    while not disagreements and time.monotonic() < deadline:
        page = store.find_reports(ReportQuery(limit=10_000))
        if len(page.items) != page.total:
            disagreements.append((page.total, len(page.items)))
    stop.touch()
    for writer in writers:
        processes.result(writer)
    store.close()
    assert disagreements == [], "(total, items on the page)"


if __name__ == "__main__":
    mode, config = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(MODES[mode](**config)), flush=True)
