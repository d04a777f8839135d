"""Coordinate systems: WGS-84, GCJ-02, BD-09, CGCS2000 and metric zones.

geogrid stores and answers in WGS-84 lon/lat (EPSG:4326); CGCS2000 (EPSG:4490) equals
it at grid scale.  Chinese phones and map SDKs send GCJ-02 (AMap, Tencent, WeChat) or
BD-09 (Baidu), which PROJ does not know, so they are converted here:

* WGS-84 → GCJ-02 uses the public formulas (Krasovsky a = 6378245.0,
  ee = 0.00669342162296594323).  GCJ-02 → WGS-84 inverts them by fixed-point
  iteration until every point moves less than 1e-9 degree.
* GCJ-02 → BD-09 uses the public closed form.  Its usual closed-form inverse is off by
  up to about 2e-6 degree (0.2 m), so BD-09 → GCJ-02 starts from it and iterates to
  1e-9 degree as well.

Outside China
-------------
Every conversion, in both directions, decides from the point it is *given*: a point
outside the rectangle lon 72.004–137.8347, lat 0.8293–55.8271 is returned unchanged
(a point with a NaN coordinate comes back NaN in both), so a round trip of an outside
point is exactly the identity.
The price: near the rectangle's edges the shifts (up to about 0.02 degree) push points
east and north, so an inside point that close to the east or north edge (sea and
Russia, no Chinese land) can be carried outside, and the inverse then leaves it there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyproj
import shapely

from geogrid.errors import CRSError, InputError

FloatArray = npt.NDArray[np.float64]
LonLat = tuple[FloatArray, FloatArray]
Converter = Callable[[FloatArray, FloatArray], LonLat]

#: Names :func:`normalize_crs` returns for the systems geogrid converts itself.
WGS84, GCJ02, BD09 = "WGS-84", "GCJ-02", "BD-09"

#: EPSG code of CGCS2000 / 3-degree Gauss-Kruger CM 75E (zone 25); zones run to 45 (CM 135E).
_GK3_FIRST_EPSG, _GK3_FIRST_ZONE, _GK3_LAST_ZONE = 4534, 25, 45

_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_SIN_35PI_60, _COS_35PI_60 = math.sin(35.0 * math.pi / 60.0), math.cos(35.0 * math.pi / 60.0)
_BD_X_PI = math.pi * 3000.0 / 180.0
_BD_SHIFT_LON, _BD_SHIFT_LAT = 0.0065, 0.006
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)
_TOLERANCE_DEG = 1e-9
_MAX_ITERATIONS = 30
_BLOCK_POINTS = 16_384

# Spellings are compared upper-case with "-", "_" and spaces removed.
_ALIASES = {
    "WGS84": WGS84,
    "EPSG:4326": WGS84,
    "CGCS2000": WGS84,
    "EPSG:4490": WGS84,
    "GCJ02": GCJ02,
    "BD09": BD09,
}
_ACCEPTED = (
    "'WGS-84' (also WGS84, EPSG:4326, CGCS2000, EPSG:4490), 'GCJ-02', 'BD-09', "
    "or a lon/lat or projected CRS pyproj understands, e.g. 'EPSG:4549'"
)


def gauss_kruger_epsg(lon: float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Krüger zone (CM variant) for a longitude.

    Zone n = floor((lon + 1.5) / 3), EPSG = 4534 + n - 25, clamped to China's zones 25–45.

    Examples
    --------
    >>> gauss_kruger_epsg(120.65)   # Wenzhou, central meridian 120E
    4549
    >>> gauss_kruger_epsg(116.4)    # Beijing, central meridian 117E
    4548
    """
    if not math.isfinite(lon):
        raise InputError(f"longitude must be a finite number of degrees, got {lon!r}")
    zone = math.floor((lon + 1.5) / 3)
    zone = min(max(zone, _GK3_FIRST_ZONE), _GK3_LAST_ZONE)
    return _GK3_FIRST_EPSG + zone - _GK3_FIRST_ZONE


