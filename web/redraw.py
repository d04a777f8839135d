"""The planner's redraw studio: the page at /redraw and its JSON API at /api/redraw.

A draft regroups one parent's units (the grids of the level below the one
redrawn) into grids (:mod:`geogrid.redraw`, stored by :mod:`geogrid.storage.drafts`).
Routes parse, call geogrid and serialise; every change carries the draft's
``version`` and a stale one answers 409 (``DraftConflictError``), so two planners
never overwrite each other. A draft out of the principal's scope answers 404.

==========================================  ==============  ===============================
route (``/api/redraw/drafts`` is ``…``)     action          what
==========================================  ==============  ===============================
``GET  /redraw``                            draft.read      the page (Chinese, ``?lang=en``)
``GET  /api/redraw/parents?level=KEY``      draft.read      parents one may redraw
``GET  …`` (``?level, parent, status``)     draft.read      drafts in scope
``POST …``                                  draft.edit      a new draft
``GET  …/<id>``                             draft.read      units, assignment, metrics …
``POST …/<id>/edit``                        draft.edit      one edit (``op``)
``POST …/<id>/propose``                     draft.edit      an automatic proposal
``POST …/<id>/import``                      draft.edit      a unit → grid CSV
``POST …/<id>/branch``                      draft.edit      a scenario of the draft
``GET  …/<id>/compare?with=W``              draft.read      W: base, draft:N, generation:N
``GET  …/<id>/impact``                      draft.read      the impact on the active one
``POST …/<id>/submit``                      draft.edit      draft → submitted
``POST …/<id>/approve``                     draft.approve   submitted → approved
``POST …/<id>/withdraw``                    draft.read [1]_ back to draft
``POST …/<id>/publish``                     draft.publish   approved → a new generation
``GET  …/<id>/export.FMT``                  draft.read      csv gpkg geojson shp.zip pdf
==========================================  ==============  ===============================

.. [1] the store allows it to the planner (``draft.edit``) or the approver (``draft.approve``).

Speed: a parent's :class:`~geogrid.redraw.units.Units` (geometry, the unit graph)
are built once per (generation, level, parent, survey) and kept in the app (a
bounded cache), and the Plan a request leaves behind is kept with its version, so
a paint stroke costs the op, the metrics of the grids it touched and one save.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    render_template_string,
    request,
    send_file,
    url_for,
)
from flask_wtf.csrf import generate_csrf

from geogrid.errors import InputError, NotFoundError
from geogrid.hierarchy import Hierarchy
from geogrid.redraw.apply import apply_draft
from geogrid.redraw.compare import compare, generation_assignment
from geogrid.redraw.impact import impact
from geogrid.redraw.plan import Move, Plan
from geogrid.redraw.propose import propose
from geogrid.redraw.units import Units, units_of
from geogrid.storage.drafts import STATE_KEYS, DraftConflictError, DraftRecord
from web import params
from web.access import principal, requires, visible_codes
from web.geojson import round_geometry
from web.pages import map_assets, user_box
from web.redraw_texts import redraw_texts
from web.state import hierarchy, now, store
from web.texts import language

blueprint = Blueprint("redraw", __name__)
API = "/api/redraw"
#: Parents' Units kept per app (each holds its geometry and unit graph).
UNITS_CACHE = 24
#: Plans kept per app between requests (one per draft recently edited).
PLAN_CACHE = 64
#: Seconds an automatic proposal may search.
PROPOSE_SECONDS = 5.0
EXPORTS = {"csv": "text/csv", "gpkg": "application/geopackage+sqlite3",
           "geojson": "application/geo+json", "shp.zip": "application/zip",
           "pdf": "application/pdf"}  # fmt: skip
EDIT_OPS = ("move", "new_grid", "merge", "split", "split_line", "lock", "unlock", "exclusive",
            "rename", "undo", "redo", "fix_contiguity", "fix_balance")  # fmt: skip

# --- the page --------------------------------------------------------------------------------

PAGE = """<!doctype html><html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}"><head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t.title }} · {{ generation }}</title>
<link rel="stylesheet" href="{{ leaflet_css }}"><link rel="stylesheet" href="{{ css }}">
</head><body class="redraw" data-ready="false">
<header id="rd-top"><h1>{{ t.title }}</h1>
<label>{{ t.level }} <select id="rd-level">{% for lv in levels %}
<option value="{{ lv.key }}"{% if lv.key == level %} selected{% endif %}>
{{ lv.label }} {{ lv.key }}</option>
{% endfor %}</select></label>
<label>{{ t.parent }} <select id="rd-parent"></select></label>
<label>{{ t.draft }} <select id="rd-draft"></select></label>
<b id="rd-status"></b> <span id="rd-band"></span>
<a href="{{ other }}">{{ t.other_language }}</a>{{ user | safe }}</header>
<div id="rd-main"><div id="rd-maps"><div id="rd-map"></div><div id="rd-map2" hidden></div>
<span id="rd-map2-label"></span></div>
<aside id="rd-side"><div id="rd-message" role="status"></div>
{% if may.edit %}<section id="rd-new-draft"><h3>{{ t.newDraft }}</h3>
<label>{{ t.draftName }} <input id="rd-draft-name" size="16"></label>
<label>{{ t.weight }} <select id="rd-weight"><option value="households">{{ t.weight_households }}
</option><option value="population">{{ t.weight_population }}</option>
<option value="count">{{ t.weight_count }}</option></select></label><br>
<label>{{ t.band }} <input id="rd-band-min" type="number" value="300" min="0"></label> –
<input id="rd-band-max" type="number" value="500" min="0" aria-label="max">
<label>{{ t.numbering }} <select id="rd-numbering">
<option value="spatial">{{ t.numbering_spatial }}</option>
<option value="next">{{ t.numbering_next }}</option></select></label><br>
<button type="button" id="rd-create">{{ t.create }}</button>
<button type="button" id="rd-branch">{{ t.branch }}</button></section>{% endif %}
<section id="rd-tools">
<button type="button" id="rd-brush" aria-pressed="true">{{ t.brush }}</button>
<button type="button" id="rd-hand" aria-pressed="false">{{ t.hand }}</button>
<button type="button" id="rd-undo" class="edit" title="Ctrl+Z">{{ t.undo }}</button>
<button type="button" id="rd-redo" class="edit" title="Ctrl+Y">{{ t.redo }}</button>
<p class="hint">{{ t.hint }}</p></section>
<section id="rd-palette"><h3>{{ t.palette }}</h3>
<p>{{ t.selected }}: <span id="rd-selected"></span></p><ul id="rd-grids"></ul>
<label>{{ t.gridName }} <input id="rd-name" size="12"></label>
<button type="button" id="rd-new">{{ t.newGrid }}</button>
<button type="button" id="rd-rename">{{ t.rename }}</button><br>
<button type="button" id="rd-merge">{{ t.merge }}</button>
<button type="button" id="rd-split">{{ t.split }}</button>
<input id="rd-k" type="number" value="2" min="2" aria-label="{{ t.parts }}"> {{ t.parts }}
<button type="button" id="rd-line">{{ t.splitLine }}</button>
<button type="button" id="rd-lock">{{ t.lock }}</button>
<button type="button" id="rd-exclusive">{{ t.exclusive }}</button></section>
<section><h3>{{ t.stats }}</h3><div id="rd-stats"></div></section>
<section><h3>{{ t.warnings }}</h3><ul id="rd-warnings"></ul><div id="rd-gate"></div>
<button type="button" id="rd-fix-contiguity" class="edit">{{ t.fixContiguity }}</button>
<button type="button" id="rd-fix-balance" class="edit">{{ t.fixBalance }}</button></section>
<section><h3>{{ t.propose }}</h3>
<label><input type="checkbox" id="rd-keep" checked> {{ t.keepCurrent }}</label>
<label>{{ t.seed }} <input id="rd-seed" type="number" value="0" min="0"></label>
<button type="button" id="rd-propose" class="edit">{{ t.propose }}</button>
<div id="rd-kept"></div></section>
<section><h3>{{ t.compare }}</h3><select id="rd-compare-with"></select>
<button type="button" id="rd-compare-go">{{ t.compareGo }}</button>
<button type="button" id="rd-compare-close">{{ t.compareClose }}</button>
<div id="rd-compare-out"></div></section>
<section><h3>{{ t.impact }}</h3><button type="button" id="rd-impact-go">{{ t.impactGo }}</button>
<div id="rd-impact-out"></div></section>
<section><h3>{{ t.workflow }}</h3>
<button type="button" id="rd-submit" hidden>{{ t.submit }}</button>
<button type="button" id="rd-approve" hidden>{{ t.approve }}</button>
<button type="button" id="rd-sendback" hidden>{{ t.sendback }}</button>
<button type="button" id="rd-publish" hidden>{{ t.publish }}</button>
<button type="button" id="rd-withdraw" hidden>{{ t.withdraw }}</button>
<p id="rd-flow"></p></section>
<section><h3>{{ t.files }}</h3><p>{{ t.exports }}: <span id="rd-exports"></span></p>
<label>{{ t.import }} <input type="file" id="rd-import" accept=".csv,text/csv"></label></section>
</aside></div>
<script src="{{ leaflet_js }}"></script>
<script>window.REDRAW = {{ config | tojson }};</script>
<script src="{{ js }}"></script></body></html>"""


@requires("draft.read")
def page():
    """The redraw studio (Chinese first, ``?lang=en``); ``?draft=N`` opens a draft."""
    h = hierarchy()
    levels = _redrawable(h)
    level = request.args.get("level") or (
        h.default_level if h.default_level in levels else next(iter(levels), ""))  # fmt: skip
    other = "en" if language() == "zh" else "zh"
    query = {k: v for k, v in request.args.items() if k != "lang"}
    html = render_template_string(
        PAGE, t=redraw_texts(), lang=language(), level=level, user=user_box(),
        levels=[{"key": k, "label": h.level(k).label or ""} for k in levels],
        generation=store().active_generation().label, may=_may(),
        other=url_for("pages.redraw", **query, lang=None if other == "zh" else "en"),
        config=_page_config(h, level), css=url_for("static", filename="redraw.css"),
        js=url_for("static", filename="redraw.js"),
        leaflet_js=map_assets().leaflet_js, leaflet_css=map_assets().leaflet_css,
    )  # fmt: skip
    return Response(html, mimetype="text/html")


def _may() -> dict[str, bool]:
    who = principal()
    return {"edit": who.may("draft.edit"), "approve": who.may("draft.approve"),
            "publish": who.may("draft.publish")}  # fmt: skip


def _page_config(h: Hierarchy, level: str) -> dict:
    assets = map_assets()
    words = redraw_texts()
    draft = request.args.get("draft", "")
    return {
        "api": API, "texts": words, "lang": language(), "csrfToken": generate_csrf(),
        "may": _may(), "tiles": assets.tiles, "attribution": assets.attribution,
        "view": _first_bounds(h),
        "generations": [{"id": g.id, "label": g.label} for g in store().generations()][-10:],
        "exports": [[fmt, words["review"] if fmt == "pdf" else fmt.upper()] for fmt in EXPORTS],
        "start": {"level": level, "parent": request.args.get("parent"),
                  "draft": int(draft) if draft.isdigit() else None},
    }  # fmt: skip


def _first_bounds(h: Hierarchy) -> list[float]:
    """The principal's grids' bounds (west, south, east, north), else the district's."""
    covered = visible_codes(h)
    for key in h.levels if covered is not None else ():
        frame = h.grids(key)
        mine = frame[frame["code"].isin(covered)]
        if len(mine):
            return [float(v) for v in mine.total_bounds]
    return [float(v) for v in h.grids(h.levels[0]).total_bounds]


