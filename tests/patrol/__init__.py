"""Patrol tests: hand-made networks and tracks whose answers are known.

The tracks walk the tiny district of ``tests/conftest.py`` (grids of 0.01°, grid
101 is the box 120.00–120.01 E, 28.00–28.01 N). Helpers here make GPX text for a
walk at a steady speed, one point every few seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from geogrid.crs import geodesic_distance_m

DATA = Path(__file__).resolve().parent / "data"
WALK_MS = 1.25  # 4.5 km/h


def walk_points(
    corners: list[tuple[float, float]], start: str, step_s: float = 5.0, speed_ms: float = WALK_MS
) -> pd.DataFrame:
    """Points (time, lon, lat) walking straight between corners at a steady speed."""
    lon, lat = np.asarray(corners, dtype=float).T
    legs = geodesic_distance_m(lon[:-1], lat[:-1], lon[1:], lat[1:])
    along = np.r_[0.0, np.cumsum(legs)]
    seconds = np.arange(0.0, along[-1] / speed_ms + step_s / 2, step_s)
    metres = np.minimum(seconds * speed_ms, along[-1])
    times = pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s")
    return pd.DataFrame(
        {"time": times, "lon": np.interp(metres, along, lon), "lat": np.interp(metres, along, lat)}
    )


def gpx_text(tracks: list[tuple[str, pd.DataFrame]], author: str | None = None) -> str:
    """GPX 1.1 with one <trk> per (name, points) and times in UTC."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gpx version="1.1" creator="tests" xmlns="http://www.topografix.com/GPX/1/1">',
    ]
    if author:
        parts.append(f"<metadata><author><name>{author}</name></author></metadata>")
    for name, points in tracks:
        parts.append(f"<trk><name>{name}</name><trkseg>")
        for row in points.itertuples():
            stamp = pd.Timestamp(row.time).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
            parts.append(
                f'<trkpt lat="{row.lat:.7f}" lon="{row.lon:.7f}"><time>{stamp}</time></trkpt>'
            )
        parts.append("</trkseg></trk>")
    parts.append("</gpx>")
    return "\n".join(parts)


#: Two sides of grid 101, 20 m inside: east along the south side, then north along the east.
TWO_SIDES = [(120.0002, 28.00018), (120.0098, 28.00018), (120.0098, 28.0098)]
#: Around grid 101, 20 m inside its boundary.
AROUND_101 = [*TWO_SIDES, (120.0002, 28.0098), (120.0002, 28.00018)]
