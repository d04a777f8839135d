"""The OpenAPI description of the redraw studio's API under /api/redraw (:mod:`web.redraw`).

Every operation needs an account; what each needs is in its description. A draft
or parent outside the account's scope answers 404, as one that does not exist.
Every change carries the draft's ``version``; a stale one answers 409.
"""

from __future__ import annotations

from typing import Any

from web.redraw import EDIT_OPS, EXPORTS

_ERROR = {
    "description": "bad input; the message names the field",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_ERRORS = {
    "400": _ERROR,
    "401": {**_ERROR, "description": "not signed in: send 'Authorization: Bearer TOKEN'"},
    "403": {**_ERROR, "description": "the account's role may not do this"},
    "404": {**_ERROR, "description": "no such draft, or one outside the account's scope"},
}
_CONFLICT = {
    "409": {**_ERROR, "description": "DraftConflictError: someone saved the draft since you "
            "read it (reload it); DraftStateError: the draft is not in a state for this "
            "step, or its base generation is no longer the active one"},
}  # fmt: skip
_JSON = {"description": "JSON", "content": {"application/json": {"schema": {"type": "object"}}}}
_DRAFT_ID = {"name": "draft_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_VERSION = {"type": "integer", "minimum": 1, "description": "the draft version you read"}


def _body(properties: dict, required: tuple[str, ...] = ("version",)) -> dict:
    schema = {"type": "object", "additionalProperties": False, "required": list(required),
              "properties": properties}  # fmt: skip
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _query(name: str, description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": {"type": "string"}}  # fmt: skip


def _step(summary: str, action: str) -> dict:
    return {"post": {"summary": summary, "description": f"Needs {action}.",
                     "parameters": [_DRAFT_ID], "requestBody": _body({"version": _VERSION}),
                     "responses": {"200": _JSON, **_ERRORS, **_CONFLICT}}}  # fmt: skip


_CODES = {"type": "array", "items": {"type": "string"}}
_EDIT = {
    "version": _VERSION,
    "op": {"type": "string", "enum": list(EDIT_OPS)},
    "units": {**_CODES, "description": "move, new_grid: unit codes"},
    "grid": {"type": "string", "description": "the grid key the op works on"},
    "grids": {**_CODES, "description": "merge: into the first"},
    "name": {"type": "string", "description": "new_grid, rename"},
    "k": {"type": "integer", "minimum": 2, "description": "split: parts"},
    "seed": {"type": "integer", "minimum": 0, "description": "split, fix_balance"},
    "line": {
        "type": "array",
        "items": {"type": "array", "items": {"type": "number"}},
        "description": "split_line: [lon, lat] points",
    },
    "exclusive": {"type": "boolean", "description": "exclusive: on or off"},
}
_DRAFT = {
    "name": {"type": "string"}, "level": {"type": "string", "example": "grid"},
    "parent": {"type": "string", "example": "330399001010"},
    "weight": {"type": "string", "example": "households"},
    "band": {"type": "array", "items": {"type": "number"}, "example": [300, 500]},
    "numbering": {"type": "string", "enum": ["spatial", "next"]},
}  # fmt: skip

#: OpenAPI 3.0 path items of this blueprint, to merge into /api/openapi.json.
OPENAPI_PATHS: dict[str, Any] = {
    "/api/redraw/parents": {"get": {
        "summary": "Parents whose grids one may redraw at a level, with their units",
        "description": "Needs draft.read.", "parameters": [_query("level", "the level redrawn")],
        "responses": {"200": _JSON, **_ERRORS}}},
    "/api/redraw/drafts": {
        "get": {"summary": "Drafts in the account's scope", "description": "Needs draft.read.",
                "parameters": [_query("level", "only this level"),
                               _query("parent", 'only this parent ("" for the top level)'),
                               _query("status", "draft, submitted, approved, published")],
                "responses": {"200": _JSON, **_ERRORS}},
        "post": {"summary": "A new draft of a parent's grids, from its current grids",
                 "description": "Needs draft.edit.",
                 "requestBody": _body(_DRAFT, ("name", "level", "parent")),
                 "responses": {"201": _JSON, **_ERRORS}}},
    "/api/redraw/drafts/{draft_id}": {"get": {
        "summary": "A draft: meta, units (GeoJSON), assignment, grids, metrics, warnings, gate",
        "description": "Needs draft.read.", "parameters": [_DRAFT_ID],
        "responses": {"200": _JSON, **_ERRORS}}},
    "/api/redraw/drafts/{draft_id}/edit": {"post": {
        "summary": "One edit: the units that changed, the touched grids' metrics, warnings",
        "description": "Needs draft.edit; the draft must be in status draft.",
        "parameters": [_DRAFT_ID], "requestBody": _body(_EDIT, ("version", "op")),
        "responses": {"200": _JSON, **_ERRORS, **_CONFLICT}}},
    "/api/redraw/drafts/{draft_id}/propose": {"post": {
        "summary": "An automatic proposal (every grid in band, contiguous), one undoable step",
        "description": "Needs draft.edit. An infeasible band answers 400 saying why.",
        "parameters": [_DRAFT_ID],
        "requestBody": _body({"version": _VERSION, "keep_current": {"type": "boolean"},
                              "seed": {"type": "integer", "minimum": 0}}),
        "responses": {"200": _JSON, **_ERRORS, **_CONFLICT}}},
    "/api/redraw/drafts/{draft_id}/import": {"post": {
        "summary": "A unit → grid CSV (unit_code, grid, grid_name) applied as one step",
        "description": "Needs draft.edit.",
        "parameters": [_DRAFT_ID, {**_query("version", "the draft version you read", True),
                                   "schema": {"type": "integer"}}],
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
        "responses": {"200": _JSON, **_ERRORS, **_CONFLICT}}},
    "/api/redraw/drafts/{draft_id}/branch": {"post": {
        "summary": "A scenario: a new draft that starts from this one",
        "description": "Needs draft.edit.", "parameters": [_DRAFT_ID],
        "requestBody": _body({"name": {"type": "string"}, "version": _VERSION}, ("name",)),
        "responses": {"201": _JSON, **_ERRORS}}},
    "/api/redraw/drafts/{draft_id}/compare": {"get": {
        "summary": "Unit-level differences, metric deltas and overlaps with another plan",
        "description": "Needs draft.read.",
        "parameters": [_DRAFT_ID, _query("with", "base (default), draft:N or generation:N")],
        "responses": {"200": _JSON, **_ERRORS}}},
    "/api/redraw/drafts/{draft_id}/impact": {"get": {
        "summary": "What publishing would touch: households, reports, routes, hazards, codes",
        "description": "Needs draft.read.", "parameters": [_DRAFT_ID],
        "responses": {"200": _JSON, **_ERRORS}}},
    "/api/redraw/drafts/{draft_id}/submit": _step("Hand the draft in for approval",
                                                  "draft.edit"),
    "/api/redraw/drafts/{draft_id}/approve": _step("Approve a submitted draft", "draft.approve"),
    "/api/redraw/drafts/{draft_id}/withdraw": _step(
        "Take a submitted or approved draft back for editing", "draft.edit or draft.approve"),
    "/api/redraw/drafts/{draft_id}/publish": _step(
        "Publish an approved draft as the new active generation (one transaction)",
        "draft.publish; the publish gate (every grid in band, contiguous, none empty) too"),
    "/api/redraw/drafts/{draft_id}/export.{fmt}": {"get": {
        "summary": "The draft as a file", "description": "Needs draft.read.",
        "parameters": [_DRAFT_ID, {"name": "fmt", "in": "path", "required": True,
                                   "schema": {"type": "string", "enum": list(EXPORTS)}}],
        "responses": {"200": {"description": "the file", "content": {
            mimetype: {"schema": {"type": "string", "format": "binary"}}
            for mimetype in EXPORTS.values()}}, **_ERRORS}}},
    "/api/redraw/generations/{generation_id}/codes.csv": {"get": {
        "summary": "The code crosswalk (新旧编码对照表) of the publication that made a generation",
        "description": "Needs draft.read. Columns level, old_code, new_code, change.",
        "parameters": [{"name": "generation_id", "in": "path", "required": True,
                        "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "CSV", "content": {"text/csv": {
            "schema": {"type": "string"}}}}, **_ERRORS}}},
}  # fmt: skip
