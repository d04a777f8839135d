"""A sample that lives: weeks of the closed loop and of patrols, made up for a demo district.

:func:`load_sample_history` fills a store that has boundaries but no reports with
what a street office's platform holds after ``days`` of work, so that every
queue, map layer and statistic shows something real on first start:

- **accounts**: a grid worker (网格员) per grid of the default level (``gw.<code>``,
  scope that grid, no password) and a handful of departments (``dept.*``: 城管执法,
  公安派出所, 消防救援, 市场监管, 住建, 生态环境; scope the top-level grids);
- **reports** where :mod:`geogrid.sample` puts them (hot spots over an even
  background), at the hours people report, each moved along the closed loop with
  plausible times between steps. The command centre (08:00–20:00; urgent matters
  at any hour) registers, dispatches by category to a department or to the grid's
  worker, verifies (returning some for rework) and closes; handling takes a share
  of the time the deadline leaves, now and then far more; each working morning at
  08:30 the reports overdue by a day or more are handed up a level (超期升级),
  as :meth:`Store.escalate_overdue` does; some reports are not accepted (不予受理);
  residents rate most of theirs once closed. Older reports are mostly closed,
  recent ones in every open state;
- **notifications** of the open reports (dispatched, returned, escalated; nearly
  overdue and overdue by :meth:`Store.sweep_warnings`), for the in-app lists;
- **patrol tracks** (巡查轨迹) of every grid worker over the last ``track_days``:
  mostly three patrols a day (一日三巡) along a loop inside the grid, some days
  short, a few grids never patrolled.

Rows are written as the store writes them (the same history actions and shapes,
every change traced to the principal ``"sample"`` in the audit trail) but in
bulk: the reports, their history and notices in one transaction, the tracks in
another, instead of a hundred thousand calls of :meth:`Store.transition`.

Deterministic: the same boundaries, category file, accounts, ``end``, ``days``
and ``seed`` give the same rows, tickets included (so sample tickets are
guessable; real ones are not).

The served app calls it on a new store when ``GEOGRID_SAMPLE_REPORTS`` is on::

    load_sample_history(store, now, days=90)   # about 20,000 reports, 60,000 tracks

Examples
--------
>>> from geogrid import Hierarchy
>>> district = Hierarchy.from_manifest("data/boundaries/sample.toml")
>>> accounts = sample_accounts(district)
>>> len(accounts), accounts[-1]["display_name"]
(231, '生态环境分局')
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import shapely

from geogrid.access.roles import action_of_transition
from geogrid.errors import GeogridError, InputError
from geogrid.hierarchy import Hierarchy
from geogrid.patrol.records import Track
from geogrid.reports import TICKET_ALPHABET, NewReport, ReportQuery
from geogrid.sample import _DESCRIPTIONS, _SOURCES, _locations
from geogrid.storage.audit import audit_row, insert_events
from geogrid.storage.loop import insert_notices, notice, warn_time
from geogrid.storage.rows import base_depth, crs_name, placement_columns
from geogrid.workflow import (
    CLOSED,
    DISPATCHED,
    FEEDBACK,
    IN_PROGRESS,
    RECEIVED,
    REGISTERED,
    STATUSES,
    VERIFIED,
)

if TYPE_CHECKING:
    from geogrid.storage.store import Store

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Who stores the sample: the principal of every audit event, and the command centre's.
SAMPLE = "sample"
#: Who rates: residents use the public page, signed in as nobody.
RESIDENT = "anonymous"
#: Reports a day (20,000 over 90 days, as the served sample always had).
REPORTS_PER_DAY = 20_000 / 90

#: Departments (职能部门): login name, display name, and the category codes they take,
#: matched by the longest code that is the category's or one of its parents'. Codes
#: another category file does not have are never matched: its reports go to grid workers.
DEPARTMENTS = (
    ("dept.urban", "城管执法中队", ("city",)),
    ("dept.police", "公安派出所", ("public_order", "safety.road")),
    ("dept.fire", "消防救援站", ("fire", "safety.hazmat")),
    ("dept.market", "市场监管所", ("city.vending", "public_order.fraud")),
    ("dept.housing", "住建管理站", ("safety", "city.construction", "dispute.property")),
    ("dept.environment", "生态环境分局", ("city.noise",)),
)
#: Share of a department's reports still settled in the grid by its worker (小事不出格).
GRID_SHARE = 0.3
#: Share of reports not accepted (不予受理), and of reports outside every grid kept.
REJECTED_SHARE = 0.04
OUTSIDE_KEPT = 0.1
REJECT_NOTES = ("重复上报，已并入前一事件", "不属于受理范围，已告知反映人转有关部门",
                "信息不全，多次联系反映人未果，无法核实", "经核实情况不属实")  # fmt: skip
OUTSIDE_NOTE = "不在本辖区范围内，已告知反映人"
FEEDBACK_NOTES = ("已到现场处置完毕", "已协调当事人，问题已解决", "已清理整改到位",
                  "已落实整改并拍照留档", "已联系产权单位修复")  # fmt: skip
RETURN_NOTES = ("核查不通过：现场仍未整改到位，请重新处置", "核查不通过：反馈照片与现场不符",
                "核查不通过：反映人表示问题依旧")  # fmt: skip
#: The note :meth:`Store.escalate_overdue` writes.
ESCALATION_NOTE = "超期升级 overdue: handed to the parent level"
RATING_NOTES = {5: ("处理很及时，谢谢网格员", "非常满意"), 4: ("基本解决了",),
                3: ("处理有点慢",), 2: ("拖了很久才处理",), 1: ("问题没有真正解决",)}  # fmt: skip
#: Residents' scores 1–5: mostly satisfied, as 满意度 surveys report.
RATING_WEIGHTS = (0.04, 0.04, 0.10, 0.25, 0.57)
#: When people report, by local hour: few at night, peaks mid-morning and afternoon.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 10, 8, 9, 11, 11, 10, 9, 8, 7, 6, 4, 3, 2)
#: The command centre's hours (local seconds of the day); the night duty takes urgent ones.
CENTRE_OPENS, CENTRE_CLOSES = 8 * 3600, 20 * 3600
#: The escalation sweep, each working morning (local seconds of the day): it hands up
#: the reports overdue by a day or more (the centre chases the others first).
SWEEP_AT = 8 * 3600 + 30 * 60
GRACE_S = 86400
#: Handling takes this share of the time left to the deadline (the median: some take
#: longer, and come close to it, 预警)...
WORK_SHARE = 0.4
#: ... and some reports' handling drags on, four to ten times the time it should take.
STUCK_SHARE = 0.05
#: Patrol shifts: name and the local hours a patrol may start in; a fix every FIX_S seconds.
SHIFTS = (("早巡", 7.5, 10.5), ("午巡", 13.5, 16.0), ("晚巡", 18.5, 20.5))
FIX_S = 30
#: Patrols a day of a worker (0, 1, 2, 3) and the share of grids never patrolled.
PATROLS_A_DAY = (0.03, 0.04, 0.08, 0.85)
MISSED_GRIDS = 0.03
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华"


class SampleRefusedError(GeogridError):
    """The sample history goes only into a store with active boundaries and no reports."""


@dataclass(frozen=True)
class SampleHistory:
    """What :func:`load_sample_history` stored, and how long each part took (seconds)."""

    reports: int
    statuses: dict[str, int]
    overdue: int
    escalated: int
    returned: int
    rejected: int
    rated: int
    accounts: int
    tracks: int
    track_days: int
    seconds: dict[str, float] = field(default_factory=dict)

    def to_text(self) -> str:
        """One line for the terminal.

        Examples
        --------
        >>> SampleHistory(3, {"closed": 3}, 0, 0, 0, 0, 1, 2, 0, 0, {"all": 1.0}).to_text()
        '3 reports (closed 3; 0 overdue, 0 escalated, 0 returned, 0 not accepted, 1 rated), 2 new accounts, 0 patrol tracks over 0 days, in 1.0 s'
        """  # noqa: E501
        states = ", ".join(f"{s} {n:,}" for s, n in self.statuses.items() if n)
        return (f"{self.reports:,} reports ({states}; {self.overdue:,} overdue, "
                f"{self.escalated:,} escalated, {self.returned:,} returned, {self.rejected:,} "
                f"not accepted, {self.rated:,} rated), {self.accounts:,} new accounts, "
                f"{self.tracks:,} patrol tracks over {self.track_days} days, "
                f"in {self.seconds.get('all', 0.0):.1f} s")  # fmt: skip


def load_sample_history(
    store: Store, end: datetime, days: int = 90, seed: int = 2026, *, reports: int | None = None,
    track_days: int | None = None,
) -> SampleHistory:  # fmt: skip
    """Fill a store without reports with ``days`` of sample life up to ``end`` (see above).

    ``reports`` defaults to 20,000 per 90 days and ``track_days`` to ``days``.
    Refused with :class:`SampleRefusedError` when the store holds reports already
    or has no active boundaries. Accounts that exist already are kept as they are,
    and a grid with a grid worker already keeps them (see :func:`add_sample_accounts`).

    Examples
    --------
    >>> import tempfile
    >>> from geogrid.storage import open_store
    >>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db")
    >>> load_sample_history(store, datetime(2026, 11, 23, tzinfo=UTC))
    Traceback (most recent call last):
    ...
    geogrid.samplelife.SampleRefusedError: no boundaries are active: import and activate a generation first
    """  # noqa: E501
    started = time.perf_counter()
    end, count, track_days = _checked(end, days, reports, track_days)
    hierarchy = _refuse_unless_empty(store)
    seconds: dict[str, float] = {}
    workers, made = _timed(seconds, "accounts", add_sample_accounts, store, hierarchy, seed)
    plan = _timed(seconds, "plan", plan_reports, store, hierarchy, workers, end, days, count,
                  seed)  # fmt: skip
    _timed(seconds, "reports", store_reports, store, plan, {"end": end.isoformat(),
           "days": days, "seed": seed})  # fmt: skip
    tracks = _timed(seconds, "tracks", store_tracks, store, hierarchy, workers, end,
                    track_days, seed)  # fmt: skip
    seconds["all"] = time.perf_counter() - started
    return plan.summary(made, tracks, track_days, {k: round(v, 2) for k, v in seconds.items()})


def _timed(seconds: dict, name: str, function, *args):
    started = time.perf_counter()
    result = function(*args)
    seconds[name] = time.perf_counter() - started
    return result


def _checked(end, days, reports, track_days) -> tuple[datetime, int, int]:
    if not isinstance(end, datetime) or end.tzinfo is None:
        raise InputError(f"end: needs a time with a time zone, got {end!r}")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
        raise InputError(f"days: a whole number of days from 1 to 366, got {days!r}")
    count = round(REPORTS_PER_DAY * days) if reports is None else reports
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 1_000_000:
        raise InputError(f"reports: a whole number from 0 to 1000000, got {count!r}")
    track_days = days if track_days is None else track_days
    if isinstance(track_days, bool) or not isinstance(track_days, int) or track_days < 0:
        raise InputError(f"track_days: a whole number of days, 0 or more, got {track_days!r}")
    return end.astimezone(UTC), count, min(track_days, days)


def _refuse_unless_empty(store: Store) -> Hierarchy:
    if store.active_generation_id() is None:
        raise SampleRefusedError("no boundaries are active: import and activate a generation "
                                 "first")  # fmt: skip
    stored = store.find_reports(ReportQuery(limit=1)).total
    if stored:
        raise SampleRefusedError(f"the store holds {stored:,} reports already: the sample "
                                 "history goes only into a store without reports")  # fmt: skip
    return store.hierarchy()


# --- accounts ----------------------------------------------------------------------------


def sample_accounts(hierarchy: Hierarchy, seed: int = 2026) -> list[dict]:
    """The sample's accounts: a worker per grid of the default level, then the departments.

    Examples
    --------
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> accounts = sample_accounts(h)
    >>> accounts[0]["name"], accounts[0]["role"], accounts[0]["display_name"][:4]
    ('gw.330399001001001', 'grid_worker', '网格员 ')
    >>> accounts[-1]["name"], accounts[-1]["role"]
    ('dept.environment', 'department')
    """
    rng = np.random.default_rng([seed, 1])
    codes = sorted(str(c) for c in hierarchy.grids(hierarchy.default_level)["code"])
    people = _person_names(rng, len(codes))
    workers = [{"name": f"gw.{code}", "role": "grid_worker", "scope": [code],
                "display_name": f"网格员 {person}"}
               for code, person in zip(codes, people, strict=True)]  # fmt: skip
    roots = sorted(str(c) for c in hierarchy.grids(hierarchy.levels[0])["code"])
    departments = [{"name": name, "role": "department", "scope": roots, "display_name": shown}
                   for name, shown, _ in DEPARTMENTS]  # fmt: skip
    return workers + departments


def _person_names(rng, count: int) -> list[str]:
    """Made-up names (a surname and one or two given characters), distinct while they last."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        given = rng.choice(list(GIVEN), int(rng.integers(1, 3)))
        name = str(rng.choice(list(SURNAMES))) + "".join(given)
        if name not in seen or len(seen) >= len(SURNAMES) * len(GIVEN) ** 2 // 2:
            seen.add(name)
            names.append(name)
    return names


