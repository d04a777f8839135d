"""The units of a redraw: the grids one level down, inside one parent, and who touches whom.

A redraw regroups the *units* of one *parent* (the grids of the level below the
redrawn ``level``) into new grids, so new boundaries follow unit edges and the
parent's outline never moves. :func:`units_of` gathers one parent's units with
their weights (households, population, a count), their areas and perimeters in
metres, and the unit graph the planner, the metrics and the proposals run on.

Rules of the unit graph (tested on a hierarchy that is not the sample):

- two units are neighbours when they share at least :data:`MIN_SHARED_M` (1 m) of
  boundary; units that touch only at a corner are not;
- two units separated by a gap narrower than ``sliver_m`` (a digitising sliver)
  are neighbours too: their boundaries are compared after a snap of ``sliver_m``;
- a MultiPolygon unit (a parcel on both banks of a river) is one node, never split;
- islands: when the parent's units form several components, each smaller one is
  linked to the nearest unit of the rest by one ``bridge`` edge (length 0), so that
  proposals can reach it; a grid spanning a bridge counts as contiguous, and the
  metrics warn with the island's units.

Lengths and areas are measured in a local metric frame: lon/lat mapped by the
Jacobian of the district's CGCS2000 Gauss-Krüger zone at the parent's centre, the
same local scale :mod:`geogrid.topology` uses for areas. The map is affine, so
edges shared in lon/lat stay shared exactly, and over a parent of a few kilometres
it measures to ~1e-4.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geogrid.crs import gauss_kruger_epsg
from geogrid.errors import InputError

#: Shortest shared boundary, in metres, that makes two units neighbours.
MIN_SHARED_M = 1.0
#: Precision of the overlays, in metres: snap-rounding to it makes collinear edges overlap
#: robustly even where a vertex of one unit lies on (not at) a vertex of the other.
_GRID_M = 1e-3
_JACOBIAN_STEP_DEG = 1e-4
_NOT_WEIGHTS = {"code", "name", "parent", "geometry", "compound"}
_EDGE_COLUMNS = ["a", "b", "length_m", "road_m", "bridge"]


@dataclass(frozen=True, eq=False, repr=False)
class Units:
    """One parent's units, in code order: position ``i`` is unit ``i`` in every array.

    Build it with :func:`units_of`. ``edges`` has one row per neighbour pair
    (``a < b``, positions) with the shared ``length_m``, the part of it along a road
    (``road_m``) and ``bridge`` (an island link of length 0).

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> units = units_of(h, "grid", "330399001001")
    >>> units.unit_level, len(units.codes), units.weights.columns.tolist()
    ('microgrid', 82, ['count', 'households', 'population'])
    >>> units.index_of(["330399001001001002"]).tolist()
    [1]
    """

    level: str
    unit_level: str
    parent: str
    codes: np.ndarray
    current: np.ndarray
    names: dict[str, str]
    geometry: np.ndarray
    weights: pd.DataFrame
    compound: np.ndarray | None
    area_m2: np.ndarray
    perimeter_m: np.ndarray
    outline_m: np.ndarray
    outline_road_m: np.ndarray
    edges: pd.DataFrame
    buildings: pd.DataFrame | None
    #: The parent's polygon (EPSG:4326); None when ``level`` is the top level.
    parent_geometry: shapely.Geometry | None = None
    #: Per unit, its area (m²) outside the parent: more than a sliver fails the publish gate.
    outside_m2: np.ndarray | None = None
    #: Codes of the unit level under other parents -> their parent, to name them in errors.
    elsewhere: Mapping[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.codes)

    def __repr__(self) -> str:
        return (
            f"<Units {len(self.codes)} {self.unit_level} of {self.level} parent "
            f"{self.parent or '-'}, {len(self.edges)} edges>"
        )

    @cached_property
    def positions(self) -> dict[str, int]:
        """Unit code -> position."""
        return {code: i for i, code in enumerate(self.codes)}

    def index_of(self, codes: str | Iterable[str], field: str = "units") -> np.ndarray:
        """Positions of unit codes; :class:`InputError` naming unknown or outside units.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> units = units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                  "grid", "330399001001")
        >>> units.index_of("330399001002001001")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        geogrid.errors.InputError: units: microgrid 330399001002001001 lies outside parent ...
        """
        wanted = [codes] if isinstance(codes, str) else [str(code) for code in codes]
        missing = [code for code in wanted if code not in self.positions]
        if missing:
            raise InputError(self._not_units(missing, field))
        return np.array([self.positions[code] for code in wanted], dtype=np.int64)

    def _not_units(self, missing: list[str], field: str) -> str:
        code = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        if code in self.elsewhere:
            return (
                f"{field}: {self.unit_level} {code} lies outside parent {self.parent or '-'}"
                f" (it is under {self.elsewhere[code]}){more}"
            )
        return f"{field}: {code!r} is not a {self.unit_level} of parent {self.parent or '-'}{more}"

    def graph(self, weight: str = "households") -> nx.Graph:
        """The unit graph for proposals: node attributes and edge attributes as the spec says.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> units = units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                  "grid", "330399001001")
        >>> g = units.graph("households")
        >>> g.number_of_nodes() == len(units.codes), sorted(g.nodes[0])
        (True, ['area_m2', 'code', 'compound', 'current', 'weight'])
        """
        values = self.weight_values(weight)
        graph = nx.Graph()
        compound = self.compound if self.compound is not None else [None] * len(self)
        graph.add_nodes_from(
            (i, {"code": code, "weight": float(values[i]), "current": self.current[i],
                 "area_m2": float(self.area_m2[i]), "compound": compound[i]})
            for i, code in enumerate(self.codes)
        )  # fmt: skip
        graph.add_edges_from(
            (int(a), int(b), {"length_m": float(length), "road_m": float(road),
                              "bridge": bool(bridge)})
            for a, b, length, road, bridge in self.edges[_EDGE_COLUMNS].itertuples(index=False)
        )  # fmt: skip
        return graph

    def weight_values(self, weight: str, field: str = "weight") -> np.ndarray:
        """One weight column as floats; :class:`InputError` naming an unknown column.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> units = units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                  "grid", "330399001001")
        >>> units.weight_values("voters")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        geogrid.errors.InputError: weight: 'voters' is not a weight; weights are count, ...
        """
        if weight not in self.weights.columns:
            known = ", ".join(self.weights.columns)
            raise InputError(f"{field}: {weight!r} is not a weight; weights are {known}")
        return self.weights[weight].to_numpy(dtype=np.float64)

    @cached_property
    def metric_geometry(self) -> np.ndarray:
        """The units in the local metric frame (metres; see the module docstring)."""
        return self.to_metres(self.geometry)

    def to_metres(self, geometry):
        """Lon/lat geometry (one or an array) in the units' local metric frame.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> units = units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                  "grid", "330399001001")
        >>> line = shapely.LineString([(120.64, 28.0), (120.641, 28.0)])
        >>> round(units.to_metres(line).length)
        98
        """
        return self._frame.apply(geometry)

    @cached_property
    def _frame(self) -> _MetricFrame:
        return _MetricFrame.around(self.geometry)

    @cached_property
    def islands(self) -> list[np.ndarray]:
        """Positions of each island: a component of the units not linked by shared edges."""
        real = self.edges[~self.edges["bridge"]]
        count, labels = _components(len(self), real["a"].to_numpy(), real["b"].to_numpy())
        if count < 2:
            return []
        sizes = np.bincount(labels, minlength=count)
        main = int(np.argmax(sizes))
        return [np.flatnonzero(labels == c) for c in range(count) if c != main]


def units_of(
    hierarchy,
    level: str,
    parent: str | None,
    *,
    survey: pd.DataFrame | None = None,
    roads_within_m: float = 3.0,
    sliver_m: float = 1.0,
) -> Units:
    """The units of one parent at the level below ``level``, with weights and their graph.

    ``parent`` is a grid code of the level above ``level`` ("" or None when ``level``
    is the top level). ``survey`` (indexed by unit code; households, population,
    compound) overrides the units' attributes. A shared edge counts as along a road
    where it lies within ``roads_within_m`` of a road of the hierarchy.

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> units = units_of(h, "grid", "330399001001")
    >>> int(units.weights["households"].sum())
    3669
    >>> units_of(h, "building", "330399001001001001")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: level: 'building' is the finest level; it has no units to regroup
    """
    _check_options(roads_within_m, sliver_m)
    source = _Source.of(hierarchy, level)
    return _build(source, source.checked_parent(parent), survey, roads_within_m, sliver_m)


def units_within(
    hierarchy,
    level: str,
    within: str | None = None,
    *,
    survey: pd.DataFrame | None = None,
    roads_within_m: float = 3.0,
    sliver_m: float = 1.0,
) -> list[Units]:
    """:func:`units_of` for every parent (with units) inside ``within`` (a code, or everywhere).

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> [u.parent for u in units_within(h, "community", "330399001")][:2]
    ['330399001']
    >>> len(units_within(h, "grid", "330399001"))
    12
    """
    _check_options(roads_within_m, sliver_m)
    source = _Source.of(hierarchy, level)
    parents = source.parents_within(hierarchy, within)
    return [_build(source, p, survey, roads_within_m, sliver_m) for p in parents]


def _check_options(roads_within_m: float, sliver_m: float) -> None:
    if not roads_within_m >= 0:
        raise InputError(f"roads_within_m must be ≥ 0, got {roads_within_m!r}")
    if not sliver_m > 0:
        raise InputError(f"sliver_m must be > 0, got {sliver_m!r}")


# --- where the units come from ----------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Source:
    """The frames one redraw level needs, read once for all its parents."""

    level: str
    unit_level: str
    above: str | None
    grids: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    parents: gpd.GeoDataFrame | None
    buildings: gpd.GeoDataFrame | None
    roads: np.ndarray

    @classmethod
    def of(cls, hierarchy, level: str) -> _Source:
        keys = hierarchy.levels
        if level not in keys:
            raise InputError(f"level: {level!r} is not one of {', '.join(keys)}")
        depth = keys.index(level)
        if depth + 1 == len(keys):
            raise InputError(f"level: {level!r} is the finest level; it has no units to regroup")
        below = keys[depth + 2] if depth + 2 < len(keys) else None
        partial = below is not None and hierarchy.level(below).coverage == "partial"
        return cls(
            level=level,
            unit_level=keys[depth + 1],
            above=keys[depth - 1] if depth else None,
            grids=hierarchy.grids(level),
            units=hierarchy.grids(keys[depth + 1]),
            parents=hierarchy.grids(keys[depth - 1]) if depth else None,
            buildings=hierarchy.grids(below) if partial else None,
            roads=_road_lines(hierarchy.roads()),
        )

    @cached_property
    def parent_of_unit(self) -> dict[str, str]:
        """Every unit code of the level -> the parent its grid lies in (one dict for all)."""
        grid_parent = dict(zip(self.grids["code"], self.grids["parent"], strict=True))
        return {
            str(code): str(grid_parent.get(grid) or "")
            for code, grid in zip(self.units["code"], self.units["parent"], strict=True)
        }

    def checked_parent(self, parent: str | None) -> str:
        if self.parents is None:
            if parent:
                raise InputError(
                    f"parent: level {self.level!r} is the top level; "
                    f"its parent is '', not {parent!r}"
                )
            return ""
        if not parent or parent not in set(self.parents["code"]):
            raise InputError(f"parent: {parent!r} is not a {self.above} code")
        return str(parent)

    def parents_within(self, hierarchy, within: str | None) -> list[str]:
        if self.parents is None:
            return [""]
        codes = sorted(str(code) for code in self.parents["code"])
        if within:
            hierarchy.find(within)  # NotFoundError names an unknown code
            covered = hierarchy.covered([within])
            codes = [code for code in codes if code in covered]
        used = self.grids["code"].isin(set(self.units["parent"]))
        with_units = set(self.grids.loc[used, "parent"])
        return [code for code in codes if code in with_units]

    def grids_in(self, parent: str) -> gpd.GeoDataFrame:
        if self.parents is None:
            return self.grids
        return self.grids[self.grids["parent"] == parent]

    def parent_geometry(self, parent: str) -> shapely.Geometry | None:
        if self.parents is None:
            return None
        return self.parents.loc[self.parents["code"] == parent].geometry.iloc[0]


def _build(
    source: _Source,
    parent: str,
    survey: pd.DataFrame | None,
    roads_within_m: float,
    sliver_m: float,
) -> Units:
    grids = source.grids_in(parent)
    inside = source.units["parent"].isin(set(grids["code"]))
    frame = source.units[inside].sort_values("code", kind="stable")
    if not len(frame):
        raise InputError(f"parent: {parent or '-'} has no {source.unit_level} units")
    codes = frame["code"].astype(str).to_numpy(dtype=object)
    geometry = _valid(frame.geometry.to_numpy())
    metric = _MetricFrame.around(geometry)
    shape = _Shape.measure(geometry, source, parent, metric, roads_within_m, sliver_m)
    return Units(
        level=source.level,
        unit_level=source.unit_level,
        parent=parent,
        codes=codes,
        current=frame["parent"].astype(str).to_numpy(dtype=object),
        names=dict(zip(grids["code"].astype(str), grids["name"].astype(str), strict=True)),
        geometry=geometry,
        weights=_weights(frame, codes, source.buildings, survey),
        compound=_compounds(frame, codes, survey),
        area_m2=shapely.area(shape.geoms),
        perimeter_m=shapely.length(shape.geoms),
        outline_m=shape.outline_m,
        outline_road_m=shape.outline_road_m,
        edges=shape.edges,
        buildings=_buildings(source.buildings, codes),
        parent_geometry=source.parent_geometry(parent),
        outside_m2=shape.outside_m2,
        elsewhere=source.parent_of_unit,
    )


def _valid(geoms: np.ndarray) -> np.ndarray:
    geoms = np.asarray(geoms, dtype=object)
    broken = ~shapely.is_valid(geoms)
    if broken.any():
        geoms = geoms.copy()
        geoms[broken] = shapely.make_valid(geoms[broken])
    return geoms


# --- weights ----------------------------------------------------------------------------


def _weights(
    frame: gpd.GeoDataFrame,
    codes: np.ndarray,
    buildings: gpd.GeoDataFrame | None,
    survey: pd.DataFrame | None,
) -> pd.DataFrame:
    index = pd.Index(codes, name="code")
    weights = pd.DataFrame({"count": np.ones(len(codes))}, index=index)
    for column in _numeric_columns(frame):
        weights[column] = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    if buildings is not None:
        _fill_from_buildings(weights, buildings)
    if survey is not None:
        _override(weights, _checked_survey(survey))
    return weights.fillna(0.0)


def _numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [
        column
        for column in frame.columns
        if column not in _NOT_WEIGHTS
        and pd.api.types.is_numeric_dtype(frame[column])
        and not pd.api.types.is_bool_dtype(frame[column])
    ]


def _fill_from_buildings(weights: pd.DataFrame, buildings: gpd.GeoDataFrame) -> None:
    # A unit's own figure wins; its buildings' sum stands in only where it is missing.
    columns = _numeric_columns(buildings)
    if not columns:
        return
    sums = buildings.groupby(buildings["parent"].astype(str))[columns].sum(min_count=1)
    sums = sums.reindex(weights.index)
    for column in columns:
        if column in weights:
            weights[column] = weights[column].fillna(sums[column])
        else:
            weights[column] = sums[column].to_numpy(dtype=np.float64, na_value=np.nan)


def _checked_survey(survey: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(survey, pd.DataFrame):
        raise InputError(f"survey: expected a table indexed by unit code, got {type(survey)}")
    survey = survey.copy()
    survey.index = survey.index.astype(str)
    if survey.index.has_duplicates:
        code = survey.index[survey.index.duplicated()][0]
        raise InputError(f"survey: unit {code} appears more than once")
    return survey


def _override(weights: pd.DataFrame, survey: pd.DataFrame) -> None:
    rows = survey.reindex(weights.index)
    for column in _numeric_columns(survey):
        values = rows[column].to_numpy(dtype=np.float64, na_value=np.nan)
        given = ~np.isnan(values)
        if column not in weights:
            weights[column] = np.nan
        weights.loc[given, column] = values[given]


def _compounds(
    frame: gpd.GeoDataFrame, codes: np.ndarray, survey: pd.DataFrame | None
) -> np.ndarray | None:
    """Each unit's compound (小区) name, or None; a survey's non-blank names win."""
    compound = np.array([_compound_name(v) for v in frame.get("compound", [None] * len(codes))],
                        dtype=object)  # fmt: skip
    if survey is not None and "compound" in survey.columns:
        given = _checked_survey(survey)["compound"].reindex(pd.Index(codes))
        named = np.array([_compound_name(v) for v in given], dtype=object)
        compound = np.where(named != None, named, compound)  # noqa: E711 - element-wise
    return compound if any(v is not None for v in compound) else None


def _compound_name(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


def _buildings(buildings: gpd.GeoDataFrame | None, codes: np.ndarray) -> pd.DataFrame | None:
    if buildings is None:
        return None
    position = pd.Series(np.arange(len(codes)), index=pd.Index(codes))
    inside = buildings[buildings["parent"].astype(str).isin(position.index)]
    table = pd.DataFrame(
        {
            "code": inside["code"].astype(str).to_numpy(dtype=object),
            "unit": position.loc[inside["parent"].astype(str)].to_numpy(),
        }
    )
    for column in ("households", "population"):
        values = inside[column] if column in inside else pd.Series(np.nan, index=inside.index)
        table[column] = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return table.sort_values("code", ignore_index=True)


# --- the metric frame ---------------------------------------------------------------------


@dataclass(frozen=True)
class _MetricFrame:
    """lon/lat -> metres by the Gauss-Krüger Jacobian at one point (an affine map)."""

    origin: tuple[float, float]
    jacobian: np.ndarray

    @classmethod
    def around(cls, geoms: np.ndarray) -> _MetricFrame:
        west, south, east, north = shapely.total_bounds(geoms)
        lon, lat = (west + east) / 2, (south + north) / 2
        h = _JACOBIAN_STEP_DEG
        x, y = _forward(gauss_kruger_epsg(lon)).transform(
            [lon + h, lon - h, lon, lon], [lat, lat, lat + h, lat - h]
        )
        jacobian = np.array(
            [[x[0] - x[1], x[2] - x[3]], [y[0] - y[1], y[2] - y[3]]], dtype=np.float64
        ) / (2 * h)
        return cls((lon, lat), jacobian)

    def apply(self, geoms):
        origin, matrix = np.array(self.origin), self.jacobian.T
        return shapely.transform(geoms, lambda xy: (xy - origin) @ matrix)


@lru_cache(maxsize=8)
def _forward(epsg: int) -> Transformer:
    return Transformer.from_crs(4326, epsg, always_xy=True)


# --- adjacency, roads and the outline -----------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    geoms: np.ndarray
    edges: pd.DataFrame
    outline_m: np.ndarray
    outline_road_m: np.ndarray
    outside_m2: np.ndarray

    @classmethod
    def measure(
        cls,
        lonlat: np.ndarray,
        source: _Source,
        parent: str,
        metric: _MetricFrame,
        roads_within_m: float,
        sliver_m: float,
    ) -> _Shape:
        roads = _road_buffers(source.roads, lonlat, metric, roads_within_m)
        geoms = metric.apply(lonlat)
        a, b, lines = _shared(geoms, sliver_m)
        edges = pd.DataFrame(
            {"a": a, "b": b, "length_m": shapely.length(lines), "road_m": _along(lines, roads)}
        )
        edges["bridge"] = False
        edges = pd.concat([edges, _bridges(geoms, a, b)], ignore_index=True)
        edges = edges.sort_values(["a", "b"], ignore_index=True)
        outline = _outline(geoms, source.parent_geometry(parent), metric)
        on_outline = _on_outline(geoms, outline, sliver_m)
        return cls(
            geoms=geoms,
            edges=edges.astype({"a": np.int64, "b": np.int64, "bridge": bool}),
            outline_m=shapely.length(on_outline),
            outline_road_m=_along(on_outline, roads),
            outside_m2=_outside(geoms, source.parent_geometry(parent), metric),
        )


def _shared(geoms: np.ndarray, sliver_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbour pairs (a < b) and the boundary lines they share, ≥ MIN_SHARED_M long."""
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="dwithin", distance=sliver_m)
    keep = a < b
    a, b = a[keep], b[keep]
    boundaries = shapely.boundary(geoms)
    lines = np.full(len(a), shapely.MultiLineString(), dtype=object)
    # Touching within the overlay precision: a vertex of one unit on an edge of the other
    # may sit 1e-12 m off it, and snap-rounding closes that; wider gaps are slivers.
    touching = shapely.distance(geoms[a], geoms[b]) <= _GRID_M
    gap = ~touching
    # A shared line lies in both bounding boxes: boxes meeting in less than MIN_SHARED_M
    # (a corner) need no overlay.
    bounds = shapely.bounds(geoms)
    overlap = np.minimum(bounds[a, 2:], bounds[b, 2:]) - np.maximum(bounds[a, :2], bounds[b, :2])
    touching &= np.hypot(*np.clip(overlap, 0, None).T) >= MIN_SHARED_M
    lines[touching] = shapely.intersection(
        boundaries[a[touching]], boundaries[b[touching]], grid_size=_GRID_M
    )
    lines[gap] = _across_gap(boundaries[a[gap]], boundaries[b[gap]], sliver_m)
    lines = _linework(lines)
    long_enough = shapely.length(lines) >= MIN_SHARED_M
    return a[long_enough], b[long_enough], lines[long_enough]


