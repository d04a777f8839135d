"""Clocks: where "now" comes from, passed in rather than read from the system.

Every part of geogrid that needs the current time (when a report was received,
whether it is overdue, the default end of a time window) takes a clock, a
function of no arguments that returns an aware UTC time. Production uses
:func:`system_clock`; tests, training and demonstrations fix the time with
:func:`fixed_clock` or start a running clock at a chosen moment with
:func:`clock_from`, so nothing depends on the day it runs.

Examples
--------
>>> from datetime import datetime, timezone
>>> clock = fixed_clock(datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc))
>>> clock().isoformat()
'2026-11-20T09:00:00+00:00'
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from geogrid.errors import InputError

#: A clock: no arguments, returns the current time, aware, in UTC.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The system's time, aware, in UTC.

    Examples
    --------
    >>> system_clock().tzinfo
    datetime.timezone.utc
    """
    return datetime.now(UTC)


def fixed_clock(at: datetime) -> Clock:
    """A clock that always reads ``at`` (aware), for tests and reproducible runs.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> clock = fixed_clock(datetime(2026, 11, 20, 17, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    >>> clock().isoformat()
    '2026-11-20T09:00:00+00:00'
    """
    fixed = _aware_utc(at)
    return lambda: fixed


def clock_from(
    start: datetime, anchor: datetime | None = None, wall: Clock = system_clock
) -> Clock:
    """A clock that read ``start`` at the wall-clock moment ``anchor`` (default: now) and runs on.

    A training or demonstration server can live on a chosen day while reports
    still get distinct, increasing times. Several server processes given the same
    ``start`` and ``anchor`` read the same time.

    Examples
    --------
    >>> eight = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
    >>> ticks = iter([eight, eight.replace(minute=1)])
    >>> clock = clock_from(datetime(2026, 11, 20, tzinfo=UTC), eight, wall=lambda: next(ticks))
    >>> clock().isoformat(), clock().isoformat()
    ('2026-11-20T00:00:00+00:00', '2026-11-20T00:01:00+00:00')
    """
    origin = _aware_utc(start)
    since = wall() if anchor is None else _aware_utc(anchor)
    return lambda: origin + (wall() - since)


def anchored(text: str, wall: Clock = system_clock) -> str:
    """The clock setting ``text`` with its wall-clock anchor fixed now: ``START@ANCHOR``.

    A server sets this before its workers start, so that they all share one clock.

    Examples
    --------
    >>> anchored("")
    ''
    >>> anchored("2026-11-20T09:00+08:00", lambda: datetime(2030, 1, 1, tzinfo=UTC))
    '2026-11-20T09:00+08:00@2030-01-01T00:00:00+00:00'
    """
    if not text or "@" in text:
        return text
    return f"{text}@{wall().isoformat()}"


def parse_clock(value: str | Clock | None) -> Clock:
    """The clock a setting names: empty for the system clock, or an ISO 8601 start time.

    A callable is taken as it is (tests pass :func:`fixed_clock`).

    Examples
    --------
    >>> parse_clock("") is system_clock
    True
    >>> parse_clock("2026-11-20T09:00:00+08:00")().date().isoformat()
    '2026-11-20'
    >>> parse_clock("2026-11-20")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: clock: '2026-11-20' needs a time and zone: 2026-11-20T09:00+08:00
    """
    if value is None or value == "":
        return system_clock
    if callable(value):
        return value
    start_text, _, anchor_text = value.partition("@")
    start = _moment_or_none(start_text)
    anchor = _moment_or_none(anchor_text) if anchor_text else None
    if start is None or (anchor_text and anchor is None):
        raise InputError(f"clock: {value!r} needs a time and zone: 2026-11-20T09:00+08:00")
    return clock_from(start, anchor)


def _moment_or_none(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _aware_utc(value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InputError(f"clock: {value!r} needs a time with a time zone")
    return value.astimezone(UTC)
