"""Road networks for patrols (巡逻路网): read, measure, snap points, split edges.

A :class:`RoadNetwork` wraps an undirected :class:`networkx.MultiGraph`:

* nodes are the integers 0 … n-1, with ``x`` and ``y`` their WGS-84 lon/lat;
* every edge has ``length`` in metres (geodesic, on the WGS-84 ellipsoid), its
  ``geometry`` (a WGS-84 LineString that starts at node ``start``), and the road's
  ``name``, ``kind`` (highway=* or the layer's class) and ``ref`` (source id).

Patrols walk, so the network is undirected: one-way streets are walked both ways.
Lines are joined where their end points meet (to 1e-7 degree, about 1 cm); lines
that only cross are not joined, as a bridge does not meet the road below it.

Three formats are read by :func:`read_network`: OpenStreetMap XML (``.osm``, the
ways tagged ``highway=*`` that people may walk), OSMnx GraphML (``.graphml``, in
any CRS its ``crs`` attribute names) and line layers (GeoJSON, GeoPackage
``file.gpkg#layer``, Shapefile). The sample district's ``roads.gpkg`` is what
:func:`default_network` returns for a manifest.


Why one module of ~750 lines: a road network and its three readers (OSM XML,
GraphML, line layers) share the graph's building and measuring code; the
readers are short and belong beside the graph they build.

Examples
--------
>>> from shapely.geometry import LineString
>>> net = RoadNetwork.from_lines([LineString([(120.0, 28.0), (120.001, 28.0)]),
...                               LineString([(120.001, 28.0), (120.001, 28.001)])])
>>> net.graph.number_of_nodes(), net.graph.number_of_edges()
(3, 2)
>>> round(net.total_length_m)
209
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely
import shapely.ops
from scipy import sparse
from shapely.geometry import LineString

from geogrid.crs import (
    from_wgs84,
    geodesic_distance_m,
    geometry_to_wgs84,
    metric_crs,
    normalize_crs,
    to_wgs84,
)
from geogrid.errors import GeogridError, InputError, LayerError
from geogrid.layers import read_layer, to_wgs84_geometry
from geogrid.manifest import LayerSource, split_layer_path

#: Points farther than this from every road are "off the network".
DEFAULT_MAX_SNAP_M = 250.0
#: highway=* values people do not walk on (motorways, construction sites, planned roads).
NOT_WALKABLE = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk_link",
        "construction",
        "proposed",
        "abandoned",
        "raceway",
        "bus_guideway",
        "escape",
        "platform",
        "razed",
    }
)
_NODE_DIGITS = 7  # end points equal to 1e-7 degree (about 1 cm) are one node
_END_TOLERANCE_M = 0.5  # a snap this close to an edge's end uses the end node


class RoadNetwork:
    """A walkable road network: an undirected networkx MultiGraph with lengths in metres.

    Build it with :meth:`from_lines` or one of the readers (:func:`read_network`).

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> net = RoadNetwork.from_lines([LineString([(120.0, 28.0), (120.01, 28.0)])],
    ...                              source="demo")
    >>> net
    <RoadNetwork demo: 2 nodes, 1 edges, 984 m, 1 component>
    """

    def __init__(self, graph: nx.MultiGraph, source: str = "") -> None:
        self.graph = graph
        self.source = source

    @classmethod
    def from_lines(
        cls,
        lines: Sequence[Any] | gpd.GeoSeries,
        attributes: pd.DataFrame | None = None,
        source: str = "",
    ) -> RoadNetwork:
        """Join WGS-84 lines into a network; ``attributes`` may hold name, kind and ref.

        MultiLineStrings are split into their parts, and lines are cut at every vertex
        they share with another line (a junction, as OSM ways share nodes); empty lines
        and lines of zero length are left out.

        Examples
        --------
        >>> from shapely.geometry import LineString
        >>> RoadNetwork.from_lines([LineString([(120, 28), (120, 28)])]).graph.number_of_edges()
        0
        """
        geometries = np.asarray(
            lines.values if isinstance(lines, gpd.GeoSeries) else lines, dtype=object
        )
        table = _attribute_table(attributes, len(geometries))
        parts, owner = shapely.get_parts(geometries, return_index=True)
        keep = (shapely.get_type_id(parts) == 1) & ~shapely.is_empty(parts)
        parts, owner = parts[keep], owner[keep]
        pieces, piece_owner = split_at_shared_vertices(parts)
        table = table.iloc[owner[piece_owner]].reset_index(drop=True)
        return cls(_graph_from_parts(pieces, table), source)

    # --- what it holds -------------------------------------------------------------------

    @cached_property
    def edges(self) -> gpd.GeoDataFrame:
        """One row per edge: u, v, key, length_m, name, kind, ref, geometry (EPSG:4326)."""
        rows = [
            (
                u,
                v,
                k,
                d["length"],
                d.get("name", ""),
                d.get("kind", ""),
                d.get("ref", ""),
                d["geometry"],
            )
            for u, v, k, d in self.graph.edges(keys=True, data=True)
        ]
        columns = ["u", "v", "key", "length_m", "name", "kind", "ref", "geometry"]
        frame = pd.DataFrame(rows, columns=columns)
        return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")

    @cached_property
    def node_lonlat(self) -> np.ndarray:
        """(n, 2) array of node lon/lat; row i is node i."""
        coords = np.full((self.graph.number_of_nodes(), 2), np.nan)
        for node, data in self.graph.nodes(data=True):
            coords[node] = (data["x"], data["y"])
        return coords

    @property
    def total_length_m(self) -> float:
        """Sum of the edge lengths in metres."""
        return float(sum(length for _, _, length in self.graph.edges(data="length")))

    @cached_property
    def crs(self) -> pyproj.CRS:
        """The Gauss-Krüger zone (metres) of the network's centre, used to snap and buffer."""
        if self.graph.number_of_nodes() == 0:
            raise InputError(
                f"road network {self.source or ''}: it has no roads".replace("  ", " ")
            )
        return metric_crs(float(np.nanmean(self.node_lonlat[:, 0])))

    @cached_property
    def _metric_edges(self) -> np.ndarray:
        return to_metric(self.edges.geometry.values, self.crs)

    @cached_property
    def _edge_tree(self) -> shapely.STRtree:
        return shapely.STRtree(self._metric_edges)

    # --- connectivity --------------------------------------------------------------------

    @cached_property
    def component_labels(self) -> np.ndarray:
        """Component number of every node; 0 is the component with the most road length."""
        labels = np.full(self.graph.number_of_nodes(), -1, dtype=np.int64)
        parts = list(nx.connected_components(self.graph))
        lengths = [self.graph.subgraph(p).size(weight="length") for p in parts]
        for label, index in enumerate(np.argsort(lengths)[::-1]):
            labels[list(parts[index])] = label
        return labels

    @property
    def component_count(self) -> int:
        """How many separate pieces the network is in (1 when it is connected)."""
        return int(self.component_labels.max()) + 1 if self.graph.number_of_nodes() else 0

    @cached_property
    def csgraph(self) -> sparse.csr_matrix:
        """The network as a symmetric scipy sparse matrix of the shortest parallel edge."""
        u, v = self.edges["u"].to_numpy(), self.edges["v"].to_numpy()
        frame = pd.DataFrame(
            {
                "a": np.r_[u, v],
                "b": np.r_[v, u],
                "w": np.r_[self.edges["length_m"], self.edges["length_m"]],
            }
        )
        shortest = frame.groupby(["a", "b"], sort=False)["w"].min().reset_index()
        n = self.graph.number_of_nodes()
        # A zero-length edge would vanish from a sparse matrix: keep it as a tiny length.
        weights = np.maximum(shortest["w"].to_numpy(), 1e-6)
        return sparse.csr_matrix((weights, (shortest["a"], shortest["b"])), shape=(n, n))

    # --- points on the network ------------------------------------------------------------

    def snap(self, lon: Any, lat: Any) -> pd.DataFrame:
        """The nearest point on the network of each WGS-84 point (vectorised, STRtree).

        Returns a row-aligned DataFrame: ``edge`` (row of :attr:`edges`), ``u``, ``v``,
        ``key``, ``offset_m`` (metres along the edge from its ``start`` node),
        ``distance_m`` (from the point to the road) and ``lon``/``lat`` of the snapped
        point; a NaN point gets edge -1 and NaN distance.

        Examples
        --------
        >>> from shapely.geometry import LineString
        >>> net = RoadNetwork.from_lines([LineString([(120.0, 28.0), (120.01, 28.0)])])
        >>> snap = net.snap([120.005], [28.001])
        >>> round(float(snap.distance_m[0])), round(float(snap.offset_m[0]))
        (111, 492)
        """
        lon_array, lat_array = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
        if self.graph.number_of_edges() == 0:
            raise InputError(f"road network {self.source}: it has no roads to snap to")
        points = shapely.points(*from_wgs84(lon_array.ravel(), lat_array.ravel(), self.crs))
        return self._snap_metric(points)

    def _snap_metric(self, points: np.ndarray) -> pd.DataFrame:
        edge = np.full(len(points), -1, dtype=np.int64)
        valid = ~shapely.is_missing(points) & ~shapely.is_empty(points)
        valid &= np.isfinite(shapely.get_x(points)) & np.isfinite(shapely.get_y(points))
        found, tree_index = self._edge_tree.query_nearest(points[valid], all_matches=False)
        edge[np.flatnonzero(valid)[found]] = tree_index
        lines = np.where(edge >= 0, self._metric_edges[np.maximum(edge, 0)], None)
        offset = shapely.line_locate_point(lines, points)
        on_line = shapely.line_interpolate_point(lines, offset)
        snap_lon, snap_lat = to_wgs84(shapely.get_x(on_line), shapely.get_y(on_line), self.crs)
        picked = self.edges.iloc[np.maximum(edge, 0)]
        return pd.DataFrame(
            {
                "edge": edge,
                "u": np.where(edge >= 0, picked["u"], -1),
                "v": np.where(edge >= 0, picked["v"], -1),
                "key": np.where(edge >= 0, picked["key"], -1),
                "offset_m": offset,
                "distance_m": shapely.distance(points, on_line),
                "lon": snap_lon,
                "lat": snap_lat,
            }
        )

    def with_points(self, lon: Any, lat: Any) -> tuple[RoadNetwork, pd.DataFrame]:
        """A new network with a node at each point's snap; the snaps get a ``node`` column.

        Edges are split where points snap to them (several points on one edge split it
        several times); a point within 0.5 m of an edge's end uses that node. The
        network itself is not changed.

        Examples
        --------
        >>> from shapely.geometry import LineString
        >>> net = RoadNetwork.from_lines([LineString([(120.0, 28.0), (120.01, 28.0)])])
        >>> split, snaps = net.with_points([120.005, 120.0], [28.001, 28.0])
        >>> split.graph.number_of_edges(), snaps["node"].tolist()
        (2, [2, 0])
        """
        snaps = self.snap(lon, lat)
        graph = self.graph.copy()
        nodes = np.full(len(snaps), -1, dtype=np.int64)
        for edge, rows in snaps[snaps["edge"] >= 0].groupby("edge"):
            nodes[rows.index] = self._split_edge(graph, int(edge), rows["offset_m"].to_numpy())
        return RoadNetwork(graph, self.source), snaps.assign(node=nodes)

    def _split_edge(self, graph: nx.MultiGraph, edge: int, offsets: np.ndarray) -> np.ndarray:
        u, v, key = (int(x) for x in self.edges.iloc[edge][["u", "v", "key"]])
        data = graph.edges[u, v, key]
        line = self._metric_edges[edge]
        start, end = data["start"], v if data["start"] == u else u
        inside = (offsets > _END_TOLERANCE_M) & (offsets < line.length - _END_TOLERANCE_M)
        cuts = np.unique(offsets[inside])
        cut_nodes = list(range(graph.number_of_nodes(), graph.number_of_nodes() + len(cuts)))
        if cut_nodes:
            pieces = _cut_line(line, cuts, data["geometry"], self.crs)
            for node, piece in zip(cut_nodes, pieces[1:], strict=False):
                x, y = piece.coords[0]
                graph.add_node(node, x=x, y=y)
            graph.remove_edge(u, v, key)
            for a, b, piece in zip([start, *cut_nodes], [*cut_nodes, end], pieces, strict=True):
                length = line_length_m(piece)
                graph.add_edge(a, b, **{**data, "geometry": piece, "start": a, "length": length})
        return _nodes_of_offsets(offsets, cuts, cut_nodes, start, end, line.length)

    # --- walking along it -----------------------------------------------------------------

    def path_edges(self, nodes: Sequence[int]) -> list[tuple[int, int, int]]:
        """The shortest parallel edge between each pair of consecutive nodes, as (a, b, key)."""
        steps = []
        for a, b in itertools.pairwise(nodes):
            keys = self.graph[a][b]
            steps.append((a, b, min(keys, key=lambda k: keys[k]["length"])))
        return steps

    def walk(self, steps: Iterable[tuple[int, int, int]]) -> LineString:
        """One LineString along edges walked in order (each (a, b, key) from a to b).

        Examples
        --------
        >>> from shapely.geometry import LineString
        >>> net = RoadNetwork.from_lines([LineString([(120.0, 28.0), (120.01, 28.0)])])
        >>> net.walk([(1, 0, 0), (0, 1, 0)]).coords[:]
        [(120.01, 28.0), (120.0, 28.0), (120.01, 28.0)]
        """
        parts = []
        for a, b, key in steps:
            data = self.graph.edges[a, b, key]
            coords = np.asarray(data["geometry"].coords)
            oriented = coords if data["start"] == a else coords[::-1]
            parts.append(oriented if not parts else oriented[1:])
        if not parts:
            return LineString()
        return LineString(np.concatenate(parts))

    def __repr__(self) -> str:
        g = self.graph
        parts = self.component_count
        return (
            f"<RoadNetwork {self.source}: {g.number_of_nodes()} nodes, "
            f"{g.number_of_edges()} edges, {self.total_length_m:.0f} m, "
            f"{parts} component{'s' if parts != 1 else ''}>"
        )


