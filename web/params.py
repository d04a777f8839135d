"""Parsing query parameters and JSON bodies; every problem names the parameter.

Errors are :class:`~geogrid.errors.InputError`, which the app answers with 400
and a JSON body, so routes stay a few lines long.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, current_app, request

from geogrid.access import Contact, check_contact
from geogrid.errors import InputError
from geogrid.moments import parse_moment
from geogrid.reports import NewReport, ReportQuery
from web.state import now, zone

REPORT_FIELDS = {"category", "lon", "lat", "crs", "source", "reported_at", "description",
                 "external_id", "reporter", "contact"}  # fmt: skip
#: A report's ``contact`` members as the API names them, and the fields they fill.
CONTACT_MEMBERS = {"name": "name", "phone": "phone", "email": "email", "device_id": "device"}
#: The deepest JSON body read; the deepest geogrid takes (a GeoJSON line in a route) is 4.
MAX_JSON_DEPTH = 32
#: Longer JSON integers are read as infinite: a float holds at most 309 digits.
MAX_INTEGER_DIGITS = 300
#: What only an escape can put in a JSON string: half a surrogate pair, or a NUL.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def number(name: str, default: float | None = None) -> float:
    """A finite number from the query string.

    Examples
    --------
    >>> from flask import Flask
    >>> with Flask(__name__).test_request_context("/?lon=120.5"):
    ...     number("lon")
    120.5
    """
    raw = request.args.get(name)
    if raw is None:
        if default is None:
            raise InputError(f"query parameter '{name}' is required")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"query parameter '{name}' must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise InputError(f"query parameter '{name}' must be a finite number")
    return value


def integer(name: str, default: int, low: int, high: int) -> int:
    """An integer from the query string within [low, high]."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"query parameter '{name}' must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise InputError(f"query parameter '{name}' must be between {low} and {high}")
    return value


def bbox(name: str = "bbox") -> tuple[float, float, float, float] | None:
    """``west,south,east,north`` in WGS-84, or None when absent.

    Examples
    --------
    >>> from flask import Flask
    >>> with Flask(__name__).test_request_context("/?bbox=120,28,120.1,28.1"):
    ...     bbox()
    (120.0, 28.0, 120.1, 28.1)
    """
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        west, south, east, north = (float(v) for v in raw.split(","))
    except ValueError:
        raise InputError(f"query parameter '{name}' must be four numbers "
                         "west,south,east,north") from None  # fmt: skip
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InputError(f"query parameter '{name}' must have west ≤ east and south ≤ north "
                         "within ±180, ±90")  # fmt: skip
    return west, south, east, north


def init_app(app: Flask) -> None:
    """Check every request's query string, form body and headers for text no store keeps."""
    app.before_request(check_utf8)


def check_utf8() -> None:
    """Refuse a query parameter, form field or header that is not text a store keeps.

    Werkzeug would read bytes that are not UTF-8 as U+FFFD, and a route would
    store or search for text the client never sent; a NUL fails in PostgreSQL.
    """
    _check_pairs(request.query_string)
    if request.mimetype == "application/x-www-form-urlencoded":
        _check_pairs(request.get_data(cache=True))
    elif request.mimetype == "multipart/form-data":
        # Werkzeug has read its bytes as U+FFFD already; a NUL is still there.
        for name, value in request.form.items(multi=True):
            check_text(value, name)
    for name, value in request.headers.items():
        check_text(value, name)


def _check_pairs(raw: bytes) -> None:
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        try:
            name_text = _unquoted(name)
        except UnicodeDecodeError:
            raise InputError("query string: a parameter name is not UTF-8 text") from None
        try:
            check_text(_unquoted(value), name_text)
        except UnicodeDecodeError:
            raise InputError(f"{name_text}: not UTF-8 text; percent-encode UTF-8") from None


