"""The analysis API for commanders, at /api/analysis: risk colours, heat, hot spots, PAI.

Routes are thin: parse (:mod:`web.params`), call :mod:`geogrid.analysis`,
serialise. Domain errors (bad bandwidth, empty window, unknown level…) become
400s in :mod:`web.errors`. ``OPENAPI_PATHS`` describes every route in OpenAPI
3.0 so that it joins /api/openapi.json and the fuzz tests.

These are aggregates (``aggregate.read``): anonymous visitors see them
district-wide by default. A signed-in principal with a scope gets them over the
reports of its scope only, and only the grids of its scope in the answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from flask import Blueprint, Response, current_app, jsonify, request

from geogrid.analysis import events, heat, hotspots, risk
from geogrid.errors import InputError
from web import limits, params
from web.access import only_visible, principal, requires
from web.geojson import feature_collection, grid_features
from web.limits import TooCostlyError
from web.state import hierarchy, now, store, zone

blueprint = Blueprint("analysis", __name__)
GEOJSON = "application/geo+json"
RISK_COLUMNS = ("colour", "colour_zh", "grade_zh", "risk", "hazard_colour", "hazards", "events",
                "events_prev", "pressure", "top_percent", "raised", "colour_prev", "trend",
                "reasons_zh", "reasons_en", "reasons")  # fmt: skip
SPOT_COLUMNS = ("code", "name", "value", "neighbours", "z", "p", "spot", "confidence",
                "label_zh", "label_en")  # fmt: skip


def _geojson(body: dict) -> Response:
    return Response(current_app.json.dumps(body), mimetype=GEOJSON)


def _level() -> str:
    h = hierarchy()
    level = request.args.get("level") or h.default_level
    if level not in h.levels:
        raise InputError(f"query parameter 'level' must be one of {', '.join(h.levels)}")
    return level


def _at_most_grids(level: str) -> None:
    """Refuse a hot-spot or PAI analysis of a level with too many grids (their weights,
    their union) before any work: at the building level it would take seconds."""
    limits.at_most("MAX_ANALYSIS_GRIDS", len(hierarchy().grids(level)), f"grids at level {level}",
                   TooCostlyError, ": choose a coarser level")  # fmt: skip


def _at_most_cells(level: str, cell_m: float) -> None:
    """Refuse a PAI whose density grid over the level's grids has too many cells."""
    if cell_m > 0:  # else evaluate_pai names the bad cell_m
        cells = limits.raster_cells(hierarchy().grids(level).total_bounds, cell_m)
        limits.at_most("MAX_RASTER_CELLS", cells, f"cells of {cell_m:g} m over the grids",
                       TooCostlyError, ": choose a larger cell_m")  # fmt: skip


def _points(since: datetime | None = None) -> pd.DataFrame:
    """The reports analysed: those of the principal's scope (all for an unscoped one)."""
    return events.check_points(store().report_points(since=since, scope=principal().scope))


# --- risk ------------------------------------------------------------------------------


@blueprint.get("/risk")
@requires("aggregate.read")
def risk_colours():
    """Four-colour risk of every grid of a level, with reasons and trend, as GeoJSON."""
    level = _level()
    rules = _rules()
    as_of = events.as_of_moment(request.args.get("date") or now(), zone())
    points = _points(since=as_of - 2 * timedelta(days=rules.window_days))
    maps = risk.colour_grids(hierarchy(), store().hazards(), points, as_of, rules,
                             store().categories)  # fmt: skip
    frame = _json_ready(only_visible(maps[level][["code", "name", "parent", *RISK_COLUMNS,
                                               "geometry"]]))  # fmt: skip
    counts = frame["colour"].value_counts()
    return _geojson(feature_collection(
        grid_features(frame, level), level=level, as_of=as_of.isoformat(),
        window_days=rules.window_days,
        counts={c: int(counts.get(c, 0)) for c in ("red", "orange", "yellow", "blue")},
    ))  # fmt: skip


