"""Plan: edits, locks, undo/redo, repairs and state, on the ward district and the sample."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import LineString

from geogrid.errors import InputError
from geogrid.redraw.plan import Move, Plan
from geogrid.redraw.units import Units, units_of
from tests.redraw.conftest import to_lonlat

B1, B2, B3, B4 = (f"D1-W1-B{i}" for i in range(1, 5))


def p(block: str, number: int | str) -> str:
    return f"{block}-P{number}"


@pytest.fixture(scope="module")
def parcels(ward_hierarchy) -> Units:
    return units_of(ward_hierarchy, "block", "D1-W1")


@pytest.fixture
def plan(parcels) -> Plan:
    return Plan(parcels)


def weight_of(plan: Plan, grid: str) -> float:
    return plan.metrics([grid])["grids"][grid]["weight"]


def pieces_of(plan: Plan, grid: str) -> int:
    return plan.metrics([grid])["grids"][grid]["pieces"]


def test_a_plan_starts_from_the_current_grids(plan, parcels):
    assert plan.grids == [B1, B2, B3, B4]
    assert plan.assignment == dict(zip(parcels.codes, parcels.current, strict=True))
    assert plan.labels.tolist() == parcels.current.tolist()
    assert plan.names[B1] == B1
    assert plan.units_of_grid(B4) == [p(B4, 1), p(B4, 2)]


def test_assignment_is_a_copy(plan):
    plan.assignment[p(B1, 1)] = B4
    assert plan.assignment[p(B1, 1)] == B1


def test_move_paints_units_into_a_grid(plan):
    move = plan.move([p(B1, 2), p(B4, 1)], B4)
    assert move == Move((p(B1, 2),), (B1,), B4, "move")  # B4-P1 was there already
    assert plan.assignment[p(B1, 2)] == B4
    assert weight_of(plan, B4) == 220
    assert plan.touched(move) == [B1, B4]


def test_move_refuses_unknown_units_and_grids(plan):
    with pytest.raises(InputError, match="units: 'D1-W1-B1-P99' is not a parcel"):
        plan.move([p(B1, 99)], B1)
    with pytest.raises(InputError, match="units: parcel D1-W2-B1-P1 lies outside parent D1-W1"):
        plan.move(["D1-W2-B1-P1"], B1)
    with pytest.raises(InputError, match="grid: 'D1-W1-B9' is not a grid of this plan"):
        plan.move([p(B1, 1)], "D1-W1-B9")


def test_a_locked_grid_neither_gives_nor_takes(plan):
    plan.lock(B4)
    with pytest.raises(InputError, match=f"grid: {B4} is locked"):
        plan.move([p(B1, 2)], B4)
    with pytest.raises(InputError, match=f"grid: {B4} is locked"):
        plan.move([p(B4, 1)], B1)
    with pytest.raises(InputError, match=f"grid: {B4} is locked"):
        plan.merge([B3, B4])
    with pytest.raises(InputError, match=f"grid: {B4} is locked"):
        plan.split(B4)
    with pytest.raises(InputError, match=f"grid: {B4} is locked"):
        plan.new_grid([p(B4, 1)])
    assert plan.grids == [B1, B2, B3, B4] and plan.history == []
    plan.unlock(B4)
    plan.move([p(B4, 1)], B1)
    assert plan.assignment[p(B4, 1)] == B1


def test_new_grid_takes_the_next_new_key(plan):
    assert plan.new_grid([p(B1, 1)], name="一号") == "new-1"
    assert plan.new_grid() == "new-2"
    assert plan.grids == [B1, B2, B3, B4, "new-1", "new-2"]
    assert plan.names["new-1"] == "一号"
    assert plan.units_of_grid("new-2") == []


def test_merge_folds_grids_into_the_first(plan):
    assert plan.merge([B4, B3]) == B4
    assert plan.grids == [B1, B2, B4]
    assert weight_of(plan, B4) == 650
    with pytest.raises(InputError, match="grids: merge needs two or more different grids"):
        plan.merge([B1, B1])
    with pytest.raises(InputError, match="grids: 'D1-W1-B3' is not a grid of this plan"):
        plan.merge([B1, B3])


def test_undo_and_redo_walk_the_steps(plan, parcels):
    start = plan.assignment
    assert plan.undo() is None
    plan.move([p(B1, 2)], B4)
    plan.merge([B2, B3])
    merged = plan.assignment
    undone = plan.undo()
    assert undone.op == "undo" and set(undone.before) == {B2}
    assert plan.grids == [B1, B2, B3, B4]
    assert plan.undo().after == B1
    assert plan.assignment == start
    assert plan.redo().after == B4
    assert plan.redo().op == "redo"
    assert plan.assignment == merged and plan.grids == [B1, B2, B4]
    assert plan.redo() is None


def test_a_new_edit_drops_the_redo_steps(plan):
    plan.move([p(B1, 2)], B4)
    plan.undo()
    plan.move([p(B1, 1)], B4)
    assert plan.redo() is None
    assert len(plan.history) == 1 and plan.cursor == 1


def test_undo_removes_a_new_grid_and_redo_brings_it_back(plan):
    key = plan.new_grid([p(B1, 1)])
    plan.undo()
    assert key not in plan.grids and plan.assignment[p(B1, 1)] == B1
    plan.redo()
    assert plan.units_of_grid(key) == [p(B1, 1)]


def test_undo_respects_locks(plan):
    plan.move([p(B1, 2)], B4)
    plan.lock(B4)
    with pytest.raises(InputError, match=f"grid: {B4} is locked"):
        plan.undo()


def test_split_makes_balanced_contiguous_parts(plan):
    keys = plan.split(B3, 2)
    assert keys == [B3, "new-1"]
    weights = [weight_of(plan, key) for key in keys]
    assert sum(weights) == 490 and abs(weights[0] - weights[1]) <= 50
    assert [pieces_of(plan, key) for key in keys] == [1, 1]
    assert plan.undo().op == "undo" and plan.grids == [B1, B2, B3, B4]


def test_split_into_three_is_as_even_as_the_units_allow(plan):
    keys = plan.split(B1, 3, seed=1)
    assert len(keys) == 3
    assert sorted(weight_of(plan, key) for key in keys) == [120, 180, 180]
    assert all(pieces_of(plan, key) == 1 for key in keys)


def test_split_is_deterministic_for_a_seed(parcels):
    first, second = Plan(parcels), Plan(parcels)
    first.split(B3, 2, seed=7)
    second.split(B3, 2, seed=7)
    assert first.assignment == second.assignment


def test_split_refuses_a_bad_k(plan):
    with pytest.raises(InputError, match="k: must be a whole number from 2 to 2"):
        plan.split(B4, 3)


def test_split_by_line_puts_units_right_of_the_line_in_a_new_grid(plan):
    # Drawn eastwards along y = 200 and only 20 m long: extended across the grid.
    line = to_lonlat(LineString([(90, 200), (110, 200)]))
    assert plan.split_by_line(B1, line) == [B1, "new-1"]
    assert plan.units_of_grid("new-1") == [p(B1, i) for i in (1, 2, 3, 4)]
    assert plan.units_of_grid(B1) == [p(B1, i) for i in (5, 6, 7, 8)]


def test_split_by_a_bent_line_follows_its_nearest_segment(plan):
    # North along x = 100 up to y = 200, then east: P1, P3 left (west) of it stay.
    line = to_lonlat(LineString([(100, -50), (100, 200), (250, 200)]))
    plan.split_by_line(B1, list(line.coords))
    assert plan.units_of_grid(B1) == [p(B1, i) for i in (1, 3, 5, 6, 7, 8)]


def test_split_by_line_refuses_a_line_that_misses(plan):
    with pytest.raises(InputError, match=f"line: the line does not cut grid {B1} in two"):
        plan.split_by_line(B1, to_lonlat(LineString([(700, 0), (700, 400)])))
    with pytest.raises(InputError, match="line: needs at least two different points"):
        plan.split_by_line(B1, [(117.0, 39.9), (117.0, 39.9)])
    with pytest.raises(InputError, match="line: every point must be a lon/lat"):
        plan.split_by_line(B1, [(500_000.0, 4_400_000.0), (500_100.0, 4_400_000.0)])


def test_fix_contiguity_gives_a_stray_piece_to_its_longest_neighbour(plan):
    plan.move([p(B1, 1)], B4)  # B4 is now in two pieces
    before = plan.assignment
    moves = plan.fix_contiguity()
    assert [(m.units, m.before, m.after, m.op) for m in moves] == [
        ((p(B1, 1),), (B4,), B1, "fix_contiguity")
    ]
    changed = {code for code, grid in plan.assignment.items() if before[code] != grid}
    assert changed == {p(B1, 1)}
    assert plan.metrics()["summary"]["non_contiguous"] == 0
    plan.undo()
    assert plan.assignment == before


def test_fix_contiguity_keeps_the_heaviest_piece(plan):
    plan.move([p(B4, 1), p(B4, 2)], B1)  # B1 keeps its 8 units, the B4 pair is the stray
    plan.fix_contiguity()
    assert len(plan.units_of_grid(B1)) == 8
    # The pair shares 200 m with B3 (B3-P4, B3-P7) and 100 m with B2 (B2-P1); B4 is empty.
    assert plan.assignment[p(B4, 1)] == plan.assignment[p(B4, 2)] == B3


def test_fix_contiguity_respects_locks(plan):
    plan.move([p(B1, 1)], B4)
    plan.lock(B1)  # the piece's only neighbour is locked: it stays
    assert plan.fix_contiguity() == []
    plan.unlock(B1)
    plan.lock(B4)  # a locked offending grid is left alone
    assert plan.fix_contiguity() == []


def test_fix_balance_moves_boundary_units_into_band(plan):
    assert plan.metrics()["summary"]["in_band"] == 3
    moves = plan.fix_balance()
    summary = plan.metrics()["summary"]
    assert moves and all(m.op == "fix_balance" and len(m.units) == 1 for m in moves)
    assert summary["in_band"] == 4 and summary["non_contiguous"] == 0
    # The island's bridge unit was never taken from B3: that would cut B3 in two.
    assert plan.assignment[p(B3, 7)] == B3
    assert plan.gate() == []


def test_fix_balance_leaves_locked_and_exclusive_grids(plan):
    plan.set_exclusive(B3)
    plan.lock(B2)
    assert plan.fix_balance() == []
    assert weight_of(plan, B4) == 160


def test_state_round_trips_through_json(plan, parcels):
    plan.move([p(B1, 2)], B4)
    plan.new_grid([p(B1, 1)], name="一号")
    plan.new_grid()
    plan.lock(B2)
    plan.set_exclusive(B3)
    plan.undo()
    state = json.loads(json.dumps(plan.to_state(), ensure_ascii=False))
    again = Plan.from_state(parcels, state)
    assert again.assignment == plan.assignment
    assert again.grids == plan.grids == [B1, B2, B3, B4, "new-1"]
    assert (again.locked, again.exclusive) == ({B2}, {B3})
    assert again.names["new-1"] == "一号" and again.cursor == 2
    assert again.history == plan.history
    again.redo()
    assert "new-2" in again.grids
    assert again.new_grid() == "new-3"


def test_from_state_refuses_units_it_does_not_know(parcels):
    with pytest.raises(InputError, match="history: 'D1-W1-B1-P99' is not a parcel"):
        Plan.from_state(parcels, {"assignment": {}, "history": [[{
            "units": [p(B1, 99)], "before": [B1], "after": B2, "op": "move"}]]})  # fmt: skip


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"weight": "voters"}, "weight: 'voters' is not a weight; weights are count"),
        ({"band": (500, 300)}, "band: min 500 is greater than max 300"),
        ({"band": (1,)}, "band: expected"),
        ({"assignment": {"D1-W1-B1-P99": B1}}, "assignment: 'D1-W1-B1-P99' is not a parcel"),
        (
            {"assignment": {"D1-W2-B1-P1": B1}},
            "assignment: parcel D1-W2-B1-P1 lies outside parent D1-W1",
        ),
        ({"locked": ["D1-W1-B9"]}, "locked: 'D1-W1-B9' is not a grid of this plan"),
        ({"exclusive": "D1-W1-B9"}, "exclusive: 'D1-W1-B9' is not a grid of this plan"),
    ],
)
def test_bad_plan_options_name_their_field(parcels, options, message):
    assignment = options.pop("assignment", None)
    with pytest.raises(InputError, match=message):
        Plan(parcels, assignment, **options)


def test_a_partial_assignment_leaves_units_in_no_grid(parcels):
    plan = Plan(parcels, {code: B1 for code in parcels.codes[:5]})
    assert plan.grids == [B1]
    assert plan.labels.tolist().count("") == len(parcels) - 5
    assert plan.metrics()["summary"]["unassigned"] == len(parcels) - 5


def test_touched_includes_grids_sharing_a_compound(plan):
    move = plan.move([p(B2, 3)], B1)  # compound X1 has a unit in B3
    assert plan.touched(move) == [B1, B2, B3]


def test_weight_and_band_are_the_plans_choice(parcels):
    plan = Plan(parcels, weight="population", band=(900, 1400))
    assert plan.metrics([B1])["grids"][B1]["band"] == "over"
    assert plan.metrics([B1])["grids"][B1]["weight"] == 1440


def test_the_sample_community_plan(sample):
    plan = Plan(units_of(sample, "grid", "330399001001"), band=(350, 450))
    assert len(plan.grids) == 9 and plan.gate() != []
    plan.fix_balance()
    assert plan.gate() == []
    keys = plan.split("330399001001006", 2)
    assert [plan.metrics(keys)["grids"][key]["pieces"] for key in keys] == [1, 1]


@pytest.mark.parametrize("line", [[], [[120.0, 28.0]], "line", None, [[1, 2], [1, 2]]])
def test_a_line_that_is_no_line_is_refused_naming_the_field(plan, line):
    with pytest.raises(InputError, match=r"^line: "):
        plan.split_by_line(plan.grids[0], line)


def test_an_emptied_grid_holds_nothing_not_float_leftovers(plan):
    emptied, other = plan.grids[0], plan.grids[1]
    for _ in range(5):  # back and forth: running sums of many floats
        units = plan.units_of_grid(emptied)
        plan.move(units, other)
        plan.undo()
    plan.move(plan.units_of_grid(emptied), other)
    metrics = plan.metrics([emptied])["grids"][emptied]
    assert (metrics["area_m2"], metrics["perimeter_m"], metrics["weight"]) == (0.0, 0.0, 0.0)


def test_a_grid_name_has_a_length_limit(plan):
    with pytest.raises(InputError, match=r"^name: at most 200"):
        plan.rename(plan.grids[0], "名" * 201)
