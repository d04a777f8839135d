r"""Open311 GeoReport v2 at ``/open311/v2``: residents' apps report straight into the grid.

Every resource answers in JSON (``.json``) or XML (``.xml``); any other suffix is
404. Errors come in the Open311 shape, ``[{"code": 400, "description": "lat: …"}]``
(``<errors><error>…</error></errors>`` in XML), the description naming the field.

======================================  =============================================
route                                   what
======================================  =============================================
``GET services.json``                   every report category as a service
``GET services/<service_code>.json``    its definition (no extra attributes); 404 if unknown
``POST requests.json``                  a new service request (form-encoded, or a JSON
                                        object); 201 and its id, 200 for a resend
``GET requests.json``                   requests, newest first, filtered and paged
``GET requests/<id>.json``              one request, in a one-element list; 404 if unknown
``GET openapi.json``                    these routes in OpenAPI 3.0 (GeoReport v2 has
                                        no such document of its own)
======================================  =============================================

How Open311 maps onto geogrid:

- a **service** is a category of ``data/categories.toml``: ``service_code`` is its
  code, ``service_name`` its Chinese and English names, ``group`` the Chinese name
  of its top category; ``metadata`` is false and ``type`` is ``realtime``;
- a **service request** is a report with source ``resident``. ``lat`` and ``long``
  are required: a report is placed in its grid by coordinates, so an
  ``address_string`` (or ``address_id``) alone is refused. ``address_string`` and
  a posted ``media_url`` are kept at the end of the description and given back as
  ``address`` and ``media_url`` (geogrid never fetches that URL); ``media_url`` of a
  request with photos (sent as files to ``/api/reports/<id>/media``) is the absolute
  URL of its first photo (``/api/media/<id>``); first and last name, phone,
  email, device and account ids are the reporter's contact details
  (:class:`geogrid.access.Contact`), kept apart from the description and the
  history and never shown by ``GET``;
- ``status`` is ``closed`` for 结案 closed and ``open`` for the six steps before it;
  ``status_notes`` names the exact step (``处置 In progress``) and the latest note;
  ``agency_responsible`` is the handling grid (``网格 101``); ``expected_datetime``
  is the deadline; ``requested_datetime`` is when geogrid received the request (the
  time ``start_date`` and ``end_date`` filter on). Times are in the district's time
  zone (the working calendar's, Asia/Shanghai by default).

Extensions to the specification:

- ``crs`` (POST): the system ``lat``/``long`` are in: ``WGS-84`` (GPS, the default),
  ``GCJ-02`` (AMap, Tencent and WeChat maps) or ``BD-09`` (Baidu maps). Answers
  always give WGS-84;
- ``external_id`` (POST): the client's own id for the request. Sending the same
  request again with it stores nothing new and answers 200 with the first id; the
  same ``external_id`` with other content is refused with 409. The ids are shared
  with the other intake channels (12345 hotline imports …), so make them unique,
  e.g. a UUID;
- ``page`` (from 1) and ``page_size`` (default 50, at most the ``PAGE_LIMIT``
  setting) on ``GET requests``; the ``X-Total-Count`` header gives the number of
  matching requests.

``jurisdiction_id`` and ``attribute[…]`` are accepted and ignored: one jurisdiction,
and services have no attributes beyond the standard fields.

Who may do what (GeoReport v2 requires ``api_key`` on ``POST``): ``api_key`` (in the
query, the form or the JSON body) is an API token of geogrid, as good as
``Authorization: Bearer TOKEN`` (see :mod:`web.access`). ``POST requests`` needs
``report.create``: an ``intake`` account's token (a residents' app, a mini program)
or any account that may report; the history records that account as the actor.
Without a key it is refused with 401 unless the ``ANONYMOUS_ACTIONS`` setting lists
``report.create``, and then each client address may send at most
``ANONYMOUS_INTAKE_RATE_LIMIT`` reports (429 beyond). ``GET requests`` needs
``report.read`` (not anonymous by default) and shows only the reports in the
account's grid scope; one outside it is 404, as if it did not exist. ``services``
are for everyone by default (``service.list``). Refusals (401, 403, 429) come in the
Open311 error shape like every other error.

``GET requests`` filters, as in the specification: ``service_request_id`` (a comma
separated list; every other filter is then ignored), ``service_code`` (comma
separated; a top category includes its sub-categories), ``status`` (``open``,
``closed`` or both) and ``start_date`` / ``end_date`` (W3C datetimes with a time
zone, e.g. ``2026-03-01T08:00:00+08:00``, or dates, which include the whole day of
``end_date``). The window spans at most 90 days: the last 90 days when neither
is given, 90 days from ``start_date`` or up to ``end_date`` when only one is.

Why one module of ~830 lines: it is one standard, GeoReport v2, whose routes are
thin (about 50 lines) and whose rest is the standard's own rules: its form and
JSON and XML formats, its status mapping, its date windows and paging. Its
OpenAPI document lives apart, in :mod:`web.open311_openapi`.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from geogrid.access import Contact
from geogrid.categories import Category, CategoryTree, UnknownCategoryError
from geogrid.crs import BD09, GCJ02, WGS84, normalize_crs
from geogrid.errors import CRSError, GeogridError, InputError
from geogrid.moments import NotAMomentError, parse_moment
from geogrid.reports import MAX_DESCRIPTION, HistoryEntry, NewReport, Report, ReportQuery
from geogrid.storage import NotFoundError
from geogrid.workflow import CLOSED, OPEN_STATUSES, STATUS_LABELS
from web.access import limited, principal, requires
from web.errors import http_status
from web.media import first_photo_urls
from web.open311_openapi import openapi_document
from web.params import json_body
from web.state import now, store

blueprint = Blueprint("open311", __name__)

FORMATS = ("json", "xml")
#: The widest ``start_date`` … ``end_date`` window, and the default one (up to now).
WINDOW = timedelta(days=90)
DEFAULT_PAGE_SIZE = 50
MAX_FIELD = 200
MAX_URL = 2000
COORDINATE_DECIMALS = 7  # about 1 cm
_LONLAT_SYSTEMS = (WGS84, GCJ02, BD09)
#: Open311 fields of the reporter's contact details, and the Contact field of each.
_CONTACT_FIELDS = (("phone", "phone"), ("email", "email"), ("device_id", "device"),
                   ("account_id", "account"))  # fmt: skip
#: Open311 fields kept at the end of the description, with the label marking each.
_EXTRAS = (("address", "地址 Address: "), ("media_url", "附件 Media: "))
#: The element name of each item of a list in XML.
_XML_ITEM = {"services": "service", "service_requests": "request", "errors": "error",
             "attributes": "attribute"}  # fmt: skip
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


# --- routes --------------------------------------------------------------------------------


@blueprint.get("/services.<fmt>")
@requires("service.list")
def services(fmt: str):
    """Every category of the tree as an Open311 service."""
    check_format(fmt)
    tree = store().categories
    return _reply(fmt, "services", [service_entry(c, tree) for c in tree])


@blueprint.get("/services/<service_code>.<fmt>")
@requires("service.list")
def service_definition(service_code: str, fmt: str):
    """The definition of one service: no attributes beyond the standard fields."""
    check_format(fmt)
    if service_code not in store().categories:
        raise NotFoundError(f"service_code {service_code!r} does not exist; see services.{fmt}")
    return _reply(fmt, "service_definition", {"service_code": service_code, "attributes": []})


@blueprint.post("/requests.<fmt>")
@requires("report.create")
@limited(
    lambda: current_app.config["ANONYMOUS_INTAKE_RATE_LIMIT"],
    exempt_when=lambda: principal().signed_in,
)
def create_request(fmt: str):
    """Store a new service request; 201 with its id (200 for a resend of the same one)."""
    check_format(fmt)
    new = new_report_from_form(_posted_fields(), store().categories)
    result = store().add_reports([new], actor=principal())[0]
    entry = request_entry(store().get_report(result.id), _view())
    reply = {
        "service_request_id": entry["service_request_id"],
        "service_notice": f"已受理 Received; {entry['service_notice']}",
        "account_id": None,
    }
    return _reply(fmt, "service_requests", [reply], 201 if result.created else 200)


@blueprint.get("/requests.<fmt>")
@requires("report.read")
def list_requests(fmt: str):
    """Service requests, newest first: by ids, or filtered and paged."""
    check_format(fmt)
    args, view = _joined_args(), _view()
    page_limit = current_app.config["PAGE_LIMIT"]
    if args.get("service_request_id"):
        reports = _reports_by_id(args["service_request_id"], page_limit)
        total = len(reports)
    else:
        query = requests_query(args, view.categories, view.timezone, now(), page_limit)
        query = replace(query, scope=principal().scope)
        page = store().find_reports(query)
        reports, total = page.items, page.total
    response = _reply(fmt, "service_requests", _entries(reports, view))
    response.headers["X-Total-Count"] = str(total)
    return response


@blueprint.get("/requests/<request_id>.<fmt>")
@requires("report.read")
def one_request(request_id: str, fmt: str):
    """One service request, as a one-element list (as the specification has it)."""
    check_format(fmt)
    report = _report_in_scope(request_id)
    return _reply(fmt, "service_requests", _entries([report], _view()))


@blueprint.get("/openapi.json")
@requires("public")
def openapi():
    """These routes described in OpenAPI 3.0, for client generators and the fuzz tests."""
    return jsonify(openapi_document())


@blueprint.get("/<path:anything>")
@requires("public")
def unknown_resource(anything: str):
    """Anything else under /open311/v2: an Open311 404 that lists the resources."""
    raise NotFoundError(
        f"no Open311 resource {anything!r}; resources: services.json, "
        "services/<service_code>.json, requests.json, requests/<id>.json (or .xml)"
    )


@blueprint.errorhandler(GeogridError)
def _domain_error(exc: GeogridError):
    return _error_reply(http_status(exc), str(exc))


@blueprint.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return _error_reply(exc.code or 500, exc.description or exc.name)


# --- request and reply plumbing ------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """What turning reports into Open311 requests needs from the store, read once per call."""

    categories: CategoryTree
    level_labels: dict[str, str]
    timezone: ZoneInfo


def _view() -> View:
    opened = store()
    labels: dict[str, str] = {}
    for generation in opened.generations():  # oldest first: the newest label wins
        labels.update({level.key: level.label for level in generation.levels})
    return View(opened.categories, labels, ZoneInfo(opened.calendar.timezone))


def _entries(reports: Sequence[Report], view: View) -> list[dict[str, Any]]:
    """The reports as Open311 requests, each with its first photo's absolute URL."""
    photos = first_photo_urls([r.id for r in reports])
    return [request_entry(r, view, photos.get(r.id)) for r in reports]