def _rules() -> risk.RiskRules:
    defaults = risk.RiskRules()
    categories = _categories() or defaults.categories
    return risk.RiskRules(
        window_days=params.integer("window_days", defaults.window_days, 1, 365),
        pressure=request.args.get("pressure", defaults.pressure),
        top_percent=(params.number("top_percent", defaults.top_percent[0]),),
        min_events=params.integer("min_events", defaults.min_events, 1, 100_000),
        parent_rule=request.args.get("parent_rule", defaults.parent_rule),
        categories=tuple(categories),
    )


def _json_ready(frame):
    """NaN → None and numpy scalars → Python, so the JSON is valid."""
    out = frame.copy()
    for column in out.columns:
        if column != "geometry" and out[column].dtype.kind == "f":
            values = out[column].to_numpy(dtype=float)
            out[column] = [None if np.isnan(v) else float(v) for v in values]
    return out


# --- heat ------------------------------------------------------------------------------


@blueprint.get("/heat.png")
@requires("aggregate.read")
def heat_png():
    """Kernel density of reports for a view, as a transparent PNG overlay.

    The image covers exactly ``bbox``; headers give the bounds, the density at
    full colour (per km²) and the number of events drawn.
    """
    bbox = params.bbox() or tuple(float(v) for v in hierarchy().grids(_top()).total_bounds)
    width = params.integer("width", 1024, 16, 2048)
    height = params.integer("height", 768, 16, 2048)
    limits.at_most("MAX_RASTER_CELLS", width * height, "cells (width × height) in the image",
                   TooCostlyError)  # fmt: skip
    bandwidth = params.number("bandwidth_m", 200.0)
    points = _filtered(params.time("since"), params.time("until"))
    raster = heat.kde_raster(points["lon"], points["lat"], bbox, (width, height), bandwidth,
                             request.args.get("kernel", "gaussian"))  # fmt: skip
    png = heat.render_png(raster)
    response = Response(png, mimetype="image/png")
    response.headers["X-Geogrid-Bounds"] = ",".join(f"{v:.7f}" for v in raster.bounds)
    response.headers["X-Geogrid-Max-Per-Km2"] = f"{raster.values.max(initial=0.0):.4f}"
    response.headers["X-Geogrid-Events"] = f"{raster.total():.1f}"
    response.headers["Access-Control-Expose-Headers"] = "X-Geogrid-Bounds, X-Geogrid-Max-Per-Km2"
    return response


def _top() -> str:
    return hierarchy().levels[0]


def _filtered(since: datetime | None, until: datetime | None) -> pd.DataFrame:
    return events.select_points(_points(since), since, until, _categories())


def _categories() -> tuple[str, ...]:
    """The ``category`` parameter, each code checked against the store's category tree."""
    return tuple(store().categories.check(code) for code in params.words("category"))


@blueprint.get("/hexagons")
@requires("aggregate.read")
def hexagon_counts():
    """Reports counted in H3 hexagons, as GeoJSON."""
    resolution = params.integer("resolution", 9, 5, 12)
    bbox = params.bbox()
    view = bbox or tuple(float(v) for v in hierarchy().grids(_top()).total_bounds)
    limits.at_most("MAX_HEXAGONS", limits.hexagons_in_view(view, resolution),
                   f"hexagons of resolution {resolution} in the view", TooCostlyError,
                   ": zoom in (bbox) or choose a coarser resolution")  # fmt: skip
    points = _filtered(params.time("since"), params.time("until"))
    if bbox is not None:
        west, south, east, north = bbox
        inside = points["lon"].between(west, east) & points["lat"].between(south, north)
        points = points[inside]
    cells = heat.hexagons(points["lon"], points["lat"], resolution)
    features = [{"type": "Feature", "id": cell, "geometry": shape.__geo_interface__,
                 "properties": {"h3": cell, "count": float(n), "per_km2": round(float(d), 3)}}
                for cell, n, d, shape in zip(cells["h3"], cells["count"], cells["per_km2"],
                                             cells.geometry, strict=True)]  # fmt: skip
    return _geojson(feature_collection(features, resolution=resolution))