# --- point conversions -------------------------------------------------------------


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert WGS-84 lon/lat to GCJ-02 (the system of AMap, Tencent and WeChat maps).

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 degrees; broadcast against each other.

    Returns
    -------
    (lon, lat) : tuple of float64 ndarray
        GCJ-02 degrees; points outside China are returned unchanged;
        a point with a NaN coordinate is NaN in both.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.397, 39.909)   # Tiananmen
    >>> print(f"{lon:.4f} {lat:.4f}")
    116.4032 39.9104
    """
    return _convert_inside_china(_wgs_to_gcj, *_as_lonlat(lon, lat))


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert GCJ-02 lon/lat to WGS-84, exact to 1e-9 degree.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 degrees; broadcast against each other.

    Returns
    -------
    (lon, lat) : tuple of float64 ndarray
        WGS-84 degrees; points outside China are returned unchanged;
        a point with a NaN coordinate is NaN in both.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84([116.40324350604497], [39.91040339728811])
    >>> print(f"{lon[0]:.9f} {lat[0]:.9f}")
    116.397000000 39.909000000
    """
    return _convert_inside_china(_gcj_to_wgs, *_as_lonlat(lon, lat))


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert GCJ-02 lon/lat to BD-09 (Baidu maps).

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 degrees; broadcast against each other.

    Returns
    -------
    (lon, lat) : tuple of float64 ndarray
        BD-09 degrees; points outside China are returned unchanged;
        a point with a NaN coordinate is NaN in both.

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09(116.404, 39.915)
    >>> print(f"{lon:.6f} {lat:.6f}")
    116.410369 39.921337
    """
    return _convert_inside_china(_gcj_to_bd, *_as_lonlat(lon, lat))


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert BD-09 lon/lat to GCJ-02, exact to 1e-9 degree.

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 degrees; broadcast against each other.

    Returns
    -------
    (lon, lat) : tuple of float64 ndarray
        GCJ-02 degrees; points outside China are returned unchanged;
        a point with a NaN coordinate is NaN in both.

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(116.41036949371029, 39.92133699351021)
    >>> print(f"{lon:.9f} {lat:.9f}")
    116.404000000 39.915000000
    """
    return _convert_inside_china(_bd_to_gcj, *_as_lonlat(lon, lat))


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert WGS-84 lon/lat to BD-09 (through GCJ-02).

    Parameters and returns as in :func:`wgs84_to_gcj02`, with BD-09 output.

    Examples
    --------
    >>> lon, lat = wgs84_to_bd09(116.397, 39.909)
    >>> print(f"{lon:.4f} {lat:.4f}")
    116.4096 39.9167
    """
    return _convert_inside_china(_wgs_to_bd, *_as_lonlat(lon, lat))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert BD-09 lon/lat to WGS-84 (through GCJ-02), exact to 1e-9 degree.

    Parameters and returns as in :func:`gcj02_to_wgs84`, with BD-09 input.

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(*wgs84_to_bd09(116.397, 39.909))
    >>> print(f"{lon:.9f} {lat:.9f}")
    116.397000000 39.909000000
    """
    return _convert_inside_china(_bd_to_wgs, *_as_lonlat(lon, lat))


