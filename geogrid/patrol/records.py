"""Patrols: planned routes (巡逻路线), a line per grid and shift, and recorded tracks (巡查轨迹).

What a track shows (grids passed, stops, coverage of a route) is worked out in
:mod:`geogrid.patrol.tracks`; here are the records themselves, as the store keeps them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

from geogrid.crs import from_wgs84, metric_crs
from geogrid.errors import InputError

#: Shifts of the usual 一日三巡 (three patrols a day) and a 24-hour duty.
SHIFTS = ("morning", "afternoon", "evening", "night", "day")


@dataclass(frozen=True)
class PatrolRoute:
    """A planned patrol route of one grid for one shift.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> PatrolRoute("330399001001001", "morning", LineString([(120.65, 28.0), (120.66, 28.0)]),
    ...             name="早巡").shift
    'morning'
    """

    grid_code: str
    shift: str
    geometry: BaseGeometry
    name: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


def check_route(route: PatrolRoute) -> None:
    """Refuse a route with no grid, an unknown shift or a geometry that is not a line.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> check_route(PatrolRoute("1", "morning", Point(0, 0)))
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: geometry: a patrol route must be a line, got Point
    """
    if not route.grid_code:
        raise InputError("grid_code: a patrol route belongs to a grid")
    if route.shift not in SHIFTS:
        raise InputError(f"shift: {route.shift!r} is not one of {', '.join(SHIFTS)}")
    geometry = route.geometry
    if not isinstance(geometry, BaseGeometry) or geometry.geom_type not in (
        "LineString",
        "MultiLineString",
    ):
        kind = getattr(geometry, "geom_type", type(geometry).__name__)
        raise InputError(f"geometry: a patrol route must be a line, got {kind}")
    west, south, east, north = shapely.bounds(geometry)
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InputError("geometry: coordinates must be WGS-84 longitude/latitude")


@dataclass(frozen=True, eq=False)
class Track:
    """A GPS track: WGS-84 points in time order, each with a UTC time.

    Examples
    --------
    >>> t = Track("早巡", "张三", np.array(["2026-11-23T00:00", "2026-11-23T00:10"],
    ...           dtype="datetime64[ns]"), np.array([120.0, 120.0]), np.array([28.0, 28.001]))
    >>> t.duration_s
    600.0
    """

    name: str
    worker: str
    times: np.ndarray  # datetime64[ns], UTC
    lon: np.ndarray
    lat: np.ndarray
    source: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    id: int | None = None  # once stored

    @property
    def duration_s(self) -> float:
        """Seconds from the first point to the last."""
        return float((self.times[-1] - self.times[0]) / np.timedelta64(1, "s"))

    @property
    def start(self) -> pd.Timestamp:
        """Time of the first point (UTC)."""
        return pd.Timestamp(self.times[0], tz="UTC")

    @property
    def end(self) -> pd.Timestamp:
        """Time of the last point (UTC)."""
        return pd.Timestamp(self.times[-1], tz="UTC")

    @property
    def label(self) -> str:
        """How messages name the track: its file and name."""
        return f"{self.source}: track {self.name!r}" if self.source else f"track {self.name!r}"

    @cached_property
    def crs(self) -> pyproj.CRS:
        """The Gauss-Krüger zone its distances are measured in."""
        return metric_crs(float(np.median(self.lon)))

    @cached_property
    def xy(self) -> np.ndarray:
        """(n, 2) point coordinates in metres (:attr:`crs`)."""
        return np.column_stack(from_wgs84(self.lon, self.lat, self.crs))

    @cached_property
    def steps_m(self) -> np.ndarray:
        """Length of each step between consecutive points, in metres (n - 1 values)."""
        return np.hypot(*np.diff(self.xy, axis=0).T)

    @cached_property
    def steps_s(self) -> np.ndarray:
        """Seconds of each step between consecutive points (n - 1 values)."""
        return np.diff(self.times) / np.timedelta64(1, "s")

    def __getstate__(self) -> dict[str, Any]:
        # Pickled (to and from reading processes) without its cached measures:
        # they double its size and are quicker to compute again than to copy.
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def digest(self) -> str:
        """What identifies the recording: its worker, times and positions (SHA-256, hex).

        The same track imported twice has the same digest, so the store keeps it once.

        Examples
        --------
        >>> t = Track("早巡", "张三", np.array(["2026-11-23T00:00"], dtype="datetime64[ns]"),
        ...           np.array([120.0]), np.array([28.0]))
        >>> t.digest() == Track("改名", "张三", t.times, t.lon, t.lat).digest()
        True
        """
        content = hashlib.sha256(self.worker.encode())
        for values in (self.times.astype("datetime64[ns]").view(np.int64), self.lon, self.lat):
            content.update(np.ascontiguousarray(values).tobytes())
        return content.hexdigest()

    def line(self) -> LineString:
        """The track as a WGS-84 LineString."""
        return LineString(np.column_stack([self.lon, self.lat]))


def check_track(track: Track, where: str = "track") -> None:
    """Refuse a track the store could not give back as it came: every problem names the field.

    Examples
    --------
    >>> t = Track("早巡", "", np.array(["2026-11-23T00:00"], dtype="datetime64[ns]"),
    ...           np.array([120.0]), np.array([28.0]))
    >>> check_track(t)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: track.worker: who walked it is missing
    """
    if not isinstance(track.worker, str) or not track.worker.strip():
        raise InputError(f"{where}.worker: who walked it is missing")
    times = np.asarray(track.times)
    if not np.issubdtype(times.dtype, np.datetime64) or len(times) == 0 or np.isnat(times).any():
        raise InputError(f"{where}.times: needs a time at every point, and at least one point")
    if len(track.lon) != len(times) or len(track.lat) != len(times):
        raise InputError(f"{where}: {len(times)} times but {len(track.lon)} lon and "
                         f"{len(track.lat)} lat values")  # fmt: skip
    if not ((np.abs(track.lon) <= 180).all() and (np.abs(track.lat) <= 90).all()):
        raise InputError(f"{where}: lon/lat must be WGS-84 degrees")
    if (np.diff(times) < np.timedelta64(0)).any():
        raise InputError(f"{where}.times: not in time order")
