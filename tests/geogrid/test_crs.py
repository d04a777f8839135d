"""Tests for geogrid.crs: WGS-84 / GCJ-02 / BD-09 conversions, CRS names, metric helpers."""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from shapely import MultiPolygon, Point, Polygon, box

from geogrid.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gauss_kruger_epsg,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    geodesic_area_m2,
    geodesic_distance_m,
    geometry_to_wgs84,
    metric_crs,
    normalize_crs,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geogrid.errors import CRSError, GeogridError, InputError

ALL_CONVERSIONS = [
    wgs84_to_gcj02,
    gcj02_to_wgs84,
    gcj02_to_bd09,
    bd09_to_gcj02,
    wgs84_to_bd09,
    bd09_to_wgs84,
]
ROUND_TRIP_TOLERANCE_DEG = 1e-9

# China's rectangle, shrunk by 0.03 degree: the shifts (at most ~0.018 degree) carry points
# closer to the edge across it, where by design the inverse leaves them alone.
INNER_LON = (72.004 + 0.03, 137.8347 - 0.03)
INNER_LAT = (0.8293 + 0.03, 55.8271 - 0.03)


def _points_in(lon_range, lat_range):
    point = st.tuples(
        st.floats(*lon_range, allow_nan=False, allow_infinity=False),
        st.floats(*lat_range, allow_nan=False, allow_infinity=False),
    )
    return st.lists(point, min_size=1, max_size=40).map(lambda pts: np.array(pts).T)


inner_china = _points_in(INNER_LON, INNER_LAT)
outside_china = st.one_of(
    _points_in((-180.0, 72.0039), (-90.0, 90.0)),
    _points_in((137.8348, 180.0), (-90.0, 90.0)),
    _points_in((72.004, 137.8347), (-90.0, 0.8292)),
    _points_in((72.004, 137.8347), (55.8272, 90.0)),
)


def _max_error(got, want):
    return max(np.max(np.abs(got[0] - want[0])), np.max(np.abs(got[1] - want[1])))


