"""Point → grid assignment: boundary rules, nearest/unassigned, CRS input, properties."""

from __future__ import annotations

from itertools import pairwise

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from geogrid import Hierarchy, Level
from geogrid.assign.locate import PointLocator
from geogrid.crs import wgs84_to_bd09, wgs84_to_gcj02
from geogrid.errors import InputError
from tests.conftest import SOUTH, STEP, WEST, tiny_grids, tiny_streets

LEVELS = [Level("street", "街道", "", "code"), Level("grid", "网格", "", "code")]


@pytest.fixture(scope="module")
def tiny() -> Hierarchy:
    grids = tiny_grids().rename(columns={"street": "parent"})
    return Hierarchy(LEVELS, {"street": tiny_streets(), "grid": grids})


def codes(frame, level):
    return [None if v != v else v for v in frame[f"{level}_code"].astype(object)]


def test_interior_point_gets_every_level(tiny):
    result = tiny.assign([WEST + 0.005], [SOUTH + 0.015])
    assert codes(result, "street") == ["1"] and codes(result, "grid") == ["102"]
    assert result["status"].tolist() == ["assigned"] and result["distance_m"].tolist() == [0.0]


def test_point_on_shared_edge_goes_to_lowest_code(tiny):
    # (WEST+STEP, SOUTH+0.005) lies on the edge between 101 and 103.
    result = tiny.assign([WEST + STEP], [SOUTH + 0.005])
    assert codes(result, "grid") == ["101"]


def test_point_on_street_border_goes_to_lowest_street(tiny):
    result = tiny.assign([WEST + 2 * STEP], [SOUTH + 0.005])
    assert codes(result, "street") == ["1"] and codes(result, "grid") == ["103"]


def test_corner_shared_by_four_grids_goes_to_lowest(tiny):
    result = tiny.assign([WEST + STEP], [SOUTH + STEP])
    assert codes(result, "grid") == ["101"]


def test_point_on_outer_boundary_is_assigned(tiny):
    result = tiny.assign([WEST], [SOUTH + 0.005])
    assert result["status"].tolist() == ["assigned"] and codes(result, "grid") == ["101"]


def test_point_just_outside_is_nearest_with_distance(tiny):
    # 0.0003° of longitude at 28°N is about 29.5 m.
    result = tiny.assign([WEST - 0.0003], [SOUTH + 0.005])
    assert result["status"].tolist() == ["nearest"]
    assert codes(result, "grid") == ["101"] and codes(result, "street") == ["1"]
    assert result["distance_m"].iloc[0] == pytest.approx(29.5, abs=0.5)


def test_point_beyond_max_distance_is_unassigned_with_nearest_recorded(tiny):
    result = tiny.assign([WEST - 0.001], [SOUTH + 0.005])
    assert result["status"].tolist() == ["unassigned"]
    assert codes(result, "grid") == [None] and codes(result, "street") == [None]
    assert codes(result, "nearest") == ["101"]
    assert result["distance_m"].iloc[0] == pytest.approx(98.3, abs=1)


def test_max_distance_is_configurable(tiny):
    result = tiny.assign([WEST - 0.001], [SOUTH + 0.005], max_distance_m=120)
    assert result["status"].tolist() == ["nearest"]


def test_bad_coordinates_are_unassigned_not_errors(tiny):
    lon = [np.nan, 200.0, WEST + 0.005, np.inf, 120.0]
    lat = [SOUTH, 28.0, 95.0, 28.0, np.nan]
    result = tiny.assign(lon, lat)
    assert result["status"].tolist() == ["unassigned"] * 5
    assert result["distance_m"].isna().all()


def test_far_away_point_is_unassigned_without_distance(tiny):
    result = tiny.assign([-0.1276], [51.5072])  # London
    assert result["status"].tolist() == ["unassigned"] and result["distance_m"].isna().all()


def test_rows_stay_aligned_with_input(tiny):
    lon = [WEST + 0.035, np.nan, WEST + 0.005]
    lat = [SOUTH + 0.015, 0, SOUTH + 0.005]
    result = tiny.assign(lon, lat)
    assert codes(result, "grid") == ["204", None, "101"]


def test_empty_input_gives_empty_frame(tiny):
    result = tiny.assign([], [])
    assert len(result) == 0 and "grid_code" in result.columns


def test_mismatched_arrays_are_refused(tiny):
    with pytest.raises(InputError, match="lon has 2 values but lat has 1"):
        tiny.assign([1.0, 2.0], [1.0])


def test_text_coordinates_are_refused(tiny):
    with pytest.raises(InputError, match="must be numbers"):
        tiny.assign(["east"], ["north"])


@pytest.mark.parametrize("crs, convert", [("GCJ-02", wgs84_to_gcj02), ("BD-09", wgs84_to_bd09)])
def test_chinese_phone_coordinates_land_in_the_same_grid(tiny, crs, convert):
    # 30 m inside grid 102's east edge: GCJ-02 and BD-09 numbers lie hundreds of
    # metres east, in grid 104, so taking them as WGS-84 would be wrong.
    lon, lat = np.array([WEST + STEP - 0.0003]), np.array([SOUTH + 0.015])
    shifted_lon, shifted_lat = convert(lon, lat)
    assert codes(tiny.assign(shifted_lon, shifted_lat, crs=crs), "grid") == ["102"]
    assert codes(tiny.assign(shifted_lon, shifted_lat), "grid") != ["102"]


def test_projected_input_crs(tiny):
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 4549, always_xy=True).transform(WEST + 0.005, SOUTH + 0.005)
    assert codes(tiny.assign([x], [y], crs="EPSG:4549"), "grid") == ["101"]