def add_sample_accounts(
    store: Store, hierarchy: Hierarchy, seed: int
) -> tuple[dict[str, str], int]:
    """Store the :func:`sample_accounts` not there yet: (grid code → its worker, how many new).

    The mapping also names, by a sample department's login name, the account that
    stands in for it.

    A grid that has a grid worker already (an active ``grid_worker`` account whose
    scope is that one grid, such as the served app's ``demo.grid_worker``) keeps
    them as its worker: its reports and patrols are theirs, and no ``gw.`` account
    is made for it. Other accounts of the sample's names are kept as they are.
    """
    users = store.accounts.users()
    existing = {user.name for user in users}
    # Reversed: of two workers of one grid, the first made (the lower id) keeps it.
    taken = {user.scope[0]: user.name for user in reversed(users) if user.active
             and user.role == "grid_worker" and len(user.scope or ()) == 1}  # fmt: skip
    # A department account there already for the whole district (the served app's
    # demo.department) takes the first sample department's work, so its queue is alive.
    sample_names = {name for name, _, _ in DEPARTMENTS}
    standing = [user.name for user in users if user.active and user.role == "department"
                and user.scope is None and user.name not in sample_names]  # fmt: skip
    if standing:
        taken[DEPARTMENTS[0][0]] = standing[0]
    workers: dict[str, str] = {}
    made = 0
    for account in sample_accounts(hierarchy, seed):
        key = account["scope"][0] if account["role"] == "grid_worker" else account["name"]
        if key in taken:
            workers[key] = taken[key]
            continue  # the grid has its worker, or the department its account
        if account["role"] == "grid_worker":
            workers[key] = account["name"]
        if account["name"] not in existing:
            store.accounts.add_user(account["name"], account["role"], account["scope"],
                                    display_name=account["display_name"], actor=SAMPLE)  # fmt: skip
            made += 1
    return workers, made


