"""Units of a redraw: the stated rules of the unit graph, weights, and the errors."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from shapely.geometry import box

from geogrid import Hierarchy
from geogrid.errors import InputError, NotFoundError
from geogrid.redraw.units import MIN_SHARED_M, Units, units_of, units_within
from tests.redraw.conftest import to_lonlat, ward_frames, ward_roads

W1 = "D1-W1"


@pytest.fixture(scope="module")
def parcels(ward_hierarchy) -> Units:
    return units_of(ward_hierarchy, "block", W1)


def edge(units: Units, first: str, second: str) -> dict | None:
    a, b = sorted(units.index_of([first, second]).tolist())
    rows = units.edges[(units.edges["a"] == a) & (units.edges["b"] == b)]
    return rows.iloc[0].to_dict() if len(rows) else None


def test_the_units_are_the_parents_children_in_code_order(parcels):
    assert (parcels.level, parcels.unit_level, parcels.parent) == ("block", "parcel", W1)
    assert list(parcels.codes) == sorted(parcels.codes)
    assert len(parcels) == 26
    assert set(parcels.current) == {"D1-W1-B1", "D1-W1-B2", "D1-W1-B3", "D1-W1-B4"}
    assert parcels.names["D1-W1-B2"] == "D1-W1-B2"


def test_a_shared_edge_is_measured_in_metres(parcels):
    assert edge(parcels, "D1-W1-B1-P1", "D1-W1-B1-P2")["length_m"] == pytest.approx(100, abs=0.1)
    assert parcels.area_m2[parcels.index_of("D1-W1-B1-P1")[0]] == pytest.approx(1e4, rel=1e-3)
    assert parcels.perimeter_m[parcels.index_of("D1-W1-B1-P1")[0]] == pytest.approx(400, rel=1e-3)


def test_units_touching_only_at_a_corner_are_not_neighbours(parcels):
    assert edge(parcels, "D1-W1-B1-P1", "D1-W1-B1-P4") is None  # the corner (100, 100)
    # P5 stops 5 cm short of P4's corner: a near-corner is no neighbour either.
    assert edge(parcels, "D1-W1-B1-P4", "D1-W1-B1-P5") is None
    assert (parcels.edges["length_m"][~parcels.edges["bridge"]] >= MIN_SHARED_M).all()


def test_units_across_a_sliver_gap_are_neighbours(parcels):
    sliver = edge(parcels, "D1-W1-B1-P5", "D1-W1-B1-P6")
    assert sliver["length_m"] == pytest.approx(100, abs=0.5)
    assert not sliver["bridge"]


def test_a_narrower_sliver_setting_keeps_the_gap(ward_hierarchy):
    units = units_of(ward_hierarchy, "block", W1, sliver_m=0.01)
    assert edge(units, "D1-W1-B1-P5", "D1-W1-B1-P6") is None


def test_a_multipolygon_unit_is_one_node_with_neighbours_on_both_banks(parcels):
    both_banks = "D1-W1-B2-P1"
    assert list(parcels.codes).count(both_banks) == 1
    assert edge(parcels, both_banks, "D1-W1-B1-P2")["length_m"] == pytest.approx(100, abs=0.1)
    assert edge(parcels, both_banks, "D1-W1-B4-P1")["length_m"] == pytest.approx(100, abs=0.1)
    assert edge(parcels, both_banks, "D1-W1-B2-R")["length_m"] == pytest.approx(200, abs=0.1)


def test_an_island_is_linked_to_the_nearest_unit_by_one_bridge(parcels):
    bridges = parcels.edges[parcels.edges["bridge"]]
    assert len(bridges) == 1
    linked = {parcels.codes[bridges["a"].iloc[0]], parcels.codes[bridges["b"].iloc[0]]}
    assert linked == {"D1-W1-B3-P10", "D1-W1-B3-P7"}
    assert bridges[["length_m", "road_m"]].to_numpy().tolist() == [[0.0, 0.0]]
    assert [parcels.codes[i].tolist() for i in parcels.islands] == [
        ["D1-W1-B3-P10", "D1-W1-B3-P11"]
    ]


def test_road_share_of_shared_edges(parcels):
    # P1|P2 runs along the road x = 100; P1/P3 meets it only in its last 3 metres.
    assert edge(parcels, "D1-W1-B1-P1", "D1-W1-B1-P2")["road_m"] == pytest.approx(100, abs=0.1)
    assert edge(parcels, "D1-W1-B1-P1", "D1-W1-B1-P3")["road_m"] == pytest.approx(3, abs=0.1)
    assert edge(parcels, "D1-W1-B3-P4", "D1-W1-B3-P5")["road_m"] == pytest.approx(100, abs=0.1)
    assert edge(parcels, "D1-W1-B1-P7", "D1-W1-B1-P8")["road_m"] == 0


def test_outline_lengths_and_their_road_part(parcels):
    at = parcels.positions
    assert parcels.outline_m[at["D1-W1-B1-P1"]] == pytest.approx(200, abs=0.1)
    assert parcels.outline_m[at["D1-W1-B1-P4"]] == 0
    assert parcels.outline_m[at["D1-W1-B3-P10"]] == pytest.approx(180, abs=0.1)
    # The east road runs along the outline at x = 620.
    assert parcels.outline_road_m[at["D1-W1-B3-P8"]] == pytest.approx(100, abs=0.1)
    assert parcels.outline_road_m[at["D1-W1-B4-P2"]] == pytest.approx(103, abs=0.1)
    assert (parcels.outside_m2 == 0).all()


def test_weights_are_count_and_numeric_attributes(parcels):
    assert parcels.weights.columns.tolist() == ["count", "households", "population"]
    assert list(parcels.weights.index) == list(parcels.codes)
    assert parcels.weights["households"].sum() == 1430
    assert parcels.weights.loc["D1-W1-B2-P1", "population"] == 270


def test_compounds_come_from_the_units(parcels):
    at = parcels.positions
    assert parcels.compound[at["D1-W1-B2-P3"]] == "X1"
    assert parcels.compound[at["D1-W1-B1-P1"]] is None


def test_a_survey_overrides_weights_and_compounds(ward_hierarchy):
    survey = pd.DataFrame(
        {"households": [500.0, None], "compound": ["Z", None]},
        index=["D1-W1-B1-P1", "D1-W1-B1-P2"],
    )
    units = units_of(ward_hierarchy, "block", W1, survey=survey)
    assert units.weights.loc["D1-W1-B1-P1", "households"] == 500
    assert units.weights.loc["D1-W1-B1-P2", "households"] == 60
    assert units.compound[units.positions["D1-W1-B1-P1"]] == "Z"
    assert units.compound[units.positions["D1-W1-B2-P3"]] == "X1"


def test_a_blank_survey_compound_keeps_the_units_own(ward_hierarchy):
    survey = pd.DataFrame({"compound": ["", "Y"]}, index=["D1-W1-B2-P3", "D1-W1-B1-P1"])
    units = units_of(ward_hierarchy, "block", W1, survey=survey)
    at = units.positions
    assert (units.compound[at["D1-W1-B2-P3"]], units.compound[at["D1-W1-B1-P1"]]) == ("X1", "Y")


def test_weights_sum_buildings_where_the_unit_has_none(sample):
    frames = {key: sample.grids(key) for key in sample.levels}
    frames["microgrid"] = frames["microgrid"].drop(columns=["households"])
    levels = [sample.level(key) for key in sample.levels]
    bare = Hierarchy(levels, frames)
    units = units_of(bare, "grid", "330399001001")
    buildings = units.buildings
    assert buildings.columns.tolist() == ["code", "unit", "households", "population"]
    by_unit = buildings.groupby("unit")["households"].sum()
    assert units.weights["households"].to_numpy()[by_unit.index].tolist() == by_unit.tolist()
    # Population is the micro-grids' own figure, not the buildings' sum.
    assert (
        units.weights["population"].sum()
        == units_of(sample, "grid", "330399001001").weights["population"].sum()
    )


def test_the_sample_micro_grids_of_a_community(sample):
    units = units_of(sample, "grid", "330399001001")
    assert units.unit_level == "microgrid"
    assert units.weights["households"].sum() == 3669
    assert units.buildings is not None and units.buildings["unit"].max() < len(units)
    assert len(units.islands) == 0 and not units.edges["bridge"].any()
    assert (units.edges["road_m"] <= units.edges["length_m"] + 1e-6).all()


def test_the_top_level_has_no_parent(ward_hierarchy):
    units = units_of(ward_hierarchy, "district", "")
    assert units.parent == "" and units.parent_geometry is None
    assert units.codes.tolist() == ["D1-W1", "D1-W2"]
    assert edge(units, "D1-W1", "D1-W2")["length_m"] == pytest.approx(620, abs=0.5)


def test_units_within_gives_one_units_per_parent(ward_hierarchy):
    assert [u.parent for u in units_within(ward_hierarchy, "block")] == ["D1-W1", "D1-W2"]
    assert [u.parent for u in units_within(ward_hierarchy, "block", "D1-W2")] == ["D1-W2"]
    assert [u.parent for u in units_within(ward_hierarchy, "ward", "D1")] == ["D1"]
    with pytest.raises(NotFoundError):
        units_within(ward_hierarchy, "block", "D9")


def test_graph_carries_weights_and_edge_lengths(parcels):
    graph = parcels.graph("households")
    at = parcels.positions
    assert graph.number_of_nodes() == len(parcels)
    assert graph.nodes[at["D1-W1-B2-P1"]]["weight"] == 90
    assert graph.nodes[at["D1-W1-B2-P1"]]["current"] == "D1-W1-B2"
    bridge = graph.edges[at["D1-W1-B3-P10"], at["D1-W1-B3-P7"]]
    assert bridge == {"length_m": 0.0, "road_m": 0.0, "bridge": True}


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (["D1-W1-B9-P1"], "units: 'D1-W1-B9-P1' is not a parcel of parent D1-W1"),
        (["D1-W2-B1-P1"], "units: parcel D1-W2-B1-P1 lies outside parent D1-W1"),
    ],
)
def test_index_of_names_unknown_and_outside_units(parcels, codes, message):
    with pytest.raises(InputError, match=message):
        parcels.index_of(codes)


@pytest.mark.parametrize(
    ("level", "parent", "message"),
    [
        ("floor", W1, "level: 'floor' is not one of district, ward, block, parcel"),
        ("parcel", "D1-W1-B1", "level: 'parcel' is the finest level"),
        ("block", "D1-W1-B1", "parent: 'D1-W1-B1' is not a ward code"),
        ("block", None, "parent: None is not a ward code"),
        ("district", "D1", "parent: level 'district' is the top level"),
    ],
)
def test_units_of_names_the_field_in_errors(ward_hierarchy, level, parent, message):
    with pytest.raises(InputError, match=message):
        units_of(ward_hierarchy, level, parent)


def test_bad_options_are_refused(ward_hierarchy):
    with pytest.raises(InputError, match="sliver_m"):
        units_of(ward_hierarchy, "block", W1, sliver_m=0)
    with pytest.raises(InputError, match="survey"):
        units_of(ward_hierarchy, "block", W1, survey=[1, 2])


def test_a_unit_sticking_out_of_its_parent_is_measured(ward_hierarchy):
    frames = ward_frames()
    parcels = frames["parcel"]
    row = parcels.index[parcels["code"] == "D1-W1-B4-P2"][0]
    parcels.loc[row, "geometry"] = to_lonlat(box(520, -10, 620, 100))
    levels = [ward_hierarchy.level(key) for key in ward_hierarchy.levels]
    units = units_of(Hierarchy(levels, frames, roads=ward_roads()), "block", W1)
    assert units.outside_m2[units.positions["D1-W1-B4-P2"]] == pytest.approx(1000, rel=1e-2)


def test_units_are_frozen(parcels):
    with pytest.raises(dataclasses.FrozenInstanceError):
        parcels.parent = "x"
