"""GPX in and out: patrol tracks read from GPX 1.0/1.1 files, planned routes written to GPX.

:func:`read_gpx` and :func:`parse_gpx` read one track per ``<trk>``, its segments
joined; GPX times are UTC (a time without an offset is taken as UTC, as the GPX
schema says). Each file is checked whole by expat, then its points are scanned
(:mod:`geogrid.patrol.gpxscan`); a form the scan does not read is read from the
tree, which names the bad point. :func:`write_gpx` writes routes and waypoints;
:func:`parse_route_gpx` reads a planned route back (times not needed).

Examples
--------
>>> text = write_gpx([("巡逻路线", LineString([(120.0, 28.0), (120.001, 28.0)]))])
>>> [round(v, 3) for v in parse_route_gpx(text).coords[1]]
[120.001, 28.0]
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.parsers import expat

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString

from geogrid.crs import to_wgs84
from geogrid.errors import InputError
from geogrid.patrol.gpxscan import (
    EARLIEST,
    LATEST,
    SEGMENT_ATTRIBUTE,
    cut_segments,
    in_time_range,
    scan_segment,
)
from geogrid.patrol.records import Track

#: An XML declaration, its encoding in group 2 (groups 1 and 3: what surrounds it).
_DECLARED = re.compile(r"""(^\s*<\?xml[^>]*?encoding\s*=\s*["'])([A-Za-z0-9._-]+)(["'])""")
#: Encodings expat reads itself; any other declared one is decoded by Python first.
_EXPAT_ENCODINGS = {"utf-8", "utf-16", "iso-8859-1", "us-ascii"}  # by these names only
#: Largest GPX accepted, in bytes (a day at one point a second is about 3 MB).
MAX_GPX_BYTES = 50_000_000


# --- reading GPX --------------------------------------------------------------------------


def read_gpx(path: str | Path, *, crs: str = "WGS-84", worker: str | None = None) -> list[Track]:
    """Read the tracks of a GPX file; every problem names the file, track and point.

    Parameters
    ----------
    path : str or Path
        A GPX 1.0 or 1.1 file with ``<trk>`` elements whose points have ``<time>``.
    crs : str
        System of the coordinates: WGS-84 (the GPX standard), or GCJ-02 / BD-09 for
        files exported from Chinese map apps.
    worker : str, optional
        Who walked it; default the file's ``metadata/author/name``, else the
        track's name.

    Raises
    ------
    InputError
        The file is missing, not GPX, has no track points, or a point lacks a time
        or has bad coordinates.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{path}: file not found")
    if file.stat().st_size > MAX_GPX_BYTES:
        raise InputError(f"{path}: larger than {MAX_GPX_BYTES:,} bytes")
    return parse_gpx(file.read_bytes(), source=str(path), crs=crs, worker=worker)


def parse_gpx(
    text: str | bytes, *, source: str = "GPX", crs: str = "WGS-84", worker: str | None = None
) -> list[Track]:
    """Tracks from GPX text (see :func:`read_gpx`); ``source`` names it in messages.

    Examples
    --------
    >>> parse_gpx("<gpx><trk><trkseg><trkpt lat='28' lon='120'/></trkseg></trk></gpx>")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: GPX: track 1, point 1 has no <time>; a patrol track needs ...
    """
    data = _checked_gpx(text, source)
    skeleton, segments = cut_segments(data)
    scanned = [scan_segment(segment) for segment in segments]
    if any(points is None for points in scanned) or not _parses(skeleton):
        skeleton, scanned = data, []  # a form the scan does not read: the tree reads it all
    root = _gpx_root(skeleton, source)
    author = _find_text(root, "metadata", "author", "name") or _find_text(root, "author")
    tracks = []
    for number, trk in enumerate(_children(root, "trk"), start=1):
        name = _find_text(trk, "name") or f"track {number}"
        lon, lat, times = _track_points(trk, scanned, f"{source}: track {number}")
        if len(lon) == 0:
            continue
        lon, lat = to_wgs84(lon, lat, crs)
        order = np.argsort(times, kind="stable")
        owner = worker or author or name
        tracks.append(Track(name, owner, times[order], lon[order], lat[order], source))
    if not tracks:
        raise InputError(f"{source}: no track points (<trk><trkseg><trkpt>) in the file")
    return tracks


def _checked_gpx(text: str | bytes, source: str) -> bytes:
    """The GPX as UTF-8 bytes, once expat has found it well-formed (fast: it builds no tree).

    Text, and files declared in an encoding expat cannot read (GBK or GB18030, as
    some Chinese apps export), are re-encoded as UTF-8, their declaration to match.
    """
    if not text or not text.strip():
        raise InputError(f"{source}: the file is empty")
    if isinstance(text, bytes):
        text = _decoded(text, source)
    data = _DECLARED.sub(r"\1UTF-8\3", text, count=1).encode() if isinstance(text, str) else text
    try:
        expat.ParserCreate().Parse(data, True)
    except expat.ExpatError as exc:
        message = expat.ErrorString(exc.code)  # expat counts columns from 0, editors from 1
        raise InputError(
            f"{source}: not a GPX file (malformed XML: {message}: line {exc.lineno}, "
            f"column {exc.offset + 1})"
        ) from None
    return data


def _decoded(data: bytes, source: str) -> bytes | str:
    """``data`` as expat reads it (bytes), or decoded when declared in another encoding."""
    declared = _DECLARED.match(data[:200].decode("latin-1"))
    if not declared or declared.group(2).lower() in _EXPAT_ENCODINGS:
        return data
    name = declared.group(2)
    try:
        return data.decode(name)
    except LookupError:
        raise InputError(f"{source}: unknown encoding {name!r} in the XML declaration") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not {name} text (byte {exc.start + 1})") from None


def _parses(skeleton: bytes) -> bool:
    """Whether the cut left well-formed XML (a segment nested in a point would not)."""
    try:
        expat.ParserCreate().Parse(skeleton, True)
    except expat.ExpatError:
        return False
    return True


def _gpx_root(text: str | bytes, source: str) -> ET.Element:
    if not text or not text.strip():
        raise InputError(f"{source}: the file is empty")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise InputError(f"{source}: not a GPX file (malformed XML: {exc})") from None
    if _local(root.tag) != "gpx":
        raise InputError(f"{source}: not a GPX file (the root element is <{_local(root.tag)}>)")
    return root


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _find_text(element: ET.Element, *path: str) -> str | None:
    for name in path:
        found = _children(element, name)
        if not found:
            return None
        element = found[0]
    return (element.text or "").strip() or None


def _track_points(
    trk: ET.Element, scanned: list[tuple], where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A track's points: the scanned ones its placeholders name, or read from the tree."""
    namespace = trk.tag[: len(trk.tag) - len(_local(trk.tag))]
    segments = trk.findall(namespace + "trkseg")
    if scanned:
        parts = [scanned[int(segment.get(SEGMENT_ATTRIBUTE))] for segment in segments]
        if not parts:
            return np.empty(0), np.empty(0), np.empty(0, dtype="datetime64[ns]")
        lon, lat, times = (np.concatenate(column) for column in zip(*parts, strict=True))
        return lon, lat, times
    # Qualified names let ElementTree's C code find the points: ~3x faster than by hand.
    points = [p for segment in segments for p in segment.findall(namespace + "trkpt")]
    lons = [point.get("lon") for point in points]
    lats = [point.get("lat") for point in points]
    stamps = [point.findtext(namespace + "time") for point in points]
    lon, lat = _coordinates(lons, "lon", 180, where), _coordinates(lats, "lat", 90, where)
    return lon, lat, _times(stamps, where)


def _coordinates(values: list, name: str, limit: float, where: str) -> np.ndarray:
    try:
        array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    except ValueError:
        bad = next(i for i, v in enumerate(values) if not _is_number(v))
        raise InputError(
            f"{where}, point {bad + 1}: {name}={values[bad]!r} is not a number"
        ) from None
    wrong = ~(np.abs(array) <= limit)
    if wrong.any():
        bad = int(np.flatnonzero(wrong)[0])
        raise InputError(
            f"{where}, point {bad + 1}: {name}={values[bad]!r} is missing or "
            f"out of range (±{limit})"
        )
    return array


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _times(stamps: list, where: str) -> np.ndarray:
    missing = [i for i, s in enumerate(stamps) if not (s and s.strip())]
    if missing:
        raise InputError(
            f"{where}, point {missing[0] + 1} has no <time>; "
            "a patrol track needs a time at every point"
        )
    parsed = _parsed_times(stamps)
    if parsed is None:
        bad = next((i for i, s in enumerate(stamps) if not _is_time(s)), 0)
        raise InputError(
            f"{where}, point {bad + 1}: <time> {stamps[bad]!r} is not an ISO 8601 time"
        )
    times = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    if not in_time_range(times):  # before nanoseconds, whose range would wrap the year 1500
        bad = int(np.flatnonzero((times < EARLIEST) | (times >= LATEST))[0])
        raise InputError(
            f"{where}, point {bad + 1}: <time> {stamps[bad]!r} is not between 2000 and 2099"
        )
    return times.astype("datetime64[ns]")


def _parsed_times(stamps: list[str]) -> pd.Series | None:
    """ISO 8601 stamps as aware UTC times, or ``None`` if one is not such a stamp."""
    stamps = [s.strip() for s in stamps]
    if not all(s[:1].isdigit() for s in stamps):
        return None  # pandas reads "now" and "today"
    try:
        return pd.to_datetime(pd.Series(stamps), utc=True, format="ISO8601")
    except (ValueError, TypeError):
        return None


def _is_time(value: str) -> bool:
    """Whether one stamp reads as the whole column is read (the same parser, alone)."""
    return _parsed_times([value]) is not None


# --- writing GPX ------------------------------------------------------------------------


def write_gpx(
    lines: list[tuple[str, Any]], waypoints: pd.DataFrame | None = None, creator: str = "geogrid"
) -> str:
    """GPX 1.1 text with one ``<trk>`` per (name, WGS-84 LineString) and optional ``<wpt>``.

    ``waypoints`` has name, lon and lat columns.

    Examples
    --------
    >>> text = write_gpx([("巡逻路线", LineString([(120.0, 28.0), (120.001, 28.0)]))])
    >>> [round(v, 3) for v in parse_route_gpx(text).coords[1]]
    [120.001, 28.0]
    """
    root = ET.Element(
        "gpx", {"version": "1.1", "creator": creator, "xmlns": "http://www.topografix.com/GPX/1/1"}
    )
    if waypoints is not None:
        for row in waypoints.itertuples():
            wpt = ET.SubElement(root, "wpt", {"lat": f"{row.lat:.7f}", "lon": f"{row.lon:.7f}"})
            ET.SubElement(wpt, "name").text = str(row.name)
    for name, line in lines:
        trk = ET.SubElement(root, "trk")
        ET.SubElement(trk, "name").text = name
        segment = ET.SubElement(trk, "trkseg")
        for x, y in np.asarray(line.coords)[:, :2]:
            ET.SubElement(segment, "trkpt", {"lat": f"{y:.7f}", "lon": f"{x:.7f}"})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def parse_route_gpx(text: str | bytes, source: str = "GPX", crs: str = "WGS-84") -> Any:
    """A planned route from GPX: its ``<trk>`` or ``<rte>`` lines (times not needed).

    Returns a LineString (one line) or MultiLineString, in WGS-84.
    """
    root = _gpx_root(text, source)
    lines = []
    for kind, container, point in (("trk", "trkseg", "trkpt"), ("rte", None, "rtept")):
        for element in _children(root, kind):
            for holder in _children(element, container) if container else [element]:
                pts = _children(holder, point)
                where = f"{source}: <{kind}>"
                lon = _coordinates([p.get("lon") for p in pts], "lon", 180, where)
                lat = _coordinates([p.get("lat") for p in pts], "lat", 90, where)
                if len(lon) >= 2:
                    lines.append(LineString(np.column_stack(to_wgs84(lon, lat, crs))))
    if not lines:
        raise InputError(f"{source}: no <trk> or <rte> with at least two points")
    return lines[0] if len(lines) == 1 else shapely.MultiLineString(lines)