def _across_gap(first: np.ndarray, second: np.ndarray, sliver_m: float) -> np.ndarray:
    """Where ``first`` runs along ``second`` across a gap narrower than ``sliver_m``.

    ``first`` is cut into pieces of a quarter of ``sliver_m``; a piece counts when it
    lies within ``sliver_m`` of ``second`` and faces it, i.e. the shortest way across
    is roughly square to the piece. So a parallel gap counts over its length, while
    two corners a few centimetres apart (the way a piece near a corner sees the other
    unit: along itself) do not, and no snap can drag a side along the other.
    """
    result = np.full(len(first), shapely.MultiLineString(), dtype=object)
    if not len(first):
        return result
    start, stop, pair = _pieces(_near(first, second, sliver_m), sliver_m / 4)
    middle = shapely.points((start + stop) / 2)
    across = shapely.get_coordinates(shapely.shortest_line(middle, second[pair]))
    across = across.reshape(-1, 2, 2)
    way = across[:, 1] - across[:, 0]
    gap = np.hypot(*way.T)
    along = stop - start
    cosine = np.abs((way * along).sum(axis=1)) / np.maximum(gap * np.hypot(*along.T), 1e-12)
    facing = (gap <= sliver_m) & ((gap <= _GRID_M) | (cosine < 0.5))
    if facing.any():
        segments = shapely.linestrings(
            np.stack([start[facing], stop[facing]], axis=1).reshape(-1, 2),
            indices=np.repeat(np.arange(facing.sum()), 2),
        )
        shapely.multilinestrings(segments, indices=pair[facing], out=result)
    return result


