"""The work pages: the queue (待办) at /work and a report's page at /work/reports/<id>.

Commanders, departments and grid workers work the closed loop here, each in
their scope. The pages are shells: web/static/work/work.js fills them from the
JSON API (``/api/queue``, ``/api/reports/<id>``, its ``/transitions``,
``/assignees`` and ``/media``, ``/api/inbox``), so what a reader may see and do
is decided by the API alone. The page carries only what the script needs to
start: the words (:mod:`web.work_texts`), status and source names, the grids
in scope for the filter, the CSRF token every change sends, the server's clock.

=================================  ============  =========================================
route                              action        what
=================================  ============  =========================================
``GET /work``                      report.read   the queue (Chinese, ``?lang=en``)
``GET /work/reports/<id>``         report.read   a report: map, details, photos, timeline,
                                                 the steps the reader may take (404 page
                                                 when missing or out of scope)
=================================  ============  =========================================

Both are endpoints of ``pages`` (``pages.work``, ``pages.work_report``), so a
visitor who has not signed in is sent to the sign-in page as from the others.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, Response, render_template_string, request, url_for
from flask_wtf.csrf import generate_csrf

from geogrid.access.roles import steps_allowed
from geogrid.errors import NotFoundError
from geogrid.hierarchy import Hierarchy
from geogrid.reports import Report
from geogrid.workflow import SOURCES, STATUS_LABELS, STATUSES
from web.access import principal, requires, visible_codes
from web.pages import map_assets, user_box
from web.state import hierarchy, now, store, zone
from web.texts import language
from web.work_texts import work_texts

blueprint = Blueprint("workpages", __name__)

PAGE = """<!doctype html><html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}"><head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
{% if leaflet_css %}<link rel="stylesheet" href="{{ leaflet_css }}">{% endif %}
<link rel="stylesheet" href="{{ css }}"></head>
<body class="work work-{{ kind }}" data-ready="false">
<header id="wk-top"><h1><a href="{{ queue }}">{{ t.title }}</a>{% if heading %}
 · {{ heading }}{% endif %}</h1>
<nav><a href="{{ map }}">{{ t.map }}</a> <a href="{{ other }}">{{ t.other_language }}</a></nav>
<div id="wk-inbox"><button type="button" id="wk-bell" aria-expanded="false"
 aria-label="{{ t.inbox }}">{{ t.inbox }} <b id="wk-bell-count">0</b></button>
<div id="wk-inbox-list" hidden></div></div>{{ user | safe }}</header>
<div id="wk-message" role="status"></div>
<main id="wk-main">{{ body | safe }}</main>
{% if leaflet_js %}<script src="{{ leaflet_js }}"></script>{% endif %}
<script>window.WORK = {{ config | tojson }};</script>
<script src="{{ js }}"></script></body></html>"""

QUEUE = """<section id="wk-filters"><label><input type="checkbox" id="wk-all">
 {{ t.allOpen }}</label>
