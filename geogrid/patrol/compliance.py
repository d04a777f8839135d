"""Patrol compliance (巡查达标): distinct patrols per grid and day against the requirement.

The counting rule, in the order it is applied to the visits of :func:`grid_visits`:

1. **One patrol per worker and sitting.** Visits of one worker to one grid whose gap
   (from the end of one to the start of the next) is under ``merge_minutes``
   (default 60) are one patrol: a patrol that leaves the grid along a boundary street
   and comes back, or passes twice within the hour, counts once. Different workers
   (different GPX authors, or tracks when no author is given) count separately.
2. **A patrol must be a patrol.** It counts when it spent at least ``min_minutes``
   (default 2) *and* walked at least ``min_length_m`` (default 100 m) in the grid,
   totalled over its visits: crossing a corner, or sitting in the office, is not one.
3. **Days are local.** A patrol belongs to the day (in ``timezone``, default
   Asia/Shanghai) on which it began.

A grid-day is ``met`` with at least ``required_per_day`` patrols (default 3,
一日三巡), ``short`` with fewer, ``missed`` with none. Over a period a grid is
``met`` (every day met), ``partly`` (some day met), ``short`` (patrolled, no day
met) or ``never`` (never visited); :data:`COLOURS` gives each a map colour.

Examples
--------
>>> import pandas as pd
>>> t = pd.Timestamp("2026-11-23T01:00Z")
>>> visits = pd.DataFrame({"track": ["a", "a", "b"], "worker": ["张三", "张三", "李四"],
...     "code": ["101"] * 3, "start": [t, t + pd.Timedelta("30min"), t],
...     "end": [t + pd.Timedelta("10min"), t + pd.Timedelta("40min"), t + pd.Timedelta("10min")],
...     "seconds": [600.0] * 3, "length_m": [500.0] * 3})
>>> patrols = count_patrols(visits)
>>> len(patrols)   # 张三's two passes within the hour count once
2
>>> table = compliance_table(patrols, ["101", "102"], "2026-11-23", "2026-11-23")
>>> table[["code", "patrols", "status"]].values.tolist()
[['101', 2, 'short'], ['102', 0, 'missed']]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.deadlines import WorkingCalendar
from geogrid.errors import InputError
from geogrid.patrol.tracks import visits_of_tracks

#: Map colours: grid-day statuses and period statuses (green, yellow, orange, red).
COLOURS = {
    "met": "#1a9850",
    "partly": "#fee08b",
    "short": "#fc8d59",
    "missed": "#d73027",
    "never": "#d73027",
}
STATUS_LABELS = {
    "met": "达标",
    "partly": "部分达标",
    "short": "不足",
    "missed": "未巡",
    "never": "从未巡查",
}
_VISIT_COLUMNS = {"worker", "code", "start", "end", "seconds", "length_m"}


@dataclass(frozen=True)
class PatrolRule:
    """How patrols are counted; see the module docstring.

    Examples
    --------
    >>> PatrolRule(required_per_day=2).required_per_day
    2
    """

    required_per_day: int = 3
    min_minutes: float = 2.0
    min_length_m: float = 100.0
    merge_minutes: float = 60.0
    #: The district's zone, whose local days are counted: its working calendar's.
    timezone: str = field(default_factory=lambda: WorkingCalendar().timezone)

    def __post_init__(self) -> None:
        if not (isinstance(self.required_per_day, int) and 1 <= self.required_per_day <= 48):
            raise InputError(f"required_per_day: must be 1–48, got {self.required_per_day!r}")
        for name in ("min_minutes", "min_length_m", "merge_minutes"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 <= value <= 100_000):
                raise InputError(f"{name}: must be a number from 0 to 100000, got {value!r}")
        try:
            pd.Timestamp("2026-01-01", tz=self.timezone)
        except Exception:
            raise InputError(f"timezone: unknown time zone {self.timezone!r}") from None

    def day_bounds(self, first: date, last: date) -> tuple[datetime, datetime]:
        """When local day ``first`` begins and local day ``last`` ends, as aware times.

        Examples
        --------
        >>> start, end = PatrolRule().day_bounds(date(2026, 11, 23), date(2026, 11, 23))
        >>> start.isoformat(), end.isoformat()
        ('2026-11-23T00:00:00+08:00', '2026-11-24T00:00:00+08:00')
        """
        zone = ZoneInfo(self.timezone)
        return (datetime.combine(first, time(), zone),
                datetime.combine(last + timedelta(days=1), time(), zone))  # fmt: skip


def count_patrols(visits: pd.DataFrame, rule: PatrolRule | None = None) -> pd.DataFrame:
    """Distinct patrols per grid from grid visits (of one or many tracks).

    Parameters
    ----------
    visits : DataFrame
        Rows as :func:`geogrid.patrol.tracks.grid_visits` makes them: worker, code,
        start, end (aware times), seconds, length_m.
    rule : PatrolRule, optional
        Thresholds; the defaults count 一日三巡.

    Returns
    -------
    DataFrame
        One row per counted patrol: code, day (local date), worker, start, end,
        seconds, length_m, passes (visits merged into it).
    """
    rule = rule or PatrolRule()
    missing = _VISIT_COLUMNS - set(visits.columns)
    if missing:
        raise InputError(f"visits: missing column {', '.join(sorted(missing))}")
    if visits.empty:
        return _empty_patrols()
    ordered = visits.sort_values(["worker", "code", "start"], kind="stable")
    same = ordered["worker"].eq(ordered["worker"].shift()) & ordered["code"].eq(
        ordered["code"].shift()
    )
    gap = ordered["start"] - ordered.groupby(["worker", "code"])["end"].cummax().shift()
    new_patrol = ~same | (gap >= pd.Timedelta(minutes=rule.merge_minutes))
    patrols = (
        ordered.assign(patrol=new_patrol.cumsum())
        .groupby("patrol")
        .agg(
            code=("code", "first"),
            worker=("worker", "first"),
            start=("start", "min"),
            end=("end", "max"),
            seconds=("seconds", "sum"),
            length_m=("length_m", "sum"),
            passes=("start", "size"),
        )
    )
    counted = (patrols["seconds"] >= 60 * rule.min_minutes) & (
        patrols["length_m"] >= rule.min_length_m
    )
    patrols = patrols[counted].reset_index(drop=True)
    patrols.insert(1, "day", patrols["start"].dt.tz_convert(rule.timezone).dt.date)
    return patrols


def _empty_patrols() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "code": pd.Series(dtype=object),
            "day": pd.Series(dtype=object),
            "worker": pd.Series(dtype=object),
            "start": pd.Series(dtype="datetime64[ns, UTC]"),
            "end": pd.Series(dtype="datetime64[ns, UTC]"),
            "seconds": pd.Series(dtype=float),
            "length_m": pd.Series(dtype=float),
            "passes": pd.Series(dtype=int),
        }
    )


def compliance_table(
    patrols: pd.DataFrame,
    codes: Any,
    since: date | str,
    until: date | str,
    rule: PatrolRule | None = None,
) -> pd.DataFrame:
    """Patrols per grid and day over ``since``…``until`` (local dates, both included).

    Every grid in ``codes`` gets a row for every day, patrolled or not.

    Returns
    -------
    DataFrame
        code, day, patrols, required, shortfall, status (met / short / missed), colour.
    """
    rule = rule or PatrolRule()
    days = _days(since, until)
    grid_codes = pd.Index(pd.unique(pd.Series(list(codes), dtype=object)), name="code")
    counts = patrols.groupby(["code", "day"]).size()
    full = pd.MultiIndex.from_product([grid_codes, days], names=["code", "day"])
    table = counts.reindex(full, fill_value=0).rename("patrols").reset_index()
    table["required"] = rule.required_per_day
    table["shortfall"] = (table["required"] - table["patrols"]).clip(lower=0)
    table["status"] = np.select(
        [table["patrols"] >= table["required"], table["patrols"] > 0], ["met", "short"], "missed"
    )
    table["colour"] = table["status"].map(COLOURS)
    return table


def _days(since: date | str, until: date | str) -> list[date]:
    try:
        first, last = pd.Timestamp(since).date(), pd.Timestamp(until).date()
    except (ValueError, TypeError):
        raise InputError(f"since/until: {since!r}, {until!r} are not dates") from None
    if last < first:
        raise InputError(f"until ({last}) is before since ({first})")
    if (last - first).days > 366:
        raise InputError("since/until: at most 367 days at once")
    return list(pd.date_range(first, last, freq="D").date)


def compliance_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per grid over the table's period, worst first.

    Returns code, days, days_met, patrols, share_met, status (met / partly / short /
    never), label (Chinese) and colour.
    """
    summary = (
        table.groupby("code", sort=False)
        .agg(
            days=("day", "nunique"),
            days_met=("status", lambda s: int((s == "met").sum())),
            patrols=("patrols", "sum"),
        )
        .reset_index()
    )
    summary["share_met"] = (summary["days_met"] / summary["days"]).round(3)
    summary["status"] = np.select(
        [summary["days_met"] == summary["days"], summary["days_met"] > 0, summary["patrols"] > 0],
        ["met", "partly", "short"],
        "never",
    )
    summary["label"] = summary["status"].map(STATUS_LABELS)
    summary["colour"] = summary["status"].map(COLOURS)
    order = summary["status"].map({"never": 0, "short": 1, "partly": 2, "met": 3})
    return summary.assign(_o=order).sort_values(["_o", "share_met", "code"]).drop(columns="_o")


