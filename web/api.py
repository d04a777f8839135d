"""The JSON/GeoJSON API at /api; its OpenAPI 3 document is /api/openapi.json.

Routes are thin: parse (:mod:`web.params`), call geogrid, serialise
(:mod:`web.geojson`). Errors become JSON bodies in :mod:`web.errors`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, request, url_for

from geogrid.errors import InputError
from geogrid.storage import NotFoundError
from geogrid.workflow import STATUSES
from web import params
from web.access import requires
from web.geojson import feature_collection, grid_features, report_feature
from web.openapi import openapi_document
from web.state import hierarchy, store

blueprint = Blueprint("api", __name__)
GEOJSON = "application/geo+json"


def geojson(body: dict, status: int = 200) -> Response:
    """A GeoJSON response."""
    return Response(current_app.json.dumps(body), status=status, mimetype=GEOJSON)


@blueprint.get("/openapi.json")
@requires("public")
def openapi():
    """This API described in OpenAPI 3."""
    return jsonify(openapi_document())


# --- boundaries ----------------------------------------------------------------------------


@blueprint.get("/levels")
@requires("grid.read")
def levels():
    """The levels of the active generation, top first, with labels and grid counts."""
    h = hierarchy()
    return jsonify(levels=[{"key": key, "label": h.level(key).label,
                            "coverage": h.level(key).coverage, "grids": len(h.grids(key))}
                           for key in h.levels])  # fmt: skip


@blueprint.get("/generations")
@requires("grid.read")
def generations():
    """Every stored boundary generation; one is active."""
    return jsonify(generations=[
        {"id": g.id, "label": g.label, "created_at": g.created_at.isoformat(),
         "levels": [lv.key for lv in g.levels], "grids": g.grid_count, "active": g.active}
        for g in store().generations()
    ])  # fmt: skip


@blueprint.get("/grids")
@requires("grid.read")
def grids():
    """Grids of one level as GeoJSON; filters: bbox, generation; ``simplify`` in metres."""
    generation = _generation()
    h = store().hierarchy(generation)
    level = request.args.get("level") or h.levels[0]
    if level not in h.levels:
        raise InputError(f"query parameter 'level' must be one of {', '.join(h.levels)}")
    simplify = params.number("simplify", 0.0)
    if not 0 <= simplify <= 1000:
        raise InputError("query parameter 'simplify' must be between 0 and 1000 metres")
    return geojson(feature_collection(_grid_features(h, level, params.bbox(), simplify)))


def _generation() -> int | None:
    return params.integer("generation", 0, 1, 2**31) or None


def _grid_features(h, level: str, bbox, simplify: float) -> list[dict]:
    frame = h.grids(level)
    if bbox is not None:
        frame = frame.iloc[frame.sindex.query(_box(bbox), predicate="intersects")]
    return grid_features(frame.sort_values("code"), level, simplify)


def _box(bbox):
    from shapely.geometry import box

    return box(*bbox)


@blueprint.get("/levels/<key>/grids")
@requires("grid.read")
def level_grids(key: str):
    """All grids of one level of the active generation (cached: the map loads it whole)."""
    h = hierarchy()
    if key not in h.levels:
        raise NotFoundError(f"unknown level {key!r}; levels are {', '.join(h.levels)}")
    return Response(_level_geojson(id(h), key), mimetype=GEOJSON)


@lru_cache(maxsize=32)
def _level_geojson(_hierarchy_id: int, key: str) -> str:
    # Keyed by the hierarchy object: a newly activated generation gets new text.
    h = hierarchy()
    return current_app.json.dumps(feature_collection(grid_features(h.grids(key), key)))


@blueprint.get("/grids/<code>")
@requires("grid.read")
def grid(code: str):
    """One grid (of the active generation, or ``generation``) as a GeoJSON feature."""
    level, row = store().hierarchy(_generation()).find(code)
    return geojson(grid_features(row, level)[0])


@blueprint.get("/grids/<code>/children")
@requires("grid.read")
def children(code: str):
    """The children of a grid, one level down, as GeoJSON."""
    below, kids = store().hierarchy(_generation()).children(code)
    return geojson(feature_collection(grid_features(kids, below) if below else []))


@blueprint.get("/lookup")
@requires("lookup")
def lookup():
    """The grid at every level for one point: ``?lon=&lat=&crs=``."""
    lon, lat = params.number("lon"), params.number("lat")
    crs = request.args.get("crs", "WGS-84")
    found = hierarchy().lookup(lon, lat, crs=crs,
                               max_distance_m=current_app.config["MAX_DISTANCE_M"])  # fmt: skip
    return jsonify(lon=lon, lat=lat, crs=crs, **found)


# --- reports -------------------------------------------------------------------------------


@blueprint.post("/reports")
@requires("report.create")
def create_reports():
    """Store one report (a JSON object) or a batch (``{"reports": [...]}``)."""
    body = params.json_body()
    actor = request.headers.get("X-Actor", "api")
    if isinstance(body, dict) and "reports" in body:
        batch = body["reports"]
        if not isinstance(batch, list) or not batch:
            raise InputError("reports: must be a non-empty list of report objects")
        reports = [params.new_report(r, f"reports[{i}]") for i, r in enumerate(batch)]
        results = store().add_reports(reports, actor=actor)
        created = any(r.created for r in results)
        return jsonify(results=[r.__dict__ for r in results]), 201 if created else 200
    (result,) = store().add_reports([params.new_report(body)], actor=actor)
    report = store().get_report(result.id)
    response = jsonify(report.to_dict())
    response.status_code = 201 if result.created else 200
    response.headers["Location"] = url_for("api.get_report", report_id=report.id)
    return response


@blueprint.get("/reports")
@requires("report.read")
def list_reports():
    """Reports with filters (grid, bbox, since, until, category, status, overdue), paged."""
    query = params.report_query()
    page = store().find_reports(query)
    body = {"total": page.total, "limit": page.limit, "offset": page.offset,
            "items": [report_feature(r)["properties"] for r in page.items]}  # fmt: skip
    if page.offset + len(page.items) < page.total:
        args = {**request.args.to_dict(), "offset": page.offset + page.limit}
        body["next"] = url_for("api.list_reports", **args)
    return jsonify(body)


@blueprint.get("/reports.geojson")
@requires("report.read")
def list_reports_geojson():
    """The same listing as GeoJSON points (for map layers)."""
    page = store().find_reports(params.report_query())
    return geojson(feature_collection([report_feature(r) for r in page.items],
                                      numberMatched=page.total,
                                      numberReturned=len(page.items)))  # fmt: skip


@blueprint.get("/reports/<int:report_id>")
@requires("report.read")
def get_report(report_id: int):
    """One report with its full history."""
    return jsonify(store().get_report(report_id).to_dict())


@blueprint.post("/reports/<int:report_id>/transitions")
@requires("report.read")
def transition(report_id: int):
    """Move a report along the closed loop: ``{"status", "actor", "note"}``."""
    body = params.json_body()
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise InputError("status: required, one of the workflow statuses")
    actor, note = body.get("actor"), body.get("note", "")
    if not isinstance(actor, str) or not actor.strip():
        raise InputError("actor: required: who takes this step")
    if not isinstance(note, str):
        raise InputError("note: must be text")
    report = store().transition(report_id, body["status"], actor=actor, note=note)
    return jsonify(report.to_dict())


@blueprint.get("/categories")
@requires("service.list")
def categories():
    """The category tree with Chinese and English names and deadlines."""
    return jsonify(store().categories.to_dict())


# --- statistics and aggregates -------------------------------------------------------------


@blueprint.get("/stats")
@requires("aggregate.read")
def stats():
    """Report counts per grid of a level: by status, open, overdue; filters as /reports."""
    h = hierarchy()
    level = request.args.get("level") or h.default_level
    counts = store().count_by_grid(level, params.report_query())
    return jsonify(level=level, grids=counts.to_dict("records"))


@blueprint.get("/stats/<code>")
@requires("aggregate.read")
def grid_stats(code: str):
    """One grid's counts, and its children's."""
    level, row = hierarchy().find(code)
    below, _ = hierarchy().children(code)
    query = params.report_query()
    own = store().count_by_grid(level, _with_grid(query, code))
    kids = store().count_by_grid(below, _with_grid(query, code)) if below else None
    record = row.iloc[0]
    return jsonify(code=code, name=record["name"], level=level,
                   households=_plain(record.get("households")),
                   population=_plain(record.get("population")),
                   counts=own.to_dict("records")[0] if len(own) else _zero_counts(code),
                   children=[] if kids is None else kids.to_dict("records"))  # fmt: skip


def _with_grid(query, code: str):
    from dataclasses import replace

    return replace(query, grid=code)


def _zero_counts(code: str) -> dict:
    return {"code": code, **dict.fromkeys(STATUSES, 0), "total": 0, "open": 0, "overdue": 0}


def _plain(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


@blueprint.get("/heat")
@requires("aggregate.read")
def heat():
    """Report density for the current view: counts in about ``size``×``size`` cells of the bbox.

    The page draws a heat map from these few thousand numbers, never from raw points.
    """
    bbox = params.bbox()
    if bbox is None:
        bbox = tuple(hierarchy().grids(hierarchy().levels[0]).total_bounds)
    size = params.integer("size", 128, 8, 512)
    west, south, east, north = bbox
    cell = max(east - west, north - south) / size or 1e-4
    cells = store().count_in_cells(bbox, cell, params.report_query())
    points = [[round(lat, 6), round(lon, 6), int(n)]
              for lon, lat, n in cells.itertuples(index=False, name=None)]  # fmt: skip
    return jsonify(cell_deg=cell, max=max((p[2] for p in points), default=0), points=points)
