"""The residents' page (居民随手拍): report a matter, follow it by its ticket, rate the handling.

A resident needs no account: everything here declares the ``ticket`` action,
which anonymous visitors have by default. Every new report gets a ticket number
(``7K3M-Q9XD-2PHT``: 12 symbols, too many to guess), and the ticket is all a
resident needs to follow the report and rate it once it is closed.

==============================================  ======  =====================================
route                                           action  what
==============================================  ======  =====================================
``GET  /r`` (``?ticket=…``, ``?lang=en``)       ticket  the page (Chinese first)
``POST /api/public/reports``                    ticket  report a matter → its ticket
``GET  /api/public/tickets/<ticket>``           ticket  status and public timeline
``POST /api/public/tickets/<ticket>/rating``    ticket  满意度 1–5, once, when closed
``POST /api/public/tickets/<ticket>/media``     ticket  a photo of the matter
==============================================  ======  =====================================

The public view of a report (:func:`public_view`) holds public facts only: the
status, the category, the times of each step, the deadline, and the notes meant
for the reporter (the reason of a 不予受理, the closing note). Never who handled
it, where it was dispatched, or anyone's contact details.

Visitors who have not signed in are rate-limited per client address:
``RESIDENT_RATE_LIMIT`` (reports, ratings), ``TICKET_LOOKUP_RATE_LIMIT`` (look-ups)
and ``RESIDENT_PHOTO_RATE_LIMIT`` (photos).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    render_template_string,
    request,
    url_for,
)
from flask_wtf.csrf import generate_csrf

from geogrid.access import Contact, check_contact
from geogrid.categories import CategoryTree, UnknownCategoryError
from geogrid.errors import InputError
from geogrid.reports import MAX_DESCRIPTION, NewReport, Report, check_report, check_ticket
from geogrid.storage.loop import check_rating
from geogrid.workflow import CLOSED, NOTE_REQUIRED, STATUS_LABELS, STATUSES
from web import media, params
from web.access import limited, principal, requires
from web.pages import map_assets
from web.state import hierarchy, now, store, zone
from web.texts import language

blueprint = Blueprint("resident", __name__)

#: Coordinate systems a resident's phone or map sends (the page's map sends WGS-84).
PUBLIC_CRS = ("WGS-84", "GCJ-02", "BD-09")
REPORT_FIELDS = ("category", "lon", "lat", "crs", "description", "contact", "client_id")
CONTACT_MEMBERS = ("name", "phone")
#: A resend of a report carries the same id, made by the page (a UUID).
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
#: Residents' client ids live apart from other channels' external ids, so that no
#: client id can name (and so reveal) a report another channel stored.
EXTERNAL_PREFIX = "resident-web:"
PHONE = re.compile(r"\+?[0-9][0-9 ()-]{2,29}")
MAX_PHOTOS = 6


def _signed_in() -> bool:
    return principal().signed_in


def _limit(setting: str):
    """The rate limit a setting holds, for visitors who have not signed in."""
    return limited(lambda: current_app.config[setting], exempt_when=_signed_in)


# --- the API -----------------------------------------------------------------------------------


@blueprint.post("/api/public/reports")
@requires("ticket")
@_limit("RESIDENT_RATE_LIMIT")
def create_report():
    """Store a resident's report; 201 with its ticket (200 for a resend with its ``client_id``)."""
    report = new_resident_report(params.json_body(), store().categories)
    (result,) = store().add_reports([report], actor=principal())
    stored = store().get_report(result.id)
    body = {"ticket": stored.ticket, "status": stored.status,
            "received_at": _iso(stored.received_at), "deadline": _iso(stored.deadline),
            "url": url_for("resident.page", ticket=stored.ticket)}  # fmt: skip
    return jsonify(body), 201 if result.created else 200


@blueprint.get("/api/public/tickets/<ticket>")
@requires("ticket")
@_limit("TICKET_LOOKUP_RATE_LIMIT")
def ticket_status(ticket: str):
    """The public view of the report with this ticket number."""
    report = store().report_by_ticket(check_ticket(ticket))
    return jsonify(public_view(report, store().categories, now()))


