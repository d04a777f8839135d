"""Patrol route planning (巡逻路线规划) on a road network.

Two kinds of closed routes, both starting and ending at a start point (e.g. the
community office) snapped onto the network:

* :func:`plan_priority_route` — visit the priority places (hazards, red and orange
  zones, hot spots), weighted by risk, within a maximum length. This is the
  prize-collecting / orienteering problem; it is solved with **OR-Tools routing**:
  one vehicle, a distance dimension capped at the maximum length, and one
  disjunction per place whose penalty is proportional to its weight (and larger
  than any distance saved), so the solver collects as much weight as fits and then
  walks as little as it can. Distances between the places come from Dijkstra
  (scipy) on the network.
* :func:`plan_street_coverage` — walk every street of an area (a grid) at least once:
  the Chinese postman problem (rural postman when the area's streets are in pieces):
  the area's streets, joined by shortest connections (a minimum spanning tree of the
  pieces, Frederickson's heuristic), made Eulerian by a minimum-weight matching of the
  odd nodes along shortest paths (networkx), then walked as an Eulerian circuit.

A network in several pieces is planned in the piece holding the start, and the
result says so (:attr:`PlannedRoute.notes`); places off the network or out of reach
are listed with the reason. Results come as GeoJSON and GPX with length and walking
time (4.5 km/h by default).


Why one module of ~750 lines: the two planners (priority places with OR-Tools,
every street as a Chinese-postman walk) share the route they return, its GPX
and GeoJSON, the snapping of the start and the area's sub-network.

Examples
--------
>>> from shapely.geometry import LineString
>>> from geogrid.patrol.network import RoadNetwork
>>> square = [LineString([(120.0, 28.0), (120.001, 28.0)]),
...           LineString([(120.001, 28.0), (120.001, 28.001)]),
...           LineString([(120.001, 28.001), (120.0, 28.001)]),
...           LineString([(120.0, 28.001), (120.0, 28.0)])]
>>> route = plan_street_coverage(RoadNetwork.from_lines(square), None, 120.0, 28.0)
>>> round(route.length_m), round(route.walking_minutes, 1)
(418, 5.6)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csgraph as cs
from shapely.geometry import LineString, mapping

from geogrid.errors import InputError
from geogrid.patrol.gpx import write_gpx
from geogrid.patrol.network import DEFAULT_MAX_SNAP_M, RoadNetwork
from geogrid.patrol.records import PatrolRoute

WALKING_SPEED_KMH = 4.5
#: Weight of a hazard by its colour (四色): each colour counts twice the next.
COLOUR_WEIGHTS = {"red": 8.0, "orange": 4.0, "yellow": 2.0, "blue": 1.0}
#: Default colour thresholds: LEC D (≥320 red, 160–320 orange, 70–160 yellow) and
#: risk matrix R (20–25 red, 10–16 orange, 4–9 yellow); below is blue.
HAZARD_THRESHOLDS = {"lec": (320.0, 160.0, 70.0), "matrix": (20.0, 10.0, 4.0)}
MAX_PLACES = 500


@dataclass
class PlannedRoute:
    """A closed patrol route: its line, length, the places on it and what was left out."""

    geometry: LineString
    length_m: float
    start: tuple[float, float]
    visited: pd.DataFrame  # name, kind, weight, lon, lat, order, at_m
    skipped: pd.DataFrame  # name, kind, weight, lon, lat, reason
    solver: str
    notes: list[str] = field(default_factory=list)
    speed_kmh: float = WALKING_SPEED_KMH

    @property
    def walking_minutes(self) -> float:
        """Walking time at :attr:`speed_kmh`."""
        return self.length_m / 1000 / self.speed_kmh * 60

    def to_geojson(self) -> dict[str, Any]:
        """A FeatureCollection: the route, the start, visited and skipped places."""
        route = {
            "type": "Feature",
            "geometry": mapping(self.geometry),
            "properties": {
                "kind": "route",
                "length_m": round(self.length_m, 1),
                "walking_minutes": round(self.walking_minutes, 1),
                "speed_kmh": self.speed_kmh,
                "solver": self.solver,
                "notes": self.notes,
                "places_visited": len(self.visited),
                "places_skipped": len(self.skipped),
            },
        }
        start = _point_feature(*self.start, {"kind": "start"})
        places = [
            _point_feature(r["lon"], r["lat"], {"kind": "place", **_props(r)})
            for r in self.visited.to_dict("records")
        ]
        skipped = [
            _point_feature(r["lon"], r["lat"], {"kind": "skipped", **_props(r)})
            for r in self.skipped.to_dict("records")
        ]
        return {"type": "FeatureCollection", "features": [route, start, *places, *skipped]}

    def to_gpx(self, name: str = "巡逻路线") -> str:
        """GPX 1.1: the route as a track, visited places as waypoints in order."""
        waypoints = self.visited.assign(
            name=[
                f"{o}. {n}"
                for o, n in zip(self.visited["order"], self.visited["name"], strict=True)
            ]
        )
        return write_gpx([(name, self.geometry)], waypoints if len(waypoints) else None)

    def to_patrol_route(self, grid_code: str, shift: str, name: str = "") -> PatrolRoute:
        """The route as a :class:`~geogrid.patrol.PatrolRoute` to store for a grid and shift."""
        return PatrolRoute(
            grid_code,
            shift,
            self.geometry,
            name=name,
            attributes={
                "length_m": round(self.length_m, 1),
                "walking_minutes": round(self.walking_minutes, 1),
                "solver": self.solver,
                "places": self.visited["name"].tolist(),
            },
        )


def _point_feature(lon: float, lat: float, properties: dict) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


def _props(row: dict) -> dict:
    """A place's properties; its own kind (hazard, hot_spot, zone) becomes ``source``."""
    return {
        ("source" if k == "kind" else k): (v.item() if isinstance(v, np.generic) else v)
        for k, v in row.items()
        if k not in ("lon", "lat")
    }