def _cut_line(line: LineString, cuts: np.ndarray, original: LineString, crs) -> list:
    """Pieces of a metric line between cuts (metres), back in WGS-84, ends kept exact."""
    bounds = np.r_[0.0, cuts, line.length]
    pieces = [shapely.ops.substring(line, a, b) for a, b in itertools.pairwise(bounds)]
    pieces = list(from_metric(np.asarray(pieces, dtype=object), crs))
    first, last = np.asarray(pieces[0].coords), np.asarray(pieces[-1].coords)
    first[0], last[-1] = original.coords[0], original.coords[-1]
    pieces[0], pieces[-1] = LineString(first), LineString(last)
    return pieces


def _nodes_of_offsets(
    offsets: np.ndarray, cuts: np.ndarray, cut_nodes: list[int], start: int, end: int, length: float
) -> np.ndarray:
    """Node of each snap on a split edge: the cut it made, or the end it is near."""
    nodes = np.where(offsets <= _END_TOLERANCE_M, start, end)
    interior = (offsets > _END_TOLERANCE_M) & (offsets < length - _END_TOLERANCE_M)
    if interior.any():
        nodes[interior] = np.asarray(cut_nodes)[np.searchsorted(cuts, offsets[interior])]
    return nodes


# --- building a graph ------------------------------------------------------------------------


