"""The OpenAPI description of the patrol check-ins at /api/patrol/checkins (:mod:`web.phone`).

The phone page is not an API; its check-ins are, for any client that patrols.
"""

from __future__ import annotations

from typing import Any

from web.patrol_openapi import WORKER_RULE

_ERROR = {
    "description": "bad input; the message names the field",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_AUTH = {
    "401": {**_ERROR, "description": "not signed in: send 'Authorization: Bearer TOKEN'"},
    "403": {**_ERROR, "description": "the account's role may not do this (the message says "
            "which action it lacks), or a grid worker named another worker"},
}  # fmt: skip
_CHECKIN = {
    "type": "object",
    "properties": {
        "id": {"type": "string"}, "worker": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "lon": {"type": "number", "nullable": True}, "lat": {"type": "number", "nullable": True},
        "crs": {"type": "string", "nullable": True},
        "grid_code": {"type": "string", "nullable": True}, "note": {"type": "string"},
        "received_at": {"type": "string", "format": "date-time"},
    },
}  # fmt: skip
_NEW_CHECKIN = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "at"],
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$",
               "description": "made by the client (a UUID): the same id is stored once",
               "example": "5b0c6f1e-3a7d-4b2a-9a51-0d6c1e2f3a4b"},
        "at": {"type": "string", "format": "date-time", "example": "2026-11-23T09:30:00+08:00",
               "description": "when the worker checked in (without an offset: China time); "
               "at most 15 minutes after the server's clock"},
        "lon": {"type": "number", "minimum": -180, "maximum": 180, "nullable": True,
                "example": 120.655},
        "lat": {"type": "number", "minimum": -90, "maximum": 90, "nullable": True,
                "example": 28.01},
        "crs": {"type": "string", "example": "WGS-84",
                "description": "WGS-84 (default), GCJ-02, BD-09 …; kept in WGS-84"},
        "note": {"type": "string", "maxLength": 500},
    },
}  # fmt: skip


def _query(name: str, description: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema}  # fmt: skip


#: OpenAPI 3.0 path items of the check-ins, to merge into /api/openapi.json.
OPENAPI_PATHS: dict[str, Any] = {
    "/api/patrol/checkins": {
        "post": {
            "summary": "Check in on patrol (巡查签到): a moment and a place",
            "description": "Needs track.create; stored under the account's name. The id is the "
            "client's: sent again with the same content it answers 200 with the stored "
            "check-in, with other content (or by another worker) 409. Without lon and lat "
            "(no fix indoors) it is kept without a place.",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _NEW_CHECKIN}},
            },
            "responses": {
                "201": {
                    "description": "stored",
                    "content": {"application/json": {"schema": _CHECKIN}},
                },
                "200": {
                    "description": "stored before, with the same content",
                    "content": {"application/json": {"schema": _CHECKIN}},
                },
                "400": _ERROR,
                **_AUTH,
                "409": {**_ERROR, "description": "the id names another check-in"},
            },
        },
        "get": {
            "summary": "Check-ins of a period, in time order",
            "description": "Needs track.read. " + WORKER_RULE,
            "parameters": [
                _query(
                    "since",
                    "first day or time (ISO 8601; a date is a day in China time)",
                    {"type": "string", "format": "date", "example": "2026-11-23"},
                    True,
                ),
                _query(
                    "until",
                    "last day or time (a date runs to its end)",
                    {"type": "string", "format": "date", "example": "2026-11-23"},
                    True,
                ),
                _query("worker", "one worker's check-ins", {"type": "string"}),
            ],
            "responses": {
                "200": {
                    "description": "the check-ins",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"checkins": {"type": "array", "items": _CHECKIN}},
                            }
                        }
                    },
                },
                "400": _ERROR,
                **_AUTH,
            },
        },
    },
}
