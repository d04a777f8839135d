"""The one rule for a time a user typed: ISO 8601, read in the district's zone, years 1900–2100.

Every time that comes from a person or a client (a query's ``since``, a report's
``reported_at``, an Open311 ``start_date``, a command's ``--since``) is read here:

- a time with an offset (``+08:00``, ``Z``) is that instant;
- a time without one is local time in the district's zone, the working
  calendar's ``timezone`` (never a zone written into the code);
- a date alone is its first moment, or with ``whole_day`` its end (the next
  midnight), so "until 2026-11-23" includes that whole day;
- a ``+`` left unescaped in a URL arrives as a space and is read as the ``+``;
- the year must be 1900–2100: Python's dates run from year 1 to 9999, but the
  arithmetic geogrid does on a time (to UTC, the next midnight, a 90-day window,
  a deadline) overflows near either end of that calendar.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo
from typing import TypeVar

from geogrid.errors import InputError

#: The years a time a user typed may fall in, both included.
FIRST_YEAR, LAST_YEAR = 1900, 2100

Moment = TypeVar("Moment", bound=date)  # a datetime is a date too

_SPACE_FOR_PLUS = re.compile(r"(T[\d:.]+) (\d\d:?\d\d)$")


class NotAMomentError(InputError):
    """Text that is not an ISO 8601 date or time at all (a standard's reader may say it its way)."""


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


def parse_moment(
    text: str, field: str, zone: tzinfo, *, whole_day: bool = False, require_offset: bool = False
) -> datetime:
    """The instant ``text`` names: ISO 8601, without an offset in ``zone``.

    ``zone`` is the district's (its working calendar's ``zone``). A date alone
    (2026-11-23, 20261123, 2026-W48-1) is its first moment, or with ``whole_day``
    the first moment of the next day. With ``require_offset`` (a standard's rule,
    such as W3C's for Open311), a time without its offset is refused.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> zone = ZoneInfo("Asia/Shanghai")
    >>> parse_moment("2026-11-23", "since", zone).isoformat()
    '2026-11-23T00:00:00+08:00'
    >>> parse_moment("2026-11-23", "until", zone, whole_day=True).isoformat()
    '2026-11-24T00:00:00+08:00'
    >>> parse_moment("2026-11-23T01:30:00Z", "until", zone).isoformat()
    '2026-11-23T01:30:00+00:00'
    >>> parse_moment("2026-11-23T09:30", "since", ZoneInfo("Asia/Urumqi")).isoformat()
    '2026-11-23T09:30:00+06:00'
    >>> parse_moment("9999-12-31", "until", zone)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: until: 9999-12-31 is outside the years 1900 to 2100
    """
    if not isinstance(text, str):
        raise NotAMomentError(f"{field}: must be an ISO 8601 time as text, got {text!r}")
    day = _date_alone(text)
    if day is not None:
        check_year(day, field)
        return datetime.combine(day + timedelta(days=int(whole_day)), time(), tzinfo=zone)
    text = _SPACE_FOR_PLUS.sub(r"\1+\2", text.replace("Z", "+00:00").replace("z", "+00:00"))
    moment = check_year(_parsed(datetime.fromisoformat, text, field), field)
    if moment.tzinfo is None and require_offset:
        raise InputError(
            f"{field}: {text!r} needs a time zone, e.g. 2026-03-01T08:00:00+08:00 or …Z"
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _date_alone(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _parsed(parse, text: str, field: str):
    try:
        return parse(text)
    except ValueError:
        raise NotAMomentError(
            f"'{field}' must be an ISO 8601 time such as 2026-11-23 or "
            f"2026-11-23T09:30:00+08:00, got {text!r}"
        ) from None