@blueprint.post("/api/public/tickets/<ticket>/rating")
@requires("ticket")
@_limit("RESIDENT_RATE_LIMIT")
def rate(ticket: str):
    """满意度: ``{"score": 1–5, "note": "…"}``, once, after the report is closed."""
    score, note = rating(params.json_body())
    report = store().rate(check_ticket(ticket), score, note, actor=principal())
    return jsonify(public_view(report, store().categories, now()))


@blueprint.post("/api/public/tickets/<ticket>/media")
@requires("ticket")
@_limit("RESIDENT_PHOTO_RATE_LIMIT")
def add_photo(ticket: str):
    """A photo of the matter (multipart field ``photo``), checked and stored by :mod:`web.media`.

    201 with the photo; 200 if the same photo was there already.
    """
    photo = request.files.get("photo")
    if photo is None or not photo.filename:
        raise InputError("photo: attach an image file as the multipart/form-data field 'photo'")
    added = media.add_ticket_photo(check_ticket(ticket), photo)
    return jsonify(added), 201 if added.get("created", True) else 200


# --- parsing -----------------------------------------------------------------------------------


def new_resident_report(data: Any, categories: CategoryTree) -> NewReport:
    """A resident's report from the page's JSON; every problem names its field.

    Examples
    --------
    >>> tree = CategoryTree.default()
    >>> body = {"category": "city.rubbish", "lon": 120.6, "lat": 28.0, "description": "垃圾",
    ...         "contact": {"phone": "138 0000 1234"}, "client_id": "3f6c1d2e-0b7a"}
    >>> report = new_resident_report(body, tree)
    >>> report.source, report.external_id, report.contact.phone
    ('resident', 'resident-web:3f6c1d2e-0b7a', '138 0000 1234')
    >>> new_resident_report({**body, "lat": 95}, tree)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: lat: 95 is out of range (-90 to 90)
    """
    if not isinstance(data, Mapping):
        raise InputError("body: a report must be a JSON object")
    unknown = sorted(set(data) - set(REPORT_FIELDS))
    if unknown:
        raise InputError(f"body: unknown field {', '.join(unknown)}; "
                         f"known: {', '.join(REPORT_FIELDS)}")  # fmt: skip
    missing = [f for f in ("category", "lon", "lat", "description") if data.get(f) is None]
    if missing:
        raise InputError(f"{missing[0]}: required")
    report = NewReport(_text(data, "category"), data["lon"], data["lat"], crs=_crs(data),
                       source="resident", description=_description(data),
                       contact=contact(data.get("contact")))  # fmt: skip
    _check(report, categories)
    return replace(report, external_id=external_id(data.get("client_id")))


