"""Patrol API, to be registered at /api/patrol: plans, track analysis, compliance, routes.

Routes are thin: parse (:mod:`web.params`), call :mod:`geogrid.patrol`, serialise.
GPX bodies are sent as they are (``Content-Type: application/gpx+xml``). The road
network is the ``PATROL_NETWORK`` file if the app has one, else the roads stored
with the active generation; it is built once per generation. The OpenAPI
description of these routes is :mod:`web.patrol_openapi`.

Who sees which tracks (the security review's F4: a forged upload must not turn a
grid from missed to met):

- a grid worker (``track.create``, ``track.read``) stores and reads its own tracks
  only: they are stored under its account name whatever the GPX file's author
  says, and a ``worker`` parameter naming someone else is refused with 403;
- a commander or an administrator (``track.read_all``) stores tracks for the
  workers it names (``worker``, else each file's author) and reads every worker's
  tracks that pass through a grid of its scope;
- compliance, stored routes and plans list only the grids of the principal's scope;
  a grid out of scope answers 404, as one that does not exist.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
import shapely.geometry
from flask import Blueprint, Response, current_app, jsonify, request, url_for
from werkzeug.exceptions import Forbidden

from geogrid.access import Principal
from geogrid.assign import DEFAULT_MAX_DISTANCE_M
from geogrid.crs import to_wgs84
from geogrid.errors import GeogridError, InputError, NotFoundError
from geogrid.hierarchy import Hierarchy
from geogrid.patrol.compliance import PatrolRule, compliance_of_tracks, never_visited
from geogrid.patrol.gpx import parse_gpx
from geogrid.patrol.network import (
    DEFAULT_MAX_SNAP_M,
    NoRoadNetworkError,
    RoadNetwork,
    default_network,
    network_from_roads,
)
from geogrid.patrol.network import read_network as _read_network
from geogrid.patrol.records import SHIFTS, PatrolRoute
from geogrid.patrol.routing import (
    grid_area,
    plan_level,
    plan_priority_route,
    plan_street_coverage,
    store_places,
    streets_in,
)
from geogrid.patrol.tracks import analyse_tracks, track_length_m
from web import limits, params
from web.access import principal, requires, visible_codes, visible_grid
from web.limits import TooCostlyError
from web.patrol_openapi import GEOJSON, GPX
from web.state import hierarchy, store

blueprint = Blueprint("patrol", __name__)
PLAN_FIELDS = {
    "start",
    "crs",
    "grids",
    "mode",
    "max_length_m",
    "max_snap_m",
    "time_limit_s",
    "places",
    "format",
}
#: Default size of a page of stored routes.
ROUTES_PAGE = 100
_network_lock = threading.Lock()


def _geojson(body: dict, status: int = 200) -> Response:
    return Response(current_app.json.dumps(body), status=status, mimetype=GEOJSON)


def network() -> RoadNetwork:
    """The road network: ``PATROL_NETWORK`` if set, else the active generation's roads.

    Built once per generation: activating another generation brings its roads.
    """
    app = current_app._get_current_object()
    generation = store().active_generation_id()
    with _network_lock:
        cached = app.extensions.get("geogrid.patrol.network")
        if cached is None or cached[0] != generation:
            cached = (generation, _built_network(app.config, generation))
            app.extensions["geogrid.patrol.network"] = cached
    return cached[1]


def _built_network(config: Mapping[str, Any], generation_id: int) -> RoadNetwork:
    if config.get("PATROL_NETWORK"):
        return _read_network(config["PATROL_NETWORK"])
    roads = store().roads(generation_id)
    if roads is not None:
        return network_from_roads(roads, "the active generation's roads")
    if not store().generation(generation_id).keeps_roads and config.get("MANIFEST"):
        # Stored by an earlier release, which read the manifest's roads: so do we.
        with contextlib.suppress(GeogridError):  # no server path in an anonymous reply
            return default_network(Hierarchy.from_manifest(config["MANIFEST"]))
    raise NoRoadNetworkError(
        "patrol planning: the active generation carries no road network; an administrator "
        "sets GEOGRID_PATROL_NETWORK or imports the boundaries with a [roads] layer"
    )


# --- whose tracks, which grids --------------------------------------------------------------


def own_worker(who: Principal, named: str | None) -> str | None:
    """The worker whose tracks ``who`` stores or reads: itself, unless it reads all.

    A grid worker acts for itself only: naming another worker is refused rather
    than silently rewritten, so that a forged upload fails loudly. ``None``: any
    worker (as named in each file, or every worker when reading).

    Examples
    --------
    >>> worker = Principal("zhang.san", "grid_worker", display_name="张三")
    >>> own_worker(worker, None), own_worker(worker, "张三")
    ('zhang.san', 'zhang.san')
    >>> own_worker(Principal("chief", "commander"), "li.si")
    'li.si'
    >>> own_worker(worker, "li.si")
    Traceback (most recent call last):
    ...
    werkzeug.exceptions.Forbidden: 403 Forbidden: worker=li.si: zhang.san (grid_worker) \