@blueprint.get("/hexagons/slices")
@requires("aggregate.read")
def hexagon_time_slices():
    """H3 hexagon counts per day or week, as GeoJSON time slices for a time slider."""
    until = params.time("until") or now()
    since = params.time("since") or until - timedelta(days=28)
    step = request.args.get("step", "week")
    if step not in heat.STEPS:
        raise InputError(f"query parameter 'step' must be one of {', '.join(heat.STEPS)}")
    points = _filtered(since, until)
    slices = heat.hexagon_slices(points, since, until, step, params.integer("resolution", 8, 5, 11))
    return _geojson(slices)


# --- hot spots and PAI -------------------------------------------------------------------


@blueprint.get("/hotspots")
@requires("aggregate.read")
def hot_spot_table():
    """Gi* per grid of a level: z, p, hot or cold spot and its confidence (90/95/99 %)."""
    level = _level()
    _at_most_grids(level)
    since, until = params.time("since"), params.time("until")
    points = _points(since)
    spots = hotspots.hot_spots(hierarchy(), points, level, since, until, _categories(),
                               params.integer("permutations", 0, 0, 999))  # fmt: skip
    spots = only_visible(spots)
    rows = _json_ready(spots[list(SPOT_COLUMNS)]).to_dict("records")
    summary = {s: int((spots["spot"] == s).sum()) for s in ("hot", "cold", "none")}
    return jsonify(level=level, count=len(rows), summary=summary, grids=rows)


@blueprint.get("/pai")
@requires("aggregate.read")
def pai_table():
    """PAI of kernel density, Gi* and plain counts: trained on one window, tested on the next."""
    level = _level()
    _at_most_grids(level)
    cell_m = params.number("cell_m", 50.0)
    _at_most_cells(level, cell_m)
    test_until = params.time("test_until") or now()
    test_since = params.time("test_since") or test_until - timedelta(days=30)
    train_until = params.time("train_until") or test_since
    train_since = params.time("train_since") or train_until - timedelta(days=30)
    points = _points(min(train_since, test_since))
    table = hotspots.evaluate_pai(
        hierarchy(), points, (train_since, train_until), (test_since, test_until), level,
        params.number("top_percent", 5.0), params.number("bandwidth_m", 200.0), cell_m,
        _categories(),
    )  # fmt: skip
    return jsonify(level=level, train=[train_since.isoformat(), train_until.isoformat()],
                   test=[test_since.isoformat(), test_until.isoformat()],
                   methods=table.to_dict("records"))  # fmt: skip


# --- OpenAPI ---------------------------------------------------------------------------


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


_TIME = {"type": "string", "format": "date-time", "example": "2026-11-01T00:00:00+08:00"}
_LEVEL = _query("level", "level key (default: the district's default level)", {"type": "string"})
_CATEGORY = _query("category", "category codes, comma-separated (sub-categories included)",
                   {"type": "string", "example": "dispute,public_order"})  # fmt: skip
_WINDOW = [_query("since", "reported at or after (ISO 8601)", _TIME),
           _query("until", "reported before (ISO 8601)", _TIME), _CATEGORY]  # fmt: skip
_BBOX = _query("bbox", "west,south,east,north in WGS-84",
               {"type": "string", "example": "120.63,27.99,120.68,28.03"})  # fmt: skip
_ERROR = {"description": "bad input; the message names the field",
          "content": {"application/json": {"schema": {"type": "object"}}}}  # fmt: skip


_LIMIT = {**_ERROR, "description": "over a GEOGRID_MAX_* limit; the message names it"}
_BUSY = {**_ERROR, "description": "the worker is busy with costly requests; see Retry-After"}


def _ok(description: str, kind: str = "application/json") -> dict:
    return {"200": {"description": description, "content": {kind: {"schema": {
        "type": "string", "format": "binary"} if kind == "image/png" else {"type": "object"}}}},
        "400": _ERROR, "503": _BUSY}  # fmt: skip


