"""Report workflow rules: the closed loop (闭环流转), sources, categories and deadlines.

Everything here is pure Python with no database, so the storage layer and the web
app share one set of rules:

- **statuses** and the transitions between them: 受理 received → 登记 registered →
  分拨 dispatched → 处置 in progress → 反馈 feedback → 核查 verified → 结案 closed,
  plus rework (feedback → in progress, 核查不通过) and closing an invalid or
  duplicate report early (不予受理, which needs a note): :func:`check_transition`;
- **sources** of reports (网格员, 居民, 12345 热线 …): :func:`check_source`;
- the **category tree** with Chinese and English names and a deadline per
  category, loaded from TOML (``data/categories.toml`` by default):
  :class:`CategoryTree`;
- **deadlines** in calendar or working time (:class:`DeadlineRule`) and the
  **working calendar** that counts them, with national holidays and 调休 make-up
  days: :class:`WorkingCalendar`;
- **escalation** of an overdue report one level up the grid hierarchy:
  :func:`escalation_target`.

Examples
--------
>>> check_transition(RECEIVED, REGISTERED)
>>> allowed_next(FEEDBACK)
('in_progress', 'verified')
>>> tree = CategoryTree.default()
>>> str(tree.deadline_for("dispute.neighbour"))
'5 working_days'
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from geogrid.errors import GeogridError, InputError
from geogrid.tomlfile import read_toml, refuse_unknown_keys


class IllegalTransitionError(GeogridError):
    """A report cannot move from its current status to the one asked for."""


class UnknownCategoryError(InputError):
    """A report names a category that the category tree does not define."""


class ConfigError(GeogridError):
    """The category file (categories, deadlines, working calendar) is malformed."""


# ---------------------------------------------------------------------------
# Statuses and transitions
# ---------------------------------------------------------------------------

RECEIVED = "received"
REGISTERED = "registered"
DISPATCHED = "dispatched"
IN_PROGRESS = "in_progress"
FEEDBACK = "feedback"
VERIFIED = "verified"
CLOSED = "closed"

#: The closed loop, in order.
STATUSES = (RECEIVED, REGISTERED, DISPATCHED, IN_PROGRESS, FEEDBACK, VERIFIED, CLOSED)

#: Display names of each status: (Chinese, English).
STATUS_LABELS: dict[str, tuple[str, str]] = {
    RECEIVED: ("受理", "Received"),
    REGISTERED: ("登记", "Registered"),
    DISPATCHED: ("分拨", "Dispatched"),
    IN_PROGRESS: ("处置", "In progress"),
    FEEDBACK: ("反馈", "Feedback"),
    VERIFIED: ("核查", "Verified"),
    CLOSED: ("结案", "Closed"),
}

#: Statuses of reports still being worked on (every status but closed).
OPEN_STATUSES = STATUSES[:-1]

#: Allowed next statuses of each status, in loop order. A status never moves to
#: itself: a repeated "dispatch" is a re-dispatch, recorded as an event, not a move.
TRANSITIONS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        RECEIVED: (REGISTERED, CLOSED),
        REGISTERED: (DISPATCHED, CLOSED),
        DISPATCHED: (IN_PROGRESS,),
        IN_PROGRESS: (FEEDBACK,),
        # 核查不通过，返回处置: the checker sends the work back for rework.
        FEEDBACK: (IN_PROGRESS, VERIFIED),
        VERIFIED: (CLOSED,),
        CLOSED: (),
    }
)

#: Moves that need a note: closing before dispatch is 不予受理 (an invalid or
#: duplicate report), and the reporter is owed the reason.
NOTE_REQUIRED = frozenset({(RECEIVED, CLOSED), (REGISTERED, CLOSED)})


def check_status(status: str) -> str:
    """Return ``status`` if it is a known status, else raise :class:`InputError`.

    Examples
    --------
    >>> check_status("dispatched")
    'dispatched'
    >>> check_status("closd")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: unknown status 'closd'; did you mean 'closed'? valid statuses: received, registered, dispatched, in_progress, feedback, verified, closed
    """  # noqa: E501
    if status not in STATUS_LABELS:
        raise InputError(_unknown_name_message("status", "statuses", status, STATUSES))
    return status


def allowed_next(status: str) -> tuple[str, ...]:
    """The statuses a report at ``status`` may move to, in loop order.

    Examples
    --------
    >>> allowed_next("received")
    ('registered', 'closed')
    >>> allowed_next("closed")
    ()
    """
    return TRANSITIONS[check_status(status)]


def check_transition(current: str, target: str, note: str | None = None) -> None:
    """Refuse a status change that the closed loop does not allow.

    Parameters
    ----------
    current, target
        Status names (see :data:`STATUSES`).
    note
        Free text kept with the change; required (non-blank) when closing a
        report from received or registered (不予受理: invalid or duplicate).

    Raises
    ------
    InputError
        ``current`` or ``target`` is not a status, or ``note`` is not text.
    IllegalTransitionError
        The move is not in :data:`TRANSITIONS`, or it needs a note and has none;
        the message names both statuses and lists the allowed next ones.

    Examples
    --------
    >>> check_transition("feedback", "in_progress")   # 核查不通过, rework
    >>> check_transition("received", "closed", note="重复上报, 见 #1024")
    >>> check_transition("dispatched", "closed")
    Traceback (most recent call last):
    ...
    geogrid.workflow.IllegalTransitionError: cannot move a report from 分拨 Dispatched (dispatched) to 结案 Closed (closed); allowed next: 处置 In progress (in_progress)
    """  # noqa: E501
    next_statuses = allowed_next(current)
    check_status(target)
    if note is not None and not isinstance(note, str):
        raise InputError(f"a transition note must be text, got {type(note).__name__}")
    move = f"from {_describe(current)} to {_describe(target)}"
    if target not in next_statuses:
        raise IllegalTransitionError(
            f"cannot move a report {move}; {_allowed_text(current, next_statuses)}"
        )
    if (current, target) in NOTE_REQUIRED and not (note and note.strip()):
        raise IllegalTransitionError(
            f"moving a report {move} needs a note saying why it is not accepted "
            "(不予受理: invalid or duplicate report)"
        )


def _describe(status: str) -> str:
    zh, en = STATUS_LABELS[status]
    return f"{zh} {en} ({status})"


def _allowed_text(current: str, next_statuses: tuple[str, ...]) -> str:
    if not next_statuses:
        return f"{_describe(current)} is final: no status may follow it"
    names = [
        _describe(s) + (" with a note" if (current, s) in NOTE_REQUIRED else "")
        for s in next_statuses
    ]
    return "allowed next: " + ", ".join(names)


# ---------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------

#: Where a report comes from: (Chinese, English).
SOURCES: dict[str, tuple[str, str]] = {
    "grid_worker": ("网格员", "Grid worker"),
    "resident": ("居民", "Resident"),
    "hotline": ("12345热线", "12345 hotline"),
    "sensor": ("感知设备", "Sensor"),
    "patrol": ("巡查", "Patrol"),
    "other": ("其他", "Other"),
}


def check_source(name: str) -> str:
    """Return ``name`` if it is a known report source, else raise :class:`InputError`.

    Examples
    --------
    >>> check_source("hotline")
    'hotline'
    >>> check_source("12345")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: unknown source '12345'; valid sources: grid_worker, resident, hotline, sensor, patrol, other
    """  # noqa: E501
    if name not in SOURCES:
        raise InputError(_unknown_name_message("source", "sources", name, SOURCES))
    return name


def _unknown_name_message(kind: str, kinds: str, name: Any, valid: Iterable[str]) -> str:
    valid = list(valid)
    close = difflib.get_close_matches(str(name), valid, n=3)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ";"
    return f"unknown {kind} {name!r}{hint} valid {kinds}: {', '.join(valid)}"


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


# ---------------------------------------------------------------------------
# Category tree
# ---------------------------------------------------------------------------

_CODE_SEGMENT = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = {"timezone", "calendar", "category"}
_CALENDAR_KEYS = {"workdays", "hours", "holidays", "extra_workdays"}
_CATEGORY_KEYS = {"code", "parent", "zh", "en", "deadline", "escalate"}
DEFAULT_CATEGORIES = Path(__file__).resolve().parents[1] / "data" / "categories.toml"


@dataclass(frozen=True)
class Category:
    """One report category: an ASCII ``code`` such as ``"dispute.neighbour"`` and its names.

    ``deadline`` is the category's own deadline string, None to inherit the
    parent's (use :meth:`CategoryTree.deadline_for` for the effective rule).
    ``escalate`` says whether an overdue report moves one level up the grid
    hierarchy.

    Examples
    --------
    >>> Category("fire.lane", "消防通道堵塞", "Blocked fire lane", parent="fire").escalate
    True
    """

    code: str
    zh: str
    en: str
    parent: str | None = None
    deadline: str | None = None
    escalate: bool = True


class CategoryTree:
    """The configured report categories, their deadlines and the working calendar.

    A child's code is its parent's code, a dot and an ASCII segment
    (``"dispute"`` → ``"dispute.neighbour"``), and a parent is defined before
    its children, so the tree has no cycles. A category without a deadline takes
    its parent's; every top-level category needs one.

    Parameters
    ----------
    categories
        Categories, parents first.
    calendar
        The working calendar that counts working hours and days (default:
        Monday to Friday, 08:30–12:00 and 13:30–17:30, Asia/Shanghai, no holidays).
    source
        Where the categories come from, for error messages (the file name).

    Examples
    --------
    >>> tree = CategoryTree.default()
    >>> [c.code for c in tree.roots()]
    ['dispute', 'safety', 'public_order', 'fire', 'city']
    >>> tree.get("fire.lane").zh, str(tree.deadline_for("fire.lane"))
    ('消防通道堵塞', '24 hours')
    """

    def __init__(
        self,
        categories: Iterable[Category],
        calendar: WorkingCalendar | None = None,
        source: str = "categories",
    ) -> None:
        self.source = source
        self.calendar = WorkingCalendar() if calendar is None else calendar
        self._categories: dict[str, Category] = {}
        self._children: dict[str | None, list[Category]] = {None: []}
        self._rules: dict[str, DeadlineRule] = {}
        for category in categories:
            self._add(category)
        if not self._categories:
            raise ConfigError(f"{source}: defines no category; add at least one [[category]]")

    @classmethod
    def load(cls, path: str | Path) -> CategoryTree:
        """Read a category file; every problem names the file, the category and the key.

        Examples
        --------
        >>> len(CategoryTree.load("data/categories.toml").roots())
        5
        """
        path = Path(path)
        raw = _read_toml(path)
        _refuse_unknown_keys(raw, _TOP_KEYS, f"{path}")
        calendar = _parse_calendar(path, raw)
        tables = raw.get("category", [])
        if not isinstance(tables, list):
            raise ConfigError(f"{path}: 'category' must be an array of tables, [[category]]")
        categories = [_parse_category(path, i, table) for i, table in enumerate(tables, 1)]
        return cls(_inherit_escalate(categories, tables), calendar, source=str(path))

    @classmethod
    def default(cls) -> CategoryTree:
        """The packaged default tree, ``data/categories.toml``.

        Examples
        --------
        >>> CategoryTree.default().calendar.timezone
        'Asia/Shanghai'
        """
        return cls.load(DEFAULT_CATEGORIES)

    def __iter__(self) -> Iterator[Category]:
        return iter(self._categories.values())

    def __len__(self) -> int:
        return len(self._categories)

    def __contains__(self, code: object) -> bool:
        return code in self._categories

    def check(self, code: str) -> str:
        """Return ``code`` if it is defined, else raise :class:`UnknownCategoryError`.

        The message suggests close codes, also when given a Chinese or English name.

        Examples
        --------
        >>> tree = CategoryTree.default()
        >>> tree.check("dispute.neighbor")
        Traceback (most recent call last):
        ...
        geogrid.workflow.UnknownCategoryError: unknown category 'dispute.neighbor'; did you mean 'dispute.neighbour'?
        """  # noqa: E501
        if code not in self._categories:
            raise UnknownCategoryError(self._unknown_message(code))
        return code

    def get(self, code: str) -> Category:
        """The category with this code (:class:`UnknownCategoryError` if none)."""
        return self._categories[self.check(code)]

    def roots(self) -> tuple[Category, ...]:
        """The top-level categories, in file order."""
        return tuple(self._children[None])

    def children(self, code: str) -> tuple[Category, ...]:
        """The direct children of ``code``, in file order."""
        return tuple(self._children[self.check(code)])

    def descendants(self, code: str) -> tuple[Category, ...]:
        """``code`` itself and everything below it, parents before children.

        Examples
        --------
        >>> [c.code for c in CategoryTree.default().descendants("public_order.fraud")]
        ['public_order.fraud', 'public_order.fraud.telecom']
        """
        found = [self.get(code)]
        for child in self._children[code]:
            found.extend(self.descendants(child.code))
        return tuple(found)

    def deadline_for(self, code: str) -> DeadlineRule:
        """The deadline of ``code``: its own, else the nearest ancestor's."""
        return self._rules[self.check(code)]

    def deadline(self, code: str, received_at: datetime) -> datetime:
        """When a report of category ``code`` received at ``received_at`` is due (UTC).

        Examples
        --------
        >>> tree = CategoryTree.default()
        >>> at = datetime(2026, 9, 30, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        >>> tree.deadline("dispute.neighbour", at).isoformat()  # 国庆: Oct 1–7 off, Oct 10 on
        '2026-10-13T09:30:00+00:00'
        """
        return self.calendar.deadline(received_at, self.deadline_for(code))

    def to_dict(self) -> dict[str, Any]:
        """The tree as plain data for an API: nested categories with effective deadlines.

        Examples
        --------
        >>> node = CategoryTree.default().to_dict()["categories"][0]
        >>> node["code"], node["zh"], node["en"], node["deadline"], len(node["children"])
        ('dispute', '矛盾纠纷', 'Disputes', '5 working_days', 5)
        """
        return {
            "timezone": self.calendar.timezone,
            "categories": [self._node(c) for c in self.roots()],
        }

    def _node(self, category: Category) -> dict[str, Any]:
        return {
            "code": category.code,
            "zh": category.zh,
            "en": category.en,
            "deadline": str(self._rules[category.code]),
            "escalate": category.escalate,
            "children": [self._node(c) for c in self._children[category.code]],
        }

    def _add(self, category: Category) -> None:
        where = f"{self.source}: category {category.code!r}"
        if category.code in self._categories:
            raise ConfigError(f"{where}: 'code' is defined twice")
        _check_code(category, where, self._categories)
        self._rules[category.code] = self._own_or_inherited_rule(category, where)
        self._categories[category.code] = category
        self._children[category.code] = []
        self._children[category.parent].append(category)

    def _own_or_inherited_rule(self, category: Category, where: str) -> DeadlineRule:
        if category.deadline is not None:
            try:
                return DeadlineRule.parse(category.deadline)
            except InputError as exc:
                raise ConfigError(f"{where}: bad 'deadline': {exc}") from None
        if category.parent is None:
            raise ConfigError(
                f"{where}: 'deadline' is required on a top-level category "
                '(its children inherit it), e.g. deadline = "5 working_days"'
            )
        return self._rules[category.parent]

    def _unknown_message(self, code: Any) -> str:
        # People also type the Chinese or English name, or only the last segment.
        names: dict[str, str] = {}
        for c in reversed(self._categories.values()):  # reversed: parents win ties
            names |= {c.code.rpartition(".")[2]: c.code, c.zh: c.code, c.en.lower(): c.code}
        names |= {c: c for c in self._categories}
        codes = _closest(str(code).lower(), names)
        if codes:
            return f"unknown category {code!r}; did you mean {' or '.join(map(repr, codes))}?"
        roots = ", ".join(c.code for c in self.roots())
        return f"unknown category {code!r}; top-level categories: {roots}"