def _text(data: Mapping, name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise InputError(f"{name}: must be text, got {type(value).__name__}")
    return value


def _crs(data: Mapping) -> str:
    crs = data.get("crs") or "WGS-84"
    if crs not in PUBLIC_CRS:
        raise InputError(f"crs: {str(crs)[:40]!r} is not one of {', '.join(PUBLIC_CRS)}")
    return crs


def _description(data: Mapping) -> str:
    text = _text(data, "description").strip()
    if not text or len(text) > MAX_DESCRIPTION:
        raise InputError(f"description: describe the matter in 1 to {MAX_DESCRIPTION} characters")
    return text


def _check(report: NewReport, categories: CategoryTree) -> None:
    """The library's checks (category, numbers, ranges), naming the field as the page calls it."""
    try:
        check_report(report, categories)
    except UnknownCategoryError as exc:
        raise InputError(f"category: {exc}") from None


def contact(data: Any) -> Contact | None:
    """A resident's optional name and phone number, kept in the report's contact fields.

    Examples
    --------
    >>> contact({"name": " 张三 ", "phone": ""})
    Contact(name='张三', phone=None, email=None, device=None, account=None)
    >>> contact({"phone": "call me"})
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: contact.phone: 'call me' is not a phone number (digits, and + - ( ) or spaces)
    """  # noqa: E501
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise InputError("contact: must be an object with name and phone")
    unknown = sorted(set(data) - set(CONTACT_MEMBERS))
    if unknown:
        raise InputError(f"contact: unknown field {', '.join(unknown)}; known: name, phone")
    fields = {}
    for name, value in data.items():
        if value is not None and not isinstance(value, str):
            raise InputError(f"contact.{name}: must be text, got {type(value).__name__}")
        if value and value.strip():
            fields[name] = value.strip()
    phone = fields.get("phone")
    if phone is not None and not PHONE.fullmatch(phone):
        raise InputError(f"contact.phone: {phone[:40]!r} is not a phone number "
                         "(digits, and + - ( ) or spaces)")  # fmt: skip
    return check_contact(Contact(**fields), "contact") or None


def external_id(client_id: Any) -> str | None:
    """The stored external id of a report the page sent with ``client_id``; None without one.

    Examples
    --------
    >>> external_id("0b8e7f52-5d7c-4b9e-9a51-6f0d6b2c1e3a")
    'resident-web:0b8e7f52-5d7c-4b9e-9a51-6f0d6b2c1e3a'
    """
    if client_id is None:
        return None
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        raise InputError("client_id: 8 to 64 letters, digits, '-' or '_' (a UUID the page makes)")
    return EXTERNAL_PREFIX + client_id


def rating(data: Any) -> tuple[int, str]:
    """The score (1–5) and note of a 满意度 rating, checked as the store checks them.

    Examples
    --------
    >>> rating({"score": 5, "note": "很快就处理好了"})
    (5, '很快就处理好了')
    >>> rating({"score": "five"})
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: score: must be a whole number from 1 (very dissatisfied) to 5 (very satisfied), got 'five'
    """  # noqa: E501
    if not isinstance(data, Mapping):
        raise InputError("body: a rating must be a JSON object {score, note}")
    unknown = sorted(set(data) - {"score", "note"})
    if unknown:
        raise InputError(f"body: unknown field {', '.join(unknown)}; known: score, note")
    if "score" not in data:
        raise InputError("score: required, a whole number from 1 to 5")
    return check_rating(data["score"], data.get("note"))


# --- the public view ---------------------------------------------------------------------------


def public_view(report: Report, categories: CategoryTree, at: datetime) -> dict:
    """What anyone with the ticket may see of a report: public facts, no people.

    ``at`` is now, for ``overdue``. A rating can be given once the report is
    closed and until it has one.

    Examples
    --------
    >>> from datetime import UTC
    >>> from geogrid.reports import HistoryEntry
    >>> t = datetime(2026, 12, 1, 2, tzinfo=UTC)
    >>> steps = (HistoryEntry(t, "李四", "received", None, "received"),
    ...          HistoryEntry(t, "王五", "transition", "received", "closed", "重复上报"))
    >>> r = Report(1, None, "resident", "city.rubbish", "", t, t, 120.0, 28.0, "WGS-84", 120.0,
    ...            28.0, 1, {}, "inside", 0.0, "closed", None, None, None, t, steps,
    ...            ticket="7K3M-Q9XD-2PHT", closed_at=t)
    >>> view = public_view(r, CategoryTree.default(), t)
    >>> view["outcome"], view["may_rate"], view["timeline"][-1]["note"]
    ('rejected', True, '重复上报')
    >>> "李四" in str(view) or "王五" in str(view)
    False
    """
    category = categories.get(report.category) if report.category in categories else None
    return {
        "ticket": report.ticket, "status": report.status,
        "status_label": _labels(report.status), "outcome": _outcome(report.history),
        "category": {"code": report.category, "zh": category.zh if category else report.category,
                     "en": category.en if category else report.category},
        "received_at": _iso(report.received_at), "deadline": _iso(report.deadline),
        "closed_at": _iso(report.closed_at),
        "overdue": report.status != CLOSED and bool(report.deadline and at > report.deadline),
        "timeline": timeline(report.history),
        "rating": None if report.rating is None else {
            "score": report.rating, "note": report.rating_note or "",
            "rated_at": _iso(report.rated_at)},
        "may_rate": report.status == CLOSED and report.rating is None,
    }  # fmt: skip


def timeline(history) -> list[dict]:
    """The public steps of a report's history: when it reached each status.

    Only the notes meant for the reporter go with them (why it was not accepted,
    the closing note); who took each step and any other note stay inside.
    """
    steps = []
    for entry in history:
        if entry.action in ("received", "transition") and entry.to_status in STATUS_LABELS:
            step = {"at": _iso(entry.at), "status": entry.to_status,
                    "label": _labels(entry.to_status)}  # fmt: skip
            if entry.to_status == CLOSED:
                step["outcome"] = _closing(entry)
                if entry.note:
                    step["note"] = entry.note
            steps.append(step)
        elif entry.action == "escalated":  # 超期升级: handed up; to whom stays inside
            steps.append({"at": _iso(entry.at), "status": entry.to_status, "event": "escalated"})
    return steps


def _closing(entry) -> str:
    """ "rejected" for 不予受理 (closed before dispatch), else "closed"."""
    return "rejected" if (entry.from_status, entry.to_status) in NOTE_REQUIRED else "closed"


def _outcome(history) -> str | None:
    closing = [e for e in history if e.action == "transition" and e.to_status == CLOSED]
    return _closing(closing[-1]) if closing else None


def _labels(status: str) -> dict[str, str]:
    zh, en = STATUS_LABELS[status]
    return {"zh": zh, "en": en}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# --- the OpenAPI description (merged into /api/openapi.json by web/openapi.py) ----------------

_ERROR = {
    "description": "bad input (400, the message names the field), unknown ticket (404), "
    "not closed or rated already (409), too many requests from this address (429)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_TICKET = {
    "name": "ticket",
    "in": "path",
    "required": True,
    "description": "e.g. 7K3M-Q9XD-2PHT (case, spaces and dashes as typed)",
    "schema": {"type": "string"},
}
_VIEW = {
    "description": "the public view: status, category, times, deadline, timeline with the "
    "notes meant for the reporter, rating",
    "content": {"application/json": {"schema": {"type": "object"}}},
}
_TEXT = {"type": "string"}


def _json_body(properties: dict, required: list[str]) -> dict:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }
    return {"required": True, "content": {"application/json": {"schema": schema}}}


