"""Open311 GeoReport v2 as geogrid serves it, in OpenAPI 3.0: /open311/v2/openapi.json.

GeoReport v2 has no OpenAPI document of its own; this one describes the routes
of :mod:`web.open311`, with geogrid's extensions (``crs``, ``external_id``,
``page``, ``page_size``), so that clients can be generated and the suite can
fuzz the routes from it (tests/web/test_fuzz.py).

``POST requests`` and ``GET requests`` need a geogrid API token, sent as
GeoReport v2's ``api_key`` (query, form or JSON body) or as
``Authorization: Bearer TOKEN``; without one they answer 401, with one whose
account may not do it 403, and anonymous intake (when the app allows it) 429
beyond its rate limit. ``services`` need no token by default.
"""

from __future__ import annotations

from functools import cache
from typing import Any

#: Every resource answers in either format; the suffix chooses.
FORMAT = {"name": "format", "in": "path", "required": True, "description": "json or xml",
          "schema": {"type": "string", "enum": ["json", "xml"]}}  # fmt: skip
TEXT = {"type": "string", "maxLength": 200}
#: Either way of sending a token; the form and JSON ``api_key`` fields work too.
SECURITY = [{"api_key": []}, {"bearer": []}]
SECURITY_SCHEMES = {
    "api_key": {"type": "apiKey", "in": "query", "name": "api_key",
                "description": "GeoReport v2's key: an API token of geogrid"},
    "bearer": {"type": "http", "scheme": "bearer", "description": "the same token"},
}  # fmt: skip


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


def _path(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}  # fmt: skip


def _answers(description: str, *errors: str) -> dict:
    error = {"description": "the description names the field or the id",
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}},
                         "text/xml": {"schema": {"type": "string"}}}}  # fmt: skip
    ok = {"description": description,
          "content": {"application/json": {"schema": {"type": "array"}},
                      "text/xml": {"schema": {"type": "string"}}}}  # fmt: skip
    return {"200": ok, **dict.fromkeys(errors, error)}


def _service_request() -> dict:
    """The fields of POST requests, form-encoded or as one JSON object."""
    number = {"oneOf": [{"type": "number"}, {"type": "string"}]}
    return {"type": "object", "required": ["service_code", "lat", "long"], "properties": {
        "service_code": {"type": "string", "example": "city.rubbish"},
        "lat": {**number, "example": 28.005}, "long": {**number, "example": 120.655},
        "crs": {"type": "string", "enum": ["WGS-84", "GCJ-02", "BD-09"]},
        "description": {"type": "string", "maxLength": 4000},
        "address_string": TEXT, "address_id": TEXT, "media_url": {"type": "string",
                                                                  "format": "uri"},
        "email": TEXT, "device_id": TEXT, "account_id": TEXT, "first_name": TEXT,
        "last_name": TEXT, "phone": TEXT, "external_id": TEXT,
        "jurisdiction_id": TEXT,
        "api_key": {**TEXT, "description": "an API token of geogrid (an intake account's)"},
    }}  # fmt: skip


def _paths() -> dict[str, Any]:
    when = {"type": "string", "format": "date-time", "example": "2026-03-01T08:00:00+08:00"}
    body = {"$ref": "#/components/schemas/ServiceRequest"}
    return {
        "/open311/v2/services.{format}": {"get": {
            "summary": "Every report category as an Open311 service",
            "parameters": [FORMAT], "responses": _answers("services", "404")}},
        "/open311/v2/services/{service_code}.{format}": {"get": {
            "summary": "One service's definition (no attributes beyond the standard fields)",
            "parameters": [_path("service_code", "a category code"), FORMAT],
            "responses": _answers("the definition", "404")}},
        "/open311/v2/requests.{format}": {
            "get": {"summary": "Service requests in the reader's grid scope, newest first, "
                               "filtered and paged (report.read)",
                    "parameters": [FORMAT, *_request_filters(when)], "security": SECURITY,
                    "responses": _answers("requests (X-Total-Count: how many match)", "400",
                                          "401", "403")},
            "post": {"summary": "A new service request (201; 200 for a resend); needs "
                                "report.create: an api_key of an intake account",
                     "parameters": [FORMAT], "security": SECURITY,
                     "requestBody": {"required": True, "content": {
                         "application/x-www-form-urlencoded": {"schema": body},
                         "application/json": {"schema": body}}},
                     "responses": {**_answers("already stored (same external_id)", "400",
                                              "401", "403", "409", "413", "429"),
                                   "201": {"description": "stored: its service_request_id"}}}},
        "/open311/v2/requests/{service_request_id}.{format}": {"get": {
            "summary": "One service request, in a one-element list; 404 outside the "
                       "reader's scope (report.read)",
            "parameters": [_path("service_request_id", "a report id"), FORMAT],
            "security": SECURITY, "responses": _answers("the request", "401", "403", "404")}},
    }  # fmt: skip


def _request_filters(when: dict) -> list[dict]:
    return [
        _query("service_request_id", "ids, comma-separated (other filters are then ignored)",
               {"type": "string"}),
        _query("service_code", "category codes, comma-separated", {"type": "string"}),
        _query("status", "open, closed or both", {"type": "string", "example": "open"}),
        _query("start_date", "requested at or after (a W3C datetime, or a date)", when),
        _query("end_date", "requested before the end of (at most 90 days after start_date)",
               when),
        _query("page", "page number, from 1", {"type": "integer", "minimum": 1}),
        _query("page_size", "requests per page", {"type": "integer", "minimum": 1,
                                                  "maximum": 1000}),
        _query("jurisdiction_id", "accepted and ignored: one jurisdiction", {"type": "string"}),
    ]  # fmt: skip


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0 document of the Open311 routes.

    Examples
    --------
    >>> sorted(openapi_document()["paths"])[0]
    '/open311/v2/requests.{format}'
    """
    return {
        "openapi": "3.0.3",
        "info": {"title": "geogrid Open311 GeoReport v2 · 市民上报接口", "version": "2",
                 "description": "Residents' apps report into the grid. Errors come as "
                                "[{\"code\": 400, \"description\": \"lat: …\"}]."},
        "paths": _paths(),
        "components": {"securitySchemes": SECURITY_SCHEMES, "schemas": {
            "ServiceRequest": _service_request(),
            "Errors": {"type": "array", "items": {"type": "object", "properties": {
                "code": {"type": "integer"}, "description": {"type": "string"}}}},
        }},
    }  # fmt: skip
