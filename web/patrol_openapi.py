"""The OpenAPI description of the patrol routes under /api/patrol (:mod:`web.patrol`)."""

from __future__ import annotations

from typing import Any

from geogrid.patrol.records import SHIFTS

GEOJSON = "application/geo+json"
GPX = "application/gpx+xml"


def _query(name: str, description: str, schema: dict) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_ERROR = {
    "description": "bad input; the message names the field",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_LIMIT = {**_ERROR, "description": "over a GEOGRID_MAX_* limit; the message names it"}
_BUSY = {**_ERROR, "description": "the worker is busy with costly requests; see Retry-After"}
_GPX_BODY = {
    "required": True,
    "description": "GPX 1.0/1.1 with timed track points",
    "content": {GPX: {"schema": {"type": "string"}}},
}
_NUMBER = {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 10_000}
_TRACK_QUERY = [
    _query("crs", "WGS-84 (default), GCJ-02 or BD-09", {"type": "string"}),
    _query(
        "level",
        "level of the grids reported (default: the district's default level)",
        {"type": "string"},
    ),
    _query("worker", "who walked the tracks (default: the GPX author)", {"type": "string"}),
]
_PERIOD_QUERY = [
    {**_query("since", "first day or time (ISO 8601; a date is a day in China time)",
              {"type": "string", "format": "date", "example": "2026-11-23"}), "required": True},
    {**_query("until", "last day or time (a date runs to its end)",
              {"type": "string", "format": "date", "example": "2026-11-23"}), "required": True},
]  # fmt: skip
_RULE_QUERY = [
    _query("required", "patrols a day", {"type": "integer", "minimum": 1, "maximum": 48}),
    _query("min_minutes", "least minutes in a grid", _NUMBER),
    _query("min_length_m", "least metres in a grid", _NUMBER),
    _query("merge_minutes", "passes closer than this are one", _NUMBER),
    _query("format", "json (default) or geojson", {"type": "string", "enum": ["json", "geojson"]}),
]
_COMPLIANCE_RESPONSES = {
    "200": {
        "description": "summary, table and never-visited grids, "
        "or a GeoJSON layer with a colour per grid"
    },
    "400": _ERROR,
    "503": _BUSY,
}
_PLACE = {
    "type": "object",
    "required": ["weight", "lon", "lat"],
    "properties": {
        "name": {"type": "string"},
        "weight": {"type": "number", "minimum": 0.000001},
        "lon": {"type": "number", "minimum": -180, "maximum": 180},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
    },
}
_PLAN = {
    "type": "object",
    "additionalProperties": False,
    "required": ["start"],
    "properties": {
        "start": {
            "type": "object",
            "required": ["lon", "lat"],
            "properties": {
                "lon": {"type": "number", "example": 120.655},
                "lat": {"type": "number", "example": 28.01},
            },
        },
        "crs": {"type": "string", "example": "WGS-84"},
        "grids": {"type": "array", "items": {"type": "string"}},
        "mode": {"type": "string", "enum": ["priority", "streets"]},
        "max_length_m": {"type": "number", "minimum": 0, "maximum": 50_000},
        "max_snap_m": {"type": "number", "minimum": 0, "maximum": 5_000},
        "time_limit_s": {"type": "number", "minimum": 0, "maximum": 5},
        "places": {
            "type": "array",
            "items": _PLACE,
            "description": "at most GEOGRID_MAX_PLAN_PLACES (default 500)",
        },
        "format": {"type": "string", "enum": ["geojson", "gpx"]},
    },
}

#: OpenAPI 3.0 path items of this blueprint, to merge into /api/openapi.json.
OPENAPI_PATHS: dict[str, Any] = {
    "/api/patrol/plan": {
        "post": {
            "summary": "Plan a closed patrol route (risk places within a length, or every street)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _PLAN}}},
            "responses": {
                "200": {
                    "description": "the route, its places and notes",
                    "content": {
                        GEOJSON: {"schema": {"type": "object"}},
                        GPX: {"schema": {"type": "string"}},
                    },
                },
                "400": _ERROR,
                "413": _LIMIT,
                "422": _LIMIT,
                "503": _BUSY,
            },
        }
    },
    "/api/patrol/tracks": {
        "post": {
            "summary": "Analyse GPX tracks: length, duration, grids and time in each, stops",
            "parameters": [
                *_TRACK_QUERY,
                _query("grid", "compare with this grid's stored route", {"type": "string"}),
                _query("tolerance_m", "route tolerance in metres", _NUMBER),
                _query("stop_minutes", "shortest stop", _NUMBER),
                _query("stop_radius_m", "radius of a stop", _NUMBER),
                _query("store", "also store the tracks (kept once)", {"type": "boolean"}),
            ],
            "requestBody": _GPX_BODY,
            "responses": {
                "200": {"description": "one analysis per track"},
                "201": {"description": "stored: one analysis per track, with its id and new"},
                "400": _ERROR,
                "413": _LIMIT,
                "503": _BUSY,
            },
        },
        "get": {
            "summary": "Stored tracks of a period (at most PATROL_MAX_DAYS days) as GeoJSON lines",
            "parameters": [
                *_PERIOD_QUERY,
                _query("worker", "only this worker's tracks", {"type": "string"}),
                _query(
                    "simplify_m",
                    "thin the lines to this many metres (default 5)",
                    {"type": "number", "minimum": 0, "maximum": 1000},
                ),
            ],
            "responses": {
                "200": {
                    "description": "a FeatureCollection, a line per track",
                    "content": {GEOJSON: {"schema": {"type": "object"}}},
                },
                "400": _ERROR,
                "503": _BUSY,
            },
        },
    },
    "/api/patrol/compliance": {
        "post": {
            "summary": "Patrols per grid and day from GPX tracks (一日三巡), as a table or layer",
            "parameters": [
                *_TRACK_QUERY,
                _query("since", "first day (ISO 8601)", {"type": "string"}),
                _query("until", "last day (ISO 8601)", {"type": "string"}),
                *_RULE_QUERY,
            ],
            "requestBody": _GPX_BODY,
            "responses": {**_COMPLIANCE_RESPONSES, "413": _LIMIT},
        },
        "get": {
            "summary": "Patrols per grid and day from stored tracks (PATROL_MAX_DAYS days at most)",
            "parameters": [
                *_PERIOD_QUERY,
                *_RULE_QUERY,
                _query(
                    "level",
                    "level of the grids (default: the district's default level)",
                    {"type": "string"},
                ),
            ],
            "responses": _COMPLIANCE_RESPONSES,
        },
    },
    "/api/patrol/routes": {
        "get": {
            "summary": "Stored planned routes as GeoJSON, a page at a time",
            "parameters": [
                _query("grid", "grid code", {"type": "string"}),
                _query(
                    "limit",
                    "most routes in the page (default 100)",
                    {"type": "integer", "minimum": 1, "maximum": 1000},
                ),
                _query("offset", "routes skipped", {"type": "integer", "minimum": 0}),
            ],
            "responses": {
                "200": {
                    "description": "routes; a page ends early at GEOGRID_MAX_PAGE_POINTS "
                    "points, and `next` links the next page",
                    "content": {GEOJSON: {"schema": {"type": "object"}}},
                },
                "400": _ERROR,
            },
        },
        "post": {
            "summary": "Store a planned route of a grid and shift",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["grid", "shift", "geometry"],
                            "properties": {
                                "grid": {"type": "string"},
                                "shift": {"type": "string", "enum": list(SHIFTS)},
                                "name": {"type": "string"},
                                "geometry": {"type": "object"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": {"description": "stored"},
                "400": _ERROR,
                "404": _ERROR,
                "413": _LIMIT,
            },
        },
    },
}
