"""Metrics, warnings and the publish gate, checked against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import box

from geogrid import Hierarchy
from geogrid.redraw.metrics import gate
from geogrid.redraw.plan import Plan
from geogrid.redraw.units import Units, units_of
from tests.redraw.conftest import to_lonlat, ward_frames, ward_roads

B1, B2, B3, B4 = (f"D1-W1-B{i}" for i in range(1, 5))


def p(block: str, number: int | str) -> str:
    return f"{block}-P{number}"


@pytest.fixture(scope="module")
def parcels(ward_hierarchy) -> Units:
    return units_of(ward_hierarchy, "block", "D1-W1")


@pytest.fixture
def plan(parcels) -> Plan:
    return Plan(parcels)


def metrics_of(plan: Plan, grid: str) -> dict:
    return plan.metrics([grid])["grids"][grid]


def kinds(plan: Plan) -> list[tuple[str, str]]:
    return [(w["kind"], w["grid"]) for w in plan.warnings()]


def test_a_square_grid_of_four_square_units(plan):
    square = plan.new_grid([p(B1, i) for i in (1, 2, 3, 4)])
    m = metrics_of(plan, square)
    assert m["area_m2"] == pytest.approx(40_000, rel=1e-3)
    assert m["perimeter_m"] == pytest.approx(800, rel=1e-3)
    assert m["polsby_popper"] == pytest.approx(math.pi / 4, rel=1e-3)
    assert m["reock"] == pytest.approx(2 / math.pi, rel=1e-3)  # circle through the corners
    assert m["weights"] == {"count": 4.0, "households": 240.0, "population": 720.0}
    # Its edges to other grids: P2|B2-P1, P4|B2-P2, P3|P5 (across the sliver) and P4|P6.
    assert m["cut_edges"] == 4
    assert m["cut_m"] == pytest.approx(400, abs=0.2)
    assert (m["pieces"], m["bottleneck"]) == (1, False)


def test_a_block_grid_by_hand(plan):
    m = metrics_of(plan, B1)  # 200 m × 400 m
    assert m["polsby_popper"] == pytest.approx(4 * math.pi * 80_000 / 1200**2, rel=1e-3)
    assert m["reock"] == pytest.approx(80_000 / (math.pi * (100**2 + 200**2)), rel=1e-3)


def test_road_share_counts_cut_edges_and_outline_along_roads(plan):
    # B4 (200 m × 100 m): 100 m of outline on the east road, 3 m of its bottom edge and
    # 3 m of its edge with B3-P7 within 3 m of that road: 106 m of 600 m.
    assert metrics_of(plan, B4)["road_share"] == pytest.approx(106 / 600, rel=1e-3)


def test_band_status_and_deviation(plan):
    statuses = {grid: m["band"] for grid, m in plan.metrics()["grids"].items()}
    assert statuses == {B1: "in", B2: "in", B3: "in", B4: "under"}
    assert metrics_of(plan, B4)["deviation"] == pytest.approx((160 - 400) / 400)
    plan.move([p(B4, 1), p(B4, 2)], B3)
    assert metrics_of(plan, B3)["band"] == "over"
    plan.set_exclusive(B3)
    assert metrics_of(plan, B3)["band"] == "exempt"


def test_summary_of_the_plan(plan, parcels):
    summary = plan.metrics()["summary"]
    assert summary["grids"] == 4
    assert (summary["in_band"], summary["under"], summary["over"]) == (3, 1, 0)
    assert summary["weight_range"] == [160, 490]
    assert summary["deviation_range"] == pytest.approx([-0.6, 0.225])
    assert summary["unassigned"] == 0
    assert summary["split_compounds"] == ["X1"]
    labels = plan.labels
    real = parcels.edges[~parcels.edges["bridge"]]
    cut = labels[real["a"]] != labels[real["b"]]
    assert summary["cut_edges"] == int(cut.sum()) == 11
    assert summary["cut_m"] == pytest.approx(real["length_m"][cut].sum())


def test_a_multipolygon_unit_makes_one_piece(plan):
    both_banks = plan.new_grid([p(B2, 1)])
    assert metrics_of(plan, both_banks)["pieces"] == 1


def test_a_grid_spanning_an_island_bridge_is_contiguous_and_warned(plan):
    assert metrics_of(plan, B3)["pieces"] == 1
    island = [w for w in plan.warnings() if w["kind"] == "island"]
    assert [(w["grid"], w["units"]) for w in island] == [(B3, [p(B3, 10), p(B3, 11)])]
    assert "飞地" in island[0]["message"] and "island" in island[0]["message"]
    assert plan.gate() == [m for m in plan.gate() if "island" not in m]


def test_an_island_without_its_bridge_is_a_second_piece(plan):
    plan.move([p(B3, 10), p(B3, 11)], B4)
    assert metrics_of(plan, B4)["pieces"] == 2
    assert any("B4 分成 2 块" in message for message in plan.gate())


def test_compounds_split_across_grids(plan):
    assert metrics_of(plan, B2)["split_compounds"] == ["X1"]
    assert metrics_of(plan, B3)["split_compounds"] == ["X1"]
    plan.move([p(B2, 3)], B3)
    assert metrics_of(plan, B3)["split_compounds"] == []
    assert plan.metrics()["summary"]["split_compounds"] == []
    plan.move([p(B3, 4)], B4)  # X2 = B3-P4 + B3-P7
    compound = [w for w in plan.warnings() if w["kind"] == "compound"]
    assert [(w["grid"], w["units"]) for w in compound] == [(B3, [p(B3, 7)]), (B4, [p(B3, 4)])]


def test_a_thin_corridor_is_a_bottleneck(plan):
    # P1 P2 at the bottom, P5 P6 at the top, joined only through P3: a dumbbell.
    dumbbell = plan.new_grid([p(B1, i) for i in (1, 2, 3, 5, 6)])
    assert metrics_of(plan, dumbbell)["bottleneck"]
    warning = [w for w in plan.warnings() if w["kind"] == "bottleneck"]
    assert [w["units"] for w in warning] == [[p(B1, 1), p(B1, 3), p(B1, 5)]]


def test_a_short_chain_is_no_bottleneck(plan):
    chain = plan.new_grid([p(B1, i) for i in (1, 3, 5)])
    assert not metrics_of(plan, chain)["bottleneck"]


def test_warnings_say_it_in_chinese_then_english(plan):
    [band] = [w for w in plan.warnings() if w["kind"] == "band"]
    assert band["message"] == f"网格 {B4} 户数 160，低于 300–500 / households 160 below 300–500"
    assert band["units"] == [p(B4, 1), p(B4, 2)]
    west, south, east, north = band["bbox"]
    expected = to_lonlat(box(420, 0, 620, 100)).bounds
    assert [west, south, east, north] == pytest.approx(list(expected))


def test_the_gate_lists_what_forbids_publishing(plan):
    assert plan.gate() == [f"网格 {B4} 户数 160，低于 300–500 / households 160 below 300–500"]
    plan.set_exclusive(B4)
    assert plan.gate() == []
    plan.new_grid()
    assert plan.gate() == ["网格 new-1 没有单元 / grid new-1 has no units"]


def test_the_gate_refuses_units_in_no_grid(parcels):
    plan = Plan(parcels, {code: B1 for code in parcels.codes[1:]}, band=(0, 10_000))
    assert gate(plan) == ["1 个单元未分配网格 / 1 units are in no grid"]


def test_the_gate_refuses_a_unit_outside_the_parent(ward_hierarchy):
    frames = ward_frames()
    parcels = frames["parcel"]
    parcels.loc[parcels["code"] == p(B4, 2), "geometry"] = to_lonlat(box(520, -10, 620, 100))
    levels = [ward_hierarchy.level(key) for key in ward_hierarchy.levels]
    units = units_of(Hierarchy(levels, frames, roads=ward_roads()), "block", "D1-W1")
    errors = Plan(units, exclusive=[B4]).gate()
    assert errors == [
        f"单元 {p(B4, 2)} 有 1000 m² 超出上级 D1-W1 / "
        f"unit {p(B4, 2)} lies 1000 m² outside the parent D1-W1"
    ]


def test_metrics_follow_moves_exactly(parcels):
    """After many edits the running tallies equal a plan built afresh."""
    plan, rng = Plan(parcels), np.random.default_rng(3)
    plan.new_grid([p(B1, 1)])
    for _ in range(60):
        codes = rng.choice(parcels.codes, size=int(rng.integers(1, 4)), replace=False)
        plan.move(list(codes), str(rng.choice(plan.grids)))
    plan.undo()
    fresh = Plan(parcels, plan.assignment)
    ours, theirs = plan.metrics(fresh.grids), fresh.metrics()
    for grid, m in theirs["grids"].items():
        for key, value in m.items():
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(ours["grids"][grid][key])
            elif isinstance(value, float):
                assert ours["grids"][grid][key] == pytest.approx(value, abs=1e-6), (grid, key)
            else:
                assert ours["grids"][grid][key] == value, (grid, key)
    # The fresh plan has no empty grids: those count as grids and as under the band.
    empty = len(plan.grids) - len(fresh.grids)
    assert ours["summary"]["cut_m"] == pytest.approx(theirs["summary"]["cut_m"])
    assert ours["summary"] == theirs["summary"] | {
        "grids": len(fresh.grids) + empty,
        "under": theirs["summary"]["under"] + empty,
        "cut_m": ours["summary"]["cut_m"],
    }


def test_metrics_of_chosen_grids_only(plan):
    m = plan.metrics([B2])
    assert list(m["grids"]) == [B2] and m["summary"]["grids"] == 4


def test_the_sample_community_is_publishable(sample):
    plan = Plan(units_of(sample, "grid", "330399001001"))
    assert plan.gate() == []
    m = plan.metrics()
    assert all(g["pieces"] == 1 for g in m["grids"].values())
    assert all(0 < g["polsby_popper"] <= 1 and 0 < g["reock"] <= 1 for g in m["grids"].values())
    assert m["summary"]["cut_edges"] > 0