# The page is one of the app's pages (endpoint ``pages.redraw``), so a visitor who has
# not signed in is sent to the sign-in page as from the others (web/access.py).
blueprint.record_once(lambda state: state.app.add_url_rule("/redraw", "pages.redraw", page))


# --- parents and drafts ------------------------------------------------------------------------


@blueprint.get(f"{API}/parents")
@requires("draft.read")
def parents():
    """The parents of ``level`` in the principal's scope, with their units and grids."""
    h = hierarchy()
    level = request.args.get("level") or h.default_level
    if level not in _redrawable(h):
        raise InputError(f"query parameter 'level': {level!r} cannot be redrawn; levels: "
                         f"{', '.join(_redrawable(h)) or 'none'}")  # fmt: skip
    return jsonify(level=level, parents=_parents_of(h, level))


def _redrawable(h: Hierarchy) -> list[str]:
    """Levels whose units (the level below) tile them: not the finest, not above a partial one."""
    keys = h.levels
    return [key for depth, key in enumerate(keys[:-1])
            if h.level(keys[depth + 1]).coverage == "full"]  # fmt: skip


def _parents_of(h: Hierarchy, level: str) -> list[dict]:
    depth = h.levels.index(level)
    grids = h.grids(level)
    units = h.grids(h.levels[depth + 1])
    per_grid = units.groupby("parent").size()
    grids = grids.assign(units=grids["code"].map(per_grid).fillna(0).astype(int))
    if depth == 0:
        if principal().scope is not None:
            return []
        return [{"code": "", "name": h.name or "", "grids": len(grids),
                 "units": int(grids["units"].sum())}]  # fmt: skip
    above = h.grids(h.levels[depth - 1])
    covered = visible_codes(h)
    if covered is not None:
        above = above[above["code"].isin(covered)]
    counts = grids.groupby("parent").agg(grids=("code", "size"), units=("units", "sum"))
    return [{"code": code, "name": name or code,
             "grids": int(counts["grids"].get(code, 0)), "units": int(counts["units"].get(code, 0))}
            for code, name in sorted(zip(above["code"], above["name"], strict=True))]  # fmt: skip


