"""The JSON/GeoJSON API at /api; its OpenAPI 3 document is /api/openapi.json.

Routes are thin: parse (:mod:`web.params`), call geogrid, serialise
(:mod:`web.geojson`). Errors become JSON bodies in :mod:`web.errors`.

Scope: a principal with a grid scope (a street's commander, a grid worker) sees
the grids of its scope and everything below them, and only the reports in them;
a report or grid out of scope answers 404 exactly as one that does not exist.
Unscoped principals (and anonymous visitors, where allowed) see the district.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, request, url_for

from geogrid.errors import InputError
from geogrid.moments import parse_moment
from geogrid.reports import ReportQuery
from geogrid.storage import NotFoundError
from geogrid.workflow import STATUSES
from web import params
from web.access import limited, only_visible, principal, requires, visible_grid
from web.geojson import feature_collection, grid_features, report_feature, report_json
from web.openapi import openapi_document
from web.state import hierarchy, store, zone

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
    frame = only_visible(h.grids(level), h)
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
    return Response(_level_geojson(id(h), key, principal().scope), mimetype=GEOJSON)


@lru_cache(maxsize=128)
def _level_geojson(_hierarchy_id: int, key: str, scope: tuple[str, ...] | None) -> str:
    # Keyed by the hierarchy object (a newly activated generation gets new text) and
    # the scope: each street's commanders and each grid's workers share one text.
    h = hierarchy()
    frame = h.grids(key)
    if scope is not None:
        frame = frame[frame["code"].isin(h.covered(scope))]
    return current_app.json.dumps(feature_collection(grid_features(frame, key)))


@blueprint.get("/grids/<code>")
@requires("grid.read")
def grid(code: str):
    """One grid (of the active generation, or ``generation``) as a GeoJSON feature."""
    h = store().hierarchy(_generation())
    level, row = h.find(code)
    visible_grid(code, h)
    return geojson(grid_features(row, level)[0])


@blueprint.get("/grids/<code>/children")
@requires("grid.read")
def children(code: str):
    """The children of a grid, one level down, as GeoJSON."""
    h = store().hierarchy(_generation())
    below, kids = h.children(code)
    visible_grid(code, h)
    return geojson(feature_collection(grid_features(only_visible(kids, h), below)
                                      if below else []))  # fmt: skip


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
@limited(lambda: current_app.config["ANONYMOUS_INTAKE_RATE_LIMIT"],
               exempt_when=lambda: principal().signed_in)  # fmt: skip
def create_reports():
    """Store one report (a JSON object) or a batch (``{"reports": [...]}``).

    The history's "received" entry names the authenticated principal; an
    ``X-Actor`` header is ignored. Visitors who have not signed in (when an
    operator lets them report) are rate-limited per client address.
    """
    body = params.json_body()
    who = principal()
    if isinstance(body, dict) and "reports" in body:
        batch = body["reports"]
        if not isinstance(batch, list) or not batch:
            raise InputError("reports: must be a non-empty list of report objects")
        reports = [params.new_report(r, f"reports[{i}]") for i, r in enumerate(batch)]
        results = store().add_reports(reports, actor=who)
        created = any(r.created for r in results)
        return jsonify(results=[r.__dict__ for r in results]), 201 if created else 200
    (result,) = store().add_reports([params.new_report(body)], actor=who)
    report = store().get_report(result.id)
    response = jsonify(report_json(report, who))
    response.status_code = 201 if result.created else 200
    response.headers["Location"] = url_for("api.get_report", report_id=report.id)
    return response


def _scoped(query: ReportQuery) -> ReportQuery:
    """``query`` narrowed to the principal's scope (unscoped: unchanged)."""
    scope = principal().scope
    return query if scope is None else replace(query, scope=scope)