def _as_lonlat(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    try:
        lon_array = np.asarray(lon, dtype=np.float64)
        lat_array = np.asarray(lat, dtype=np.float64)
        lon_array, lat_array = np.broadcast_arrays(lon_array, lat_array)
    except (TypeError, ValueError) as exc:
        raise InputError(f"lon and lat must be numbers or arrays of one shape: {exc}") from None
    return lon_array, lat_array


def _convert_inside_china(convert: Converter, lon: FloatArray, lat: FloatArray) -> LonLat:
    """Apply ``convert`` to points inside China's rectangle; copy the rest unchanged."""
    # NaN fails every comparison, so it counts as outside and never reaches the formulas.
    inside = (
        (lon >= _CHINA_LON[0]) & (lon <= _CHINA_LON[1])
        & (lat >= _CHINA_LAT[0]) & (lat <= _CHINA_LAT[1])
    )  # fmt: skip
    inside_lon, inside_lat = lon[inside], lat[inside]
    # A pass makes ~100 temporaries; in blocks of 128 KiB arrays they stay in cache and in
    # malloc's heap (bigger ones are mmap'ed and page-faulted afresh): twice as fast.
    for start in range(0, inside_lon.size, _BLOCK_POINTS):
        block = slice(start, start + _BLOCK_POINTS)
        inside_lon[block], inside_lat[block] = convert(inside_lon[block], inside_lat[block])
    out_lon, out_lat = lon.copy(), lat.copy()
    out_lon[inside], out_lat[inside] = inside_lon, inside_lat
    # Half a position is no position: match pyproj, which returns NaN for both.
    missing = np.isnan(lon) | np.isnan(lat)
    out_lon[missing], out_lat[missing] = np.nan, np.nan
    return out_lon, out_lat


def _wgs_to_gcj(lon: FloatArray, lat: FloatArray) -> LonLat:
    x, y = lon - 105.0, lat - 35.0
    rad_lat = lat / 180.0 * np.pi
    sin_lat, cos_lat = np.sin(rad_lat), np.cos(rad_lat)
    # pi*y/60 = 3*rad_lat - 35*pi/60: y's sines come from the pair the scale needs anyway.
    sin_3lat, cos_3lat = _triple_angle(sin_lat, cos_lat)
    sin_vy = sin_3lat * _COS_35PI_60 - cos_3lat * _SIN_35PI_60
    cos_vy = cos_3lat * _COS_35PI_60 + sin_3lat * _SIN_35PI_60
    sines_x = _harmonics(np.sin(np.pi / 60.0 * x), np.cos(np.pi / 60.0 * x))
    lon_series, lat_series = _gcj_series(x, y, sines_x, _harmonics(sin_vy, cos_vy))
    magic = 1.0 - _KRASOVSKY_EE * sin_lat * sin_lat
    sqrt_magic = np.sqrt(magic)
    # Series (metres) / Krasovsky meridian and parallel radii of curvature -> degrees.
    meridian = _KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (magic * sqrt_magic) * np.pi
    parallel = _KRASOVSKY_A / sqrt_magic * cos_lat * np.pi
    return lon + lon_series * 180.0 / parallel, lat + lat_series * 180.0 / meridian


def _gcj_series(
    x: FloatArray, y: FloatArray, sines_x: list[FloatArray], sines_y: list[FloatArray]
) -> LonLat:
    """The published GCJ-02 polynomial-and-sine series (x = lon - 105, y = lat - 35)."""
    # sin(pi*x/30), sin(pi*x/12), sin(pi*x/3), sin(pi*x), sin(2*pi*x), sin(6*pi*x); same for y.
    x_30, x_12, x_3, x_1, x_2, x_6 = sines_x
    y_30, y_12, y_3, y_1 = sines_y[:4]
    root_x = np.sqrt(np.abs(x))
    waves_x = (20.0 * x_6 + 20.0 * x_2) * (2.0 / 3.0)
    lon_series = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * root_x + waves_x
    lon_series += (20.0 * x_1 + 40.0 * x_3 + 150.0 * x_12 + 300.0 * x_30) * (2.0 / 3.0)
    lat_series = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * root_x + waves_x
    lat_series += (20.0 * y_1 + 40.0 * y_3 + 160.0 * y_12 + 320.0 * y_30) * (2.0 / 3.0)
    return lon_series, lat_series


def _harmonics(sin_v: FloatArray, cos_v: FloatArray) -> list[FloatArray]:
    """sin(k*v) for k = 2, 5, 20, 60, 120, 360, from sin(v) and cos(v).

    With v = pi*t/60 these are the series' sin(pi*t/30), sin(pi*t/12), sin(pi*t/3),
    sin(pi*t), sin(2*pi*t) and sin(6*pi*t).  numpy's float64 sin costs ~15 ns a value
    against ~0.3 ns for a multiplication, and ten sines per point made the inverse
    (four forward passes) slow.  The identities err by < 1e-12, i.e. < 1e-16 degree.
    """
    sin_2, cos_2 = _double_angle(sin_v, cos_v)
    sin_4, cos_4 = _double_angle(sin_2, cos_2)
    sin_5, cos_5 = sin_4 * cos_v + cos_4 * sin_v, cos_4 * cos_v - sin_4 * sin_v
    sin_20, cos_20 = _double_angle(*_double_angle(sin_5, cos_5))
    sin_60, cos_60 = _triple_angle(sin_20, cos_20)
    sin_120, cos_120 = _double_angle(sin_60, cos_60)
    sin_360, _ = _triple_angle(sin_120, cos_120)
    return [sin_2, sin_5, sin_20, sin_60, sin_120, sin_360]


def _double_angle(sin_a: FloatArray, cos_a: FloatArray) -> LonLat:
    return 2.0 * sin_a * cos_a, (cos_a - sin_a) * (cos_a + sin_a)


def _triple_angle(sin_a: FloatArray, cos_a: FloatArray) -> LonLat:
    return sin_a * (3.0 - 4.0 * sin_a * sin_a), cos_a * (4.0 * cos_a * cos_a - 3.0)


def _gcj_to_wgs(lon: FloatArray, lat: FloatArray) -> LonLat:
    return _solve_inverse(_wgs_to_gcj, lon, lat, lon.copy(), lat.copy())


def _gcj_to_bd(lon: FloatArray, lat: FloatArray) -> LonLat:
    radius = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return radius * np.cos(theta) + _BD_SHIFT_LON, radius * np.sin(theta) + _BD_SHIFT_LAT


def _bd_to_gcj(lon: FloatArray, lat: FloatArray) -> LonLat:
    # The published closed form is only good to ~2e-6 degree; it is the starting guess.
    x, y = lon - _BD_SHIFT_LON, lat - _BD_SHIFT_LAT
    radius = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    guess_lon, guess_lat = radius * np.cos(theta), radius * np.sin(theta)
    return _solve_inverse(_gcj_to_bd, lon, lat, guess_lon, guess_lat)


def _wgs_to_bd(lon: FloatArray, lat: FloatArray) -> LonLat:
    return _gcj_to_bd(*_wgs_to_gcj(lon, lat))


def _bd_to_wgs(lon: FloatArray, lat: FloatArray) -> LonLat:
    return _gcj_to_wgs(*_bd_to_gcj(lon, lat))


def _solve_inverse(
    forward: Converter,
    target_lon: FloatArray,
    target_lat: FloatArray,
    lon: FloatArray,
    lat: FloatArray,
) -> LonLat:
    """Move (lon, lat) in place until ``forward(lon, lat)`` equals the target.

    Both shifts change by under 1 % per degree, so the fixed-point step
    x += target - forward(x) gains two to three digits a round: the GCJ-02 inverse
    needs four rounds (five for ~0.2 % of points), the BD-09 one two or three.
    """
    active = np.arange(lon.size)
    for _ in range(_MAX_ITERATIONS):
        reached_lon, reached_lat = forward(lon[active], lat[active])
        step_lon = target_lon[active] - reached_lon
        step_lat = target_lat[active] - reached_lat
        lon[active] += step_lon
        lat[active] += step_lat
        # Only points still moving are evaluated again.
        active = active[np.maximum(np.abs(step_lon), np.abs(step_lat)) >= _TOLERANCE_DEG]
        if active.size == 0:
            break
    return lon, lat


# --- naming and dispatch -----------------------------------------------------------


def normalize_crs(crs: str | pyproj.CRS) -> str | pyproj.CRS:
    """Name a coordinate system: ``"WGS-84"``, ``"GCJ-02"``, ``"BD-09"`` or a pyproj CRS.

    Parameters
    ----------
    crs : str or pyproj.CRS
        A spelling of WGS-84 / CGCS2000 / GCJ-02 / BD-09 (any case, with or without
        the hyphen), or anything :meth:`pyproj.CRS.from_user_input` accepts.
        A CRS equivalent to EPSG:4326 or EPSG:4490 lon/lat becomes ``"WGS-84"``,
        because CGCS2000 equals WGS-84 at grid scale.

    Raises
    ------
    CRSError
        If the value is unknown or not a horizontal (lon/lat or x/y) system.

    Examples
    --------
    >>> normalize_crs("gcj02"), normalize_crs("CGCS2000"), normalize_crs("OGC:CRS84")
    ('GCJ-02', 'WGS-84', 'WGS-84')
    >>> normalize_crs("EPSG:4549").to_epsg()
    4549
    """
    if isinstance(crs, str):
        alias = _ALIASES.get(crs.upper().replace("-", "").replace("_", "").replace(" ", ""))
        if alias is not None:
            return alias
    try:
        parsed = pyproj.CRS.from_user_input(crs)
    except (pyproj.exceptions.CRSError, TypeError, ValueError):
        raise CRSError(f"unknown coordinate system {crs!r}; accepted: {_ACCEPTED}") from None
    if not (parsed.is_geographic or parsed.is_projected):
        raise CRSError(f"{crs!r} is not a lon/lat or x/y coordinate system; accepted: {_ACCEPTED}")
    return WGS84 if _is_wgs84_lonlat(parsed) else parsed


def to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: str | pyproj.CRS = WGS84) -> LonLat:
    """Convert coordinates in ``crs`` to WGS-84 lon/lat.

    Parameters
    ----------
    lon, lat : float or array_like
        Degrees for lon/lat systems, x/y (easting/northing) for projected ones.
    crs : str or pyproj.CRS
        Anything :func:`normalize_crs` accepts; WGS-84 by default.

    Returns
    -------
    (lon, lat) : tuple of float64 ndarray
        NaN where the input is NaN or PROJ cannot transform the point.

    Examples
    --------
    >>> lon, lat = to_wgs84(500000.0, 4418425.663, "EPSG:4548")   # GK zone 39, CM 117E
    >>> print(f"{lon:.6f} {lat:.6f}")
    117.000000 39.900000
    >>> lon, lat = to_wgs84(116.40324350604497, 39.91040339728811, "GCJ-02")
    >>> print(f"{lon:.6f} {lat:.6f}")
    116.397000 39.909000
    """
    system = normalize_crs(crs)
    lon_array, lat_array = _as_lonlat(lon, lat)
    if isinstance(system, str):
        return _TO_WGS84[system](lon_array, lat_array)
    return _pyproj_transform(_transformer(system, _epsg_crs(4326)), lon_array, lat_array)


