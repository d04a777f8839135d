"""Topology validation of a grid hierarchy: a report a planner can act on.

:func:`validate_levels` checks every level of a district (street → community →
grid → micro-grid → building) for the faults that break assignment and
statistics: invalid or empty polygons, duplicate codes, children without a
parent, codes that do not extend their parent's code (:func:`code_extends`: the
DB11/T 2157 and GB/T 2260 schemes), overlapping grids, parts
of a parent that no child covers, and children that stick out of their parent.

Every area is in m², measured with the CGCS2000 3-degree Gauss-Krüger zone of
the district; locations and problem geometries are reported in EPSG:4326 lon/lat.
Overlaps, gaps and overhangs smaller than ``sliver_m2`` are warnings (digitising
slivers), larger ones are errors, and anything at or below :data:`NOISE_FLOOR_M2`
is floating-point noise and dropped.

The overlays (intersection, difference, union) run on the lon/lat coordinates
the grids are stored and assigned in, and each resulting piece is measured as
its lon/lat area times the zone's local scale (m² per square degree, from the
projection's Jacobian at the piece). Projecting the polygons instead would bend
the topology: an edge is straight in lon/lat but curved in the projection, so a
child vertex lying exactly on its parent's edge lands millimetres off the
projected chord, and a cleanly tiled 1 km grid shows ~5 m² of false gaps and
overhangs (projecting only the pieces inflates zero-area slivers the same way).
In lon/lat the same data is exact, and a gap there is what point assignment
will miss.

A parent with no children at a full-coverage level below it gets a
``childless`` *warning* rather than one whole-parent ``gap`` error: it almost
always means the child layer's parent codes are wrong or the layer is an
extract, and counting the whole parent as a gap would drown the real gaps.

Why one module of ~900 lines: it holds one idea, validation, as a pipeline of
checks (geometry, codes, parents, overlaps, gaps, nesting) that share the
report's vocabulary; split, each check would import the same report builders.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geogrid.crs import gauss_kruger_epsg
from geogrid.errors import CRSError, InputError
from geogrid.models import Level

Severity = Literal["error", "warning"]
LonLat = tuple[float, float]

#: Areas at or below this many m² are noise from reprojection and overlay arithmetic
#: (shared edges that are not bit-identical after projection), never reported, not even as warnings.
NOISE_FLOOR_M2 = 1e-6

#: Issue kinds in the order the checks run; reports sort by this order within a level.
KINDS = (
    "invalid_geometry",
    "empty_geometry",
    "duplicate_code",
    "orphan",
    "code_prefix",
    "overlap",
    "gap",
    "outside_parent",
    "childless",
)

#: Lines per kind and level that :meth:`TopologyReport.to_text` prints before summarising the rest.
TEXT_LINES_PER_KIND = 200

_REASON_POINT = re.compile(r"\[\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)\s*\]")
_POLYGON, _COLLECTION = 3, 7  # shapely geometry type ids
_JACOBIAN_STEP_DEG = 1e-3  # about 100 m: far above float noise, far below scale variation


@dataclass(frozen=True)
class Issue:
    """One topology problem, located so a planner can find and fix it.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`, e.g. ``"overlap"``.
    severity : {"error", "warning"}
        Errors break assignment or statistics; warnings deserve a look.
    level : str
        Key of the level the problem belongs to (the child level for nesting problems).
    codes : tuple of str
        Grid codes involved: the grid itself, both grids of an overlap, or child and parent.
    message : str
        One readable sentence naming level, codes, problem, area and place.
    area_m2 : float or None
        Area of the problem in m², for overlaps, gaps, overhangs and childless parents.
    location : (lon, lat) or None
        A point inside the problem, in EPSG:4326.
    geometry : shapely geometry or None
        The problem area (or the offending polygon) in EPSG:4326.

    Examples
    --------
    >>> issue = Issue("orphan", "error", "grid", ("330399001002003",),
    ...               "grid 330399001002003 (row 4) has no parent")
    >>> issue.is_error, issue.codes
    (True, ('330399001002003',))
    """

    kind: str
    severity: Severity
    level: str
    codes: tuple[str, ...]
    message: str
    area_m2: float | None = None
    location: LonLat | None = None
    geometry: shapely.Geometry | None = None

    @property
    def is_error(self) -> bool:
        """True for errors, False for warnings."""
        return self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields; the geometry as a GeoJSON geometry object (or None)."""
        geometry = self.geometry
        return {
            "kind": self.kind,
            "severity": self.severity,
            "level": self.level,
            "codes": list(self.codes),
            "message": self.message,
            "area_m2": self.area_m2,
            "location": list(self.location) if self.location else None,
            "geometry": None if geometry is None else json.loads(shapely.to_geojson(geometry)),
        }


@dataclass(frozen=True)
class TopologyReport:
    """All issues found in a hierarchy, sorted errors first, then by level, kind and codes.

    Parameters
    ----------
    issues : iterable of Issue
        Sorted on construction.
    levels : tuple of str
        Level keys, top first; gives the level order for sorting and grouping.
    sliver_m2 : float
        Area below which overlaps, gaps and overhangs were reported as warnings.
    metric_crs : str or None
        The projected CRS the areas were computed in, e.g. ``"EPSG:4549"``.

    Examples
    --------
    >>> report = TopologyReport(issues=(), levels=("street", "community"))
    >>> report.ok
    True
    >>> print(report.to_text())
    Topology of 2 levels (street, community): 0 errors, 0 warnings.
    No problems found.
    """

    issues: tuple[Issue, ...]
    levels: tuple[str, ...] = ()
    sliver_m2: float = 1.0
    metric_crs: str | None = None

    def __post_init__(self) -> None:
        # Frozen dataclass: sort once here so every consumer sees the same order.
        order = {key: position for position, key in enumerate(self.levels)}
        ranked = sorted(self.issues, key=lambda issue: _sort_key(issue, order))
        object.__setattr__(self, "issues", tuple(ranked))
        object.__setattr__(self, "levels", tuple(self.levels))

    @property
    def errors(self) -> tuple[Issue, ...]:
        """The issues of severity ``"error"``."""
        return tuple(issue for issue in self.issues if issue.is_error)

    @property
    def warnings(self) -> tuple[Issue, ...]:
        """The issues of severity ``"warning"``."""
        return tuple(issue for issue in self.issues if not issue.is_error)

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings allowed)."""
        return not self.errors

    def counts(self) -> dict[str, dict[str, int]]:
        """Number of issues per kind and severity, e.g. ``{"gap": {"error": 2, "warning": 1}}``.

        Only kinds that occur are listed, in :data:`KINDS` order.
        """
        counts: dict[str, dict[str, int]] = {}
        for kind in _kinds_in_order(issue.kind for issue in self.issues):
            of_kind = [issue for issue in self.issues if issue.kind == kind]
            errors = sum(issue.is_error for issue in of_kind)
            counts[kind] = {"error": errors, "warning": len(of_kind) - errors}
        return counts

    def to_text(self, max_per_kind: int = TEXT_LINES_PER_KIND) -> str:
        """A readable summary: a header with totals, then one line per issue, grouped by level.

        At most ``max_per_kind`` lines are printed per kind within a level; the rest
        are summarised as "… and N more" (the JSON and GeoJSON outputs hold them all).
        """
        lines = [self._header()]
        if not self.issues:
            lines.append("No problems found.")
        for level in self._levels_with_issues():
            lines.extend(_level_lines(level, self._issues_at(level), max_per_kind))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable report: summary counts, thresholds and every issue."""
        return {
            "ok": self.ok,
            "levels": list(self.levels),
            "metric_crs": self.metric_crs,
            "sliver_m2": self.sliver_m2,
            "noise_floor_m2": NOISE_FLOOR_M2,
            "summary": {
                "errors": len(self.errors),
                "warnings": len(self.warnings),
                "by_kind": self.counts(),
            },
            "issues": [issue.to_dict() for issue in self.issues],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The :meth:`to_dict` report as a JSON string (non-ASCII kept readable)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """One row per issue in EPSG:4326; a point at the location when an issue has no geometry."""
        columns = ["kind", "severity", "level", "codes", "message", "area_m2", "lon", "lat"]
        records = [_issue_record(issue) for issue in self.issues]
        frame = pd.DataFrame.from_records(records, columns=[*columns, "geometry"])
        shapes = frame.pop("geometry").to_numpy(dtype=object)
        frame["area_m2"] = frame["area_m2"].astype(float)  # None → NaN, written as null
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(shapes), crs="EPSG:4326")

    def write_geojson(self, path: str | Path) -> Path:
        """Write :meth:`to_geodataframe` as a GeoJSON file QGIS can open; returns the path.

        With no issues the file is a valid, empty FeatureCollection.
        """
        path = Path(path)
        self.to_geodataframe().to_file(path, driver="GeoJSON")
        return path

    def _header(self) -> str:
        totals = f"{_plural(len(self.errors), 'error')}, {_plural(len(self.warnings), 'warning')}"
        head = f"Topology of {_plural(len(self.levels), 'level')} ({', '.join(self.levels)})"
        if not self.issues:
            return f"{head}: {totals}."
        units = f"areas in m² ({self.metric_crs})" if self.metric_crs else "areas in m²"
        slivers = f"overlaps, gaps and overhangs under {self.sliver_m2:g} m² are warnings"
        return f"{head}: {totals}; {units}; {slivers}."

    def _levels_with_issues(self) -> list[str]:
        present = {issue.level for issue in self.issues}
        unknown = sorted(present.difference(self.levels))
        return [key for key in self.levels if key in present] + unknown

    def _issues_at(self, level: str) -> list[Issue]:
        return [issue for issue in self.issues if issue.level == level]


def validate_levels(
    levels: Sequence[Level],
    grids: Mapping[str, gpd.GeoDataFrame],
    *,
    sliver_m2: float = 1.0,
) -> TopologyReport:
    """Check a grid hierarchy for invalid shapes, bad codes, overlaps, gaps and overhangs.

    Parameters
    ----------
    levels : sequence of Level
        The hierarchy, top level first; each level's parent level is the one before it.
    grids : mapping of str to GeoDataFrame
        ``grids[level.key]`` in EPSG:4326 with columns ``code``, ``parent`` (may be missing
        at the top level; None/NA when unknown), ``geometry`` and optionally ``name``. The
        index holds the original file row numbers, quoted as "row N" in messages.
    sliver_m2 : float, default 1.0
        Overlaps, gaps and overhangs smaller than this (m²) are warnings, not errors.

    Returns
    -------
    TopologyReport
        Every issue found; ``report.ok`` is True when there are no errors.

    Raises
    ------
    InputError
        No levels, a level missing from ``grids``, a missing column or a bad ``sliver_m2``.
    CRSError
        A layer that is not in EPSG:4326.

    Notes
    -----
    Per level: ``invalid_geometry`` (GEOS reason and point; later checks use the
    repaired polygon), ``empty_geometry``, ``duplicate_code`` and ``overlap`` (interiors
    of two different codes overlap). Per level and its parent level: ``orphan``,
    ``code_prefix`` (warning), ``outside_parent``, and for full-coverage levels ``gap``
    and ``childless`` (warning). Holes in the union of the top level are ``gap`` issues
    of the district. Gaps, overlaps and overhangs are split into connected parts.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> from geogrid.models import Level
    >>> levels = [Level("street", "街道", "streets.geojson", "code"),
    ...           Level("community", "社区", "communities.geojson", "code")]
    >>> grids = {
    ...     "street": gpd.GeoDataFrame({"code": ["330399001"], "parent": [None]},
    ...                                geometry=[box(120.650, 28.0, 120.654, 28.002)], crs=4326),
    ...     "community": gpd.GeoDataFrame({"code": ["330399001001"], "parent": ["330399001"]},
    ...                                   geometry=[box(120.650, 28.0, 120.653, 28.002)], crs=4326),
    ... }
    >>> report = validate_levels(levels, grids)
    >>> report.ok, report.counts()
    (False, {'gap': {'error': 1, 'warning': 0}})
    >>> gap = report.issues[0]
    >>> gap.level, gap.codes, round(gap.area_m2), [round(v, 4) for v in gap.location]
    ('community', ('330399001',), 21803, [120.6535, 28.001])
    """
    levels = tuple(levels)
    _check_arguments(levels, grids, sliver_m2)
    context = _Context.for_district(levels, grids, sliver_m2)
    layers = [_Layer.prepare(level, grids[level.key]) for level in levels]
    issues: list[Issue] = []
    for layer in layers:
        issues += _layer_issues(layer, context)
    issues += _district_holes(layers[0], context)
    for parent, child in pairwise(layers):
        issues += _nesting_issues(parent, child, context)
    return TopologyReport(
        issues=tuple(issues),
        levels=tuple(level.key for level in levels),
        sliver_m2=sliver_m2,
        metric_crs=f"EPSG:{context.epsg}",
    )


# --- input and preparation -------------------------------------------------------------------


def _check_arguments(
    levels: tuple[Level, ...], grids: Mapping[str, gpd.GeoDataFrame], sliver_m2: float
) -> None:
    if not levels:
        raise InputError("validate_levels needs at least one level")
    keys = [level.key for level in levels]
    if len(set(keys)) != len(keys):
        raise InputError(f"level keys must be unique, got {keys}")
    if not (math.isfinite(sliver_m2) and sliver_m2 >= 0):
        raise InputError(f"sliver_m2 must be a finite number >= 0, got {sliver_m2!r}")
    for position, level in enumerate(levels):
        _check_layer(level, grids.get(level.key), needs_parent=position > 0)


def _check_layer(level: Level, frame: gpd.GeoDataFrame | None, *, needs_parent: bool) -> None:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"level {level.key}: no GeoDataFrame in grids[{level.key!r}]")
    required = ["code", "parent"] if needs_parent else ["code"]
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise InputError(f"level {level.key}: missing column(s) {', '.join(missing)}")
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        raise CRSError(f"level {level.key}: grids must be in EPSG:4326, got {frame.crs}")


@dataclass(frozen=True)
class _Context:
    """The district's metric zone (for measuring areas) and the sliver threshold."""

    epsg: int
    sliver_m2: float
    forward: Transformer

    @classmethod
    def for_district(
        cls, levels: tuple[Level, ...], grids: Mapping[str, gpd.GeoDataFrame], sliver_m2: float
    ) -> _Context:
        # The bounding-box centre picks the same 3-degree zone as the true centroid at
        # district scale, and works on invalid polygons. Without any geometry any zone will do.
        bounds = np.array([grids[level.key].total_bounds for level in levels])
        finite = bounds[np.isfinite(bounds).all(axis=1)]
        lon = (finite[:, 0].min() + finite[:, 2].max()) / 2 if len(finite) else 0.0
        epsg = gauss_kruger_epsg(float(lon))
        forward = Transformer.from_crs(4326, epsg, always_xy=True)
        return cls(epsg=epsg, sliver_m2=sliver_m2, forward=forward)

    def severity(self, area_m2: float) -> Severity:
        return "warning" if area_m2 < self.sliver_m2 else "error"

    def areas(self, geoms: np.ndarray) -> np.ndarray:
        """Areas in m² of lon/lat geometries (NaN for empty ones); see the module docstring."""
        geoms = np.asarray(geoms, dtype=object)
        if geoms.size == 0:
            return np.zeros(0)
        scale = self._m2_per_square_degree(*_xy(shapely.centroid(geoms)))
        return shapely.area(geoms) * scale

    def _m2_per_square_degree(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        # |det J| of the projection by central differences; the scale varies so slowly
        # that its value at a piece's centroid measures the whole piece to ~1e-7.
        h = _JACOBIAN_STEP_DEG
        x, y = self.forward.transform(
            np.concatenate([lon + h, lon - h, lon, lon]),
            np.concatenate([lat, lat, lat + h, lat - h]),
        )
        x, y = np.reshape(x, (4, -1)) / (2 * h), np.reshape(y, (4, -1)) / (2 * h)
        return np.abs((x[0] - x[1]) * (y[2] - y[3]) - (x[2] - x[3]) * (y[0] - y[1]))


def _locations(geoms: np.ndarray) -> list[LonLat | None]:
    """A point inside each geometry; None for missing or empty ones."""
    xs, ys = _xy(shapely.point_on_surface(np.asarray(geoms, dtype=object)))
    return [None if math.isnan(x) else (float(x), float(y)) for x, y in zip(xs, ys, strict=True)]


def _xy(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of points as two arrays, NaN where a point is missing or empty."""
    xy = np.full((len(points), 2), np.nan)
    present = shapely.is_geometry(points) & ~shapely.is_empty(points)
    xy[present] = shapely.get_coordinates(points[present])
    return xy[:, 0], xy[:, 1]


@dataclass(frozen=True)
class _Layer:
    """One level's grids as arrays: codes, parents, file rows, and geometry.

    ``raw`` holds the geometry as given; ``shapes`` the same in valid polygonal form,
    or None where it was missing or empty (or held no area once repaired), so the
    geometric checks can skip it.
    """

    level: Level
    codes: np.ndarray
    parents: np.ndarray
    rows: np.ndarray
    raw: np.ndarray
    shapes: np.ndarray

    @classmethod
    def prepare(cls, level: Level, frame: gpd.GeoDataFrame) -> _Layer:
        parents = frame["parent"] if "parent" in frame.columns else pd.Series(None, frame.index)
        raw = np.asarray(frame.geometry.array, dtype=object)
        return cls(
            level=level,
            codes=_as_codes(frame["code"]),
            parents=_as_codes(parents, missing=None),
            rows=frame.index.to_numpy(),
            raw=raw,
            shapes=_usable(raw),
        )

    @property
    def key(self) -> str:
        return self.level.key

    def by_code(self) -> dict[str, shapely.Geometry]:
        """Usable geometry per code; rows sharing a code are merged so children can find them."""
        present = np.flatnonzero(shapely.is_geometry(self.shapes))
        groups = pd.Series(present).groupby(self.codes[present], sort=False)
        return {code: _union(self.shapes[rows.to_numpy()]) for code, rows in groups}


def _as_codes(values: pd.Series, missing: str | None = "") -> np.ndarray:
    """Codes as an object array of str; NA (and blank) become ``missing``."""
    text = values.astype("string")
    blank = text.isna() | (text.str.len() == 0)
    return np.where(blank.to_numpy(), missing, text.fillna("").to_numpy(dtype=object))


def _usable(geoms: np.ndarray) -> np.ndarray:
    """Repair invalid polygons, keep only their polygonal parts, and turn empties into None."""
    geoms = geoms.copy()
    invalid = np.flatnonzero(~shapely.is_valid(geoms) & shapely.is_geometry(geoms))
    geoms[invalid] = _polygonal(shapely.make_valid(geoms[invalid]))
    geoms[shapely.is_empty(geoms)] = None
    return geoms


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Drop the lines and points that make_valid and intersections add to polygon results."""
    geoms = np.asarray(geoms, dtype=object).copy()
    mixed = np.flatnonzero(shapely.get_type_id(geoms) == _COLLECTION)
    if mixed.size == 0:
        return geoms
    parts, owner = shapely.get_parts(geoms[mixed], return_index=True)
    parts, inner = shapely.get_parts(parts, return_index=True)  # collections may nest one level
    owner, keep = owner[inner], shapely.get_type_id(parts) == _POLYGON
    empty = np.full(mixed.size, shapely.Polygon(), dtype=object)
    geoms[mixed] = shapely.multipolygons(parts[keep], indices=owner[keep], out=empty)
    return geoms


def _union(geoms: np.ndarray) -> shapely.Geometry:
    return geoms[0] if len(geoms) == 1 else shapely.union_all(geoms)


# --- checks within one level -----------------------------------------------------------------


def _layer_issues(layer: _Layer, context: _Context) -> list[Issue]:
    return [
        *_invalid_geometries(layer),
        *_empty_geometries(layer),
        *_duplicate_codes(layer),
        *_overlaps(layer, context),
    ]


def _invalid_geometries(layer: _Layer) -> list[Issue]:
    reasons = shapely.is_valid_reason(layer.raw)
    invalid = [i for i, reason in enumerate(reasons) if reason not in (None, "Valid Geometry")]
    fallback = _locations(layer.shapes[invalid])
    issues = []
    for i, spare in zip(invalid, fallback, strict=True):
        reason, where = _parse_reason(reasons[i])
        where = where or spare
        message = f"{_grid(layer, i)} has an invalid geometry: {reason}{_near(where)}"
        issue = Issue(
            "invalid_geometry",
            "error",
            layer.key,
            (layer.codes[i],),
            message,
            location=where,
            geometry=layer.raw[i],
        )
        issues.append(issue)
    return issues


def _parse_reason(reason: str) -> tuple[str, LonLat | None]:
    """Split GEOS's "Self-intersection[120.65 28.01]" into its text and its point."""
    match = _REASON_POINT.search(reason)
    text = _REASON_POINT.sub("", reason).strip()
    if match is None:
        return text, None
    return text, (float(match.group(1)), float(match.group(2)))


def _empty_geometries(layer: _Layer) -> list[Issue]:
    empty = np.flatnonzero(shapely.is_missing(layer.raw) | shapely.is_empty(layer.raw))
    return [
        Issue(
            "empty_geometry",
            "error",
            layer.key,
            (layer.codes[i],),
            f"{_grid(layer, i)} has no geometry",
        )
        for i in empty
    ]


def _duplicate_codes(layer: _Layer) -> list[Issue]:
    groups = pd.Series(np.arange(len(layer.codes))).groupby(layer.codes, sort=True)
    repeated = [(code, rows.to_numpy()) for code, rows in groups if len(rows) > 1]
    where = _locations(np.array([_first_shape(layer, rows) for _, rows in repeated], dtype=object))
    issues = []
    for (code, rows), point in zip(repeated, where, strict=True):
        listed = ", ".join(str(row) for row in layer.rows[rows])
        used = f"is used {len(rows)} times (rows {listed})"
        message = f"{layer.key} code {_shown(code)} {used}{_near(point)}"
        issues.append(Issue("duplicate_code", "error", layer.key, (code,), message, location=point))
    return issues


def _first_shape(layer: _Layer, rows: np.ndarray) -> shapely.Geometry | None:
    shapes = [shape for shape in layer.shapes[rows] if shape is not None]
    return shapes[0] if shapes else None


def _overlaps(layer: _Layer, context: _Context) -> list[Issue]:
    """Pairs of grids whose interiors overlap; duplicates of one code are left to duplicate_code."""
    geoms = layer.shapes
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = (left < right) & (layer.codes[left] != layer.codes[right])
    left, right = left[keep], right[keep]
    keep = ~shapely.touches(geoms[left], geoms[right])  # shared edges and corners are fine
    left, right = left[keep], right[keep]
    shared = _polygonal(shapely.intersection(geoms[left], geoms[right]))
    pairs = [
        sorted((left[i], right[i]), key=lambda row: layer.codes[row]) for i in range(len(left))
    ]

    def describe(i: int, area: str, near: str) -> str:
        first, second = pairs[i]
        relation = _relation(layer, first, second)
        return f"{layer.key} {layer.codes[first]} overlaps {relation} by {area}{near}"

    codes = [(layer.codes[a], layer.codes[b]) for a, b in pairs]
    return _area_issues(context, "overlap", layer.key, shared, codes, describe)


def _relation(layer: _Layer, first: int, second: int) -> str:
    """How the second grid of an overlap relates to the first, for the message."""
    mine, theirs = layer.parents[first], layer.parents[second]
    if mine is not None and mine == theirs:
        return f"sibling {layer.codes[second]}"
    if mine is None and theirs is None:
        return str(layer.codes[second])
    return f"{layer.codes[second]} (parents {mine or '?'} and {theirs or '?'})"


def _district_holes(top: _Layer, context: _Context) -> list[Issue]:
    """Enclosed gaps between the top-level grids: holes in their union."""
    if top.level.coverage != "full" or not shapely.is_geometry(top.shapes).any():
        return []
    covered = shapely.union_all(top.shapes)
    outlines = shapely.get_exterior_ring(shapely.get_parts(covered))
    holes = shapely.get_parts(
        shapely.difference(shapely.union_all(shapely.polygons(outlines)), covered)
    )
    holes = np.asarray(holes, dtype=object)
    hole_of, grid = shapely.STRtree(top.shapes).query(holes, predicate="intersects")
    around = [tuple(sorted(set(top.codes[grid[hole_of == i]]))) for i in range(len(holes))]

    def describe(i: int, area: str, near: str) -> str:
        return f"district has a gap of {area} enclosed by {top.key} {', '.join(around[i])}{near}"

    return _area_issues(context, "gap", top.key, holes, around, describe)


# --- checks between a level and its parent level ---------------------------------------------


def _nesting_issues(parent: _Layer, child: _Layer, context: _Context) -> list[Issue]:
    parent_shapes = parent.by_code()
    issues = _parent_codes(parent, child) + _outside_parent(child, parent_shapes, context)
    if child.level.coverage == "full":
        issues += _gaps(parent, child, parent_shapes, context)
    return issues


def _parent_codes(parent: _Layer, child: _Layer) -> list[Issue]:
    """Orphans (no parent, or an unknown parent code) and codes not under their parent's."""
    existing = set(parent.codes)
    known = np.array([code is not None and code in existing for code in child.parents], dtype=bool)
    linked = np.flatnonzero(known)
    nested = np.array(
        [code_extends(str(child.codes[i]), str(child.parents[i])) for i in linked], dtype=bool
    )
    orphans, strays = np.flatnonzero(~known), linked[~nested]
    issues = [
        _orphan(parent, child, i, point)
        for i, point in zip(orphans, _locations(child.shapes[orphans]), strict=True)
    ]
    return issues + _code_prefixes(parent, child, strays)


def code_extends(child: str, parent: str) -> bool:
    """Whether a child's code is one its parent's code leads to, in either Chinese scheme.

    DB11/T 2157 lengthens codes level by level: the child starts with the parent's
    whole code (330399001 under 330399). GB/T 2260 gives every level codes of one
    length and pads a parent's own digits with pairs of zeros (province 330000, city
    330800, county 330824): a child as long as its parent starts with the parent's
    code without those trailing "00" pairs (3308 for 330800, 33 for 330000).

    Examples
    --------
    >>> code_extends("330399001", "330399"), code_extends("330824", "330800")
    (True, True)
    >>> code_extends("330800", "330000"), code_extends("330924", "330800")
    (True, False)
    """
    if child.startswith(parent):
        return True
    significant = _significant_prefix(parent)
    return bool(significant) and len(child) == len(parent) and child.startswith(significant)


def _significant_prefix(code: str) -> str:
    # Pairs, not single zeros: city 331000 (台州) keeps "3310", the county digits are "00".
    return re.sub(r"(00)+$", "", code)


def _code_prefixes(parent: _Layer, child: _Layer, strays: np.ndarray) -> list[Issue]:
    # A warning only: some code schemes (e.g. 5-digit building numbers) do not nest codes.
    issues = []
    for i, point in zip(strays, _locations(child.shapes[strays]), strict=True):
        code = str(child.parents[i])
        significant = _significant_prefix(code)
        also = f", nor with {significant} as a code of its length" if significant != code else ""
        message = (
            f"{_grid(child, i)} code does not start with its {parent.key}'s code "
            f"{code}{also}{_near(point)}"
        )
        codes = (child.codes[i], child.parents[i])
        issues.append(Issue("code_prefix", "warning", child.key, codes, message, location=point))
    return issues


def _orphan(parent: _Layer, child: _Layer, i: int, where: LonLat | None) -> Issue:
    named = child.parents[i]
    if named is None:
        problem, codes = f"has no {parent.key} (none given or none could be determined)", ()
    else:
        problem, codes = f"names {parent.key} {named}, which does not exist", (named,)
    message = f"{_grid(child, i)} {problem}{_near(where)}"
    return Issue(
        "orphan",
        "error",
        child.key,
        (child.codes[i], *codes),
        message,
        location=where,
        geometry=child.raw[i],
    )


def _outside_parent(
    child: _Layer, parent_shapes: dict[str, shapely.Geometry], context: _Context
) -> list[Issue]:
    """Each connected part of a child that lies outside its (existing, non-empty) parent."""
    rows = [i for i, code in enumerate(child.parents) if code in parent_shapes]
    rows = np.array([i for i in rows if child.shapes[i] is not None], dtype=int)
    outer = np.array([parent_shapes[child.parents[i]] for i in rows], dtype=object)
    parts, owner = shapely.get_parts(
        shapely.difference(child.shapes[rows], outer), return_index=True
    )
    codes = [(child.codes[rows[i]], child.parents[rows[i]]) for i in owner]

    def describe(i: int, area: str, near: str) -> str:
        grid, parent = codes[i]
        return f"{child.key} {grid} sticks out of its parent {parent} by {area}{near}"

    return _area_issues(context, "outside_parent", child.key, parts, codes, describe)


def _gaps(
    parent: _Layer,
    child: _Layer,
    parent_shapes: dict[str, shapely.Geometry],
    context: _Context,
) -> list[Issue]:
    """Each connected part of a parent that none of its children covers; childless parents."""
    covered = _children_by_parent(child)
    filled = [code for code in parent_shapes if code in covered]
    outer = np.array([parent_shapes[code] for code in filled], dtype=object)
    inner = np.array([covered[code] for code in filled], dtype=object)
    parts, owner = shapely.get_parts(shapely.difference(outer, inner), return_index=True)
    codes = [(filled[i],) for i in owner]

    def describe(i: int, area: str, near: str) -> str:
        return (
            f"{parent.key} {codes[i][0]} has a gap of {area} not covered by any {child.key}{near}"
        )

    gaps = _area_issues(context, "gap", child.key, parts, codes, describe)
    empty = [code for code in parent_shapes if code not in covered]
    return gaps + _childless(parent, child, empty, parent_shapes, context)


def _children_by_parent(child: _Layer) -> dict[str, shapely.Geometry]:
    present = [
        i
        for i, code in enumerate(child.parents)
        if code is not None and child.shapes[i] is not None
    ]
    groups = pd.Series(present, dtype=int).groupby(child.parents[present], sort=False)
    return {code: _union(child.shapes[rows.to_numpy()]) for code, rows in groups}


def _childless(
    parent: _Layer,
    child: _Layer,
    codes: list[str],
    parent_shapes: dict[str, shapely.Geometry],
    context: _Context,
) -> list[Issue]:
    shapes = np.array([parent_shapes[code] for code in codes], dtype=object)
    issues = []
    for code, area, point in zip(codes, context.areas(shapes), _locations(shapes), strict=True):
        message = (
            f"{parent.key} {code} has no {child.key} at all ({_area(area)} uncovered){_near(point)}"
        )
        issue = Issue("childless", "warning", child.key, (code,), message, float(area), point)
        issues.append(issue)
    return issues


# --- building issues and text ----------------------------------------------------------------


def _area_issues(
    context: _Context,
    kind: str,
    level: str,
    parts: np.ndarray,
    codes: Sequence[tuple[str, ...]],
    describe: Callable[[int, str, str], str],
) -> list[Issue]:
    """Issues for the parts above the noise floor; ``describe(i, area, near)`` words the message."""
    parts = np.asarray(parts, dtype=object)
    areas = context.areas(parts)
    keep = np.flatnonzero(areas > NOISE_FLOOR_M2)
    where = _locations(parts[keep])
    shapes = parts[keep]
    return [
        Issue(
            kind,
            context.severity(areas[i]),
            level,
            tuple(codes[i]),
            describe(i, _area(areas[i]), _near(point)),
            float(areas[i]),
            point,
            shape,
        )
        for i, point, shape in zip(keep, where, shapes, strict=True)
    ]


def _grid(layer: _Layer, i: int) -> str:
    """ "grid 330399001002003 (row 7)", the way messages name one row."""
    return f"{layer.key} {_shown(layer.codes[i])} (row {layer.rows[i]})"


def _shown(code: str) -> str:
    return code or "(no code)"


def _near(where: LonLat | None) -> str:
    # Five decimals is about one metre: enough to find a sliver on the map.
    return "" if where is None else f" near ({where[0]:.5f}, {where[1]:.5f})"


def _area(area_m2: float) -> str:
    return f"{area_m2:,.1f} m²" if area_m2 >= 0.1 else f"{area_m2:.2g} m²"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _kinds_in_order(kinds: Iterable[str]) -> list[str]:
    rank = {kind: position for position, kind in enumerate(KINDS)}
    return sorted(set(kinds), key=lambda kind: (rank.get(kind, len(KINDS)), kind))


def _sort_key(issue: Issue, level_order: dict[str, int]) -> tuple[Any, ...]:
    kind_rank = KINDS.index(issue.kind) if issue.kind in KINDS else len(KINDS)
    level_rank = level_order.get(issue.level, len(level_order))
    biggest_first = -(issue.area_m2 or 0.0)
    return (
        not issue.is_error,
        level_rank,
        issue.level,
        kind_rank,
        issue.kind,
        issue.codes,
        biggest_first,
    )


def _level_lines(level: str, issues: list[Issue], max_per_kind: int) -> list[str]:
    errors = sum(issue.is_error for issue in issues)
    lines = [f"{level}: {_plural(errors, 'error')}, {_plural(len(issues) - errors, 'warning')}"]
    printed: dict[str, int] = {}
    for issue in issues:
        printed[issue.kind] = printed.get(issue.kind, 0) + 1
        if printed[issue.kind] <= max_per_kind:
            lines.append(f"  {issue.severity.upper():<7} {issue.kind:<16} {issue.message}")
    for kind in _kinds_in_order(printed):
        if printed[kind] > max_per_kind:
            lines.append(f"  … and {printed[kind] - max_per_kind} more {kind} issues")
    return lines


def _issue_record(issue: Issue) -> dict[str, Any]:
    lon, lat = issue.location if issue.location else (None, None)
    geometry = issue.geometry
    if geometry is None and issue.location is not None:
        geometry = shapely.Point(issue.location)
    return {
        "kind": issue.kind,
        "severity": issue.severity,
        "level": issue.level,
        "codes": ",".join(issue.codes),
        "message": issue.message,
        "area_m2": issue.area_m2,
        "lon": lon,
        "lat": lat,
        "geometry": geometry,
    }