stores and reads its own tracks only
    """
    if who.may("track.read_all"):
        return named
    if named is not None and named not in (who.name, who.display_name):
        raise Forbidden(f"worker={named}: {who.name} ({who.role}) stores and reads its own "
                        "tracks only")  # fmt: skip
    return who.name


def tracks_in_scope(tracks: list) -> list:
    """The tracks that pass through a grid of the principal's scope (all when unscoped).

    A point counts for a grid as in the compliance count: inside it, or within
    the assignment's tolerance of it.
    """
    codes = visible_codes()
    if codes is None or not tracks:
        return tracks
    h = hierarchy()
    assigned = h.assign(np.concatenate([t.lon for t in tracks]),
                        np.concatenate([t.lat for t in tracks]),
                        max_distance_m=DEFAULT_MAX_DISTANCE_M)  # fmt: skip
    inside = assigned[[f"{level}_code" for level in h.levels]].isin(codes).any(axis=1)
    bounds = np.cumsum([0] + [len(t.lon) for t in tracks])
    return [track for track, first, last in zip(tracks, bounds[:-1], bounds[1:], strict=True)
            if inside.iloc[first:last].any()]  # fmt: skip


# --- planning ------------------------------------------------------------------------------


@blueprint.post("/plan")
@requires("route.read")
def plan():
    """Plan a closed route (priority places within a length, or every street of the grids)."""
    body = _plan_body(params.json_body())
    lon, lat = _start(body)
    grids = [visible_grid(code) for code in body["grids"]] or list(principal().scope or [])
    area = grid_area(hierarchy(), grids) if grids else None
    _places_in(body.get("places"), area)
    if body["mode"] == "streets":
        streets = int(streets_in(network(), area).sum())
        limits.at_most("MAX_PLAN_STREETS", streets, "streets in the plan's area", TooCostlyError,
                       ": name fewer or smaller grids")  # fmt: skip
        route = plan_street_coverage(network(), area, lon, lat, max_snap_m=body["max_snap_m"])
    else:
        route = plan_priority_route(
            network(),
            lon,
            lat,
            _plan_places(body.get("places"), area, grids),
            max_length_m=body["max_length_m"],
            max_snap_m=body["max_snap_m"],
            time_limit_s=body["time_limit_s"],
        )
    if body["format"] == "gpx":
        return Response(route.to_gpx(), mimetype=GPX)
    return _geojson(route.to_geojson())


def _plan_body(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InputError("body: must be a JSON object")
    unknown = sorted(set(data) - PLAN_FIELDS)
    if unknown:
        raise InputError(f"body: unknown field {', '.join(unknown)}")
    body = {
        "crs": "WGS-84",
        "grids": [],
        "mode": "priority",
        "max_length_m": 5000.0,
        "max_snap_m": DEFAULT_MAX_SNAP_M,
        "time_limit_s": 1.0,
        "format": "geojson",
        **data,
    }
    _choice(body, "mode", ("priority", "streets"))
    _choice(body, "format", ("geojson", "gpx"))
    if not (isinstance(body["grids"], list) and all(isinstance(c, str) for c in body["grids"])):
        raise InputError("body.grids: must be a list of grid codes")
    for name, high in (("max_length_m", 50_000), ("max_snap_m", 5_000), ("time_limit_s", 5)):
        body[name] = _number(body[name], f"body.{name}", 0, high)
    if body.get("places") is not None:
        body["places"] = _places(body["places"])
    return body


def _plan_places(places: Any, area: Any, grids: list[str]) -> Any:
    """The places sent, or else the store's hazards and busy grids in the area."""
    if places is not None:
        return places
    places = store_places(store(), hierarchy(), area, plan_level(hierarchy(), grids))
    limits.at_most("MAX_PLAN_PLACES", len(places), "places (hazards, busy grids) in the plan's "
                   "area", TooCostlyError, ": name fewer grids, or send the places")  # fmt: skip
    return places


