"""Redraw drafts in the store, on both backends: versions, review, scope, publish, roll back.

The district here has other level keys than the sample's ("township", "zone",
"cell"): two townships side by side, each of two zones of two cells. A draft
redraws the zones of township "1" (its units are the cells).
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, date, datetime, timedelta

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
from shapely.geometry import box

from geogrid import Hierarchy, Level
from geogrid.access import Principal
from geogrid.clock import fixed_clock
from geogrid.errors import InputError, NotFoundError
from geogrid.redraw.apply import apply_draft
from geogrid.reports import NewReport
from geogrid.storage import PermissionDeniedError, TopologyRefusedError, open_store
from geogrid.storage.audit import AuditQuery
from geogrid.storage.drafts import DraftConflictError, DraftStateError
from tests.storage.test_migrations import execute, query

WEST, SOUTH = 120.0, 28.0
#: Monday 2 March 2026, 10:00 in the district (Asia/Shanghai).
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
LEVELS = [Level("township", "乡镇", "", "code"), Level("zone", "片区", "", "code"),
          Level("cell", "单元", "", "code", attributes=("households",))]  # fmt: skip
PLANNER = Principal("zhao.liu", "planner", via="session")
COMMANDER = Principal("li.si", "commander", via="token")
ROOT = "cli:root"
#: Township 1 regrouped into two new grids: cell 10101 alone (it becomes zone 103), and
#: cell 10102 with zone 102's cells (zone 104); zones 101 and 102 are retired.
MOVED = {"10101": "new-1", "10102": "new-2", "10201": "new-2", "10202": "new-2"}


def district() -> Hierarchy:
    """Townships 1 (west) and 2 (east), 0.02° × 0.01°; zones halve them, cells halve zones."""
    towns, zones, cells = [], [], []
    for t in (1, 2):
        x = WEST + 0.02 * (t - 1)
        towns.append({"code": f"{t}", "name": f"镇{t}", "parent": None,
                      "geometry": box(x, SOUTH, x + 0.02, SOUTH + 0.01)})  # fmt: skip
        for z in (1, 2):
            zx, zone = x + 0.01 * (z - 1), f"{t}0{z}"
            zones.append({"code": zone, "name": f"片{zone}", "parent": f"{t}",
                          "geometry": box(zx, SOUTH, zx + 0.01, SOUTH + 0.01)})  # fmt: skip
            for c in (1, 2):
                cx = zx + 0.005 * (c - 1)
                cells.append({"code": f"{zone}0{c}", "name": f"元{zone}0{c}", "parent": zone,
                              "households": 100,
                              "geometry": box(cx, SOUTH, cx + 0.005, SOUTH + 0.01)})  # fmt: skip
    frames = {"township": towns, "zone": zones, "cell": cells}
    return Hierarchy(LEVELS, {k: gpd.GeoDataFrame(v, crs=4326) for k, v in frames.items()})


def in_cell(code: str) -> tuple[float, float]:
    """A point well inside a cell of :func:`district`."""
    t, z, c = int(code[0]), int(code[2]), int(code[4])
    return WEST + 0.02 * (t - 1) + 0.01 * (z - 1) + 0.005 * (c - 1) + 0.002, SOUTH + 0.005


def redraw_of(store, plan=MOVED, parent="1"):
    # Deferred: the redraw package is the apply helper's; only the publish tests need it.
    from geogrid.redraw.apply import apply_plans

    return apply_plans(store.hierarchy(), "zone", {parent: plan})


@pytest.fixture
def studio(store_url):
    """A store at NOW with the district current since a month before (31 January)."""
    now = [NOW - timedelta(days=30)]
    store = open_store(store_url, clock=lambda: now[0])
    store.import_generation(district(), "2026 版", activate=True, actor=ROOT)
    now[0] = NOW
    yield store
    store.close()


#: Wide enough for the plans of these tests: the band's own gate is tested on its own.
ANY_SIZE = (0, 1_000_000)


def approved(store, plan=MOVED, name="v1", band=ANY_SIZE):
    draft = store.drafts.create(name, "zone", "1", band=band, actor=PLANNER)
    moves = [(unit, unit[:3], key, "move") for unit, key in plan.items()]
    store.drafts.save(draft.id, {"assignment": plan}, moves, expected_version=1, actor=PLANNER)
    store.drafts.submit(draft.id, actor=PLANNER)
    return store.drafts.approve(draft.id, actor=COMMANDER)


def events(store, action):
    return store.audit.events(AuditQuery(action=action))


# --- making and reading drafts -------------------------------------------------------------


def test_a_new_draft_starts_from_the_current_grids(studio):
    draft = studio.drafts.create("镇1 v1", "zone", "1", weight="households", band=(150, 250),
                                 numbering="next", actor=PLANNER)  # fmt: skip
    assert draft.assignment == {"10101": "101", "10102": "101", "10201": "102", "10202": "102"}
    assert (draft.status, draft.version, draft.band, draft.numbering) == (
        "draft", 1, (150.0, 250.0), "next")  # fmt: skip
    assert draft.base_generation == studio.active_generation_id()
    assert (draft.created_by, draft.created_at) == ("zhao.liu", NOW)
    assert studio.drafts.get(draft.id) == draft
    assert [d.id for d in studio.drafts.list(level="zone", parent="1")] == [draft.id]
    assert studio.drafts.list(parent="2") == studio.drafts.list(status="approved") == []
    (event,) = events(studio, "draft.create")
    assert (event.principal, event.object_id, event.after["parent"]) == (
        "zhao.liu", str(draft.id), "1")  # fmt: skip


def test_a_draft_keeps_its_survey(studio):
    import pandas as pd

    survey = pd.DataFrame({"households": [120, 80]}, index=["10101", "10102"])
    draft = studio.drafts.create("v1", "zone", "1", survey=survey, actor=PLANNER)
    assert draft.survey_frame()["households"].to_dict() == {"10101": 120, "10102": 80}


@pytest.mark.parametrize("change, message", [
    ({"level": "cell"}, "cell is the finest level"),
    ({"level": "floor"}, "level: 'floor' is not one of township, zone, cell"),
    ({"parent": "9"}, "parent: '9' is not a township"),
    ({"assignment": {"10101": "101"}}, "3 units without a grid"),
    ({"assignment": {**MOVED, "20101": "201"}}, "1 not units of this parent"),
    ({"band": (500, 300)}, "band: (min, max)"),
    ({"numbering": "random"}, "numbering: 'random' is not one of"),
    ({"name": " "}, "name: give the draft a name"),
])  # fmt: skip
def test_bad_drafts_are_refused_and_nothing_is_stored(studio, change, message):
    values = {"name": "v1", "level": "zone", "parent": "1", **change}
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        studio.drafts.create(**values, actor=PLANNER)
    assert studio.drafts.list() == [] and events(studio, "draft.") == []


def test_branch_starts_from_the_draft_with_its_own_versions(studio):
    first = studio.drafts.create("v1", "zone", "1", actor=PLANNER)
    state = {"assignment": MOVED, "locked": ["new-2"], "history": [{"m": 1}]}
    studio.drafts.save(first.id, state, expected_version=1, actor=PLANNER)
    second = studio.drafts.branch(first.id, "v2", actor=PLANNER)
    assert (second.branched_from, second.version, second.assignment) == (first.id, 1, MOVED)
    assert second.locked == ("new-2",) and second.history == []
    assert [e.after["branched_from"] for e in events(studio, "draft.create")] == [first.id, None]


# --- editing: versions, the moves log -----------------------------------------------------


def test_a_save_moves_the_version_on_and_logs_each_unit_moved(studio):
    draft = studio.drafts.create("v1", "zone", "1", actor=PLANNER)
    state = {"assignment": MOVED, "exclusive": ["102"], "names": {"102": "东片"},
             "history": [{"units": ["10102"], "after": "102"}], "cursor": 1,
             "band": [100, 300], "weight": "count"}  # fmt: skip
    version = studio.drafts.save(draft.id, state, [("10102", "101", "102", "move")],
                                 expected_version=1, actor=PLANNER)  # fmt: skip
    saved = studio.drafts.get(draft.id)
    assert version == saved.version == 2
    assert saved.state() == {**state, "locked": [], "band": [100.0, 300.0]}
    (move,) = studio.drafts.moves(draft.id)
    assert (move.unit_code, move.from_grid, move.to_grid, move.operation) == (
        "10102", "101", "102", "move")  # fmt: skip
    assert (move.principal, move.version, move.at) == ("zhao.liu", 2, NOW)
    (event,) = events(studio, "draft.edit")
    assert (event.before, event.after["version"], event.after["moves"]) == ({"version": 1}, 2, 1)


def test_a_plans_state_survives_a_save_with_its_undo(studio):
    # Deferred: the plan is the core helper's; only this test needs it.
    from geogrid.redraw.plan import Plan
    from geogrid.redraw.units import units_of

    draft = studio.drafts.create("v1", "zone", "1", actor=PLANNER)
    units = units_of(studio.hierarchy(), "zone", "1")
    plan = Plan.from_state(units, draft.state())
    move = plan.move(["10102"], "102")
    studio.drafts.save(draft.id, plan.to_state(), [move], expected_version=1, actor=PLANNER)
    again = Plan.from_state(units, studio.drafts.get(draft.id).state())
    assert again.assignment == plan.assignment and again.assignment["10102"] == "102"
    assert again.undo() is not None and again.assignment["10102"] == "101"
    logged = [(m.unit_code, m.from_grid, m.to_grid) for m in studio.drafts.moves(draft.id)]
    assert logged == [("10102", "101", "102")]


def test_two_saves_of_the_same_version_the_second_is_refused_whole(studio):
    draft = studio.drafts.create("v1", "zone", "1", actor=PLANNER)
    studio.drafts.save(draft.id, {"assignment": MOVED}, [("10102", "101", "102", "move")],
                       expected_version=1, actor=PLANNER)  # fmt: skip
    other = {**MOVED, "10201": "new-1"}
    with pytest.raises(DraftConflictError, match=r"version 2 now, you had version 1"):
        studio.drafts.save(draft.id, {"assignment": other}, [("10201", "102", "101", "move")],
                           expected_version=1, actor=Principal("a.b", "planner"))  # fmt: skip
    assert studio.drafts.get(draft.id).assignment == MOVED
    assert [m.unit_code for m in studio.drafts.moves(draft.id)] == ["10102"]
    assert len(events(studio, "draft.edit")) == 1


def test_saves_racing_on_one_version_one_wins(store_url, studio):
    draft = studio.drafts.create("v1", "zone", "1", actor=PLANNER)
    stores = [open_store(store_url, clock=fixed_clock(NOW)) for _ in range(4)]
    start, outcomes = threading.Barrier(len(stores)), []

    def save(store, number):
        start.wait()
        try:
            plan = {**MOVED, "10202": f"new-{number}"}
            store.drafts.save(draft.id, {"assignment": plan}, [("10202", "102", "n", "move")],
                              expected_version=1, actor=PLANNER)  # fmt: skip
            outcomes.append("saved")
        except DraftConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=save, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert sorted(outcomes) == ["conflict"] * 3 + ["saved"]
    assert studio.drafts.get(draft.id).version == 2
    assert len(studio.drafts.moves(draft.id)) == 1


@pytest.mark.parametrize("state, message", [
    ({"colour": "red"}, "state: unknown colour"),
    ({"assignment": {"10101": "101"}}, "units without a grid"),
    ({"cursor": 3}, "cursor: a position 0 to 0"),
    ({"locked": "101"}, "locked: a list of grid keys"),
])  # fmt: skip
def test_a_bad_save_changes_nothing(studio, state, message):
    draft = studio.drafts.create("v1", "zone", "1", actor=PLANNER)
    with pytest.raises(InputError, match=message):
        studio.drafts.save(draft.id, state, [("10102", "101", "102", "move")],
                           expected_version=1, actor=PLANNER)  # fmt: skip
    assert studio.drafts.get(draft.id) == draft and studio.drafts.moves(draft.id) == []


def test_the_moves_log_is_append_only(store_url, studio):
    draft = studio.drafts.create("v1", "zone", "1", actor=PLANNER)
    studio.drafts.save(draft.id, {}, [("10102", "101", "102", "move")], expected_version=1,
                       actor=PLANNER)  # fmt: skip
    for statement in ("UPDATE redraw_moves SET principal = 'someone else'",
                      "DELETE FROM redraw_moves"):  # fmt: skip
        with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"):
            execute(store_url, statement)
    assert query(store_url, "SELECT principal FROM redraw_moves") == [("zhao.liu",)]


# --- review: states, roles, scope ----------------------------------------------------------


def test_submit_approve_withdraw(studio):
    draft = studio.drafts.create("v1", "zone", "1", actor=PLANNER)
    submitted = studio.drafts.submit(draft.id, actor=PLANNER, expected_version=1)
    assert (submitted.status, submitted.submitted_by, submitted.version) == (
        "submitted", "zhao.liu", 2)  # fmt: skip
    with pytest.raises(DraftStateError, match="is submitted: withdraw it to edit it again"):
        studio.drafts.save(draft.id, {}, expected_version=2, actor=PLANNER)
    with pytest.raises(PermissionDeniedError, match=r"zhao.liu \(planner\) may not draft.approve"):
        studio.drafts.approve(draft.id, actor=PLANNER)
    approved_ = studio.drafts.approve(draft.id, actor=COMMANDER)
    assert (approved_.status, approved_.approved_by) == ("approved", "li.si")
    with pytest.raises(DraftStateError, match="only a submitted draft can be approved"):
        studio.drafts.approve(draft.id, actor=COMMANDER)
    back = studio.drafts.withdraw(draft.id, actor=COMMANDER)  # sent back
    assert (back.status, back.approved_by, back.version) == ("draft", None, 4)
    with pytest.raises(DraftStateError, match="only a submitted or approved draft"):
        studio.drafts.withdraw(draft.id, actor=PLANNER)
    assert [e.action for e in events(studio, "draft.")][::-1] == [
        "draft.create", "draft.submit", "draft.approve", "draft.withdraw"]  # fmt: skip


def test_roles_and_scopes(studio):
    draft = studio.drafts.create("v1", "zone", "1", actor=PLANNER)
    viewer = Principal("wang.wu", "viewer", via="session")
    assert studio.drafts.get(draft.id, actor=viewer).id == draft.id
    with pytest.raises(PermissionDeniedError, match=r"may not draft\.edit"):
        studio.drafts.save(draft.id, {}, expected_version=1, actor=viewer)
    worker = Principal("zhang.san", "grid_worker", via="token")
    with pytest.raises(PermissionDeniedError, match=r"may not draft\.read"):
        studio.drafts.list(actor=worker)
    for scope in (("2",), ("102",)):  # another township; a zone inside, not the parent
        outside = Principal("x.y", "planner", scope=scope, via="token")
        with pytest.raises(NotFoundError, match=f"draft {draft.id} does not exist"):
            studio.drafts.get(draft.id, actor=outside)
        with pytest.raises(NotFoundError, match="grid 1 does not exist"):
            studio.drafts.create("mine", "zone", "1", actor=outside)
        assert studio.drafts.list(actor=outside) == []
    inside = Principal("x.z", "planner", scope=("1",), via="token")
    assert [d.id for d in studio.drafts.list(actor=inside)] == [draft.id]
    with pytest.raises(NotFoundError, match="draft 99 does not exist"):
        studio.drafts.get(99)


# --- generations' dates --------------------------------------------------------------------


def test_generations_carry_the_days_they_were_current(store_url):
    days = iter([NOW, NOW + timedelta(days=30), NOW + timedelta(days=45)])
    store = open_store(store_url, clock=lambda: current[0])
    current = [next(days)]
    first = store.import_generation(district(), "一", activate=True)
    second = store.import_generation(district(), "二")
    assert (first.starts_on, first.ends_on, second.starts_on) == (date(2026, 3, 2), None, None)
    current[0] = next(days)
    store.activate(second.id)
    current[0] = next(days)
    store.activate(first.id)  # back again: its first start is kept
    one, two = store.generations()
    assert (one.starts_on, one.ends_on) == (date(2026, 3, 2), None)
    assert (two.starts_on, two.ends_on) == (date(2026, 4, 1), date(2026, 4, 16))
    store.close()


# --- publishing ----------------------------------------------------------------------------


def report_at(code: str, **extra) -> NewReport:
    lon, lat = in_cell(code)
    return NewReport("dispute.neighbour", lon, lat, **extra)


def test_publish_makes_the_redraw_current_and_moves_the_open_reports(studio):
    ids = [r.id for r in studio.add_reports([report_at("10101"), report_at("20101"),
                                             report_at("10102")])]  # fmt: skip
    studio.transition(ids[2], "closed", actor=COMMANDER, note="重复上报")
    base = studio.active_generation()
    draft = approved(studio)
    published = studio.publish_redraw(draft.id, redraw_of(studio), actor=COMMANDER,
                                      starts_on=date(2026, 3, 1))  # fmt: skip
    new = studio.active_generation()
    assert published.generation.id == new.id != base.id and published.previous == base.id
    assert (new.starts_on, new.ends_on) == (date(2026, 3, 1), None)
    assert studio.generation(base.id).ends_on == date(2026, 3, 1)
    inside, elsewhere, closed = (studio.get_report(i) for i in ids)
    assert inside.codes == {"township": "1", "zone": "103", "cell": "10301"}
    assert inside.generation_id == new.id and inside.handler_code == "10301"
    assert inside.history[-1].action == "reassigned"
    assert inside.history[-1].data["draft"] == draft.id
    assert inside.history[-1].data["old"]["zone"] == "101"
    assert elsewhere.codes == {"township": "2", "zone": "201", "cell": "20101"}
    assert elsewhere.generation_id == new.id and len(elsewhere.history) == 1  # no entry
    assert closed.generation_id == base.id and closed.codes["zone"] == "101"
    assert (published.placed, published.changed, published.moved) == (1, 1, 1)
    assert inside.codes["cell"] == "10301" and studio.get_report(ids[1]).codes["cell"] == "20101"
    done = published.draft
    assert (done.status, done.published_generation, done.published_by) == (
        "published", new.id, "li.si")  # fmt: skip
    moves = [(m.unit_code, m.from_grid, m.to_grid, m.operation, m.version)
             for m in studio.drafts.moves(draft.id)]  # fmt: skip
    assert moves[:4] == [(u, u[:3], key, "move", 2) for u, key in MOVED.items()]
    assert moves[4:] == [("10101", "101", "103", "publish", 5),
                         ("10102", "101", "104", "publish", 5),
                         ("10201", "102", "104", "publish", 5),
                         ("10202", "102", "104", "publish", 5)]  # fmt: skip
    (event,) = events(studio, "draft.publish")
    assert event.principal == "li.si" and event.after["generation"] == new.id
    assert event.after["codes"]["zone"] == {"created": 2, "kept": 2, "retired": 2}
    assert events(studio, "generation.import")[0].after["draft"] == draft.id
    (activated, _) = events(studio, "generation.activate")  # newest first
    assert activated.after == {"active": new.id, "reassigned": 2, "changed": 1,
                               "draft": draft.id}  # fmt: skip


def test_a_grid_that_keeps_most_of_its_units_keeps_its_code(studio):
    """Whether a reshaped grid keeps its code is apply's rule; publishing follows the crosswalk."""
    cells = ("10101", "10102", "10201")
    stored = studio.add_reports([report_at(cell) for cell in cells])
    plan = {"10101": "101", "10102": "102", "10201": "102", "10202": "102"}
    draft = approved(studio, plan)
    redraw = redraw_of(studio, plan)
    studio.publish_redraw(draft.id, redraw, actor=COMMANDER)
    new_code = dict(zip(redraw.codes["old_code"], redraw.codes["new_code"], strict=True))
    assert "reshaped" in set(redraw.codes["change"])
    for result, cell in zip(stored, cells, strict=True):
        found = studio.get_report(result.id)
        assert found.codes["cell"] == new_code.get(cell, cell)
        assert found.generation_id == studio.active_generation_id()
        assert found.codes["zone"] == redraw.code_of("1", plan[cell])
        assert len(found.history) == (1 if found.codes["cell"] == cell else 2)