def department_of(category: str, categories) -> str | None:
    """The department that takes a category (the longest matching code); None: the grid's worker.

    Examples
    --------
    >>> from geogrid.categories import CategoryTree
    >>> tree = CategoryTree.default()
    >>> department_of("city.noise", tree), department_of("city.rubbish", tree)
    ('dept.environment', 'dept.urban')
    >>> department_of("dispute.family", tree) is None
    True
    """
    found = [(len(code), name) for name, _, codes in DEPARTMENTS for code in codes
             if code in categories and f"{category}.".startswith(f"{code}.")]  # fmt: skip
    return max(found)[1] if found else None


# --- reports: their lives ----------------------------------------------------------------


@dataclass
class Plan:
    """The reports as the store's columns, their history rows, notices, and counts."""

    columns: dict
    history: list[tuple]  # (report index, at, actor, action, from, to, note, data)
    notices: list[tuple]  # (report index, at, kind, recipient, details)
    tally: Counter

    def summary(self, accounts: int, tracks: int, track_days: int, seconds) -> SampleHistory:
        statuses = Counter(self.columns["status"])
        return SampleHistory(
            reports=len(self.columns["index"]),
            statuses={s: statuses.get(s, 0) for s in STATUSES},
            overdue=self.tally["overdue"], escalated=self.tally["escalated"],
            returned=self.tally["returned"], rejected=self.tally["rejected"],
            rated=self.tally["rated"], accounts=accounts, tracks=tracks,
            track_days=track_days, seconds=seconds,
        )  # fmt: skip


def plan_reports(store: Store, hierarchy: Hierarchy, workers: dict[str, str], end: datetime,
                 days: int, count: int, seed: int) -> Plan:  # fmt: skip
    """The reports and their lives, in the order they were received (no database work)."""
    rng = np.random.default_rng([seed, 2])
    world = _World(store, hierarchy, workers, end)
    lon, lat, columns = _places(rng, hierarchy, count)
    draws = _draws(rng, store.categories, world, days, count)
    order = np.argsort(draws["received"], kind="stable")
    draws = {k: v[order] for k, v in draws.items()}
    draws["lon"], draws["lat"] = lon[order], lat[order]
    columns = {k: [v[i] for i in order] for k, v in columns.items()}
    lives = [_Life(world, i, draws, columns).run() for i in range(count)]
    return world.plan(columns, draws, lives, store.active_generation_id())