def _closest(word: str, names: dict[str, str]) -> list[str]:
    """Codes whose names are within 0.1 of the best match of ``word`` (ratio ≥ 0.6)."""
    scores: dict[str, float] = {}
    for name, code in names.items():
        ratio = difflib.SequenceMatcher(None, word, name).ratio()
        scores[code] = max(scores.get(code, 0.0), ratio)
    best = max(scores.values(), default=0.0)
    ranked = sorted(scores, key=lambda code: -scores[code])
    return [code for code in ranked if scores[code] >= max(0.6, best - 0.1)][:3]


def _check_code(category: Category, where: str, earlier: dict[str, Category]) -> None:
    code, parent = category.code, category.parent
    if not isinstance(code, str) or not all(map(_CODE_SEGMENT.match, code.split("."))):
        raise ConfigError(
            f"{where}: 'code' must be dot-separated ASCII segments such as 'dispute.neighbour'"
        )
    if parent is None:
        if "." in code:
            raise ConfigError(f"{where}: 'parent' is missing; the code says it has one")
        return
    if parent not in earlier:
        raise ConfigError(
            f"{where}: 'parent' = {parent!r} is not a category defined before this one"
        )
    if code.rpartition(".")[0] != parent:
        raise ConfigError(f"{where}: 'code' must be the parent's code and one more segment")