@blueprint.get(f"{API}/drafts")
@requires("draft.read")
def list_drafts():
    """Drafts in scope; filters ``level``, ``parent`` ("" is the top level's) and ``status``."""
    found = store().drafts.list(
        level=request.args.get("level") or None, parent=request.args.get("parent"),
        status=request.args.get("status") or None, actor=principal())  # fmt: skip
    active = store().active_generation_id()
    return jsonify(drafts=[_draft_meta(d, active) for d in found])


@blueprint.post(f"{API}/drafts")
@requires("draft.edit")
def create_draft():
    """A new draft: ``{name, level, parent, weight, band: [min, max], numbering}``."""
    body = _body({"name", "level", "parent", "weight", "band", "numbering"})
    h = hierarchy()
    level = _text(body, "level", h.default_level)
    parent = _text(body, "parent", "")
    if level in h.levels and h.levels.index(level) > 0:
        _visible_parent(h, parent)
    weight = _text(body, "weight", "households")
    record = store().drafts.create(
        _text(body, "name", ""), level, parent, weight=weight,
        band=body.get("band", (300, 500)), numbering=_text(body, "numbering", "spatial"),
        actor=principal())  # fmt: skip
    units_for(record).weight_values(weight)  # an unknown weight is named before any edit
    return jsonify(draft=_draft_meta(record)), 201


def _visible_parent(h: Hierarchy, parent: str) -> None:
    """A parent out of scope "does not exist" (404), as one that does not."""
    covered = visible_codes(h)
    if covered is not None and parent not in covered:
        raise NotFoundError(f"grid {parent} does not exist in this generation")


@blueprint.get(f"{API}/drafts/<int:draft_id>")
@requires("draft.read")
def get_draft(draft_id: int):
    """The draft: its meta, units (GeoJSON), assignment, grids, metrics, warnings, gate."""
    record = _record(draft_id)
    units = units_for(record)
    plan = _plan(record, units)
    body = {
        "draft": _draft_meta(record), "assignment": plan.assignment, "grids": _grids(plan),
        "metrics": _metrics(plan), **_warnings(plan),
        "history": _history(plan), "outline": _outline(units),
    }  # fmt: skip
    _keep_plan(record.id, record.version, plan)
    # The units' GeoJSON is made once per parent and spliced in as text.
    text = current_app.json.dumps(body)
    return Response(
        f'{{"units": {_units_json(record, units)}, {text[1:]}', mimetype="application/json"
    )


@blueprint.post(f"{API}/drafts/<int:draft_id>/branch")
@requires("draft.edit")
def branch_draft(draft_id: int):
    """A scenario: a new draft that starts from this one's state."""
    body = _body({"name", "version"})
    record = store().drafts.branch(draft_id, _text(body, "name", ""), actor=principal())
    return jsonify(draft=_draft_meta(record)), 201