def never_visited(table: pd.DataFrame) -> list[str]:
    """Codes of the grids with no patrol on any day of the table, sorted."""
    totals = table.groupby("code")["patrols"].sum()
    return sorted(totals[totals == 0].index.astype(str))


def compliance_layer(summary: pd.DataFrame, grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The summary joined to grid polygons (EPSG:4326), ready to colour by ``colour``.

    Grids missing from the summary are left out; the layer keeps the grids' name.
    """
    keep = [c for c in ("code", "name", "geometry") if c in grids.columns]
    layer = grids[keep].merge(summary, on="code", how="inner")
    return gpd.GeoDataFrame(layer, geometry="geometry", crs=grids.crs or "EPSG:4326")


__all__ = [
    "COLOURS",
    "ComplianceResult",
    "PatrolRule",
    "compliance_layer",
    "compliance_of_tracks",
    "compliance_summary",
    "compliance_table",
    "count_patrols",
    "never_visited",
]


@dataclass
class ComplianceResult:
    """Everything :func:`compliance_of_tracks` finds: patrols, the table, its summary, the layer."""

    patrols: pd.DataFrame
    table: pd.DataFrame
    summary: pd.DataFrame
    layer: gpd.GeoDataFrame
    outside: list = field(default_factory=list)  # tracks left out: they pass no grid
    tracks: list = field(default_factory=list)  # the tracks counted from


def compliance_of_tracks(
    tracks: Any,
    hierarchy: Any,
    *,
    level: str | None = None,
    since: date | str | None = None,
    until: date | str | None = None,
    rule: PatrolRule | None = None,
    visits: pd.DataFrame | None = None,
    skip_outside: bool = False,
) -> ComplianceResult:
    """Compliance of the grids of ``level`` from GPS tracks over a period.

    ``level`` defaults to the hierarchy's :attr:`~geogrid.Hierarchy.default_level`.

    The period defaults to the local days the tracks span; with no tracks it must be
    given, and every grid of it is missed. A track far from every grid
    stops the whole computation with its name (see :func:`visits_of_tracks`). Give
    ``visits`` when the tracks' visits of ``level`` are already known, to skip
    assigning their points again. With ``skip_outside``, a track that passes no grid
    (stored before the boundaries were redrawn, say) is left out and listed in the
    result's ``outside`` instead of stopping the count.
    """
    rule = rule or PatrolRule()
    level = hierarchy.chosen_level(level)
    tracks = list(tracks)
    if not tracks and not (since and until):
        raise InputError("tracks: give at least one track, or since and until")
    outside: list = [] if skip_outside else None
    if visits is None:
        visits = (
            visits_of_tracks(tracks, hierarchy, level, outside=outside) if tracks else _no_visits()
        )
    days = [
        pd.Timestamp(t.times[i], tz="UTC").tz_convert(rule.timezone).date()
        for t in tracks
        for i in (0, -1)
    ]
    first, last = since or min(days), until or max(days)  # days is empty only with both given
    patrols = count_patrols(visits, rule)
    grids = hierarchy.grids(level)
    table = compliance_table(patrols, grids["code"], first, last, rule)
    summary = compliance_summary(table)
    return ComplianceResult(
        patrols, table, summary, compliance_layer(summary, grids), outside or [], tracks
    )


def _no_visits() -> pd.DataFrame:
    """The visits of no track: a period nobody patrolled."""
    return pd.DataFrame({column: [] for column in sorted(_VISIT_COLUMNS)})
