"""Four-colour risk zones (四色安全图谱): hazards to colours, grids to colours, with reasons.

A hazard's assessment gives its colour: LEC ``D = L × E × C`` (D ≥ 320 red 重大,
160–320 orange 较大, 70–160 yellow 一般, below 70 blue 低) or the risk matrix
``R = L × S`` (20–25 red, 10–16 orange, 4–9 yellow, 1–3 blue). A hazard with an
influence radius (a gas station, a chemical store) is a zone: its geometry
buffered by the radius in metres, in the local CGCS2000 Gauss-Krüger zone.

A grid's colour, as of a moment (the default rules, all in :class:`RiskRules`):

1. the worst colour of the hazards (zones) in or touching the grid, blue if none;
2. raised one step per pressure rule passed: reports of the chosen categories in
   the last ``window_days`` per 100 households, ranked in the district's
   distribution of that level (top 5 % raises one step) or against fixed rates;
   a grid needs ``min_events`` reports to be raised at all;
3. a parent is at least as bad as its worst child (``parent_rule="worst_child"``);
   levels that only partly cover their parents (buildings) are coloured on their
   own and do not raise their parents.

Every grid gets its reasons in words and numbers, Chinese first, and its trend
against the previous window of the same length.

Points (reports) come as a DataFrame with ``lon``, ``lat`` (WGS-84), ``time``
(time-zone aware: when it happened) and ``category``, and optionally a
``<level>_code`` column per level (as :meth:`geogrid.Hierarchy.assign` names
them); grids are assigned here when those columns are missing.

Why one module of ~730 lines: the four colours are one rule set, from a
hazard's score to a grid's colour and the reasons a commander reads for it in
Chinese and English (about 100 lines of wording); the event selection it used
to hold is :mod:`geogrid.analysis.events`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import IntEnum
from functools import lru_cache
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.analysis.events import (
    as_of_moment,
    category_mask,
    check_points,
    in_window,
    with_grid_codes,
)
from geogrid.categories import CategoryTree
from geogrid.crs import from_wgs84, gauss_kruger_epsg, geometry_to_wgs84, metric_crs
from geogrid.errors import InputError
from geogrid.hazards import LEC_SCALES, MATRIX_SCALE, METHODS
from geogrid.hierarchy import Hierarchy

PRESSURE_MODES = ("distribution", "rate")
PARENT_RULES = ("worst_child", "own")
MAX_NAMES = 3


class RiskColour(IntEnum):
    """The four colours, ordered so that ``max`` is the worse one.

    Examples
    --------
    >>> RiskColour.RED.key, RiskColour.RED.zh, RiskColour.RED.grade_zh, RiskColour.RED.grade_en
    ('red', '红', '重大', 'major')
    >>> max(RiskColour.YELLOW, RiskColour.ORANGE).key
    'orange'
    """

    BLUE = 0
    YELLOW = 1
    ORANGE = 2
    RED = 3

    @property
    def key(self) -> str:
        """English name of the colour: red, orange, yellow, blue."""
        return self.name.lower()

    @property
    def zh(self) -> str:
        """Chinese name of the colour: 红, 橙, 黄, 蓝."""
        return "蓝黄橙红"[self]

    @property
    def grade_zh(self) -> str:
        """Chinese risk grade: 重大, 较大, 一般, 低."""
        return ("低", "一般", "较大", "重大")[self]

    @property
    def grade_en(self) -> str:
        """English risk grade: major, significant, general, low."""
        return ("low", "general", "significant", "major")[self]

    @property
    def hex(self) -> str:
        """Fill colour for maps."""
        return ("#2b6cc4", "#ffd92f", "#fb8c00", "#e31a1c")[self]


@dataclass(frozen=True)
class RiskRules:
    """The configurable rules of the four-colour map; defaults from DESIGN.md.

    Parameters
    ----------
    lec_thresholds
        LEC D at which yellow, orange and red start (D ≥ threshold).
    matrix_thresholds
        Risk-matrix R at which yellow, orange and red start.
    categories
        Report categories counted as event pressure (sub-categories included);
        empty means every category.
    window_days
        Length of the recent window in days; the trend compares with the window before.
    pressure
        ``"distribution"``: raise a grid one step for each ``top_percent`` it is in,
        ranked by reports per 100 households among the grids of its level;
        ``"rate"``: one step for each of ``rate_thresholds`` it reaches.
    top_percent, rate_thresholds
        See ``pressure``.
    min_events
        Fewer reports than this never raise a grid (small numbers are noise).
    parent_rule
        ``"worst_child"``: a parent is at least its worst child's colour;
        ``"own"``: every grid only by its own hazards and reports.

    Examples
    --------
    >>> RiskRules(window_days=7).window_days
    7
    >>> RiskRules(window_days=0)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: window_days: the time window must be at least 1 day, got 0
    """

    lec_thresholds: tuple[float, float, float] = (70.0, 160.0, 320.0)
    matrix_thresholds: tuple[float, float, float] = (4.0, 10.0, 20.0)
    categories: tuple[str, ...] = ("dispute", "public_order", "safety", "fire")
    window_days: int = 30
    pressure: str = "distribution"
    top_percent: tuple[float, ...] = (5.0,)
    rate_thresholds: tuple[float, ...] = (5.0, 10.0)
    min_events: int = 3
    parent_rule: str = "worst_child"

    def __post_init__(self) -> None:
        _check_thresholds("lec_thresholds", self.lec_thresholds, 3)
        _check_thresholds("matrix_thresholds", self.matrix_thresholds, 3)
        _check_thresholds("rate_thresholds", self.rate_thresholds, None)
        if not (isinstance(self.window_days, int) and self.window_days >= 1):
            raise InputError(
                f"window_days: the time window must be at least 1 day, got {self.window_days!r}"
            )
        _check_choice("pressure", self.pressure, PRESSURE_MODES)
        _check_choice("parent_rule", self.parent_rule, PARENT_RULES)
        if not all(_number(p) and 0 < p < 100 for p in self.top_percent):
            raise InputError(f"top_percent: each must be between 0 and 100, got {self.top_percent}")
        if not (isinstance(self.min_events, int) and self.min_events >= 1):
            raise InputError(f"min_events: must be a whole number ≥ 1, got {self.min_events!r}")
        if isinstance(self.categories, str) or not all(
            isinstance(c, str) and c for c in self.categories
        ):
            raise InputError("categories: must be a tuple of category codes")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_thresholds(field: str, values: tuple, count: int | None) -> None:
    values = tuple(values)
    if count is not None and len(values) != count:
        raise InputError(f"{field}: needs {count} numbers (yellow, orange, red), got {values}")
    if not all(_number(v) and v > 0 for v in values) or list(values) != sorted(set(values)):
        raise InputError(f"{field}: must be positive and strictly increasing, got {values}")


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"{field}: {value!r} is not one of {', '.join(choices)}")


DEFAULT_RULES = RiskRules()

# --- hazards ---------------------------------------------------------------------------

#: Every D that L × E × C can take on the LEC scales, and every R of the matrix.
_POSSIBLE = {
    "lec": np.array(sorted({math.prod(v) for v in itertools.product(*LEC_SCALES.values())})),
    "matrix": np.array(sorted({a * b for a in MATRIX_SCALE for b in MATRIX_SCALE})),
}


def hazard_colour(method: str, score: float, rules: RiskRules = DEFAULT_RULES) -> RiskColour:
    """The colour of one assessed hazard.

    Parameters
    ----------
    method : {"lec", "matrix"}
        LEC (D = L × E × C) or the risk matrix (R = L × S).
    score : float
        D or R, within the range the scales span.
    rules : RiskRules
        The thresholds.

    Examples
    --------
    >>> hazard_colour("lec", 270).key, hazard_colour("lec", 320).key
    ('orange', 'red')
    >>> hazard_colour("matrix", 9).key
    'yellow'
    >>> hazard_colour("matrix", 30)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: score: 30 is outside the risk-matrix range (L × S) 1–25
    """
    _check_choice("method", method, METHODS)
    _check_scores(np.array([method]), np.array([score], dtype=float), "score")
    thresholds = rules.lec_thresholds if method == "lec" else rules.matrix_thresholds
    return RiskColour(int(np.searchsorted(thresholds, score, side="right")))


def hazard_colours(hazards: pd.DataFrame, rules: RiskRules = DEFAULT_RULES) -> np.ndarray:
    """Colour (0 blue … 3 red) of every hazard of a frame, checked first.

    Parameters
    ----------
    hazards : DataFrame
        ``method`` and ``scores`` (dicts of L/E/C or L/S) or ``score`` per row,
        as :meth:`geogrid.storage.Store.hazards` returns them.

    Examples
    --------
    >>> frame = pd.DataFrame({"method": ["lec", "matrix"],
    ...                       "scores": [{"L": 3, "E": 6, "C": 40}, {"L": 2, "S": 2}]})
    >>> [RiskColour(c).key for c in hazard_colours(frame)]
    ['red', 'yellow']
    """
    return _assess(hazards, rules)[0]


def _assess(hazards: pd.DataFrame, rules: RiskRules) -> tuple[np.ndarray, np.ndarray]:
    """Every hazard's colour and score (D or R), its method and scores checked first."""
    if len(hazards) == 0:
        return np.zeros(0, dtype=np.int8), np.zeros(0)
    if "method" not in hazards:
        raise InputError("hazards: needs a 'method' column (lec or matrix)")
    method = hazards["method"].astype(str).to_numpy()
    unknown = sorted(set(method) - set(METHODS))
    if unknown:
        raise InputError(f"method: {unknown[0]!r} is not one of {', '.join(METHODS)}")
    score = _hazard_scores(hazards, method)
    colours = np.zeros(len(hazards), dtype=np.int8)
    for name, thresholds in (("lec", rules.lec_thresholds), ("matrix", rules.matrix_thresholds)):
        mine = method == name
        colours[mine] = np.searchsorted(thresholds, score[mine], side="right")
    return colours, score