# --- editing -----------------------------------------------------------------------------------


@blueprint.post(f"{API}/drafts/<int:draft_id>/edit")
@requires("draft.edit")
def edit_draft(draft_id: int):
    """One edit ``{version, op, …}``; the units that changed, touched grids' metrics, warnings."""
    body = _body({"version", "op", "units", "grid", "grids", "name", "k", "seed", "line",
                  "exclusive"})  # fmt: skip
    op = _text(body, "op", "")
    if op not in EDIT_OPS:
        raise InputError(f"op: {op!r} is not one of {', '.join(EDIT_OPS)}")
    return _change(draft_id, body, lambda plan: EDITS[op](plan, body), op)


def _op_move(plan: Plan, body: dict) -> dict:
    plan.move(_codes(body, "units"), _text(body, "grid"))
    return {}


def _op_new_grid(plan: Plan, body: dict) -> dict:
    units = _codes(body, "units") if body.get("units") is not None else ()
    return {"grid": plan.new_grid(units, name=_text(body, "name", "") or None)}


def _op_merge(plan: Plan, body: dict) -> dict:
    return {"grid": plan.merge(_codes(body, "grids"))}


def _op_split(plan: Plan, body: dict) -> dict:
    return {"parts": plan.split(_text(body, "grid"), _integer(body, "k", 2),
                                seed=_integer(body, "seed", 0))}  # fmt: skip


def _op_split_line(plan: Plan, body: dict) -> dict:
    line = body.get("line")
    if not isinstance(line, list) or not all(isinstance(p, list) and len(p) == 2 for p in line):
        raise InputError("line: a list of [lon, lat] points")
    return {"parts": plan.split_by_line(_text(body, "grid"), [_point(p) for p in line])}


def _op_flag(name: str) -> Callable[[Plan, dict], dict]:
    def flag(plan: Plan, body: dict) -> dict:
        grid = _text(body, "grid")
        if name == "lock":
            plan.lock(grid)
        elif name == "unlock":
            plan.unlock(grid)
        elif name == "exclusive":
            plan.set_exclusive(grid, _boolean(body, "exclusive", True))
        else:
            plan.rename(grid, _text(body, "name"))
        return {"flagged": [grid]}

    return flag


def _op_history(name: str) -> Callable[[Plan, dict], dict]:
    def step(plan: Plan, body: dict) -> dict:
        done = plan.undo() if name == "undo" else plan.redo()
        return {} if done is not None else {"note": _nothing_to(name)}

    return step


def _nothing_to(name: str) -> str:
    zh = {"undo": "没有可撤销的操作", "redo": "没有可重做的操作"}[name]
    return zh if language() == "zh" else f"nothing to {name}"


def _op_fix(name: str) -> Callable[[Plan, dict], dict]:
    def fix(plan: Plan, body: dict) -> dict:
        moves = plan.fix_contiguity() if name == "fix_contiguity" else plan.fix_balance(
            seed=_integer(body, "seed", 0))  # fmt: skip
        return {"fixed": len(moves)}

    return fix


EDITS: dict[str, Callable[[Plan, dict], dict]] = {
    "move": _op_move, "new_grid": _op_new_grid, "merge": _op_merge, "split": _op_split,
    "split_line": _op_split_line, "lock": _op_flag("lock"), "unlock": _op_flag("unlock"),
    "exclusive": _op_flag("exclusive"), "rename": _op_flag("rename"),
    "undo": _op_history("undo"), "redo": _op_history("redo"),
    "fix_contiguity": _op_fix("fix_contiguity"), "fix_balance": _op_fix("fix_balance"),
}  # fmt: skip


@blueprint.post(f"{API}/drafts/<int:draft_id>/propose")
@requires("draft.edit")
def propose_draft(draft_id: int):
    """An automatic proposal ``{version, keep_current, seed}`` applied as one undoable step."""
    body = _body({"version", "keep_current", "seed"})

    def apply(plan: Plan) -> dict:
        proposal = propose(plan.units, weight=plan.weight, band=plan.band,
                           keep_current=_boolean(body, "keep_current", False),
                           seed=_integer(body, "seed", 0), locked=sorted(plan.locked),
                           exclusive=sorted(plan.exclusive), current=plan.assignment,
                           time_limit_s=PROPOSE_SECONDS)  # fmt: skip
        _assign(plan, proposal.assignment, "propose")
        return {"proposal": {"grids": proposal.grids, "in_band": proposal.in_band,
                             "contiguous": proposal.contiguous, "kept_share": proposal.kept_share,
                             "seconds": proposal.seconds, "seed": proposal.seed,
                             "suggested_grids": list(proposal.suggested_grids)}}  # fmt: skip

    return _change(draft_id, body, apply, "propose")


@blueprint.post(f"{API}/drafts/<int:draft_id>/import")
@requires("draft.edit")
def import_csv(draft_id: int):
    """A unit → grid CSV (``unit_code, grid[, grid_name]``) as the body; ``?version=N``."""
    from geogrid.redraw.files import read_assignment_table

    version = params.integer("version", 0, 1, 2**62)
    if not version:
        raise InputError("query parameter 'version' is required: the draft version you read")

    def apply(plan: Plan) -> dict:
        table = read_assignment_table(request.get_data(), plan.units)
        names = {g: n for g, n in zip(table["grid"], table["grid_name"], strict=True) if n}
        keys = _assign(plan, dict(zip(table["unit_code"], table["grid"], strict=True)), "import",
                       drop_empty=False)  # fmt: skip
        for grid, name in names.items():
            plan.rename(keys.get(grid, grid), name)
        return {"imported": len(table)}

    return _change(draft_id, {"version": version}, apply, "import")


