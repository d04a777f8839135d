"""Route planning: priority places within a length (OR-Tools), every street (postman)."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, box

from geogrid import Hierarchy
from geogrid.errors import InputError
from geogrid.patrol.gpx import parse_route_gpx
from geogrid.patrol.network import default_network, read_network
from geogrid.patrol.records import check_route
from geogrid.patrol.routing import (
    plan_priority_route,
    plan_street_coverage,
    priority_places,
)
from tests.conftest import SAMPLE_MANIFEST
from tests.patrol import DATA

EAST_M, NORTH_M = 491.7, 554.1  # one lattice block: 0.005° of longitude / latitude at 28° N


@pytest.fixture(scope="module")
def lattice():
    return read_network(DATA / "lattice.geojson")


def places(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["name", "weight", "lon", "lat"])


def test_a_square_block_is_walked_once_round(lattice):
    route = plan_street_coverage(lattice, box(120.0, 28.0, 120.005, 28.005), 120.0, 28.0)
    assert route.length_m == pytest.approx(2 * EAST_M + 2 * NORTH_M, rel=0.002)
    assert route.geometry.coords[0] == route.geometry.coords[-1] == (120.0, 28.0)
    assert route.walking_minutes == pytest.approx(route.length_m / 75)


def test_a_grid_with_odd_junctions_repeats_the_shortest_streets(lattice):
    # Grid 101 holds 2 × 2 blocks of the lattice: 12 street sections and four odd junctions
    # (the middles of its sides); any pairing of them repeats two blocks each way.
    route = plan_street_coverage(lattice, box(120.0, 28.0, 120.01, 28.01), 120.0, 28.0)
    streets = 6 * EAST_M + 6 * NORTH_M
    assert route.length_m == pytest.approx(streets + 2 * EAST_M + 2 * NORTH_M, rel=0.002)
    assert route.geometry.is_closed
    assert "walked twice or to connect 2,092 m" in route.notes[-1]


def test_the_postman_route_covers_streets_in_pieces_and_starts_anywhere(lattice):
    # Two blocks of grid 101 and 104 that do not touch: the route joins them.
    both = box(120.0, 28.0, 120.005, 28.005).union(box(120.015, 28.015, 120.02, 28.02))
    route = plan_street_coverage(lattice, both, 120.0025, 28.0)
    block = 2 * EAST_M + 2 * NORTH_M
    link = 2 * EAST_M + 2 * NORTH_M  # there and back between the nearest corners
    assert route.length_m == pytest.approx(2 * block + 2 * link, rel=0.002)
    assert route.geometry.coords[0] == pytest.approx((120.0025, 28.0))


def test_priority_places_are_chosen_by_weight_within_the_length(lattice):
    # From the south-west corner: 246 m east, 277 m north, and 831 m north.
    targets = places(
        ("低风险", 1, 120.0025, 28.0), ("仓库", 4, 120.0, 28.0025), ("加油站", 8, 120.0, 28.0075)
    )
    roomy = plan_priority_route(lattice, 120.0, 28.0, targets, max_length_m=10_000, time_limit_s=0)
    assert sorted(roomy.visited["name"]) == ["仓库", "低风险", "加油站"]
    assert roomy.geometry.coords[0] == roomy.geometry.coords[-1]
    # 1.5 km: the heaviest (round trip 1.66 km) does not fit; the two others (1.05 km) do.
    tight = plan_priority_route(lattice, 120.0, 28.0, targets, max_length_m=1_500, time_limit_s=0)
    assert sorted(tight.visited["name"]) == ["仓库", "低风险"]
    assert tight.length_m == pytest.approx(EAST_M + NORTH_M, rel=0.002)
    reasons = tight.skipped.set_index("name")["reason"]
    assert reasons["加油站"] == "too far: the round trip alone is 1,662 m"
    # 800 m: one of the two fits, not both; the heavier one is kept.
    one = plan_priority_route(lattice, 120.0, 28.0, targets, max_length_m=800, time_limit_s=0)
    assert one.visited["name"].tolist() == ["仓库"]
    assert one.visited["at_m"][0] == pytest.approx(NORTH_M / 2, rel=0.01)
    assert (
        one.skipped.set_index("name")["reason"]["低风险"]
        == "left out: the route would exceed 800 m"
    )


def test_guided_local_search_finds_the_same_best_route(lattice):
    targets = places(
        *[
            (f"p{i}", 1 + i % 3, 120.0025 + 0.005 * (i % 4), 28.0 + 0.005 * (i // 4))
            for i in range(12)
        ]
    )
    quick = plan_priority_route(lattice, 120.0, 28.0, targets, max_length_m=8_000, time_limit_s=0)
    searched = plan_priority_route(
        lattice, 120.0, 28.0, targets, max_length_m=8_000, time_limit_s=0.3
    )
    assert searched.visited["weight"].sum() >= quick.visited["weight"].sum()
    assert searched.length_m <= 8_000 and "OR-Tools" in searched.solver


def test_a_disconnected_network_is_planned_in_the_reachable_part():
    network = read_network(DATA / "disconnected.geojson")
    targets = places(("西", 1, 120.001, 28.002), ("东", 5, 120.011, 28.002))
    route = plan_priority_route(network, 120.0, 28.0, targets, max_length_m=5_000, time_limit_s=0)
    assert route.visited["name"].tolist() == ["西"]
    assert route.skipped["reason"].tolist() == ["not connected to the start by any road"]
    assert "2 unconnected parts" in route.notes[0] and "planned within the part" in route.notes[0]
    cover = plan_street_coverage(network, None, 120.0, 28.0)
    assert cover.length_m == pytest.approx(network.total_length_m / 2, rel=0.001)
    assert any("cannot be reached from the start" in note for note in cover.notes)


def test_a_start_off_the_network_and_places_off_it_are_named(lattice):
    targets = places(("河中", 3, 120.0025, 28.0025), ("路边", 1, 120.0025, 28.0))
    with pytest.raises(InputError, match=r"start: \(120.002500, 27.990000\) is 1,108 m from"):
        plan_priority_route(lattice, 120.0025, 27.99, targets)
    route = plan_priority_route(lattice, 120.0, 28.0, targets, max_snap_m=100, time_limit_s=0)
    assert route.skipped["reason"][0] == "off the network: 246 m from the nearest road"
    with pytest.raises(InputError, match=r"start: .* from the nearest road"):
        plan_street_coverage(lattice, None, 121.0, 28.0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (places(("x", 0, 120.0, 28.0)), "places row 1: weight must be > 0"),
        (places(("x", 1, 200.0, 28.0)), "places row 1"),
        (pd.DataFrame({"lon": [120.0], "lat": [28.0]}), "missing column weight"),
    ],
)
def test_bad_places_and_options_are_refused(lattice, bad, message):
    with pytest.raises(InputError, match=message):
        plan_priority_route(lattice, 120.0, 28.0, bad)


def test_bad_options_and_areas_are_refused(lattice):
    with pytest.raises(InputError, match="max_length_m"):
        plan_priority_route(lattice, 120.0, 28.0, places(), max_length_m=-5)
    with pytest.raises(InputError, match="no street of the network"):
        plan_street_coverage(lattice, box(121, 29, 121.1, 29.1), 120.0, 28.0)
    with pytest.raises(InputError, match="area: must be a WGS-84 polygon"):
        plan_street_coverage(lattice, LineString([(0, 0), (1, 1)]), 120.0, 28.0)


def test_outputs_are_geojson_gpx_and_a_patrol_route(lattice):
    targets = places(("仓库", 4, 120.0025, 28.005))
    route = plan_priority_route(lattice, 120.0, 28.0, targets, max_length_m=5_000, time_limit_s=0)
    collection = json.loads(json.dumps(route.to_geojson(), ensure_ascii=False))
    kinds = [f["properties"]["kind"] for f in collection["features"]]
    assert kinds == ["route", "start", "place"]
    line = collection["features"][0]
    assert line["properties"]["length_m"] == pytest.approx(route.length_m, abs=0.1)
    assert line["properties"]["walking_minutes"] == pytest.approx(route.length_m / 75, abs=0.1)
    back = parse_route_gpx(route.to_gpx())
    assert len(back.coords) == len(route.geometry.coords)
    assert "<wpt" in route.to_gpx() and "1. 仓库" in route.to_gpx()
    stored = route.to_patrol_route("101", "morning", "早巡")
    check_route(stored)
    assert stored.attributes["places"] == ["仓库"]


def test_priority_places_from_hazards_hot_spots_and_zones():
    hazards = gpd.GeoDataFrame(
        {"name": ["加油站", "小卖部"], "method": ["lec", "matrix"], "score": [400, 3]},
        geometry=gpd.points_from_xy([120.0, 120.01], [28.0, 28.0]),
        crs=4326,
    )
    zones = gpd.GeoDataFrame(
        {"code": ["101", "102"], "colour": ["orange", "blue"]},
        geometry=[box(120, 28, 120.01, 28.01), box(120, 28.01, 120.01, 28.02)],
        crs=4326,
    )
    found = priority_places(hazards=hazards, zones=zones)
    assert found[["name", "kind", "weight"]].values.tolist() == [
        ["加油站", "hazard", 8.0],
        ["小卖部", "hazard", 1.0],
        ["101", "zone", 4.0],
    ]
    assert len(priority_places()) == 0


def test_the_sample_district_plans_on_its_own_roads():
    district = Hierarchy.from_manifest(SAMPLE_MANIFEST)
    network = default_network(district)
    grid = district.grids("grid").iloc[100]
    office = grid.geometry.representative_point()
    route = plan_street_coverage(network, grid.geometry, office.x, office.y)
    assert route.geometry.is_closed and route.length_m > 1000
    centres = district.grids("grid").geometry.representative_point().iloc[90:100]
    targets = pd.DataFrame(
        {
            "name": district.grids("grid")["code"].iloc[90:100],
            "weight": range(1, 11),
            "lon": centres.x,
            "lat": centres.y,
        }
    )
    planned = plan_priority_route(
        network, office.x, office.y, targets, max_length_m=6000, time_limit_s=0
    )
    assert 0 < len(planned.visited) <= 10 and planned.length_m <= 6000