<label>{{ t.status }} <select id="wk-status"><option value="">{{ t.any }}</option>
{% for s in statuses %}<option value="{{ s.key }}">{{ s.name }}</option>{% endfor %}</select>
</label>
<label>{{ t.category }} <select id="wk-category"><option value="">{{ t.any }}</option>
</select></label>
<label>{{ t.grid }} <input id="wk-grid" list="wk-grids" size="14"></label>
<datalist id="wk-grids">{% for g in grids %}<option value="{{ g.code }}">{{ g.name }}
</option>{% endfor %}</datalist>
<label>{{ t.source }} <select id="wk-source"><option value="">{{ t.any }}</option>
{% for s in sources %}<option value="{{ s.key }}">{{ s.name }}</option>{% endfor %}</select>
</label>
<label>{{ t.since }} <input type="date" id="wk-since"></label>
<label>{{ t.until }} <input type="date" id="wk-until"></label>
<label>{{ t.warning }} <select id="wk-warning"><option value="">{{ t.any }}</option>
<option value="overdue">{{ t.overdueOnly }}</option>
<option value="nearly">{{ t.nearlyOnly }}</option></select></label>
<button type="button" id="wk-reset">{{ t.reset }}</button></section>
<section id="wk-bulk"><span id="wk-selected"></span>
<button type="button" data-bulk="registered" hidden>{{ t.bulkRegister }}</button>
<span id="wk-bulk-dispatch" hidden><select id="wk-bulk-assignee"></select>
<input type="datetime-local" id="wk-bulk-deadline" aria-label="{{ t.deadlineInput }}">
<button type="button" data-bulk="dispatched">{{ t.bulkDispatch }}</button></span>
<button type="button" data-bulk="verified" hidden>{{ t.bulkVerify }}</button>
<button type="button" data-bulk="closed" hidden>{{ t.bulkClose }}</button>
<span id="wk-bulk-hint" class="hint"></span></section>
<table id="wk-queue"><thead><tr>
<th><input type="checkbox" id="wk-check-all" aria-label="{{ t.selectAll }}"></th>
<th>{{ t.col_ticket }}</th><th>{{ t.col_category }}</th><th>{{ t.col_grid }}</th>
<th>{{ t.col_status }}</th><th>{{ t.col_assignee }}</th><th>{{ t.col_deadline }}</th>
<th>{{ t.col_received }}</th><th>{{ t.col_result }}</th></tr></thead>
<tbody></tbody></table>
<nav id="wk-pager"><button type="button" id="wk-prev">{{ t.prev }}</button>
<span id="wk-page"></span><button type="button" id="wk-next">{{ t.next }}</button></nav>"""

REPORT = """<div id="wk-report"><section id="wk-map"></section>
<section id="wk-details"><h2 id="wk-heading"></h2><dl id="wk-facts"></dl>
<h3>{{ t.contact }}</h3><div id="wk-contact">—</div>
<h3>{{ t.photos }}</h3><div id="wk-photos"></div></section>
<section id="wk-actions"><h3>{{ t.actions }}</h3><div id="wk-action-forms"></div></section>
<section id="wk-history"><h3>{{ t.history }}</h3><ol id="wk-timeline"></ol></section></div>
<div id="wk-lightbox" hidden><img alt=""><button type="button">{{ t.close }}</button></div>"""

NOT_FOUND = """<p class="wk-not-found">{{ t.notFound }}</p>
<p><a href="{{ queue }}">← {{ t.backToQueue }}</a></p>"""


@requires("report.read")
def queue_page():
    """The work queue: what needs the reader's action first, overdue and nearly overdue on top."""
    words = work_texts()
    body = render_template_string(QUEUE, t=words, statuses=_statuses(), sources=_sources(),
                                  grids=_filter_grids(hierarchy()))  # fmt: skip
    return _page("queue", words["title"], body, _config())


@requires("report.read")
def report_page(report_id: int):
    """A report's page; 404 (a page) when it is missing or out of the reader's scope."""
    words = work_texts()
    try:
        report = _visible_report(report_id)
    except NotFoundError:
        body = render_template_string(NOT_FOUND, t=words, queue=_url("pages.work"))
        return _page("missing", words["reportTitle"], body, _config(), status=404)
    heading = f"{words['reportTitle']} #{report.id}"
    body = render_template_string(REPORT, t=words)
    return _page("report", heading, body, _config(report=_report_config(report)), leaflet=True)


# Endpoints of ``pages``: a visitor who has not signed in is sent to the sign-in page.
blueprint.record_once(lambda s: s.app.add_url_rule("/work", "pages.work", queue_page))
blueprint.record_once(lambda s: s.app.add_url_rule(
    "/work/reports/<int:report_id>", "pages.work_report", report_page))  # fmt: skip


def _visible_report(report_id: int) -> Report:
    report = store().get_report(report_id)
    if not principal().covers(report.codes.values()):
        raise NotFoundError(f"report {report_id} does not exist")  # out of scope: as missing
    return report


