"""Recorded patrol tracks (巡查轨迹): what a track shows.

A :class:`Track` is one worker's (or team's) GPS track: time-ordered WGS-84
points, each with a time, as :mod:`geogrid.patrol.gpx` reads them. From a track:

* :func:`track_length_m` and :attr:`Track.duration_s`;
* :func:`grid_visits` — the grids it passed through, in order, with the time and
  distance spent in each (via :meth:`geogrid.Hierarchy.assign`); a step longer
  than ``max_gap_s`` (a phone that lost its fix or was switched off) counts for
  no grid;
* :func:`route_coverage` — the share of a planned route within ``tolerance_m``
  of the track (the track buffered in metres, the route's covered length measured);
* :func:`checkpoints_reached` — check-in points (打卡点) passed within a radius;
* :func:`find_stops` — dwells of at least ``min_minutes`` within ``radius_m`` of
  where the dwell began.

Distances are measured in the CGCS2000 Gauss-Krüger zone of the track.

Examples
--------
>>> gpx = '''<gpx version="1.1" creator="demo" xmlns="http://www.topografix.com/GPX/1/1">
... <trk><name>张三</name><trkseg>
... <trkpt lat="28.0" lon="120.0"><time>2026-11-23T00:00:00Z</time></trkpt>
... <trkpt lat="28.0" lon="120.001"><time>2026-11-23T00:01:00Z</time></trkpt>
... </trkseg></trk></gpx>'''
>>> from geogrid.patrol.gpx import parse_gpx
>>> track = parse_gpx(gpx)[0]
>>> track.name, track.duration_s, round(track_length_m(track))
('张三', 60.0, 98)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import LineString

from geogrid.assign import DEFAULT_MAX_DISTANCE_M
from geogrid.crs import from_wgs84, gauss_kruger_epsg, geodesic_distance_m, metric_crs
from geogrid.errors import InputError
from geogrid.patrol.records import Track

#: A step longer than this (seconds) is a gap in the track: it counts for no grid.
DEFAULT_MAX_GAP_S = 600.0
DEFAULT_TOLERANCE_M = 30.0
DEFAULT_CHECKPOINT_RADIUS_M = 30.0
DEFAULT_STOP_MINUTES = 5.0
DEFAULT_STOP_RADIUS_M = 30.0


# --- measures -------------------------------------------------------------------------------


def track_length_m(track: Track, max_gap_s: float = float("inf")) -> float:
    """Length walked in metres; steps longer than ``max_gap_s`` seconds are left out.

    Examples
    --------
    >>> t = Track("t", "w", np.array(["2026-11-23T00:00", "2026-11-23T01:00"],
    ...           dtype="datetime64[ns]"), np.array([120.0, 120.0]), np.array([28.0, 28.001]))
    >>> round(track_length_m(t)), track_length_m(t, max_gap_s=600)
    (111, 0.0)
    """
    return float(track.steps_m[track.steps_s <= max_gap_s].sum())


def grid_visits(
    track: Track,
    hierarchy: Any,
    level: str | None = None,
    *,
    max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> pd.DataFrame:
    """The grids a track passed through, in order, with the time and distance in each.

    A visit is a run of consecutive points in one grid of ``level`` (default: the
    hierarchy's :attr:`~geogrid.Hierarchy.default_level`; points within
    ``max_distance_m`` of a grid count as in it). Each step counts for the grid of its
    first point; a step over ``max_gap_s`` counts for none and ends the visit.

    Returns
    -------
    DataFrame
        track, worker, code, start, end (UTC), seconds, length_m, points; points
        outside every grid are left out.

    Raises
    ------
    InputError
        No point of the track is near a grid (the message gives the distance to the
        nearest and asks about GCJ-02/BD-09).
    """
    return visits_of_tracks([track], hierarchy, level, max_distance_m=max_distance_m,
                            max_gap_s=max_gap_s)  # fmt: skip


def visits_of_tracks(
    tracks: Any,
    hierarchy: Any,
    level: str | None = None,
    *,
    max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    outside: list[Track] | None = None,
) -> pd.DataFrame:
    """:func:`grid_visits` of many tracks at once, one after another in one table.

    All their points are assigned in one call, which for a day's tracks of a
    hundred workers is several times faster than track by track.

    Give a list as ``outside`` to collect there the tracks that pass no grid (they
    have no visits) instead of refusing them.

    Raises
    ------
    InputError
        A track has no point near a grid (and no ``outside`` list): the first is named.
    """
    tracks = list(tracks)
    return _visits_with_owner(tracks, hierarchy, level, max_distance_m, max_gap_s, outside)[0]


def _visits_with_owner(
    tracks: list[Track],
    hierarchy: Any,
    level: str | None,
    max_distance_m: float,
    max_gap_s: float,
    outside: list[Track] | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`visits_of_tracks`, and for each visit the index of its track."""
    if not tracks:
        raise InputError("tracks: give at least one track")
    lon = np.concatenate([t.lon for t in tracks])
    lat = np.concatenate([t.lat for t in tracks])
    assigned = hierarchy.assign(lon, lat, max_distance_m=max_distance_m)
    key = hierarchy.chosen_level(level)
    grid, codes = pd.factorize(assigned[f"{key}_code"])  # -1: none
    bounds = np.cumsum([0] + [len(t.lon) for t in tracks])
    for track, first, last in zip(tracks, bounds[:-1], bounds[1:], strict=True):
        if (grid[first:last] < 0).all():
            if outside is None:
                far = assigned.iloc[first:last]
                raise InputError(_far_message(track, far, hierarchy, max_distance_m))
            outside.append(track)
    return _visits(tracks, grid, np.asarray(codes, dtype=object), max_gap_s)


