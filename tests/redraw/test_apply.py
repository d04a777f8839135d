"""apply_plans: new grids from units, codes (kept/new/never reused), children follow, crosswalk."""

from __future__ import annotations

import pandas as pd
import pytest
import shapely

from geogrid.errors import InputError
from geogrid.redraw.apply import apply_plans, spatial_order

COMMUNITY = "330399001001"  # 金水社区: grids 001…009


def grid(n: int) -> str:
    return f"{COMMUNITY}{n:03d}"


def current_plan(hierarchy, parent: str = COMMUNITY, level: str = "grid") -> dict[str, str]:
    """Today's assignment of a parent's units: unit → its grid's code."""
    below = hierarchy.levels[hierarchy.levels.index(level) + 1]
    units, grids = hierarchy.grids(below), hierarchy.grids(level)
    mine = units[units["parent"].isin(grids.loc[grids["parent"] == parent, "code"])]
    return dict(zip(mine["code"], mine["parent"], strict=True))


def units_of_grid(plan: dict[str, str], code: str) -> list[str]:
    return sorted(unit for unit, key in plan.items() if key == code)


@pytest.fixture(scope="module")
def edited(sample):
    """金水社区: merge grid 003 into 004, a new grid of two units of 005, a unit 006 → 007."""
    plan = current_plan(sample)
    for unit in units_of_grid(plan, grid(3)):
        plan[unit] = grid(4)
    fifth = units_of_grid(plan, grid(5))
    plan[fifth[0]] = plan[fifth[1]] = "new-1"
    plan[units_of_grid(plan, grid(6))[0]] = grid(7)
    redraw = apply_plans(sample, "grid", {COMMUNITY: plan}, exclusive={COMMUNITY: {"new-1"}})
    return plan, redraw


def test_result_validates_and_keeps_levels_roads_and_name(sample, edited):
    _, redraw = edited
    new = redraw.hierarchy
    assert new.validate().ok
    assert new.levels == sample.levels and new.name == sample.name and new.manifest is None
    assert len(new.roads()) == len(sample.roads())
    for key in sample.levels:  # the merge and the new grid cancel out at the grid level
        assert len(new.grids(key)) == len(sample.grids(key))


def test_untouched_grids_keep_their_codes_reshaped_ones_too_and_new_ones_get_new_codes(edited):
    _, redraw = edited
    table = redraw.grids.set_index("key")
    assert table.loc[grid(1), "change"] == "kept" and table.loc[grid(1), "code"] == grid(1)
    assert table.loc[grid(8), "code"] == grid(8)
    # 004 took all of 003, 005 and 006 lost a unit or two, 007 gained one: same grids still
    for n in (4, 5, 6, 7):
        assert table.loc[grid(n), ["code", "change"]].tolist() == [grid(n), "reshaped"]
    created = table[table["change"] == "created"]
    assert created["code"].tolist() == [grid(10)]  # after 009, padded to 3
    walk = redraw.codes[redraw.codes["level"] == "grid"]
    assert walk.loc[walk["change"] == "retired", "old_code"].tolist() == [grid(3)]


