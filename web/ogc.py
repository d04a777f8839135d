"""OGC API – Features (Part 1: Core, GeoJSON, OpenAPI 3.0) at /ogc.

GIS clients (QGIS, GDAL's OAPIF driver, OWSLib, ArcGIS Pro) read the district
from here without knowing geogrid. The collections are one per level of the
active generation (its grids as polygons, id = the level key) and ``reports``
(the stored reports as points).

Where the standard (OGC 17-069r4) leaves a choice, this is what we do:

- ``limit`` above ``PAGE_LIMIT`` is lowered to it, not refused (the abstract
  test /conf/core/fc-limit-response: a larger limit is not an error); the
  default is 10; below 1 or not a whole number is a 400.
- ``datetime`` is matched against a report's received time (受理时间), an
  instant or a closed interval. Grids carry no time, so on a level collection a
  well-formed ``datetime`` matches every grid (/req/core/fc-time-response C:
  features without a temporal geometry match); a malformed one is a 400 on
  every collection.
- ``bbox`` is 4 numbers in CRS84 (6 are accepted, the heights ignored: the
  data is 2-D); west > east is a box across the antimeridian; a feature is
  selected when its geometry intersects the box, edges included.
- ``offset`` pages through the matches; ``next`` and ``prev`` links carry every
  other query parameter unchanged.
- Unknown or repeated query parameters are a 400 (/req/core/query-param-unknown);
  ``f=json`` is accepted everywhere, any other ``f`` is a 400.

Who sees what (see :mod:`web.access`): the grid collections need ``grid.read``,
which visitors have by default, so GIS clients read them without an account; a
reader with a grid scope sees only the grids it covers (the scope's grids and
their descendants), others answer 404 and counts, extents and ``numberMatched``
count only those. ``reports`` needs ``report.read``: it is left out of
``/collections`` (and of the API document's collection ids) for those who may not
read it, so a client that walks every collection still works anonymously, and
asked for directly it answers 401 (403 to an account without the right). Reports
are filtered to the reader's scope; contact details are never served here. Links
are built from the request's host, which must be one of ``ALLOWED_HOSTS``.

Why one module of ~650 lines: one standard, OGC API – Features Part 1, with its
thin routes, its query parameters and the OpenAPI document it must serve
itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata

import shapely
from flask import Blueprint, Response, current_app, jsonify, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import Forbidden, Unauthorized

from geogrid.errors import InputError
from geogrid.moments import parse_moment
from geogrid.reports import Report, ReportQuery
from geogrid.storage import NotFoundError
from web.access import only_visible, principal, requires
from web.geojson import feature_collection, grid_features, report_feature
from web.state import hierarchy, now, store

blueprint = Blueprint("ogc", __name__)

SPEC = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
CONFORMANCE = (SPEC + "core", SPEC + "geojson", SPEC + "oas30")
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
JSON = "application/json"
GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
REPORTS = "reports"
DEFAULT_LIMIT = 10
ITEMS_PARAMETERS = frozenset({"f", "bbox", "datetime", "limit", "offset"})
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+\- ]\d{2}:\d{2})")
MAX_OFFSET = 10**15
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,30}")
_REPORT_ID = re.compile(r"[0-9]{1,15}")


# --- routes ---------------------------------------------------------------------------------


@blueprint.get("/", strict_slashes=False)
@requires("public")
def landing():
    """The landing page: title, and links to the API document, conformance, collections."""
    check_parameters(request.args, {"f"})
    return _respond(_landing_page(hierarchy().name or "district"))


@blueprint.get("/conformance")
@requires("public")
def conformance():
    """The conformance classes this API implements."""
    check_parameters(request.args, {"f"})
    return _respond({"conformsTo": list(CONFORMANCE)})


@blueprint.get("/api")
@requires("public")
def api_document():
    """The OpenAPI 3.0 document of this API."""
    check_parameters(request.args, {"f"})
    server = url_for("ogc.landing", _external=True).rstrip("/")
    document = openapi_document(server, _readable_ids(), current_app.config["PAGE_LIMIT"])
    return _respond(document, OPENAPI)


@blueprint.get("/collections")
@requires("grid.read")
def collections():
    """Every collection: one per level of the active generation, then ``reports``."""
    check_parameters(request.args, {"f"})
    return _respond({
        "links": [_link("self", JSON, "ogc.collections")],
        "collections": [_collection(collection_id) for collection_id in _readable_ids()],
        "crs": [CRS84],
    })  # fmt: skip


@blueprint.get("/collections/<collection_id>")
@requires("grid.read")
def collection(collection_id: str):
    """One collection's metadata: title, extent, links to its items."""
    check_parameters(request.args, {"f"})
    _check_collection(collection_id)
    return _respond(_collection(collection_id))


