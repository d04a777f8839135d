"""The OpenAPI description of the patrol routes under /api/patrol (:mod:`web.patrol`).

Every patrol route needs an account (``Authorization: Bearer TOKEN`` or a page
session); what each operation needs is in its description, and who sees which
tracks in :mod:`web.patrol`.
"""

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
_AUTH = {
    "401": {**_ERROR, "description": "not signed in: send 'Authorization: Bearer TOKEN'"},
    "403": {**_ERROR, "description": "the account's role may not do this (the message says "
            "which action it lacks), or a grid worker named another worker"},
}  # fmt: skip
_OUT_OF_SCOPE = {**_ERROR, "description": "a grid (or place) outside the account's scope, "
                 "answered as one that does not exist"}  # fmt: skip
#: The worker rule (the security review's F4), said once for every operation it touches.
WORKER_RULE = (
    "A grid worker (track.create, track.read) stores and reads its own tracks only: "
    "they are stored under its account name whatever the GPX author says, and a `worker` "
    "naming anyone else is refused with 403. A commander or an administrator "
    "(track.read_all) stores tracks for the workers it names (`worker`, else each file's "
    "author) and reads every worker's tracks that pass through a grid of its scope."
)
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
    _query("worker", "who walked the tracks (default: the GPX author; a grid worker: "
           "itself, whatever is given)", {"type": "string"}),
]  # fmt: skip
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
    **_AUTH,
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
            "description": "Needs route.read. A principal with a scope plans within its grids: "
            "`grids` default to its scope, and a grid or a sent place outside it answers 404.",
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
                **_AUTH,
                "404": _OUT_OF_SCOPE,
                "413": _LIMIT,
                "422": _LIMIT,
                "503": _BUSY,
            },
        }
    },
    "/api/patrol/tracks": {
        "post": {
            "summary": "Analyse GPX tracks: length, duration, grids and time in each, stops",
            "description": "Needs track.create. " + WORKER_RULE + " A commander with a scope "
            "stores only tracks that pass one of its grids (else 404). Stored tracks record "
            "the signed-in account as who stored them.",
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
                **_AUTH,
                "404": _OUT_OF_SCOPE,
                "413": _LIMIT,
                "503": _BUSY,
            },
        },
        "get": {
            "summary": "Stored tracks of a period (at most PATROL_MAX_DAYS days) as GeoJSON lines",
            "description": "Needs track.read. " + WORKER_RULE,
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
                **_AUTH,
                "503": _BUSY,
            },
        },
    },
    "/api/patrol/compliance": {
        "post": {
            "summary": "Patrols per grid and day from GPX tracks (一日三巡), as a table or layer",
            "description": "Needs track.read. Only the grids of the account's scope are listed; "
            "a grid worker's tracks count as its own.",
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
            "description": "Needs track.read. " + WORKER_RULE + " Only the grids of the "
            "account's scope are listed.",
            "parameters": [
                *_PERIOD_QUERY,
                _query("worker", "only this worker's patrols", {"type": "string"}),
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
            "description": "Needs route.read. Only the routes of the account's grids; a "
            "`grid` outside its scope answers 404.",
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
                **_AUTH,
                "404": _OUT_OF_SCOPE,
            },
        },
        "post": {
            "summary": "Store a planned route of a grid and shift",
            "description": "Needs route.write; a grid outside the account's scope answers 404.",
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
                **_AUTH,
                "404": {**_ERROR, "description": "no such grid, or one outside the scope"},
                "413": _LIMIT,
            },
        },
    },
}