def _published_wgs_to_gcj(lon: float, lat: float) -> tuple[float, float]:
    """Plain transcription of the published formula, to check the vectorised rewrite."""
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    d_lat += (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lat += (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
    d_lat += (160.0 * math.sin(y / 12.0 * pi) + 320 * math.sin(y * pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    d_lon += (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lon += (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
    d_lon += (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0
    a, ee = 6378245.0, 0.00669342162296594323
    rad_lat = lat / 180.0 * pi
    magic = 1 - ee * math.sin(rad_lat) ** 2
    d_lat = (d_lat * 180.0) / ((a * (1 - ee)) / (magic * math.sqrt(magic)) * pi)
    d_lon = (d_lon * 180.0) / (a / math.sqrt(magic) * math.cos(rad_lat) * pi)
    return lon + d_lon, lat + d_lat


# --- reference values ------------------------------------------------------------


def test_tiananmen_moves_a_few_hundred_metres_in_gcj02():
    lon, lat = wgs84_to_gcj02(116.397, 39.909)
    assert (float(lon), float(lat)) == pytest.approx((116.4032, 39.9104), abs=5e-5)
    assert 300 < geodesic_distance_m(116.397, 39.909, lon, lat) < 800


@pytest.mark.parametrize(
    ("wgs", "gcj"),
    [  # googollee/eviltransform python/test.py: (lon, lat) pairs for three cities
        ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
        ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
        ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
    ],
)
def test_published_gcj02_pairs(wgs, gcj):
    assert _max_error(wgs84_to_gcj02(*wgs), gcj) < 1e-9
    assert _max_error(gcj02_to_wgs84(*gcj), wgs) < 1e-9


def test_published_bd09_pair_beijing_railway_station():
    # cran/geoChina man/bd2gcj.Rd: GCJ-02 (116.42703, 39.90245) is BD-09 (116.43351, 39.90851).
    assert _max_error(gcj02_to_bd09(116.42703, 39.90245), (116.43351, 39.90851)) < 1e-5
    assert _max_error(bd09_to_gcj02(116.43351, 39.90851), (116.42703, 39.90245)) < 1e-5


@given(inner_china)
def test_forward_matches_published_formula(points):
    want = np.array([_published_wgs_to_gcj(lon, lat) for lon, lat in points.T]).T
    assert _max_error(wgs84_to_gcj02(*points), want) < 1e-12


@given(inner_china)
def test_bd09_shift_is_about_0_0065_by_0_006_degree(points):
    bd_lon, bd_lat = gcj02_to_bd09(*points)
    assert np.all(np.abs(bd_lon - points[0] - 0.0065) < 5e-4)
    assert np.all(np.abs(bd_lat - points[1] - 0.006) < 5e-4)


# --- round trips -------------------------------------------------------------------


@given(inner_china)
def test_wgs_gcj_wgs_round_trip(points):
    assert _max_error(gcj02_to_wgs84(*wgs84_to_gcj02(*points)), points) < ROUND_TRIP_TOLERANCE_DEG


@given(inner_china)
def test_gcj_wgs_gcj_round_trip(points):
    assert _max_error(wgs84_to_gcj02(*gcj02_to_wgs84(*points)), points) < ROUND_TRIP_TOLERANCE_DEG


@given(inner_china)
def test_gcj_bd_gcj_round_trip(points):
    assert _max_error(bd09_to_gcj02(*gcj02_to_bd09(*points)), points) < ROUND_TRIP_TOLERANCE_DEG


@given(inner_china)
def test_bd_gcj_bd_round_trip(points):
    assert _max_error(gcj02_to_bd09(*bd09_to_gcj02(*points)), points) < ROUND_TRIP_TOLERANCE_DEG


@given(inner_china)
def test_wgs_bd_wgs_round_trip(points):
    assert _max_error(bd09_to_wgs84(*wgs84_to_bd09(*points)), points) < ROUND_TRIP_TOLERANCE_DEG


# --- outside China, NaN, shapes ----------------------------------------------------


@pytest.mark.parametrize("convert", ALL_CONVERSIONS)
def test_cities_outside_china_pass_through(convert):
    lon = np.array([-0.1276, 139.6917, -74.0060])  # London, Tokyo, New York
    lat = np.array([51.5072, 35.6895, 40.7128])
    out_lon, out_lat = convert(lon, lat)
    assert_array_equal(out_lon, lon)
    assert_array_equal(out_lat, lat)


@given(outside_china)
def test_outside_points_round_trip_exactly(points):
    assert_array_equal(gcj02_to_wgs84(*wgs84_to_gcj02(*points)), points)
    assert_array_equal(bd09_to_wgs84(*wgs84_to_bd09(*points)), points)
    assert_array_equal(gcj02_to_bd09(*bd09_to_gcj02(*points)), points)


def test_inverse_decides_outside_from_its_own_input():
    # The documented price of exact outside round trips, at the empty east edge.
    gcj_lon, gcj_lat = wgs84_to_gcj02(137.83, 40.0)
    assert gcj_lon > 137.8347
    assert_array_equal(gcj02_to_wgs84(gcj_lon, gcj_lat), (gcj_lon, gcj_lat))


@pytest.mark.parametrize("convert", ALL_CONVERSIONS)
def test_mixed_array_of_inside_outside_and_nan(convert):
    lon = np.array([[116.4, -0.1276], [np.nan, 121.47]])
    lat = np.array([[39.9, 51.5072], [30.0, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out_lon, out_lat = convert(lon, lat)
    assert out_lon.shape == out_lat.shape == (2, 2)
    assert out_lon.dtype == out_lat.dtype == np.float64
    inside = convert(116.4, 39.9)
    assert (out_lon[0, 0], out_lat[0, 0]) == (inside[0], inside[1])
    assert (out_lon[0, 1], out_lat[0, 1]) == (-0.1276, 51.5072)
    # Half a position is no position: both coordinates become NaN.
    assert np.all(np.isnan(out_lon[1])) and np.all(np.isnan(out_lat[1]))


def test_scalars_and_lists_give_float64_arrays():
    lon, lat = wgs84_to_gcj02(116, 40)  # integers too
    assert lon.shape == lat.shape == () and lon.dtype == np.float64
    lon, lat = gcj02_to_wgs84([116.4, 116.5], 39.9)  # lat broadcasts
    assert lon.shape == lat.shape == (2,)


def test_unusable_input_raises_input_error():
    with pytest.raises(InputError, match="lon and lat"):
        wgs84_to_gcj02("east", 39.9)
    with pytest.raises(InputError):
        wgs84_to_gcj02([116.4, 116.5], [39.9, 40.0, 40.1])


# --- normalize_crs, to_wgs84, from_wgs84 -------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("WGS-84", "WGS-84"),
        ("WGS84", "WGS-84"),
        ("wgs84", "WGS-84"),
        ("EPSG:4326", "WGS-84"),
        ("epsg:4326", "WGS-84"),
        ("CGCS2000", "WGS-84"),
        ("EPSG:4490", "WGS-84"),
        ("OGC:CRS84", "WGS-84"),
        ("+proj=longlat +datum=WGS84 +no_defs", "WGS-84"),
        (pyproj.CRS.from_epsg(4326), "WGS-84"),
        ("GCJ-02", "GCJ-02"),
        ("GCJ02", "GCJ-02"),
        ("gcj02", "GCJ-02"),
        ("BD-09", "BD-09"),
        ("BD09", "BD-09"),
        ("bd09", "BD-09"),
    ],
)
def test_normalize_crs_spellings(spelling, name):
    assert normalize_crs(spelling) == name


def test_normalize_crs_returns_pyproj_crs_for_other_systems():
    crs = normalize_crs("EPSG:4549")
    assert isinstance(crs, pyproj.CRS) and crs.to_epsg() == 4549


@pytest.mark.parametrize("bad", ["EPSG:999999", "Mars-01"])
def test_normalize_crs_unknown_names_value_and_accepted(bad):
    with pytest.raises(CRSError) as caught:
        normalize_crs(bad)
    message = str(caught.value)
    assert repr(bad) in message
    for accepted in ("WGS-84", "CGCS2000", "GCJ-02", "BD-09", "EPSG:"):
        assert accepted in message
    assert isinstance(caught.value, GeogridError)


def test_normalize_crs_rejects_vertical_crs():
    with pytest.raises(CRSError, match="not a lon/lat or x/y"):
        normalize_crs("EPSG:5773")  # EGM96 height


lonlat_near_120e = _points_in((118.5, 121.5), (20.0, 50.0))


@settings(deadline=None)  # the first call builds the pyproj transformer
@given(lonlat_near_120e)
def test_projected_round_trip_epsg_4549(points):
    x, y = from_wgs84(*points, "EPSG:4549")
    assert np.all(np.abs(x - 500_000) < 200_000)  # easting in metres near CM 120E
    assert _max_error(to_wgs84(x, y, "EPSG:4549"), points) < 1e-7


def test_to_wgs84_from_projected_known_point():
    lon, lat = to_wgs84(500_000.0, 4_418_425.663, "EPSG:4548")  # on CM 117E
    assert (float(lon), float(lat)) == pytest.approx((117.0, 39.9), abs=1e-7)


def test_to_wgs84_projected_nan_stays_nan():
    lon, lat = to_wgs84([np.nan, 500_000.0], [4_400_000.0, 4_400_000.0], "EPSG:4549")
    assert np.isnan(lon[0]) and np.isnan(lat[0]) and np.isfinite(lon[1])


@pytest.mark.parametrize(
    ("crs", "inverse", "forward"),
    [("GCJ-02", gcj02_to_wgs84, wgs84_to_gcj02), ("bd09", bd09_to_wgs84, wgs84_to_bd09)],
)
def test_to_and_from_wgs84_dispatch_to_point_functions(crs, inverse, forward):
    lon, lat = np.array([116.4, 2.35]), np.array([39.9, 48.86])
    assert_array_equal(to_wgs84(lon, lat, crs), inverse(lon, lat))
    assert_array_equal(from_wgs84(lon, lat, crs), forward(lon, lat))


def test_to_wgs84_default_is_a_copy_of_the_input():
    lon = np.array([116.4, 121.5])
    out_lon, _ = to_wgs84(lon, [39.9, 31.2])
    assert_array_equal(out_lon, lon)
    assert out_lon is not lon


# --- geometries --------------------------------------------------------------------


@pytest.mark.parametrize(("crs", "convert"), [("GCJ-02", gcj02_to_wgs84), ("BD-09", bd09_to_wgs84)])
def test_geometry_to_wgs84_moves_every_vertex_like_the_points(crs, convert):
    shell = [(116.39, 39.90), (116.41, 39.90), (116.41, 39.92), (116.39, 39.92), (116.39, 39.90)]
    hole = [(116.395, 39.905), (116.4, 39.905), (116.4, 39.91), (116.395, 39.905)]
    polygon = Polygon(shell, [hole])
    moved = geometry_to_wgs84(np.array([polygon, None]), crs)
    assert moved[1] is None
    for before, after in [(polygon.exterior, moved[0].exterior),
                          (polygon.interiors[0], moved[0].interiors[0])]:  # fmt: skip
        want = np.column_stack(convert(*np.asarray(before.coords).T))
        assert_array_equal(np.asarray(after.coords), want)


def test_geometry_to_wgs84_keeps_geoseries_index_and_sets_crs():
    series = gpd.GeoSeries([Point(116.4, 39.9, 50.0), box(121.4, 31.2, 121.5, 31.3)], index=[7, 9])
    moved = geometry_to_wgs84(series, "gcj02")
    assert list(moved.index) == [7, 9] and moved.crs.to_epsg() == 4326
    assert moved.iloc[0].z == 50.0  # heights are kept
    assert (moved.iloc[0].x, moved.iloc[0].y) == tuple(map(float, gcj02_to_wgs84(116.4, 39.9)))


def test_geometry_to_wgs84_returns_wgs84_input_as_is():
    geoms = np.array([box(116.0, 39.0, 116.1, 39.1)])
    assert geometry_to_wgs84(geoms, "EPSG:4326") is geoms


def test_geometry_to_wgs84_rejects_non_geometries():
    with pytest.raises(InputError, match="shapely geometries"):
        geometry_to_wgs84(np.array(["not a polygon"]), "GCJ-02")


# --- metric helpers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "epsg"),
    [
        (60.0, 4534),  # west of China: clamped to zone 25
        (75.0, 4534),  # CM 75E
        (87.6, 4538),  # Urumqi, CM 87E
        (116.4, 4548),  # Beijing, CM 117E
        (118.49, 4548),
        (118.5, 4549),  # zone edge: belongs to the east zone
        (120.65, 4549),  # Wenzhou, CM 120E
        (126.6, 4551),  # Harbin, CM 126E
        (135.0, 4554),  # CM 135E
        (150.0, 4554),  # east of China: clamped to zone 45
    ],
)
def test_gauss_kruger_epsg(lon, epsg):
    assert gauss_kruger_epsg(lon) == epsg


def test_gauss_kruger_epsg_rejects_nan():
    with pytest.raises(InputError):
        gauss_kruger_epsg(float("nan"))


def test_metric_crs_is_the_projected_gk_zone():
    crs = metric_crs(120.65)
    assert crs.to_epsg() == 4549 and crs.is_projected
    assert crs.axis_info[0].unit_name == "metre"


def test_one_degree_of_latitude_is_about_111_km():
    distance = geodesic_distance_m(116.4, [35.0, 39.5, 45.0], 116.4, [36.0, 40.5, 46.0])
    assert distance.shape == (3,)
    assert np.all((distance > 110_900) & (distance < 111_200))


def test_geodesic_distance_nan_gives_nan():
    distance = geodesic_distance_m([np.nan, 116.0], 39.0, 116.0, 39.0)
    assert np.isnan(distance[0]) and distance[1] == 0.0


def test_geodesic_area_ignores_orientation_and_subtracts_holes():
    outer = box(116.0, 39.0, 116.02, 39.02)
    inner = box(116.005, 39.005, 116.015, 39.015)
    cw_outer = shapely.reverse(outer)
    assert geodesic_area_m2(cw_outer) == pytest.approx(geodesic_area_m2(outer))
    # On a sphere of the authalic radius: R² Δλ (sin φ2 − sin φ1), within 0.5 % at this size.
    radius = 6_371_007.2
    sphere = radius**2 * np.radians(0.02) * (np.sin(np.radians(39.02)) - np.sin(np.radians(39.0)))
    assert geodesic_area_m2(outer) == pytest.approx(sphere, rel=0.005)
    holed = Polygon(outer.exterior.coords, [inner.exterior.coords])  # hole same orientation
    expected = geodesic_area_m2(outer) - geodesic_area_m2(inner)
    assert geodesic_area_m2(holed) == pytest.approx(expected)
    far = box(117.0, 39.0, 117.02, 39.02)
    both = MultiPolygon([outer, shapely.reverse(far)])
    assert geodesic_area_m2(both) == pytest.approx(geodesic_area_m2(outer) + geodesic_area_m2(far))
