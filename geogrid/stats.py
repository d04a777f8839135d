"""Assessment statistics (考核): how each unit and each person handled the closed loop in a period.

One row per unit of a level (``by="grid"``: any level key of the active
boundaries, e.g. a street, a community, a grid) or per person (``by="worker"``:
the accounts with the role ``grid_worker``; ``by="department"``: the role
``department``; a person's reports are those dispatched to them, by the report's
current ``assignee``). The period is ``since`` … ``until``: aware times, ``until``
excluded (the command line and the page make it the end of the last local day).

Definitions (the README says the same):

=====================  ===================================================================
column                 meaning
=====================  ===================================================================
received               reports received in the period (受理; for a person: dispatched to
                       them in the period, ``assigned_at``)
closed                 reports closed in the period (结案, ``closed_at`` in it), whenever
                       received; 不予受理 (closed early with a note) counts as closed
closure_rate           结案率: of the reports received in the period, the share closed by
                       the end of the period (``closed_of_received`` / ``received``)
on_time_rate           按期办结率: of the reports closed in the period, the share closed no
                       later than their deadline and never escalated (an escalation sets a
                       new deadline, but the report was late already); a report with no
                       deadline is on time
overdue                open now (at ``now``), past its deadline: a snapshot, not a count of
                       the period
escalated              of the reports received in the period, those escalated (超期升级)
                       at least once by now
mean_hours_to_close    mean hours from receipt (for a person: from dispatch) to closing,
                       over the reports closed in the period; calendar hours
p90_hours_to_close     their 90th percentile (linear interpolation, as numpy's and
                       PostgreSQL's ``percentile_cont``)
returned               of the reports received in the period, those returned for rework
                       (核查不通过) at least once by now
satisfaction           mean residents' rating (1–5) of the ratings given in the period
satisfied_rate         满意率: the share of those ratings that are 4 or 5
rated                  how many ratings were given in the period
patrol_compliance      一日三巡达标率: the share of grid-days of the period meeting the patrol
                       rule (:class:`~geogrid.patrol.compliance.PatrolRule`, three patrols a
                       day by default), counted from the stored tracks on the grids of the
                       patrol level (the boundaries' default level, or ``level`` when it is
                       finer); a unit above it counts its grids' grid-days; a grid worker
                       the grid-days of the grids of their scope, by their own patrols; a
                       department has none. Only local days that have ended by ``now``
                       count; empty when none has.
closed_of_received     of the reports received in the period, those closed by its end
on_time                of the reports closed in the period, those closed on time
patrol_days, patrol_days_met    the grid-days counted, and those that met the rule
=====================  ===================================================================

Rates are fractions (0–1), empty (NaN) when nothing was counted; hours have two
decimals. Units are those of the active boundaries; reports assigned under codes
a redraw retired are not counted for any unit.

Speed: the reports are read in ONE grouped query over ``reports`` (columns
``code0`` … ``code5`` hold each level's code), with every count a conditional
aggregate (``FILTER``) and each group's durations (seconds) as one string that
numpy reads. Units are grouped by the grids of the default level (or a finer
level's) and summed up the tree of the active boundaries, durations joined for
the percentile; so every level asks the same query, which a covering index
on that code column, ``assignee`` and the columns read answers without reading the
wide rows (1,000,000 reports on SQLite: about 1.5 s instead of 5 s).

Examples
--------
>>> import tempfile
>>> from datetime import UTC, datetime
>>> from geogrid import Hierarchy
>>> from geogrid.storage import open_store
>>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db")
>>> _ = store.import_generation(Hierarchy.from_manifest("data/boundaries/sample.toml"),
...                             "2026", activate=True)
>>> table = assessment(store, "street", datetime(2026, 11, 1, tzinfo=UTC),
...                    datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC),
...                    patrol=False)
>>> list(table.columns[:5])
['code', 'name', 'received', 'closed', 'closure_rate']
>>> int(table["received"].sum())
0
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geogrid.errors import InputError
from geogrid.patrol.compliance import PatrolRule, compliance_table, count_patrols
from geogrid.patrol.tracks import visits_of_tracks
from geogrid.storage.rows import aware_utc
from geogrid.storage.sqlite import SqliteDialect

#: Every column, in order; the first nine are the command's promise.
COLUMNS = (
    "code", "name", "received", "closed", "closure_rate", "on_time_rate", "overdue",
    "escalated", "mean_hours_to_close", "p90_hours_to_close", "returned", "satisfaction",
    "satisfied_rate", "rated", "patrol_compliance", "closed_of_received", "on_time",
    "patrol_days", "patrol_days_met",
)  # fmt: skip
#: The counts among them (integers, 0 when nothing).
COUNTS = ("received", "closed", "overdue", "escalated", "returned", "rated",
          "closed_of_received", "on_time", "patrol_days", "patrol_days_met")  # fmt: skip
#: The rates among them (fractions 0–1: shown as percentages).
RATES = ("closure_rate", "on_time_rate", "satisfied_rate", "patrol_compliance")
#: Column headings: (Chinese, English).
LABELS = {
    "code": ("编码", "Code"), "name": ("名称", "Name"), "received": ("受理数", "Received"),
    "closed": ("结案数", "Closed"), "closure_rate": ("结案率", "Closure rate"),
    "on_time_rate": ("按期办结率", "On-time rate"), "overdue": ("当前超期", "Overdue now"),
    "escalated": ("升级数", "Escalated"),
    "mean_hours_to_close": ("平均办结时长(小时)", "Mean hours to close"),
    "p90_hours_to_close": ("90%办结时长(小时)", "P90 hours to close"),
    "returned": ("返工数", "Returned for rework"), "satisfaction": ("满意度(1–5)", "Satisfaction"),
    "satisfied_rate": ("满意率", "Satisfied rate"), "rated": ("评价数", "Ratings"),
    "patrol_compliance": ("一日三巡达标率", "Patrol compliance"),
    "closed_of_received": ("受理且结案数", "Received and closed"),
    "on_time": ("按期办结数", "Closed on time"), "patrol_days": ("巡查网格日", "Grid-days"),
    "patrol_days_met": ("达标网格日", "Grid-days met"),
}  # fmt: skip
#: What ``by`` may be besides a unit of a level: the role whose accounts are rows.
PEOPLE = {"worker": "grid_worker", "department": "department"}
BY = ("grid", *PEOPLE)
#: Days of tracks read and analysed at once: memory stays bounded over a long period.
PATROL_CHUNK_DAYS = 7


def assessment(
    store: Any,
    level: str | None,
    since: datetime,
    until: datetime,
    now: datetime | None = None,
    *,
    by: str = "grid",
    scope: Iterable[str] | None = None,
    patrol: bool = True,
    rule: PatrolRule | None = None,
) -> pd.DataFrame:
    """The assessment table of a period: one row per unit of ``level``, or per person.

    Parameters
    ----------
    store : Store
        The store (its active boundaries give the units).
    level : str or None
        A level key of the active boundaries (``by="grid"``); for people it may be
        None (it is not used to group them).
    since, until : datetime
        The period, aware; ``until`` excluded.
    now : datetime, optional
        When "overdue now" is judged (default: the store's clock).
    by : {"grid", "worker", "department"}
        Units of ``level``, or the accounts of grid workers or departments.
    scope : codes, optional
        Only what a principal of this scope may see (None: everything): units
        inside it; for people, the reports inside it.
    patrol : bool
        Count patrol compliance from the stored tracks (the costly part; False
        leaves the patrol columns empty).
    rule : PatrolRule, optional
        The patrol rule (default: three a day, in the store's zone).

    Returns
    -------
    DataFrame
        :data:`COLUMNS`, one row per unit (every unit of the level, in code order)
        or person (every account of the role, by name), see the module docstring.

    Examples
    --------
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from geogrid.storage import open_store
    >>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db")
    >>> assessment(store, None, datetime(2026, 1, 1, tzinfo=UTC),
    ...            datetime(2026, 2, 1, tzinfo=UTC), by="team")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: by: 'team' is not one of grid, worker, department
    """
    since, until = check_period(since, until)
    now = aware_utc(now or store.clock(), "now")
    if by not in BY:
        raise InputError(f"by: {by!r} is not one of {', '.join(BY)}")
    hierarchy = store.hierarchy()
    covered = None if scope is None else hierarchy.covered(scope)
    if by == "grid":
        rows = _units(hierarchy, checked_level(hierarchy, level), covered)
        found = _unit_counts(store, hierarchy, level, since, until, now)
    else:
        if level is not None:
            checked_level(hierarchy, level)
        where = _scope_filter(hierarchy, scope)
        found = _people_counts(store, hierarchy, since, until, now, where)
        rows = _people_rows(_people(store, PEOPLE[by]), found, covered)
    table = _table(rows, found)
    if patrol and by != "department":
        rule = rule or PatrolRule(timezone=store.calendar.timezone)
        days = _patrol_days(store, hierarchy, level, since, until, now, rule, by, rows)
        table = _with_patrol(table, days)
    return table[list(COLUMNS)]


def check_period(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """``since`` and ``until`` as aware UTC times, ``until`` after ``since``.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> check_period(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: until (2026-01-01T00:00:00+00:00) must be after since \
(2026-02-01T00:00:00+00:00)
    """
    since, until = aware_utc(since, "since"), aware_utc(until, "until")
    if until <= since:
        raise InputError(f"until ({until.isoformat()}) must be after since ({since.isoformat()})")
    return since, until


def checked_level(hierarchy: Any, level: str | None) -> str:
    """``level`` if it is a level key of ``hierarchy``; else an error listing the levels."""
    if level not in hierarchy.levels:
        raise InputError(f"level: {level!r} is not one of {', '.join(hierarchy.levels)}")
    return level


def local_period(first: date, last: date, zone: str | ZoneInfo) -> tuple[datetime, datetime]:
    """The period from local day ``first`` to local day ``last``, both whole, in ``zone``.

    Examples
    --------
    >>> since, until = local_period(date(2026, 11, 1), date(2026, 11, 30), "Asia/Shanghai")
    >>> since.isoformat(), until.isoformat()
    ('2026-11-01T00:00:00+08:00', '2026-12-01T00:00:00+08:00')
    """
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    if last < first:
        raise InputError(f"until ({last}) is before since ({first})")
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    end = datetime(last.year, last.month, last.day, tzinfo=zone) + timedelta(days=1)
    return start, end


# --- the one grouped query ---------------------------------------------------------------------


def _unit_counts(store, hierarchy, level: str, since, until, now) -> pd.DataFrame:
    """Counts and durations per unit of ``level`` (:func:`_aggregates`, indexed by code).

    Grouped by the grids the workers look after (or ``level`` when finer) and summed
    up the tree: one query shape for every level, so one covering index serves all.
    """
    finest = _patrol_level(hierarchy, level)
    code = f"code{hierarchy.levels.index(finest)}"
    found = _aggregates(store, [code], "received_at", since, until, now, None)
    return _roll_up(found, found[code].map(_ancestors(hierarchy, finest, level)))


def _people_counts(store, hierarchy, since, until, now, where) -> pd.DataFrame:
    """Counts and durations per person (``assignee``) of the reports dispatched to them."""
    keys = _people_keys(store, hierarchy)
    found = _aggregates(store, keys, "assigned_at", since, until, now, where)
    return _roll_up(found, found["assignee"])


def _people_keys(store: Any, hierarchy: Any) -> list[str]:
    """What the people's query groups by, to be summed per person afterwards.

    SQLite: grid and person, the order of the index the units' query reads, so it
    reads the groups one after the other rather than sorting every report by person.
    PostgreSQL hashes a few hundred people faster than tens of thousands of pairs.
    """
    if not isinstance(store.db, SqliteDialect):
        return ["assignee"]
    return [f"code{hierarchy.levels.index(hierarchy.default_level)}", "assignee"]


def _aggregates(store, keys: list[str], start: str, since, until, now, where) -> pd.DataFrame:
    """Per group of ``keys`` (a code column[, ``assignee``]): the ``keys``, the counts of
    :data:`_AGGREGATES`, and ``seconds``: the durations (from ``start`` to closing) of the
    reports closed in the period, an array per group, so that groups can be joined before
    the percentile. Groups whose last key is NULL are left out."""
    query, params = _query(keys, start, isinstance(store.db, SqliteDialect), where)
    encode = store.db.encode_time
    values = {"s": encode(since), "u": encode(until), "n": encode(now)}
    with store.db.transaction(write=False) as tx:
        found = store.db.rows(tx, query, [values.get(p, p) for p in params])
    frame = pd.DataFrame(found, columns=[*keys, *_AGGREGATES, "durations"])
    counts = list(_AGGREGATES)
    frame[counts] = frame[counts].apply(pd.to_numeric).fillna(0).astype("int64")
    frame["seconds"] = [_seconds(text) for text in frame.pop("durations")]
    return frame


#: The aggregates of the query: name → (aggregate, the rows it takes). ``S``: started in
#: the period (received, or dispatched for people); ``C``: closed in it; ``R``: rated in it.
_AGGREGATES = {
    "received": ("COUNT(*)", "{S}"),
    "closed_of_received": ("COUNT(*)", "{S} AND closed_at < ?u"),
    "escalated": ("COUNT(*)", "{S} AND escalations > 0"),
    "returned": ("COUNT(*)", "{S} AND returns > 0"),
    "closed": ("COUNT(*)", "{C}"),
    "on_time": ("COUNT(*)", "{C} AND escalations = 0 AND "
                            "(deadline IS NULL OR closed_at <= deadline)"),
    "overdue": ("COUNT(*)", "status <> 'closed' AND deadline < ?n"),
    "rated": ("COUNT(*)", "{R} AND rating IS NOT NULL"),
    "satisfied": ("COUNT(*)", "{R} AND rating >= 4"),
    "rating_sum": ("SUM(rating)", "{R}"),
}  # fmt: skip


def _query(keys: list[str], start: str, sqlite: bool, where: tuple[str, list] | None):
    """The SQL and its parameters (``"s"``, ``"u"``, ``"n"`` stand for the times).

    Every aggregate takes its rows with ``FILTER (WHERE …)``: both dialects know it, and
    SQLite evaluates it as a jump, about a third faster than summing booleans. Grouped
    by ``keys`` in the order of an index that begins with them, SQLite reads the groups
    one after the other instead of sorting a million rows.
    """
    parts = {"S": f"{start} >= ?s AND {start} < ?u", "C": "closed_at >= ?s AND closed_at < ?u",
             "R": "rated_at >= ?s AND rated_at < ?u"}  # fmt: skip
    terms = [f"{aggregate} FILTER (WHERE {rows.format(**parts)}) AS {name}"
             for name, (aggregate, rows) in _AGGREGATES.items()]  # fmt: skip
    terms.append(f"{_durations(start, sqlite)} FILTER (WHERE {parts['C']}) AS durations")
    wanted = (parts["S"], parts["C"], "status <> 'closed' AND deadline < ?n", parts["R"])
    extra, extra_params = where or ("", [])
    grouped = ", ".join(keys)
    sql = (f"SELECT {grouped}, {', '.join(terms)} FROM reports WHERE {keys[-1]} IS NOT NULL "
           f"AND ({' OR '.join(f'({w})' for w in wanted)})"
           f"{' AND ' + extra if extra else ''} GROUP BY {grouped}")  # fmt: skip
    return _marks(sql, extra_params)


def _durations(start: str, sqlite: bool) -> str:
    """An aggregate joining the group's durations (seconds from ``start`` to closing) in
    one text ``"86400,3600,…"``: numpy reads it faster than a driver hands over arrays."""
    if sqlite:
        seconds = f"CAST(ROUND((julianday(closed_at) - julianday({start})) * 86400) AS INTEGER)"
        return f"group_concat({seconds})"
    return f"string_agg(CAST(EXTRACT(EPOCH FROM closed_at - {start}) AS TEXT), ',')"


def _seconds(text: str | None) -> np.ndarray:
    return np.fromstring(text, sep=",") if isinstance(text, str) else np.empty(0)  # NULL: none


def _marks(sql: str, extra_params: list) -> tuple[str, list]:
    """Replace ``?s``/``?u``/``?n`` by ``?`` and list what each stands for, in order.

    The scope filter's own ``?`` come last in the SQL (its WHERE term), so its
    values follow.
    """
    params: list = []
    out = []
    i = 0
    while i < len(sql):
        if sql[i] == "?" and i + 1 < len(sql) and sql[i + 1] in "sun":
            params.append(sql[i + 1])
            out.append("?")
            i += 2
            continue
        out.append(sql[i])
        i += 1
    return "".join(out), [*params, *extra_params]


def _roll_up(found: pd.DataFrame, owners: pd.Series) -> pd.DataFrame:
    """The counts of the groups of ``found`` summed per owner (a unit above, or a person),
    indexed by owner; groups with no owner (codes a redraw retired) are left out.

    The durations are joined rather than summed, so the percentile of a street is
    that of all its reports.

    Examples
    --------
    >>> found = pd.DataFrame({"code2": ["a1", "a2", "old"], "received": [1, 2, 4],
    ...     "seconds": [np.array([1.0]), np.array([2.0, 3.0]), np.empty(0)]})
    >>> rolled = _roll_up(found, found["code2"].map({"a1": "A", "a2": "A"}))
    >>> int(rolled.loc["A", "received"]), rolled.loc["A", "seconds"].tolist()
    (3, [1.0, 2.0, 3.0])
    """
    rolled = found.select_dtypes("number").groupby(owners).sum()  # the counts, not the keys
    joined = {owner: np.concatenate(list(group))
              for owner, group in found["seconds"].groupby(owners)}  # fmt: skip
    rolled["seconds"] = pd.Series(joined, dtype=object)
    return rolled


def _scope_filter(hierarchy: Any, scope: Iterable[str] | None) -> tuple[str, list] | None:
    """A WHERE term keeping the reports inside ``scope`` (a code per level column)."""
    if scope is None:
        return None
    terms, params = [], []
    wanted = set(scope)
    for depth, key in enumerate(hierarchy.levels):
        codes = sorted(wanted & set(hierarchy.grids(key)["code"]))
        if codes:
            terms.append(f"code{depth} IN ({', '.join('?' * len(codes))})")
            params += codes
    return (f"({' OR '.join(terms)})" if terms else "1 = 0"), params


# --- rows: units or people ------------------------------------------------------------------


def _units(hierarchy: Any, level: str, covered) -> pd.DataFrame:
    grids = hierarchy.grids(level)
    rows = pd.DataFrame({"code": grids["code"].astype(str), "name": grids["name"]})
    if covered is not None:
        rows = rows[rows["code"].isin(covered)]
    return rows.sort_values("code").reset_index(drop=True)


def _people(store: Any, role: str) -> list:
    return [user for user in store.accounts.users() if user.role == role]


def _people_rows(people: list, found: pd.DataFrame, covered) -> pd.DataFrame:
    """Active accounts of the role (within ``covered`` when given) and any with reports."""
    rows, scopes = [], {}
    for user in people:
        mine = user.scope is not None and covered is not None and set(user.scope) <= covered
        seen = covered is None or mine
        if user.name in found.index or (user.active and seen):
            rows.append({"code": user.name, "name": user.display_name or user.name})
            scopes[user.name] = user.scope
    frame = pd.DataFrame(rows, columns=["code", "name"]).sort_values("code")
    frame.attrs["scopes"] = scopes
    return frame.reset_index(drop=True)


def _table(rows: pd.DataFrame, found: pd.DataFrame) -> pd.DataFrame:
    """The rows with their counts (0 where none) and the derived rates and hours."""
    table = rows.join(found, on="code")
    for name in _AGGREGATES:
        table[name] = pd.to_numeric(table[name]).fillna(0).astype(int)
    table["closure_rate"] = _share(table["closed_of_received"], table["received"])
    table["on_time_rate"] = _share(table["on_time"], table["closed"])
    table["satisfaction"] = _share(table["rating_sum"], table["rated"], 2)
    table["satisfied_rate"] = _share(table["satisfied"], table["rated"])
    table["mean_hours_to_close"] = [_hours(s, np.mean) for s in table["seconds"]]
    table["p90_hours_to_close"] = [_hours(s, _p90) for s in table["seconds"]]
    for column in ("patrol_compliance", "patrol_days", "patrol_days_met"):
        table[column] = np.nan
    table.attrs = rows.attrs
    return table


def _hours(seconds: Any, statistic) -> float:
    """``statistic`` of durations in seconds, in hours (two decimals); NaN when none."""
    if not isinstance(seconds, np.ndarray) or not len(seconds):
        return np.nan
    return np.round(statistic(seconds) / 3600, 2)  # numpy's rounding, as before


def _p90(seconds: np.ndarray) -> float:
    return np.percentile(seconds, 90)  # linear, as PostgreSQL's percentile_cont


def _share(part: pd.Series, whole: pd.Series, decimals: int = 4) -> pd.Series:
    return (part / whole.where(whole > 0)).astype(float).round(decimals)


# --- patrol compliance -------------------------------------------------------------------------


def _patrol_days(store, hierarchy, level, since, until, now, rule, by, rows) -> pd.DataFrame:
    """Grid-days of the period that have ended, with the row each belongs to and whether met.

    Columns ``row`` (a row's code), ``met`` (bool): one per grid-day counted.
    """
    zone = ZoneInfo(rule.timezone)
    first = since.astimezone(zone).date()
    last = min((until - timedelta(microseconds=1)).astimezone(zone).date(),
               now.astimezone(zone).date() - timedelta(days=1))  # fmt: skip
    if last < first or len(rows) == 0:
        return pd.DataFrame({"row": pd.Series(dtype=object), "met": pd.Series(dtype=bool)})
    patrol_level = _patrol_level(hierarchy, level if by == "grid" else None)
    patrols = _patrols(store, hierarchy, patrol_level, first, last, rule)
    grids = hierarchy.grids(patrol_level)["code"].astype(str)
    if by == "grid":
        owner = _ancestors(hierarchy, patrol_level, level)
        table = compliance_table(patrols, grids, first, last, rule)
        table["row"] = table["code"].map(owner)
        table = table[table["row"].isin(rows["code"])]
        return pd.DataFrame({"row": table["row"], "met": table["status"] == "met"})
    return _worker_days(hierarchy, patrols, grids, first, last, rule, rows)


def _patrol_level(hierarchy: Any, level: str | None) -> str:
    """The default level, or ``level`` when it is finer."""
    default = hierarchy.default_level
    if level is None:
        return default
    keys = list(hierarchy.levels)
    return level if keys.index(level) > keys.index(default) else default


def _ancestors(hierarchy: Any, finer: str, coarser: str) -> dict[str, str]:
    """Each grid of level ``finer`` → its ancestor's code at level ``coarser`` (or itself)."""
    keys = list(hierarchy.levels)
    grids = hierarchy.grids(finer)
    owner = dict(zip(grids["code"].astype(str), grids["code"].astype(str), strict=True))
    for depth in range(keys.index(finer), keys.index(coarser), -1):
        frame = hierarchy.grids(keys[depth])
        parent = dict(zip(frame["code"].astype(str), frame["parent"], strict=True))
        owner = {grid: parent.get(code) for grid, code in owner.items()}
    return owner


def _patrols(store, hierarchy, level, first: date, last: date, rule) -> pd.DataFrame:
    """Patrols (:func:`count_patrols`) of the stored tracks that start on ``first``…``last``.

    Read a week at a time; a track belongs to the week it starts in, so none counts twice.
    """
    found = []
    day = first
    while day <= last:
        end = min(day + timedelta(days=PATROL_CHUNK_DAYS - 1), last)
        start, stop = rule.day_bounds(day, end)
        tracks = [t for t in store.patrol_tracks(start, stop)
                  if start <= t.start.to_pydatetime() < stop]  # fmt: skip
        if tracks:
            visits = visits_of_tracks(tracks, hierarchy, level, outside=[])
            found.append(count_patrols(visits, rule))
        day = end + timedelta(days=1)
    return pd.concat(found, ignore_index=True) if found else count_patrols(_no_visits(), rule)


def _no_visits() -> pd.DataFrame:
    columns = ("worker", "code", "start", "end", "seconds", "length_m")
    return pd.DataFrame({column: [] for column in columns})


def _worker_days(hierarchy, patrols, grids, first, last, rule, rows) -> pd.DataFrame:
    """A grid worker's grid-days: the grids of their scope at the patrol level, their patrols."""
    frames = []
    scopes = rows.attrs.get("scopes", {})
    names = dict(zip(rows["code"], rows["name"], strict=True))
    for name, scope in scopes.items():
        mine = sorted(set(grids) & hierarchy.covered(scope)) if scope else []
        if not mine:
            continue
        theirs = patrols[patrols["worker"].isin({name, names.get(name)})]
        table = compliance_table(theirs, mine, first, last, rule)
        frames.append(pd.DataFrame({"row": name, "met": table["status"] == "met"}))
    if not frames:
        return pd.DataFrame({"row": pd.Series(dtype=object), "met": pd.Series(dtype=bool)})
    return pd.concat(frames, ignore_index=True)


def _with_patrol(table: pd.DataFrame, days: pd.DataFrame) -> pd.DataFrame:
    counted = days.groupby("row")["met"].agg(["size", "sum"])
    table["patrol_days"] = table["code"].map(counted["size"]).fillna(0).astype(int)
    table["patrol_days_met"] = table["code"].map(counted["sum"]).fillna(0).astype(int)
    table["patrol_compliance"] = _share(table["patrol_days_met"], table["patrol_days"])
    return table


# --- the trend -------------------------------------------------------------------------------


def weekly(
    store: Any,
    since: datetime,
    until: datetime,
    *,
    scope: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Reports received and closed per week of the period (weeks counted from ``since``).

    Returns ``week`` (the week's first moment, UTC), ``received``, ``closed``: every
    week of the period, 0 where none. A week is 7 × 24 hours.

    Examples
    --------
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from geogrid.storage import open_store
    >>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db")
    >>> weekly(store, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 15, tzinfo=UTC))
                           week  received  closed
    0 2026-11-01 00:00:00+00:00         0       0
    1 2026-11-08 00:00:00+00:00         0       0
    """
    since, until = check_period(since, until)
    postgres = not isinstance(store.db, SqliteDialect)
    weeks = int(np.ceil((until - since) / timedelta(days=7)))
    hierarchy = store.hierarchy() if scope is not None else None
    extra, extra_params = _scope_filter(hierarchy, scope) if scope is not None else ("", [])
    counts = {}
    encode = store.db.encode_time
    with store.db.transaction(write=False) as tx:
        for column in ("received_at", "closed_at"):
            week = (
                f"CAST(FLOOR(EXTRACT(EPOCH FROM {column} - ?) / 604800) AS INTEGER)"
                if postgres
                else f"CAST((julianday({column}) - julianday(?)) / 7 AS INTEGER)"
            )
            sql = (f"SELECT {week} AS w, COUNT(*) AS n FROM reports WHERE {column} >= ? "
                   f"AND {column} < ?{' AND ' + extra if extra else ''} GROUP BY 1")  # fmt: skip
            params = [encode(since), encode(since), encode(until), *extra_params]
            counts[column] = {int(r["w"]): int(r["n"]) for r in store.db.rows(tx, sql, params)}
    starts = [since + timedelta(days=7 * i) for i in range(weeks)]
    return pd.DataFrame({
        "week": pd.to_datetime(starts, utc=True),
        "received": [counts["received_at"].get(i, 0) for i in range(weeks)],
        "closed": [counts["closed_at"].get(i, 0) for i in range(weeks)],
    })  # fmt: skip


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The table as JSON-ready rows: NaN as None, numpy numbers as Python's.

    Examples
    --------
    >>> records(pd.DataFrame({"code": ["1"], "closure_rate": [float("nan")], "closed": [2]}))
    [{'code': '1', 'closure_rate': None, 'closed': 2}]
    """
    out = []
    for row in table.to_dict("records"):
        out.append({k: _plain(v) for k, v in row.items()})
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


# --- files: CSV, Excel, JSON -------------------------------------------------------------------


def to_csv(table: pd.DataFrame) -> bytes:
    """The table as CSV: UTF-8 with a byte-order mark (so Excel in China reads the Chinese
    right), the column keys as header, rates as fractions, empty where there is none.

    Examples
    --------
    >>> to_csv(pd.DataFrame({"code": ["1"], "name": ["东街道"], "closure_rate": [0.5]}))[:3]
    b'\\xef\\xbb\\xbf'
    """
    return table.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def to_xlsx(table: pd.DataFrame, about: dict[str, Any] | None = None) -> bytes:
    """The table as an Excel workbook (openpyxl): headings in Chinese and English (two bold,
    frozen rows), rates as percentages, hours with two decimals; ``about`` (period, level…)
    on a second sheet.

    Examples
    --------
    >>> data = to_xlsx(pd.DataFrame({"code": ["1"], "closure_rate": [0.5]}), {"level": "街道"})
    >>> data[:2]
    b'PK'
    """
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = "考核 Assessment"
    columns = list(table.columns)
    sheet.append([LABELS.get(c, (c, c))[0] for c in columns])
    sheet.append([LABELS.get(c, (c, c))[1] for c in columns])
    for row in records(table):
        sheet.append([row[c] for c in columns])
    for cell in (*sheet[1], *sheet[2]):
        cell.font = Font(bold=True)
    sheet.freeze_panes = "C3"
    for number, column in enumerate(columns, start=1):
        letter = get_column_letter(number)
        shape = "0.0%" if column in RATES else "0.00" if "hours" in column or column == (
            "satisfaction") else "0"  # fmt: skip
        for (cell,) in sheet.iter_rows(min_row=3, min_col=number, max_col=number):
            if column not in ("code", "name"):
                cell.number_format = shape
        longest = max([len(str(v)) for v in table[column].tolist()] + [8]) if len(table) else 8
        sheet.column_dimensions[letter].width = min(max(longest, 12) + 2, 40)
    notes = book.create_sheet("说明 About")
    for key, value in (about or {}).items():
        notes.append([key, "" if value is None else str(value)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