def _assign(plan: Plan, wanted: Mapping[str, str], op: str, drop_empty: bool = True) -> dict:
    """Put units into the grids ``wanted`` names, as one undoable step; key renames made.

    A key the plan has keeps its units' moves; any other key becomes a new grid.
    With ``drop_empty``, grids left with no units are merged away.
    """
    groups: dict[str, list[str]] = {}
    for unit, key in wanted.items():
        groups.setdefault(str(key), []).append(str(unit))
    alive, renamed = set(plan.grids), {}
    with plan.one_step():
        for key, units in sorted(groups.items()):
            if key in alive:
                plan.move(units, key)
            else:
                renamed[key] = plan.new_grid(units)
        if drop_empty:
            _drop_empty(plan, set(groups) & alive | set(renamed.values()))
    return renamed


def _drop_empty(plan: Plan, used: set[str]) -> None:
    empty = [g for g in plan.grids if g not in used and not plan.units_of_grid(g)]
    keeper = next((g for g in sorted(used) if g not in plan.locked), None)
    if empty and keeper is not None:
        plan.merge([keeper, *empty])


def _change(draft_id: int, body: Mapping, edit: Callable[[Plan], dict], op: str) -> Response:
    """Load the draft at the version the client read, edit, save; what changed."""
    version = _version(body)
    record = _record(draft_id)
    if record.version != version:
        raise _stale(record, version)
    units = units_for(record)
    plan = _take_plan(record, units)
    before = plan.labels.copy()
    outcome = edit(plan)
    changed = np.flatnonzero(plan.labels != before)
    state = {k: v for k, v in plan.to_state().items() if k in STATE_KEYS}
    moves = [(str(units.codes[u]), before[u] or None, plan.labels[u] or None, op)
             for u in changed]  # fmt: skip
    saved = store().drafts.save(draft_id, state, moves, expected_version=version,
                                actor=principal())  # fmt: skip
    _keep_plan(draft_id, saved, plan)
    touched = _touched(plan, before, changed, outcome.pop("flagged", []))
    return jsonify(
        version=saved, changed={str(units.codes[u]): str(plan.labels[u]) for u in changed},
        grids=_grids(plan), metrics=_metrics(plan, touched), **_warnings(plan),
        history=_history(plan), **outcome,
    )  # fmt: skip


def _stale(record: DraftRecord, version: int) -> DraftConflictError:
    return DraftConflictError(
        f"draft {record.id} was changed by someone else ({record.updated_by}) since you read "
        f"it: it is at version {record.version} now, you had version {version}; reload it and "
        "redo your change")  # fmt: skip


def _touched(plan: Plan, before: np.ndarray, changed: np.ndarray, flagged: list[str]) -> list[str]:
    """Grids whose metrics an edit changed: those units left or joined, or sharing a compound."""
    codes = tuple(str(plan.units.codes[u]) for u in changed)
    move = Move(codes, tuple(str(b) for b in before[changed]), "", "edit")
    grids = set(plan.touched(move)) | set(flagged) | set(plan.labels[changed])
    alive = set(plan.grids)
    return sorted(g for g in grids if g in alive)


# --- compare and impact ------------------------------------------------------------------------


@blueprint.get(f"{API}/drafts/<int:draft_id>/compare")
@requires("draft.read")
def compare_draft(draft_id: int):
    """This draft against ``with``: ``base`` (its base), ``draft:N`` or ``generation:N``."""
    record = _record(draft_id)
    units = units_for(record)
    plan = _plan(record, units)
    other, label = _other(record, units, request.args.get("with", "base"))
    found = compare(other.assignment, plan.assignment, units.weights, weight=plan.weight,
                    metrics_a=_compared(other), metrics_b=_compared(plan))  # fmt: skip
    return jsonify(_finite(_comparison(found, plan, other, label)))


def _other(record: DraftRecord, units: Units, which: str) -> tuple[Plan, str]:
    kind, _, number = which.partition(":")
    if which == "base":
        h = _boundaries(record.base_generation)
        assignment = generation_assignment(h, record.level, record.parent_code or None)
        return Plan(units, assignment, weight=record.weight, band=record.band), which
    if kind == "draft" and number.isdigit():
        other = _record(int(number))
        if (other.level, other.parent_code) != (record.level, record.parent_code):
            raise InputError(f"with: draft {number} redraws another parent; compare drafts "
                             "of the same parent")  # fmt: skip
        return _plan(other, units), f"#{other.id} {other.name}"
    if kind == "generation" and number.isdigit():
        h = store().hierarchy(int(number))
        assignment = generation_assignment(h, record.level, record.parent_code or None,
                                           base=_boundaries(record.base_generation))  # fmt: skip
        plan = Plan(units, assignment, weight=record.weight, band=record.band)
        return plan, f"{store().generation(int(number)).label} #{number}"
    raise InputError(f"with: {which!r} is not base, draft:N or generation:N")


def _compared(plan: Plan) -> dict[str, dict[str, float]]:
    keep = ("pieces", "polsby_popper", "reock", "road_share")
    return {grid: {k: m[k] for k in keep} for grid, m in plan.metrics()["grids"].items()}


