"""The grid worker's phone page (网格员手机端) at /m/, and patrol check-ins at /api/patrol/checkins.

The page is an installable web app (a manifest and a service worker, both under
/m/ so that the worker's scope is the page's) that works offline: every action
(a new report, its photos, a step of the loop, a check-in, a recorded track) is
first written to the phone's IndexedDB under an id made on the phone, shown as
待发送, and sent when the network is there. The server never stores one twice:
reports by ``external_id``, steps by ``client_id``, photos by their digest,
check-ins by their id, tracks by their digest.

==========================================  ==============  ===============================
route                                       action          what
==========================================  ==============  ===============================
``GET  /m/`` (``/m`` redirects)             report.read     the page (Chinese, ``?lang=en``)
``GET  /m/manifest.webmanifest``            public          the web app manifest
``GET  /m/sw.js``                           public          the service worker
``POST /api/patrol/checkins``               track.create    a check-in ``{id, lon, lat, crs, at,
                                                            note}``; the same again: 200
``GET  /api/patrol/checkins``               track.read      ``since``, ``until`` (required),
                                                            ``worker``: one's own, or (with
                                                            track.read_all) every one in scope
==========================================  ==============  ===============================

The page's shell is small on purpose (no framework, no map): its first load is
measured in tests/web/test_phone_browser.py against the issue's 300 KB.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template_string,
    request,
    url_for,
)
from flask_wtf.csrf import generate_csrf

from geogrid.access import ROLE_LABELS
from geogrid.errors import InputError
from geogrid.moments import parse_moment
from geogrid.workflow import STATUSES
from web import params
from web.access import principal, requires, visible_codes
from web.patrol import own_worker
from web.phone_texts import phone_texts
from web.state import store, zone
from web.texts import language

blueprint = Blueprint("phone", __name__)
STATIC = Path(__file__).parent / "static" / "phone"
#: The files of the app shell the service worker keeps (with the page itself).
SHELL = ("phone.js", "phone.css", "icon-192.png", "icon-512.png")
CHECKIN_FIELDS = {"id", "lon", "lat", "crs", "at", "note"}
#: Photos a report or a feedback may carry from the phone.
MAX_PHOTOS = 6
#: The longest side of a photo after the phone shrinks it, in pixels.
PHOTO_MAX_SIDE = 1600
#: The service worker's own policy: it fetches this site only (a worker's CSP is its own).
WORKER_POLICY = "default-src 'self'; frame-ancestors 'none'"

PAGE = """<!doctype html><html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}"><head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="theme-color" content="#1f6f5c"><title>{{ t.title }}</title>
<link rel="manifest" href="{{ manifest }}"><link rel="icon" href="{{ icon }}">
<link rel="apple-touch-icon" href="{{ icon }}"><link rel="stylesheet" href="{{ css }}">
</head><body class="phone" data-ready="false" data-online="true">
<header><h1>{{ t.title }}</h1><span id="ph-user">{{ user }}</span>
<a id="ph-lang" href="{{ other }}">{{ t.otherLanguage }}</a>
<form method="post" action="{{ logout }}"><input type="hidden" name="csrf_token" value="{{ csrf }}">
<button type="submit" id="ph-sign-out">{{ t.signOut }}</button></form></header>
<p id="ph-net" role="status" hidden>{{ t.offline }}</p>
<p id="ph-message" role="status"></p>
<main>
<section id="ph-tasks" data-tab="tasks"><div class="bar"><h2>{{ t.tasks }}</h2>
<button type="button" id="ph-refresh">{{ t.refresh }}</button></div>
<p id="ph-tasks-note" class="note"></p><ul id="ph-task-list" class="list"></ul>
<article id="ph-task" hidden></article></section>
<section id="ph-report" data-tab="report" hidden><h2>{{ t.report }}</h2>
<form id="ph-report-form"><label>{{ t.category }}
<select id="ph-category" required><option value="">{{ t.pickCategory }}</option></select></label>
<label>{{ t.description }}<textarea id="ph-description" rows="3" maxlength="2000"></textarea>
</label><p>{{ t.position }}: <span id="ph-position">—</span>
<button type="button" id="ph-locate">{{ t.locate }}</button></p>
<label class="photo">{{ t.addPhotos }}<input type="file" id="ph-report-photos"
accept="image/*" capture="environment" multiple></label><ul id="ph-report-thumbs" class="thumbs">
</ul><button type="submit" id="ph-report-send">{{ t.send }}</button></form></section>
<section id="ph-patrol" data-tab="patrol" hidden><h2>{{ t.patrol }}</h2>
<label>{{ t.checkinNote }}<input id="ph-checkin-note" maxlength="500"></label>
<button type="button" id="ph-checkin">{{ t.checkin }}</button>
<p><button type="button" id="ph-track">{{ t.trackStart }}</button></p>
<p id="ph-track-status" role="status"></p><ul id="ph-checkins" class="list"></ul></section>
<section id="ph-outbox" data-tab="outbox" hidden><div class="bar"><h2>{{ t.outbox }}</h2>
<button type="button" id="ph-send-now">{{ t.sendNow }}</button>
<button type="button" id="ph-clear">{{ t.removeDone }}</button></div>
<ul id="ph-outbox-list" class="list"></ul></section>
</main>
<nav>{% for tab in ("tasks", "report", "patrol", "outbox") %}
<button type="button" data-show="{{ tab }}"{% if loop.first %} aria-current="page"{% endif %}>
{{ t[tab] }}{% if tab == "outbox" %} <b id="ph-pending"></b>{% endif %}</button>{% endfor %}
</nav>
<script type="application/json" id="ph-config">{{ config | tojson }}</script>
<script src="{{ js }}"></script></body></html>"""


# --- the page --------------------------------------------------------------------------------


@blueprint.get("/m/")
@requires("report.read")
def page():
    """The phone page (Chinese first, ``?lang=en``); visitors are sent to sign in."""
    who = principal()
    if not who.signed_in:  # an operator may let visitors read reports; this page is a worker's
        return redirect(url_for("accounts.login_page", next=request.full_path.rstrip("?"),
                                lang=request.args.get("lang") or None))  # fmt: skip
    other = "en" if language() == "zh" else "zh"
    html = render_template_string(
        PAGE, t=phone_texts(), lang=language(), user=who.display_name or who.name,
        other=url_for("phone.page", lang=None if other == "zh" else "en"),
        manifest=url_for("phone.manifest"), css=_static("phone.css"), js=_static("phone.js"),
        icon=_static("icon-192.png"), config=_page_config(), logout=url_for("accounts.logout"),
        csrf=generate_csrf(),
    )  # fmt: skip
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache, private"  # the worker keeps the offline copy
    return response


def _page_config() -> dict[str, Any]:
    who = principal()
    zh, en = ROLE_LABELS.get(who.role or "", (who.role or "", who.role or ""))
    words = phone_texts()
    return {
        "lang": language(), "texts": words, "csrfToken": generate_csrf(),
        "user": {"name": who.name, "display": who.display_name or who.name,
                 "role": zh if language() == "zh" else en},
        "statuses": {s: words[f"status_{s}"] for s in STATUSES},
        "api": {"queue": url_for("work.queue", mine=1, limit=100),
                "categories": url_for("api.categories"), "reports": url_for("api.create_reports"),
                "checkins": url_for("phone.create_checkin"),
                "tracks": url_for("patrol.tracks", store=1)},
        "login": url_for("accounts.login_page", next=url_for("phone.page")),
        "sw": url_for("phone.service_worker"), "scope": url_for("phone.page"),
        "maxPhotos": MAX_PHOTOS, "photoMaxSide": PHOTO_MAX_SIDE, "zone": zone().key,
    }  # fmt: skip


def _static(name: str) -> str:
    """A shell file's URL, with its digest so that a new release is fetched anew."""
    return url_for("static", filename=f"phone/{name}", v=_shell_digests()[name])


