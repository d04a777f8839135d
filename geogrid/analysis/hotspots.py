"""Statistically sound hot spots (Getis-Ord Gi*) and how good a hot-spot map is (PAI).

Gi* compares the reports of a grid and its neighbours (Queen contiguity: grids
that share an edge or a corner, the grid itself included) with the district as
a whole. Its z-score says how unusual that neighbourhood is: ``|z| ≥ 1.645,
1.960, 2.576`` are hot (z > 0) or cold (z < 0) spots at 90, 95 and 99 %
confidence (two-sided, as in ArcGIS's Hot Spot Analysis).

The Predictive Accuracy Index tells a commander how well a map drawn from past
reports points at where the next reports come:
``PAI = (hits / all events) ÷ (area flagged / total area)``, with the map drawn
from a training window, the hits counted in a later test window, and the same
share of the area flagged by every method (kernel density, Gi*, plain counts).
A PAI of 1 is no better than chance; ``total area / area flagged`` is perfect.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from datetime import datetime

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from geogrid.analysis.events import check_window, grid_codes, select_points
from geogrid.analysis.heat import areas_km2, kde_raster
from geogrid.crs import geodesic_distance_m
from geogrid.errors import InputError
from geogrid.hierarchy import Hierarchy

#: (confidence in %, |z| at least), two-sided normal thresholds.
CONFIDENCE_Z = ((99, 2.576), (95, 1.960), (90, 1.645))
METHODS = ("kde", "gi_star", "counts")
METHOD_NAMES = {"kde": ("核密度", "kernel density"), "gi_star": ("Gi*热点", "Gi* hot spots"),
                "counts": ("事件数", "plain counts")}  # fmt: skip


def gi_star(
    grids: gpd.GeoDataFrame,
    values: npt.ArrayLike,
    permutations: int = 0,
    seed: int = 2026,
) -> gpd.GeoDataFrame:
    """Getis-Ord Gi* of a value per grid over Queen contiguity, with hot and cold spots.

    Parameters
    ----------
    grids : GeoDataFrame
        Polygons with ``code`` (and ``name``), e.g. ``hierarchy.grids("grid")``.
    values : array_like
        One value per grid, row-aligned (e.g. reports per grid), finite and ≥ 0.
    permutations : int
        0 (default): p-values from the normal approximation of z; otherwise from
        this many conditional permutations (doubled to two-sided).
    seed : int
        Seed of the permutations.

    Returns
    -------
    GeoDataFrame
        ``code``, ``name``, ``value``, ``neighbours``, ``z``, ``p``, ``spot`` (hot,
        cold, none), ``confidence`` (99, 95, 90 or 0), ``label_zh``, ``label_en``,
        geometry. A grid without neighbours (an island) is never a spot.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame({"code": [f"{i}" for i in range(49)]},
    ...     geometry=[box(i % 7, i // 7, i % 7 + 1, i // 7 + 1) for i in range(49)], crs=4326)
    >>> counts = [50 if (i % 7 in (2, 3, 4) and i // 7 in (2, 3, 4)) else 1 for i in range(49)]
    >>> spots = gi_star(cells, counts)
    >>> centre = spots.loc[24]
    >>> centre["spot"], int(centre["confidence"]), centre["label_zh"]
    ('hot', 99, '热点（99%置信）')
    """
    frame = _checked_grids(grids)
    y = _checked_values(values, len(frame))
    if not (isinstance(permutations, int) and 0 <= permutations <= 9999):
        raise InputError(f"permutations: must be a whole number 0–9999, got {permutations!r}")
    z, p, neighbours = _gi_star(frame, y, permutations, seed)
    confidence = np.zeros(len(frame), dtype=int)
    for level, threshold in reversed(CONFIDENCE_Z):
        confidence[np.abs(z) >= threshold] = level
    if permutations:
        confidence = np.where(p <= 1 - confidence / 100 + 1e-12, confidence, 0)
    spot = np.where(confidence == 0, "none", np.where(z > 0, "hot", "cold"))
    labels = [_label(s, c) for s, c in zip(spot, confidence, strict=True)]
    names = frame["name"] if "name" in frame else frame["code"]
    return gpd.GeoDataFrame({
        "code": frame["code"].to_numpy(), "name": names.to_numpy(), "value": y,
        "neighbours": neighbours, "z": np.round(z, 4), "p": np.round(p, 6), "spot": spot,
        "confidence": confidence, "label_zh": [a for a, _ in labels],
        "label_en": [b for _, b in labels],
    }, geometry=frame.geometry.to_numpy(), crs=frame.crs)  # fmt: skip


def _checked_grids(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if not isinstance(grids, gpd.GeoDataFrame) or "code" not in grids:
        raise InputError("grids: must be a GeoDataFrame of polygons with a 'code' column")
    if len(grids) < 3:
        raise InputError(f"grids: Gi* needs at least 3 grids, got {len(grids)}")
    if grids.crs is None:
        raise InputError("grids: the GeoDataFrame needs a CRS (EPSG:4326)")
    return grids.reset_index(drop=True)


def _checked_values(values: npt.ArrayLike, count: int) -> np.ndarray:
    try:
        y = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InputError("values: must be numbers, one per grid") from None
    if len(y) != count:
        raise InputError(f"values: needs one value per grid ({count}), got {len(y)}")
    if not (np.isfinite(y).all() and (y >= 0).all()):
        raise InputError("values: must be finite and ≥ 0 (counts or rates)")
    return y


def _gi_star(frame: gpd.GeoDataFrame, y: np.ndarray, permutations: int, seed: int):
    """z-scores, two-sided p-values and neighbour counts; NaN z for islands and flat data."""
    from esda.getisord import G_Local
    from libpysal.weights import Queen

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands and disconnected parts are expected
        weights = Queen.from_dataframe(frame, use_index=False, silence_warnings=True)
        neighbours = np.array([weights.cardinalities[i] for i in weights.id_order])
        if y.sum() <= 0 or np.ptp(y) == 0:
            return np.full(len(y), np.nan), np.ones(len(y)), neighbours
        result = G_Local(y, weights, transform="B", star=True, permutations=permutations,
                         seed=seed, keep_simulations=False, n_jobs=1)  # fmt: skip
    z = np.where(neighbours > 0, result.Zs, np.nan)
    p = np.minimum(2 * (result.p_sim if permutations else result.p_norm), 1.0)
    return z, np.where(neighbours > 0, p, 1.0), neighbours


def _label(spot: str, confidence: int) -> tuple[str, str]:
    if spot == "none":
        return "不显著", "not significant"
    zh = "热点" if spot == "hot" else "冷点"
    return f"{zh}（{confidence}%置信）", f"{spot} spot, {confidence} % confidence"


def hot_spots(
    hierarchy: Hierarchy,
    points: pd.DataFrame | None,
    level: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    categories: tuple[str, ...] = (),
    permutations: int = 0,
) -> gpd.GeoDataFrame:
    """Gi* of the reports per grid of a level (see :func:`gi_star`).

    ``level`` defaults to the hierarchy's :attr:`~geogrid.Hierarchy.default_level`.

    Examples
    --------
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> spots = hot_spots(h, None, "grid")
    >>> len(spots), set(spots["spot"])
    (225, {'none'})
    """
    level = hierarchy.chosen_level(level)
    chosen = select_points(points, since, until, categories)
    grids = hierarchy.grids(level)
    codes = grid_codes(hierarchy, chosen, level) if len(chosen) else pd.Series([], dtype=object)
    counts = codes.value_counts().reindex(grids["code"], fill_value=0).to_numpy()
    return gi_star(grids, counts, permutations)


# --- PAI -----------------------------------------------------------------------------


def pai(hits: float, events: float, flagged_area: float, total_area: float) -> float:
    """Predictive Accuracy Index: (hits / events) ÷ (flagged area / total area).

    Examples
    --------
    >>> pai(hits=30, events=100, flagged_area=5, total_area=100)
    6.0
    >>> pai(10, 0, 5, 100)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: events: no events in the test window, so no PAI
    """
    if not events > 0:
        raise InputError("events: no events in the test window, so no PAI")
    if not (0 <= hits <= events):
        raise InputError(f"hits: must be between 0 and the events ({events}), got {hits}")
    if not (total_area > 0 and 0 < flagged_area <= total_area):
        raise InputError("flagged_area: must be > 0 and at most the total area")
    return hits * total_area / (events * flagged_area)


def evaluate_pai(
    hierarchy: Hierarchy,
    points: pd.DataFrame,
    train: tuple[datetime, datetime],
    test: tuple[datetime, datetime],
    level: str | None = None,
    top_percent: float = 5.0,
    bandwidth_m: float = 200.0,
    cell_m: float = 50.0,
    categories: tuple[str, ...] = (),
) -> pd.DataFrame:
    """PAI of kernel density, Gi* and plain counts, side by side.

    Each method ranks the district from the training window's reports and flags
    its top ``top_percent`` of the area: KDE pixels of ``cell_m`` metres inside
    the district; for Gi* (by z) and counts, whole grids of ``level``, the fewest
    top grids that reach the share (default: the hierarchy's
    :attr:`~geogrid.Hierarchy.default_level`). Hits are test-window reports in flagged area.

    Returns
    -------
    DataFrame
        One row per method: ``method``, ``method_zh``, ``method_en``,
        ``area_percent`` (flagged, as drawn), ``hits``, ``events``,
        ``hit_percent``, ``pai``.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> CHINA_TIME = ZoneInfo("Asia/Shanghai")
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> t = pd.to_datetime(["2026-10-05", "2026-11-05"]).tz_localize(CHINA_TIME)
    >>> points = pd.DataFrame({"lon": [120.65, 120.65], "lat": [28.01, 28.01], "time": t,
    ...                        "category": "fire", "grid_code": "330399002003005"})
    >>> oct_, nov, dec = (datetime(2026, m, 1, tzinfo=CHINA_TIME) for m in (10, 11, 12))
    >>> table = evaluate_pai(h, points, (oct_, nov), (nov, dec), top_percent=2)
    >>> table["method"].tolist(), table["hits"].tolist()
    (['kde', 'gi_star', 'counts'], [1, 1, 1])
    """
    level = hierarchy.chosen_level(level)
    if not (isinstance(top_percent, int | float) and 0 < top_percent < 100):
        raise InputError(f"top_percent: must be between 0 and 100, got {top_percent!r}")
    check_window(*train)
    check_window(*test)
    past = select_points(points, *train, categories)
    future = select_points(points, *test, categories)
    if len(future) == 0:
        raise InputError("test: no reports in the test window, so nothing to predict")
    share = top_percent / 100
    rows = [
        _kde_row(hierarchy, level, past, future, share, bandwidth_m, cell_m),
        *_grid_rows(hierarchy, level, past, future, share),
    ]
    return pd.DataFrame(rows)


def _grid_rows(hierarchy, level: str, past, future, share: float) -> list[dict]:
    grids = hierarchy.grids(level)
    area = areas_km2(grids)
    trained = _counts(hierarchy, past, level, grids)
    tested = _counts(hierarchy, future, level, grids)
    z = gi_star(grids, trained)["z"].to_numpy() if len(grids) >= 3 else np.zeros(len(grids))
    rows = []
    for method, score in (("gi_star", np.nan_to_num(z, nan=-np.inf)), ("counts", trained)):
        flagged = flag_top(score, area, share)
        rows.append(_row(method, tested[flagged].sum(), len(future), area[flagged].sum(),
                         area.sum()))  # fmt: skip
    return rows


def _counts(hierarchy, points, level: str, grids) -> np.ndarray:
    if len(points) == 0:
        return np.zeros(len(grids))
    codes = grid_codes(hierarchy, points, level)
    return codes.value_counts().reindex(grids["code"], fill_value=0).to_numpy(dtype=float)


def flag_top(score: npt.ArrayLike, area: npt.ArrayLike, share: float) -> np.ndarray:
    """Mask of the fewest highest-scoring units whose area reaches ``share`` of the total.

    Ties keep the units' order, so the result is deterministic.

    Examples
    --------
    >>> flag_top([5, 9, 1, 7], [1, 1, 1, 1], 0.4).tolist()
    [False, True, False, True]
    """
    score, area = np.asarray(score, dtype=float), np.asarray(area, dtype=float)
    order = np.argsort(-score, kind="stable")
    reached = np.cumsum(area[order]) >= share * area.sum() - 1e-12
    count = int(np.argmax(reached)) + 1 if reached.any() else len(order)
    flagged = np.zeros(len(score), dtype=bool)
    flagged[order[:count]] = True
    return flagged


def _kde_row(hierarchy, level: str, past, future, share, bandwidth_m, cell_m) -> dict:
    """Flag the hottest KDE pixels inside the district; count test reports in them."""
    if not (isinstance(cell_m, int | float) and 5 <= cell_m <= 5000):
        raise InputError(f"cell_m: must be 5–5000 metres, got {cell_m!r}")
    grids = hierarchy.grids(level)
    bounds = tuple(float(v) for v in grids.total_bounds)
    size = _pixels(bounds, cell_m)
    raster = kde_raster(past["lon"], past["lat"], bounds, size, bandwidth_m)
    inside = _inside_mask(grids, raster)
    score = np.where(inside, raster.values, -np.inf).ravel()
    flagged = flag_top(score, inside.ravel().astype(float), share) & inside.ravel()
    row, column = _pixel_of(raster, future["lon"].to_numpy(), future["lat"].to_numpy())
    hit = np.zeros(len(row), dtype=bool)
    ok = (row >= 0) & (row < raster.height) & (column >= 0) & (column < raster.width)
    hit[ok] = flagged.reshape(raster.values.shape)[row[ok], column[ok]]
    return _row("kde", int(hit.sum()), len(future), float(flagged.sum()), float(inside.sum()))


def _pixels(bounds: Sequence[float], cell_m: float) -> tuple[int, int]:
    west, south, east, north = bounds
    width_m = float(geodesic_distance_m(west, (south + north) / 2, east, (south + north) / 2))
    height_m = float(geodesic_distance_m(west, south, west, north))
    return (min(max(math.ceil(width_m / cell_m), 1), 4096),
            min(max(math.ceil(height_m / cell_m), 1), 4096))  # fmt: skip


def _inside_mask(grids: gpd.GeoDataFrame, raster) -> np.ndarray:
    a, _, west, _, e, north = raster.transform
    lon = west + (np.arange(raster.width) + 0.5) * a
    lat = north + (np.arange(raster.height) + 0.5) * e
    grid_lon, grid_lat = np.meshgrid(lon, lat)
    district = shapely.union_all(grids.geometry.to_numpy())
    return shapely.contains_xy(district, grid_lon, grid_lat)


def _pixel_of(raster, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, _, west, _, e, north = raster.transform
    return np.floor((lat - north) / e).astype(int), np.floor((lon - west) / a).astype(int)


def _row(method: str, hits: float, events: int, flagged: float, total: float) -> dict:
    zh, en = METHOD_NAMES[method]
    return {"method": method, "method_zh": zh, "method_en": en,
            "area_percent": round(100 * flagged / total, 3), "hits": int(hits),
            "events": int(events), "hit_percent": round(100 * hits / events, 3),
            "pai": round(pai(hits, events, flagged, total), 4)}  # fmt: skip
