"""The nearest grid outside the district: exact against GEOS, ties to the lowest."""

from __future__ import annotations

import itertools

import numpy as np
import pyproj
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from geogrid.assign.nearest import NearestFinder

TO_METRIC = pyproj.Transformer.from_crs(4326, 4549, always_xy=True)


def geos_nearest(polygons, lon, lat, radius):
    """The rule spelled out with GEOS: smallest distance, lowest position on ties."""
    project = lambda c: np.column_stack(TO_METRIC.transform(c[:, 0], c[:, 1]))  # noqa: E731
    metric = shapely.transform(polygons, project)
    points = shapely.points(project(np.column_stack([lon, lat])))
    distance = shapely.distance(points[:, None], metric[None, :])
    best = distance.min(axis=1)
    index = np.where(best <= radius, (distance == best[:, None]).argmax(axis=1), -1)
    return index, np.where(best <= radius, best, np.nan)


def district(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xs = 120.0 + np.cumsum(rng.uniform(0.0005, 0.002, 5))
    ys = 28.0 + np.cumsum(rng.uniform(0.0005, 0.002, 4))
    return np.array(
        [
            box(x0, y0, x1, y1)
            for x0, x1 in itertools.pairwise(xs)
            for y0, y1 in itertools.pairwise(ys)
        ]
    )


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), radius=st.sampled_from([20.0, 50.0, 100.0, 3000.0]))
def test_matches_geos_on_random_outside_points(seed, radius):
    polygons = district(seed)
    west, south, east, north = shapely.total_bounds(polygons)
    rng = np.random.default_rng(seed)
    lon = rng.uniform(west - 0.002, east + 0.002, 300)
    lat = rng.uniform(south - 0.002, north + 0.002, 300)
    outside = ~shapely.intersects_xy(shapely.union_all(polygons), lon, lat)
    lon, lat = lon[outside], lat[outside]
    index, distance = NearestFinder(polygons).nearest(lon, lat, radius)
    expected_index, expected_distance = geos_nearest(polygons, lon, lat, radius)
    np.testing.assert_array_equal(index, expected_index)
    np.testing.assert_allclose(distance, expected_distance, atol=1e-6)


def test_point_nearest_to_a_shared_vertex_goes_to_the_lowest():
    polygons = np.array([box(120.0, 28.0, 120.01, 28.01), box(120.01, 28.0, 120.02, 28.01)])
    index, distance = NearestFinder(polygons).nearest(np.array([120.01]), np.array([27.9997]), 50)
    assert index.tolist() == [0] and 33 < distance[0] < 34
    swapped = NearestFinder(polygons[::-1]).nearest(np.array([120.01]), np.array([27.9997]), 50)
    assert swapped[0].tolist() == [0]


def test_nothing_within_the_radius():
    polygons = np.array([box(120.0, 28.0, 120.01, 28.01)])
    index, distance = NearestFinder(polygons).nearest(np.array([120.02]), np.array([28.0]), 50)
    assert index.tolist() == [-1] and np.isnan(distance).all()


def test_non_finite_points_are_skipped():
    polygons = np.array([box(120.0, 28.0, 120.01, 28.01)])
    index, _ = NearestFinder(polygons).nearest(np.array([np.nan]), np.array([28.0]), 50)
    assert index.tolist() == [-1]
