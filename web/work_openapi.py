"""The OpenAPI description of the work queue, dispatch targets and the in-app list (web/work.py)."""

from __future__ import annotations

from typing import Any

from geogrid.workflow import STATUSES

_ERROR = {
    "description": "bad input; the message names the field",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_AUTH = {
    "401": {**_ERROR, "description": "not signed in"},
    "403": {**_ERROR, "description": "the account's role may not do this"},
}


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "description": description, "schema": schema}


_TEXT = {"type": "string"}
_QUEUE_FILTERS = [
    _query("mine", "what waits for my action (default), or false: every open report in scope",
           {"type": "boolean", "default": True}),
    _query("status", "statuses, comma-separated", {"type": "string",
                                                   "example": ",".join(STATUSES[:2])}),
    _query("category", "categories (with their sub-categories), comma-separated", _TEXT),
    _query("grid", "a grid code at any level: its reports and its descendants'", _TEXT),
    _query("source", "sources, comma-separated (grid_worker, resident, hotline …)", _TEXT),
    _query("since", "received from (ISO 8601; a date is its first moment)", _TEXT),
    _query("until", "received until (a date runs to its end)", _TEXT),
    _query("warning", "only overdue or only nearly overdue (预警)",
           {"type": "string", "enum": ["overdue", "nearly"]}),
    _query("limit", "page size", {"type": "integer", "minimum": 1, "default": 50}),
    _query("offset", "first item", {"type": "integer", "minimum": 0, "default": 0}),
]  # fmt: skip

#: OpenAPI 3.0 path items, merged into /api/openapi.json.
OPENAPI_PATHS: dict[str, Any] = {
    "/api/queue": {"get": {
        "summary": "A work queue (待办): overdue and nearly overdue first",
        "description": "Open reports in the account's scope that wait for its action: the "
                       "command centre registers, dispatches, verifies and closes; departments "
                       "and grid workers handle what is dispatched to them. Each item carries "
                       "warning (overdue, nearly or null) and the actions the reader may take. "
                       "total stops counting at 10,000.",
        "parameters": _QUEUE_FILTERS,
        "responses": {"200": {"description": "one page of the queue"}, "400": _ERROR, **_AUTH}}},
    "/api/reports/{report_id}/assignees": {"get": {
        "summary": "Who a report can be dispatched to (分拨对象)",
        "description": "Active department and grid-worker accounts whose scope covers the "
                       "report; the grid's own workers first. Needs report.dispatch.",
        "parameters": [{"name": "report_id", "in": "path", "required": True,
                        "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "the accounts"}, "404": _ERROR, **_AUTH}}},
    "/api/inbox": {"get": {
        "summary": "My notices (提醒): dispatched or returned to me, about to be late, overdue",
        "parameters": [_query("unread", "unread only", {"type": "boolean"}),
                       _query("limit", "most notices", {"type": "integer", "maximum": 200})],
        "responses": {"200": {"description": "notices, newest first"}, **_AUTH}}},
    "/api/inbox/read": {"post": {
        "summary": "Mark notices read",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["ids"],
            "properties": {"ids": {"type": "array", "items": {"type": "integer"}}}}}}},
        "responses": {"200": {"description": "how many were marked"}, "400": _ERROR, **_AUTH}}},
    "/api/reports/{report_id}/media": {"post": {
        "summary": "Add a photo to a report (JPEG, PNG or WebP; EXIF removed)",
        "description": "report.read, plus report.create for a report photo or report.feedback "
                       "for a feedback photo (departments and grid workers: only on reports "
                       "dispatched to them). 201 with it; 200 if the same photo was there "
                       "already; 409 when the report is closed or has 6 photos of the stage; "
                       "413 over GEOGRID_MEDIA_MAX_BYTES.",
        "parameters": [{"name": "report_id", "in": "path", "required": True,
                        "schema": {"type": "integer"}}],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["photo"],
            "properties": {"photo": {"type": "string", "format": "binary"},
                           "stage": {"type": "string", "enum": ["report", "feedback"]}}}}}},
        "responses": {"201": {"description": "stored"}, "200": {"description": "stored before"},
                      "400": _ERROR, "404": _ERROR, "409": _ERROR, "413": _ERROR, **_AUTH}}},
    **{path: {"get": {
        "summary": summary,
        "description": "To readers whose scope covers the photo's report (others: 404).",
        "parameters": [{"name": "media_id", "in": "path", "required": True,
                        "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "the image"}, "404": _ERROR, **_AUTH}}}
       for path, summary in (("/api/media/{media_id}", "A report's photo"),
                             ("/api/media/{media_id}/thumb", "Its thumbnail (JPEG, ≤ 320 px)"))},
}  # fmt: skip