@blueprint.get("/collections/<collection_id>/items")
@requires("grid.read")
def items(collection_id: str):
    """A page of features, filtered by ``bbox`` and ``datetime``, as GeoJSON."""
    _check_collection(collection_id)
    query = parse_items_query(request.args, current_app.config["PAGE_LIMIT"])
    if collection_id == REPORTS:
        features, matched = _report_page(query)
    else:
        features, matched = _grid_page(collection_id, query)
    body = feature_collection(
        features, numberMatched=matched, numberReturned=len(features),
        timeStamp=_now(), links=_items_links(collection_id, query, matched),
    )  # fmt: skip
    return _respond(body, GEOJSON)


@blueprint.get("/collections/<collection_id>/items/<feature_id>")
@requires("grid.read")
def item(collection_id: str, feature_id: str):
    """One feature: a grid by its code, or a report by its id."""
    check_parameters(request.args, {"f"})
    _check_collection(collection_id)
    if collection_id == REPORTS:
        feature = report_feature(_report_in_scope(feature_id))
    else:
        feature = _grid_feature(collection_id, feature_id)
    feature["links"] = [
        _link("self", GEOJSON, "ogc.item", collection_id=collection_id, feature_id=feature_id),
        _link("collection", JSON, "ogc.collection", collection_id=collection_id),
    ]
    return _respond(feature, GEOJSON)


# --- query parameters -----------------------------------------------------------------------


@dataclass(frozen=True)
class ItemsQuery:
    """The parsed parameters of an items request; ``start``/``end`` None = open."""

    bbox: tuple[float, float, float, float] | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def parse_items_query(args: MultiDict, page_limit: int) -> ItemsQuery:
    """Check and parse the query parameters of an items request.

    Examples
    --------
    >>> query = parse_items_query(MultiDict({"bbox": "120,28,120.5,28.5", "limit": "5000"}), 1000)
    >>> query.bbox, query.limit, query.offset
    ((120.0, 28.0, 120.5, 28.5), 1000, 0)
    """
    check_parameters(args, ITEMS_PARAMETERS)
    start, end = parse_datetime(args["datetime"]) if "datetime" in args else (None, None)
    return ItemsQuery(
        bbox=parse_bbox(args["bbox"]) if "bbox" in args else None,
        start=start,
        end=end,
        limit=parse_limit(args.get("limit"), page_limit),
        offset=parse_offset(args.get("offset")),
    )