def _hazard_scores(hazards: pd.DataFrame, method: np.ndarray) -> np.ndarray:
    if "scores" in hazards:
        keys = {"lec": ("L", "E", "C"), "matrix": ("L", "S")}
        pairs = list(zip(method, hazards["scores"], strict=True))
        for row, (kind, scores) in enumerate(pairs):
            _check_scales(kind, scores, row)
        return np.array([math.prod(s[k] for k in keys[m]) for m, s in pairs], dtype=float)
    if "score" not in hazards:
        raise InputError("hazards: needs a 'scores' or a 'score' column")
    score = pd.to_numeric(hazards["score"], errors="coerce").to_numpy(dtype=float)
    _check_scores(method, score, "score")
    return score


def _check_scales(method: str, scores: Any, row: int) -> None:
    scales = LEC_SCALES if method == "lec" else dict.fromkeys("LS", MATRIX_SCALE)
    label = "the LEC scale" if method == "lec" else "the matrix scale 1–5"
    if not isinstance(scores, Mapping) or set(scores) != set(scales):
        raise InputError(f"hazards[{row}].scores: needs exactly {', '.join(scales)} for {label}")
    for key, allowed in scales.items():
        if scores[key] not in allowed:
            raise InputError(f"hazards[{row}].scores.{key}: {scores[key]} is not on {label}")