def from_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: str | pyproj.CRS) -> LonLat:
    """Convert WGS-84 lon/lat to ``crs`` (the reverse of :func:`to_wgs84`).

    Examples
    --------
    >>> x, y = from_wgs84(117.0, 39.9, "EPSG:4548")
    >>> print(f"{x:.3f} {y:.3f}")
    500000.000 4418425.663
    >>> lon, lat = from_wgs84(116.397, 39.909, "BD-09")
    >>> print(f"{lon:.4f} {lat:.4f}")
    116.4096 39.9167
    """
    system = normalize_crs(crs)
    lon_array, lat_array = _as_lonlat(lon, lat)
    if isinstance(system, str):
        return _FROM_WGS84[system](lon_array, lat_array)
    return _pyproj_transform(_transformer(_epsg_crs(4326), system), lon_array, lat_array)


def _copy(lon: FloatArray, lat: FloatArray) -> LonLat:
    return lon.copy(), lat.copy()


_TO_WGS84: dict[str, Converter] = {WGS84: _copy, GCJ02: gcj02_to_wgs84, BD09: bd09_to_wgs84}
_FROM_WGS84: dict[str, Converter] = {WGS84: _copy, GCJ02: wgs84_to_gcj02, BD09: wgs84_to_bd09}


@lru_cache(maxsize=32)  # the 21 Gauss-Krüger zones and EPSG:4326/4490
def _epsg_crs(code: int) -> pyproj.CRS:
    return pyproj.CRS.from_epsg(code)