def check_parameters(args: MultiDict, allowed: Collection[str]) -> None:
    """Refuse query parameters the operation does not define, repeated ones, and ``f`` ≠ json.

    Examples
    --------
    >>> check_parameters(MultiDict([("f", "json")]), {"f"})
    >>> check_parameters(MultiDict([("filter", "x")]), {"f"})
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: unknown query parameter 'filter'; this operation takes: f
    """
    for name, values in args.lists():
        if name not in allowed:
            raise InputError(
                f"unknown query parameter {name!r}; this operation takes: "
                + ", ".join(sorted(allowed))
            )
        if len(values) > 1:
            raise InputError(f"query parameter {name!r} is given {len(values)} times; give it once")
    if args.get("f", "json") != "json":
        raise InputError(f"f: only 'json' is offered, got {args['f']!r}")


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``west,south,east,north`` in CRS84 (or 6 numbers, heights ignored).

    West greater than east is a box across the antimeridian.

    Examples
    --------
    >>> parse_bbox("120,28,120.5,28.5")
    (120.0, 28.0, 120.5, 28.5)
    >>> parse_bbox("120,28,-10,120.5,28.5,300")
    (120.0, 28.0, 120.5, 28.5)
    >>> parse_bbox("120,28,120.5")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: bbox: needs 4 (or 6) comma-separated numbers ...
    """
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) not in (4, 6) or not all(map(math.isfinite, numbers)):
        raise InputError(
            f"bbox: needs 4 (or 6) comma-separated numbers west,south,east,north, got {text!r}"
        )
    west, south, east, north = numbers if len(numbers) == 4 else numbers[:2] + numbers[3:5]
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise InputError(
            f"bbox: {text!r} is not within ±180° longitude, ±90° latitude with south ≤ north"
        )
    return west, south, east, north


def parse_datetime(text: str) -> tuple[datetime | None, datetime | None]:
    """An RFC 3339 instant or interval as (start, end) in UTC, both ends included.

    ``..`` or nothing marks an open end; an instant is an interval of one moment.

    Examples
    --------
    >>> start, end = parse_datetime("2026-03-01T08:00:00+08:00/..")
    >>> start.isoformat(), end
    ('2026-03-01T00:00:00+00:00', None)
    >>> start, end = parse_datetime("2026-03-01T00:00:00Z")
    >>> start == end
    True
    >>> parse_datetime("yesterday")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: datetime: 'yesterday' is not an RFC 3339 date-time ...
    """
    parts = text.split("/")
    if len(parts) == 1:
        moment = _date_time(text)
        return moment, moment
    if len(parts) != 2:
        raise InputError(f"datetime: {text!r} is neither an instant nor an interval a/b")
    start, end = (None if part in ("", "..") else _date_time(part) for part in parts)
    if start is None and end is None:
        raise InputError(
            "datetime: an interval needs at least one end, e.g. 2026-03-01T00:00:00Z/.."
        )
    if start is not None and end is not None and start > end:
        raise InputError(f"datetime: {text!r} ends before it starts")
    return start, end


def _date_time(text: str) -> datetime:
    if not _DATE_TIME.fullmatch(text):
        raise InputError(
            f"datetime: {text!r} is not an RFC 3339 date-time such as 2026-03-01T08:00:00Z "
            "or +08:00, nor an interval a/b, ../b, a/.."
        )
    # RFC 3339 allows a space or "t" for the "T", which ISO 8601 reading does not.
    moment = parse_moment(f"{text[:10]}T{text[11:]}", "datetime", UTC)
    return moment.astimezone(UTC)


def parse_limit(text: str | None, maximum: int, default: int = DEFAULT_LIMIT) -> int:
    """The page size: ``default`` when absent, lowered to ``maximum`` when above it.

    Examples
    --------
    >>> parse_limit(None, 1000), parse_limit("50", 1000), parse_limit("5000", 1000)
    (10, 50, 1000)
    >>> parse_limit("0", 1000)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: limit: must be 1 or more, got 0
    """
    if text is None:
        return min(default, maximum)
    value = _whole_number("limit", text)
    if value < 1:
        raise InputError(f"limit: must be 1 or more, got {value}")
    return min(value, maximum)


def parse_offset(text: str | None) -> int:
    """How many matches to skip (0 when absent).

    Examples
    --------
    >>> parse_offset(None), parse_offset("20")
    (0, 20)
    """
    value = 0 if text is None else _whole_number("offset", text)
    if not 0 <= value <= MAX_OFFSET:
        raise InputError(f"offset: must be between 0 and {MAX_OFFSET}, got {value}")
    return value


def _whole_number(name: str, text: str) -> int:
    if not _WHOLE_NUMBER.fullmatch(text.strip()):
        raise InputError(f"{name}: must be a whole number, got {text!r}")
    return int(text)


# --- collections and features ---------------------------------------------------------------


def _collection_ids() -> list[str]:
    return [*hierarchy().levels, REPORTS]


def _readable_ids() -> list[str]:
    """The collections the reader may read: ``reports`` only with ``report.read``."""
    ids = _collection_ids()
    return ids if principal().may("report.read") else ids[:-1]


def _check_collection(collection_id: str) -> None:
    """404 for an unknown collection; 401 or 403 for ``reports`` without ``report.read``."""
    if collection_id not in _collection_ids():
        raise NotFoundError(
            f"collection {collection_id!r} does not exist; "
            f"collections are {', '.join(_readable_ids())}"
        )
    who = principal()
    if collection_id == REPORTS and not who.may("report.read"):
        if not who.signed_in:
            raise Unauthorized("sign in, or send 'Authorization: Bearer TOKEN': the reports "
                               "collection needs report.read")  # fmt: skip
        raise Forbidden(f"{who.name} ({who.role}) may not report.read")


def _grids(level: str):
    """The grids of ``level`` the reader may see: all of them, or those its scope covers."""
    return only_visible(hierarchy().grids(level))


def _collection(collection_id: str) -> dict:
    if collection_id == REPORTS:
        return _reports_collection()
    district = hierarchy()
    level, grids = district.level(collection_id), _grids(collection_id)
    return _collection_info(
        collection_id,
        title=f"{level.label} {collection_id}",
        description=f"{level.label}（{collection_id}）: the {len(grids)} grids of this level "
        f"in the active boundaries of {district.name or 'the district'}",
        extent={
            "spatial": {
                "bbox": [_bounds(grids if len(grids) else district.grids(collection_id))],
                "crs": CRS84,
            }
        },
    )


def _reports_collection() -> dict:
    stored = store().report_extent()
    # The reports' own box holds those outside every grid too; none yet: where they will land.
    bbox = list(stored.bbox) if stored else _bounds(hierarchy().grids(hierarchy().levels[0]))
    extent = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    if stored is not None:  # reports keep arriving: the interval has no end
        first = _instant(stored.first_received)
        extent["temporal"] = {"interval": [[first, None]], "trs": GREGORIAN}
    return _collection_info(
        REPORTS,
        title="事件 reports",
        description="Reports (事件/上报) as points at their WGS-84 location, newest first; "
        "datetime filters on the time each report was received",
        extent=extent,
    )


def _collection_info(collection_id: str, title: str, description: str, extent: dict) -> dict:
    return {
        "id": collection_id,
        "title": title,
        "description": description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": extent,
        "links": [
            _link("self", JSON, "ogc.collection", collection_id=collection_id),
            _link("items", GEOJSON, "ogc.items", collection_id=collection_id),
        ],
    }


def _grid_page(level: str, query: ItemsQuery) -> tuple[list[dict], int]:
    grids = _grids(level)
    if query.bbox is not None:
        grids = grids[_intersects(grids.geometry.values, query.bbox)]
    page = grids.iloc[query.offset : query.offset + query.limit]
    return grid_features(page, level), len(grids)


def _intersects(geometries, bbox: tuple[float, float, float, float]):
    boxes = [shapely.box(*part) for part in _split_at_antimeridian(bbox)]
    return shapely.intersects(geometries, shapely.union_all(boxes))


def _split_at_antimeridian(bbox: tuple[float, float, float, float] | None) -> list:
    if bbox is None or bbox[0] <= bbox[2]:
        return [bbox]
    west, south, east, north = bbox
    return [(west, south, 180.0, north), (-180.0, south, east, north)]


def _report_page(query: ItemsQuery) -> tuple[list[dict], int]:
    # A box across the antimeridian is two boxes; their matches are paged as one list.
    until = None if query.end is None else query.end + timedelta(microseconds=1)
    found: list[Report] = []
    matched = 0
    for box in _split_at_antimeridian(query.bbox):
        room = query.limit - len(found)
        page = store().find_reports(ReportQuery(
            bbox=box, since=query.start, until=until, scope=principal().scope,
            limit=max(room, 1), offset=max(query.offset - matched, 0),
        ))  # fmt: skip
        found += page.items[:room]
        matched += page.total
    return [report_feature(report) for report in found], matched


def _report_in_scope(feature_id: str) -> Report:
    """The report ``feature_id`` names; 404 if unknown or outside the reader's scope."""
    if not _REPORT_ID.fullmatch(feature_id):
        raise NotFoundError(f"report {feature_id!r} does not exist")
    report = store().get_report(int(feature_id))
    if not principal().covers(report.codes.values()):
        raise NotFoundError(f"report {feature_id!r} does not exist")
    return report


