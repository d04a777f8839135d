"""Parsing query parameters and JSON bodies; every problem names the parameter.

Errors are :class:`~geogrid.errors.InputError`, which the app answers with 400
and a JSON body, so routes stay a few lines long.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import current_app, request

from geogrid.errors import InputError
from geogrid.moments import parse_moment
from geogrid.reports import NewReport, ReportQuery

REPORT_FIELDS = {"category", "lon", "lat", "crs", "source", "reported_at", "description",
                 "external_id", "reporter"}  # fmt: skip


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


def time(name: str) -> datetime | None:
    """An ISO 8601 time with its offset (a date alone means its start in China time)."""
    raw = request.args.get(name)
    return None if raw is None else parse_time(raw, name)


def parse_time(raw: str, name: str) -> datetime:
    """Parse an ISO 8601 time (China time without an offset) by the rule of :mod:`geogrid.moments`.

    Examples
    --------
    >>> parse_time("2026-11-23", "since").isoformat()
    '2026-11-23T00:00:00+08:00'
    """
    return parse_moment(raw, name)


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
        overdue_at=datetime.now().astimezone() if flag("overdue") else None,
        limit=limit, offset=integer("offset", 0, 0, 10_000_000),
    )  # fmt: skip


def flag(name: str) -> bool:
    """A yes/no query parameter (true/false/1/0), false when absent."""
    raw = request.args.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise InputError(f"query parameter '{name}' must be true or false")
    return raw in ("true", "1")


def json_body() -> Any:
    """The request's JSON body; a body that is not JSON names the problem."""
    body = request.get_json(silent=True)
    if body is None:
        raise InputError("the request body must be JSON (Content-Type: application/json)")
    return body


def new_report(data: Any, where: str = "body") -> NewReport:
    """A :class:`NewReport` from a JSON object; unknown or missing fields are named.

    Examples
    --------
    >>> new_report({"category": "fire", "lon": 120.6, "lat": 28.0}).source
    'grid_worker'
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
        values["reported_at"] = parse_time(values["reported_at"], f"{where}.reported_at")
    for text in ("category", "crs", "source", "description", "external_id", "reporter"):
        if text in values and values[text] is not None and not isinstance(values[text], str):
            raise InputError(f"{where}.{text}: must be text")
    values = {k: v for k, v in values.items() if v is not None}
    return NewReport(**values)