def _comparison(found, plan: Plan, other: Plan, label: str) -> dict:
    summary = found.summary()
    grids = found.grids
    weight = plan.weight if plan.weight != "count" else "units"
    return {
        "label": label, "units_moved": summary["moved_units"],
        "weight_moved": summary["moved_weight"], "moved_share": summary["moved_share"],
        "only_there": summary["only_a"], "only_here": summary["only_b"],
        "other_assignment": other.assignment,
        "units": [{"unit": u, "there": a, "here": b, "weight": w}
                  for u, a, b, w in found.units.itertuples(index=False)],
        "grids": [{"grid": r["grid"], "weight_here": r[f"{weight}_b"],
                   "weight_there": r[f"{weight}_a"], "weight_delta": r[f"{weight}_delta"],
                   "pieces_delta": r["pieces_delta"],
                   "polsby_popper_delta": r["polsby_popper_delta"]}
                  for r in grids.to_dict("records")],
        "overlaps": [{"grid": b, "predecessors": [
            {"code": a, "share": s} for a, s in zip(part["a"], part["weight_share"].fillna(
                part["units_share"]), strict=True)]}
            for b, part in found.overlap.groupby("b")],
    }  # fmt: skip


@blueprint.get(f"{API}/drafts/<int:draft_id>/impact")
@requires("draft.read")
def impact_draft(draft_id: int):
    """What publishing the draft would change in the store: people, reports, routes, codes."""
    record = _record(draft_id)
    found = impact(store(), units_for(record), _applied(record), now=now(),
                   generation=record.base_generation)  # fmt: skip
    return jsonify(_finite(_impact_body(found.to_dict(), redraw_texts())))


def _impact_body(found: dict, words: dict) -> dict:
    """The impact as the page shows it: headline figures and tables, with the raw values."""
    totals, reports = found["totals"], found["reports"]
    figures = [
        {"key": k, "label": words[f"impact_{k}"], "value": totals[k]}
        for k in ("units", "households", "population", "buildings")
        if k in totals
    ]
    figures += [
        {"key": f"reports_{k}", "label": words[f"impact_reports_{k}"], "value": reports[k]}
        for k in ("total", "overdue", "in_moved_units")
    ]
    codes = [{"level": level, "kind": kind, "code": code, "new_code": new}
             for level, kinds in found["codes"].items()
             for kind, listed in kinds.items()
             for code, new in (listed.items() if isinstance(listed, dict)
                               else ((c, None) for c in listed))]  # fmt: skip
    tables = [
        _table(words["impactMoves"], found["moves"]),
        _table(words["impactByStatus"], [{"status": k, "count": v}
                                         for k, v in reports["by_status"].items()]),
        _table(words["impactRoutes"], [{**r, "reasons": "; ".join(r["reasons"]),
                                        "checkpoints": len(r["checkpoints"])}
                                       for r in found["routes"]]),
        _table(words["impactHazards"], [{"id": h["id"], "name": h["name"], "codes": ", ".join(
            f"{v['old']}→{v['new']}" for v in h["codes"].values())} for h in found["hazards"]]),
        _table(words["impactUsers"], [{**u, "codes": ", ".join(
            f"{o}→{n or '×'}" for o, n in u["codes"].items())} for u in found["users"]]),
        _table(words["impactCodes"], codes),
    ]  # fmt: skip
    return {"figures": figures, "tables": [t for t in tables if t["rows"]], "impact": found}


def _table(title: str, rows: list[dict]) -> dict:
    return {"title": title, "columns": list(rows[0]) if rows else [], "rows": rows}


# --- review and publishing ---------------------------------------------------------------------


def _step(name: str, action: str):
    @requires(action)
    def step(draft_id: int):
        body = _body({"version"})
        version = _version(body)
        record = getattr(store().drafts, name)(draft_id, actor=principal(),
                                               expected_version=version)  # fmt: skip
        return jsonify(draft=_draft_meta(record), version=record.version)

    step.__name__ = f"{name}_draft"
    step.__doc__ = f"{name.capitalize()} the draft ``{{version}}``."
    return step


blueprint.add_url_rule(f"{API}/drafts/<int:draft_id>/submit",
                       view_func=_step("submit", "draft.edit"), methods=["POST"])  # fmt: skip
blueprint.add_url_rule(f"{API}/drafts/<int:draft_id>/approve",
                       view_func=_step("approve", "draft.approve"), methods=["POST"])  # fmt: skip
blueprint.add_url_rule(f"{API}/drafts/<int:draft_id>/withdraw",
                       view_func=_step("withdraw", "draft.read"), methods=["POST"])  # fmt: skip


@blueprint.post(f"{API}/drafts/<int:draft_id>/publish")
@requires("draft.publish")
def publish_draft(draft_id: int):
    """Publish an approved draft ``{version}`` as the new active generation."""
    version = _version(_body({"version"}))
    record = _record(draft_id)
    if record.version != version:
        raise _stale(record, version)
    done = store().drafts.publish(draft_id, _applied(record), actor=principal())
    return jsonify(
        draft=_draft_meta(done.draft), version=done.draft.version,
        published_generation=done.generation.id, previous=done.previous,
        reports_placed=done.placed, reports_changed=done.changed, reports_moved=done.moved,
        codes=done.codes,
    )  # fmt: skip


def _applied(record: DraftRecord):
    """The draft applied to its base generation (survey, codes allocated, children following)."""
    return apply_draft(_boundaries(record.base_generation), record, store().codes_ever())


# --- files -------------------------------------------------------------------------------------


