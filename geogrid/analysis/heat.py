"""Heat maps: kernel density in metres, H3 hexagons, per-grid counts and rates, animations.

The kernel density (KDE) is computed for a view — a bounding box in WGS-84 and a
size in pixels, e.g. the commander's 1024 × 768 map — and returned as a
:class:`Raster` whose pixels are the view's: the page gets an image, never the
points. Distances are metres: the view is measured geodesically at its centre,
which over a city-sized view (tens of kilometres) is within 0.5 % of the true
distances, and the kernel is drawn in that metric frame.

How it is fast: the points are binned into pixels (linear binning, four passes of
``bincount``) and
the bins are convolved with the kernel by FFT, over the view plus a margin of the
kernel's reach, so that points just outside the view still warm its edge. When the
bandwidth spans many pixels the work is done on coarser pixels (at least eight per
bandwidth) and interpolated back. The kernel is normalised on the pixel grid, so
the density integrates to the number of events (those whose kernel lies inside
the view): ``raster.total()`` is the count.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from scipy import ndimage, signal

from geogrid.analysis.events import (
    check_window,
    grid_codes,
    in_window,
    select_points,
)
from geogrid.crs import from_wgs84, geodesic_distance_m, metric_crs
from geogrid.errors import InputError
from geogrid.hierarchy import Hierarchy

KERNELS = ("gaussian", "quartic")
#: The Gaussian is cut at this many bandwidths (it keeps 99.97 % of the mass).
GAUSSIAN_REACH = 4.0
MAX_PIXELS = 4096
MAX_FRAMES = 400
STEPS = {"day": timedelta(days=1), "week": timedelta(weeks=1)}
BIN_CHUNK = 1 << 17

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class Raster:
    """A density raster over a WGS-84 bounding box; row 0 is the north edge.

    ``values`` are events per km²; ``cell_area_km2`` is the area of one pixel
    (measured at the view's centre), so ``values.sum() * cell_area_km2`` is the
    number of events the raster holds.

    Examples
    --------
    >>> r = Raster(np.ones((2, 4)), (120.0, 28.0, 120.04, 28.02), 0.25)
    >>> r.width, r.height, r.total()
    (4, 2, 2.0)
    >>> [round(v, 6) for v in r.transform]
    [0.01, 0.0, 120.0, 0.0, -0.01, 28.02]
    """

    values: np.ndarray
    bounds: Bounds
    cell_area_km2: float
    crs: str = "EPSG:4326"

    @property
    def height(self) -> int:
        """Rows of pixels."""
        return int(self.values.shape[0])

    @property
    def width(self) -> int:
        """Columns of pixels."""
        return int(self.values.shape[1])

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """The affine transform pixel → lon/lat in rasterio's order (a, b, c, d, e, f)."""
        west, south, east, north = self.bounds
        return ((east - west) / self.width, 0.0, west, 0.0, -(north - south) / self.height, north)

    def total(self) -> float:
        """The integral of the density over the raster: a number of events."""
        return float(self.values.sum() * self.cell_area_km2)


def kde_raster(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    bounds: Sequence[float],
    size: tuple[int, int] = (1024, 768),
    bandwidth_m: float = 200.0,
    kernel: str = "gaussian",
    weights: npt.ArrayLike | None = None,
) -> Raster:
    """Kernel density of points for a view, in events per km².

    Parameters
    ----------
    lon, lat : array_like
        WGS-84 degrees; NaN points are ignored.
    bounds : (west, south, east, north)
        The view in WGS-84.
    size : (width, height)
        Pixels of the view (1 to 4096 each).
    bandwidth_m : float
        Gaussian standard deviation, or the quartic kernel's radius, in metres.
    kernel : {"gaussian", "quartic"}
        Gaussian, or quartic (biweight: ``(1 - d²/h²)²`` within ``h``).
    weights : array_like, optional
        Weight of each point (default 1).

    Returns
    -------
    Raster

    Examples
    --------
    >>> raster = kde_raster([120.65, 120.651], [28.01, 28.01], (120.63, 27.99, 120.67, 28.03),
    ...                     size=(200, 200), bandwidth_m=150)
    >>> raster.values.shape, round(raster.total(), 6)
    ((200, 200), 2.0)
    >>> kde_raster([120.65], [28.01], (120.63, 27.99, 120.67, 28.03), bandwidth_m=0)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: bandwidth_m: must be a number of metres > 0, got 0
    """
    view = _check_view(bounds, size)
    _check_bandwidth(bandwidth_m, kernel)
    x, y, w = _points(lon, lat, weights)
    metres = _metres_per_degree(view)
    pixel_m = ((view[2] - view[0]) / size[0] * metres[0], (view[3] - view[1]) / size[1] * metres[1])
    reach = bandwidth_m * (GAUSSIAN_REACH if kernel == "gaussian" else 1.0)
    step = max(1, int(min(bandwidth_m / pixel_m[0], bandwidth_m / pixel_m[1]) // 8))
    coarse_m = (pixel_m[0] * step, pixel_m[1] * step)
    margin = (math.ceil(reach / coarse_m[0]) + 1, math.ceil(reach / coarse_m[1]) + 1)
    shape = (math.ceil(size[1] / step) + 2 * margin[1], math.ceil(size[0] / step) + 2 * margin[0])
    counts = _binned(x, y, w, view, size, step, margin, shape)
    weights_2d = _kernel(kernel, bandwidth_m, coarse_m, margin)
    smooth = np.clip(signal.fftconvolve(counts, weights_2d, mode="same"), 0.0, None)
    density = smooth / (coarse_m[0] * coarse_m[1] / 1e6)
    values = _to_view(density, size, step, margin)
    return Raster(values, view, pixel_m[0] * pixel_m[1] / 1e6)


def _check_view(bounds: Sequence[float], size: tuple[int, int]) -> Bounds:
    try:
        west, south, east, north = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise InputError("bbox: needs four numbers west, south, east, north") from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InputError(f"bbox: ({west}, {south}, {east}, {north}) is not west < east, "
                         "south < north in WGS-84")  # fmt: skip
    if not (
        len(size) == 2
        and all(isinstance(n, int | np.integer) and 1 <= n <= MAX_PIXELS for n in size)
    ):
        raise InputError(f"size: width and height must be whole numbers 1–{MAX_PIXELS}, got {size}")
    return west, south, east, north


def _check_bandwidth(bandwidth_m: float, kernel: str) -> None:
    if not (
        isinstance(bandwidth_m, int | float)
        and math.isfinite(bandwidth_m)
        and 0 < bandwidth_m <= 50_000
    ):
        raise InputError(f"bandwidth_m: must be a number of metres > 0, got {bandwidth_m!r}")
    if kernel not in KERNELS:
        raise InputError(f"kernel: {kernel!r} is not one of {', '.join(KERNELS)}")


def _points(lon, lat, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    try:
        x = np.asarray(lon, dtype=float).ravel()
        y = np.asarray(lat, dtype=float).ravel()
        w = None if weights is None else np.asarray(weights, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InputError("lon, lat and weights must be numbers") from None
    if x.shape != y.shape or (w is not None and w.shape != x.shape):
        raise InputError("lon, lat and weights must have one length")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep], None if w is None else w[keep]


def _metres_per_degree(view: Bounds) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at the view's centre (geodesic)."""
    lon = (view[0] + view[2]) / 2
    lat = min(max((view[1] + view[3]) / 2, -89.0), 89.0)
    east = geodesic_distance_m(lon - 0.005, lat, lon + 0.005, lat) / 0.01
    north = geodesic_distance_m(lon, lat - 0.005, lon, lat + 0.005) / 0.01
    return max(float(east), 1e-3), float(north)


def _binned(x, y, w, view: Bounds, size, step: int, margin, shape) -> np.ndarray:
    """Points shared out to the four nearest pixel centres of the padded grid (row 0 north).

    Linear binning keeps each point's centre of mass where the point is, so the
    density is not shifted by up to half a pixel as with plain counting. Points go
    in chunks so that a million of them need a few MB of temporaries, not hundreds.
    """
    west, south, east, north = view
    scale = ((east - west) / size[0] * step, (north - south) / size[1] * step)
    counts = np.zeros(shape[0] * shape[1])
    for start in range(0, len(x), BIN_CHUNK):
        chunk = slice(start, start + BIN_CHUNK)
        column = (x[chunk] - west) / scale[0] - 0.5 + margin[0]
        row = (north - y[chunk]) / scale[1] - 0.5 + margin[1]
        weight = np.ones_like(column) if w is None else w[chunk]
        _share_out(counts, column, row, weight, shape)
    return counts.reshape(shape)


def _share_out(counts: np.ndarray, column, row, weight, shape) -> None:
    column0, row0 = np.floor(column), np.floor(row)
    dx, dy = column - column0, row - row0
    column0, row0 = column0.astype(np.int64), row0.astype(np.int64)
    for shift_row, shift_column, share in ((0, 0, (1 - dy) * (1 - dx)), (0, 1, (1 - dy) * dx),
                                           (1, 0, dy * (1 - dx)), (1, 1, dy * dx)):  # fmt: skip
        r, c = row0 + shift_row, column0 + shift_column
        inside = (c >= 0) & (c < shape[1]) & (r >= 0) & (r < shape[0])
        flat = r[inside] * shape[1] + c[inside]
        counts += np.bincount(flat, (weight * share)[inside], minlength=counts.size)


def _kernel(kernel: str, bandwidth_m: float, pixel_m, margin) -> np.ndarray:
    """The kernel on the pixel grid, normalised so that it sums to 1."""
    dx = np.arange(-margin[0], margin[0] + 1) * pixel_m[0]
    dy = np.arange(-margin[1], margin[1] + 1) * pixel_m[1]
    squared = (dy[:, None] ** 2 + dx[None, :] ** 2) / bandwidth_m**2
    if kernel == "gaussian":
        values = np.where(squared <= GAUSSIAN_REACH**2, np.exp(-0.5 * squared), 0.0)
    else:
        values = np.where(squared < 1.0, (1.0 - squared) ** 2, 0.0)
    if values.sum() <= 0:  # a bandwidth far below a pixel: all mass in the point's pixel
        values[margin[1], margin[0]] = 1.0
    return values / values.sum()


def _to_view(density: np.ndarray, size, step: int, margin) -> np.ndarray:
    """The view's pixels: cropped from the padded grid, interpolated when it was coarser."""
    width, height = size
    if step == 1:
        return density[margin[1] : margin[1] + height, margin[0] : margin[0] + width].copy()
    # Centre of view pixel i in coarse pixel coordinates of the padded grid.
    rows = (np.arange(height) + 0.5) / step - 0.5 + margin[1]
    columns = (np.arange(width) + 0.5) / step - 0.5 + margin[0]
    grid_rows, grid_columns = np.meshgrid(rows, columns, indexing="ij")
    values = ndimage.map_coordinates(density, [grid_rows, grid_columns], order=1, mode="nearest")
    return np.clip(values, 0.0, None)


# --- rendering -----------------------------------------------------------------------


def render_png(
    raster: Raster, vmax: float | None = None, colormap: str = "YlOrRd", opacity: float = 0.85
) -> bytes:
    """The raster as a PNG overlay: a colour ramp, transparent where there is nothing.

    Parameters
    ----------
    raster : Raster
    vmax : float, optional
        Density shown at full colour (default: the raster's maximum); frames of an
        animation share one so that their colours compare.
    colormap : str
        A matplotlib colour map.
    opacity : float
        Opacity of the hottest pixels; colder pixels fade out with the square root.

    Examples
    --------
    >>> png = render_png(Raster(np.eye(3), (120.0, 28.0, 120.03, 28.03), 1.0))
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    from matplotlib import colormaps
    from PIL import Image

    if not (0 < opacity <= 1):
        raise InputError(f"opacity: must be in (0, 1], got {opacity!r}")
    try:
        ramp = colormaps[colormap]
    except KeyError:
        raise InputError(f"colormap: {colormap!r} is not a matplotlib colour map") from None
    top = float(vmax) if vmax else float(raster.values.max(initial=0.0))
    scaled = raster.values / top if top > 0 else np.zeros_like(raster.values)
    scaled = np.clip(scaled, 0.0, 1.0)
    rgba = ramp(scaled, bytes=True)
    alpha = np.sqrt(scaled) * opacity * 255
    rgba[..., 3] = np.where(scaled > 1e-6, np.maximum(alpha, 1), 0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


# --- hexagons, grids ----------------------------------------------------------------


def hexagons(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    resolution: int = 9,
    weights: npt.ArrayLike | None = None,
) -> gpd.GeoDataFrame:
    """Events counted in H3 hexagons (resolution 9: cells of about 0.1 km²).

    Returns
    -------
    GeoDataFrame
        ``h3`` (the cell id), ``count``, ``per_km2`` and the hexagon in EPSG:4326,
        only for cells with events, most first.

    Examples
    --------
    >>> cells = hexagons([120.65, 120.65, 120.70], [28.01, 28.01, 28.01], resolution=8)
    >>> cells["count"].tolist(), cells.crs.to_epsg()
    ([2.0, 1.0], 4326)
    """
    import h3
    import h3.api.numpy_int as h3_int

    if not (isinstance(resolution, int) and 0 <= resolution <= 15):
        raise InputError(f"resolution: an H3 resolution is 0–15, got {resolution!r}")
    x, y, w = _points(lon, lat, weights)
    cells = np.fromiter(
        (
            h3_int.latlng_to_cell(b, a, resolution)
            for a, b in zip(x.tolist(), y.tolist(), strict=True)
        ),
        dtype=np.uint64,
        count=len(x),
    )
    unique, inverse = np.unique(cells, return_inverse=True)
    counts = np.bincount(inverse, weights=w, minlength=len(unique)).astype(float)
    names = [h3.int_to_str(int(c)) for c in unique]
    polygons = [shapely.Polygon([(b, a) for a, b in h3.cell_to_boundary(n)]) for n in names]
    area = np.array([h3.cell_area(n, unit="km^2") for n in names])
    frame = gpd.GeoDataFrame({"h3": names, "count": counts, "per_km2": counts / area},
                             geometry=polygons, crs=4326)  # fmt: skip
    return frame.sort_values(["count", "h3"], ascending=[False, True], ignore_index=True)


def grid_counts(
    hierarchy: Hierarchy,
    points: pd.DataFrame | None,
    level: str,
    since: datetime | None = None,
    until: datetime | None = None,
    categories: tuple[str, ...] = (),
) -> gpd.GeoDataFrame:
    """Reports per grid of a level, with rates per 100 households and per km².

    Parameters
    ----------
    hierarchy : Hierarchy
    points : DataFrame or None
        ``lon``, ``lat``, ``time``, ``category`` and optionally ``<level>_code``.
    level : str
        A level key of the hierarchy.
    since, until : datetime, optional
        Only reports with ``since ≤ time < until``.
    categories : tuple of str
        Only these categories (and their sub-categories); empty means all.

    Returns
    -------
    GeoDataFrame
        Every grid of the level: ``code``, ``name``, ``households``, ``count``,
        ``per_100_households`` (NaN where households are unknown), ``per_km2``.

    Examples
    --------
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> counts = grid_counts(h, None, "street")
    >>> counts[["code", "count"]].head(1).to_dict("records")
    [{'code': '330399001', 'count': 0}]
    """
    if level not in hierarchy.levels:
        raise InputError(f"level: {level!r} is not one of {', '.join(hierarchy.levels)}")
    chosen = select_points(points, since, until, categories)
    grids = hierarchy.grids(level)
    codes = grid_codes(hierarchy, chosen, level) if len(chosen) else pd.Series([], dtype=object)
    count = codes.value_counts().reindex(grids["code"], fill_value=0).to_numpy()
    households = pd.to_numeric(grids.get("households"), errors="coerce")
    households = np.full(len(grids), np.nan) if households is None else households.to_numpy(float)
    area_km2 = areas_km2(grids)
    return gpd.GeoDataFrame({
        "code": grids["code"].to_numpy(), "name": grids["name"].to_numpy(),
        "households": households, "count": count,
        "per_100_households": np.round(count / np.where(households > 0, households, np.nan) * 100,
                                       3),
        "per_km2": np.round(count / area_km2, 3),
    }, geometry=grids.geometry.to_numpy(), crs=4326)  # fmt: skip


def areas_km2(grids: gpd.GeoDataFrame) -> np.ndarray:
    """Area of each polygon in km², measured in the district's Gauss-Krüger zone.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> frame = gpd.GeoDataFrame(geometry=[box(120.0, 28.0, 120.01, 28.01)], crs=4326)
    >>> areas_km2(frame).round(3).tolist()
    [1.09]
    """
    crs = metric_crs(float(np.mean(grids.total_bounds[[0, 2]])))
    metric = shapely.transform(grids.geometry.to_numpy(), lambda xy: np.column_stack(
        from_wgs84(xy[:, 0], xy[:, 1], crs)))  # fmt: skip
    return shapely.area(metric) / 1e6


# --- animation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One time slice of an animation: its window, its events and its raster."""

    start: datetime
    end: datetime
    count: int
    raster: Raster


def time_slices(since: datetime, until: datetime, step: str | timedelta = "day") -> list:
    """Consecutive windows ``[start, end)`` from ``since`` to ``until`` (the last may be short).

    Examples
    --------
    >>> from datetime import timezone
    >>> slices = time_slices(datetime(2026, 11, 1, tzinfo=timezone.utc),
    ...                      datetime(2026, 11, 15, tzinfo=timezone.utc), "week")
    >>> [(a.day, b.day) for a, b in slices]
    [(1, 8), (8, 15)]
    """
    length = STEPS.get(step) if isinstance(step, str) else step
    if not isinstance(length, timedelta) or length <= timedelta(0):
        raise InputError(f"step: must be one of {', '.join(STEPS)} or a positive timedelta")
    check_window(since, until)
    count = math.ceil((until - since) / length)
    if count > MAX_FRAMES:
        raise InputError(f"step: {count} slices is more than {MAX_FRAMES}; choose a longer step")
    return [(since + i * length, min(since + (i + 1) * length, until)) for i in range(count)]


def kde_frames(
    points: pd.DataFrame,
    bounds: Sequence[float],
    since: datetime,
    until: datetime,
    step: str | timedelta = "day",
    size: tuple[int, int] = (512, 384),
    bandwidth_m: float = 200.0,
    kernel: str = "gaussian",
) -> list[Frame]:
    """An animation of the kernel density: one raster per day or week.

    Render every frame with one ``vmax`` (e.g. the largest of the frames' maxima)
    so that a colour means the same density in every frame.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> CHINA_TIME = ZoneInfo("Asia/Shanghai")
    >>> times = pd.to_datetime(["2026-11-01 10:00", "2026-11-02 10:00"]).tz_localize(CHINA_TIME)
    >>> points = pd.DataFrame({"lon": [120.65, 120.66], "lat": [28.01, 28.01],
    ...                        "time": times, "category": "fire"})
    >>> frames = kde_frames(points, (120.63, 27.99, 120.68, 28.03),
    ...                     datetime(2026, 11, 1, tzinfo=CHINA_TIME),
    ...                     datetime(2026, 11, 3, tzinfo=CHINA_TIME), size=(64, 48))
    >>> [f.count for f in frames]
    [1, 1]
    """
    frame = select_points(points, since, until)
    frames = []
    for start, end in time_slices(since, until, step):
        chosen = frame[in_window(frame, start, end)]
        raster = kde_raster(chosen["lon"], chosen["lat"], bounds, size, bandwidth_m, kernel)
        frames.append(Frame(start, end, len(chosen), raster))
    return frames


def hexagon_slices(
    points: pd.DataFrame,
    since: datetime,
    until: datetime,
    step: str | timedelta = "week",
    resolution: int = 9,
) -> dict:
    """GeoJSON time slices of H3 hexagon counts, for a time-slider on the map.

    Returns
    -------
    dict
        A FeatureCollection: one feature per hexagon and slice with events,
        properties ``h3``, ``start``, ``end`` (ISO 8601), ``count``; and
        ``slices``, the list of ``[start, end]`` of every slice.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> CHINA_TIME = ZoneInfo("Asia/Shanghai")
    >>> points = pd.DataFrame({"lon": [120.65], "lat": [28.01],
    ...     "time": pd.to_datetime(["2026-11-01 10:00"]).tz_localize(CHINA_TIME),
    ...     "category": "fire"})
    >>> fc = hexagon_slices(points, datetime(2026, 11, 1, tzinfo=CHINA_TIME),
    ...                     datetime(2026, 11, 15, tzinfo=CHINA_TIME), "week")
    >>> len(fc["slices"]), [f["properties"]["count"] for f in fc["features"]]
    (2, [1.0])
    """
    frame = select_points(points, since, until)
    slices = time_slices(since, until, step)
    features = []
    for start, end in slices:
        chosen = frame[in_window(frame, start, end)]
        cells = hexagons(chosen["lon"], chosen["lat"], resolution)
        window = {"start": start.isoformat(), "end": end.isoformat()}
        for cell, count, polygon in zip(cells["h3"], cells["count"], cells.geometry, strict=True):
            features.append(
                {
                    "type": "Feature",
                    "geometry": shapely.geometry.mapping(polygon),
                    "properties": {"h3": cell, **window, "count": float(count)},
                }
            )
    return {"type": "FeatureCollection", "features": features,
            "slices": [[a.isoformat(), b.isoformat()] for a, b in slices]}  # fmt: skip