def _posted_fields() -> Mapping[str, Any]:
    if request.is_json:
        body = json_body()
        if not isinstance(body, dict):
            raise InputError('body: a JSON body must be one object, e.g. {"service_code": …}')
        return body
    return request.form


def _joined_args() -> dict[str, str]:
    """Query parameters; one given several times is joined with commas, as lists are."""
    return {name: ",".join(request.args.getlist(name)) for name in request.args}


def _reports_by_id(raw: str, page_limit: int) -> list[Report]:
    ids = listed(raw)
    if len(ids) > page_limit:
        raise InputError(f"service_request_id: at most {page_limit} ids at once")
    found = []
    for text in ids:
        try:
            found.append(_report_in_scope(text))
        except NotFoundError:
            continue  # the specification answers with the requests that exist
    return found


def _report_in_scope(text: str) -> Report:
    """The report a ``service_request_id`` names; 404 if unknown or out of the reader's scope."""
    report = store().get_report(report_id(text))
    if not principal().covers(report.codes.values()):
        raise NotFoundError(f"service request {text!r} does not exist")
    return report


def _reply(fmt: str, root: str, data: Any, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(to_xml(root, data), status=status, mimetype="text/xml")
    response = jsonify(data)
    response.status_code = status
    return response


def _error_reply(status: int, description: str) -> Response:
    fmt = "xml" if request.path.endswith(".xml") else "json"
    return _reply(fmt, "errors", [{"code": status, "description": description}], status)


def check_format(fmt: str) -> str:
    """Return ``fmt`` if geogrid answers in it, else raise :class:`NotFoundError`.

    Examples
    --------
    >>> check_format("xml")
    'xml'
    >>> check_format("csv")
    Traceback (most recent call last):
    ...
    geogrid.errors.NotFoundError: format 'csv' is not served; use .json or .xml
    """
    if fmt not in FORMATS:
        raise NotFoundError(f"format {fmt!r} is not served; use .json or .xml")
    return fmt


def to_xml(root: str, data: Any) -> bytes:
    """The Open311 XML form of a reply: lists become one element per item.

    Examples
    --------
    >>> to_xml("errors", [{"code": 404, "description": "no such request"}]).decode()
    '<?xml version="1.0" encoding="UTF-8"?>\\n<errors><error><code>404</code><description>no such request</description></error></errors>'
    """  # noqa: E501
    body = ET.tostring(_xml_element(root, data), encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")


def _xml_element(tag: str, value: Any) -> ET.Element:
    element = ET.Element(tag)
    if isinstance(value, dict):
        element.extend(_xml_element(key, item) for key, item in value.items())
    elif isinstance(value, list):
        element.extend(_xml_element(_XML_ITEM[tag], item) for item in value)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _XML_INVALID.sub("", str(value))
    return element


# --- services ------------------------------------------------------------------------------


def service_entry(category: Category, tree: CategoryTree) -> dict[str, Any]:
    """One category as an Open311 service.

    Examples
    --------
    >>> tree = CategoryTree.default()
    >>> entry = service_entry(tree.get("fire.lane"), tree)
    >>> entry["service_name"], entry["group"], entry["keywords"]
    ('消防通道堵塞 Blocked fire lane', '消防', '消防通道堵塞,Blocked fire lane,消防,Fire safety')
    >>> entry["description"]
    '消防 › 消防通道堵塞 (Fire safety › Blocked fire lane); 办结时限 deadline: 24 hours'
    """
    lineage = _lineage(category, tree)
    path_zh = " › ".join(c.zh for c in lineage)
    path_en = " › ".join(c.en for c in lineage)
    names = [name for c in reversed(lineage) for name in (c.zh, c.en)]
    deadline = tree.deadline_for(category.code)
    return {
        "service_code": category.code,
        "service_name": f"{category.zh} {category.en}",
        "description": f"{path_zh} ({path_en}); 办结时限 deadline: {deadline}",
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(dict.fromkeys(names)),
        "group": lineage[0].zh,
    }


def _lineage(category: Category, tree: CategoryTree) -> list[Category]:
    """The category's top category first, down to the category itself."""
    chain = [category]
    while chain[0].parent is not None:
        chain.insert(0, tree.get(chain[0].parent))
    return chain


def service_name(code: str, tree: CategoryTree) -> str:
    """The service name of a category code; the code itself if the tree lost it.

    Examples
    --------
    >>> service_name("city.noise", CategoryTree.default())
    '噪声扰民 Noise nuisance'
    """
    if code not in tree:
        return code
    category = tree.get(code)
    return f"{category.zh} {category.en}"


# --- POST requests: form → NewReport -------------------------------------------------------


def new_report_from_form(form: Mapping[str, Any], categories: CategoryTree) -> NewReport:
    """The report an Open311 POST stands for; bad input raises an error naming the field.

    Examples
    --------
    >>> form = {"service_code": "city.rubbish", "lat": "28.005", "long": "120.005",
    ...         "crs": "GCJ-02", "description": "垃圾堆放", "phone": "13800000000"}
    >>> r = new_report_from_form(form, CategoryTree.default())
    >>> r.category, r.lon, r.lat, r.crs, r.source, r.description, r.contact
    ('city.rubbish', 120.005, 28.005, 'GCJ-02', 'resident', '垃圾堆放', Contact(name=None, phone='13800000000', email=None, device=None, account=None))
    >>> new_report_from_form({"service_code": "city.rubbish", "address_string": "幸福路 1 号"},
    ...                      CategoryTree.default())
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: lat/long: required; geogrid places a report in its grid by coordinates, so address_string or address_id alone is not enough
    """  # noqa: E501
    category = _service_code(form, categories)
    crs = _lonlat_system(text_field(form, "crs") or WGS84)
    lat, lon = _location(form)
    description = text_field(form, "description", MAX_DESCRIPTION) or ""
    # A posted media_url is kept as the link it is and given back when the request has
    # no photo of its own; geogrid never fetches it (the server could be steered to
    # addresses inside the office's network, and a remote picture may change or carry
    # the resident's GPS). Photos come as files (POST /api/reports/<id>/media), checked
    # and cleaned before they are stored; media_url then links to the first of them.
    extras = {"address": text_field(form, "address_string", MAX_FIELD),
              "media_url": _media_url(form)}  # fmt: skip
    return NewReport(
        category=category,
        lon=lon,
        lat=lat,
        crs=crs,
        source="resident",
        description=with_extras(description, extras),
        external_id=text_field(form, "external_id", MAX_FIELD),
        contact=contact_from_form(form),
    )


def text_field(form: Mapping[str, Any], name: str, max_length: int = MAX_FIELD) -> str | None:
    """A text parameter stripped of surrounding blanks; None if absent or blank.

    Examples
    --------
    >>> text_field({"email": " a@b.cn "}, "email"), text_field({"email": ""}, "email")
    ('a@b.cn', None)
    >>> text_field({"account_id": 42}, "account_id")
    '42'
    """
    value = form.get(name)
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{name}: must be a finite number or text, got {value}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # a JSON body may send numbers for ids and coordinates
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InputError(f"{name}: must be text, got {type(value).__name__}")
    if len(value) > max_length:
        raise InputError(f"{name}: must be at most {max_length} characters")
    return value.strip()


def _service_code(form: Mapping[str, Any], categories: CategoryTree) -> str:
    code = text_field(form, "service_code")
    if code is None:
        raise InputError("service_code: required; services.json lists them")
    try:
        return categories.check(code)
    except UnknownCategoryError as exc:
        raise InputError(f"service_code: {exc}") from None


def _lonlat_system(name: str) -> str:
    """The name of a lon/lat system a phone may send: WGS-84, GCJ-02 or BD-09."""
    try:
        system = normalize_crs(name)
    except CRSError:
        system = None
    if system not in _LONLAT_SYSTEMS:
        raise CRSError(
            f"crs: {name!r} is not supported; use WGS-84 (GPS, the default), "
            "GCJ-02 (AMap, Tencent, WeChat) or BD-09 (Baidu)"
        )
    return str(system)


def _location(form: Mapping[str, Any]) -> tuple[float, float]:
    lat, lon = text_field(form, "lat"), text_field(form, "long")
    if lat is None and lon is None:
        if text_field(form, "address_string") or text_field(form, "address_id"):
            raise InputError(
                "lat/long: required; geogrid places a report in its grid by coordinates, "
                "so address_string or address_id alone is not enough"
            )
        raise InputError("lat/long: required; where the problem is, in WGS-84 unless crs says")
    return coordinate("lat", lat, 90), coordinate("long", lon, 180)


def coordinate(name: str, raw: str | None, limit: float) -> float:
    """A latitude or longitude from text, checked against ±``limit``.

    Examples
    --------
    >>> coordinate("lat", "28.01", 90)
    28.01
    >>> coordinate("long", "東經120", 180)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: long: must be a number, got '東經120'
    """
    if raw is None:
        raise InputError(f"{name}: required with {'long' if name == 'lat' else 'lat'}")
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"{name}: must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise InputError(f"{name}: must be a finite number, got {raw!r}")
    if not -limit <= value <= limit:
        raise InputError(f"{name}: {value} is out of range (-{limit} to {limit})")
    return value


def _media_url(form: Mapping[str, Any]) -> str | None:
    url = text_field(form, "media_url", MAX_URL)
    if url is not None and (not re.match(r"https?://\S+$", url)):
        raise InputError(f"media_url: must be an http(s) URL without spaces, got {url!r}")
    return url


def contact_from_form(form: Mapping[str, Any]) -> Contact | None:
    """The reporter's contact details a request carries; None when it carries none.

    Examples
    --------
    >>> contact_from_form({"first_name": "三", "last_name": "张", "email": "z@example.cn",
    ...                    "device_id": "IMEI-861234"})
    Contact(name='张三', phone=None, email='z@example.cn', device='IMEI-861234', account=None)
    >>> contact_from_form({"first_name": "Wei", "last_name": "Li"}).name
    'Wei Li'
    >>> contact_from_form({"description": "no one"}) is None
    True
    """
    last, first = text_field(form, "last_name"), text_field(form, "first_name")
    # Chinese names are family name first, with no space: 张三.
    name = "".join(filter(None, (last, first))) if _is_cjk(last or first) else None
    contact = Contact(
        name=name or " ".join(filter(None, (first, last))) or None,
        **{field: text_field(form, key) for key, field in _CONTACT_FIELDS},
    )
    return contact if contact else None


def _is_cjk(text: str | None) -> bool:
    return bool(text) and any("\u4e00" <= ch <= "\u9fff" for ch in text)


def with_extras(description: str, extras: Mapping[str, str | None]) -> str:
    r"""The description with address and media URL appended, one labelled line each.

    Examples
    --------
    >>> with_extras("楼道堆物", {"address": "幸福路 1 号", "media_url": None})
    '楼道堆物\n\n地址 Address: 幸福路 1 号'
    >>> split_extras(with_extras("楼道堆物", {"address": "幸福路 1 号"}))
    ('楼道堆物', {'address': '幸福路 1 号'})
    """
    lines = [
        label + " ".join(value.split()) for key, label in _EXTRAS if (value := extras.get(key))
    ]
    if not lines:
        return description
    return "\n\n".join(filter(None, (description.rstrip(), "\n".join(lines))))


def split_extras(text: str) -> tuple[str, dict[str, str]]:
    """The description as written and the extras :func:`with_extras` appended.

    Examples
    --------
    >>> split_extras("附件 Media: https://img.example.cn/1.jpg")
    ('', {'media_url': 'https://img.example.cn/1.jpg'})
    >>> split_extras("没有附件")
    ('没有附件', {})
    """
    head, separator, tail = text.rpartition("\n\n")
    found: dict[str, str] = {}
    for line in tail.split("\n"):
        key = next((k for k, label in _EXTRAS if line.startswith(label)), None)
        if key is None:
            return text, {}
        found[key] = line[len(dict(_EXTRAS)[key]) :]
    return (head if separator else ""), found


# --- GET requests: Report → Open311 request ------------------------------------------------


def request_entry(report: Report, view: View, media_url: str | None = None) -> dict[str, Any]:
    """A stored report as an Open311 service request; ``media_url``: its first photo's URL."""
    description, extras = split_extras(report.description)
    agency = agency_responsible(report.handler_level, report.handler_code, view.level_labels)
    return {
        "service_request_id": str(report.id),
        "status": open311_status(report.status),
        "status_notes": status_notes(report.status, report.history),
        "service_name": service_name(report.category, view.categories),
        "service_code": report.category,
        "description": description,
        "agency_responsible": agency,
        "service_notice": service_notice(
            report.status, agency, _local(report.deadline, view.timezone, "%Y-%m-%d %H:%M")
        ),
        "requested_datetime": _local(report.received_at, view.timezone),
        "updated_datetime": _local(report.updated_at, view.timezone),
        "expected_datetime": _local(report.deadline, view.timezone),
        "address": extras.get("address"),
        "address_id": None,
        "zipcode": None,
        "lat": round(report.lat, COORDINATE_DECIMALS),
        "long": round(report.lon, COORDINATE_DECIMALS),
        "media_url": media_url or extras.get("media_url"),
    }


def _local(moment: datetime | None, timezone: ZoneInfo, pattern: str | None = None) -> str | None:
    """A W3C datetime (or ``pattern``) in the district's time zone; None stays None."""
    if moment is None:
        return None
    local = moment.astimezone(timezone)
    return local.strftime(pattern) if pattern else local.isoformat(timespec="seconds")


def open311_status(status: str) -> str:
    """Open311 knows only open and closed: every step before 结案 is open.

    Examples
    --------
    >>> open311_status("in_progress"), open311_status("closed")
    ('open', 'closed')
    """
    return "closed" if status == CLOSED else "open"


def status_notes(status: str, history: Sequence[HistoryEntry]) -> str:
    """The exact step in Chinese and English, and the latest note of the history.

    Examples
    --------
    >>> from datetime import UTC
    >>> at = datetime(2026, 3, 2, tzinfo=UTC)
    >>> status_notes("closed", [HistoryEntry(at, "指挥中心", "transition", note="重复上报")])
    '结案 Closed: 重复上报'
    >>> status_notes("dispatched", [])
    '分拨 Dispatched'
    """
    zh, en = STATUS_LABELS.get(status, (status, status))
    note = next((entry.note for entry in reversed(history) if entry.note.strip()), "")
    return f"{zh} {en}: {note}" if note else f"{zh} {en}"


def agency_responsible(
    level: str | None, code: str | None, level_labels: Mapping[str, str]
) -> str | None:
    """The grid that handles a report, with its level's label; None if no grid does.

    Examples
    --------
    >>> agency_responsible("grid", "101", {"grid": "网格"})
    '网格 101'
    >>> agency_responsible(None, None, {}) is None
    True
    """
    if code is None:
        return None
    return f"{level_labels.get(level or '', level or '')} {code}".strip()


def service_notice(status: str, agency: str | None, due: str | None) -> str:
    """What happens next to a request: who handles it, and by when.

    Examples
    --------
    >>> service_notice("received", "网格 101", "2026-03-09 17:30")
    '由网格 101 办理，2026-03-09 17:30 前办结; handled by 网格 101, due 2026-03-09 17:30'
    """
    if status == CLOSED:
        return "已结案 Closed: no further action"
    if agency is None:
        return "不在任何网格内，由指挥中心分拨; outside every grid: the command centre assigns it"
    if due is None:
        return f"由{agency} 办理; handled by {agency}"
    return f"由{agency} 办理，{due} 前办结; handled by {agency}, due {due}"


def report_id(text: str) -> int:
    """The report id in a ``service_request_id``; :class:`NotFoundError` if it cannot be one.

    Examples
    --------
    >>> report_id("42")
    42
    >>> report_id("SR-42")
    Traceback (most recent call last):
    ...
    geogrid.errors.NotFoundError: service request 'SR-42' does not exist
    """
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise NotFoundError(f"service request {text!r} does not exist")
    return int(text)


# --- GET requests: filters -----------------------------------------------------------------


def requests_query(
    args: Mapping[str, str],
    categories: CategoryTree,
    timezone: ZoneInfo,
    now: datetime,
    page_limit: int,
) -> ReportQuery:
    """The store query of a ``GET requests`` call: codes, status, window and page.

    Examples
    --------
    >>> from datetime import UTC
    >>> now = datetime(2026, 3, 31, tzinfo=UTC)
    >>> q = requests_query({"service_code": "fire", "status": "open", "page": "2"},
    ...                    CategoryTree.default(), ZoneInfo("Asia/Shanghai"), now, 1000)
    >>> q.category, q.status[-1], q.since.isoformat(), q.until, q.limit, q.offset
    (('fire',), 'verified', '2025-12-31T00:00:00+00:00', None, 50, 50)
    """
    since, until = date_window(args.get("start_date"), args.get("end_date"), timezone, now)
    page, size = paging(args.get("page"), args.get("page_size"), page_limit)
    return ReportQuery(
        since=since,
        until=until,
        category=service_codes(args.get("service_code"), categories),
        status=statuses_for(args.get("status")),
        limit=size,
        offset=(page - 1) * size,
    )


def listed(raw: str | None) -> list[str]:
    """The values of a comma-separated parameter.

    Examples
    --------
    >>> listed("fire, city.noise,,")
    ['fire', 'city.noise']
    """
    return [value.strip() for value in (raw or "").split(",") if value.strip()]


def service_codes(raw: str | None, categories: CategoryTree) -> tuple[str, ...]:
    """The categories a ``service_code`` filter names; every one must exist."""
    codes = listed(raw)
    for code in codes:
        try:
            categories.check(code)
        except UnknownCategoryError as exc:
            raise InputError(f"service_code: {exc}") from None
    return tuple(codes)


def statuses_for(raw: str | None) -> tuple[str, ...]:
    """geogrid statuses an Open311 ``status`` filter stands for; () for all.

    Examples
    --------
    >>> statuses_for("closed"), statuses_for("open,closed")
    (('closed',), ())
    >>> statuses_for("done")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: status: 'done' is not open or closed
    """
    wanted = set(listed(raw))
    unknown = sorted(wanted - {"open", "closed"})
    if unknown:
        raise InputError(f"status: {unknown[0]!r} is not open or closed")
    if wanted == {"closed"}:
        return (CLOSED,)
    return OPEN_STATUSES if wanted == {"open"} else ()


def date_window(
    start: str | None, end: str | None, timezone: ZoneInfo, now: datetime
) -> tuple[datetime, datetime | None]:
    """``since`` and ``until`` (exclusive) of a ``start_date`` / ``end_date`` pair.

    Examples
    --------
    >>> from datetime import UTC
    >>> tz, now = ZoneInfo("Asia/Shanghai"), datetime(2026, 3, 31, tzinfo=UTC)
    >>> [t.isoformat() for t in date_window("2026-03-01", "2026-03-02", tz, now)]
    ['2026-03-01T00:00:00+08:00', '2026-03-03T00:00:00+08:00']
    >>> date_window("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", tz, now)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: end_date: the window from start_date may span at most 90 days (Open311 GeoReport v2); ask for several shorter windows
    """  # noqa: E501
    since = w3c_datetime(start, "start_date", timezone) if start else None
    until = w3c_datetime(end, "end_date", timezone, whole_day=True) if end else None
    if since is None and until is None:
        return now - WINDOW, None
    since = since if since is not None else until - WINDOW
    until = until if until is not None else since + WINDOW
    if until <= since:
        raise InputError("end_date: must be after start_date")
    if until - since > WINDOW:
        raise InputError(
            "end_date: the window from start_date may span at most 90 days "
            "(Open311 GeoReport v2); ask for several shorter windows"
        )
    return since, until


def w3c_datetime(text: str, field: str, timezone: ZoneInfo, whole_day: bool = False) -> datetime:
    """A W3C datetime: a date, in the district's zone, or a time with its zone designator.

    Read by the one rule of :mod:`geogrid.moments`; Open311 (GeoReport v2) takes the
    W3C profile of ISO 8601, in which a time always carries its zone. With
    ``whole_day``, a date stands for the end of that day (the next midnight).

    Examples
    --------
    >>> tz = ZoneInfo("Asia/Shanghai")
    >>> w3c_datetime("2026-03-01T08:00:00Z", "start_date", tz).isoformat()
    '2026-03-01T08:00:00+00:00'
    >>> w3c_datetime("2026-03-01T08:00:00 08:00", "start_date", tz).isoformat()
    '2026-03-01T08:00:00+08:00'
    >>> w3c_datetime("2026-03-01", "end_date", tz, whole_day=True).isoformat()
    '2026-03-02T00:00:00+08:00'
    >>> w3c_datetime("2026-03-01T08:00:00", "start_date", tz)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: start_date: '2026-03-01T08:00:00' needs a time zone, e.g. 2026-03-01T08:00:00+08:00 or …Z
    """  # noqa: E501
    try:
        return parse_moment(text, field, timezone, whole_day=whole_day, require_offset=True)
    except NotAMomentError:
        raise InputError(
            f"{field}: {text!r} is not a W3C datetime such as 2026-03-01T08:00:00+08:00"
        ) from None


def paging(page: str | None, page_size: str | None, page_limit: int) -> tuple[int, int]:
    """``page`` (from 1) and ``page_size`` (1 to ``page_limit``, default 50).

    Examples
    --------
    >>> paging(None, None, 1000), paging("3", "20", 1000)
    ((1, 50), (3, 20))
    >>> paging("1", "5000", 1000)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: page_size: must be a whole number from 1 to 1000, got '5000'
    """
    number = _whole("page", page, 1, 10**9, 1)
    size = _whole("page_size", page_size, 1, page_limit, min(DEFAULT_PAGE_SIZE, page_limit))
    return number, size


def _whole(name: str, raw: str | None, low: int, high: int, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
        raise InputError(f"{name}: must be a whole number from {low} to {high}, got {raw!r}")
    return int(raw)