@blueprint.get(f"{API}/generations/<int:generation_id>/codes.csv")
@requires("draft.read")
def crosswalk(generation_id: int):
    """The code crosswalk (新旧编码对照表) of the publication that made a generation, as CSV."""
    store().generation(generation_id)
    codes = store().drafts.crosswalk(generation_id)
    if codes.empty:
        raise NotFoundError(f"generation {generation_id} was not made by publishing a draft")
    return send_file(io.BytesIO(codes.to_csv(index=False).encode("utf-8-sig")),
                     mimetype="text/csv", as_attachment=True,
                     download_name=f"codes-generation-{generation_id}.csv")  # fmt: skip


@blueprint.get(f"{API}/drafts/<int:draft_id>/export.<fmt>")
@requires("draft.read")
def export_draft(draft_id: int, fmt: str):
    """The draft as CSV, GeoPackage, GeoJSON, zipped Shapefile or a review map (PDF)."""
    from geogrid.redraw import files

    if fmt not in EXPORTS:
        raise NotFoundError(f"export.{fmt}: formats are {', '.join(EXPORTS)}")
    record = _record(draft_id)
    units = units_for(record)
    plan = _plan(record, units)
    names = {g: plan.names.get(g, g) for g in plan.grids}
    name = f"draft-{record.id}.{fmt}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        if fmt == "csv":
            files.write_assignment_csv(plan.assignment, path, names=names)
        elif fmt == "gpkg":
            files.write_geopackage(path, units, plan.assignment, names=names,
                                   changes=_moves_frame(record.id))  # fmt: skip
        elif fmt == "geojson":
            files.write_geojson(path, units, plan.assignment, names=names)
        elif fmt == "shp.zip":
            files.write_shapefile_zip(path, units, plan.assignment, names=names)
        else:
            files.write_review_pdf(_boundaries(record.base_generation), _applied(record),
                                   record.level, path, title=record.name,
                                   as_of=now().date())  # fmt: skip
        data = path.read_bytes()
    return send_file(io.BytesIO(data), mimetype=EXPORTS[fmt], as_attachment=True,
                     download_name=name)  # fmt: skip


def _moves_frame(draft_id: int) -> pd.DataFrame | None:
    moves = store().drafts.moves(draft_id, actor=principal())
    if not moves:
        return None
    return pd.DataFrame([{"at": m.at.isoformat(), "principal": m.principal,
                          "unit_code": m.unit_code, "from_grid": m.from_grid,
                          "to_grid": m.to_grid, "operation": m.operation}
                         for m in moves])  # fmt: skip


# --- the units, the plans and their caches ------------------------------------------------------

_lock = threading.Lock()


def _cache(name: str) -> OrderedDict:
    app = current_app._get_current_object()
    with _lock:
        return app.extensions.setdefault(f"geogrid.redraw.{name}", OrderedDict())


def _cached(name: str, key: Any, size: int, make: Callable[[], Any]) -> Any:
    """A value from a bounded per-app cache (least recently used goes first)."""
    cache = _cache(name)
    with _lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    value = make()  # outside the lock: another request may make it too, the first wins
    with _lock:
        cache.setdefault(key, value)
        cache.move_to_end(key)
        while len(cache) > size:
            cache.popitem(last=False)
        return cache[key]


def _boundaries(generation_id: int) -> Hierarchy:
    """A generation's boundaries with its roads (units measure boundaries along roads)."""

    def make() -> Hierarchy:
        h = store().hierarchy(generation_id)
        roads = store().roads(generation_id)
        frames = {key: h.grids(key) for key in h.levels}
        return Hierarchy([h.level(k) for k in h.levels], frames, name=h.name, roads=roads)

    return _cached("boundaries", generation_id, 4, make)


def units_for(record: DraftRecord) -> Units:
    """The draft's units, built once per (generation, level, parent, survey) and kept."""
    return _cached("units", _units_key(record), UNITS_CACHE, lambda: units_of(
        _boundaries(record.base_generation), record.level, record.parent_code or None,
        survey=record.survey_frame()))  # fmt: skip


def _units_key(record: DraftRecord) -> tuple:
    # A draft's survey never changes after it is made: its digest is worked out once.
    digest = _cached("surveys", record.id, 1024, lambda: _digest(record.survey))
    return (record.base_generation, record.level, record.parent_code, digest)