def _unquoted(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")


def time(name: str, whole_day: bool = False) -> datetime | None:
    """A query parameter's time, by the rule of :mod:`geogrid.moments` in the district's zone."""
    raw = request.args.get(name)
    return None if raw is None else parse_moment(raw, name, zone(), whole_day=whole_day)


def words(name: str) -> tuple[str, ...]:
    """A comma-separated list (or the parameter repeated)."""
    values = []
    for raw in request.args.getlist(name):
        values += [v.strip() for v in raw.split(",") if v.strip()]
    return tuple(values)


def report_query(limit_default: int = 100) -> ReportQuery:
    """The report filters shared by listings, statistics and heat maps."""
    limit = integer("limit", limit_default, 1, current_app.config["PAGE_LIMIT"])
    return ReportQuery(
        grid=request.args.get("grid") or None, bbox=bbox(), since=time("since"),
        until=time("until"), category=words("category"), status=words("status"),
        overdue_at=now() if flag("overdue") else None,
        limit=limit, offset=integer("offset", 0, 0, 10_000_000),
    )  # fmt: skip


def flag(name: str) -> bool:
    """A yes/no query parameter (true/false/1/0), false when absent."""
    raw = request.args.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise InputError(f"query parameter '{name}' must be true or false")
    return raw in ("true", "1")


def json_body() -> Any:
    """The request's JSON body, read by :func:`parse_json`; every JSON route reads it here."""
    if not request.is_json:
        raise InputError("body: must be JSON (Content-Type: application/json)")
    return parse_json(request.get_data(cache=True))


def parse_json(raw: bytes) -> Any:
    r"""JSON from a request body; too deep, not UTF-8, or text no store keeps: a named error.

    Examples
    --------
    >>> parse_json(b'{"note": "\\u4f60\\ud83d\\ude00"}')
    {'note': '你😀'}
    >>> parse_json(b'{"reports": [{"note": "\\ud800"}]}')
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: body.reports[0].note: \ud800 is half a UTF-16 surrogate pair, not a character
    >>> parse_json(b'{"lat": 1' + b"0" * 400 + b"}")
    {'lat': inf}
    >>> parse_json(b"[" * 40 + b"]" * 40)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: body: JSON nested deeper than 32 levels
    """  # noqa: E501
    try:
        text = raw.decode(json.detect_encoding(raw))  # strict: no encoded surrogates
        data = json.loads(text, parse_int=_json_integer)
    except RecursionError:  # the parser's own guard, far deeper than MAX_JSON_DEPTH
        raise InputError(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"body: not UTF-8 text (byte {exc.start})") from None
    except ValueError as exc:
        raise InputError(f"body: must be JSON (Content-Type: application/json): {exc}") from None
    _check_depth(data)
    if _UNSTORABLE_ESCAPE.search(text):
        _check_strings(data)
    return data


def _json_integer(digits: str) -> int | float:
    # An integer too large for a float is infinite, as 1e400 already is: the
    # checks for a finite number then name its field, where float() would overflow.
    return int(digits) if len(digits) <= MAX_INTEGER_DIGITS else float(digits)


def _check_depth(data: Any) -> None:
    containers = [data] if isinstance(data, dict | list) else []
    for _ in range(MAX_JSON_DEPTH):
        containers = [
            item
            for box in containers
            for item in (box.values() if isinstance(box, dict) else box)
            if isinstance(item, dict | list)
        ]
        if not containers:
            return
    raise InputError(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")


def _check_strings(data: Any) -> None:
    stack = [(data, "body")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                check_text(key, where)
                stack.append((item, f"{where}.{key}"))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))
        elif isinstance(value, str):
            check_text(value, where)


def check_text(text: str, where: str) -> str:
    r"""Return ``text`` if a store can keep it and a reply can carry it; else name ``where``.

    A lone surrogate cannot be encoded as UTF-8 (a pair of escapes in JSON is
    joined into one character, so one left alone is half a pair), and
    PostgreSQL keeps no NUL in text.

    Examples
    --------
    >>> check_text("楼道堆物 😀", "description")
    '楼道堆物 😀'
    >>> check_text("a\x00b", "note")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: note: holds a NUL character (\u0000), which no store keeps
    """
    found = _UNSTORABLE.search(text)
    if found is None:
        return text
    if found.group() == "\x00":
        raise InputError(f"{where}: holds a NUL character (\\u0000), which no store keeps")
    escape = f"\\u{ord(found.group()):04x}"
    raise InputError(f"{where}: {escape} is half a UTF-16 surrogate pair, not a character")


def new_report(data: Any, where: str = "body") -> NewReport:
    """A :class:`NewReport` from a JSON object; unknown or missing fields are named.

    ``contact`` is the reporter's ``{name, phone, email, device_id}``; the older
    ``reporter`` text is taken as the contact's name.

    Examples
    --------
    >>> new_report({"category": "fire", "lon": 120.6, "lat": 28.0}).source
    'grid_worker'
    >>> new_report({"category": "fire", "lon": 120.6, "lat": 28.0, "reporter": "张三"}).contact
    Contact(name='张三', phone=None, email=None, device=None, account=None)
    >>> new_report({"category": "fire", "lon": 1, "lat": 2, "contact": {"phone": 138}})
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: body.contact.phone: must be text, got int
    """
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: a report must be a JSON object")
    unknown = sorted(set(data) - REPORT_FIELDS)
    if unknown:
        raise InputError(f"{where}: unknown field {', '.join(unknown)}")
    missing = [f for f in ("category", "lon", "lat") if f not in data]
    if missing:
        raise InputError(f"{where}: missing field {', '.join(missing)}")
    values = dict(data)
    if values.get("reported_at") is not None:
        values["reported_at"] = parse_moment(values["reported_at"], f"{where}.reported_at", zone())
    for text in ("category", "crs", "source", "description", "external_id", "reporter"):
        if text in values and values[text] is not None and not isinstance(values[text], str):
            raise InputError(f"{where}.{text}: must be text")
    values["contact"] = contact(values.get("contact"), values.pop("reporter", None), where)
    values = {k: v for k, v in values.items() if v is not None}
    return NewReport(**values)


def contact(data: Any, reporter: str | None, where: str = "body") -> Contact | None:
    """The reporter's contact details from a report's ``contact`` member (and ``reporter``)."""
    if data is None:
        return Contact(name=reporter) if reporter else None
    if not isinstance(data, Mapping):
        raise InputError(f"{where}.contact: must be an object with name, phone, email, device_id")
    unknown = sorted(set(data) - set(CONTACT_MEMBERS))
    if unknown:
        raise InputError(f"{where}.contact: unknown field {', '.join(unknown)}; "
                         f"known: {', '.join(CONTACT_MEMBERS)}")  # fmt: skip
    fields = {CONTACT_MEMBERS[k]: v for k, v in data.items() if v not in (None, "")}
    if reporter and fields.get("name") not in (None, reporter):
        raise InputError(f"{where}.reporter: differs from {where}.contact.name; send one")
    if reporter:
        fields["name"] = reporter
    try:
        found = check_contact(Contact(**fields), f"{where}.contact")
    except InputError as exc:  # the field is a device_id to the client
        raise InputError(str(exc).replace(".contact.device:", ".contact.device_id:")) from None
    return found or None