def _far_message(track: Track, assigned: pd.DataFrame, hierarchy: Any, limit_m: float) -> str:
    distance = assigned["distance_m"].to_numpy(dtype=float)
    hint = "Are its coordinates GCJ-02 or BD-09? Give the crs."
    if np.isfinite(distance).any():
        nearest = int(np.nanargmin(distance))
        return (
            f"{track.label}: passes no grid; its nearest point is {distance[nearest]:,.0f} m "
            f"from grid {assigned['nearest_code'].iloc[nearest]} (limit {limit_m:g} m). " + hint
        )
    west, south, east, north = hierarchy.grids(hierarchy.levels[0]).total_bounds
    lon, lat = float(np.median(track.lon)), float(np.median(track.lat))
    away = geodesic_distance_m(lon, lat, np.clip(lon, west, east), np.clip(lat, south, north))
    return (
        f"{track.label}: passes no grid; it is about {float(away) / 1000:,.1f} km from the "
        f"district (lon {west:.4f}–{east:.4f}, lat {south:.4f}–{north:.4f}). " + hint
    )


def _visits(
    tracks: list[Track], grid: np.ndarray, codes: np.ndarray, gap_s: float
) -> tuple[pd.DataFrame, np.ndarray]:
    """Runs of consecutive points in one grid, per track (``grid``: index into ``codes``)."""
    # The step leaving each point: a track's last point leaves by none (inf seconds).
    sizes = np.array([len(t.lon) for t in tracks])
    owner = np.repeat(np.arange(len(tracks)), sizes)
    times = np.concatenate([t.times for t in tracks])
    last = np.cumsum(sizes) - 1
    leave_s = np.r_[np.diff(times) / np.timedelta64(1, "s"), np.inf]
    leave_s[last] = np.inf
    leave_m = _leaving_metres(tracks, owner, last)
    counted = leave_s <= gap_s
    new_run = np.r_[True, (grid[1:] != grid[:-1]) | (owner[1:] != owner[:-1]) | ~counted[:-1]]
    run_starts = np.flatnonzero(new_run)
    run_ends = np.r_[run_starts[1:], len(grid)] - 1
    seconds = np.add.reduceat(np.where(counted, leave_s, 0.0), run_starts)
    length_m = np.add.reduceat(np.where(counted, leave_m, 0.0), run_starts)
    leaves_at = np.where(counted, np.r_[times[1:], times[-1:]], times)
    keep = grid[run_starts] >= 0  # runs outside every grid are no visit
    starts, ends = run_starts[keep], run_ends[keep]
    who = owner[starts]
    frame = pd.DataFrame(
        {
            "track": [tracks[i].name for i in who],
            "worker": [tracks[i].worker for i in who],
            "code": codes[grid[starts]],
            "start": pd.DatetimeIndex(times[starts]).tz_localize("UTC"),
            "end": pd.DatetimeIndex(leaves_at[ends]).tz_localize("UTC"),
            "seconds": seconds[keep],
            "length_m": length_m[keep],
            "points": ends - starts + 1,
        }
    )
    return frame, who