def _grid_feature(level: str, code: str) -> dict:
    grids = _grids(level)
    found = grids[grids["code"] == code]
    if found.empty:
        raise NotFoundError(f"grid {code!r} does not exist at level {level!r}")
    return grid_features(found, level)[0]


def _bounds(grids) -> list[float]:
    return [round(float(v), 7) for v in grids.total_bounds]


# --- links and responses --------------------------------------------------------------------


def _landing_page(district: str) -> dict:
    return {
        "title": f"geogrid 网格 — {district}",
        "description": "OGC API – Features over geogrid: the grids of every level of the "
        "active boundaries (网格化服务管理), and the reports (事件) as points.",
        "links": [
            _link("self", JSON, "ogc.landing", title="this document"),
            _link("service-desc", OPENAPI, "ogc.api_document", title="the API definition"),
            _link("conformance", JSON, "ogc.conformance", title="conformance classes"),
            _link("data", JSON, "ogc.collections", title="the collections"),
        ],
    }


def _items_links(collection_id: str, query: ItemsQuery, matched: int) -> list[dict]:
    args = request.args.to_dict()
    page = {"endpoint": "ogc.items", "collection_id": collection_id}
    links = [
        _link("self", GEOJSON, **page, **args),
        _link("collection", JSON, "ogc.collection", collection_id=collection_id),
    ]
    if query.offset + query.limit < matched:
        following = {**args, "limit": query.limit, "offset": query.offset + query.limit}
        links.append(_link("next", GEOJSON, **page, **following))
    if query.offset > 0:
        previous = {**args, "limit": query.limit, "offset": max(query.offset - query.limit, 0)}
        links.append(_link("prev", GEOJSON, **page, **previous))
    return links