@cache
def _shell_digests() -> dict[str, str]:
    return {name: hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12] for name in SHELL}


# --- installable: the manifest and the service worker ----------------------------------------


@blueprint.get("/m/manifest.webmanifest")
@requires("public")
def manifest():
    """The web app manifest: name, start page, standalone display, icons."""
    body = {
        "name": "网格员", "short_name": "网格员", "lang": "zh-CN",
        "description": "网格员手机端：我的任务、上报、反馈、巡查签到与轨迹（可离线）",
        "start_url": url_for("phone.page"), "scope": url_for("phone.page"),
        "display": "standalone", "background_color": "#ffffff", "theme_color": "#1f6f5c",
        "icons": [{"src": _static(f"icon-{n}.png"), "sizes": f"{n}x{n}", "type": "image/png",
                   "purpose": "any maskable"} for n in (192, 512)],
    }  # fmt: skip
    response = Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@blueprint.get("/m/sw.js")
@requires("public")
def service_worker():
    """The service worker, from /m/ so that it controls /m/; its shell list carries digests.

    A change to any shell file changes this script's bytes, so browsers install
    the new worker, which fetches the new shell and drops the old one.
    """
    config = {
        "page": url_for("phone.page"),
        "pages": [url_for("phone.page")],  # the English page is kept on its first visit
        "files": [url_for("phone.manifest")] + [_static(name) for name in SHELL],
        "data": [url_for("api.categories"), url_for("work.queue")],
        "reports": url_for("api.get_report", report_id=0)[:-1],
    }  # fmt: skip
    config["version"] = hashlib.sha256(json.dumps(config).encode()).hexdigest()[:12]
    script = (
        (STATIC / "sw.js").read_text(encoding="utf-8").replace("__CONFIG__", json.dumps(config))
    )
    response = Response(script, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = WORKER_POLICY
    return response


# --- patrol check-ins --------------------------------------------------------------------------


@blueprint.post("/api/patrol/checkins")
@requires("track.create")
def create_checkin():
    """Store a check-in ``{id, lon, lat, crs, at, note}``: 201 new, 200 the same sent again.

    ``id`` is made on the phone; the same id with other content answers 409.
    """
    body = _checkin_body(params.json_body())
    record, created = store().checkins.add(body.pop("id"), **body, actor=principal())
    return jsonify(record.to_dict()), 201 if created else 200


def _checkin_body(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InputError("body: must be a JSON object {id, lon, lat, crs, at, note}")
    unknown = sorted(set(data) - CHECKIN_FIELDS)
    if unknown:
        raise InputError(f"body: unknown field {', '.join(unknown)}")
    missing = [name for name in ("id", "at") if data.get(name) is None]
    if missing:
        raise InputError(f"{missing[0]}: required")
    return {"id": data["id"], "lon": data.get("lon"), "lat": data.get("lat"),
            "crs": data.get("crs") or "WGS-84", "note": data.get("note") or "",
            "at": parse_moment(data["at"], "at", zone())}  # fmt: skip


@blueprint.get("/api/patrol/checkins")
@requires("track.read")
def checkins():
    """Check-ins between ``since`` and ``until``: one's own, or every one in scope (read_all)."""
    since, until = params.time("since"), params.time("until", whole_day=True)
    if since is None or until is None:
        raise InputError("query parameters 'since' and 'until' are required")
    if until <= since:
        raise InputError(f"until ({request.args['until']}) must be after since "
                         f"({request.args['since']})")  # fmt: skip
    longest = current_app.config["PATROL_MAX_DAYS"]
    if until - since > timedelta(days=longest):
        raise InputError(f"since/until: at most {longest} days at once")
    worker = own_worker(principal(), request.args.get("worker") or None)
    codes = visible_codes() if principal().may("track.read_all") else None
    found = store().checkins.list(since, until, worker, codes=codes)
    return jsonify(checkins=[c.to_dict() for c in found])
