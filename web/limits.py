"""Limits on what one request may ask for, so that no request holds a worker for long.

Each limit is a ``GEOGRID_MAX_*`` setting (:mod:`web.settings`), checked before the
costly work starts. Over a limit, the answer is 413 when what the client sent is
too large (tracks, points, places, a route's points) and 422 when what it asks
to compute is (streets to walk, raster cells, hexagons, grids of an analysis);
the message says how many, the most allowed and the setting, e.g. ``20,000
tracks in the upload; at most 100 (GEOGRID_MAX_UPLOAD_TRACKS)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from flask import current_app

from geogrid.crs import geodesic_distance_m
from geogrid.errors import InputError
from web.settings import PREFIX


class LimitError(InputError):
    """A request over one of the ``GEOGRID_MAX_*`` limits."""


class TooLargeError(LimitError):
    """What the request sent is larger than a limit allows (HTTP 413)."""


class TooCostlyError(LimitError):
    """What the request asks to compute is larger than a limit allows (HTTP 422)."""


def at_most(
    setting: str, count: int, what: str, error: type[LimitError] = TooLargeError, hint: str = ""
) -> None:
    """Refuse ``count`` of ``what`` when it is over the limit the setting holds.

    Examples
    --------
    >>> from flask import Flask
    >>> app = Flask(__name__)
    >>> app.config["MAX_UPLOAD_TRACKS"] = 100
    >>> with app.app_context():
    ...     at_most("MAX_UPLOAD_TRACKS", 20_000, "tracks in the upload")
    Traceback (most recent call last):
    ...
    web.limits.TooLargeError: 20,000 tracks in the upload; at most 100 (GEOGRID_MAX_UPLOAD_TRACKS)
    """
    limit = current_app.config[setting]
    if count > limit:
        raise error(f"{count:,} {what}; at most {limit:,} ({PREFIX}{setting}){hint}")


def view_m(bounds: Sequence[float]) -> tuple[float, float]:
    """Width and height of a WGS-84 box in metres, the width across its middle.

    Examples
    --------
    >>> [round(v) for v in view_m((120.63, 27.99, 120.68, 28.03))]
    [4918, 4433]
    """
    west, south, east, north = bounds
    middle = (south + north) / 2
    return (float(geodesic_distance_m(west, middle, east, middle)),
            float(geodesic_distance_m(west, south, west, north)))  # fmt: skip


def raster_cells(bounds: Sequence[float], cell_m: float) -> int:
    """How many cells of ``cell_m`` metres a raster over a WGS-84 box has.

    Examples
    --------
    >>> raster_cells((120.63, 27.99, 120.68, 28.03), 50)
    8811
    """
    width_m, height_m = view_m(bounds)
    return max(math.ceil(width_m / cell_m), 1) * max(math.ceil(height_m / cell_m), 1)


def hexagons_in_view(bounds: Sequence[float], resolution: int) -> int:
    """How many H3 hexagons of ``resolution`` a view can hold (its area ÷ a hexagon's).

    Examples
    --------
    >>> hexagons_in_view((120.63, 27.99, 120.68, 28.03), 9)
    207
    """
    import h3

    width_m, height_m = view_m(bounds)
    return math.ceil(width_m * height_m / 1e6 / h3.average_hexagon_area(resolution, unit="km^2"))