def test_a_grid_that_keeps_half_its_units_or_less_is_new(sample):
    plan = current_plan(sample)
    units = units_of_grid(plan, grid(2))
    for unit in units[: (len(units) + 1) // 2]:
        plan[unit] = grid(1)
    redraw = apply_plans(sample, "grid", {COMMUNITY: plan})
    assert redraw.code_of(COMMUNITY, grid(2)) == grid(10)
    assert redraw.code_of(COMMUNITY, grid(1)) == grid(1)


def test_new_grid_sums_attributes_unions_units_and_gets_a_name(sample, edited):
    plan, redraw = edited
    new_grids = redraw.hierarchy.grids("grid").set_index("code")
    code = redraw.code_of(COMMUNITY, "new-1")
    units = sample.grids("microgrid").set_index("code").loc[units_of_grid(plan, "new-1")]
    row = new_grids.loc[code]
    assert row["households"] == units["households"].sum()
    assert row["population"] == units["population"].sum()
    assert shapely.equals(row.geometry, shapely.union_all(units.geometry.values))
    assert row["name"] == "金水社区新网格1" and bool(row["exclusive"])
    assert new_grids.loc[redraw.code_of(COMMUNITY, grid(4)), "name"] == "金水社区第4网格"
    assert new_grids["households"].dtype == sample.grids("grid")["households"].dtype
    assert "exclusive" in redraw.hierarchy.level("grid").attributes


def test_exclusive_flags_survive_a_later_redraw(sample, edited):
    _, first = edited
    flagged = first.code_of(COMMUNITY, "new-1")
    other = "330399001002"
    plan = current_plan(first.hierarchy, other)
    plan = dict.fromkeys(plan, "one")
    second = apply_plans(first.hierarchy, "grid", {other: plan})
    grids = second.hierarchy.grids("grid").set_index("code")
    assert bool(grids.loc[flagged, "exclusive"])
    assert not grids.loc[second.code_of(other, "one"), "exclusive"]
    again = apply_plans(first.hierarchy, "grid", {COMMUNITY: current_plan(first.hierarchy)})
    assert bool(again.grids.set_index("code").loc[flagged, "exclusive"])
    cleared = apply_plans(
        first.hierarchy,
        "grid",
        {COMMUNITY: current_plan(first.hierarchy)},
        exclusive={COMMUNITY: set()},
    )
    assert not cleared.hierarchy.grids("grid").set_index("code").loc[flagged, "exclusive"]


def test_community_totals_are_unchanged(sample, edited):
    _, redraw = edited
    before = sample.grids("grid").query("parent == @COMMUNITY")["households"].sum()
    after = redraw.hierarchy.grids("grid").query("parent == @COMMUNITY")["households"].sum()
    assert before == after


def test_units_follow_their_grid_keeping_free_suffixes(sample, edited):
    plan, redraw = edited
    merged = redraw.code_of(COMMUNITY, grid(4))  # 003's and 004's units: suffixes collide
    micro = redraw.hierarchy.grids("microgrid")
    children = micro[micro["parent"] == merged]["code"].tolist()
    assert len(children) == len(units_of_grid(plan, grid(4)))
    assert all(code.startswith(merged) for code in children)
    assert len(set(children)) == len(children)
    old_003 = len(units_of_grid(current_plan(sample), grid(3)))
    old_004 = len(units_of_grid(current_plan(sample), grid(4)))
    assert sorted(c[-3:] for c in children) == [f"{n:03d}" for n in range(1, old_003 + old_004 + 1)]
    moved_in = units_of_grid(plan, grid(7))  # 007 got one unit of 006: its own suffix is taken
    assert len(moved_in) == len(units_of_grid(current_plan(sample), grid(7))) + 1


def test_deeper_levels_follow_their_parent(sample, edited):
    _, redraw = edited
    walk = redraw.codes[redraw.codes["level"] == "microgrid"].set_index("old_code")["new_code"]
    buildings = redraw.hierarchy.grids("building")
    old_buildings = sample.grids("building")
    assert len(buildings) == len(old_buildings)
    assert set(buildings["parent"]) <= set(redraw.hierarchy.grids("microgrid")["code"])
    renamed = old_buildings[old_buildings["parent"].map(walk) != old_buildings["parent"]]
    assert len(renamed) > 0
    for old_code, old_parent in zip(renamed["code"], renamed["parent"], strict=True):
        new_code = walk[old_parent] + old_code[len(old_parent) :]
        assert (buildings["code"] == new_code).sum() == 1


def test_crosswalk_lists_every_row_of_changed_levels_only(sample, edited):
    _, redraw = edited
    codes = redraw.codes
    assert list(codes.columns) == ["level", "old_code", "new_code", "change"]
    assert set(codes["level"]) == {"grid", "microgrid", "building"}
    for key in ("microgrid", "building"):
        rows = codes[codes["level"] == key]
        assert len(rows) == len(sample.grids(key))
        assert set(rows["change"]) == {"kept", "renumbered"}
        assert set(rows["new_code"]) == set(redraw.hierarchy.grids(key)["code"])
    assert set(codes["change"]) == {"kept", "reshaped", "created", "retired", "renumbered"}


def test_changes_list_units_whose_grid_code_changed(edited):
    plan, redraw = edited
    changes = redraw.changes
    assert list(changes.columns) == ["unit_code", "old_grid", "new_grid", "moved"]
    moved = changes[changes["moved"]]
    assert sorted(moved["unit_code"]) == sorted(
        unit for unit, key in plan.items() if key != unit[: len(COMMUNITY) + 3]
    )
    assert (changes["old_grid"] != changes["new_grid"]).all()


def test_a_plan_equal_to_today_changes_nothing(sample):
    redraw = apply_plans(sample, "grid", {COMMUNITY: current_plan(sample)})
    assert redraw.changes.empty
    assert set(redraw.codes["level"]) == {"grid"} and set(redraw.codes["change"]) == {"kept"}
    pd.testing.assert_series_equal(
        redraw.hierarchy.grids("grid")["code"].sort_values(ignore_index=True),
        sample.grids("grid")["code"].sort_values(ignore_index=True),
    )


def test_a_grid_equal_to_an_old_one_keeps_its_code_whatever_its_key(sample):
    plan = {unit: "new-7" if key == grid(2) else key for unit, key in current_plan(sample).items()}
    redraw = apply_plans(sample, "grid", {COMMUNITY: plan}, names={COMMUNITY: {grid(1): "甲"}})
    assert redraw.code_of(COMMUNITY, "new-7") == grid(2)
    assert redraw.changes.empty
    names = redraw.hierarchy.grids("grid").set_index("code")["name"]
    assert names[grid(2)] == "金水社区第2网格" and names[grid(1)] == "甲"


def test_retired_codes_are_never_reused(sample):
    plan = current_plan(sample)
    for unit in units_of_grid(plan, grid(9)):
        plan[unit] = grid(8)  # 009 retires; 008 grows and keeps its code
    plan.update(dict.fromkeys(units_of_grid(plan, grid(1))[:2], "new-1"))
    redraw = apply_plans(sample, "grid", {COMMUNITY: plan})
    assert redraw.code_of(COMMUNITY, grid(8)) == grid(8)
    assert redraw.code_of(COMMUNITY, "new-1") == grid(10)


def test_spatial_numbering_runs_north_to_south_then_west_to_east(sample):
    plan = {unit: f"new-{i}" for i, unit in enumerate(sorted(current_plan(sample)))}
    redraw = apply_plans(sample, "grid", {COMMUNITY: plan})
    grids = redraw.hierarchy.grids("grid").set_index("code").loc[sorted(redraw.grids["code"])]
    order = spatial_order(grids.geometry.values)
    assert order.tolist() == list(range(len(grids)))
    north = shapely.get_coordinates(shapely.centroid(grids.geometry.values))[:, 1]
    assert north[0] > north[-1]  # the first new code is in the north, the last in the south
    by_key = apply_plans(sample, "grid", {COMMUNITY: plan}, numbering="next").grids
    assert by_key.sort_values("code")["key"].tolist() == [f"new-{i}" for i in range(len(plan))]


def test_several_parents_at_once(sample):
    other = "330399001002"
    plans = {COMMUNITY: current_plan(sample), other: current_plan(sample, other)}
    plans[other] = dict.fromkeys(plans[other], "all")
    redraw = apply_plans(sample, "grid", plans)
    assert redraw.code_of(other, "all").startswith(other)
    assert redraw.hierarchy.validate().ok


def test_ward_hierarchy_other_keys_and_codes(ward_hierarchy):
    h = ward_hierarchy
    plan = current_plan(h, "D1-W1", "block")
    for unit in units_of_grid(plan, "D1-W1-B4"):
        plan[unit] = "D1-W1-B3"  # merge B4 into B3
    plan["D1-W1-B1-P1"] = plan["D1-W1-B1-P2"] = "new-1"
    plan["D1-W1-B2-R"] = "D1-W1-B3"
    redraw = apply_plans(h, "block", {"D1-W1": plan})
    codes = redraw.grids.set_index("key")["code"]
    # B1, B2 and B3 changed but keep most of their units; new-1 is new; B4 retired
    assert redraw.grids.loc[redraw.grids["change"] == "created", "code"].tolist() == ["D1-W1-B5"]
    assert codes["D1-W1-B3"] == "D1-W1-B3"
    assert "D1-W1-B4" not in set(redraw.hierarchy.grids("block")["code"])
    parcels = redraw.hierarchy.grids("parcel").set_index("code")
    assert parcels.loc[f"{codes['D1-W1-B3']}-R", "parent"] == codes["D1-W1-B3"]
    assert parcels.loc[f"{codes['D1-W1-B3']}-P1", "parent"] == codes["D1-W1-B3"]
    # B4-P1 collides with B3-P1 under the merged block: it takes the next free number
    walk = redraw.codes.set_index("old_code")["new_code"]
    assert walk["D1-W1-B4-P1"] == f"{codes['D1-W1-B3']}-P12"
    assert parcels.loc[walk["D1-W1-B4-P1"], "households"] == 80


def test_ward_hierarchy_adds_no_topology_errors(ward_hierarchy):
    plan = current_plan(ward_hierarchy, "D1-W1", "block")
    plan.update(dict.fromkeys(units_of_grid(plan, "D1-W1-B4"), "D1-W1-B3"))
    before = ward_hierarchy.validate()
    after = apply_plans(ward_hierarchy, "block", {"D1-W1": plan}).hierarchy.validate()
    # the base's 5 m² sliver between two parcels stays (a block is its units' union)
    assert len(after.errors) == len(before.errors) == 1
    assert {i.kind for i in after.errors} == {"gap"} and after.errors[0].area_m2 < 6


def test_the_top_level_has_the_empty_parent(ward_hierarchy):
    plan = {"D1-W1": "D1", "D1-W2": "new-1"}
    redraw = apply_plans(ward_hierarchy, "district", {"": plan})
    assert sorted(redraw.grids["code"]) == ["D2", "D3"]
    assert redraw.hierarchy.grids("district")["parent"].isna().all()
    assert set(redraw.hierarchy.grids("ward")["parent"]) == {"D2", "D3"}
    assert redraw.hierarchy.grids("ward")["code"].str.match(r"D[23]-W\d").all()


@pytest.mark.parametrize(
    ("level", "message"),
    [
        ("floor", "unknown level 'floor'"),
        ("building", "'building' is the finest level"),
        ("microgrid", r"its units \(building\) are a partial level"),
    ],
)
def test_levels_that_cannot_be_redrawn(sample, level, message):
    with pytest.raises(InputError, match=message):
        apply_plans(sample, level, {})


def test_a_unit_outside_the_parent_is_named(sample):
    plan = current_plan(sample)
    plan["330399001002001001"] = grid(1)
    with pytest.raises(
        InputError,
        match=r"unit 330399001002001001 is not in parent 330399001001; "
        r"it is in 330399001002",
    ):
        apply_plans(sample, "grid", {COMMUNITY: plan})


def test_an_unknown_unit_and_parent_are_refused(sample):
    with pytest.raises(InputError, match="unit nowhere is not a microgrid code"):
        apply_plans(sample, "grid", {COMMUNITY: {**current_plan(sample), "nowhere": "x"}})
    with pytest.raises(InputError, match="parent '3303' is not a community code"):
        apply_plans(sample, "grid", {"3303": {}})


@pytest.mark.parametrize("key", ["", "  ", None])
def test_an_empty_grid_key_is_refused(sample, key):
    plan = current_plan(sample)
    plan[grid(1) + "001"] = key
    with pytest.raises(InputError, match=f"unit {grid(1)}001 has an empty grid key"):
        apply_plans(sample, "grid", {COMMUNITY: plan})


def test_a_plan_missing_units_says_how_many_and_which(sample):
    plan = current_plan(sample)
    missing = sorted(plan)[:7]
    for unit in missing:
        del plan[unit]
    with pytest.raises(
        InputError,
        match=rf"misses 7 of the 82 microgrid units of {COMMUNITY}: "
        rf"{', '.join(missing[:5])} …",
    ):
        apply_plans(sample, "grid", {COMMUNITY: plan})


def test_bad_options_are_refused(sample):
    plan = current_plan(sample)
    with pytest.raises(InputError, match="numbering: must be one of spatial, next"):
        apply_plans(sample, "grid", {COMMUNITY: plan}, numbering="random")
    with pytest.raises(InputError, match="names: grid key\\(s\\) 'new-9' are not in the plan"):
        apply_plans(sample, "grid", {COMMUNITY: plan}, names={COMMUNITY: {"new-9": "x"}})
    with pytest.raises(InputError, match="exclusive: grid key"):
        apply_plans(sample, "grid", {COMMUNITY: plan}, exclusive={"330399001002": {"x"}})


def test_a_draft_publishes_its_surveys_figures(sample):
    """The grids of a draft made from a survey carry the survey's households, not last year's."""
    from types import SimpleNamespace

    from geogrid.redraw.apply import apply_draft
    from geogrid.redraw.survey import read_survey

    survey = read_survey("data/boundaries/survey-2027.csv")
    grown = "330399001010"
    draft = SimpleNamespace(level="grid", parent_code=grown, numbering="spatial",
                            assignment=current_plan(sample, grown), names={}, exclusive=(),
                            survey_frame=lambda: survey)  # fmt: skip
    new = apply_draft(sample, draft).hierarchy
    units = new.grids("microgrid").set_index("code")
    mine = [code for code in draft.assignment]
    assert units.loc[mine, "households"].sum() == survey.loc[mine, "households"].sum()
    assert units.loc["330399001010003003", "compound"] == survey.loc["330399001010003003",
                                                                     "compound"]  # fmt: skip
    untouched = units.index.difference(mine)[:50]
    assert (units.loc[untouched, "households"] == sample.grids("microgrid").set_index("code")
            .loc[untouched, "households"]).all()  # fmt: skip
    grids = new.grids("grid")
    mine_grids = grids[grids["parent"] == grown]
    community = new.grids("community").set_index("code").loc[grown, "households"]
    assert mine_grids["households"].sum() == community == survey.loc[mine, "households"].sum()


def test_two_units_that_swap_grids_never_trade_codes(sample):
    plan = current_plan(sample)
    first, second = units_of_grid(plan, grid(1))[0], units_of_grid(plan, grid(2))[0]
    plan[first], plan[second] = grid(2), grid(1)
    walk = apply_plans(sample, "grid", {COMMUNITY: plan}).codes.set_index("old_code")["new_code"]
    old_codes = set(sample.grids("microgrid")["code"]) | set(sample.grids("building")["code"])
    renumbered = walk[walk.index != walk]
    assert len(renumbered) > 2 and not set(renumbered) & old_codes


def test_codes_taken_by_earlier_generations_are_not_handed_out(sample):
    plan = current_plan(sample)
    plan.update(dict.fromkeys(units_of_grid(plan, grid(1))[:2], "new-1"))
    redraw = apply_plans(sample, "grid", {COMMUNITY: plan}, taken=[grid(10), grid(11)])
    assert redraw.code_of(COMMUNITY, "new-1") == grid(12)