def _pieces(lines: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments (start, stop, index of their line) of lines densified to ``step``."""
    parts, owner = shapely.get_parts(shapely.segmentize(lines, step), return_index=True)
    lineal = np.isin(shapely.get_type_id(parts), (1, 2))
    parts, owner = parts[lineal], owner[lineal]
    coords, part = shapely.get_coordinates(parts, return_index=True)
    same = part[:-1] == part[1:]
    return coords[:-1][same], coords[1:][same], owner[part[:-1][same]]


def _near(lines: np.ndarray, other: np.ndarray, reach_m: float) -> np.ndarray:
    """The part of each line in the bounding box of its ``other``, widened by the reach."""
    bounds = shapely.bounds(other)
    window = shapely.box(*(bounds + np.array([-1, -1, 1, 1]) * 2 * reach_m).T)
    return shapely.intersection(lines, window)


def _linework(geoms: np.ndarray) -> np.ndarray:
    """Only the lines of overlay results (shared corners come out as points)."""
    if not len(geoms):
        return np.empty(0, dtype=object)
    parts, index = shapely.get_parts(geoms, return_index=True)
    lines = np.isin(shapely.get_type_id(parts), (1, 2))
    merged = np.full(len(geoms), shapely.MultiLineString(), dtype=object)
    if lines.any():
        shapely.multilinestrings(parts[lines], indices=index[lines], out=merged)
    return merged


def _road_lines(roads: gpd.GeoDataFrame | None) -> np.ndarray:
    if roads is None:
        return np.empty(0, dtype=object)
    lines = roads.geometry.to_numpy()
    return lines[shapely.is_geometry(lines) & ~shapely.is_empty(lines)]


def _road_buffers(
    roads: np.ndarray, lonlat: np.ndarray, metric: _MetricFrame, within_m: float
) -> np.ndarray:
    """The area within ``within_m`` of each road near these units (metres), one per road."""
    if not len(roads) or within_m <= 0:
        return np.empty(0, dtype=object)
    # Degrees of latitude are the shortest, so this window in degrees holds the metric one.
    margin = 3 * within_m / 110_000
    west, south, east, north = shapely.total_bounds(lonlat)
    window = shapely.box(west - margin, south - margin, east + margin, north + margin)
    lines = metric.apply(roads[shapely.intersects(roads, window)])
    return shapely.buffer(lines, within_m, quad_segs=4)


def _along(lines: np.ndarray, buffers: np.ndarray) -> np.ndarray:
    """Length of each line within the road buffers.

    One overlay per (line, nearby road) keeps each overlay small (a union of all the
    buffers is one huge polygon). The buffers of joined road segments overlap, so the
    pieces are located along their line and their intervals unioned (a union of the
    lines themselves would keep near-duplicates apart after rounding).
    """
    lengths = np.zeros(len(lines))
    if not len(buffers) or not len(lines):
        return lengths
    line_i, road_i = shapely.STRtree(buffers).query(lines, predicate="intersects")
    if not len(line_i):
        return lengths
    pieces = lines[line_i].copy()
    shapely.prepare(buffers)
    # A line along a road lies wholly in that road's buffer: no overlay needed there.
    cut = ~shapely.contains(buffers[road_i], pieces)
    pieces[cut] = shapely.intersection(pieces[cut], buffers[road_i[cut]])
    parts, part_i = shapely.get_parts(pieces, return_index=True)
    lineal = np.isin(shapely.get_type_id(parts), (1, 2))
    parts, owner = parts[lineal], line_i[part_i[lineal]]
    # Located by its middle (an end at a corner of the line could be located on either side).
    middle = shapely.line_locate_point(
        lines[owner], shapely.line_interpolate_point(parts, 0.5, normalized=True)
    )
    half = shapely.length(parts) / 2
    np.add.at(lengths, owner, _covered(owner, middle - half, middle + half))
    return lengths


def _covered(group: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Per interval, the length it adds to the union of the intervals of its group."""
    if not len(group):
        return np.zeros(0)
    # Offsetting each group far apart lets one running maximum sweep all groups at once.
    offset = group * (2 * (np.abs(stop).max() + np.abs(start).max()) + 1)
    order = np.lexsort((start, group))
    s, e = (start + offset)[order], (stop + offset)[order]
    reached = np.maximum.accumulate(e)
    before = np.r_[-np.inf, reached[:-1]]
    added = np.clip(e - np.maximum(s, before), 0, None)
    result = np.empty_like(added)
    result[order] = added
    return result


def _outline(
    geoms: np.ndarray, parent: shapely.Geometry | None, metric: _MetricFrame
) -> shapely.Geometry:
    """The parent's outline in metres (the units' union at the top level)."""
    shape = (
        metric.apply(parent) if parent is not None else shapely.union_all(geoms, grid_size=_GRID_M)
    )
    return shapely.boundary(shape)


def _on_outline(geoms: np.ndarray, outline: shapely.Geometry, sliver_m: float) -> np.ndarray:
    """Per unit, its boundary lying on the parent's outline (across slivers too)."""
    on = np.full(len(geoms), shapely.MultiLineString(), dtype=object)
    tree = shapely.STRtree(geoms)
    near = tree.query(outline, predicate="dwithin", distance=sliver_m)
    if not len(near):
        return on
    boundaries = shapely.boundary(geoms[near])
    touching = shapely.distance(geoms[near], outline) <= _GRID_M
    found = np.empty(len(near), dtype=object)
    found[touching] = shapely.intersection(boundaries[touching], outline, grid_size=_GRID_M)
    gap = ~touching
    found[gap] = _across_gap(boundaries[gap], np.full(gap.sum(), outline), sliver_m)
    on[near] = _linework(found)
    return on


def _outside(
    geoms: np.ndarray, parent: shapely.Geometry | None, metric: _MetricFrame
) -> np.ndarray:
    outside = np.zeros(len(geoms))
    if parent is None:
        return outside
    shape = metric.apply(parent)
    shapely.prepare(shape)
    sticking = np.flatnonzero(~shapely.covered_by(geoms, shape))
    if len(sticking):
        outside[sticking] = shapely.area(
            shapely.difference(geoms[sticking], shape, grid_size=_GRID_M)
        )
    return outside


def _components(n: int, a: np.ndarray, b: np.ndarray) -> tuple[int, np.ndarray]:
    matrix = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    count, labels = connected_components(matrix, directed=False)
    return int(count), labels


def _bridges(geoms: np.ndarray, a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
    """One bridge per island: the shortest links that join all components (Kruskal)."""
    count, labels = _components(len(geoms), a, b)
    links: list[tuple[int, int]] = []
    if count > 1:
        links = _shortest_links(geoms, labels, count)
    first = np.array([min(p) for p in links], dtype=np.int64)
    second = np.array([max(p) for p in links], dtype=np.int64)
    return pd.DataFrame(
        {"a": first, "b": second, "length_m": 0.0, "road_m": 0.0, "bridge": True}
    ).astype({"length_m": np.float64, "road_m": np.float64})


def _shortest_links(geoms: np.ndarray, labels: np.ndarray, count: int) -> list[tuple[int, int]]:
    sizes = np.bincount(labels, minlength=count)
    outside_main = np.flatnonzero(labels != int(np.argmax(sizes)))
    tree = shapely.STRtree(geoms)
    west, south, east, north = shapely.total_bounds(geoms)
    reach, widest = 50.0, 2 * max(east - west, north - south, 1.0)
    while True:
        near, other = tree.query(geoms[outside_main], predicate="dwithin", distance=reach)
        near = outside_main[near]
        apart = labels[near] != labels[other]
        links = _kruskal(geoms, labels, near[apart], other[apart], count)
        if len(links) == count - 1 or reach > widest:
            return links
        reach *= 4


def _kruskal(
    geoms: np.ndarray, labels: np.ndarray, p: np.ndarray, q: np.ndarray, count: int
) -> list[tuple[int, int]]:
    low, high = np.minimum(p, q), np.maximum(p, q)
    distance = shapely.distance(geoms[low], geoms[high])
    root = list(range(count))

    def find(c: int) -> int:
        while root[c] != c:
            root[c] = root[root[c]]
            c = root[c]
        return c

    links = []
    for i in np.lexsort((high, low, distance)):
        x, y = find(int(labels[low[i]])), find(int(labels[high[i]]))
        if x != y:
            root[max(x, y)] = min(x, y)
            links.append((int(low[i]), int(high[i])))
    return links