def _leaving_metres(tracks: list[Track], owner: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Metres of the step leaving each point (0 after a track's last), as each track's
    :attr:`~Track.steps_m` gives them, for all tracks at once.

    The points of every track measured in one Gauss-Krüger zone (the zone of its
    median longitude) are projected together: track by track, a month of a
    district's patrols spent seconds setting up each little projection.
    """
    lon = np.concatenate([t.lon for t in tracks])
    lat = np.concatenate([t.lat for t in tracks])
    medians = pd.Series(lon).groupby(owner).median().to_numpy()
    zone_of_track = np.array([gauss_kruger_epsg(float(m)) for m in medians])
    zone = zone_of_track[owner]
    leave = np.zeros(len(lon))
    for epsg in np.unique(zone_of_track):
        at = np.flatnonzero(zone == epsg)  # whole tracks, each in order
        x, y = from_wgs84(lon[at], lat[at], metric_crs(float(medians[zone_of_track == epsg][0])))
        leave[at[:-1]] = np.hypot(np.diff(x), np.diff(y))
    leave[last] = 0.0  # the step "leaving" a track's last point runs into the next track
    return leave


def time_in_grids(visits: pd.DataFrame) -> pd.DataFrame:
    """Total seconds, metres and visits per grid, most time first."""
    totals = visits.groupby("code").agg(
        seconds=("seconds", "sum"), length_m=("length_m", "sum"), visits=("start", "size")
    )
    return totals.sort_values("seconds", ascending=False).reset_index()


def route_coverage(track: Track, route: Any, tolerance_m: float = DEFAULT_TOLERANCE_M) -> float:
    """Share (0–1) of a planned route's length within ``tolerance_m`` of the track.

    Examples
    --------
    >>> t = Track("t", "w", np.array(["2026-11-23T00:00", "2026-11-23T00:02"],
    ...           dtype="datetime64[ns]"), np.array([120.0, 120.001]), np.array([28.0, 28.0]))
    >>> round(route_coverage(t, LineString([(120.0, 28.0), (120.002, 28.0)])), 2)  # half + 30 m
    0.65
    """
    if not tolerance_m > 0:
        raise InputError(f"tolerance_m: must be > 0, got {tolerance_m!r}")
    if (
        not isinstance(route, shapely.Geometry)
        or route.is_empty
        or route.geom_type not in ("LineString", "MultiLineString")
    ):
        raise InputError("route: a planned route must be a line")
    route_xy = _metric(route, track.crs)
    walked = shapely.simplify(
        LineString(track.xy) if len(track.xy) > 1 else shapely.points(track.xy[0]), tolerance_m / 5
    )
    covered = route_xy.intersection(walked.buffer(tolerance_m, quad_segs=4))
    return float(covered.length / route_xy.length) if route_xy.length else 0.0


def _metric(geometry: Any, crs: pyproj.CRS) -> Any:
    return shapely.transform(
        geometry, lambda xy: np.column_stack(from_wgs84(xy[:, 0], xy[:, 1], crs))
    )


def checkpoints_reached(
    track: Track,
    checkpoints: pd.DataFrame,
    radius_m: float = DEFAULT_CHECKPOINT_RADIUS_M,
) -> pd.DataFrame:
    """Which check-in points (打卡点) the track passed within ``radius_m``, and when first.

    ``checkpoints`` has ``name``, ``lon`` and ``lat`` columns (or a point geometry).
    Returns name, lon, lat, reached, first_at (UTC or NaT) and distance_m (closest
    approach).
    """
    names, lon, lat = _checkpoint_columns(checkpoints)
    if not radius_m > 0:
        raise InputError(f"radius_m: must be > 0, got {radius_m!r}")
    xy = np.column_stack(from_wgs84(lon, lat, track.crs))
    tree = cKDTree(track.xy)
    distance, _ = tree.query(xy)
    first = [min(hits) if hits else -1 for hits in tree.query_ball_point(xy, radius_m)]
    first_at = [pd.Timestamp(track.times[i], tz="UTC") if i >= 0 else pd.NaT for i in first]
    return pd.DataFrame(
        {
            "name": names,
            "lon": lon,
            "lat": lat,
            "reached": np.asarray(first) >= 0,
            "first_at": first_at,
            "distance_m": distance,
        }
    )


def _checkpoint_columns(checkpoints: Any) -> tuple[list[str], np.ndarray, np.ndarray]:
    frame = pd.DataFrame(checkpoints)
    if "geometry" in frame and not {"lon", "lat"} <= set(frame):
        frame["lon"], frame["lat"] = shapely.get_x(frame.geometry), shapely.get_y(frame.geometry)
    missing = {"lon", "lat"} - set(frame)
    if missing:
        raise InputError(f"checkpoints: missing column {', '.join(sorted(missing))}")
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(float)
    if not (np.all(np.abs(lon) <= 180) and np.all(np.abs(lat) <= 90)):
        raise InputError("checkpoints: lon/lat must be WGS-84 degrees")
    names = (
        frame["name"].astype(str).tolist()
        if "name" in frame
        else [f"checkpoint {i + 1}" for i in range(len(frame))]
    )
    return names, lon, lat


def find_stops(
    track: Track,
    min_minutes: float = DEFAULT_STOP_MINUTES,
    radius_m: float = DEFAULT_STOP_RADIUS_M,
) -> pd.DataFrame:
    """Stops: at least ``min_minutes`` spent within ``radius_m`` of where the stop began.

    Scans the track once (stay-point detection): from each point, the stop runs until
    the first point farther than ``radius_m``; a long enough stop is kept and the scan
    continues after it.

    Examples
    --------
    >>> t = Track("t", "w", np.array(["2026-11-23T00:00", "2026-11-23T00:06",
    ...           "2026-11-23T00:07"], dtype="datetime64[ns]"), np.array([120.0, 120.0, 120.01]),
    ...           np.array([28.0, 28.0001, 28.0]))
    >>> find_stops(t)[["minutes", "points"]].values.tolist()
    [[6.0, 2.0]]

    Returns
    -------
    DataFrame
        start, end (UTC), minutes, lon, lat (the stop's mean position), points.
    """
    if not (min_minutes > 0 and radius_m > 0):
        raise InputError("min_minutes and radius_m must be > 0")
    starts = _possible_stop_starts(track, min_minutes, radius_m)
    exits = _exit_indices(track.xy, starts, radius_m)
    lasted = (track.times[exits - 1] - track.times[starts]) / np.timedelta64(60, "s")
    kept = lasted >= min_minutes
    rows, scanned_to = [], 0
    for first, exit_at in zip(starts[kept], exits[kept], strict=True):
        if first >= scanned_to:  # stops do not overlap: the scan goes on after each
            rows.append(_stop_row(track, int(first), int(exit_at) - 1))
            scanned_to = exit_at
    columns = ["start", "end", "minutes", "lon", "lat", "points"]
    return pd.DataFrame(rows, columns=columns)


def _possible_stop_starts(track: Track, min_minutes: float, radius_m: float) -> np.ndarray:
    """Points a stop could begin at: still within ``radius_m`` ``min_minutes`` later.

    A stop from point i lasting ``min_minutes`` keeps every point up to the first one
    ``min_minutes`` later within the radius, that one included; on a walk few points
    pass, so the exact search runs on few.
    """
    later = np.searchsorted(
        track.times, track.times + np.timedelta64(round(min_minutes * 60e9), "ns")
    )
    possible = np.flatnonzero(later < len(track.times))
    moved = np.hypot(*(track.xy[later[possible]] - track.xy[possible]).T)
    return possible[moved <= radius_m]


def _exit_indices(xy: np.ndarray, starts: np.ndarray, radius_m: float) -> np.ndarray:
    """For each start i, the first j > i farther than ``radius_m`` from it (n if none).

    Looks ahead in windows that double in length, all starts at once.
    """
    n = len(xy)
    exits = np.full(len(starts), n, dtype=np.int64)
    pending, offset, window = np.arange(len(starts)), 1, 64
    while pending.size:
        ahead = starts[pending, None] + np.arange(offset, offset + window)
        within = ahead < n
        ahead = np.minimum(ahead, n - 1)
        away = xy[ahead] - xy[starts[pending]][:, None, :]
        far = (np.hypot(away[..., 0], away[..., 1]) > radius_m) & within
        found = far.any(axis=1)
        exits[pending[found]] = ahead[found, far[found].argmax(axis=1)]
        pending = pending[~found & within[:, -1]]  # neither found nor past the end
        offset, window = offset + window, window * 2
    return exits


def _stop_row(track: Track, first: int, last: int) -> tuple:
    span = slice(first, last + 1)
    minutes = float((track.times[last] - track.times[first]) / np.timedelta64(60, "s"))
    return (
        pd.Timestamp(track.times[first], tz="UTC"),
        pd.Timestamp(track.times[last], tz="UTC"),
        minutes,
        float(track.lon[span].mean()),
        float(track.lat[span].mean()),
        last - first + 1,
    )


# --- the whole picture -------------------------------------------------------------------


@dataclass
class TrackAnalysis:
    """What one track shows; :meth:`to_dict` is its JSON form."""

    track: Track
    length_m: float
    duration_s: float
    visits: pd.DataFrame
    grids: pd.DataFrame
    stops: pd.DataFrame
    route_coverage: float | None = None
    checkpoints: pd.DataFrame | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (times in ISO 8601, UTC)."""
        return {
            "track": self.track.name,
            "worker": self.track.worker,
            "source": self.track.source,
            "start": self.track.start.isoformat(),
            "end": self.track.end.isoformat(),
            "points": len(self.track.lon),
            "length_m": round(self.length_m, 1),
            "duration_s": self.duration_s,
            "grids": _records(self.grids),
            "visits": _records(self.visits.drop(columns=["track", "worker"])),
            "stops": _records(self.stops),
            "route_coverage": None
            if self.route_coverage is None
            else round(self.route_coverage, 4),
            "checkpoints": None if self.checkpoints is None else _records(self.checkpoints),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = [None if pd.isna(v) else v.isoformat() for v in out[column]]
        elif pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].round(2)
    return [
        {k: (None if _is_missing(v) else _plain(v)) for k, v in row.items()}
        for row in out.to_dict("records")
    ]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def analyse_track(track: Track, hierarchy: Any, **options: Any) -> TrackAnalysis:
    """Length, duration, grids, stops, and (if given) route coverage and check-ins.

    Takes the options of :func:`analyse_tracks`.

    Raises
    ------
    InputError
        The track is far from every grid, or an option is out of range.
    """
    return analyse_tracks([track], hierarchy, **options)[0]


def analyse_tracks(
    tracks: Any,
    hierarchy: Any,
    *,
    level: str | None = None,
    route: Any = None,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    checkpoints: pd.DataFrame | None = None,
    checkpoint_radius_m: float = DEFAULT_CHECKPOINT_RADIUS_M,
    stop_minutes: float = DEFAULT_STOP_MINUTES,
    stop_radius_m: float = DEFAULT_STOP_RADIUS_M,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> list[TrackAnalysis]:
    """:func:`analyse_track` of each track, their points assigned to grids in one call.

    Raises
    ------
    InputError
        A track is far from every grid (the first is named), or an option is out of range.
    """
    tracks = list(tracks)
    visits, owner = _visits_with_owner(tracks, hierarchy, level, DEFAULT_MAX_DISTANCE_M, max_gap_s)
    first_visit = np.searchsorted(owner, np.arange(len(tracks) + 1))
    analyses = []
    for i, track in enumerate(tracks):
        mine = visits.iloc[first_visit[i] : first_visit[i + 1]].reset_index(drop=True)
        coverage = None if route is None else route_coverage(track, route, tolerance_m)
        reached = (
            None
            if checkpoints is None
            else checkpoints_reached(track, checkpoints, checkpoint_radius_m)
        )
        analyses.append(
            TrackAnalysis(
                track=track,
                length_m=track_length_m(track, max_gap_s),
                duration_s=track.duration_s,
                visits=mine,
                grids=time_in_grids(mine),
                stops=find_stops(track, stop_minutes, stop_radius_m),
                route_coverage=coverage,
                checkpoints=reached,
            )
        )
    return analyses


__all__ = [
    "Track",
    "TrackAnalysis",
    "analyse_track",
    "analyse_tracks",
    "checkpoints_reached",
    "find_stops",
    "grid_visits",
    "route_coverage",
    "time_in_grids",
    "track_length_m",
    "visits_of_tracks",
]