# --- priority places --------------------------------------------------------------------------


def hazard_colour(method: str, score: float) -> str:
    """Four-colour class of a hazard score with the default thresholds.

    Examples
    --------
    >>> hazard_colour("lec", 270), hazard_colour("matrix", 20), hazard_colour("lec", 20)
    ('orange', 'red', 'blue')
    """
    red, orange, yellow = HAZARD_THRESHOLDS.get(method, HAZARD_THRESHOLDS["lec"])
    return (
        "red"
        if score >= red
        else "orange"
        if score >= orange
        else ("yellow" if score >= yellow else "blue")
    )


def priority_places(
    hazards: gpd.GeoDataFrame | None = None,
    hot_spots: pd.DataFrame | None = None,
    zones: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Priority places with weights, from hazards, hot spots and risk zones.

    Parameters
    ----------
    hazards : GeoDataFrame, optional
        As :meth:`Store.hazards` returns them (name, method, score, geometry); weighted
        by colour (:data:`COLOUR_WEIGHTS`).
    hot_spots : DataFrame, optional
        name, lon, lat and count (e.g. recent reports per grid at its centre); weighted
        1–8 by count relative to the largest.
    zones : GeoDataFrame, optional
        Risk zones (polygons) with a ``colour``; visited at a point inside; only red and
        orange zones are kept.

    Examples
    --------
    >>> spots = pd.DataFrame({"name": ["a", "b"], "lon": [120.0, 120.1], "lat": [28.0, 28.0],
    ...                       "count": [10, 40]})
    >>> priority_places(hot_spots=spots)["weight"].tolist()
    [2.0, 8.0]
    """
    frames = [_hazard_places(hazards), _hot_spot_places(hot_spots), _zone_places(zones)]
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return _places_frame([], [], [], [], [])
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")


def _places_frame(names, kinds, weights, lon, lat) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": list(names), "kind": list(kinds), "weight": np.asarray(weights, dtype=float)},
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


def _hazard_places(hazards: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    if hazards is None or len(hazards) == 0:
        return None
    colours = [
        hazard_colour(m, s) for m, s in zip(hazards["method"], hazards["score"], strict=True)
    ]
    points = shapely.point_on_surface(hazards.geometry.values)
    return _places_frame(
        hazards["name"].astype(str),
        ["hazard"] * len(hazards),
        [COLOUR_WEIGHTS[c] for c in colours],
        shapely.get_x(points),
        shapely.get_y(points),
    )


def _hot_spot_places(spots: pd.DataFrame | None) -> gpd.GeoDataFrame | None:
    if spots is None or len(spots) == 0:
        return None
    count = pd.to_numeric(spots["count"], errors="coerce").fillna(0).to_numpy(float)
    weight = np.maximum(1.0, np.round(8.0 * count / max(count.max(), 1.0), 1))
    return _places_frame(
        spots["name"].astype(str), ["hot_spot"] * len(spots), weight, spots["lon"], spots["lat"]
    )


def _zone_places(zones: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    if zones is None or len(zones) == 0:
        return None
    colours = zones["colour"].map(lambda c: str(getattr(c, "name", c)).lower())
    kept = zones[colours.isin(["red", "orange"]).to_numpy()]
    colours = colours[colours.isin(["red", "orange"])]
    points = shapely.point_on_surface(kept.geometry.values)
    names = kept["name"] if "name" in kept else kept.get("code", pd.Series(range(len(kept))))
    return _places_frame(
        names.astype(str),
        ["zone"] * len(kept),
        colours.map(COLOUR_WEIGHTS),
        shapely.get_x(points),
        shapely.get_y(points),
    )


def _checked_places(places: Any) -> pd.DataFrame:
    frame = pd.DataFrame(places).reset_index(drop=True)
    if frame.empty:
        return pd.DataFrame(
            {
                "name": pd.Series(dtype=object),
                "kind": pd.Series(dtype=object),
                "weight": pd.Series(dtype=float),
                "lon": pd.Series(dtype=float),
                "lat": pd.Series(dtype=float),
            }
        )
    if "geometry" in frame and not {"lon", "lat"} <= set(frame):
        points = shapely.point_on_surface(np.asarray(frame["geometry"], dtype=object))
        frame["lon"], frame["lat"] = shapely.get_x(points), shapely.get_y(points)
    missing = {"lon", "lat", "weight"} - set(frame)
    if missing:
        raise InputError(f"places: missing column {', '.join(sorted(missing))}")
    if len(frame) > MAX_PLACES:
        raise InputError(f"places: at most {MAX_PLACES} at once, got {len(frame)}")
    out = pd.DataFrame(
        {
            "name": frame["name"].astype(str)
            if "name" in frame
            else [f"place {i + 1}" for i in range(len(frame))],
            "kind": frame["kind"].astype(str) if "kind" in frame else "place",
            "weight": pd.to_numeric(frame["weight"], errors="coerce"),
            "lon": pd.to_numeric(frame["lon"], errors="coerce"),
            "lat": pd.to_numeric(frame["lat"], errors="coerce"),
        }
    )
    bad = ~(
        (out["weight"] > 0)
        & np.isfinite(out["weight"])
        & (out["lon"].abs() <= 180)
        & (out["lat"].abs() <= 90)
    )
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"places row {row + 1}: weight must be > 0 and lon/lat WGS-84 degrees")
    return out


# --- getting onto the network -------------------------------------------------------------


@dataclass
class _Setup:
    network: RoadNetwork  # split at the start and the places
    start_node: int
    nodes: np.ndarray  # node of each place, -1 when it is not reachable
    skipped: list[tuple[int, str]]
    notes: list[str]


def _snap_all(
    network: RoadNetwork, start: tuple[float, float], places: pd.DataFrame, max_snap_m: float
) -> _Setup:
    lon = np.r_[start[0], places["lon"].to_numpy(float)]
    lat = np.r_[start[1], places["lat"].to_numpy(float)]
    split, snaps = network.with_points(lon, lat)
    distance = snaps["distance_m"].to_numpy()
    if not distance[0] <= max_snap_m:
        raise InputError(
            f"start: ({start[0]:.6f}, {start[1]:.6f}) is {distance[0]:,.0f} m from the nearest "
            f"road (limit {max_snap_m:g} m): put the start on the network, or check its crs"
        )
    nodes = snaps["node"].to_numpy()[1:].copy()
    skipped = [
        (i, f"off the network: {distance[i + 1]:,.0f} m from the nearest road")
        for i in np.flatnonzero(~(distance[1:] <= max_snap_m))
    ]
    nodes[[i for i, _ in skipped]] = -1
    setup = _Setup(split, int(snaps["node"].iloc[0]), nodes, skipped, [])
    _keep_reachable(setup)
    return setup


def _keep_reachable(setup: _Setup) -> None:
    labels = setup.network.component_labels
    if setup.network.component_count == 1:
        return
    own = labels[setup.start_node]
    graph = setup.network.graph
    part_m = sum(d for u, _, d in graph.edges(data="length") if labels[u] == own)
    setup.notes.append(
        f"the network is in {setup.network.component_count} unconnected parts; planned "
        f"within the part that holds the start ({part_m:,.0f} of "
        f"{setup.network.total_length_m:,.0f} m of road)"
    )
    for i, node in enumerate(setup.nodes):
        if node >= 0 and labels[node] != own:
            setup.skipped.append((i, "not connected to the start by any road"))
            setup.nodes[i] = -1


# --- prize-collecting route ----------------------------------------------------------------


def plan_priority_route(
    network: RoadNetwork,
    start_lon: float,
    start_lat: float,
    places: Any,
    *,
    max_length_m: float = 5000.0,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    time_limit_s: float = 1.0,
    speed_kmh: float = WALKING_SPEED_KMH,
) -> PlannedRoute:
    """A closed route from the start that visits the most risk weight within a length.

    Parameters
    ----------
    network : RoadNetwork
        The roads (e.g. :func:`geogrid.patrol.network.default_network`).
    start_lon, start_lat : float
        The start (and end), WGS-84; must be within ``max_snap_m`` of a road.
    places : DataFrame or GeoDataFrame
        ``weight`` (> 0) and ``lon``/``lat`` or a geometry; ``name`` and ``kind``
        optional (see :func:`priority_places`).
    max_length_m : float
        The longest route allowed.
    time_limit_s : float
        OR-Tools guided local search time; 0 stops at the first local optimum
        (deterministic, quick).

    Raises
    ------
    InputError
        Bad places or options, or a start off the network.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> from geogrid.patrol.network import RoadNetwork
    >>> line = RoadNetwork.from_lines([LineString([(120.0, 28.0), (120.01, 28.0)])])
    >>> places = pd.DataFrame({"name": ["近", "远"], "weight": [1, 5],
    ...                        "lon": [120.002, 120.009], "lat": [28.0, 28.0]})
    >>> route = plan_priority_route(line, 120.0, 28.0, places, max_length_m=1000,
    ...                             time_limit_s=0)
    >>> route.visited["name"].tolist(), route.skipped["reason"].str[:8].tolist()
    (['近'], ['too far:'])
    """
    _check_options(max_length_m, max_snap_m, time_limit_s, speed_kmh)
    table = _checked_places(places)
    setup = _snap_all(network, (start_lon, start_lat), table, max_snap_m)
    order, matrix, predecessors, candidates = _solve_orienteering(
        setup, table, max_length_m, time_limit_s
    )
    sequence = [setup.start_node, *(setup.nodes[i] for i in order), setup.start_node]
    rows = [0, *(1 + candidates.index(i) for i in order), 0]
    steps = _legs(setup.network, sequence, rows, predecessors)
    length = sum(setup.network.graph.edges[s]["length"] for s in steps)
    at = np.cumsum([matrix[a, b] for a, b in itertools.pairwise(rows)])[:-1] if order else []
    visited = table.iloc[list(order)].assign(order=range(1, len(order) + 1), at_m=np.round(at, 1))
    skipped = _skipped_frame(table, setup.skipped)
    if not order and len(table):
        setup.notes.append(f"no priority place can be visited within {max_length_m:,.0f} m")
    return PlannedRoute(
        setup.network.walk(steps),
        float(length),
        (start_lon, start_lat),
        visited.reset_index(drop=True),
        skipped,
        "OR-Tools routing (prize-collecting, disjunction penalties = weights)",
        setup.notes,
        speed_kmh,
    )


def _check_options(max_length_m, max_snap_m, time_limit_s, speed_kmh) -> None:
    checks = {
        "max_length_m": (max_length_m, 1, 200_000),
        "max_snap_m": (max_snap_m, 0, 10_000),
        "time_limit_s": (time_limit_s, 0, 60),
        "speed_kmh": (speed_kmh, 0.5, 30),
    }
    for name, (value, low, high) in checks.items():
        if not (isinstance(value, int | float) and low <= value <= high):
            raise InputError(f"{name}: must be a number from {low} to {high}, got {value!r}")


def _skipped_frame(table: pd.DataFrame, skipped: list[tuple[int, str]]) -> pd.DataFrame:
    rows = [{**table.iloc[i].to_dict(), "reason": reason} for i, reason in sorted(skipped)]
    return pd.DataFrame(rows, columns=[*table.columns, "reason"])


def _solve_orienteering(
    setup: _Setup, table: pd.DataFrame, max_length_m: float, time_limit_s: float
):
    candidates = [i for i in range(len(table)) if setup.nodes[i] >= 0]
    sources = np.r_[setup.start_node, setup.nodes[candidates]].astype(np.int64)
    distances, predecessors = cs.dijkstra(
        setup.network.csgraph, indices=sources, return_predecessors=True
    )
    matrix = distances[:, sources]
    reachable = []
    for k, i in enumerate(candidates, start=1):
        round_trip = matrix[0, k] + matrix[k, 0]
        if round_trip > max_length_m:
            setup.skipped.append((i, f"too far: the round trip alone is {round_trip:,.0f} m"))
        else:
            reachable.append(k)
    chosen = _ortools_order(
        matrix,
        reachable,
        table["weight"].to_numpy(float)[[candidates[k - 1] for k in reachable]],
        max_length_m,
        time_limit_s,
    )
    order = [candidates[k - 1] for k in chosen]
    for k in set(reachable) - set(chosen):
        setup.skipped.append(
            (candidates[k - 1], f"left out: the route would exceed {max_length_m:,.0f} m")
        )
    return order, matrix, predecessors, candidates


def _ortools_order(
    matrix: np.ndarray,
    rows: list[int],
    weights: np.ndarray,
    max_length_m: float,
    time_limit_s: float,
) -> list[int]:
    """Matrix rows of the places to visit, in order (OR-Tools routing with disjunctions)."""
    if not rows:
        return []
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    index = [0, *rows]
    metres = np.rint(matrix[np.ix_(index, index)]).astype(np.int64).tolist()
    manager = pywrapcp.RoutingIndexManager(len(index), 1, 0)
    model = pywrapcp.RoutingModel(manager)
    transit = model.RegisterTransitCallback(
        lambda a, b: metres[manager.IndexToNode(a)][manager.IndexToNode(b)]
    )
    model.SetArcCostEvaluatorOfAllVehicles(transit)
    model.AddDimension(transit, 0, int(max_length_m), True, "length")
    # Dropping a place must cost more than any walking it saves: scale by the length cap.
    unit = (int(max_length_m) + 1) / weights.min()
    for node, weight in enumerate(weights, start=1):
        model.AddDisjunction([manager.NodeToIndex(node)], round(weight * unit))
    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    if time_limit_s > 0:
        parameters.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
        parameters.time_limit.FromMilliseconds(int(time_limit_s * 1000))
    solution = model.SolveWithParameters(parameters)
    return [] if solution is None else _visit_order(model, manager, solution, index)


def _visit_order(model, manager, solution, index: list[int]) -> list[int]:
    order, position = [], solution.Value(model.NextVar(model.Start(0)))
    while not model.IsEnd(position):
        order.append(index[manager.IndexToNode(position)])
        position = solution.Value(model.NextVar(position))
    return order


def _legs(
    network: RoadNetwork, sequence: list[int], rows: list[int], predecessors: np.ndarray
) -> list[tuple[int, int, int]]:
    """Edges of the shortest path of each leg, from the Dijkstra predecessor rows."""
    steps: list[tuple[int, int, int]] = []
    for (a, b), row in zip(itertools.pairwise(sequence), rows[:-1], strict=True):
        path = [b]
        while path[-1] != a:
            path.append(int(predecessors[row, path[-1]]))
        steps += network.path_edges(path[::-1])
    return steps


# --- covering every street ----------------------------------------------------------------


def plan_street_coverage(
    network: RoadNetwork,
    area: Any,
    start_lon: float,
    start_lat: float,
    *,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    speed_kmh: float = WALKING_SPEED_KMH,
) -> PlannedRoute:
    """A closed route from the start that walks every street of ``area`` at least once.

    A street belongs to the area when its middle is covered by the area (a WGS-84
    polygon; None: the whole network). Streets in parts of the network the start
    cannot reach are left out and named in the notes.

    Raises
    ------
    InputError
        The start is off the network, or the area holds no street.
    """
    _check_options(1, max_snap_m, 0, speed_kmh)
    marked = _mark_required(network, area)
    setup = _snap_all(marked, (start_lon, start_lat), _checked_places([]), max_snap_m)
    split, start = setup.network, setup.start_node
    labels = split.component_labels
    required = [(u, v, k) for u, v, k, r in split.graph.edges(keys=True, data="required") if r]
    reachable = [e for e in required if labels[e[0]] == labels[start]]
    left_out = sum(split.graph.edges[e]["length"] for e in required) - sum(
        split.graph.edges[e]["length"] for e in reachable
    )
    if left_out > 0:
        setup.notes.append(
            f"{left_out:,.0f} m of the area's streets cannot be reached from "
            "the start and are left out"
        )
    circuit = _postman_circuit(split, reachable, start)
    length = sum(split.graph.edges[s]["length"] for s in circuit)
    streets = sum(split.graph.edges[e]["length"] for e in reachable)
    setup.notes.append(
        f"streets {streets:,.0f} m, walked twice or to connect {length - streets:,.0f} m"
    )
    empty = _skipped_frame(_checked_places([]), [])
    return PlannedRoute(
        split.walk(circuit),
        float(length),
        (start_lon, start_lat),
        empty.drop(columns="reason").assign(order=[], at_m=[]),
        empty,
        "Chinese postman (networkx: MST of pieces + min-weight matching + Euler circuit)",
        setup.notes,
        speed_kmh,
    )


def streets_in(network: RoadNetwork, area: Any) -> np.ndarray:
    """Which streets (edges) of the network lie in ``area``: those whose middle it covers.

    ``area`` is a WGS-84 polygon, or None for the whole network; the mask is in the
    order of ``network.edges``. These are the streets :func:`plan_street_coverage` walks.

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> from geogrid.patrol.network import default_network
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> int(streets_in(default_network(h), grid_area(h, ["330399001001"])).sum())
    189
    """
    if area is None:
        return np.ones(len(network.edges), dtype=bool)
    if not isinstance(area, shapely.Geometry) or area.geom_type not in ("Polygon", "MultiPolygon"):
        raise InputError("area: must be a WGS-84 polygon (a grid)")
    middles = shapely.line_interpolate_point(network.edges.geometry.values, 0.5, normalized=True)
    # 1e-6 degree (about 10 cm) keeps streets drawn along the boundary.
    return shapely.covered_by(middles, area.buffer(1e-6))


def _mark_required(network: RoadNetwork, area: Any) -> RoadNetwork:
    inside = streets_in(network, area)
    graph = network.graph.copy()
    for (u, v, k), flag in zip(
        network.edges[["u", "v", "key"]].itertuples(index=False), inside, strict=True
    ):
        graph.edges[u, v, k]["required"] = bool(flag)
    if not inside.any():
        raise InputError("area: no street of the network lies in it")
    return RoadNetwork(graph, network.source)


def _postman_circuit(network: RoadNetwork, required: list, start: int) -> list:
    walk = nx.MultiGraph()
    walk.add_node(start)
    walk.add_edges_from((u, v, {"edge": (u, v, k)}) for u, v, k in required)
    _connect_pieces(network, walk)
    _pair_odd_nodes(network, walk)
    steps = []
    for a, b, key in nx.eulerian_circuit(walk, source=start, keys=True):
        steps.append((a, b, walk.edges[a, b, key]["edge"][2]))
    return steps


def _connect_pieces(network: RoadNetwork, walk: nx.MultiGraph) -> None:
    """Join the pieces of the walk by the shortest paths of a minimum spanning tree."""
    pieces = [sorted(p) for p in nx.connected_components(walk)]
    if len(pieces) < 2:
        return
    links = nx.Graph()
    for i, piece in enumerate(pieces):
        distance, _, sources = cs.dijkstra(
            network.csgraph, indices=piece, min_only=True, return_predecessors=True
        )
        for j, other in enumerate(pieces[i + 1 :], start=i + 1):
            nearest = other[int(np.argmin(distance[other]))]
            links.add_edge(i, j, weight=distance[nearest], ends=(int(sources[nearest]), nearest))
    for i, j in nx.minimum_spanning_edges(links, data=False):
        _add_path(network, walk, *links.edges[i, j]["ends"])


def _pair_odd_nodes(network: RoadNetwork, walk: nx.MultiGraph) -> None:
    """Make every degree even: min-weight matching of the odd nodes by path length."""
    odd = [n for n, degree in walk.degree() if degree % 2]
    if not odd:
        return
    distance = cs.dijkstra(network.csgraph, indices=odd)
    pairs = nx.Graph()
    for (i, a), (_, b) in itertools.combinations(enumerate(odd), 2):
        pairs.add_edge(a, b, weight=distance[i, b])
    for a, b in nx.min_weight_matching(pairs):
        _add_path(network, walk, a, b)


def _add_path(network: RoadNetwork, walk: nx.MultiGraph, a: int, b: int) -> None:
    _, predecessors = cs.dijkstra(network.csgraph, indices=a, return_predecessors=True)
    path = [b]
    while path[-1] != a:
        path.append(int(predecessors[path[-1]]))
    for u, v, k in network.path_edges(path[::-1]):
        walk.add_edge(u, v, edge=(u, v, k))


__all__ = [
    "COLOUR_WEIGHTS",
    "WALKING_SPEED_KMH",
    "PlannedRoute",
    "grid_area",
    "hazard_colour",
    "plan_level",
    "plan_priority_route",
    "plan_street_coverage",
    "priority_places",
    "store_places",
    "streets_in",
]


# --- what a command or a route needs from the store ----------------------------------------


def grid_area(hierarchy: Any, codes: Any) -> Any:
    """The union of the grids with these codes (any level), as one WGS-84 geometry.

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> grid_area(h, ["330399001001001"]).geom_type
    'Polygon'
    """
    wanted = {str(c) for c in codes}
    found = []
    for level in hierarchy.levels:
        frame = hierarchy.grids(level)
        found += list(frame.geometry[frame["code"].isin(wanted)])
        wanted -= set(frame["code"])
    if wanted:
        raise InputError(f"grid: no grid has the code {', '.join(sorted(wanted))}")
    return shapely.union_all(found)


def plan_level(hierarchy: Any, codes: Any) -> str:
    """The level whose busiest grids a plan visits: the finest level among the planned grids.

    With no grid (the whole district) it is the hierarchy's default level.

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> plan_level(h, ["330399001", "330399001001"]), plan_level(h, [])
    ('community', 'grid')
    """
    depths = [hierarchy.levels.index(hierarchy.find(str(code))[0]) for code in codes]
    return hierarchy.levels[max(depths)] if depths else hierarchy.default_level


def store_places(
    store: Any, hierarchy: Any, area: Any = None, level: str | None = None, hot_spots: int = 10
) -> gpd.GeoDataFrame:
    """Priority places from a store: its hazards and the grids with the most open reports.

    Only places inside ``area`` (if given) are kept; the ``hot_spots`` grids of ``level``
    (default: the hierarchy's default level) with the most open reports are visited at a
    point inside them, weighted by count.
    """
    level = hierarchy.chosen_level(level)
    bbox = None if area is None else tuple(area.bounds)
    hazards = store.hazards(bbox)
    if area is not None and len(hazards):
        hazards = hazards[hazards.intersects(area)]
    counts = store.count_by_grid(level)
    grids = hierarchy.grids(level)
    if area is not None:
        grids = grids[grids.representative_point().within(area)]
    busy = grids.merge(counts[counts["open"] > 0][["code", "open"]], on="code")
    busy = busy.nlargest(hot_spots, "open")
    points = busy.representative_point()
    spots = pd.DataFrame(
        {"name": busy["code"].astype(str), "lon": points.x, "lat": points.y, "count": busy["open"]}
    )
    return priority_places(hazards=hazards, hot_spots=spots)
