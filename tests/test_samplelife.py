"""The sample that lives (geogrid.samplelife): weeks of the loop and of patrols, made up."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from geogrid import Hierarchy
from geogrid.access.principals import Principal
from geogrid.clock import fixed_clock
from geogrid.patrol.compliance import compliance_of_tracks
from geogrid.patrol.records import check_track
from geogrid.reports import NewReport, ReportQuery
from geogrid.samplelife import (
    DEPARTMENTS,
    SampleRefusedError,
    department_of,
    load_sample_history,
    sample_accounts,
    sample_tracks,
    track_rows,
)
from geogrid.storage import open_store
from geogrid.storage.audit import AuditQuery
from geogrid.storage.loop import QueueQuery
from geogrid.storage.rows import track_row
from geogrid.workflow import (
    CLOSED,
    FEEDBACK,
    IN_PROGRESS,
    RECEIVED,
    REGISTERED,
    STATUSES,
    VERIFIED,
    check_transition,
)
from tests.conftest import RENAMED_MANIFEST, SAMPLE_MANIFEST, write_tiny_district
from tests.storage.conftest import (
    fresh_postgis,
    postgis_template,  # noqa: F401 (a fixture, used by name)
)

#: A Sunday, 10:00 in Shanghai.
NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
DAYS, REPORTS, TRACK_DAYS = 30, 4000, 7


def _store(url: str, manifest, label: str = "sample"):
    store = open_store(url, clock=fixed_clock(NOW))
    store.import_generation(Hierarchy.from_manifest(manifest), label, activate=True)
    return store


@pytest.fixture(scope="module")
def lived(tmp_path_factory):
    """The sample district with a month of sample life (fewer reports than served)."""
    folder = tmp_path_factory.mktemp("samplelife")
    store = _store(f"sqlite:///{folder / 'g.db'}", SAMPLE_MANIFEST)
    life = load_sample_history(store, NOW, days=DAYS, reports=REPORTS, track_days=TRACK_DAYS)
    yield store, life
    store.close()


@pytest.fixture(scope="module")
def reports(lived):
    store, _ = lived
    return store.find_reports(ReportQuery(limit=10_000)).items


def test_every_status_is_there_and_older_reports_are_mostly_closed(lived, reports):
    _, life = lived
    assert life.reports == len(reports) == REPORTS
    assert all(life.statuses[status] > 0 for status in STATUSES), life.statuses
    old = [r for r in reports if r.received_at < NOW - timedelta(days=7)]
    assert sum(r.status == CLOSED for r in old) / len(old) > 0.97
    recent = {r.status for r in reports if r.received_at > NOW - timedelta(days=2)}
    assert recent == set(STATUSES)
    assert {"sample-life-0", f"sample-life-{REPORTS - 1}"} <= {r.external_id for r in reports}


def test_some_are_overdue_escalated_returned_rejected_and_rated(lived, reports):
    store, life = lived
    overdue = [r for r in reports if r.status != CLOSED and r.deadline < NOW]
    assert len(overdue) == life.overdue > 0
    assert store.find_reports(ReportQuery(overdue_at=NOW)).total == life.overdue
    escalated = [r for r in reports if r.escalations]
    assert len(escalated) == life.escalated > 0
    assert 0 < life.escalated < 0.1 * life.reports
    returned = [r for r in reports if r.returns]
    assert len(returned) == life.returned > 0
    rejected = [r for r in reports if r.history[-1].to_status == CLOSED and not r.assignee]
    assert len(rejected) == life.rejected > 0
    rated = [r for r in reports if r.rating is not None]
    assert len(rated) == life.rated > 0


def test_escalations_hand_the_report_up_as_the_store_does(lived, reports):
    store, _ = lived
    levels = store.hierarchy().levels
    for report in (r for r in reports if r.escalations):
        entries = [h for h in report.history if h.action == "escalated"]
        assert len(entries) == report.escalations
        assert entries[-1].data["to"] == report.handler_code
        assert report.codes[report.handler_level] == report.handler_code
        assert entries[0].from_status == entries[0].to_status
        assert entries[0].note.startswith("超期升级")
        assert levels.index(report.handler_level) == levels.index("microgrid") - len(entries)


def test_histories_are_loops_the_store_would_have_written(lived, reports):
    store, _ = lived
    users = {u.name: u for u in store.accounts.users()}
    for report in reports:
        first, *steps = report.history
        assert (first.action, first.to_status, first.at) == ("received", RECEIVED,
                                                             report.received_at)  # fmt: skip
        status = RECEIVED
        for entry in steps:
            if entry.action == "transition":
                assert entry.from_status == status
                check_transition(status, entry.to_status, entry.note)
                status = entry.to_status
        assert status == report.status
        times = [h.at for h in report.history]
        assert times == sorted(times) and times[-1] <= NOW
        assert report.updated_at == times[-1]
        if report.assignee:
            _check_dispatch(report, users)
        if report.status == CLOSED:
            closing = [h for h in steps if h.action == "transition" and h.to_status == CLOSED]
            assert report.closed_at == closing[-1].at
        assert report.returns == sum(
            (h.from_status, h.to_status) == (FEEDBACK, IN_PROGRESS) for h in steps
        )


def _check_dispatch(report, users) -> None:
    (entry,) = [h for h in report.history if h.to_status == "dispatched"]
    assert entry.data["assignee"] == report.assignee and entry.at == report.assigned_at
    assert datetime.fromisoformat(entry.data["deadline"]) >= report.received_at
    user = users[report.assignee]
    assert user.role in ("department", "grid_worker")
    assert user.principal("test").covers(report.codes.values())
    handled = [h for h in report.history
               if h.action == "transition" and h.to_status in (IN_PROGRESS, FEEDBACK)]  # fmt: skip
    assert all(h.actor == report.assignee for h in handled if h.from_status != FEEDBACK)


def test_rejected_reports_have_a_note_and_residents_rate_mostly_satisfied(reports):
    rejected = [r for r in reports if r.status == CLOSED and not r.assignee]
    for report in rejected:
        closing = report.history[-1]
        assert closing.from_status in (RECEIVED, REGISTERED) and closing.note
    resident = [r for r in reports if r.source == "resident" and r.assignee
                and r.status == CLOSED and r.closed_at < NOW - timedelta(days=3)]  # fmt: skip
    rated = [r for r in resident if r.rating is not None]
    assert len(rated) / len(resident) > 0.6
    assert np.mean([r.rating for r in rated]) > 3.8
    assert {r.rating for r in rated} == {1, 2, 3, 4, 5}
    assert all(r.rated_at > r.closed_at and r.history[-1].action == "rated" for r in rated)
    assert all(r.rating is None for r in reports if r.source != "resident")


def test_codes_are_where_the_hierarchy_puts_each_report(lived, reports):
    store, _ = lived
    hierarchy = store.hierarchy()
    for report in reports[:: max(1, len(reports) // 500)]:
        assert report.codes == hierarchy.lookup(report.lon, report.lat)["codes"]
    assert sum(r.assignment == "unassigned" for r in reports) < 0.02 * len(reports)


def test_reports_go_to_departments_by_category_and_to_grid_workers(reports):
    from geogrid.categories import CategoryTree

    tree = CategoryTree.default()
    by_department = {r.assignee for r in reports if r.assignee and r.assignee.startswith("dept.")}
    assert by_department == {name for name, _, _ in DEPARTMENTS}
    for report in reports:
        if report.assignee and report.assignee.startswith("dept."):
            assert department_of(report.category, tree) == report.assignee
        elif report.assignee:
            assert report.assignee == f"gw.{report.codes['grid']}"


def test_accounts_a_worker_per_grid_and_the_departments(lived):
    store, life = lived
    hierarchy = store.hierarchy()
    users = {u.name: u for u in store.accounts.users()}
    grids = hierarchy.grids("grid")["code"]
    assert life.accounts == len(grids) + len(DEPARTMENTS)
    for code in grids:
        worker = users[f"gw.{code}"]
        assert (worker.role, worker.scope) == ("grid_worker", (code,))
        assert worker.display_name.startswith("网格员 ")
    streets = tuple(sorted(hierarchy.grids("street")["code"]))
    assert users["dept.fire"].scope == streets and users["dept.fire"].role == "department"
    assert len({u.display_name for u in users.values()}) > 0.9 * len(users)


def test_tracks_mostly_meet_three_a_day_and_some_grids_are_missed(lived):
    store, life = lived
    hierarchy = store.hierarchy()
    first = (NOW - timedelta(days=TRACK_DAYS - 1)).date()
    tracks = store.patrol_tracks(NOW - timedelta(days=TRACK_DAYS + 1), NOW)
    assert len(tracks) == life.tracks > 0
    # Today's evening patrols have not happened yet: count the days before today.
    until = NOW.date() - timedelta(days=1)
    result = compliance_of_tracks(tracks, hierarchy, since=first, until=until)
    summary = result.summary.set_index("code")
    assert 1 <= (summary["status"] == "never").sum() <= 0.06 * len(summary)
    patrolled = result.table[
        ~result.table["code"].isin(summary.index[summary["status"] == "never"])
    ]
    assert (patrolled["status"] == "met").mean() > 0.75
    assert (patrolled["status"] != "met").any()
    assert {t.worker for t in tracks} <= {f"gw.{c}" for c in summary.index}
    by_worker = result.patrols.groupby("worker")["code"].agg(set)
    assert all(codes == {worker[3:]} for worker, codes in by_worker.items())


def test_the_audit_trail_names_the_sample_for_every_change(lived):
    store, life = lived
    events = store.audit.events(AuditQuery(principal="sample", limit=1000))
    kinds = {e.action for e in events}
    assert {"report.create", "report.register", "report.dispatch", "report.handle",
            "report.feedback", "report.verify", "report.close", "report.reject",
            "report.escalate", "ticket", "track.create", "user.create"} <= kinds  # fmt: skip
    (created,) = [e for e in events if e.action == "report.create"]
    assert len(created.after["ids"]) == life.reports
    assert created.after["sample_history"]["days"] == DAYS


def test_open_reports_fill_queues_and_inboxes(lived):
    store, life = lived
    chief = Principal("chief", "commander")
    mine = store.queue(chief, QueueQuery(now=NOW, limit=10))
    waiting = (RECEIVED, REGISTERED, FEEDBACK, VERIFIED)
    assert mine.total == sum(life.statuses[status] for status in waiting)
    every = store.queue(chief, QueueQuery(mine=False, now=NOW, limit=100)).items
    warnings = [report.warning(NOW) for report in every]
    assert warnings[0] in ("overdue", "nearly") and "overdue" in warnings
    for department in (u for u in store.accounts.users() if u.role == "department"):
        inbox = store.notifications(department.principal("test"))
        assert "dispatched" in {n["kind"] for n in inbox}
        assert all(n["recipient"] == department.name for n in inbox)


def _digest(store) -> str:
    """A digest of every report row, history row and track, in id order."""
    content = hashlib.sha256()
    with store.db.transaction(write=False) as tx:
        for table, order in (("reports", "id"), ("report_history", "id"),
                             ("patrol_tracks", "id"), ("users", "id")):  # fmt: skip
            rows = store.db.rows(tx, f"SELECT * FROM {table} ORDER BY {order}")
            for row in rows:
                content.update(repr(sorted(row.items())).encode())
    return content.hexdigest()


def test_the_same_inputs_give_the_same_rows(tmp_path):
    manifest = write_tiny_district(tmp_path / "district")
    digests = []
    for n, seed in enumerate((7, 7, 8)):
        store = _store(f"sqlite:///{tmp_path / f'{n}.db'}", manifest)
        load_sample_history(store, NOW, days=10, seed=seed, reports=300, track_days=3)
        digests.append(_digest(store))
        store.close()
    assert digests[0] == digests[1] != digests[2]


def test_a_district_with_other_level_keys(tmp_path):
    manifest = write_tiny_district(tmp_path / "district", RENAMED_MANIFEST)
    store = _store(f"sqlite:///{tmp_path / 'g.db'}", manifest)
    life = load_sample_history(store, NOW, days=20, reports=600, track_days=5)
    found = store.find_reports(ReportQuery(limit=1000)).items
    assert len(found) == 600 and set(found[0].codes) == {"township", "zone"}
    assert life.statuses[CLOSED] > 0 and sum(life.statuses.values()) == 600
    workers = {u.name: u.scope for u in store.accounts.users() if u.role == "grid_worker"}
    assert workers == {f"gw.{c}": (c,) for c in ("101", "102", "103", "104", "201", "202",
                                                  "203", "204")}  # fmt: skip
    assert store.accounts.user("dept.police").scope == ("1", "2")
    assert life.tracks > 0
    store.close()


def test_on_postgis_too(tmp_path, postgis_template):  # noqa: F811
    manifest = write_tiny_district(tmp_path / "district")
    with fresh_postgis(postgis_template) as url:
        store = _store(url, manifest)
        try:
            life = load_sample_history(store, NOW, days=10, reports=300, track_days=3)
            found = store.find_reports(ReportQuery(limit=1000)).items
            assert len(found) == 300 and life.tracks > 0
            assert {r.status for r in found} >= {CLOSED, IN_PROGRESS}
            assert found[0].ticket and found[-1].history[0].action == "received"
        finally:
            store.close()


def test_refused_on_a_store_with_reports_or_without_boundaries(tmp_path):
    manifest = write_tiny_district(tmp_path / "district")
    bare = open_store(f"sqlite:///{tmp_path / 'bare.db'}", clock=fixed_clock(NOW))
    with pytest.raises(SampleRefusedError, match="no boundaries are active"):
        load_sample_history(bare, NOW, days=2)
    store = _store(f"sqlite:///{tmp_path / 'g.db'}", manifest)
    store.add_report(NewReport("fire", 120.005, 28.005), actor="test")
    with pytest.raises(SampleRefusedError, match="holds 1 reports already"):
        load_sample_history(store, NOW, days=2)
    assert store.accounts.users() == []  # nothing written before the refusal
    with pytest.raises(Exception, match="end: needs a time with a time zone"):
        load_sample_history(store, datetime(2026, 12, 6), days=2)


def test_existing_accounts_are_kept_and_a_grid_keeps_its_worker(tmp_path):
    manifest = write_tiny_district(tmp_path / "district")
    store = _store(f"sqlite:///{tmp_path / 'g.db'}", manifest)
    store.accounts.add_user("gw.102", "grid_worker", ["102"], display_name="老王", actor="test")
    store.accounts.add_user("demo.grid_worker", "grid_worker", ["101"], actor="test")
    life = load_sample_history(store, NOW, days=5, reports=300, track_days=2)
    assert store.accounts.user("gw.102").display_name == "老王"
    assert "gw.101" not in {u.name for u in store.accounts.users()}
    assert life.accounts == len(sample_accounts(store.hierarchy())) - 2
    found = store.find_reports(ReportQuery(grid="101", limit=1000)).items
    handled = {r.assignee for r in found if r.assignee and not r.assignee.startswith("dept.")}
    assert handled == {"demo.grid_worker"}
    walkers = {t.worker for t in store.patrol_tracks(NOW - timedelta(days=3), NOW)}
    assert walkers and "gw.101" not in walkers


def test_track_rows_are_the_stores_rows_and_tracks_are_valid(sample_hierarchy):
    codes = sorted(sample_hierarchy.grids("grid")["code"])[:12]
    tracks = sample_tracks(sample_hierarchy, {c: f"gw.{c}" for c in codes}, NOW, 2)
    assert tracks
    for track in tracks:
        check_track(track)
    assert track_rows(tracks[:20]) == [track_row(t) for t in tracks[:20]]