OPENAPI_PATHS: dict[str, Any] = {
    "/api/public/reports": {"post": {
        "summary": "A resident reports a matter; the answer holds its ticket number",
        "description": "Needs ticket (anonymous by default); RESIDENT_RATE_LIMIT per address.",
        "requestBody": _json_body({
            "category": _TEXT, "lon": {"type": "number"}, "lat": {"type": "number"},
            "crs": {"type": "string", "enum": list(PUBLIC_CRS), "default": "WGS-84"},
            "description": {**_TEXT, "maxLength": MAX_DESCRIPTION},
            "contact": {"type": "object", "additionalProperties": False,
                        "properties": {"name": _TEXT, "phone": _TEXT}},
            "client_id": {**_TEXT, "pattern": CLIENT_ID.pattern,
                          "description": "made by the page: a resend answers 200, same ticket"},
        }, ["category", "lon", "lat", "description"]),
        "responses": {"201": {"description": "{ticket, status, received_at, deadline, url}"},
                      "200": {"description": "a resend: the same ticket"}, "400": _ERROR}}},
    "/api/public/tickets/{ticket}": {"get": {
        "summary": "The public view of a report by its ticket number",
        "description": "Needs ticket; TICKET_LOOKUP_RATE_LIMIT per address.",
        "parameters": [_TICKET], "responses": {"200": _VIEW, "404": _ERROR}}},
    "/api/public/tickets/{ticket}/rating": {"post": {
        "summary": "满意度: rate the handling of a closed report, once",
        "description": "Needs ticket; RESIDENT_RATE_LIMIT per address.",
        "parameters": [_TICKET],
        "requestBody": _json_body({"score": {"type": "integer", "minimum": 1, "maximum": 5},
                                   "note": {**_TEXT, "maxLength": 500}}, ["score"]),
        "responses": {"200": _VIEW, "409": _ERROR}}},
    "/api/public/tickets/{ticket}/media": {"post": {
        "summary": "A photo of the matter (multipart field 'photo')",
        "description": "Needs ticket; RESIDENT_PHOTO_RATE_LIMIT per address; at most six.",
        "parameters": [_TICKET],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "properties": {"photo": {"type": "string", "format": "binary"}}}}}},
        "responses": {"201": {"description": "the photo"}, "200": {"description": "had it"},
                      "409": _ERROR, "413": _ERROR}}},
}  # fmt: skip


