"""Patrol routes (巡逻路线): a planned line per grid and shift."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

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