OPENAPI_PATHS: dict[str, Any] = {
    "/api/analysis/risk": {"get": {
        "summary": "Four-colour risk (四色) of every grid of a level, with reasons and trend",
        "parameters": [
            _LEVEL, _query("date", "colours as of the end of this day (YYYY-MM-DD) or a time",
                           {"type": "string", "format": "date", "example": "2026-11-23"}),
            _query("window_days", "days of reports counted as pressure",
                   {"type": "integer", "minimum": 1, "maximum": 365}),
            _query("pressure", "how reports raise a colour",
                   {"type": "string", "enum": list(risk.PRESSURE_MODES)}),
            _query("top_percent", "share of grids (by reports per 100 households) raised a step",
                   {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                    "exclusiveMaximum": True, "maximum": 100}),
            _query("min_events", "fewest reports that can raise a grid",
                   {"type": "integer", "minimum": 1, "maximum": 100000}),
            _query("parent_rule", "how a parent is coloured",
                   {"type": "string", "enum": list(risk.PARENT_RULES)}),
            _CATEGORY],
        "responses": _ok("FeatureCollection of grids with colour, reasons_zh, reasons_en, trend",
                         GEOJSON)}},
    "/api/analysis/heat.png": {"get": {
        "summary": "Kernel density of reports for a view, as a transparent PNG overlay",
        "parameters": [
            _BBOX, _query("width", "pixels", {"type": "integer", "minimum": 16, "maximum": 2048}),
            _query("height", "pixels", {"type": "integer", "minimum": 16, "maximum": 2048}),
            _query("bandwidth_m", "kernel bandwidth in metres",
                   {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                    "maximum": 50000}),
            _query("kernel", "kernel shape", {"type": "string", "enum": list(heat.KERNELS)}),
            *_WINDOW],
        "responses": {**_ok("PNG covering exactly bbox (X-Geogrid-Bounds)", "image/png"),
                      "422": _LIMIT}}},
    "/api/analysis/hexagons": {"get": {
        "summary": "Reports counted in H3 hexagons",
        "parameters": [_BBOX, _query("resolution", "H3 resolution",
                                     {"type": "integer", "minimum": 5, "maximum": 12}),
                       *_WINDOW],
        "responses": {**_ok("FeatureCollection of hexagons with count and per_km2", GEOJSON),
                      "422": _LIMIT}}},
    "/api/analysis/hexagons/slices": {"get": {
        "summary": "H3 hexagon counts per day or week (GeoJSON time slices for an animation)",
        "parameters": [
            _query("since", "first slice starts (default: 28 days before until)", _TIME),
            _query("until", "last slice ends (default: now)", _TIME),
            _query("step", "slice length", {"type": "string", "enum": list(heat.STEPS)}),
            _query("resolution", "H3 resolution", {"type": "integer", "minimum": 5,
                                                   "maximum": 11}),
            _CATEGORY],
        "responses": _ok("FeatureCollection: h3, start, end, count per feature; slices",
                         GEOJSON)}},
    "/api/analysis/hotspots": {"get": {
        "summary": "Getis-Ord Gi* per grid: hot and cold spots at 90/95/99 %",
        "parameters": [_LEVEL, *_WINDOW,
                       _query("permutations", "0: normal p-values; else permutations",
                              {"type": "integer", "minimum": 0, "maximum": 999})],
        "responses": {**_ok("grids with z, p, spot, confidence, labels"), "422": _LIMIT}}},
    "/api/analysis/pai": {"get": {
        "summary": "Predictive Accuracy Index of KDE, Gi* and counts (train, then test window)",
        "parameters": [
            _LEVEL, _query("train_since", "training window start", _TIME),
            _query("train_until", "training window end (default: test_since)", _TIME),
            _query("test_since", "test window start (default: 30 days before test_until)",
                   _TIME),
            _query("test_until", "test window end (default: now)", _TIME),
            _query("top_percent", "share of the area each method flags",
                   {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                    "exclusiveMaximum": True, "maximum": 100}),
            _query("bandwidth_m", "KDE bandwidth in metres",
                   {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                    "maximum": 50000}),
            _query("cell_m", "KDE pixel in metres", {"type": "number", "minimum": 5,
                                                   "maximum": 5000}),
            _CATEGORY],
        "responses": {**_ok("one row per method: area_percent, hits, events, hit_percent, pai"),
                      "422": _LIMIT}}},
}  # fmt: skip