def _link(rel: str, media_type: str, endpoint: str, title: str | None = None, **values) -> dict:
    link = {"href": url_for(endpoint, _external=True, **values), "rel": rel, "type": media_type}
    if title:
        link["title"] = title
    return link


def _respond(body: dict, media_type: str = JSON) -> Response:
    response = jsonify(body)
    response.content_type = media_type
    return response


def _now() -> str:
    return _instant(now().replace(microsecond=0))


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- the OpenAPI document -------------------------------------------------------------------


def openapi_document(server: str, collection_ids: Sequence[str], page_limit: int) -> dict:
    """The OpenAPI 3.0 document of the API served at ``server``.

    Examples
    --------
    >>> doc = openapi_document("http://127.0.0.1:8000/ogc", ["street", "reports"], 1000)
    >>> doc["openapi"], sorted(doc["paths"])[:3]
    ('3.0.3', ['/', '/api', '/collections'])
    >>> doc["components"]["parameters"]["limit"]["schema"]["maximum"]
    1000
    """
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "geogrid OGC API – Features",
            "version": _version(),
            "description": __doc__,
            "license": {"name": "see the geogrid project"},
        },
        "servers": [{"url": server}],
        "tags": [{"name": "Capabilities"}, {"name": "Data"}],
        "paths": _openapi_paths(),
        "components": {
            "parameters": _openapi_parameters(collection_ids, page_limit),
            "schemas": _openapi_schemas(),
            "responses": _openapi_error_responses(),
        },
    }


def _version() -> str:
    try:
        return metadata.version("geogrid")
    except metadata.PackageNotFoundError:
        return "0"


def _openapi_paths() -> dict:
    one = ["collectionId"]
    return {
        "/": _operation("getLandingPage", "Landing page", "LandingPage", JSON),
        "/conformance": _operation(
            "getConformanceDeclaration", "Conformance classes", "ConfClasses", JSON
        ),
        "/api": _operation("getAPIDefinition", "This OpenAPI document", None, OPENAPI),
        "/collections": _operation("getCollections", "The collections", "Collections", JSON),
        "/collections/{collectionId}": _operation(
            "describeCollection", "One collection's metadata", "Collection", JSON, one
        ),
        "/collections/{collectionId}/items": _operation(
            "getFeatures", "Features of a collection", "FeatureCollection", GEOJSON,
            [*one, "bbox", "datetime", "limit", "offset"],
        ),
        "/collections/{collectionId}/items/{featureId}": _operation(
            "getFeature", "One feature", "Feature", GEOJSON, [*one, "featureId"]
        ),
    }  # fmt: skip


def _operation(
    operation_id: str, summary: str, schema: str | None, media_type: str, parameters=()
) -> dict:
    body = {"$ref": f"#/components/schemas/{schema}"} if schema else {"type": "object"}
    responses = {
        "200": {"description": summary, "content": {media_type: {"schema": body}}},
        "400": {"$ref": "#/components/responses/InvalidParameter"},
        "default": {"$ref": "#/components/responses/ServerError"},
    }
    if parameters:
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
    return {"get": {
        "operationId": operation_id, "summary": summary,
        "tags": ["Data" if parameters else "Capabilities"],
        "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in [*parameters, "f"]],
        "responses": responses,
    }}  # fmt: skip