# --- the page ----------------------------------------------------------------------------------

TEXTS = {
    "zh": {
        "title": "居民随手拍", "subtitle": "反映问题 · 查询办理进度 · 评价",
        "tabReport": "我要反映", "tabLookup": "查询进度", "other_language": "English",
        "place": "位置", "placeHint": "在地图上点选事发地点，或使用手机定位",
        "useMyPosition": "使用我的位置", "locating": "正在定位…",
        "noGeolocation": "无法获取位置，请在地图上点选",
        "placeChosen": "已选位置", "category": "问题类别", "pickCategory": "— 请选择 —",
        "other": "其他", "description": "问题描述",
        "descriptionHint": "请说明发生了什么、具体在哪里（如楼号、单元）",
        "photos": "照片（可选，最多 {n} 张）", "removePhoto": "移除",
        "tooManyPhotos": "最多 {n} 张照片", "contact": "联系方式（可选）",
        "contactHint": "仅供工作人员回访，不会公开", "name": "姓名", "phone": "电话",
        "submit": "提交", "sending": "正在提交…",
        "needPlace": "请先在地图上选择位置", "needCategory": "请选择问题类别",
        "needDescription": "请填写问题描述",
        "received": "已受理", "yourTicket": "您的受理编号",
        "keepTicket": "请保存此编号，凭编号查询办理进度、评价处理结果",
        "copy": "复制编号", "copied": "已复制", "followLink": "查询进度",
        "uploading": "正在上传照片 {i}/{n}…", "uploaded": "{n} 张照片已上传",
        "photoFailed": "照片 {name} 未能上传：{reason}", "another": "再反映一件",
        "ticket": "受理编号", "ticketHint": "例如 7K3M-Q9XD-2PHT", "lookup": "查询",
        "status": "当前状态", "receivedAt": "受理时间", "deadline": "承诺办结时间",
        "closedAt": "办结时间", "overdue": "已超期", "timeline": "办理过程",
        "escalated": "超期，已提级督办", "rejected": "不予受理", "closedNote": "办结说明",
        "rejectedNote": "不予受理原因", "rate": "满意度评价", "rateHint": "请为本次办理打分",
        "stars": "{n} 星", "ratingNote": "意见建议（可选）", "sendRating": "提交评价",
        "thanks": "感谢您的评价", "yourRating": "您的评价", "notFound": "没有这个编号的事件",
        "failed": "出错了：{reason}", "offline": "网络不通，请稍后再试",
        "score_1": "很不满意", "score_2": "不满意", "score_3": "一般", "score_4": "满意",
        "score_5": "很满意",
    },
    "en": {
        "title": "Report a matter", "subtitle": "report · follow its progress · rate the handling",
        "tabReport": "Report", "tabLookup": "Follow a ticket", "other_language": "中文",
        "place": "Place", "placeHint": "Tap the map where it is, or use your phone's position",
        "useMyPosition": "Use my position", "locating": "Finding your position…",
        "noGeolocation": "Your position is not available; tap the map instead",
        "placeChosen": "Chosen place", "category": "Category", "pickCategory": "— choose —",
        "other": "other", "description": "Description",
        "descriptionHint": "What happened, and exactly where (building, entrance)",
        "photos": "Photos (optional, at most {n})", "removePhoto": "Remove",
        "tooManyPhotos": "At most {n} photos", "contact": "Contact (optional)",
        "contactHint": "Only for the staff to call you back; never made public",
        "name": "Name", "phone": "Phone", "submit": "Send", "sending": "Sending…",
        "needPlace": "Choose the place on the map first", "needCategory": "Choose a category",
        "needDescription": "Describe the matter",
        "received": "Received", "yourTicket": "Your ticket number",
        "keepTicket": "Keep this number: with it you can follow the matter and rate its handling",
        "copy": "Copy", "copied": "Copied", "followLink": "Follow it",
        "uploading": "Uploading photo {i} of {n}…", "uploaded": "{n} photo(s) uploaded",
        "photoFailed": "Photo {name} was not uploaded: {reason}", "another": "Report another",
        "ticket": "Ticket number", "ticketHint": "e.g. 7K3M-Q9XD-2PHT", "lookup": "Look up",
        "status": "Status", "receivedAt": "Received", "deadline": "Due", "closedAt": "Closed",
        "overdue": "overdue", "timeline": "Progress", "escalated": "overdue: handed up",
        "rejected": "Not accepted", "closedNote": "Closing note",
        "rejectedNote": "Why it was not accepted", "rate": "Rate the handling",
        "rateHint": "How satisfied are you?", "stars": "{n} stars",
        "ratingNote": "Comments (optional)", "sendRating": "Send rating",
        "thanks": "Thank you for your rating", "yourRating": "Your rating",
        "notFound": "No matter has this ticket number", "failed": "Something went wrong: {reason}",
        "offline": "No network; try again later",
        "score_1": "very dissatisfied", "score_2": "dissatisfied", "score_3": "neutral",
        "score_4": "satisfied", "score_5": "very satisfied",
    },
}  # fmt: skip

