"""The OpenAPI 3.0 document of the JSON API, served at /api/openapi.json.

Written as data next to the routes it describes; the test suite fuzzes the
API from this document (schemathesis), so a wrong line here fails a test.

Every request is made as a principal: an API token (``Authorization: Bearer``),
a page session, or the anonymous visitor. Who did something is always that
principal, never a name the client sends.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from geogrid.workflow import SOURCES, STATUSES
from web import analysis, patrol_openapi, redraw_openapi


def _query(name: str, description: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema}  # fmt: skip


def _path(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema}  # fmt: skip


def _json(schema_ref: str, description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": schema_ref}}}}  # fmt: skip


def _geojson(description: str) -> dict:
    return {"description": description,
            "content": {"application/geo+json": {"schema": {"type": "object"}}}}  # fmt: skip


ERRORS = {
    "400": _json("#/components/schemas/Error", "bad input; the message names the field"),
    "401": _json(
        "#/components/schemas/Error", "sign in, or send a token: anonymous visitors may not do this"
    ),
    "403": _json("#/components/schemas/Error", "the principal's role may not do this"),
    "404": _json(
        "#/components/schemas/Error",
        "no such thing, or out of the principal's grid scope (the same answer)",
    ),
}
BBOX = _query(
    "bbox",
    "west,south,east,north in WGS-84",
    {"type": "string", "example": "120.63,27.99,120.68,28.03"},
)
TIME = {
    "type": "string",
    "format": "date-time",
    "example": "2026-11-01T00:00:00+08:00",
    "description": "ISO 8601 (a date alone is its first moment, China time); years 1900-2100",
}
REPORT_FILTERS = [
    _query("grid", "a grid code at any level; its descendants are included", {"type": "string"}),
    BBOX,
    _query("since", "received at or after (ISO 8601)", TIME),
    _query("until", "received before (ISO 8601)", TIME),
    _query("category", "category codes, comma-separated (sub-categories included)",
           {"type": "string"}),
    _query("status", "statuses, comma-separated", {"type": "string", "example": "received"}),
    _query("overdue", "only open reports past their deadline", {"type": "boolean"}),
    _query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 1000}),
    _query("offset", "items to skip", {"type": "integer", "minimum": 0, "maximum": 10_000_000}),
]  # fmt: skip
LEVEL = _query("level", "level key (default: the top level)", {"type": "string"})
STATS_LEVEL = _query("level", "level key (default: the district's default level)",
                     {"type": "string"})  # fmt: skip
GENERATION = _query(
    "generation",
    "generation id (default: the active one)",
    {"type": "integer", "minimum": 1, "maximum": 2**31},
)
CODE = _path("code", "grid code", {"type": "string"})
# Any whole number: an id no report has (one beyond 64 bits too) answers 404.
REPORT_ID = _path("report_id", "report id", {"type": "integer", "minimum": 1})


AUDIT_FILTERS = [
    _query("since", "at or after (ISO 8601)", TIME),
    _query("until", "before the end of (ISO 8601; a date alone: that whole day)", TIME),
    _query("principal", "who acted (user name)", {"type": "string"}),
    _query("action", "the action, e.g. report.close", {"type": "string"}),
    _query("object_type", "what was acted on, e.g. report or user", {"type": "string"}),
    _query("object_id", "its id", {"type": "string"}),
    _query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 1000}),
    _query("offset", "items to skip", {"type": "integer", "minimum": 0, "maximum": 10**9}),
]


def _paths() -> dict[str, Any]:
    return {
        "/api/levels": {"get": {"summary": "Levels of the active generation",
                                "responses": {"200": _json("#/components/schemas/Levels",
                                                           "levels, top first")}}},
        "/api/generations": {"get": {"summary": "Boundary generations",
                                     "responses": {"200": {"description": "generations"}}}},
        "/api/grids": {"get": {
            "summary": "Grids of a level as GeoJSON",
            "parameters": [LEVEL, BBOX, GENERATION,
                           _query("simplify", "simplification tolerance in metres",
                                  {"type": "number", "minimum": 0, "maximum": 1000})],
            "responses": {"200": _geojson("FeatureCollection"), **ERRORS}}},
        "/api/grids/{code}": {"get": {"summary": "One grid", "parameters": [CODE, GENERATION],
                                      "responses": {"200": _geojson("Feature"), **ERRORS}}},
        "/api/grids/{code}/children": {"get": {
            "summary": "A grid's children", "parameters": [CODE, GENERATION],
            "responses": {"200": _geojson("FeatureCollection"), **ERRORS}}},
        "/api/levels/{key}/grids": {"get": {
            "summary": "All grids of a level (the map's layers)",
            "parameters": [_path("key", "level key", {"type": "string"})],
            "responses": {"200": _geojson("FeatureCollection"), **ERRORS}}},
        "/api/lookup": {"get": {
            "summary": "The grid at every level for one point",
            "parameters": [
                _query("lon", "longitude", {"type": "number"}, True),
                _query("lat", "latitude", {"type": "number"}, True),
                _query("crs", "WGS-84 (default), GCJ-02, BD-09 or EPSG:n", {"type": "string"}),
            ],
            "responses": {"200": _json("#/components/schemas/Lookup", "assignment"), **ERRORS}}},
        "/api/reports": {
            "get": {"summary": "Reports in the principal's scope, filtered and paged",
                    "description": "A reporter's contact details come whole to roles that "
                                   "may see them (report.contact), masked to other readers.",
                    "parameters": REPORT_FILTERS,
                    "responses": {"200": _json("#/components/schemas/ReportPage", "a page"),
                                  **ERRORS}},
            "post": {
                "summary": "Create a report, or a batch {\"reports\": [...]}",
                "description": "Idempotent on external_id: a resend returns 200 and the "
                               "stored report; other content under the same external_id: 409. "
                               "The history's first entry names the authenticated principal; "
                               "an X-Actor header is ignored. Without signing in (when the "
                               "operator allows it) a client address may send a few a minute "
                               "(429 beyond).",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "oneOf": [{"$ref": "#/components/schemas/NewReport"},
                              {"$ref": "#/components/schemas/NewReportBatch"}]}}}},
                "responses": {"201": {"description": "stored"},
                              "200": {"description": "already stored (same external_id)"},
                              "409": _json("#/components/schemas/Error", "conflict"),
                              "413": _json("#/components/schemas/Error", "body too large"),
                              "429": _json("#/components/schemas/Error", "too many reports "
                                           "from this address without signing in"),
                              **ERRORS},
            },
        },
        "/api/reports.geojson": {"get": {"summary": "Reports as GeoJSON points",
                                         "parameters": REPORT_FILTERS,
                                         "responses": {"200": _geojson("points"), **ERRORS}}},
        "/api/reports/{report_id}": {"get": {
            "summary": "One report with its history",
            "parameters": [REPORT_ID],
            "responses": {"200": _json("#/components/schemas/Report", "the report"),
                          **ERRORS}}},
        "/api/reports/{report_id}/transitions": {"post": {
            "summary": "Move a report along the closed loop",
            "description": "The step is recorded as the authenticated principal's; an actor "
                           "in the body and the X-Actor header are ignored. The role must "
                           "allow the step (403); with expected, the report must still have "
                           "that status (409 if it moved on meanwhile).",
            "parameters": [REPORT_ID],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Transition"}}}},
            "responses": {"200": _json("#/components/schemas/Report", "moved"),
                          "409": _json("#/components/schemas/Error", "not allowed now, or "
                                       "the report is no longer at the expected status"),
                          **ERRORS}}},
        "/api/categories": {"get": {"summary": "The category tree",
                                    "responses": {"200": {"description": "categories"}}}},
        "/api/stats": {"get": {"summary": "Report counts per grid of a level",
                               "parameters": [STATS_LEVEL, *REPORT_FILTERS],
                               "responses": {"200": {"description": "counts"}, **ERRORS}}},
        "/api/stats/{code}": {"get": {"summary": "One grid's counts and its children's",
                                      "parameters": [CODE, *REPORT_FILTERS],
                                      "responses": {"200": {"description": "counts"},
                                                    **ERRORS}}},
        "/api/me": {"get": {
            "summary": "Who this request is authenticated as, and what it may do",
            "description": "csrf_token: for page sessions, the X-CSRFToken of their changes.",
            "responses": {"200": _json("#/components/schemas/Me", "the principal"),
                          "401": ERRORS["401"]}}},
        "/api/audit": {"get": {
            "summary": "Audit events, newest first (audit.read)",
            "parameters": AUDIT_FILTERS,
            "responses": {"200": {"description": "events"}, **ERRORS}}},
        "/api/heat": {"get": {
            "summary": "Report density in cells over a bbox (for heat maps)",
            "parameters": [*REPORT_FILTERS,
                           _query("size", "cells across the bbox",
                                  {"type": "integer", "minimum": 8, "maximum": 512})],
            "responses": {"200": {"description": "[lat, lon, count] per cell"}, **ERRORS}}},
    }  # fmt: skip


def _schemas() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["type", "message"],
            "properties": {"type": text, "message": text}}}},
        "Levels": {"type": "object", "properties": {"levels": {"type": "array", "items": {
            "type": "object", "properties": {"key": text, "label": text, "coverage": text,
                                             "grids": {"type": "integer"}}}}}},
        "Lookup": {"type": "object", "properties": {
            "status": {"type": "string", "enum": ["assigned", "nearest", "unassigned"]},
            "codes": {"type": "object"}, "distance_m": {"type": "number", "nullable": True},
            "nearest_code": {"type": "string", "nullable": True}}},
        "NewReport": {
            "type": "object", "additionalProperties": False,
            "required": ["category", "lon", "lat"],
            "properties": {
                "category": {"type": "string", "example": "dispute.neighbour"},
                "lon": {"type": "number", "example": 120.655},
                "lat": {"type": "number", "example": 28.01},
                "crs": {"type": "string", "example": "GCJ-02"},
                "source": {"type": "string", "enum": list(SOURCES)},
                "reported_at": {"type": "string", "format": "date-time",
                                "example": "2026-11-23T09:30:00+08:00"},
                "description": {"type": "string", "maxLength": 4000},
                "external_id": {"type": "string", "maxLength": 200},
                "reporter": {"type": "string", "description": "the reporter's name "
                             "(kept as contact.name)"},
                "contact": {"$ref": "#/components/schemas/Contact"},
            },
        },
        "Contact": {
            "type": "object", "additionalProperties": False,
            "description": "the reporter's contact details: whole to roles that may see them "
                           "(report.contact), masked to other readers",
            "properties": {name: {"type": "string", "maxLength": 200}
                           for name in ("name", "phone", "email", "device_id")}},
        "NewReportBatch": {"type": "object", "required": ["reports"], "properties": {
            "reports": {"type": "array", "minItems": 1,
                        "items": {"$ref": "#/components/schemas/NewReport"}}}},
        "Report": {"type": "object", "properties": {
            "id": {"type": "integer"}, "status": {"type": "string", "enum": list(STATUSES)},
            "category": text, "codes": {"type": "object"}, "history": {"type": "array"},
            "contact": {"type": "object", "description": "whole or masked; absent with none"}}},
        "ReportPage": {"type": "object", "properties": {
            "total": {"type": "integer"}, "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Report"}}}},
        "Transition": {"type": "object", "required": ["status"], "properties": {
            "status": {"type": "string", "enum": list(STATUSES)},
            "expected": {"type": "string", "enum": list(STATUSES),
                         "description": "the status the client saw; 409 if it moved on"},
            "actor": {"type": "string", "deprecated": True,
                      "description": "ignored: the step is the authenticated principal's"},
            "note": text,
            "assignee": {"type": "string", "description": "分拨: the department or grid-worker "
                         "account the report is dispatched to"},
            "deadline": {"type": "string", "format": "date-time", "description": "分拨: a new "
                         "deadline, after now (without an offset: the district's zone)"},
            "client_id": {"type": "string", "maxLength": 100, "description": "the id a phone "
                          "gave an action made offline: a replay is done once"}}},
        "Me": {"type": "object", "properties": {
            "name": text, "display_name": text, "role": {"type": "string", "nullable": True},
            "role_label": {"type": "object", "properties": {"zh": text, "en": text}},
            "scope": {"type": "array", "nullable": True, "items": text},
            "via": text, "actions": {"type": "array", "items": text},
            "csrf_token": {"type": "string", "nullable": True}}},
    }  # fmt: skip


def _extension_paths() -> dict[str, Any]:
    """Paths of the blueprints mounted under /api (patrols, analysis, redraw), described there."""
    # deferred: these modules import this one (for the error schema and openapi_document)
    from web import phone_openapi, resident, stats, work_openapi

    return {**patrol_openapi.OPENAPI_PATHS, **analysis.OPENAPI_PATHS,
            **redraw_openapi.OPENAPI_PATHS, **work_openapi.OPENAPI_PATHS,
            **phone_openapi.OPENAPI_PATHS, **resident.OPENAPI_PATHS,
            **stats.OPENAPI_PATHS}  # fmt: skip


@cache
def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI 3.0 document.

    Examples
    --------
    >>> openapi_document()["openapi"]
    '3.0.3'
    """
    return {
        "openapi": "3.0.3",
        "info": {"title": "geogrid API · 网格化服务管理接口", "version": "1",
                 "description": "Grids, point lookup, reports and their workflow, statistics. "
                                "Coordinates are WGS-84 unless a crs says otherwise."},
        "paths": {**_paths(), **_extension_paths()},
        "components": {"schemas": _schemas()},
    }  # fmt: skip
