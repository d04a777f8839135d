"""Deadlines in calendar or working time, and the working calendar that counts them.

A category's deadline is a :class:`DeadlineRule` ("3 working_days", "24 hours");
the :class:`WorkingCalendar` counts working time with the district's working
hours, national holidays and 调休 make-up working days, in the district's zone.

Examples
--------
>>> rule = DeadlineRule.parse("2 working_hours")
>>> str(rule)
'2 working_hours'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from geogrid.errors import ConfigError, InputError

# ---------------------------------------------------------------------------
# Deadlines
# ---------------------------------------------------------------------------

DEADLINE_UNITS = ("hours", "days", "working_hours", "working_days")
# The singular ("1 working_day") is accepted too; the regex strips the final "s".
_DEADLINE_PATTERN = re.compile(r"^\s*(\d+)\s+([a-z_]+?)s?\s*$")


@dataclass(frozen=True)
class DeadlineRule:
    """How long a category may take: ``amount`` of ``unit`` (see :data:`DEADLINE_UNITS`).

    ``hours`` and ``days`` are elapsed time, nights and holidays included;
    ``working_hours`` count only time inside working periods on working days;
    ``working_days`` end at the close of business of the n-th working day after
    the day of receipt (see :meth:`WorkingCalendar.deadline`).

    Examples
    --------
    >>> rule = DeadlineRule.parse("5 working_days")
    >>> rule.amount, rule.unit, str(rule)
    (5, 'working_days', '5 working_days')
    >>> str(DeadlineRule.parse("1 hour"))
    '1 hours'
    """

    amount: int
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in DEADLINE_UNITS:
            raise InputError(f"unknown deadline unit {self.unit!r}; expected one of {_UNITS_TEXT}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 1:
            raise InputError(f"a deadline amount must be a whole number ≥ 1, got {self.amount!r}")

    @classmethod
    def parse(cls, text: str) -> DeadlineRule:
        """Parse ``"<n> <unit>"``, e.g. ``"4 hours"`` or ``"3 working_days"``."""
        match = _DEADLINE_PATTERN.match(text) if isinstance(text, str) else None
        if not match or match.group(2) + "s" not in DEADLINE_UNITS or int(match.group(1)) < 1:
            raise InputError(
                f"{text!r} is not a deadline; expected '<n> <unit>' with a whole n ≥ 1 "
                f"and unit one of {_UNITS_TEXT}"
            )
        return cls(int(match.group(1)), match.group(2) + "s")

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}"


_UNITS_TEXT = ", ".join(DEADLINE_UNITS)


def _aware_utc(value: datetime, name: str) -> datetime:
    # Naive datetimes are refused rather than guessed: a report's time zone is
    # the one thing that decides whether it arrived before or after hours.
    if not isinstance(value, datetime):
        raise InputError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(
            f"{name} = {value.isoformat()} is a naive datetime; give it a time zone, "
            "e.g. tzinfo=ZoneInfo('Asia/Shanghai')"
        )
    return value.astimezone(UTC)


def is_overdue(deadline: datetime, now: datetime | None = None) -> bool:
    """Whether ``now`` (default: the current time) is past ``deadline``.

    Both must be timezone-aware; a report finished exactly at its deadline is on time.

    Examples
    --------
    >>> due = datetime(2026, 3, 2, 17, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # 09:30 UTC
    >>> is_overdue(due, datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    False
    >>> is_overdue(due, datetime(2026, 3, 2, 9, 31, tzinfo=UTC))
    True
    """
    due = _aware_utc(deadline, "deadline")
    current = datetime.now(UTC) if now is None else _aware_utc(now, "now")
    return current > due


# ---------------------------------------------------------------------------
# Working calendar
# ---------------------------------------------------------------------------

_PERIOD_PATTERN = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class WorkingCalendar:
    """When the office works: time zone, weekdays, daily periods, holidays, 调休 days.

    Parameters
    ----------
    timezone
        IANA name of the local time zone, e.g. ``"Asia/Shanghai"``.
    workdays
        ISO weekdays that are working days (1 = Monday … 7 = Sunday).
    hours
        Working periods of each working day, ``"HH:MM-HH:MM"``, in order and
        not overlapping; ``"24:00"`` may end the last one.
    holidays
        Days off even if they fall on a workday (national holidays).
    extra_workdays
        Days that are working days even on a weekend (调休 make-up days).

    Dates may be :class:`datetime.date` objects or ``"YYYY-MM-DD"`` strings.
    Bad values raise :class:`ConfigError` naming the key.

    Examples
    --------
    >>> cal = WorkingCalendar(holidays=["2026-10-01"], extra_workdays=["2026-10-10"])
    >>> cal.is_working_day(date(2026, 10, 1)), cal.is_working_day(date(2026, 10, 10))
    (False, True)
    >>> start = datetime(2026, 3, 6, 16, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # Friday
    >>> cal.deadline(start, DeadlineRule.parse("2 working_hours")).isoformat()
    '2026-03-09T01:30:00+00:00'
    """

    timezone: str = "Asia/Shanghai"
    workdays: tuple[int, ...] = (1, 2, 3, 4, 5)
    hours: tuple[str, ...] = ("08:30-12:00", "13:30-17:30")
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    _tz: ZoneInfo = field(init=False, repr=False, compare=False)
    _periods: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen, so the normalised values are set through object.__setattr__.
        set_ = object.__setattr__
        set_(self, "_tz", _parse_timezone(self.timezone))
        set_(self, "workdays", _parse_workdays(self.workdays))
        set_(self, "hours", tuple(_as_list(self.hours, "hours", "'HH:MM-HH:MM' periods")))
        set_(self, "_periods", _parse_periods(self.hours))
        set_(self, "holidays", _parse_dates(self.holidays, "holidays"))
        set_(self, "extra_workdays", _parse_dates(self.extra_workdays, "extra_workdays"))
        both = sorted(self.holidays & self.extra_workdays)
        if both:
            raise ConfigError(
                f"'extra_workdays' and 'holidays' both list {', '.join(map(str, both))}"
            )

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day: a 调休 day, or a workday that is no holiday.

        A timezone-aware datetime stands for its local date in this calendar.
        """
        if isinstance(day, datetime):
            day = self._local_date(_aware_utc(day, "day"))
        if day in self.extra_workdays:
            return True
        return day.isoweekday() in self.workdays and day not in self.holidays

    def deadline(self, start: datetime, rule: DeadlineRule | str) -> datetime:
        """When a report received at ``start`` is due under ``rule``, in UTC.

        - ``hours`` / ``days``: plain addition of elapsed time.
        - ``working_hours``: only time inside working periods on working days
          counts; the deadline is the first instant by which n hours have passed
          (so it may be exactly the end of a period, e.g. 17:30).
        - ``working_days``: "n 个工作日内办结" — by the close of business (end of
          the last working period) of the n-th working day *after* the day of
          receipt. The day of receipt never counts, whatever the hour, as in
          《民法典》第二百零一条 (开始的当日不计入); a report received on a
          weekend or holiday starts counting at the next working day.

        Examples
        --------
        >>> cal = WorkingCalendar()
        >>> friday_evening = datetime(2026, 3, 6, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        >>> cal.deadline(friday_evening, "1 working_days").isoformat()  # Monday 17:30
        '2026-03-09T09:30:00+00:00'
        >>> cal.deadline(friday_evening, "4 hours").isoformat()
        '2026-03-06T16:00:00+00:00'
        """
        start = _aware_utc(start, "start")
        if isinstance(rule, str):
            rule = DeadlineRule.parse(rule)
        if not isinstance(rule, DeadlineRule):
            raise InputError(f"rule must be a DeadlineRule or a string, got {rule!r}")
        if rule.unit == "hours":
            return start + timedelta(hours=rule.amount)
        if rule.unit == "days":
            return start + timedelta(days=rule.amount)
        if rule.unit == "working_hours":
            return self._add_working_time(start, timedelta(hours=rule.amount))
        return self._close_of_nth_working_day(start, rule.amount)

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from ``a`` to ``b`` (negative if ``b`` is before ``a``).

        Examples
        --------
        >>> cal = WorkingCalendar()
        >>> shanghai = ZoneInfo("Asia/Shanghai")
        >>> a = datetime(2026, 3, 6, 11, 0, tzinfo=shanghai)   # Friday morning
        >>> b = datetime(2026, 3, 9, 9, 0, tzinfo=shanghai)    # Monday morning
        >>> cal.working_time_between(a, b)
        datetime.timedelta(seconds=19800)
        """
        a, b = _aware_utc(a, "a"), _aware_utc(b, "b")
        if b < a:
            return -self.working_time_between(b, a)
        total = timedelta(0)
        day, last = self._local_date(a), self._local_date(b)
        while day <= last:
            for begin, end in self._periods_on(day):
                total += max(timedelta(0), min(end, b) - max(begin, a))
            day += timedelta(days=1)
        return total

    def close_of_business(self, day: date) -> datetime | None:
        """End of the last working period of ``day`` in UTC, or None on a day off."""
        periods = self._periods_on(day)
        return periods[-1][1] if periods else None

    def _add_working_time(self, start: datetime, amount: timedelta) -> datetime:
        # Terminates: there is at least one workday a week and finitely many holidays.
        remaining, day = amount, self._local_date(start)
        while True:
            for begin, end in self._periods_on(day):
                begin = max(begin, start)
                if begin >= end:
                    continue
                if remaining <= end - begin:
                    return begin + remaining
                remaining -= end - begin
            day += timedelta(days=1)

    def _close_of_nth_working_day(self, start: datetime, n: int) -> datetime:
        day, counted = self._local_date(start), 0
        while counted < n:
            day += timedelta(days=1)
            counted += self.is_working_day(day)
        return self._periods_on(day)[-1][1]

    @property
    def zone(self) -> ZoneInfo:
        """The district's time zone: a time typed without an offset is read in it.

        Examples
        --------
        >>> WorkingCalendar(timezone="Asia/Urumqi").zone
        zoneinfo.ZoneInfo(key='Asia/Urumqi')
        """
        return self._tz

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self._tz).date()

    def _periods_on(self, day: date) -> list[tuple[datetime, datetime]]:
        if not self.is_working_day(day):
            return []
        # Wall-clock arithmetic on the local midnight, then UTC: "08:30" means
        # 08:30 on the office clock, and "24:00" the next local midnight.
        midnight = datetime.combine(day, time(0), tzinfo=self._tz)
        return [
            (
                (midnight + timedelta(minutes=begin)).astimezone(UTC),
                (midnight + timedelta(minutes=end)).astimezone(UTC),
            )
            for begin, end in self._periods
        ]


def _as_list(values: Any, key: str, what: str) -> list[Any]:
    # A bare string is iterable too, but "08:30-12:00" alone is a typo for a list.
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ConfigError(f"'{key}' must be a list of {what}, got {values!r}")
    return list(values)


def _parse_timezone(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(
            f"'timezone' = {name!r} is not an IANA time zone, e.g. 'Asia/Shanghai'"
        ) from None


def _parse_workdays(values: Any) -> tuple[int, ...]:
    days = _as_list(values, "workdays", "ISO weekdays 1–7")
    bad = [d for d in days if isinstance(d, bool) or d not in range(1, 8)]
    if bad or not days or len(set(days)) != len(days):
        raise ConfigError(
            f"'workdays' = {days!r}: need distinct ISO weekdays 1 (Monday) to 7 (Sunday)"
        )
    return tuple(sorted(days))


def _parse_periods(values: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    if not values:
        raise ConfigError("'hours' must list at least one working period, e.g. '08:30-12:00'")
    periods = [_parse_period(text) for text in values]
    for (_, end), (begin, _) in pairwise(periods):
        if begin < end:
            raise ConfigError(
                f"'hours' = {list(values)!r}: periods must be in order and must not overlap"
            )
    return tuple(periods)


def _parse_period(text: Any) -> tuple[int, int]:
    match = _PERIOD_PATTERN.match(text) if isinstance(text, str) else None
    if match:
        h1, m1, h2, m2 = map(int, match.groups())
        begin, end = h1 * 60 + m1, h2 * 60 + m2
        if m1 < 60 and m2 < 60 and 0 <= begin < end <= _MINUTES_PER_DAY:
            return begin, end
    raise ConfigError(
        f"'hours' entry {text!r} is not a period 'HH:MM-HH:MM' within one day, e.g. '08:30-12:00'"
    )


def _parse_dates(values: Any, key: str) -> frozenset[date]:
    return frozenset(_parse_date(value, key) for value in _as_list(values, key, "dates"))


def _parse_date(value: Any, key: str) -> date:
    # TOML gives bare 2026-10-01 as a date and "2026-10-01" as a string: take both.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ConfigError(f"'{key}' entry {value!r} is not a date 'YYYY-MM-DD'") from None
