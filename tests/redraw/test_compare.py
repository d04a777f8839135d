"""compare: unit moves, per-grid deltas, overlaps and successors; generations as assignments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geogrid.errors import InputError
from geogrid.redraw.apply import apply_plans
from geogrid.redraw.compare import compare, generation_assignment, unit_weights

COMMUNITY = "330399001001"
WEIGHTS = pd.DataFrame(
    {"households": [100.0, 50.0, 30.0, 20.0], "population": [300, 150, 90, 60]},
    index=["u1", "u2", "u3", "u4"],
)
A = {"u1": "G1", "u2": "G1", "u3": "G2", "u4": "G2"}
B = {"u1": "G1", "u2": "new-1", "u3": "new-1", "u4": "G2"}


def test_units_that_changed_grid_with_their_weight():
    result = compare(A, B, WEIGHTS, weight="households")
    assert result.units.to_dict("records") == [
        {"unit": "u2", "a": "G1", "b": "new-1", "weight": 50.0},
        {"unit": "u3", "a": "G2", "b": "new-1", "weight": 30.0},
    ]
    summary = result.summary()
    assert summary["moved_units"] == 2 and summary["moved_weight"] == 80.0
    assert summary["moved_share"] == pytest.approx(0.4)
    assert summary["only_a"] == [] and summary["only_b"] == ["new-1"]
    assert summary["changed"] == ["G1", "G2"] and summary["grids_b"] == 3


def test_grid_table_has_totals_of_every_weight_and_their_deltas():
    grids = compare(A, B, WEIGHTS).grids.set_index("grid")
    assert grids.loc["G1", ["units_a", "units_b", "units_delta"]].tolist() == [2, 1, -1]
    assert grids.loc["new-1", ["population_a", "population_b", "population_delta"]].tolist() == [
        0.0,
        240.0,
        240.0,
    ]
    assert "count_a" not in grids.columns


def test_metrics_given_per_grid_join_the_table():
    grids = compare(
        A,
        B,
        metrics_a={"G1": {"compactness": 0.8}},
        metrics_b={"G1": {"compactness": 0.6}, "new-1": {"compactness": 0.7}},
    )
    row = grids.grids.set_index("grid").loc["G1"]
    assert row["compactness_delta"] == pytest.approx(-0.2)
    assert np.isnan(grids.grids.set_index("grid").loc["new-1", "compactness_a"])


def test_overlap_gives_each_b_grid_its_a_predecessors():
    overlap = compare(A, B, WEIGHTS, weight="households").overlap
    new = overlap[overlap["b"] == "new-1"]
    assert new[["a", "units", "weight"]].values.tolist() == [["G1", 1, 50.0], ["G2", 1, 30.0]]
    assert new["units_share"].tolist() == [0.5, 0.5]
    assert new["weight_share"].tolist() == [0.625, 0.375]


def test_successors_match_each_old_grid_to_at_most_one_new_grid():
    result = compare(A, B, WEIGHTS, weight="households")
    assert result.successors() == {"G1": "G1", "G2": "new-1"}
    assert result.regrouped()["unit"].tolist() == ["u2"]  # u3 continues G2 as new-1


def test_without_weights_every_unit_counts_one():
    result = compare(A, B)
    assert result.weight == "count" and result.total_weight == 4.0
    assert result.units["weight"].tolist() == [1.0, 1.0]


def test_assignments_of_other_units_are_refused():
    with pytest.raises(InputError, match=r"b: not the same units: it lacks 1 unit \(u4\) of a"):
        compare(A, {k: v for k, v in B.items() if k != "u4"})
    with pytest.raises(InputError, match=r"has 1 unit \(u9\) that a does not"):
        compare(A, {**B, "u9": "G1"})
    with pytest.raises(InputError, match=r"weights: not the same units: it lacks 1 unit \(u4\)"):
        compare(A, B, WEIGHTS.drop(index="u4"))
    with pytest.raises(
        InputError,
        match="weight: 'votes' is not a weight column; columns are count, households, population",
    ):
        compare(A, B, WEIGHTS, weight="votes")


def test_a_generation_as_an_assignment(sample):
    a = generation_assignment(sample, "grid", COMMUNITY)
    units = sample.grids("microgrid")
    assert len(a) == units["parent"].str.startswith(COMMUNITY).sum()
    assert set(a.values()) == {f"{COMMUNITY}{n:03d}" for n in range(1, 10)}
    assert len(generation_assignment(sample, "grid")) == len(units)


def test_draft_scenario_and_generation_compare(sample):
    base = generation_assignment(sample, "grid", COMMUNITY)
    draft = dict(base)
    first = sorted(base)[0]
    draft[first] = f"{COMMUNITY}002"
    scenario = {unit: "new-1" for unit in base}
    assert compare(base, draft).summary()["moved_units"] == 1
    assert compare(draft, scenario).summary()["only_b"] == ["new-1"]


def test_two_generations_compare_across_renumbered_units(sample):
    plan = generation_assignment(sample, "grid", COMMUNITY)
    moved = sorted(u for u, g in plan.items() if g == f"{COMMUNITY}001")[:3]
    plan.update(dict.fromkeys(moved, f"{COMMUNITY}002"))
    redraw = apply_plans(sample, "grid", {COMMUNITY: plan})
    old = generation_assignment(sample, "grid", COMMUNITY)
    new = generation_assignment(redraw.hierarchy, "grid", COMMUNITY, base=sample)
    assert set(new) == set(old)  # renumbered units matched back to their old codes
    result = compare(old, new, unit_weights(sample, "grid").loc[sorted(old)], weight="households")
    assert len(result.units) == len(redraw.changes)
    retired = redraw.codes.query("level == 'grid' and change == 'retired'")["old_code"]
    assert result.only_a == sorted(retired)
    assert sorted(result.regrouped()["unit"]) == moved


def test_ward_hierarchy_generation_assignment(ward_hierarchy):
    blocks = generation_assignment(ward_hierarchy, "block", "D1-W1")
    assert blocks["D1-W1-B2-R"] == "D1-W1-B2" and "D1-W2-B1-P1" not in blocks
    wards = generation_assignment(ward_hierarchy, "district")
    assert wards == {"D1-W1": "D1", "D1-W2": "D1"}
    assert list(unit_weights(ward_hierarchy, "block").columns) == [
        "count",
        "households",
        "population",
    ]


def test_generation_assignment_refuses_bad_levels_and_parents(sample):
    with pytest.raises(InputError, match="'building' is the finest level"):
        generation_assignment(sample, "building")
    with pytest.raises(InputError, match="parent: '330399001' is not a community code"):
        generation_assignment(sample, "grid", "330399001")
    with pytest.raises(InputError, match="'street' is the top level"):
        generation_assignment(sample, "street", "330399001")