PAGE = """<!doctype html><html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}"><head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t.title }}</title>
<link rel="stylesheet" href="{{ leaflet_css }}"><link rel="stylesheet" href="{{ css }}">
</head><body class="resident" data-ready="false">
<header id="rs-top"><h1>{{ t.title }}</h1><a href="{{ other }}">{{ t.other_language }}</a>
<p>{{ t.subtitle }}</p>
<nav id="rs-tabs" role="tablist">
<button type="button" role="tab" id="rs-tab-report" aria-controls="rs-report"
 aria-selected="true">{{ t.tabReport }}</button>
<button type="button" role="tab" id="rs-tab-lookup" aria-controls="rs-lookup"
 aria-selected="false">{{ t.tabLookup }}</button></nav></header>
<main>
<section id="rs-report" role="tabpanel" aria-labelledby="rs-tab-report">
<form id="rs-form" novalidate>
<fieldset><legend>{{ t.place }}</legend><p class="hint">{{ t.placeHint }}</p>
<div id="rs-map"></div>
<button type="button" id="rs-locate">{{ t.useMyPosition }}</button>
<output id="rs-place"></output></fieldset>
<label for="rs-category">{{ t.category }}</label><select id="rs-category" required></select>
<label for="rs-description">{{ t.description }}</label>
<textarea id="rs-description" rows="4" maxlength="{{ max_description }}" required
 placeholder="{{ t.descriptionHint }}"></textarea>
<label for="rs-photos">{{ photos_label }}</label>
<input type="file" id="rs-photos" accept="image/*" multiple>
<ul id="rs-previews"></ul>
<fieldset><legend>{{ t.contact }}</legend><p class="hint">{{ t.contactHint }}</p>
<label for="rs-name">{{ t.name }}</label><input id="rs-name" autocomplete="name" maxlength="200">
<label for="rs-phone">{{ t.phone }}</label>
<input id="rs-phone" type="tel" autocomplete="tel" maxlength="30"></fieldset>
<div id="rs-report-message" class="message" role="alert"></div>
<button type="submit" id="rs-submit" class="primary">{{ t.submit }}</button>
</form>
<div id="rs-done" hidden><h2>{{ t.received }}</h2><p>{{ t.yourTicket }}</p>
<p><output id="rs-ticket"></output></p>
<p><button type="button" id="rs-copy">{{ t.copy }}</button>
<a id="rs-follow" href="">{{ t.followLink }}</a></p>
<p class="hint">{{ t.keepTicket }}</p><p id="rs-upload" role="status"></p>
<button type="button" id="rs-another">{{ t.another }}</button></div>
</section>
<section id="rs-lookup" role="tabpanel" aria-labelledby="rs-tab-lookup" hidden>
<form id="rs-lookup-form"><label for="rs-lookup-input">{{ t.ticket }}</label>
<input id="rs-lookup-input" autocapitalize="characters" autocomplete="off" spellcheck="false"
 placeholder="{{ t.ticketHint }}" maxlength="40">
<button type="submit" id="rs-lookup-go" class="primary">{{ t.lookup }}</button></form>
<div id="rs-lookup-message" class="message" role="alert"></div>
<div id="rs-view" hidden></div>
</section></main>
<script src="{{ leaflet_js }}"></script>
<script>window.RESIDENT = {{ config | tojson }};</script>
<script src="{{ js }}"></script></body></html>"""