def _places_in(places: list[dict[str, Any]] | None, area: Any) -> None:
    """Refuse a place sent outside the plan's area: a scoped principal plans in its grids."""
    if places is None or area is None or principal().scope is None:
        return
    for place in places:
        if not area.covers(shapely.Point(place["lon"], place["lat"])):
            raise NotFoundError(f"place {place['name']}: not in your scope's grids")


def _choice(body: dict, name: str, choices: tuple[str, ...]) -> None:
    if body[name] not in choices:
        raise InputError(f"body.{name}: must be one of {', '.join(choices)}")


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{where}: must be a number")
    if not low <= value <= high:
        raise InputError(f"{where}: must be between {low} and {high}")
    return float(value)


def _start(body: dict) -> tuple[float, float]:
    start = body.get("start")
    if not isinstance(start, Mapping) or not {"lon", "lat"} <= set(start):
        raise InputError("body.start: must be an object with lon and lat")
    if not isinstance(body["crs"], str):
        raise InputError("body.crs: must be text")
    lon = _number(start["lon"], "body.start.lon", -180, 180)
    lat = _number(start["lat"], "body.start.lat", -90, 90)
    x, y = to_wgs84(lon, lat, body["crs"])
    return float(x), float(y)


def _places(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise InputError("body.places: must be a list of places")
    limits.at_most("MAX_PLAN_PLACES", len(raw), "places in body.places")
    places = []
    for i, place in enumerate(raw):
        where = f"body.places[{i}]"
        if not isinstance(place, Mapping):
            raise InputError(f"{where}: must be an object")
        places.append(
            {
                "name": str(place.get("name", f"place {i + 1}")),
                "weight": _number(place.get("weight"), f"{where}.weight", 1e-9, 1e6),
                "lon": _number(place.get("lon"), f"{where}.lon", -180, 180),
                "lat": _number(place.get("lat"), f"{where}.lat", -90, 90),
            }
        )
    return places


# --- tracks and compliance ---------------------------------------------------------------


def _gpx_tracks():
    """The tracks of the GPX body, each under the worker :func:`own_worker` allows."""
    worker = own_worker(principal(), request.args.get("worker") or None)
    text = request.get_data(cache=False)
    crs = request.args.get("crs", "WGS-84")
    tracks = parse_gpx(text, source="body", crs=crs, worker=worker)
    # Reading is quick (a 5 MB body in tens of ms); analysing costs ~10 ms a track.
    hint = ": `geogrid patrol import` takes larger batches"
    limits.at_most("MAX_UPLOAD_TRACKS", len(tracks), "tracks in the upload", hint=hint)
    points = sum(len(track.lon) for track in tracks)
    limits.at_most("MAX_UPLOAD_POINTS", points, "track points in the upload", hint=hint)
    return tracks


@blueprint.post("/tracks")
@requires("track.create")
def tracks():
    """Analyse the GPX tracks in the body: length, duration, grids, stops, route coverage."""
    h = hierarchy()
    level = _level(h)
    route = _stored_route(request.args.get("grid"))
    options = {
        "tolerance_m": params.number("tolerance_m", 30.0),
        "stop_minutes": params.number("stop_minutes", 5.0),
        "stop_radius_m": params.number("stop_radius_m", 30.0),
    }
    for name, value in options.items():
        if not 0 < value <= 10_000:
            raise InputError(f"query parameter '{name}' must be > 0 and ≤ 10000")
    analyses = analyse_tracks(_gpx_tracks(), h, level=level, route=route, **options)
    records = [a.to_dict() for a in analyses]
    if not params.flag("store"):
        return jsonify(tracks=records)
    tracks = [a.track for a in analyses]
    seen = {id(t) for t in tracks_in_scope(tracks)}
    outside = [t.label for t in tracks if id(t) not in seen]
    if outside:  # a scoped commander imports the patrols of its own grids only
        raise NotFoundError(f"{outside[0]}: passes no grid in your scope")
    stored = store().add_tracks(tracks, actor=principal())
    for record, intake in zip(records, stored, strict=True):
        record.update(id=intake.id, new=intake.created)
    return jsonify(tracks=records), 201 if any(i.created for i in stored) else 200


@blueprint.get("/tracks")
@requires("track.read")
def stored_tracks():
    """Stored tracks that overlap ``since``…``until`` (``PATROL_MAX_DAYS`` at most) as lines."""
    since, until = _period()
    tolerance_m = params.number("simplify_m", 5.0)
    if not 0 <= tolerance_m <= 1000:
        raise InputError("query parameter 'simplify_m' must be between 0 and 1000")
    worker = own_worker(principal(), request.args.get("worker") or None)
    found = store().patrol_tracks(since, until, worker)
    if principal().may("track.read_all"):  # every worker's: those that pass the scope's grids
        found = tracks_in_scope(found)
    return _geojson({"type": "FeatureCollection",
                     "features": [_track_feature(t, tolerance_m) for t in found]})  # fmt: skip


def _period() -> tuple[datetime, datetime]:
    """``since`` and ``until`` (required; a date alone is that whole day, the district's)."""
    since, until = params.time("since"), params.time("until", whole_day=True)
    if since is None or until is None:
        raise InputError("query parameters 'since' and 'until' are required")
    if until <= since:
        given = request.args
        raise InputError(f"until ({given['until']}) must be after since ({given['since']})")
    # A week of a district's patrols is ~12 M points for 100 workers: the cap keeps one
    # request's reading bounded; `geogrid patrol compliance` counts longer periods.
    longest = current_app.config["PATROL_MAX_DAYS"]
    if until - since > timedelta(days=longest):
        raise InputError(f"since/until: at most {longest} days at once")
    return since, until


def _track_feature(track, tolerance_m: float) -> dict[str, Any]:
    # Degrees per metre along a meridian: tolerance in degrees, close enough to thin a line.
    line = track.line() if len(track.lon) > 1 else shapely.points(track.lon[0], track.lat[0])
    line = shapely.simplify(line, tolerance_m / 111_000)
    return {
        "type": "Feature",
        "geometry": shapely.geometry.mapping(line),
        "properties": {
            "id": track.id, "worker": track.worker, "name": track.name, "source": track.source,
            "start": track.start.isoformat(), "end": track.end.isoformat(),
            "points": len(track.lon), "length_m": round(track_length_m(track), 1),
        },
    }  # fmt: skip


def _level(h) -> str:
    level = request.args.get("level") or h.default_level
    if level not in h.levels:
        raise InputError(f"query parameter 'level' must be one of {', '.join(h.levels)}")
    return level


def _stored_route(grid: str | None):
    if not grid:
        return None
    routes = store().patrol_routes(visible_grid(grid))
    if len(routes) == 0:
        raise InputError(f"query parameter 'grid': grid {grid} has no stored patrol route")
    return routes.geometry.iloc[-1]


@blueprint.post("/compliance")
@requires("track.read")
def compliance():
    """Patrols per grid and day from the GPX tracks in the body; a table or a map layer."""
    h, rule = hierarchy(), _rule()
    since, until = params.time("since"), params.time("until", whole_day=True)
    if since is not None and until is not None and until <= since:
        raise InputError(f"until ({request.args['until']}) must be after since "
                         f"({request.args['since']})")  # fmt: skip
    first, last = _local_days(since, until, rule)
    result = compliance_of_tracks(_gpx_tracks(), h, level=_level(h), rule=rule, since=first,
                                  until=last)  # fmt: skip
    return _compliance_response(_grids_in_scope(result))


def _local_days(
    since: datetime | None, until: datetime | None, rule: PatrolRule
) -> tuple[date | None, date | None]:
    """The district's local days that ``since`` … ``until`` (exclusive) touch."""
    zone = ZoneInfo(rule.timezone)
    first = since.astimezone(zone).date() if since is not None else None
    last = (until - timedelta(microseconds=1)).astimezone(zone).date() if until else None
    return first, last


@blueprint.get("/compliance")
@requires("track.read")
def stored_compliance():
    """Patrols per grid and day from the stored tracks of ``since``…``until`` (local days)."""
    h = hierarchy()
    rule = _rule()
    since, until = _period()
    first_day, last_day = _local_days(since, until, rule)
    # Whole local days: a day's table counts the day's every patrol, not the hours asked.
    worker = own_worker(principal(), request.args.get("worker") or None)
    tracks = store().patrol_tracks(*rule.day_bounds(first_day, last_day), worker)
    result = compliance_of_tracks(tracks, h, level=_level(h), rule=rule, since=first_day,
                                  until=last_day, skip_outside=True)  # fmt: skip
    return _compliance_response(_grids_in_scope(result))


def _grids_in_scope(result):
    """The result for the grids of the principal's scope only.

    A track's patrols count for the grids it passed, so another scope's tracks
    change nothing here: counting first and keeping the scope's rows after is exact.
    """
    codes = visible_codes()
    if codes is None:
        return result
    kept = {name: getattr(result, name)[getattr(result, name)["code"].isin(codes)]
            for name in ("patrols", "table", "summary", "layer")}  # fmt: skip
    mine = [t for t in result.outside if t.worker == principal().name]
    return dataclasses.replace(result, **kept, outside=mine)


def _rule() -> PatrolRule:
    return PatrolRule(
        required_per_day=params.integer("required", 3, 1, 48),
        min_minutes=params.number("min_minutes", 2.0),
        min_length_m=params.number("min_length_m", 100.0),
        merge_minutes=params.number("merge_minutes", 60.0),
        timezone=store().calendar.timezone,
    )


def _compliance_response(result) -> Response:
    if request.args.get("format", "json") == "geojson":
        return _geojson(result.layer.to_geo_dict(drop_id=True))
    return jsonify(
        summary=_rows(result.summary),
        table=_rows(result.table),
        never_visited=never_visited(result.table),
        patrols=int(result.table["patrols"].sum()),  # on the table's days only
        tracks_outside=[t.id if t.id is not None else t.label for t in result.outside],
    )


def _rows(frame) -> list[dict[str, Any]]:
    out = frame.copy()
    if "day" in out:
        out["day"] = out["day"].astype(str)
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in out.to_dict("records")
    ]