def _attribute_table(attributes: pd.DataFrame | None, count: int) -> pd.DataFrame:
    table = pd.DataFrame(index=range(count)) if attributes is None else attributes
    table = table.reset_index(drop=True)
    if len(table) != count:
        raise InputError(f"attributes: {len(table)} rows for {count} lines")
    for column in ("name", "kind", "ref"):
        values = table[column] if column in table else pd.Series([""] * count)
        table[column] = values.astype(object).where(values.notna(), "").astype(str)
    return table


def split_at_shared_vertices(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut lines at interior vertices that another line also has; returns pieces and owners.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> cross = [LineString([(0, 1), (1, 1), (2, 1)]), LineString([(1, 0), (1, 1), (1, 2)])]
    >>> pieces, owners = split_at_shared_vertices(np.array(cross, dtype=object))
    >>> len(pieces), owners.tolist()
    (4, [0, 0, 1, 1])
    """
    coords, owner = shapely.get_coordinates(lines, return_index=True)
    if len(coords) == 0:
        return lines, np.arange(len(lines))
    _, vertex = np.unique(np.round(coords, _NODE_DIGITS), axis=0, return_inverse=True)
    vertex = vertex.ravel()
    first = np.r_[True, owner[1:] != owner[:-1]]
    last = np.r_[owner[1:] != owner[:-1], True]
    pairs = np.unique(np.column_stack([vertex, owner]), axis=0)
    shared = np.bincount(pairs[:, 0], minlength=vertex.max() + 1)[vertex] > 1
    cut = shared & ~first & ~last
    if not cut.any():
        return lines, np.arange(len(lines))
    piece = np.cumsum(first.astype(np.int64) + np.r_[0, cut[:-1]]) - 1
    # A cut vertex ends one piece and, as a copy placed just before it, starts the next.
    position = np.r_[np.arange(len(coords)), np.flatnonzero(cut) - 0.5]
    all_piece = np.r_[piece, piece[cut] + 1]
    order = np.lexsort((position, all_piece))
    all_coords = np.vstack([coords, coords[cut]])[order]
    pieces = shapely.linestrings(all_coords, indices=all_piece[order])
    piece_owner = np.zeros(len(pieces), dtype=np.int64)
    piece_owner[piece] = owner
    return pieces, piece_owner


def _graph_from_parts(parts: np.ndarray, table: pd.DataFrame) -> nx.MultiGraph:
    lengths = line_length_m(parts)
    keep = lengths > 0
    parts, table, lengths = parts[keep], table[keep].reset_index(drop=True), lengths[keep]
    first = shapely.get_coordinates(shapely.get_point(parts, 0))
    last = shapely.get_coordinates(shapely.get_point(parts, -1))
    ends = np.round(np.vstack([first, last]), _NODE_DIGITS)
    unique, inverse = np.unique(ends, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    starts, stops = inverse[: len(parts)], inverse[len(parts) :]
    graph = nx.MultiGraph()
    graph.add_nodes_from((i, {"x": x, "y": y}) for i, (x, y) in enumerate(unique.tolist()))
    names, kinds, refs = table["name"].tolist(), table["kind"].tolist(), table["ref"].tolist()
    graph.add_edges_from(
        (
            int(a),
            int(b),
            {"length": float(w), "geometry": g, "start": int(a), "name": n, "kind": k, "ref": r},
        )
        for a, b, w, g, n, k, r in zip(
            starts, stops, lengths, parts, names, kinds, refs, strict=True
        )
    )
    return graph


def line_length_m(lines: Any) -> Any:
    """Geodesic length in metres of WGS-84 lines (one line or an array of them).

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> round(float(line_length_m(LineString([(116.0, 39.0), (116.0, 40.0)]))))
    111025
    """
    single = isinstance(lines, shapely.Geometry)
    array = np.atleast_1d(np.asarray(lines, dtype=object))
    coords, owner = shapely.get_coordinates(array, return_index=True)
    same = owner[1:] == owner[:-1]
    steps = geodesic_distance_m(
        coords[:-1, 0][same], coords[:-1, 1][same], coords[1:, 0][same], coords[1:, 1][same]
    )
    lengths = np.bincount(owner[1:][same], weights=steps, minlength=len(array))
    return float(lengths[0]) if single else lengths


def to_metric(geometries: Any, crs: pyproj.CRS) -> Any:
    """WGS-84 geometries moved into a metric CRS (e.g. :attr:`RoadNetwork.crs`)."""
    return shapely.transform(
        geometries, lambda xy: np.column_stack(from_wgs84(xy[:, 0], xy[:, 1], crs))
    )


def from_metric(geometries: Any, crs: pyproj.CRS) -> Any:
    """Geometries in a metric CRS moved back to WGS-84 lon/lat."""
    return shapely.transform(
        geometries, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], crs))
    )


# --- readers ---------------------------------------------------------------------------------


def read_network(path: str | Path, *, crs: str | None = None) -> RoadNetwork:
    """Read a road network by its suffix: ``.osm``, ``.graphml`` or a line layer.

    Parameters
    ----------
    path : str or Path
        ``roads.osm`` (OpenStreetMap XML), ``roads.graphml`` (OSMnx), or a GeoJSON,
        GeoPackage (``roads.gpkg#layer``) or Shapefile of lines.
    crs : str, optional
        CRS of a line layer whose file cannot say it (``"GCJ-02"``, ``"BD-09"``).

    Raises
    ------
    LayerError
        The file is missing, malformed or holds no roads; the message names it.

    Examples
    --------
    >>> net = read_network("data/boundaries/roads.gpkg#roads")
    >>> net.graph.number_of_edges() > 4000
    True
    """
    file, layer = split_layer_path(Path.cwd(), str(path))
    if not file.exists():
        raise LayerError(f"road network: file not found: {path}")
    suffix = file.suffix.lower()
    if suffix in (".osm", ".xml"):
        return read_osm(file)
    if suffix == ".graphml":
        return read_graphml(file)
    return read_lines(LayerSource(file, layer, crs))


def read_lines(source: LayerSource) -> RoadNetwork:
    """A network from a GeoJSON / GeoPackage / Shapefile layer of (multi)lines.

    ``name`` and ``class`` (or ``highway``) columns become the edges' name and kind.
    """
    what = f"road network ({source.display})"
    frame = read_layer(source, what)
    kinds = set(frame.geometry.geom_type.dropna())
    if not kinds <= {"LineString", "MultiLineString"}:
        raise LayerError(f"{what}: geometries must be lines, found {', '.join(sorted(kinds))}")
    geometry = to_wgs84_geometry(frame, source.crs, None, what)
    kind_column = next((c for c in ("class", "highway", "kind") if c in frame), None)
    attributes = pd.DataFrame(
        {
            "name": frame.get("name", ""),
            "kind": frame[kind_column] if kind_column else "",
            "ref": frame["osmid"] if "osmid" in frame else frame.index.astype(str),
        }
    )
    return _non_empty(RoadNetwork.from_lines(geometry, attributes, source.display), what)


def _non_empty(network: RoadNetwork, what: str) -> RoadNetwork:
    if network.graph.number_of_edges() == 0:
        raise LayerError(f"{what}: no roads (every line is empty or of zero length)")
    return network


# --- OpenStreetMap XML --------------------------------------------------------------------


@dataclass
class _OsmWay:
    id: str
    refs: list[str]
    tags: dict[str, str]


def read_osm(path: str | Path) -> RoadNetwork:
    """A network from OpenStreetMap XML: the walkable ways tagged ``highway=*``.

    Ways are cut where they share a node with another way; references to nodes the
    file does not hold (an extract's edge) cut the way there. ``foot=no`` and
    ``access=no`` ways, areas and :data:`NOT_WALKABLE` highways are left out.
    """
    what = f"road network ({path})"
    coords, ways = _parse_osm(Path(path), what)
    usage: defaultdict[str, int] = defaultdict(int)
    for way in ways:
        for ref in way.refs:
            usage[ref] += 1
    lines, rows = [], []
    for way in ways:
        for run in _runs_of_known_nodes(way.refs, coords):
            for piece in _cut_at_junctions(run, usage):
                lines.append(LineString([coords[ref] for ref in piece]))
                rows.append((way.tags.get("name", ""), way.tags.get("highway", ""), way.id))
    if not lines:
        raise LayerError(f"{what}: no walkable way tagged highway=* with known nodes")
    table = pd.DataFrame(rows, columns=["name", "kind", "ref"])
    return _non_empty(RoadNetwork.from_lines(lines, table, str(path)), what)


def _parse_osm(path: Path, what: str) -> tuple[dict[str, tuple[float, float]], list[_OsmWay]]:
    coords: dict[str, tuple[float, float]] = {}
    ways: list[_OsmWay] = []
    try:
        for _, element in ET.iterparse(path, events=("end",)):
            if element.tag == "node":
                coords[element.get("id", "")] = _osm_lonlat(element, what)
                element.clear()
            elif element.tag == "way":
                tags = {t.get("k", ""): t.get("v", "") for t in element.iter("tag")}
                if _walkable(tags):
                    refs = [nd.get("ref", "") for nd in element.iter("nd")]
                    ways.append(_OsmWay(element.get("id", ""), refs, tags))
                element.clear()
    except ET.ParseError as exc:
        raise LayerError(f"{what}: not OpenStreetMap XML: {exc}") from None
    return coords, ways


def _osm_lonlat(element: ET.Element, what: str) -> tuple[float, float]:
    try:
        lon, lat = float(element.get("lon", "")), float(element.get("lat", ""))
    except ValueError:
        raise LayerError(f"{what}: node {element.get('id')}: lon/lat are not numbers") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise LayerError(f"{what}: node {element.get('id')}: lon/lat out of range")
    return lon, lat


def _walkable(tags: dict[str, str]) -> bool:
    highway = tags.get("highway")
    if not highway or highway in NOT_WALKABLE or tags.get("area") == "yes":
        return False
    if tags.get("foot") in ("yes", "designated", "permissive"):
        return True
    return tags.get("foot") not in ("no", "private") and tags.get("access") not in ("no", "private")


def _runs_of_known_nodes(refs: list[str], coords: dict) -> list[list[str]]:
    runs: list[list[str]] = [[]]
    for ref in refs:
        if ref in coords:
            runs[-1].append(ref)
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if len(run) >= 2]


def _cut_at_junctions(run: list[str], usage: dict[str, int]) -> list[list[str]]:
    pieces, current = [], [run[0]]
    for ref in run[1:]:
        current.append(ref)
        if usage[ref] > 1:
            pieces.append(current)
            current = [ref]
    if len(current) >= 2:
        pieces.append(current)
    return pieces


# --- OSMnx GraphML ------------------------------------------------------------------------


def read_graphml(path: str | Path) -> RoadNetwork:
    """A network from an OSMnx GraphML file (``ox.save_graphml``), in any CRS it names.

    Edges keep their ``geometry`` (WKT) when they have one, else run straight between
    their nodes; the two directions of a two-way street become one edge.
    """
    what = f"road network ({path})"
    try:
        source = nx.read_graphml(path)
    except (ET.ParseError, nx.NetworkXError, ValueError, KeyError) as exc:
        raise LayerError(f"{what}: not a GraphML file: {exc}") from None
    positions = {node: _graphml_xy(node, data, what) for node, data in source.nodes(data=True)}
    lines, rows, seen = [], [], set()
    for u, v, data in source.edges(data=True):
        line = _graphml_line(data, positions[u], positions[v], what)
        canonical = shapely.normalize(line).wkb
        if source.is_directed() and canonical in seen:
            continue
        seen.add(canonical)
        lines.append(line)
        rows.append((_text(data.get("name")), _text(data.get("highway")), _text(data.get("osmid"))))
    if not lines:
        raise LayerError(f"{what}: the graph has no edges")
    geometry = _graphml_to_wgs84(np.asarray(lines, dtype=object), source.graph.get("crs"), what)
    table = pd.DataFrame(rows, columns=["name", "kind", "ref"])
    return _non_empty(RoadNetwork.from_lines(geometry, table, str(path)), what)


def _graphml_xy(node: str, data: dict, what: str) -> tuple[float, float]:
    try:
        return float(data["x"]), float(data["y"])
    except (KeyError, TypeError, ValueError):
        raise LayerError(f"{what}: node {node}: needs numeric 'x' and 'y' attributes") from None


def _graphml_line(data: dict, start: tuple, end: tuple, what: str) -> LineString:
    wkt = data.get("geometry")
    if not wkt:
        return LineString([start, end])
    try:
        line = shapely.from_wkt(wkt)
    except shapely.errors.GEOSException:
        raise LayerError(f"{what}: edge geometry is not WKT: {wkt[:60]!r}") from None
    if line.geom_type != "LineString":
        raise LayerError(f"{what}: edge geometry must be a LINESTRING, got {line.geom_type}")
    return line


def _graphml_to_wgs84(lines: np.ndarray, crs: str | None, what: str) -> np.ndarray:
    if not crs:
        return lines
    try:
        system = normalize_crs(crs)
    except Exception as exc:
        raise LayerError(f"{what}: graph attribute 'crs': {exc}") from None
    if isinstance(system, str) and system == "WGS-84":
        return lines
    return geometry_to_wgs84(lines, system)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# --- the district's default network ---------------------------------------------------------


def network_from_roads(roads: gpd.GeoDataFrame, source: str = "roads") -> RoadNetwork:
    """A network from a road layer already in EPSG:4326, e.g. ``Hierarchy.roads()``.

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> roads = Hierarchy.from_manifest("data/boundaries/sample.toml").roads()
    >>> network_from_roads(roads).graph.number_of_edges() == len(roads)
    True
    """
    kind = roads["class"] if "class" in roads else roads.get("highway", "")
    attributes = pd.DataFrame(
        {"name": roads.get("name", ""), "kind": kind, "ref": roads.index.astype(str)}
    )
    return RoadNetwork.from_lines(roads.geometry, attributes, source)


class NoRoadNetworkError(GeogridError):
    """Planning needs a road network, and none is configured or stored."""


def default_network(hierarchy: Any) -> RoadNetwork:
    """The road layer of a hierarchy's manifest (``[roads]``) as a network.

    Raises
    ------
    InputError
        The manifest names no road layer.
    """
    roads = hierarchy.roads()
    if roads is None or len(roads) == 0:
        raise InputError("road network: the manifest has no [roads] layer; give a network file")
    manifest = getattr(hierarchy, "manifest", None)
    source = manifest.roads.display if manifest is not None and manifest.roads else "roads"
    return network_from_roads(roads, source)


__all__ = [
    "DEFAULT_MAX_SNAP_M",
    "NoRoadNetworkError",
    "RoadNetwork",
    "default_network",
    "line_length_m",
    "network_from_roads",
    "read_graphml",
    "read_lines",
    "read_network",
    "read_osm",
]