def _is_wgs84_lonlat(crs: pyproj.CRS) -> bool:
    return crs.is_geographic and any(
        crs.equals(_epsg_crs(code), ignore_axis_order=True) for code in (4326, 4490)
    )


#: Transformers by the identity of their two CRS objects (kept alive beside them): hashing a
#: CRS writes out its WKT, ~40 µs, which for a day's patrol tracks cost more than the maths.
_BY_IDENTITY: dict[tuple[int, int], tuple[pyproj.CRS, pyproj.CRS, pyproj.Transformer]] = {}


def _transformer(source: pyproj.CRS, target: pyproj.CRS) -> pyproj.Transformer:
    found = _BY_IDENTITY.get((id(source), id(target)))
    if found is not None and found[0] is source and found[1] is target:
        return found[2]
    transformer = _transformer_between(source, target)
    if len(_BY_IDENTITY) < 256:  # the zones' own objects (cached) come back; others may not
        _BY_IDENTITY[(id(source), id(target))] = (source, target, transformer)
    return transformer


@lru_cache(maxsize=64)
def _transformer_between(source: pyproj.CRS, target: pyproj.CRS) -> pyproj.Transformer:
    # Building a transformer costs milliseconds; pyproj makes them thread-safe since 3.1.
    try:
        return pyproj.Transformer.from_crs(source, target, always_xy=True)
    except pyproj.exceptions.ProjError as exc:
        raise CRSError(
            f"cannot transform between {source.name!r} and {target.name!r}: {exc}"
        ) from None


