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

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

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


def clock_from(start: datetime, monotonic: Callable[[], float] = time.monotonic) -> Clock:
    """A clock that reads ``start`` now and runs forward from there, second by second.

    A training or demonstration server can live on a chosen day while reports
    still get distinct, increasing times.

    Examples
    --------
    >>> ticks = iter([100.0, 100.0, 160.5])
    >>> clock = clock_from(datetime(2026, 11, 20, tzinfo=UTC), lambda: next(ticks))
    >>> clock().isoformat()
    '2026-11-20T00:00:00+00:00'
    >>> clock().isoformat()
    '2026-11-20T00:01:00.500000+00:00'
    """
    origin, started = _aware_utc(start), monotonic()
    return lambda: origin + timedelta(seconds=monotonic() - started)


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
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        start = None
    if start is None or start.tzinfo is None:
        raise InputError(f"clock: {value!r} needs a time and zone: 2026-11-20T09:00+08:00")
    return clock_from(start)


def _aware_utc(value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InputError(f"clock: {value!r} needs a time with a time zone")
    return value.astimezone(UTC)