def _page(kind: str, heading: str, body: str, config: dict, *, status: int = 200,
          leaflet: bool = False) -> Response:  # fmt: skip
    words, assets = work_texts(), map_assets()
    other = "en" if language() == "zh" else "zh"
    args = {**request.view_args, **{k: v for k, v in request.args.items() if k != "lang"}}
    html = render_template_string(
        PAGE, t=words, lang=language(), kind=kind, body=body, config=config, user=user_box(),
        title=f"{heading} · {words['title']}" if kind != "queue" else words["title"],
        heading=heading if kind != "queue" else "", queue=_url("pages.work"),
        map=_url("pages.commander"), other=url_for(request.endpoint, **args,
                                                    lang=None if other == "zh" else "en"),
        css=url_for("static", filename="work/work.css"),
        js=url_for("static", filename="work/work.js"),
        leaflet_js=assets.leaflet_js if leaflet else None,
        leaflet_css=assets.leaflet_css if leaflet else None,
    )  # fmt: skip
    return Response(html, status=status, mimetype="text/html")


def _url(endpoint: str, **values) -> str:
    """A page's address in the reader's language."""
    return url_for(endpoint, **values, lang="en" if language() == "en" else None)


def _statuses() -> list[dict]:
    pick = 0 if language() == "zh" else 1
    return [{"key": s, "name": STATUS_LABELS[s][pick]} for s in STATUSES]


def _sources() -> list[dict]:
    pick = 0 if language() == "zh" else 1
    return [{"key": k, "name": names[pick]} for k, names in SOURCES.items()]


def _filter_grids(h: Hierarchy) -> list[dict]:
    """The grids in scope from the top level down to the default one (the filter's list)."""
    covered = visible_codes(h)
    depth = h.levels.index(h.default_level)
    found = []
    for key in h.levels[: depth + 1]:
        frame = h.grids(key)
        if covered is not None:
            frame = frame[frame["code"].isin(covered)]
        found += [{"code": c, "name": n or c, "level": key}
                  for c, n in zip(frame["code"], frame["name"], strict=True)]  # fmt: skip
    return found


def _config(report: dict | None = None) -> dict:
    who, assets = principal(), map_assets()
    return {
        "api": "/api", "lang": language(), "texts": work_texts(),
        # Sent as X-CSRFToken with every change the page makes (a session's changes need it).
        "csrfToken": generate_csrf(),
        "me": {"name": who.name, "role": who.role, "may": sorted(who.actions)},
        "steps": {s: list(steps_allowed(who.role, s)) for s in STATUSES},
        "statuses": _statuses(), "sources": _sources(),
        "gridNames": {g["code"]: g["name"] for g in _filter_grids(hierarchy())},
        "levels": list(hierarchy().levels),
        # The server's clock and the district's zone: remaining times and typed deadlines.
        "now": round(now().timestamp() * 1000), "zone": zone().key,
        "queuePage": _url("pages.work"), "reportPage": url_for("pages.work") + "/reports/",
        "langQuery": "?lang=en" if language() == "en" else "",
        "tiles": assets.tiles, "attribution": assets.attribution, "report": report,
    }  # fmt: skip


def _report_config(report: Report) -> dict:
    """What the report page needs beyond the report's JSON: grid names and the map's grid."""
    h = hierarchy()
    codes = [c for c in report.codes.values() if c] + list(_escalation_codes(report))
    rule = store().categories.deadline_for(report.category)
    return {
        "id": report.id,
        "levels": [{"key": k, "label": h.level(k).label or k} for k in h.levels],
        "names": _names(h, codes),
        "mapGrid": report.codes.get(h.default_level) or _finest(h, report),
        "categoryRule": {"amount": rule.amount, "unit": rule.unit} if rule else None,
    }  # fmt: skip


def _escalation_codes(report: Report) -> Iterable[str]:
    """Grid codes named by the report's history (escalations hand it from one to another)."""
    for entry in report.history:
        for key in ("from", "to"):
            value = entry.data.get(key) if isinstance(entry.data, dict) else None
            if isinstance(value, str):
                yield value


def _names(h: Hierarchy, codes: Iterable[str]) -> dict[str, str]:
    """Names of the grids the report lies in or passed through (its own chain: no leak)."""
    names = {}
    for code in set(codes):
        try:
            names[code] = h.find(code)[1].iloc[0]["name"] or code
        except NotFoundError:  # a grid of an older generation: its code stands
            names[code] = code
    return names


def _finest(h: Hierarchy, report: Report) -> str | None:
    return next((report.codes.get(k) for k in reversed(h.levels) if report.codes.get(k)), None)