def _pyproj_transform(transformer: pyproj.Transformer, x: FloatArray, y: FloatArray) -> LonLat:
    out_x, out_y = transformer.transform(x.ravel(), y.ravel())
    out_x = np.asarray(out_x, dtype=np.float64).reshape(x.shape)
    out_y = np.asarray(out_y, dtype=np.float64).reshape(y.shape)
    # PROJ marks points it cannot transform with inf; NaN is geogrid's one "no position".
    failed = ~(np.isfinite(out_x) & np.isfinite(out_y))
    out_x[failed], out_y[failed] = np.nan, np.nan
    return out_x, out_y


# --- geometries --------------------------------------------------------------------


def geometry_to_wgs84(geoms: Any, crs: str | pyproj.CRS) -> Any:
    """Convert shapely geometries whose coordinates are in ``crs`` to WGS-84 lon/lat.

    Parameters
    ----------
    geoms : shapely.Geometry, array_like of shapely.Geometry or geopandas.GeoSeries
        Geometries; None and empty geometries pass through; z values are kept.
    crs : str or pyproj.CRS
        The system the coordinates are in, e.g. ``"GCJ-02"`` or ``"BD-09"``.

    Returns
    -------
    Same kind as ``geoms``
        ``geoms`` itself for WGS-84; otherwise new geometries (a GeoSeries keeps its
        index and name and gets crs EPSG:4326).

    Examples
    --------
    >>> from shapely import Point
    >>> point = geometry_to_wgs84(Point(116.40324350604497, 39.91040339728811), "GCJ-02")
    >>> print(f"{point.x:.6f} {point.y:.6f}")
    116.397000 39.909000
    """
    system = normalize_crs(crs)
    if isinstance(system, str) and system == WGS84:
        return geoms

    def convert(coords: FloatArray) -> FloatArray:
        # One call for all vertices of all geometries keeps the conversion vectorised.
        moved = coords.copy()
        moved[:, 0], moved[:, 1] = to_wgs84(coords[:, 0], coords[:, 1], system)
        return moved

    # Imported here so that `import geogrid.crs` stays light for the CLI and workers.
    from geopandas import GeoSeries

    try:
        converted = shapely.transform(geoms, convert, include_z=None)
    except TypeError as exc:
        raise InputError(f"geoms must be shapely geometries: {exc}") from None
    if isinstance(geoms, GeoSeries):
        return GeoSeries(converted, index=geoms.index, name=geoms.name, crs="EPSG:4326")
    return converted


# --- metric helpers ----------------------------------------------------------------


def metric_crs(lon: float) -> pyproj.CRS:
    """The CGCS2000 3-degree Gauss-Krüger CRS (metres) for a longitude.

    Examples
    --------
    >>> metric_crs(116.4).name
    'CGCS2000 / 3-degree Gauss-Kruger CM 117E'
    """
    return _epsg_crs(gauss_kruger_epsg(lon))


@lru_cache(maxsize=1)
def _geod() -> pyproj.Geod:
    return pyproj.Geod(ellps="WGS84")


def geodesic_distance_m(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> FloatArray:
    """Geodesic distance in metres on the WGS-84 ellipsoid, element-wise.

    Examples
    --------
    >>> print(f"{geodesic_distance_m(116.0, 39.0, 116.0, 40.0):.0f}")
    111025
    """
    try:
        arrays = np.broadcast_arrays(
            *(np.asarray(v, dtype=np.float64) for v in (lon1, lat1, lon2, lat2))
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"coordinates must be numbers or arrays of one shape: {exc}") from None
    _, _, distance = _geod().inv(*(array.ravel() for array in arrays))
    return np.asarray(distance, dtype=np.float64).reshape(arrays[0].shape)


def geodesic_area_m2(geom: shapely.Geometry) -> float:
    """Area in square metres of a WGS-84 lon/lat (multi)polygon on the ellipsoid.

    Examples
    --------
    >>> from shapely import box
    >>> print(f"{geodesic_area_m2(box(116.0, 39.0, 116.01, 39.01)) / 1e6:.3f} km²")
    0.962 km²
    """
    # pyproj adds ring areas signed by orientation: exteriors CCW and holes CW make
    # holes subtract and multipolygon parts add, whatever order the input had.
    oriented = shapely.orient_polygons(geom, exterior_cw=False)
    area, _ = _geod().geometry_area_perimeter(oriented)
    return abs(float(area))