# --- stored routes -----------------------------------------------------------------------


@blueprint.get("/routes")
@requires("route.read")
def routes():
    """Stored planned routes (of one grid with ``grid``) as GeoJSON, a page at a time."""
    limit = params.integer("limit", ROUTES_PAGE, 1, current_app.config["PAGE_LIMIT"])
    offset = params.integer("offset", 0, 0, 10_000_000)
    grid = request.args.get("grid") or None
    # One more than the page, to know whether another page follows.
    frame = _routes_page(grid and visible_grid(grid), limit + 1, offset)
    page = frame.iloc[: _routes_within_points(frame.geometry.values[:limit])]
    body = _route_features(page)
    body["numberReturned"] = len(page)
    if len(page) < len(frame):
        body["next"] = url_for("patrol.routes", **{**request.args.to_dict(),
                                                   "offset": offset + len(page)})  # fmt: skip
    return _geojson(body)


def _routes_page(grid: str | None, limit: int, offset: int):
    """A page of the stored routes of the principal's grids (of ``grid`` if given)."""
    codes = visible_codes()
    if codes is None or grid is not None:  # a grid asked for is checked already
        return store().patrol_routes(grid, limit=limit, offset=offset)
    # Routes are few (a handful per grid): the scope is kept here, not in the query.
    frame = store().patrol_routes()
    if frame.empty:  # no routes stored: the frame has no columns to filter on
        return frame
    return frame[frame["grid_code"].isin(codes)].iloc[offset : offset + limit]