def test_rollback_is_activating_the_previous_generation(studio):
    (report_id,) = [r.id for r in studio.add_reports([report_at("10101")])]
    base = studio.active_generation_id()
    new = studio.publish_redraw(approved(studio).id, redraw_of(studio), actor=COMMANDER)
    assert studio.get_report(report_id).codes["zone"] == "103"
    studio.activate(base, actor=COMMANDER)
    assert studio.get_report(report_id).codes["zone"] == "101"
    assert studio.generation(new.generation.id).ends_on == date(2026, 3, 2)
    assert studio.generation(base).ends_on is None


def test_publishing_on_a_stale_base_is_refused(studio):
    first, second = approved(studio, name="v1"), approved(studio, name="v2")
    base, redraw = first.base_generation, redraw_of(studio)
    new = studio.publish_redraw(first.id, redraw, actor=COMMANDER)
    before = snapshot(studio)
    with pytest.raises(DraftStateError, match=(
            rf"drawn on generation {base}, but generation {new.generation.id} is current now: "
            "someone published first")):  # fmt: skip
        studio.publish_redraw(second.id, redraw, actor=COMMANDER)
    assert snapshot(studio) == before


def snapshot(store) -> tuple:
    reports = store.find_reports()
    return (
        [(g.id, g.active, g.starts_on, g.ends_on) for g in store.generations()],
        [(r.id, r.generation_id, tuple(r.codes.items()), len(r.history)) for r in reports.items],
        [(d.id, d.status, d.version) for d in store.drafts.list()],
        [len(store.drafts.moves(d.id)) for d in store.drafts.list()],
        len(store.audit.events()),
    )


