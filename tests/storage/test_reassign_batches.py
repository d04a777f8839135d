"""Re-assigning stored reports in batches, on both backends: activation and publishing a redraw.

Both walk the open reports a batch at a time (``Store.reassign_batch``, set tiny
here) through the bulk assignment path, in one transaction. The district is the
drafts tests' (level keys "township", "zone", "cell", not the sample's).
"""

from __future__ import annotations

import json

import pytest

from geogrid.clock import fixed_clock
from geogrid.reports import NewReport
from geogrid.storage import open_store
from geogrid.workflow import OPEN_STATUSES
from tests.storage.test_drafts import (
    COMMANDER,
    NOW,
    ROOT,
    SOUTH,
    WEST,
    approved,
    district,
    in_cell,
    redraw_of,
)

#: Points in every cell, one 20 m west of the district (nearest grid) and one far away.
CELLS = ["10101", "10102", "10201", "10202", "20101", "20102", "20201", "20202"]
OUTSIDE = [(WEST - 0.0002, SOUTH + 0.005), (WEST - 1.0, SOUTH)]


@pytest.fixture
def studio(store_url):
    """A store at NOW with the district current (as the drafts tests' ``studio``)."""
    store = open_store(store_url, clock=fixed_clock(NOW))
    store.import_generation(district(), "2026 版", activate=True, actor=ROOT)
    yield store
    store.close()


def stored_reports(store) -> list[int]:
    """Ten reports over the district; every third one closed (closed ids lie between open)."""
    points = [in_cell(code) for code in CELLS] + OUTSIDE
    reports = [NewReport("dispute.neighbour", lon, lat) for lon, lat in points]
    ids = [r.id for r in store.add_reports(reports)]
    for report_id in ids[::3]:
        store.transition(report_id, "closed", actor=COMMANDER, note="重复上报")
    return ids


def recording(store, monkeypatch, method: str) -> list[int]:
    """Sizes of what each call of the dialect's ``method`` returned, as they happen."""
    sizes, real = [], getattr(store.db, method)

    def spy(*args, **kwargs):
        rows = real(*args, **kwargs)
        sizes.append(len(rows))
        return rows

    monkeypatch.setattr(store.db, method, spy)
    return sizes


def reassigned_entries(store, report_id: int) -> list[dict]:
    return [h.data for h in store.get_report(report_id).history if h.action == "reassigned"]


def test_activation_reassigns_every_open_report_batch_by_batch(studio, monkeypatch):
    ids = stored_reports(studio)
    base = studio.active_generation_id()
    new = studio.import_generation(redraw_of(studio).hierarchy, "2027 版")
    before = {i: studio.get_report(i) for i in ids}
    studio.reassign_batch = 2
    batches = recording(studio, monkeypatch, "fetch_open_batch")
    result = studio.activate(new.id, actor=COMMANDER)
    open_ids = [i for i in ids if before[i].status in OPEN_STATUSES]
    assert batches == [2, 2, 2, 0] and result.reassigned == len(open_ids) == 6
    hierarchy = studio.hierarchy(new.id)
    changed = 0
    for report_id in ids:
        old, now = before[report_id], studio.get_report(report_id)
        if report_id not in open_ids:
            assert (now.generation_id, now.codes, now.history) == (base, old.codes, old.history)
            continue
        placed = hierarchy.lookup(old.lon, old.lat)
        assert now.generation_id == new.id and now.assignment == placed["status"]
        assert now.codes == placed["codes"] and now.handler_code == placed["codes"]["cell"]
        assert reassigned_entries(studio, report_id) == [{
            "from_generation": base, "to_generation": new.id, "old": old.codes,
            "new": now.codes}]  # fmt: skip
        changed += old.codes != now.codes
    # Open in township 1: 10102 and 10201 (both to zone 104), the point 20 m west (zone 103).
    assert result.changed == changed == 3


def test_activation_in_batches_answers_as_in_one(studio):
    """The same store activated with batches of one and of all: the same rows and entries."""
    ids = stored_reports(studio)
    first = studio.active_generation_id()
    new = studio.import_generation(redraw_of(studio).hierarchy, "2027 版")
    studio.reassign_batch = 1
    one_by_one = studio.activate(new.id, actor=COMMANDER)
    rows_one, entries_one = snapshot(studio, ids)
    studio.activate(first, actor=COMMANDER)
    studio.reassign_batch = 1000
    all_at_once = studio.activate(new.id, actor=COMMANDER)
    rows_all, entries_all = snapshot(studio, ids)
    assert (one_by_one.reassigned, one_by_one.changed) == (all_at_once.reassigned,
                                                           all_at_once.changed)  # fmt: skip
    assert rows_one == rows_all and entries_one == entries_all


def snapshot(store, ids) -> tuple[list, list]:
    """Each report's placement columns, and its newest "reassigned" entry's data, by id."""
    columns = "id, generation_id, assignment, distance_m, code0, code1, code2, handler_code"
    with store.db.transaction(write=False) as tx:
        rows = store.db.rows(tx, f"SELECT {columns} FROM reports ORDER BY id")
        entries = store.db.rows(tx, "SELECT report_id, actor, data FROM report_history "
                                    "WHERE action = 'reassigned' ORDER BY id")  # fmt: skip
    newest = {}
    for entry in entries:  # the last activation's, one per report
        newest[entry["report_id"]] = json.loads(entry["data"]) if isinstance(
            entry["data"], str) else entry["data"]  # fmt: skip
    assert set(newest) <= set(ids)
    return rows, [newest[i] for i in sorted(newest)]


def test_publishing_places_the_parents_reports_batch_by_batch(studio, monkeypatch):
    ids = stored_reports(studio)
    draft = approved(studio)
    studio.reassign_batch = 1
    batches = recording(studio, monkeypatch, "fetch_open_by_ids")
    published = studio.publish_redraw(draft.id, redraw_of(studio), actor=COMMANDER)
    # Open in township 1: 10102, 10201 and the point 20 m west (nearest 10101); 10101 and
    # 10202 are closed. The far point is outside every region: it is moved, codes kept.
    assert batches == [1, 1, 1]
    assert (published.placed, published.changed, published.moved) == (3, 3, 3)
    codes = {i: studio.get_report(i).codes["cell"] for i in ids}
    assert [codes[i] for i in ids] == ["10101", "10402", "10401", "10202", "20101", "20102",
                                       "20201", "20202", "10301", None]  # fmt: skip
    assert {studio.get_report(i).generation_id for i in ids[1:] if i not in ids[::3]} == {
        published.generation.id
    }