@blueprint.get("/reports")
@requires("report.read")
def list_reports():
    """Reports in scope; filters: grid, bbox, since, until, category, status, overdue; paged."""
    who = principal()
    page = store().find_reports(_scoped(params.report_query()))
    body = {"total": page.total, "limit": page.limit, "offset": page.offset,
            "items": [report_feature(r, reader=who)["properties"] for r in page.items]}  # fmt: skip
    if page.offset + len(page.items) < page.total:
        args = {**request.args.to_dict(), "offset": page.offset + page.limit}
        body["next"] = url_for("api.list_reports", **args)
    return jsonify(body)


@blueprint.get("/reports.geojson")
@requires("report.read")
def list_reports_geojson():
    """The same listing as GeoJSON points (for map layers)."""
    who = principal()
    page = store().find_reports(_scoped(params.report_query()))
    return geojson(feature_collection([report_feature(r, reader=who) for r in page.items],
                                      numberMatched=page.total,
                                      numberReturned=len(page.items)))  # fmt: skip


@blueprint.get("/reports/<int:report_id>")
@requires("report.read")
def get_report(report_id: int):
    """One report in scope with its full history (out of scope: 404, as a missing one)."""
    who = principal()
    report = store().get_report(report_id)
    if not who.covers(report.codes.values()):
        raise NotFoundError(f"report {report_id} does not exist")
    return jsonify(report_json(report, who))


@blueprint.post("/reports/<int:report_id>/transitions")
@requires("report.read")
def transition(report_id: int):
    """Move a report along the closed loop: ``{"status", "note", "expected"}``.

    分拨 (``"status": "dispatched"``) takes ``assignee`` (an account name) and may
    take ``deadline`` (ISO 8601; without an offset, in the district's zone; after
    now). ``client_id``, the id a phone gave an action made offline, makes a
    replay answer with the report as it is, the step done once.

    The step is recorded as the authenticated principal's; ``actor`` in the body
    and the ``X-Actor`` header are ignored. The role must allow the step (else
    403) and the report be in scope (else 404). ``expected``, the status the
    client saw, makes the step conditional: if the report has moved on, 409.
    """
    body = params.json_body()
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise InputError("status: required, one of the workflow statuses")
    note, expected = body.get("note", ""), body.get("expected")
    if not isinstance(note, str):
        raise InputError("note: must be text")
    if expected is not None and not isinstance(expected, str):
        raise InputError("expected: must be a workflow status (text)")
    deadline = body.get("deadline")
    if deadline is not None:
        deadline = parse_moment(deadline, "deadline", zone())
    who = principal()
    report = store().transition(report_id, body["status"], actor=who, note=note,
                                expected=expected, client_id=body.get("client_id"),
                                assignee=body.get("assignee"), deadline=deadline)  # fmt: skip
    return jsonify(report_json(report, who))


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
    counts = store().count_by_grid(level, _aggregate_query())
    return jsonify(level=level, grids=counts.to_dict("records"))


def _aggregate_query() -> ReportQuery:
    """The filters of aggregates: a scoped principal counts its scope only; others
    (anonymous visitors too) the district, since counts per grid are public."""
    return _scoped(params.report_query())


@blueprint.get("/stats/<code>")
@requires("aggregate.read")
def grid_stats(code: str):
    """One grid's counts, and its children's."""
    level, row = hierarchy().find(code)
    visible_grid(code)
    below, _ = hierarchy().children(code)
    query = _aggregate_query()
    own = store().count_by_grid(level, _with_grid(query, code))
    kids = store().count_by_grid(below, _with_grid(query, code)) if below else None
    record = row.iloc[0]
    return jsonify(code=code, name=record["name"], level=level,
                   households=_plain(record.get("households")),
                   population=_plain(record.get("population")),
                   counts=own.to_dict("records")[0] if len(own) else _zero_counts(code),
                   children=[] if kids is None else kids.to_dict("records"))  # fmt: skip


def _with_grid(query, code: str):
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
    cells = store().count_in_cells(bbox, cell, _aggregate_query())
    points = [[round(lat, 6), round(lon, 6), int(n)]
              for lon, lat, n in cells.itertuples(index=False, name=None)]  # fmt: skip
    return jsonify(cell_deg=cell, max=max((p[2] for p in points), default=0), points=points)