def _read_toml(path: Path) -> dict[str, Any]:
    return read_toml(path, ConfigError, "category file")


def _refuse_unknown_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    refuse_unknown_keys(table, allowed, where, ConfigError)


def _parse_calendar(path: Path, raw: dict[str, Any]) -> WorkingCalendar:
    table = raw.get("calendar", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: 'calendar' must be a table, [calendar]")
    _refuse_unknown_keys(table, _CALENDAR_KEYS, f"{path}: [calendar]")
    try:
        return WorkingCalendar(timezone=raw.get("timezone", "Asia/Shanghai"), **table)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _parse_category(path: Path, number: int, table: Any) -> Category:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: category #{number} must be a table, [[category]]")
    code = table.get("code")
    if not isinstance(code, str) or not code:
        raise ConfigError(f"{path}: category #{number}: 'code' is required, e.g. code = \"fire\"")
    where = f"{path}: category {code!r}"
    _refuse_unknown_keys(table, _CATEGORY_KEYS, where)
    for key, required in (("zh", True), ("en", True), ("parent", False), ("deadline", False)):
        _check_text(table, key, required, where)
    if not isinstance(table.get("escalate", True), bool):
        raise ConfigError(f"{where}: 'escalate' must be true or false, got {table['escalate']!r}")
    return Category(
        code,
        table["zh"],
        table["en"],
        table.get("parent"),
        table.get("deadline"),
        table.get("escalate", True),
    )


def _check_text(table: dict[str, Any], key: str, required: bool, where: str) -> None:
    value = table.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: '{key}' must be a non-empty string, got {value!r}")


def _inherit_escalate(categories: list[Category], tables: list[dict]) -> list[Category]:
    # A category without its own 'escalate' follows its parent, so turning
    # escalation off for a branch needs one line, not one per child.
    escalate: dict[str, bool] = {}
    result = []
    for category, table in zip(categories, tables, strict=True):
        if "escalate" not in table and category.parent in escalate:
            category = replace(category, escalate=escalate[category.parent])
        escalate[category.code] = category.escalate
        result.append(category)
    return result


# ---------------------------------------------------------------------------
# Escalation
# ---------------------------------------------------------------------------


def escalation_target(levels: Sequence[str], current_level: str) -> str | None:
    """The level an overdue report escalates to: the parent of its handling level.

    "小事不出社，大事不出街": a report is handled at the lowest level that can
    handle it, and goes one level up only when it is overdue or beyond that
    level — never straight to the top. ``levels`` are the hierarchy's level
    keys, top first (as :attr:`geogrid.Hierarchy.levels`); the top level has
    nowhere to escalate to and gives None.

    Examples
    --------
    >>> levels = ["street", "community", "grid", "microgrid"]
    >>> escalation_target(levels, "grid")
    'community'
    >>> escalation_target(levels, "street") is None
    True
    """
    levels = list(levels)
    if current_level not in levels:
        raise InputError(_unknown_name_message("level", "levels", current_level, levels))
    index = levels.index(current_level)
    return levels[index - 1] if index > 0 else None