def _routes_within_points(lines) -> int:
    """How many of the first routes fit in a page of MAX_PAGE_POINTS points (at least one)."""
    points = np.cumsum(shapely.get_num_coordinates(lines))
    fit = int((points <= current_app.config["MAX_PAGE_POINTS"]).sum())
    return fit or min(len(lines), 1)  # a route longer than that still gets a page


def _route_features(frame) -> dict[str, Any]:
    keep = [c for c in ("id", "grid_code", "shift", "name", "geometry") if c in frame.columns]
    out = frame[keep].copy()
    # A planned route carries its length and walking time; the map shows them.
    attributes = frame["attributes"] if "attributes" in frame.columns else [{}] * len(frame)
    out["length_m"] = [(a or {}).get("length_m") for a in attributes]
    out["walking_minutes"] = [(a or {}).get("walking_minutes") for a in attributes]
    return out.to_geo_dict(drop_id=True)


@blueprint.post("/routes")
@requires("route.write")
def create_route():
    """Store a planned route: {"grid": code, "shift": ..., "name": ..., "geometry": line}."""
    data = params.json_body()
    if not isinstance(data, Mapping) or not {"grid", "shift", "geometry"} <= set(data):
        raise InputError("body: needs grid, shift and geometry (a GeoJSON LineString)")
    if data["shift"] not in SHIFTS:
        raise InputError(f"body.shift: must be one of {', '.join(SHIFTS)}")
    line = _line(data["geometry"])
    limits.at_most("MAX_ROUTE_POINTS", len(line.coords), "points in body.geometry")
    grid = visible_grid(str(data["grid"]))
    route = PatrolRoute(grid, data["shift"], line, name=str(data.get("name", "")))
    return jsonify(id=store().add_patrol_route(route, actor=principal())), 201


def _line(raw: Any):
    from shapely.geometry import shape

    try:
        line = shape(raw)
    except Exception:
        raise InputError("body.geometry: must be a GeoJSON LineString") from None
    if line.geom_type != "LineString" or line.is_empty or len(line.coords) < 2:
        raise InputError("body.geometry: must be a GeoJSON LineString")
    return line