def _places(rng, hierarchy: Hierarchy, count: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Points where :mod:`geogrid.sample` puts reports and their places, as the store's
    columns; most points outside every grid are drawn again (a few stay: they happen)."""
    lon, lat, columns = np.empty(0), np.empty(0), {}
    while len(lon) < count:
        x, y = _locations(hierarchy, count, rng)
        placed = placement_columns(hierarchy, x, y)
        keep = (np.array(placed["assignment"]) != "unassigned") | (rng.random(count) < OUTSIDE_KEPT)
        lon, lat = np.concatenate([lon, x[keep]]), np.concatenate([lat, y[keep]])
        for name, values in placed.items():
            columns.setdefault(name, []).extend(v for v, k in zip(values, keep, strict=True) if k)
    return lon[:count], lat[:count], {k: v[:count] for k, v in columns.items()}


def _draws(rng, categories, world: _World, days: int, count: int) -> dict[str, np.ndarray]:
    """Every random number the reports' lives need, drawn at once, column by column."""
    names, weights = zip(*_SOURCES, strict=True)
    day = rng.integers(0, days, count)
    hour = rng.choice(24, count, p=np.array(HOUR_WEIGHTS) / sum(HOUR_WEIGHTS))
    midnight = (world.end + world.offset) // 86400 * 86400 - world.offset
    reported = midnight - day * 86400 + hour * 3600 + rng.integers(0, 3600, count)
    reported = np.where(reported >= world.end, reported - days * 86400, reported)
    source = rng.choice(names, count, p=weights)
    slow = np.isin(source, ["hotline", "resident"])  # typed in by someone, not sent from the spot
    delay = np.where(slow, rng.exponential(900, count), rng.exponential(120, count))
    return {"category": rng.choice([c.code for c in categories], count), "source": source,
            "reported": reported, "received": np.minimum(reported + delay.astype(np.int64),
                                                         world.end - 1),
            "uniform": rng.random((count, 10)), "lags": rng.lognormal(0.0, 0.7, (count, 8)),
            "ticket": rng.integers(0, len(TICKET_ALPHABET), (count, 12)),
            "rating": rng.choice(5, count, p=RATING_WEIGHTS) + 1}  # fmt: skip


class _World:
    """What the sample's reports live by: the end, the calendar, the departments, the sweep."""

    def __init__(self, store, hierarchy: Hierarchy, workers: dict[str, str], end: datetime):
        self.categories, self.calendar = store.categories, store.calendar
        self.share = store.warning_share
        self.workers, self.end = workers, int(end.timestamp())
        zone = ZoneInfo(self.calendar.timezone)
        # Local hours are counted with the offset at the end (a district with summer time
        # is an hour off for part of the year: the sample does not mind).
        self.offset = int(end.astimezone(zone).utcoffset().total_seconds())
        # A sample department some account stands in for is dispatched to that account.
        self.departments = {c.code: workers.get(name, name) if name else None
                            for c in self.categories
                            for name in [department_of(c.code, self.categories)]}  # fmt: skip
        self.rules = {c.code: self.categories.deadline_for(c.code) for c in self.categories}
        self.escalates = {c.code: self.categories.get(c.code).escalate for c in self.categories}
        self.descriptions = {c.code: _DESCRIPTIONS.get(c.code.split(".")[0], c.zh)
                             for c in self.categories}  # fmt: skip
        self.levels, self.base = len(hierarchy.levels), base_depth(hierarchy)
        self.worker_depth = hierarchy.levels.index(hierarchy.default_level)
        self._working_days: dict[int, bool] = {}

    def deadline(self, at: int, category: str) -> int | None:
        rule = self.rules[category]
        if rule is None:
            return None
        return int(self.calendar.deadline(datetime.fromtimestamp(at, UTC), rule).timestamp())

    def next_sweep(self, after: int) -> int:
        """The first escalation sweep after ``after``: 08:30 of a working day."""
        day = (after + self.offset) // 86400
        if (after + self.offset) % 86400 >= SWEEP_AT:
            day += 1
        while not self._working(day):
            day += 1
        return day * 86400 - self.offset + SWEEP_AT

    def _working(self, day: int) -> bool:
        """Whether local day number ``day`` (since 1970-01-01) is a working day."""
        if day not in self._working_days:
            moment = date(1970, 1, 1) + timedelta(days=day)
            self._working_days[day] = self.calendar.is_working_day(moment)
        return self._working_days[day]

    def plan(self, columns: dict, draws: dict, lives: list[_Life], generation_id) -> Plan:
        history, notices, tally = [], [], Counter()
        for life in lives:
            history += life.events
            tally.update(life.tally)
            if life.status != CLOSED:
                notices += life.notices
        columns.update(_report_columns(draws, lives, generation_id, self.descriptions))
        return Plan(columns, history, notices, tally)


def _local(at: int, offset: int) -> int:
    """Local seconds since midnight."""
    return (at + offset) % 86400


class _Life:
    """One report's way round the loop, cut off at the end: its events and final state."""

    def __init__(self, world: _World, i: int, draws: dict, columns: dict) -> None:
        self.world, self.i = world, i
        self.u, self.lag = draws["uniform"][i], draws["lags"][i]
        self.category, self.source = str(draws["category"][i]), str(draws["source"][i])
        self.codes = [columns[f"code{d}"][i] for d in range(world.levels)]
        self.depth = world.base if self.codes[world.base] else None
        self.now = int(draws["received"][i])
        self.status, self.events, self.notices, self.tally = RECEIVED, [], [], Counter()
        self.deadline = world.deadline(self.now, self.category)
        self.deadline_set, self.sweep = self.now, None
        # Urgent matters (due within a day) move quicker at every step, nights included.
        days = (self.deadline - self.now) / 86400 if self.deadline is not None else 4.0
        self.pace = min(1.0, max(0.05, days / 4))
        self.assignee = self.assigned_at = self.closed_at = self.rated_at = None
        self.escalations = self.returns = 0
        self.rating, self.rating_note = int(draws["rating"][i]), ""
        self._event(self.now, SAMPLE, "received", None, RECEIVED)

    def run(self) -> _Life:
        worker_code = self.codes[self.world.worker_depth]
        if worker_code is None or self.u[0] < REJECTED_SHARE:
            self._reject(outside=worker_code is None)
        else:
            self._loop(worker_code)
        self._sweep(self.world.end)
        open_late = self.status != CLOSED and (self.deadline or self.world.end) < self.world.end
        self.tally.update(overdue=open_late, escalated=self.escalations > 0,
                          returned=self.returns > 0, rated=self.rated_at is not None)  # fmt: skip
        return self

    def _reject(self, outside: bool) -> None:
        """不予受理: closed from received (or, now and then, after registering) with a note."""
        note = OUTSIDE_NOTE if outside else REJECT_NOTES[int(self.u[1] * len(REJECT_NOTES))]
        if not outside and self.u[2] < 0.4 and not self._centre(REGISTERED, 0.4):
            return
        self.tally["rejected"] += self._centre(CLOSED, 0.7, note)

    def _loop(self, worker_code: str) -> None:
        steps = (lambda: self._centre(REGISTERED, 0.4), lambda: self._dispatch(worker_code),
                 self._handle, self._work, self._check, lambda: self._centre(CLOSED, 2.0),
                 self._rate)  # fmt: skip
        for step in steps:
            if not step():
                return

    def _dispatch(self, worker_code: str) -> bool:
        department = self.world.departments[self.category]
        grid = department is None or self.u[3] < GRID_SHARE
        assignee = self.world.workers[worker_code] if grid else department
        due = datetime.fromtimestamp(self.deadline, UTC).isoformat() if self.deadline else None
        if not self._centre(DISPATCHED, 1.2, data={"assignee": assignee, "deadline": due}):
            return False
        self.assignee, self.assigned_at = assignee, self.now
        self._notice("dispatched", assignee, by=SAMPLE, deadline=due)
        return True

    def _handle(self) -> bool:
        hours = 1.0 if self.assignee.startswith("gw.") else 3.0
        return self._step(self.now + self._hours(hours, 2), self.assignee, IN_PROGRESS)

    def _work(self, rework: bool = False) -> bool:
        """Handling takes a share of the time left to the deadline; now and then far more."""
        left = max(3600, (self.deadline or self.now + 86400) - self.now)
        stuck = 4 + 6 * self.u[4] if self.u[5] < STUCK_SHARE else 1.0
        took = self._hours(4, 6) if rework else int(left * WORK_SHARE * self.lag[3] ** 0.85 * stuck)
        note = FEEDBACK_NOTES[int(self.u[6] * len(FEEDBACK_NOTES))]
        return self._step(self.now + took, self.assignee, FEEDBACK, note)

    def _check(self) -> bool:
        """核查: pass, or now and then return for rework (7 %; of those, 1 in 5 twice)."""
        for chance in (0.07, 0.014):
            if self.u[7] >= chance:
                break
            note = RETURN_NOTES[int(self.u[1] * len(RETURN_NOTES))]
            if not self._centre(IN_PROGRESS, 5.0, note):
                return False
            self.returns += 1
            self._notice("returned", self.assignee, by=SAMPLE, note=note)
            if not self._work(rework=True):
                return False
        return self._centre(VERIFIED, 5.0, "现场核查属实" if self.u[2] < 0.5 else "")

    def _rate(self) -> bool:
        """Residents rate most of their closed reports, within a day or two."""
        at = self.now + self._hours(8, 5)
        if self.source == "resident" and self.u[9] < 0.8 and at < self.world.end:
            notes = RATING_NOTES.get(self.rating, ("",))
            note = notes[int(self.u[6] * len(notes))] if self.u[8] < 0.3 else ""
            self._event(at, RESIDENT, "rated", CLOSED, CLOSED, note, {"score": self.rating})
            self.rated_at, self.rating_note = at, note
        return True

    def _hours(self, median: float, column: int) -> int:
        return int(median * 3600 * self.lag[column] * self.pace)

    def _centre(self, to: str, median_hours: float, note: str = "", data=None) -> bool:
        """A step of the command centre: after a lag; outside its hours, only urgent ones."""
        at = self.now + self._hours(median_hours, 0 if to in (REGISTERED, CLOSED) else 1)
        local = _local(at, self.world.offset)
        if self.pace >= 0.5 and not CENTRE_OPENS <= local < CENTRE_CLOSES:
            wait = (CENTRE_OPENS - local) % 86400
            at += wait + self._hours(0.3, 2)
        return self._step(at, SAMPLE, to, note, data)

    def _step(self, at: int, actor: str, to: str, note: str = "", data=None) -> bool:
        """Move to ``to`` at ``at``, unless that is past the end; escalations come first."""
        self._sweep(min(at, self.world.end))
        if at >= self.world.end:
            return False
        self._event(at, actor, "transition", self.status, to, note, data)
        self.now, self.status = at, to
        self.closed_at = at if to == CLOSED else None
        return True

    def _sweep(self, until: int) -> None:
        """Each working morning's escalation sweep, as :meth:`Store.escalate_overdue` does it."""
        while self._escalates():
            if self.sweep is None:  # the first sweep after the grace, once per deadline
                self.sweep = self.world.next_sweep(self.deadline + GRACE_S)
            sweep = self.sweep
            if sweep >= until:
                return
            self.sweep = None
            old, self.depth = self.codes[self.depth], self.depth - 1
            self.deadline, self.deadline_set = self.world.deadline(sweep, self.category), sweep
            handed = {"from": old, "to": self.codes[self.depth]}
            self._event(sweep, SAMPLE, "escalated", self.status, self.status, ESCALATION_NOTE,
                        handed)  # fmt: skip
            self._notice("escalated", None, at=sweep, to=handed["to"])
            self.escalations += 1

    def _escalates(self) -> bool:
        return bool(self.status != CLOSED and self.deadline is not None and self.depth
                    and self.codes[self.depth - 1] is not None
                    and self.world.escalates[self.category])  # fmt: skip

    def _event(self, at, actor, action, before, after, note="", data=None) -> None:
        # Data as the store writes it: none for "received", else JSON ("{}" when empty).
        text = json.dumps(data, ensure_ascii=False) if data else "{}"
        text = None if action == "received" else text
        self.events.append((self.i, at, actor, action, before, after, note, text))

    def _notice(self, kind: str, recipient: str | None, at: int | None = None, **details) -> None:
        self.notices.append((self.i, self.now if at is None else at, kind, recipient, details))

    def warn_at(self) -> int | None:
        """预警: a share of the way from when the deadline was set (received, escalated)."""
        if self.deadline is None:
            return None
        start, due = (datetime.fromtimestamp(t, UTC) for t in (self.deadline_set, self.deadline))
        return int(warn_time(start, due, self.world.share).timestamp())


def _report_columns(draws: dict, lives: list[_Life], generation_id: int | None,
                    descriptions: dict[str, str]) -> dict:  # fmt: skip
    """The reports' columns besides their places, as :meth:`Store.add_reports` names them."""
    count = len(lives)
    contents = [_content(draws, i, descriptions) for i in range(count)]
    rated = [life.rated_at is not None for life in lives]
    return {
        "index": list(range(count)),
        "external_id": [c.external_id for c in contents],
        "content_key": [c.content_key() for c in contents],
        "source": [c.source for c in contents], "category": [c.category for c in contents],
        "description": [c.description for c in contents],
        "reported_at": [c.reported_at for c in contents],
        "received_at": _times(draws["received"].tolist()),
        "received_lon": draws["lon"].tolist(), "received_lat": draws["lat"].tolist(),
        "received_crs": crs_name("WGS-84"), "lon": draws["lon"].tolist(),
        "lat": draws["lat"].tolist(), "generation_id": generation_id,
        "status": [life.status for life in lives],
        "handler_depth": [life.depth for life in lives],
        "handler_code": [None if life.depth is None else life.codes[life.depth]
                         for life in lives],
        "deadline": _times([life.deadline for life in lives]),
        "updated_at": _times([life.events[-1][1] for life in lives]),
        "ticket": _tickets(draws["ticket"]),
        "assignee": [life.assignee for life in lives],
        "assigned_at": _times([life.assigned_at for life in lives]),
        "warn_at": _times([life.warn_at() for life in lives]),
        "closed_at": _times([life.closed_at for life in lives]),
        "escalations": [life.escalations for life in lives],
        "returns": [life.returns for life in lives],
        "rating": [life.rating if r else None for life, r in zip(lives, rated, strict=True)],
        "rating_note": [life.rating_note if r else None
                        for life, r in zip(lives, rated, strict=True)],
        "rated_at": _times([life.rated_at for life in lives]),
        **{f"contact_{name}": None for name in ("name", "phone", "email", "device", "account")},
    }  # fmt: skip


def _content(draws: dict, i: int, descriptions: dict[str, str]) -> NewReport:
    """The report as it came in (its content key is computed from it, as at intake)."""
    category = str(draws["category"][i])
    return NewReport(category=category, lon=float(draws["lon"][i]), lat=float(draws["lat"][i]),
                     source=str(draws["source"][i]),
                     reported_at=datetime.fromtimestamp(int(draws["reported"][i]), UTC),
                     description=descriptions[category],
                     external_id=f"sample-life-{i}")  # fmt: skip


def _times(values: Sequence[int | None]) -> list[datetime | None]:
    return [None if v is None else datetime.fromtimestamp(v, UTC) for v in values]


def _tickets(symbols: np.ndarray) -> list[str]:
    """Ticket numbers from drawn symbols; a repeat (unlikely among 31^12) is turned."""
    alphabet = np.array(list(TICKET_ALPHABET))
    seen: set[str] = set()
    tickets = []
    for row in alphabet[symbols]:
        text = "".join(row)
        while text in seen:
            text = text[1:] + text[0]
        seen.add(text)
        tickets.append(f"{text[:4]}-{text[4:8]}-{text[8:]}")
    return tickets


# --- reports: storing them ---------------------------------------------------------------


def store_reports(store: Store, plan: Plan, about: dict) -> list[int]:
    """The planned reports, their history and notices in one transaction, with audit events."""
    db, now = store.db, store.clock()
    with db.transaction(share_generation=True) as tx:
        if db.active_generation(tx) != plan.columns["generation_id"]:
            raise SampleRefusedError("the boundaries changed while the sample was made; "
                                     "try again")  # fmt: skip
        if db.count_reports(tx, [], []):
            raise SampleRefusedError("reports arrived while the sample was made: the sample "
                                     "history goes only into a store without reports")  # fmt: skip
        ids = db.insert_report_columns(tx, plan.columns) if plan.columns["index"] else []
        db.insert_history_columns(tx, _history_columns(plan.history, ids))
        insert_notices(db, tx, _notice_rows(plan, ids, db))
        insert_events(db, tx, _audit(plan, ids, now, about))
    if ids:  # 预警 notices of what is nearly overdue or overdue at the end
        end = datetime.fromisoformat(about["end"])
        store.sweep_warnings(end, timedelta(days=about["days"]))
    return ids


def _history_columns(history: list[tuple], ids: list[int]) -> dict:
    """History as columns: each report's entries together, in time order (their ids keep it)."""
    rows = sorted(history, key=lambda row: (row[0], row[1]))
    names = ("report_id", "at", "actor", "action", "from_status", "to_status", "note", "data")
    columns = {name: [row[n] for row in rows] for n, name in enumerate(names)}
    columns["report_id"] = [ids[i] for i in columns["report_id"]]
    columns["at"] = _times(columns["at"])
    return columns


def _notice_rows(plan: Plan, ids: list[int], db) -> list[dict]:
    """Notices of the open reports, as the store's steps write them (keys included)."""
    columns, rows = plan.columns, []
    for i, at, kind, recipient, details in plan.notices:
        moment = datetime.fromtimestamp(at, UTC)
        deadline = columns["deadline"][i]
        brief = {"id": ids[i], "category": columns["category"][i], "status": columns["status"][i],
                 "assignee": columns["assignee"][i], "handler_code": columns["handler_code"][i],
                 "deadline": deadline.isoformat() if deadline else None}  # fmt: skip
        tail = details["to"] if kind == "escalated" else db.encode_time(moment)
        rows.append(notice(moment, kind, brief, recipient, f"{kind}:{ids[i]}:{tail}", **details))
    return rows


def _audit(plan: Plan, ids: list[int], now: datetime, about: dict) -> list[dict]:
    """One event per kind of change (as the store names them), each listing its reports."""
    if not ids:
        return []
    touched: dict[str, set[int]] = {}
    for i, _, _, action, before, after, _, _ in plan.history:
        kind = {"escalated": "report.escalate", "rated": "ticket"}.get(action)
        kind = kind or action_of_transition(before, after)
        if kind:
            touched.setdefault(kind, set()).add(ids[i])
    events = [audit_row(SAMPLE, now, "report.create", "report", None,
                        after={"ids": ids, "sample_history": about})]  # fmt: skip
    return events + [audit_row(SAMPLE, now, kind, "report", None,
                               after={"ids": sorted(found), "sample_history": about})
                     for kind, found in touched.items()]  # fmt: skip


# --- patrol tracks -----------------------------------------------------------------------


def sample_tracks(hierarchy: Hierarchy, workers: dict[str, str], end: datetime, days: int,
                  seed: int = 2026, timezone: str = "Asia/Shanghai") -> list[Track]:  # fmt: skip
    """Patrol tracks of each grid's worker over the ``days`` local days up to ``end``.

    Mostly three patrols a day (one per :data:`SHIFTS`, 15–35 minutes along a loop
    inside the grid, a fix every :data:`FIX_S` seconds), some days fewer, and a few
    grids (:data:`MISSED_GRIDS`, at least one) never patrolled. Only patrols over
    by ``end`` are made.

    Examples
    --------
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> end = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    >>> workers = {"330399001001001": "gw.330399001001001", "330399001001002": "gw.2"}
    >>> tracks = sample_tracks(h, workers, end, 2)
    >>> 0 < len(tracks) <= 6, len({t.worker for t in tracks})
    (True, 1)
    """
    rng = np.random.default_rng([seed, 3])
    grids = hierarchy.grids(hierarchy.default_level).set_index("code")
    codes = sorted(c for c in workers if c in grids.index)
    missed = set(rng.choice(codes, max(1, round(MISSED_GRIDS * len(codes))), replace=False)
                 if len(codes) > 1 else [])  # fmt: skip
    calendar = _days(end, days, ZoneInfo(timezone))
    tracks: list[Track] = []
    for code in codes:
        plans = _patrol_plans(rng, calendar)
        if code not in missed:
            loop = _patrol_loop(grids.geometry[code])
            tracks += _walks(rng, loop, workers[code], plans, int(end.timestamp()))
    return tracks


def _days(end: datetime, days: int, zone: ZoneInfo) -> list[tuple[str, int]]:
    """The local days up to ``end``: (ISO date, when it begins in UTC seconds)."""
    last = end.astimezone(zone).date()
    found = []
    for back in range(days - 1, -1, -1):
        day = last - timedelta(days=back)
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        found.append((day.isoformat(), int(midnight.timestamp())))
    return found


def _patrol_plans(rng, calendar: list[tuple[str, int]]) -> tuple[list[str], np.ndarray]:
    """Names and starts (UTC seconds) of one worker's patrols, day by day."""
    counts = rng.choice(len(PATROLS_A_DAY), len(calendar), p=PATROLS_A_DAY)
    starts = rng.random((len(calendar), len(SHIFTS)))
    names, times = [], []
    for (day, midnight), count, start in zip(calendar, counts, starts, strict=True):
        for shift in sorted(rng.permutation(len(SHIFTS))[:count]):
            name, opens, closes = SHIFTS[shift]
            names.append(f"{name} {day}")
            times.append(midnight + int(3600 * (opens + (closes - opens) * start[shift])))
    return names, np.array(times, dtype=np.int64)


def _patrol_loop(polygon) -> tuple:
    """A closed walk inside the grid: its lon, lat and the metres walked to each vertex."""
    if polygon.geom_type == "MultiPolygon":
        polygon = max(polygon.geoms, key=lambda part: part.area)
    point = polygon.representative_point()
    origin = np.array([point.x, point.y])
    scale = np.array([111_320.0 * np.cos(np.radians(point.y)), 110_574.0])  # metres a degree
    metric = shapely.transform(polygon, lambda xy: (xy - origin) * scale)
    size = np.sqrt(metric.area)
    inner = shapely.Point(0, 0).buffer(max(5.0, 0.05 * size)).intersection(metric)
    for share in (0.2, 0.1, 0.04):  # the widest inward buffer that leaves a polygon
        shrunk = metric.buffer(-share * size, quad_segs=2)
        if not shrunk.is_empty and shrunk.area > 0:
            inner = shrunk
            break
    if inner.geom_type == "MultiPolygon":
        inner = max(inner.geoms, key=lambda part: part.area)
    xy = shapely.get_coordinates(inner.exterior)
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    return xy, along, origin, scale


def _walks(rng, loop: tuple, worker: str, plans, end: int) -> list[Track]:
    """A worker's patrols along ``loop``: 15–35 minutes at a walk, GPS noise of 3 m."""
    xy, along, origin, scale = loop
    names, starts = plans
    fixes = rng.integers(15 * 60 // FIX_S, 35 * 60 // FIX_S + 1, len(names))
    speed, begin = rng.uniform(0.9, 1.4, len(names)), rng.random(len(names)) * along[-1]
    kept = starts + FIX_S * (fixes - 1) <= end  # only patrols over by the end
    names = [name for name, keep in zip(names, kept, strict=True) if keep]
    starts, fixes, speed, begin = starts[kept], fixes[kept], speed[kept], begin[kept]
    if not names:
        return []
    first = np.repeat(np.cumsum(fixes) - fixes, fixes)
    step = np.arange(first.size) - first  # the fix's number in its patrol
    walked = (np.repeat(begin, fixes) + step * FIX_S * np.repeat(speed, fixes)) % along[-1]
    at = np.column_stack([np.interp(walked, along, xy[:, 0]), np.interp(walked, along, xy[:, 1])])
    lon, lat = (origin + (at + rng.normal(0, 3.0, at.shape)) / scale).T
    seconds = np.repeat(starts, fixes) + step * FIX_S
    times = (seconds * 1_000_000_000).astype("datetime64[ns]")
    bounds = np.concatenate([[0], np.cumsum(fixes)])
    return [Track(name, worker, times[a:b], lon[a:b], lat[a:b], source=SAMPLE)
            for name, a, b in zip(names, bounds[:-1], bounds[1:], strict=True)]  # fmt: skip


def store_tracks(store: Store, hierarchy: Hierarchy, workers: dict[str, str], end: datetime,
                 days: int, seed: int) -> int:  # fmt: skip
    """Make :func:`sample_tracks` and store them in one transaction; how many were new.

    Rows as :func:`geogrid.storage.rows.track_row` makes them, in bulk: through
    :meth:`Store.add_tracks` 60,000 tracks take a minute, mostly in converting times.
    """
    if days == 0:
        return 0
    tracks = sample_tracks(hierarchy, workers, end, days, seed, store.calendar.timezone)
    if not tracks:
        return 0
    rows = track_rows(tracks)
    db, now = store.db, store.clock()
    with db.transaction() as tx:
        before = _track_count(db, tx)
        db.insert_tracks(tx, rows, SAMPLE, now)  # a track stored before is skipped
        stored = _track_count(db, tx) - before
        insert_events(db, tx, [audit_row(SAMPLE, now, "track.create", "track", None, after={
            "tracks": stored, "workers": sorted({t.worker for t in tracks}),
            "sample_history": {"end": end.isoformat(), "days": days, "seed": seed}})])  # fmt: skip
    return stored


def _track_count(db, tx) -> int:
    return db.rows(tx, "SELECT COUNT(*) AS n FROM patrol_tracks")[0]["n"]


def track_rows(tracks: Sequence[Track]) -> list[dict]:
    """:func:`~geogrid.storage.rows.track_row` of many tracks at once, the same rows, faster.

    Examples
    --------
    >>> from geogrid.storage.rows import track_row
    >>> t = Track("早巡", "gw.1", np.array(["2026-11-23T00:00", "2026-11-23T00:00:30.0000005"],
    ...           dtype="datetime64[ns]"), np.array([120.0, 120.001]), np.array([28.0, 28.0]))
    >>> track_rows([t]) == [track_row(t)]
    True
    """
    sizes = np.array([len(t.lon) for t in tracks])
    coords = np.column_stack([np.concatenate([t.lon for t in tracks]),
                              np.concatenate([t.lat for t in tracks])])  # fmt: skip
    lines = shapely.linestrings(coords, indices=np.repeat(np.arange(len(tracks)), sizes))
    one_point = sizes == 1
    if one_point.any():  # a line needs two points: the one repeated, as track_row does
        lines[one_point] = [shapely.linestrings(np.repeat(coords[[s]], 2, axis=0))
                            for s in np.cumsum(sizes)[one_point] - 1]  # fmt: skip
    wkb = shapely.to_wkb(lines)
    rows = []
    for track, geometry in zip(tracks, wkb, strict=True):
        ns = np.asarray(track.times, "datetime64[ns]").view(np.int64)
        rows.append({"digest": track.digest(), "worker": track.worker, "name": track.name,
                     "source": track.source, "started_at": _microseconds(int(ns[0]), -1),
                     "ended_at": _microseconds(int(ns[-1]), 1), "points": len(track.lon),
                     "times": ns.tobytes(), "geometry": geometry})  # fmt: skip
    return rows


def _microseconds(ns: int, rounding: int) -> datetime:
    """A UTC time given in nanoseconds, to the microsecond: down (``rounding`` -1) or up (1)."""
    micro = ns // 1000 if rounding < 0 else -(-ns // 1000)
    return EPOCH + timedelta(microseconds=micro)
