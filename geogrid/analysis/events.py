"""The reports an incident analysis looks at: points, time windows, categories, grids.

Risk colours, heat maps and hot spots all start from the same frame of report
points (``lon``, ``lat``, ``time``, ``category``, and optionally ``<level>_code``
columns). This module checks that frame and selects from it; it never reads a
store: the web app and the command line feed it with
:meth:`geogrid.storage.Store.report_points`.

Examples
--------
>>> frame = select_points(None)
>>> list(frame.columns), len(frame)
(['lon', 'lat', 'time', 'category'], 0)
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

import numpy as np
import pandas as pd

from geogrid.errors import InputError
from geogrid.hierarchy import Hierarchy
from geogrid.moments import NotAMomentError, check_year, parse_moment

POINT_COLUMNS = ("lon", "lat", "time", "category")


def as_of_moment(value: date | datetime | str, zone: tzinfo) -> datetime:
    """The end of the analysis window: a date means the end of that day in ``zone``.

    ``zone`` is the district's (its working calendar's); a time without an
    offset is read in it too.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> shanghai = ZoneInfo("Asia/Shanghai")
    >>> as_of_moment("2026-11-23", shanghai).isoformat()
    '2026-11-24T00:00:00+08:00'
    >>> as_of_moment(datetime(2026, 11, 23, 9, 30, tzinfo=shanghai), shanghai).hour
    9
    """
    if isinstance(value, str):
        try:
            return parse_moment(value, "date", zone, whole_day=True)
        except NotAMomentError:
            raise InputError(f"date: {value!r} is not YYYY-MM-DD or an ISO 8601 time") from None
    if isinstance(value, date):
        check_year(value, "date")  # before the day is added or the window taken
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value + timedelta(days=1), time(), zone)
    raise InputError(f"date: expected a date or time, got {type(value).__name__}")


def check_points(points: pd.DataFrame | None) -> pd.DataFrame:
    """The report points, checked: ``lon``, ``lat``, ``time`` (with a time zone), ``category``.

    ``None`` means no reports. Rows with a missing position are dropped.

    Examples
    --------
    >>> frame = check_points(None)
    >>> list(frame.columns), len(frame)
    (['lon', 'lat', 'time', 'category'], 0)
    """
    if points is None:
        points = pd.DataFrame({"lon": [], "lat": [], "category": []})
        points["time"] = pd.Series([], dtype="datetime64[ns, UTC]")
        return points[list(POINT_COLUMNS)]
    if not isinstance(points, pd.DataFrame):
        raise InputError("points: must be a DataFrame with lon, lat, time and category")
    missing = [c for c in POINT_COLUMNS if c not in points]
    if missing:
        raise InputError(f"points: missing column {', '.join(missing)}")
    if not isinstance(points["time"].dtype, pd.DatetimeTZDtype):
        raise InputError("points.time: needs times with a time zone (datetime64[ns, tz])")
    for column in ("lon", "lat"):
        if not pd.api.types.is_numeric_dtype(points[column]):
            raise InputError(f"points.{column}: must be numbers (WGS-84 degrees)")
    placed = (points["lon"].notna() & points["lat"].notna()).to_numpy()
    return points if placed.all() else points[placed]


def in_window(points: pd.DataFrame, start: datetime, end: datetime) -> np.ndarray:
    """Mask of points with ``start ≤ time < end``; an empty window is refused.

    Examples
    --------
    >>> t = pd.Series(pd.to_datetime(["2026-11-01", "2026-11-20"], utc=True))
    >>> frame = pd.DataFrame({"time": t})
    >>> from zoneinfo import ZoneInfo
    >>> CHINA_TIME = ZoneInfo("Asia/Shanghai")
    >>> in_window(frame, datetime(2026, 11, 10, tzinfo=CHINA_TIME),
    ...           datetime(2026, 11, 30, tzinfo=CHINA_TIME)).tolist()
    [False, True]
    """
    check_window(start, end)
    times = points["time"]
    return ((times >= pd.Timestamp(start)) & (times < pd.Timestamp(end))).to_numpy()


def check_window(start: datetime, end: datetime) -> None:
    """Refuse a time window that is not two aware times with ``start < end``.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> CHINA_TIME = ZoneInfo("Asia/Shanghai")
    >>> day = datetime(2026, 11, 10, tzinfo=CHINA_TIME)
    >>> check_window(day, day)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: until: the time window is empty (2026-11-10T00:00:00+08:00 to 2026-11-10T00:00:00+08:00); until must be after since
    """  # noqa: E501
    for name, value in (("since", start), ("until", end)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InputError(f"{name}: needs a time with a time zone, got {value!r}")
    if end <= start:
        raise InputError(f"until: the time window is empty ({start.isoformat()} to "
                         f"{end.isoformat()}); until must be after since")  # fmt: skip


def category_mask(categories: pd.Series, wanted: tuple[str, ...]) -> np.ndarray:
    """Mask of categories equal to one of ``wanted`` or below it (``dispute`` ⊃ ``dispute.x``).

    Examples
    --------
    >>> category_mask(pd.Series(["dispute.family", "fire", "city"]), ("dispute", "fire")).tolist()
    [True, True, False]
    """
    if not wanted:
        return np.ones(len(categories), dtype=bool)
    as_category = categories.astype("category")
    keep = [c for c in as_category.cat.categories if _under(str(c), wanted)]
    return np.array(as_category.isin(keep), dtype=bool)  # a writable copy: callers combine


def _under(code: str, wanted: tuple[str, ...]) -> bool:
    return any(code == w or code.startswith(w + ".") for w in wanted)


def grid_codes(hierarchy: Hierarchy, points: pd.DataFrame, level: str) -> pd.Series:
    """The grid code of every point at ``level``: its ``<level>_code`` column, else assigned.

    Examples
    --------
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> frame = pd.DataFrame({"lon": [120.65], "lat": [28.01], "street_code": ["330399001"]})
    >>> grid_codes(h, frame, "street").tolist()
    ['330399001']
    """
    column = f"{level}_code"
    if column in points:
        return points[column]
    assigned = hierarchy.assign(points["lon"].to_numpy(float), points["lat"].to_numpy(float))
    return pd.Series(assigned[column].to_numpy(), index=points.index, name=column)


def with_grid_codes(hierarchy: Hierarchy, points: pd.DataFrame) -> pd.DataFrame:
    """``points`` with a ``<level>_code`` column for every level (assigned once if missing)."""
    missing = [key for key in hierarchy.levels if f"{key}_code" not in points]
    if not missing or len(points) == 0:
        extra = {f"{k}_code": pd.Series([], dtype=object) for k in missing}
        return points.assign(**extra) if extra else points
    assigned = hierarchy.assign(points["lon"].to_numpy(float), points["lat"].to_numpy(float))
    columns = {f"{k}_code": assigned[f"{k}_code"].to_numpy() for k in missing}
    return points.assign(**columns)


def select_points(
    points: pd.DataFrame | None,
    since: datetime | None = None,
    until: datetime | None = None,
    categories: tuple[str, ...] = (),
) -> pd.DataFrame:
    """The checked points with ``since ≤ time < until`` and of the given categories.

    Examples
    --------
    >>> len(select_points(None))
    0
    """
    frame = check_points(points)
    if since is not None and until is not None:
        check_window(since, until)
    keep = category_mask(frame["category"], tuple(categories))
    for name, value, after in (("since", since, True), ("until", until, False)):
        if value is None:
            continue
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InputError(f"{name}: needs a time with a time zone, got {value!r}")
        moment = pd.Timestamp(value)
        keep &= (frame["time"] >= moment if after else frame["time"] < moment).to_numpy()
    return frame[keep]