@blueprint.get("/r")
@requires("ticket")
def page():
    """The residents' page (Chinese first, ``?lang=en``); ``?ticket=…`` opens a look-up."""
    words = TEXTS[language()]
    query = {k: v for k, v in request.args.items() if k != "lang"}
    other = url_for("resident.page", **query, lang="en" if language() == "zh" else None)
    assets = map_assets()
    html = render_template_string(
        PAGE, t=words, lang=language(), other=other, config=_page_config(words),
        photos_label=words["photos"].replace("{n}", str(MAX_PHOTOS)),
        max_description=MAX_DESCRIPTION, leaflet_js=assets.leaflet_js,
        leaflet_css=assets.leaflet_css, css=url_for("static", filename="resident/resident.css"),
        js=url_for("static", filename="resident/resident.js"),
    )  # fmt: skip
    return Response(html, mimetype="text/html")


def _page_config(words: dict) -> dict:
    assets = map_assets()
    h = hierarchy()
    return {
        "texts": words, "lang": language(), "tiles": assets.tiles,
        "attribution": assets.attribution, "zone": zone().key,
        "view": [float(v) for v in h.grids(h.levels[0]).total_bounds],
        # The page needs only ``ticket``: it carries the categories, so it works
        # where an operator has not opened service.list to visitors.
        "categories": _categories(store().categories, language()),
        "maxPhotos": MAX_PHOTOS, "maxDescription": MAX_DESCRIPTION,
        "ticket": request.args.get("ticket", "")[:40],
        "pageUrl": url_for("resident.page"),
        "reportsUrl": url_for("resident.create_report"),
        "ticketUrl": url_for("resident.ticket_status", ticket="TICKET"),
        # Only a session's changes need the CSRF token; a visitor gets no session cookie.
        "csrfToken": generate_csrf() if principal().via == "session" else "",
        "statuses": {s: STATUS_LABELS[s][0 if language() == "zh" else 1] for s in STATUSES},
    }  # fmt: skip


def _categories(tree: CategoryTree, lang: str) -> list[dict]:
    """Top categories with their children, named in ``lang``: the page's choice of category."""
    name = (lambda c: c.zh) if lang == "zh" else (lambda c: c.en)
    return [{"code": root.code, "name": name(root),
             "children": [{"code": c.code, "name": name(c)} for c in tree.children(root.code)]}
            for root in tree.roots()]  # fmt: skip