def _check_scores(method: np.ndarray, score: np.ndarray, field: str) -> None:
    """A bare score must lie in the range its scales span (a scores dict is checked exactly)."""
    for name, label in (("lec", "LEC range (L × E × C)"), ("matrix", "risk-matrix range (L × S)")):
        mine = score[method == name]
        low, high = _POSSIBLE[name][0], _POSSIBLE[name][-1]
        bad = ~((mine >= low) & (mine <= high))  # NaN is bad too
        if bad.any():
            raise InputError(f"{field}: {mine[bad][0]:g} is outside the {label} {low:g}–{high:g}")


def hazard_zones(hazards: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Each hazard's reach in EPSG:4326: its geometry buffered by ``radius_m`` metres.

    The buffer is drawn in the CGCS2000 3-degree Gauss-Krüger zone of the hazard's
    longitude, so 100 m are 100 m on the ground.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> from geogrid.crs import geodesic_area_m2
    >>> frame = gpd.GeoDataFrame({"radius_m": [100.0, 0.0]},
    ...                          geometry=[Point(120.65, 28.0), Point(120.66, 28.0)], crs=4326)
    >>> zones = hazard_zones(frame)
    >>> round(geodesic_area_m2(zones.iloc[0]) / (math.pi * 100**2), 2), zones.iloc[1].geom_type
    (1.0, 'Point')
    """
    frame = _checked_frame(hazards, "hazards")
    geometry = frame.geometry.to_numpy().copy()
    radius = _radius(frame)
    reach = np.flatnonzero(radius > 0)
    lon = shapely.get_x(shapely.centroid(geometry[reach]))
    epsg = np.array([gauss_kruger_epsg(x) for x in lon], dtype=int)
    for code in np.unique(epsg):
        rows = reach[epsg == code]
        crs = metric_crs(float(lon[epsg == code][0]))
        metric = shapely.transform(geometry[rows], lambda xy, c=crs: np.column_stack(
            from_wgs84(xy[:, 0], xy[:, 1], c)))  # fmt: skip
        geometry[rows] = geometry_to_wgs84(shapely.buffer(metric, radius[rows], quad_segs=16), crs)
    return gpd.GeoSeries(geometry, index=frame.index, crs=4326)


def _radius(frame: pd.DataFrame) -> np.ndarray:
    if "radius_m" not in frame:
        return np.zeros(len(frame))
    radius = pd.to_numeric(frame["radius_m"], errors="coerce").fillna(0).to_numpy(dtype=float)
    if ((radius < 0) | (radius > 50_000)).any():
        raise InputError("radius_m: must be between 0 and 50000 m")
    return radius


def _checked_frame(frame: gpd.GeoDataFrame, field: str) -> gpd.GeoDataFrame:
    """A GeoDataFrame in EPSG:4326 (reprojected if it is in another CRS)."""
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{field}: must be a GeoDataFrame")
    if frame.crs is None:
        raise InputError(f"{field}: the GeoDataFrame needs a CRS (EPSG:4326)")
    return frame if frame.crs.to_epsg() == 4326 else frame.to_crs(4326)


# --- colouring grids -------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """Reports of the chosen categories in the recent window and in the one before.

    Per level, each report's grid as a row position in ``hierarchy.grids(level)``
    (-1 outside every grid); ``roots`` names the top-level categories and
    ``recent_root`` holds each recent report's one as a position in ``roots``.
    """

    days: int
    recent: dict[str, np.ndarray]
    previous: dict[str, np.ndarray]
    roots: list[str]
    recent_root: np.ndarray


def colour_grids(
    hierarchy: Hierarchy,
    hazards: gpd.GeoDataFrame | None,
    points: pd.DataFrame | None,
    as_of: date | datetime | str | None = None,
    rules: RiskRules = DEFAULT_RULES,
    categories: CategoryTree | None = None,
) -> dict[str, gpd.GeoDataFrame]:
    """The four-colour map: every grid of every level with its colour, reasons and trend.

    Parameters
    ----------
    hierarchy : Hierarchy
        The district.
    hazards : GeoDataFrame or None
        ``method``, ``scores`` (or ``score``), optional ``name`` and ``radius_m``,
        geometry in EPSG:4326 (as :meth:`geogrid.storage.Store.hazards`). A
        ``created_at`` column, when present, hides hazards recorded after ``as_of``.
    points : DataFrame or None
        Reports (see the module's docstring).
    as_of : date, datetime, str or None
        End of the recent window; a date means the end of that day (China time);
        None means now.
    rules : RiskRules
        Thresholds, pressure and parent rules.
    categories : CategoryTree, optional
        For the names of categories in the reasons (default: the packaged tree).

    Returns
    -------
    dict of level key → GeoDataFrame
        ``code``, ``name``, ``parent``, ``households``, ``colour`` (red/orange/yellow/
        blue), ``colour_zh``, ``grade_zh``, ``risk`` (0–3), ``hazard_colour``,
        ``hazards``, ``events``, ``events_prev``, ``pressure`` (reports per 100
        households), ``top_percent``, ``raised``, ``colour_prev``, ``trend``
        (up/down/steady), ``reasons_zh``, ``reasons_en``, ``reasons``, geometry.

    Examples
    --------
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> maps = colour_grids(h, None, None, "2026-11-23")
    >>> maps["grid"]["colour"].unique().tolist(), maps["grid"]["reasons"].iloc[0]
    (['blue'], '无隐患，无重点事件 / no hazards, no reported events')
    """
    tree = categories or _default_tree()
    end = as_of_moment(as_of, tree.calendar.zone)  # a date: its end in the district's zone
    zones = _assessed_hazards(hazards, end, rules)
    window = _windows(hierarchy, check_points(points), end, rules)
    tables = {key: _own_colours(hierarchy, key, zones, window, rules) for key in hierarchy.levels}
    if rules.parent_rule == "worst_child":
        _raise_parents(hierarchy, tables)
    return {
        key: _finished(hierarchy, key, tables[key], window, rules, tree) for key in hierarchy.levels
    }


@lru_cache(maxsize=1)
def _default_tree() -> CategoryTree:
    return CategoryTree.default()


def _assessed_hazards(
    hazards: gpd.GeoDataFrame | None, end: datetime, rules: RiskRules
) -> gpd.GeoDataFrame:
    """The hazards known at ``end``: name, colour and score, their zone as geometry."""
    if hazards is None or len(hazards) == 0:
        empty = {"name": [], "colour": np.zeros(0, dtype=np.int8), "score": []}
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    frame = _checked_frame(hazards, "hazards")
    if "created_at" in frame:
        frame = frame[pd.to_datetime(frame["created_at"], utc=True) < pd.Timestamp(end)]
    colours, score = _assess(frame, rules)
    names = frame["name"].astype(str).to_numpy() if "name" in frame else ["隐患"] * len(frame)
    return gpd.GeoDataFrame(
        {"name": names, "colour": colours, "score": score},
        geometry=hazard_zones(frame).to_numpy(),
        crs=4326,
    )


def _windows(hierarchy: Hierarchy, points: pd.DataFrame, end: datetime, rules) -> _Window:
    span = timedelta(days=rules.window_days)
    # One mask, one copy of the columns needed: the input may hold millions of rows.
    chosen = category_mask(points["category"], rules.categories) & in_window(
        points, end - 2 * span, end
    )
    needed = ["time", "category", "lon", "lat"]
    needed += [f"{k}_code" for k in hierarchy.levels if f"{k}_code" in points]
    both = with_grid_codes(hierarchy, points.loc[chosen, needed])
    recent = in_window(both, end - span, end)
    positions = {key: _positions(both[f"{key}_code"], hierarchy.grids(key)["code"])
                 for key in hierarchy.levels}  # fmt: skip
    roots = _roots(both["category"][recent])
    return _Window(rules.window_days, {k: v[recent] for k, v in positions.items()},
                   {k: v[~recent] for k, v in positions.items()}, list(roots.categories),
                   np.asarray(roots.codes))  # fmt: skip


def _positions(codes: pd.Series, grid_codes: pd.Series) -> np.ndarray:
    """Row position of each code among the grids' codes; -1 for none or unknown."""
    return np.asarray(pd.Categorical(codes, categories=grid_codes.to_numpy()).codes, dtype=np.int64)


def _roots(categories: pd.Series) -> pd.Categorical:
    """The top-level category of each report (``dispute`` for ``dispute.family``)."""
    kinds = categories.astype("category")
    roots = [str(c).split(".", 1)[0] for c in kinds.cat.categories]
    names = sorted(set(roots))
    lookup = np.array([names.index(r) for r in roots] + [-1], dtype=int)
    return pd.Categorical.from_codes(lookup[kinds.cat.codes.to_numpy()], names)


def _own_colours(hierarchy, level, zones, window: _Window, rules: RiskRules) -> pd.DataFrame:
    """Per grid of a level: hazard colour and counts, reports, pressure, own colour."""
    grids = hierarchy.grids(level)
    table = _hazard_hits(grids, zones)
    table.insert(0, "code", grids["code"].to_numpy())
    households = _households(grids)
    for suffix, where in (("", window.recent[level]), ("_prev", window.previous[level])):
        table["events" + suffix] = np.bincount(where[where >= 0], minlength=len(grids))
        table["pressure" + suffix] = _per_100(table["events" + suffix].to_numpy(), households)
        steps, share = _pressure_steps(table, suffix, rules)
        table["raised" + suffix], table["share" + suffix] = steps, share
        own = np.minimum(table["hazard_colour"] + steps, RiskColour.RED)
        table["own" + suffix] = table["risk" + suffix] = own
    table["child_colour"], table["child_code"] = -1, ""
    table["child_colour_prev"] = -1
    return table


def _households(grids: pd.DataFrame) -> np.ndarray:
    if "households" not in grids:
        return np.full(len(grids), np.nan)
    values = pd.to_numeric(grids["households"], errors="coerce").to_numpy(dtype=float)
    return np.where(values > 0, values, np.nan)


def _per_100(events: np.ndarray, households: np.ndarray) -> np.ndarray:
    """Reports per 100 households; NaN where the households are unknown."""
    return np.round(events / households * 100, 2)


def _pressure_steps(table: pd.DataFrame, suffix: str, rules: RiskRules):
    """Steps each grid is raised by, and its rank share in the level (1/n = the top)."""
    events = table["events" + suffix].to_numpy()
    rate = table["pressure" + suffix]
    basis = rate if rate.notna().any() else pd.Series(events, index=table.index, dtype=float)
    share = (basis.rank(ascending=False, method="min") / len(table)).to_numpy()
    enough = (events >= rules.min_events) & basis.notna().to_numpy()
    if rules.pressure == "distribution":
        steps = sum((share <= p / 100).astype(int) for p in rules.top_percent)
    else:
        steps = sum((rate.to_numpy() >= t).astype(int) for t in rules.rate_thresholds)
    return np.where(enough, steps, 0), np.where(enough, share, np.nan)


def _hazard_hits(grids: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per grid code: worst hazard colour, hazards per colour, and ``names`` of the worst.

    ``names`` holds, per colour from red down to yellow, up to three names of the
    grid's hazards of that colour, highest score first.
    """
    codes = grids["code"].to_numpy()
    hits = pd.DataFrame({"hazard_colour": 0, "hazards": 0}, index=codes)
    hits["names"] = [{} for _ in codes]
    for colour in RiskColour:
        hits[f"n_{colour.key}"] = 0
    if len(zones) == 0:
        return hits
    zone_index, grid_index = grids.sindex.query(zones.geometry, predicate="intersects")
    pairs = pd.DataFrame(
        {
            "grid": grid_index,
            "colour": zones["colour"].to_numpy()[zone_index],
            "score": zones["score"].to_numpy()[zone_index],
            "zone": zone_index,
        }
    )
    counts = pairs.groupby(["grid", "colour"]).size().unstack(fill_value=0)
    for colour in counts.columns:
        column = hits.columns.get_loc(f"n_{RiskColour(colour).key}")
        hits.iloc[counts.index, column] = counts[colour].to_numpy()
    hits["hazards"] = hits[[f"n_{c.key}" for c in RiskColour]].sum(axis=1)
    worst = pairs.groupby("grid")["colour"].max()
    hits.iloc[worst.index, hits.columns.get_loc("hazard_colour")] = worst.to_numpy()
    _name_hazards(hits["names"].to_numpy(), pairs, zones["name"].to_numpy())
    return hits


def _name_hazards(names: np.ndarray, pairs: pd.DataFrame, zone_names: np.ndarray) -> None:
    """Fill each grid's dict colour → up to MAX_NAMES hazard names, highest score first."""
    named = pairs[pairs["colour"] > RiskColour.BLUE]
    named = named.sort_values(["grid", "colour", "score"], ascending=[True, False, False])
    first = named.groupby(["grid", "colour"]).cumcount().to_numpy() < MAX_NAMES
    named = named[first]
    for grid, colour, zone in zip(named["grid"], named["colour"], named["zone"], strict=True):
        names[grid].setdefault(colour, []).append(zone_names[zone])


def _raise_parents(hierarchy: Hierarchy, tables: dict[str, pd.DataFrame]) -> None:
    """Bottom-up: each parent takes at least its worst child's colour (full levels only)."""
    levels = hierarchy.levels
    for upper, lower in reversed(list(itertools.pairwise(levels))):
        if hierarchy.level(lower).coverage != "full":
            continue
        child = tables[lower].assign(parent=hierarchy.grids(lower)["parent"].to_numpy())
        parent = tables[upper]
        for suffix in ("", "_prev"):
            worst = child.sort_values("risk" + suffix, ascending=False).groupby("parent").head(1)
            worst = worst.set_index("parent").reindex(parent.index)
            colour = worst["risk" + suffix].fillna(-1).astype(int)
            parent["child_colour" + suffix] = colour.to_numpy()
            parent["risk" + suffix] = np.maximum(parent["own" + suffix], colour.to_numpy())
            if not suffix:
                parent["child_code"] = worst["code"].fillna("").to_numpy()


_LEVEL_STEPS_ZH = ("", "一", "两", "三")
#: (colour, key, Chinese grade), red first: plain values, as enum lookups are slow in loops.
_WORST_FIRST = tuple((int(c), c.key, c.grade_zh) for c in sorted(RiskColour, reverse=True))


def _finished(hierarchy, level, table, window: _Window, rules, tree) -> gpd.GeoDataFrame:
    """The output frame of one level: the grids, their colours and their reasons."""
    grids = hierarchy.grids(level)
    risk = table["risk"].to_numpy(dtype=int)
    previous = table["risk_prev"].to_numpy(dtype=int)
    colours = [RiskColour(r) for r in risk]
    frame = gpd.GeoDataFrame({
        "code": grids["code"].to_numpy(), "name": grids["name"].to_numpy(),
        "parent": grids["parent"].to_numpy(), "households": _households(grids),
        "colour": [c.key for c in colours], "colour_zh": [c.zh for c in colours],
        "grade_zh": [c.grade_zh for c in colours], "risk": risk,
        "hazard_colour": [RiskColour(r).key for r in table["hazard_colour"]],
        "hazards": table["hazards"].to_numpy(), "events": table["events"].to_numpy(),
        "events_prev": table["events_prev"].to_numpy(), "pressure": table["pressure"].to_numpy(),
        "top_percent": np.round(table["share"].to_numpy() * 100, 1),
        "raised": table["raised"].to_numpy(),
        "colour_prev": [RiskColour(r).key for r in previous],
        "trend": np.select([risk > previous, risk < previous], ["up", "down"], "steady"),
    }, geometry=grids.geometry.to_numpy(), crs=4326)  # fmt: skip
    texts = _Texts(hierarchy, level, window, rules, tree)
    zh, en = zip(*(texts.reasons(i, row) for i, row in enumerate(table.itertuples())), strict=True)
    frame["reasons_zh"], frame["reasons_en"] = list(zh), list(en)
    frame["reasons"] = [f"{a} / {b}" for a, b in zip(zh, en, strict=True)]
    return frame


class _Texts:
    """Reasons in words and numbers, Chinese and English, for the grids of one level."""

    def __init__(self, hierarchy: Hierarchy, level: str, window: _Window, rules, tree) -> None:
        self.level, self.label = level, hierarchy.level(level).label
        self.days, self.rules, self.tree = window.days, rules, tree
        self.breakdown = _breakdown(window, level, len(hierarchy.grids(level)))
        self.root_names = [self._name(root) for root in window.roots]
        lower = hierarchy.levels.index(level) + 1
        self.child = hierarchy.levels[lower] if lower < len(hierarchy.levels) else None
        self.child_names: dict = {}
        if self.child is not None:
            child_grids = hierarchy.grids(self.child)
            self.child_names = dict(zip(child_grids["code"], child_grids["name"], strict=True))

    def reasons(self, position: int, row) -> tuple[str, str]:
        parts = [*self._hazards(row), *self._events(position, row), *self._child(row),
                 *self._trend(row)]  # fmt: skip
        if not parts:
            return "无隐患，无重点事件", "no hazards, no reported events"
        zh, en = zip(*parts, strict=True)
        return "；".join(zh), "; ".join(en)

    def _hazards(self, row) -> list[tuple[str, str]]:
        if not row.hazards:
            return []
        parts = []
        for colour, key, grade in _WORST_FIRST:
            count = getattr(row, f"n_{key}")
            if not count:
                continue
            if colour == RiskColour.BLUE:
                parts.append((f"{count}处低风险隐患", f"{count} blue hazard{_s(count)}"))
                continue
            names = row.names.get(colour, [])
            etc_zh, etc_en = ("等", " …") if count > len(names) else ("", "")
            parts.append(
                (
                    f"{count}处{grade}隐患：{'、'.join(names)}{etc_zh}",
                    f"{count} {key} hazard{_s(count)}: {', '.join(names)}{etc_en}",
                )
            )
        return parts

    def _events(self, position: int, row) -> list[tuple[str, str]]:
        if not (row.events or row.events_prev):
            return []
        days = self.days
        if not row.events:
            return [
                (
                    f"{days}天内无重点事件（前{days}天{row.events_prev}起）",
                    f"no reports in {days} days ({row.events_prev} in the {days} before)",
                )
            ]
        kinds_zh, kinds_en = self._kinds(position)
        zh = f"{days}天内重点事件{row.events}起（{kinds_zh}）"
        en = f"{row.events} reports in {days} days ({kinds_en})"
        if not math.isnan(row.pressure):
            zh += f"，每百户{row.pressure:.1f}起"
            en += f", {row.pressure:.1f} per 100 households"
        if row.raised:
            extra_zh, extra_en = self._raise_text(row)
            zh += f"，{extra_zh}，升{_LEVEL_STEPS_ZH[min(row.raised, 3)]}级"
            en += f", {extra_en}: raised {row.raised} step{'s' if row.raised > 1 else ''}"
        zh += f"；前{days}天{row.events_prev}起"
        en += f"; {row.events_prev} in the {days} days before"
        return [(zh, en)]

    def _raise_text(self, row) -> tuple[str, str]:
        if self.rules.pressure == "distribution":
            top = min(p for p in self.rules.top_percent if row.share <= p / 100)
            return f"居全区{self.label}前{top:g}%", f"top {top:g} % of the {self.level} level"
        reached = max(t for t in self.rules.rate_thresholds if row.pressure >= t)
        return f"达到每百户{reached:g}起", f"at or above {reached:g} per 100 households"

    def _kinds(self, position: int) -> tuple[str, str]:
        counts = self.breakdown[position]
        order = [i for i in np.argsort(-counts, kind="stable") if counts[i]]
        zh = [f"{self.root_names[i][0]}{counts[i]}" for i in order]
        en = [f"{self.root_names[i][1]} {counts[i]}" for i in order]
        return "、".join(zh), ", ".join(en)

    def _name(self, root: str) -> tuple[str, str]:
        if root in self.tree:
            category = self.tree.get(root)
            return category.zh, category.en.lower()
        return root, root

    def _child(self, row) -> list[tuple[str, str]]:
        if row.child_colour <= row.own:
            return []
        colour = RiskColour(row.child_colour)
        name = self.child_names.get(row.child_code, row.child_code)
        return [(f"下级“{name}”为{colour.zh}色（{colour.grade_zh}）",
                 f"{self.child} {name} is {colour.key}")]  # fmt: skip

    def _trend(self, row) -> list[tuple[str, str]]:
        if row.risk == row.risk_prev:
            return []
        now, before = RiskColour(row.risk), RiskColour(row.risk_prev)
        verb_zh, verb_en = ("升", "up") if now > before else ("降", "down")
        return [(f"较前{self.days}天由{before.zh}{verb_zh}为{now.zh}",
                 f"{verb_en} from {before.key} in the {self.days} days before")]  # fmt: skip


def _breakdown(window: _Window, level: str, grids: int) -> np.ndarray:
    """Recent reports per grid (rows) and top-level category (columns)."""
    where, roots = window.recent[level], window.recent_root
    keep = (where >= 0) & (roots >= 0)
    width = max(len(window.roots), 1)
    flat = np.bincount(where[keep] * width + roots[keep], minlength=grids * width)
    return flat.reshape(grids, width)


def _s(count: int) -> str:
    return "s" if count > 1 else ""
