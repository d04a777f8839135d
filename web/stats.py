"""Assessment statistics (考核): the page at /stats and its API at /api/stats.

Routes parse, call :func:`geogrid.stats.assessment` and serialise; the
definitions of the columns are in :mod:`geogrid.stats`. A principal with a scope
sees the units inside it (and, by person, the reports inside it).

==========================================  ==========  ====================================
route                                       action      what
==========================================  ==========  ====================================
``GET /stats``                              stats.read  the page (Chinese, ``?lang=en``)
``GET /api/stats/assessment``               stats.read  the table and the weekly trend, JSON
``GET /api/stats/assessment.xlsx``          stats.read  the table as an Excel workbook
``GET /api/stats/assessment.csv``           stats.read  the table as CSV (UTF-8 with BOM)
==========================================  ==========  ====================================

Query parameters: ``level`` (a level key; default the boundaries' default level),
``by`` (grid, worker, department), ``since`` and ``until`` (local dates or ISO
times; ``until`` as a date includes its day; default the 30 days ending today),
``patrol`` (false skips patrol compliance). At most :data:`MAX_DAYS` days at once.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, render_template_string, request, send_file, url_for

from geogrid.errors import InputError
from geogrid.stats import BY, COLUMNS, LABELS, RATES, assessment, records, to_csv, to_xlsx, weekly
from web import params
from web.access import principal, requires
from web.pages import user_box
from web.state import hierarchy, now, store, zone
from web.texts import language

blueprint = Blueprint("stats", __name__)
API = "/api/stats"
#: The longest period one request counts (a year and a leap day).
MAX_DAYS = 367
DEFAULT_DAYS = 30

TEXTS = {
    "zh": {
        "title": "考核统计", "level": "层级", "by": "统计对象", "by_grid": "按区域",
        "by_worker": "按网格员", "by_department": "按职能部门", "since": "起", "until": "止",
        "show": "查询", "excel": "导出 Excel", "csv": "导出 CSV", "loading": "正在统计…",
        "rates": "结案率与按期办结率", "trend": "每周受理与结案", "received": "受理",
        "closed": "结案", "closure_rate": "结案率", "on_time_rate": "按期办结率",
        "other_language": "English", "none": "—", "rows": "共 {n} 行",
        "definitions": "口径：结案率＝期内受理且期末前结案÷期内受理；按期办结率＝期内结案中未超期"
        "且未升级者÷期内结案；当前超期为此刻未结案且已过期限；一日三巡达标率＝达标网格日÷网格日"
        "（只计已结束的日子）。",
    },
    "en": {
        "title": "Assessment statistics", "level": "Level", "by": "Rows",
        "by_grid": "Areas", "by_worker": "Grid workers", "by_department": "Departments",
        "since": "From", "until": "To", "show": "Show", "excel": "Excel", "csv": "CSV",
        "loading": "Counting…", "rates": "Closure and on-time rates",
        "trend": "Received and closed per week", "received": "Received", "closed": "Closed",
        "closure_rate": "Closure rate", "on_time_rate": "On-time rate",
        "other_language": "中文", "none": "—", "rows": "{n} rows",
        "definitions": "Closure rate: received in the period and closed by its end ÷ received; "
        "on-time rate: closed in the period by the deadline and never escalated ÷ closed; "
        "overdue: open now past the deadline; patrol compliance: grid-days meeting the "
        "rule ÷ grid-days (ended days only).",
    },
}  # fmt: skip

PAGE = """<!doctype html><html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}"><head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t.title }}</title><link rel="stylesheet" href="{{ css }}"></head>
<body class="stats" data-ready="false">
<header id="st-top"><h1>{{ t.title }}</h1>
<form id="st-form">
<label>{{ t.level }} <select id="st-level" name="level">{% for lv in levels %}
<option value="{{ lv.key }}"{% if lv.key == level %} selected{% endif %}>{{ lv.label }}</option>
{% endfor %}</select></label>
<label>{{ t.by }} <select id="st-by" name="by">{% for b in by %}
<option value="{{ b }}">{{ t['by_' + b] }}</option>{% endfor %}</select></label>
<label>{{ t.since }} <input type="date" id="st-since" name="since" value="{{ since }}"></label>
<label>{{ t.until }} <input type="date" id="st-until" name="until" value="{{ until }}"></label>
<button type="submit" id="st-show">{{ t.show }}</button>
<a id="st-xlsx" href="#">{{ t.excel }}</a> <a id="st-csv" href="#">{{ t.csv }}</a>
</form><a href="{{ other }}">{{ t.other_language }}</a>{{ user | safe }}</header>
<main><p id="st-message" role="status"></p>
<section id="st-charts"><figure><figcaption>{{ t.rates }}</figcaption>
<div class="st-chart"><canvas id="st-rates"></canvas></div></figure>
<figure><figcaption>{{ t.trend }}</figcaption>
<div class="st-chart"><canvas id="st-trend"></canvas></div></figure></section>
<div id="st-table-box"><table id="st-table"><thead></thead><tbody></tbody></table></div>
<p class="st-note">{{ t.definitions }}</p></main>
<script src="{{ chart_js }}"></script>
<script>window.STATS = {{ config | tojson }};</script>
<script src="{{ js }}"></script></body></html>"""


@requires("stats.read")
def page():
    """The statistics page (Chinese first, ``?lang=en``): a table and two charts."""
    h = hierarchy()
    level = request.args.get("level") or h.default_level
    first, last = _default_days()
    other = "en" if language() == "zh" else "zh"
    query = {k: v for k, v in request.args.items() if k != "lang"}
    words = TEXTS[language()]
    html = render_template_string(
        PAGE, t=words, lang=language(), level=level, by=BY, user=user_box(),
        levels=[{"key": k, "label": h.level(k).label or k} for k in h.levels],
        since=first.isoformat(), until=last.isoformat(),
        other=url_for("pages.stats", **query, lang=None if other == "zh" else "en"),
        css=url_for("static", filename="stats.css"), js=url_for("static", filename="stats.js"),
        chart_js=url_for("static", filename="vendor/chartjs/chart.umd.min.js"),
        config={"api": API, "texts": words, "lang": language(), "rates": list(RATES),
                "labels": {c: LABELS[c][0 if language() == "zh" else 1] for c in COLUMNS}},
    )  # fmt: skip
    return Response(html, mimetype="text/html")


# The page is one of the app's pages (endpoint ``pages.stats``), so a visitor who has not
# signed in is sent to the sign-in page, as from the others (web/access.py).
blueprint.record_once(lambda state: state.app.add_url_rule("/stats", "pages.stats", page))


@blueprint.get(f"{API}/assessment")
@requires("stats.read")
def assessment_json():
    """The assessment table, its period and the weekly trend of received and closed."""
    table, asked = _table()
    trend = weekly(store(), asked["since"], asked["until"], scope=principal().scope)
    return jsonify(
        level=asked["level"], by=asked["by"], since=asked["since"].isoformat(),
        until=asked["until"].isoformat(), now=now().isoformat(), columns=list(COLUMNS),
        labels={c: list(LABELS[c]) for c in COLUMNS}, rows=records(table),
        trend=records(trend),
    )  # fmt: skip


@blueprint.get(f"{API}/assessment.xlsx")
@requires("stats.read")
def assessment_xlsx():
    """The assessment table as an Excel workbook (headings in Chinese and English)."""
    table, asked = _table()
    about = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asked.items()}
    return send_file(io.BytesIO(to_xlsx(table, about)), as_attachment=True,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     download_name=_file_name(asked, "xlsx"))  # fmt: skip


@blueprint.get(f"{API}/assessment.csv")
@requires("stats.read")
def assessment_csv():
    """The assessment table as CSV: UTF-8 with a byte-order mark, for Excel."""
    table, asked = _table()
    return send_file(io.BytesIO(to_csv(table)), mimetype="text/csv", as_attachment=True,
                     download_name=_file_name(asked, "csv"))  # fmt: skip


def _table():
    """The table the query parameters ask for, and what they asked (checked)."""
    h = hierarchy()
    by = request.args.get("by") or "grid"
    if by not in BY:
        raise InputError(f"query parameter 'by' must be one of {', '.join(BY)}")
    level = request.args.get("level") or (h.default_level if by == "grid" else None)
    if level is not None and level not in h.levels:
        raise InputError(f"query parameter 'level' must be one of {', '.join(h.levels)}")
    since, until = _period()
    patrol = params.flag("patrol") if "patrol" in request.args else True
    table = assessment(store(), level, since, until, now(), by=by, scope=principal().scope,
                       patrol=patrol)  # fmt: skip
    return table, {"level": level, "by": by, "since": since, "until": until}


def _period() -> tuple[datetime, datetime]:
    """``since``…``until`` (a date alone: ``until`` includes its whole day); default: the
    :data:`DEFAULT_DAYS` local days ending today."""
    first, last = _default_days()
    since = params.time("since") or datetime.combine(first, datetime.min.time(), zone())
    until = params.time("until", whole_day=True) or datetime.combine(
        last + timedelta(days=1), datetime.min.time(), zone())  # fmt: skip
    if until <= since:
        raise InputError(f"query parameter 'until' ({until.date()}) must be after 'since' "
                         f"({since.date()})")  # fmt: skip
    if until - since > timedelta(days=MAX_DAYS):
        raise InputError(f"since/until: at most {MAX_DAYS} days at once")
    return since, until


def _default_days():
    today = now().astimezone(zone()).date()
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def _file_name(asked: dict, suffix: str) -> str:
    last = (asked["until"] - timedelta(microseconds=1)).astimezone(zone()).date()
    first = asked["since"].astimezone(zone()).date()
    return f"assessment-{asked['level'] or asked['by']}-{first}-{last}.{suffix}"


def _stats_query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "description": description, "schema": schema}


_STATS_PARAMETERS = [
    _stats_query("level", "a level key of the boundaries (default: their default level)",
                 {"type": "string"}),
    _stats_query("by", "rows per unit of the level, per grid worker or per department",
                 {"type": "string", "enum": ["grid", "worker", "department"]}),
    _stats_query("since", "first day (a local date; default: 30 days before until)",
                 {"type": "string", "format": "date"}),
    _stats_query("until", "last day, included whole (default: today)",
                 {"type": "string", "format": "date"}),
    _stats_query("patrol", "count patrol compliance (一日三巡) from the stored tracks",
                 {"type": "boolean", "default": True}),
]  # fmt: skip
_STATS_ERRORS = {
    "400": {"description": "bad input; the message names the field",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    "401": {"description": "not signed in"},
    "403": {"description": "the account's role may not read the statistics (stats.read)"},
}  # fmt: skip

#: OpenAPI 3.0 path items, merged into /api/openapi.json.
OPENAPI_PATHS: dict[str, Any] = {
    f"/api/stats/assessment{suffix}": {"get": {
        "summary": f"Assessment statistics (考核) {what}",
        "description": "Received, closed, closure and on-time rates, overdue, escalated, "
                       "returned, hours to close, satisfaction and patrol compliance of a "
                       "period; definitions in the README. Needs stats.read.",
        "parameters": _STATS_PARAMETERS,
        "responses": {"200": {"description": what}, **_STATS_ERRORS}}}
    for suffix, what in (("", "as JSON"), (".xlsx", "as an Excel workbook"),
                         (".csv", "as CSV (UTF-8 with a byte-order mark)"))
}  # fmt: skip