def test_a_failure_half_way_through_publishing_changes_nothing(studio, monkeypatch):
    studio.add_reports([report_at("10101"), report_at("20202")])
    draft = approved(studio)
    redraw = redraw_of(studio)
    before = snapshot(studio)

    def disk_full(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(studio.drafts, "_published", disk_full)
    with pytest.raises(RuntimeError, match="disk is full"):
        studio.publish_redraw(draft.id, redraw, actor=COMMANDER)
    assert snapshot(studio) == before
    assert studio.active_generation().label == "2026 版"
    monkeypatch.undo()
    assert studio.publish_redraw(draft.id, redraw, actor=COMMANDER).changed == 1


def test_reports_that_arrive_while_publishing_follow_the_redraw(studio, monkeypatch):
    import geogrid.storage.store as store_module

    draft = approved(studio)
    placed_early = store_module._placements_by_point

    def meanwhile(hierarchy, rows):
        known = placed_early(hierarchy, rows)
        studio.add_reports([report_at("10102", external_id="early")])  # after the first read
        return known

    monkeypatch.setattr(store_module, "_placements_by_point", meanwhile)
    new = studio.publish_redraw(draft.id, redraw_of(studio), actor=COMMANDER)
    (early,) = studio.find_reports().items
    assert early.generation_id == new.generation.id and early.codes["cell"] == "10402"


# SQLite has one writer at a time: there, intake waits for the whole publication.
@pytest.mark.parametrize("store_url", ["postgis"], indirect=True)
def test_intake_goes_on_while_publishing_until_the_generation_lock(store_url, studio,
                                                                    monkeypatch):  # fmt: skip
    """PostgreSQL: a report stored while the new grids are written and reports moved (before
    the generation lock) is taken in, and placed under the lock."""
    draft = approved(studio)
    intake = open_store(store_url, clock=fixed_clock(NOW))
    take_lock, stored = studio.db.lock_generation, []

    def after_intake(tx):
        worker = threading.Thread(target=lambda: stored.extend(intake.add_reports(
            [report_at("10101", external_id="during"), report_at("20202")])))  # fmt: skip
        worker.start()
        worker.join(timeout=30)
        assert len(stored) == 2  # not held up by the publication so far
        take_lock(tx)

    monkeypatch.setattr(studio.db, "lock_generation", after_intake)
    new = studio.publish_redraw(draft.id, redraw_of(studio), actor=COMMANDER)
    intake.close()
    inside, elsewhere = (studio.get_report(r.id) for r in stored)
    assert inside.generation_id == elsewhere.generation_id == new.generation.id
    assert (inside.codes["cell"], elsewhere.codes["cell"]) == ("10301", "20202")
    assert (new.placed, new.changed, new.moved) == (2, 1, 0)


def test_what_cannot_be_published(studio):
    draft = studio.drafts.create("v1", "zone", "1", actor=PLANNER)
    redraw = redraw_of(studio)
    with pytest.raises(DraftStateError, match="is draft: only an approved draft"):
        studio.publish_redraw(draft.id, redraw, actor=COMMANDER)
    draft = approved(studio, name="v2")
    with pytest.raises(PermissionDeniedError, match=r"may not draft\.publish"):
        studio.publish_redraw(draft.id, redraw, actor=PLANNER)
    with pytest.raises(InputError, match="do not group the units of draft"):
        studio.publish_redraw(draft.id, redraw_of(studio, dict.fromkeys(MOVED, "x")),
                              actor=COMMANDER)  # fmt: skip
    other = {"20101": "201", "20102": "202", "20201": "202", "20202": "202"}
    with pytest.raises(InputError, match="changes zone grids outside parent 1"):
        studio.publish_redraw(draft.id, redraw_of(studio, other, parent="2"), actor=COMMANDER)
    with pytest.raises(InputError, match="starts_on: 2026-03-03 is after today"):
        studio.publish_redraw(draft.id, redraw, actor=COMMANDER, starts_on=date(2026, 3, 3))
    with pytest.raises(InputError, match="before the current generation started"):
        studio.publish_redraw(draft.id, redraw, actor=COMMANDER, starts_on=date(2026, 1, 1))
    assert studio.drafts.get(draft.id).status == "approved"
    assert len(studio.generations()) == 1


def test_a_redraw_with_topology_errors_is_refused(studio, monkeypatch):
    draft = approved(studio)
    redraw = redraw_of(studio)
    cells = redraw.hierarchy.grids("cell")
    cells.loc[0, "geometry"] = cells.geometry[0].buffer(0.001)
    frames = {key: redraw.hierarchy.grids(key) for key in redraw.hierarchy.levels}
    broken = Hierarchy(LEVELS, {**frames, "cell": cells})
    with pytest.raises(TopologyRefusedError):
        studio.publish_redraw(draft.id, type(redraw)(broken, redraw.codes, redraw.changes),
                              actor=COMMANDER)  # fmt: skip
    assert len(studio.generations()) == 1


# SQLite has one writer at a time: there, intake cannot slip between the reads and the UPDATE.
@pytest.mark.parametrize("store_url", ["postgis"], indirect=True)
def test_a_report_taken_in_inside_the_parent_while_publishing_is_placed(store_url, studio):
    """A report stored in the parent after its reports were read, before the others are
    moved, must be placed again, not moved with codes the redraw retired."""
    draft = approved(studio)
    intake = open_store(store_url, clock=fixed_clock(NOW))
    move, stored = studio.db.move_open_to_generation, []

    def intake_first(tx, *args):
        worker = threading.Thread(target=lambda: stored.extend(
            intake.add_reports([report_at("10101", external_id="race")])))  # fmt: skip
        worker.start()
        worker.join(timeout=30)
        return move(tx, *args)

    studio.db.move_open_to_generation = intake_first
    try:
        new = studio.publish_redraw(draft.id, redraw_of(studio), actor=COMMANDER)
    finally:
        intake.close()
    assert len(stored) == 1
    report = studio.get_report(stored[0].id)
    cells = set(studio.hierarchy(new.generation.id).grids("cell")["code"])
    assert report.generation_id == new.generation.id and report.codes["cell"] in cells


def test_a_draft_out_of_its_band_is_never_published(studio):
    draft = approved(studio, band=(300, 500))  # its grids hold 100–300 households
    with pytest.raises(InputError, match=r"cannot be published: .*below 300–500"):
        studio.publish_redraw(draft.id, redraw_of(studio), actor=COMMANDER)
    assert studio.active_generation().id == draft.base_generation
    assert studio.drafts.get(draft.id).status == "approved"


def test_a_draft_from_a_survey_with_a_new_column_is_published(studio):
    """The survey counts buildings, which the district's files never had: units outside
    the parent have no figure (null), which PostgreSQL's JSON must take too."""
    survey = pd.DataFrame({"households": [90.0, 110.0, 100.0, 100.0], "buildings": 3.0},
                          index=list(MOVED))  # fmt: skip
    draft = studio.drafts.create("普查", "zone", "1", survey=survey, band=ANY_SIZE,
                                 actor=PLANNER)  # fmt: skip
    moves = [(unit, unit[:3], key, "move") for unit, key in MOVED.items()]
    studio.drafts.save(draft.id, {"assignment": MOVED}, moves, expected_version=1, actor=PLANNER)
    studio.drafts.submit(draft.id, actor=PLANNER)
    record = studio.drafts.approve(draft.id, actor=COMMANDER)
    redraw = apply_draft(studio.hierarchy(record.base_generation), record)
    new = studio.publish_redraw(draft.id, redraw, actor=COMMANDER)
    cells = studio.grids("cell", new.generation.id).set_index("code")
    moved = [redraw.codes.set_index("old_code").loc[unit, "new_code"] for unit in MOVED]
    assert cells.loc[moved, "buildings"].tolist() == [3.0] * 4
    assert cells.loc[moved, "households"].tolist() == [90.0, 110.0, 100.0, 100.0]
    assert cells.loc[~cells.index.isin(moved), "buildings"].isna().all()