def _query_parameter(name: str, description: str, schema: dict, **more) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema, "style": "form", "explode": False, **more}  # fmt: skip


def _openapi_parameters(collection_ids: Sequence[str], page_limit: int) -> dict:
    return {
        "collectionId": {"name": "collectionId", "in": "path", "required": True,
                         "description": "a level key of the active boundaries, or reports",
                         "schema": {"type": "string", "enum": list(collection_ids)}},
        "featureId": {"name": "featureId", "in": "path", "required": True,
                      "description": "a grid code, or a report id",
                      "schema": {"type": "string"}},
        "bbox": _query_parameter(
            "bbox", "Features whose geometry intersects west,south,east,north in CRS84 "
            "(6 numbers: heights ignored; west > east crosses the antimeridian)",
            {"type": "array", "oneOf": [{"minItems": 4, "maxItems": 4},
                                        {"minItems": 6, "maxItems": 6}],
             "items": {"type": "number"}}),
        "datetime": _query_parameter(
            "datetime", "RFC 3339 instant or interval (a/b, ../b, a/..): reports received "
            "then; grids have no time, so every grid matches", {"type": "string"}),
        "limit": _query_parameter(
            "limit", f"Page size; larger values are lowered to {page_limit}",
            {"type": "integer", "minimum": 1, "maximum": page_limit,
             "default": min(DEFAULT_LIMIT, page_limit)}),
        "offset": _query_parameter(
            "offset", "Matches to skip (the next and prev links carry it)",
            {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}),
        "f": _query_parameter("f", "Response format", {"type": "string", "enum": ["json"]}),
    }  # fmt: skip


def _openapi_schemas() -> dict:
    ref = {name: {"$ref": f"#/components/schemas/{name}"} for name in
           ("Link", "Collection", "Feature", "Geometry", "Extent")}  # fmt: skip
    links = {"type": "array", "items": ref["Link"]}
    return {
        "Link": _object(["href", "rel"], href={"type": "string"}, rel={"type": "string"},
                        type={"type": "string"}, title={"type": "string"}),
        "LandingPage": _object(["links"], title={"type": "string"},
                               description={"type": "string"}, links=links),
        "ConfClasses": _object(["conformsTo"],
                               conformsTo={"type": "array", "items": {"type": "string"}}),
        "Collections": _object(["links", "collections"], links=links,
                               collections={"type": "array", "items": ref["Collection"]}),
        "Collection": _object(["id", "links"], id={"type": "string"}, title={"type": "string"},
                              description={"type": "string"}, links=links,
                              extent=ref["Extent"], itemType={"type": "string"},
                              crs={"type": "array", "items": {"type": "string"}}),
        "Extent": _object([], spatial={"type": "object"}, temporal={"type": "object"}),
        "FeatureCollection": _object(
            ["type", "features"], type={"type": "string", "enum": ["FeatureCollection"]},
            features={"type": "array", "items": ref["Feature"]}, links=links,
            timeStamp={"type": "string", "format": "date-time"},
            numberMatched={"type": "integer", "minimum": 0},
            numberReturned={"type": "integer", "minimum": 0}),
        "Feature": _object(
            ["type", "geometry", "properties"], type={"type": "string", "enum": ["Feature"]},
            id={"oneOf": [{"type": "string"}, {"type": "integer"}]},
            geometry=ref["Geometry"], properties={"type": "object", "nullable": True},
            links=links),
        "Geometry": {**_object(["type"], type={"type": "string"}), "nullable": True},
        "Error": _object(["error"], error=_object(["type", "message"], type={"type": "string"},
                                                  message={"type": "string"})),
    }  # fmt: skip


def _object(required: list[str], **properties: dict) -> dict:
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _openapi_error_responses() -> dict:
    def error(description: str) -> dict:
        schema = {"$ref": "#/components/schemas/Error"}
        return {"description": description, "content": {JSON: {"schema": schema}}}

    return {
        "InvalidParameter": error("A query parameter is unknown, repeated or malformed"),
        "NotFound": error("No such collection or feature"),
        "ServerError": error("Something went wrong on the server (or it is unavailable)"),
    }