def test_ancestors_come_from_the_parent_chain():
    # The grid's declared parent wins even where the street polygon disagrees:
    # one lookup at the finest level, ancestors by code.
    grids = tiny_grids().rename(columns={"street": "parent"})
    grids.loc[grids["code"] == "101", "parent"] = "2"
    h = Hierarchy(LEVELS, {"street": tiny_streets(), "grid": grids})
    assert codes(h.assign([WEST + 0.005], [SOUTH + 0.005]), "street") == ["2"]


def partial_level_hierarchy() -> Hierarchy:
    buildings = gpd.GeoDataFrame(
        {"code": ["10100001", "10100002"], "parent": ["101", "101"]},
        geometry=[
            box(WEST + 0.001, SOUTH + 0.001, WEST + 0.002, SOUTH + 0.002),
            box(WEST + 0.002, SOUTH + 0.001, WEST + 0.003, SOUTH + 0.002),
        ],
        crs=4326,
    )
    levels = [*LEVELS, Level("building", "楼栋", "", "code", coverage="partial")]
    grids = tiny_grids().rename(columns={"street": "parent"})
    return Hierarchy(levels, {"street": tiny_streets(), "grid": grids, "building": buildings})


def test_partial_level_point_in_building_and_between_buildings():
    h = partial_level_hierarchy()
    result = h.assign([WEST + 0.0015, WEST + 0.002, WEST + 0.005], [SOUTH + 0.0015] * 2 + [0.0])
    assert codes(result, "building")[:2] == ["10100001", "10100001"]
    assert codes(result, "grid")[:2] == ["101", "101"]
    between = h.assign([WEST + 0.005], [SOUTH + 0.005])
    assert codes(between, "building") == [None] and codes(between, "grid") == ["101"]
    assert between["status"].tolist() == ["assigned"]


def brute_force(polygons: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The rule spelled out: lowest position among polygons covering the point."""
    covers = shapely.covers(polygons[None, :], shapely.points(x, y)[:, None])
    return np.where(covers.any(axis=1), covers.argmax(axis=1), -1)


def lattice_polygons(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xs = np.cumsum(rng.uniform(0.5, 2.0, 6))
    ys = np.cumsum(rng.uniform(0.5, 2.0, 5))
    cells = [box(x0, y0, x1, y1) for x0, x1 in pairwise(xs) for y0, y1 in pairwise(ys)]
    cells.append(shapely.Polygon([(xs[0], ys[0]), (xs[-1], ys[-1]), (xs[0], ys[-1])]))  # overlaps
    return np.array(cells)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_locator_matches_brute_force_on_vertices_edges_and_random_points(seed, data):
    polygons = lattice_polygons(seed)
    locator = PointLocator(polygons, max_cells=data.draw(st.sampled_from([64, 4096, 1 << 16])))
    vertices = shapely.get_coordinates(polygons)
    t = data.draw(st.floats(0, 1))
    midpoints = vertices[:-1] + t * (vertices[1:] - vertices[:-1])
    west, south, east, north = shapely.total_bounds(polygons)
    rng = np.random.default_rng(seed)
    scattered = rng.uniform([west - 1, south - 1], [east + 1, north + 1], (200, 2))
    points = np.vstack([vertices, midpoints, scattered])
    found = locator.locate(points[:, 0], points[:, 1])
    np.testing.assert_array_equal(found, brute_force(polygons, points[:, 0], points[:, 1]))


def test_sample_district_assignment_matches_exact_geos(sample_hierarchy):
    # Every point, interior or on an edge, gets what a plain GEOS covered_by
    # test with the lowest-code rule gives.
    micro = sample_hierarchy.grids("microgrid").sort_values("code")
    west, south, east, north = micro.total_bounds
    rng = np.random.default_rng(7)
    lon = rng.uniform(west, east, 20_000)
    lat = rng.uniform(south, north, 20_000)
    edges = shapely.get_coordinates(micro.geometry.values[:300])
    lon, lat = np.concatenate([lon, edges[:, 0]]), np.concatenate([lat, edges[:, 1]])
    result = sample_hierarchy.assign(lon, lat)
    point_i, polygon_i = shapely.STRtree(micro.geometry.values).query(
        shapely.points(lon, lat), predicate="covered_by"
    )
    expected = np.full(len(lon), len(micro))
    np.minimum.at(expected, point_i, polygon_i)
    expected[expected == len(micro)] = -1
    got = result["microgrid_code"].cat.codes.to_numpy()
    inside = expected >= 0
    np.testing.assert_array_equal(got[inside], expected[inside])
    assert (result["status"][~inside] != "assigned").all()


def test_single_lookup_agrees_with_assign(sample_hierarchy):
    rng = np.random.default_rng(3)
    west, south, east, north = sample_hierarchy.grids("street").total_bounds
    lon = rng.uniform(west - 0.002, east + 0.002, 300)
    lat = rng.uniform(south - 0.002, north + 0.002, 300)
    frame = sample_hierarchy.assign(lon, lat)
    for i in range(len(lon)):
        one = sample_hierarchy.lookup(lon[i], lat[i])
        row = frame.iloc[i]
        assert one["status"] == row["status"]
        for key in sample_hierarchy.levels:
            value = row[f"{key}_code"]
            assert one["codes"][key] == (None if pd.isna(value) else value)
        expected = None if np.isnan(row["distance_m"]) else row["distance_m"]
        assert one["distance_m"] == expected