def _digest(survey: dict | None) -> str:
    if survey is None:
        return ""
    text = json.dumps(survey, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _units_json(record: DraftRecord, units: Units) -> str:
    """The units as a GeoJSON FeatureCollection (text, made once per parent and survey)."""
    return _cached("units_json", _units_key(record), UNITS_CACHE, lambda: current_app.json.dumps(
        {"type": "FeatureCollection", "features": _unit_features(units)}))  # fmt: skip


def _unit_features(units: Units) -> list[dict]:
    shapes = round_geometry(units.geometry)
    points = shapely.get_coordinates(shapely.point_on_surface(units.geometry)).round(6)
    weights = units.weights.to_dict("records")
    compound = units.compound if units.compound is not None else [None] * len(units)
    return [{"type": "Feature", "id": str(code), "geometry": shapely.geometry.mapping(shape),
             "properties": {"code": str(code), "name": units.names.get(str(code)) or None,
                            "current": str(current), "compound": comp,
                            "point": point.tolist(), **_finite(w)}}
            for code, shape, point, w, current, comp in zip(units.codes, shapes, points, weights,
                                                            units.current, compound, strict=True)
            ]  # fmt: skip


def _outline(units: Units) -> dict | None:
    shape = units.parent_geometry
    if shape is None:
        return None
    return {"type": "Feature", "geometry": shapely.geometry.mapping(round_geometry(shape)),
            "properties": {"code": units.parent}}  # fmt: skip


def _plan(record: DraftRecord, units: Units) -> Plan:
    """The draft's Plan at its stored version (a copy a later request may not change)."""
    return Plan.from_state(units, record.state())


def _take_plan(record: DraftRecord, units: Units) -> Plan:
    """The Plan to edit: the one kept at this version (taken out while it is edited), or anew."""
    cache = _cache("plans")
    with _lock:
        kept = cache.pop(record.id, None)
    if kept is not None and kept[0] == record.version and kept[1].units is units:
        return kept[1]
    return _plan(record, units)


def _keep_plan(draft_id: int, version: int, plan: Plan) -> None:
    cache = _cache("plans")
    with _lock:
        cache[draft_id] = (version, plan)
        cache.move_to_end(draft_id)
        while len(cache) > PLAN_CACHE:
            cache.popitem(last=False)


# --- serialising -------------------------------------------------------------------------------


def _record(draft_id: int) -> DraftRecord:
    return store().drafts.get(draft_id, actor=principal())


#: What a draft's meta holds of its record (its state goes separately, or not at all).
META_FIELDS = ("id", "name", "level", "base_generation", "status", "weight", "numbering",
               "version", "branched_from", "created_by", "created_at", "updated_by",
               "updated_at", "submitted_by", "submitted_at", "approved_by", "approved_at",
               "published_by", "published_at", "published_generation")  # fmt: skip


def _draft_meta(record: DraftRecord, active: int | None = None) -> dict:
    """A draft's fields for JSON, without its state; ``stale``: its base is not active now."""
    values = {name: getattr(record, name) for name in META_FIELDS}
    values = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items()}
    active = store().active_generation_id() if active is None else active
    keys = store().hierarchy(record.base_generation).levels
    depth = keys.index(record.level) if record.level in keys else -1
    values.update(parent=record.parent_code, band=[record.band_min, record.band_max],
                  survey=record.survey is not None, units=len(record.assignment),
                  stale=record.status != "published" and record.base_generation != active,
                  unit_level=keys[depth + 1] if 0 <= depth < len(keys) - 1 else None)  # fmt: skip
    return values


def _grids(plan: Plan) -> list[dict]:
    return [{"key": g, "name": plan.names.get(g, g), "locked": g in plan.locked,
             "exclusive": g in plan.exclusive} for g in plan.grids]  # fmt: skip


def _metrics(plan: Plan, grids: Iterable[str] | None = None) -> dict:
    found = plan.metrics(grids)
    found["summary"]["total"] = float(plan.units.weight_values(plan.weight).sum())
    return _finite(found)


#: The warnings that block publishing, as :func:`geogrid.redraw.metrics.gate` picks them.
GATE_KINDS = frozenset({"band", "pieces", "empty", "unassigned", "outside"})


def _warnings(plan: Plan) -> dict:
    """The plan's warnings and its publish gate, worked out once (the gate is some of them)."""
    found = _finite(plan.warnings())
    return {"warnings": found, "gate": [w["message"] for w in found if w["kind"] in GATE_KINDS]}


def _history(plan: Plan) -> dict:
    return {"can_undo": plan.cursor > 0, "can_redo": plan.cursor < len(plan.history),
            "steps": len(plan.history)}  # fmt: skip


def _finite(value: Any) -> Any:
    """JSON-ready: NaN and infinities (e.g. an empty grid's compactness) become null."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# --- parsing -----------------------------------------------------------------------------------


def _body(known: set[str]) -> dict:
    body = params.json_body()
    if not isinstance(body, dict):
        raise InputError("body: a JSON object")
    unknown = sorted(set(body) - known)
    if unknown:
        raise InputError(f"body: unknown field {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(known))}")  # fmt: skip
    return body


def _version(body: Mapping) -> int:
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError("version: the draft version you read (a whole number); every change "
                         "carries it")  # fmt: skip
    return version


def _text(body: Mapping, name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if value is None:
        raise InputError(f"{name}: required")
    if not isinstance(value, str):
        raise InputError(f"{name}: must be text, got {type(value).__name__}")
    return value


def _codes(body: Mapping, name: str) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{name}: a list of codes")
    return value


def _integer(body: Mapping, name: str, default: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
        raise InputError(f"{name}: a whole number from 0, got {value!r}")
    return value


def _boolean(body: Mapping, name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise InputError(f"{name}: true or false, got {value!r}")
    return value


def _point(pair: list) -> tuple[float, float]:
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair):
        raise InputError("line: each point is [lon, lat] numbers")
    return float(pair[0]), float(pair[1])


# --- the served demo -----------------------------------------------------------------------------


def create_demo_draft(app: Flask) -> DraftRecord | None:
    """The ``DEMO_DRAFT`` setting's draft, on a store set up just now; None if none is made.

    ``DEMO_DRAFT`` is ``PARENT:SURVEY_CSV[:NAME]``: a redraw of the grids inside
    ``PARENT`` (the level below the parent's), with the units' figures from the survey.
    """
    from geogrid.redraw.survey import read_survey

    setting = app.config.get("DEMO_DRAFT") or ""
    if not setting or not app.extensions.get("geogrid.new_store"):
        return None
    parent, _, rest = setting.partition(":")
    survey, _, name = rest.partition(":")
    with app.app_context():
        h = hierarchy()
        level_above, _ = h.find(parent)
        level = h.levels[h.levels.index(level_above) + 1]
        frame = read_survey(survey) if survey else None
        return store().drafts.create(
            name or f"{h.find(parent)[1]['name'].iloc[0]} {h.level(level).label}调整",
            level, parent, survey=frame, actor="setup")  # fmt: skip
