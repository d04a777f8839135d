"""The one rule for a time a user typed: ISO 8601, and a year from 1900 to 2100.

Python's dates run from year 1 to 9999, but the arithmetic geogrid does on a
time (to UTC, the next midnight, a 90-day window, a deadline) overflows near
either end of that calendar. No report, patrol or analysis window is older
than 1900 or later than 2100, so a time outside those years is refused where
it is read, with a message naming the field, before any arithmetic is done.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import TypeVar
from zoneinfo import ZoneInfo

from geogrid.errors import InputError

#: The years a time a user typed may fall in, both included.
FIRST_YEAR, LAST_YEAR = 1900, 2100
#: The zone of a time written without an offset, unless the caller names another.
CHINA_TIME = ZoneInfo("Asia/Shanghai")

Moment = TypeVar("Moment", bound=date)  # a datetime is a date too


def check_year(moment: Moment, field: str) -> Moment:
    """Return ``moment`` (a date or a time) if its year is 1900–2100; else name ``field``.

    Examples
    --------
    >>> check_year(date(2026, 11, 23), "since")
    datetime.date(2026, 11, 23)
    >>> check_year(datetime(1, 1, 1), "reported_at")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: reported_at: 0001-01-01T00:00:00 is outside the years 1900 to 2100
    """
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise InputError(
            f"{field}: {moment.isoformat()} is outside the years {FIRST_YEAR} to {LAST_YEAR}"
        )
    return moment


def parse_moment(text: str, field: str, zone: tzinfo = CHINA_TIME) -> datetime:
    """An ISO 8601 time with its offset; without one it is in ``zone`` (China time).

    A date alone is its first moment. ``Z`` stands for UTC.

    Examples
    --------
    >>> parse_moment("2026-11-23", "since").isoformat()
    '2026-11-23T00:00:00+08:00'
    >>> parse_moment("2026-11-23T01:30:00Z", "until").isoformat()
    '2026-11-23T01:30:00+00:00'
    >>> parse_moment("9999-12-31", "until")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: until: 9999-12-31T00:00:00 is outside the years 1900 to 2100
    """
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise InputError(f"'{field}' must be an ISO 8601 time, got {text!r}") from None
    check_year(moment, field)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
