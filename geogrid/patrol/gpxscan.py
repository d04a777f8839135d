"""Fast reading of GPX track points: the segments are scanned, not built into a tree.

A day's track at one point every 5 s is 17,280 ``<trkpt>`` elements; building
them into an ElementTree costs about ten times more than the rest of reading
the file. So :func:`geogrid.patrol.gpx.parse_gpx` first checks the whole
file with expat (C, no tree: well-formed or an exact line and column), then

* :func:`cut_segments` cuts every ``<trkseg>`` out of the document, leaving a
  small skeleton (metadata, track names) for ElementTree and a numbered
  placeholder for each segment;
* :func:`scan_segment` reads a segment's points with one regular expression.

The scan covers the form GPS loggers and phone apps write: ``<trkpt lat=… lon=…>``
(either order, either quote) with a ``<time>`` child. Whenever a segment holds
anything else — a point without a time, a namespace prefix, a comment, an
entity in a number — the scan declines (returns ``None``) and the caller reads
that segment from the tree, which gives the exact message for a bad point. The
tests check the two readings agree on every form they both read.

Examples
--------
>>> skeleton, segments = cut_segments(
...     b'<gpx><trk><trkseg><trkpt lat="28" lon="120"><time>2026-11-23T00:00:00Z</time>'
...     b'</trkpt></trkseg></trk></gpx>')
>>> skeleton
b'<gpx><trk><trkseg geogrid-segment="0"/></trk></gpx>'
>>> scan_segment(segments[0])
(array([120.]), array([28.]), array(['2026-11-23T00:00:00.000000000'], dtype='datetime64[ns]'))
>>> scan_segment(b'<trkpt lat="28" lon="120"/>') is None  # no time: the tree says which point
True
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: Track times outside these are refused: a phone whose clock was never set, or a typo.
EARLIEST, LATEST = np.datetime64("2000-01-01"), np.datetime64("2100-01-01")
#: Attribute the skeleton's placeholder ``<trkseg/>`` carries: the segment's index.
SEGMENT_ATTRIBUTE = "geogrid-segment"
_MARK = SEGMENT_ATTRIBUTE.encode()

# A point's start tag, then the elements before its <time> child: leaves only (<ele>,
# <ele/>), so the <time> found is the point's own, never one nested in <extensions>.
# expat has already found the file well-formed: a quote opened is closed by its kind.
_POINT_REST = (
    rb"[\"']\s*>\s*(?:<(?!time>)[^/!?<>][^<>]*(?:/>|>[^<]*</[^<>]*>)\s*)*<time>([^<]*)</time>"
)
_LAT_LON = re.compile(rb"<trkpt\s+lat=[\"']([^\"'<]*)[\"']\s+lon=[\"']([^\"'<]*)" + _POINT_REST)
_LON_LAT = re.compile(rb"<trkpt\s+lon=[\"']([^\"'<]*)[\"']\s+lat=[\"']([^\"'<]*)" + _POINT_REST)
# Markup the cut cannot see through (comments, CDATA, DOCTYPE; prefixed track
# elements): the whole file is then read from the tree.
_OPAQUE = (b"<!", b":trk")
_PLAIN_SEGMENT = re.compile(rb"<trkseg\s*/?>")
#: Times the scan reads with numpy: "2026-11-23T08:00:00Z", with or without a fraction.
_UTC_SHAPE = {4: b"-", 7: b"-", 10: b"T", 13: b":", 16: b":"}


def cut_segments(data: bytes) -> tuple[bytes, list[bytes]]:
    """The document with each segment replaced by a placeholder, and the segments' contents.

    Returns ``(data, [])`` unchanged when the document has markup the cut cannot
    see through (comments, CDATA, a DOCTYPE, namespace-prefixed track elements).
    """
    if any(marker in data for marker in _OPAQUE):
        return data, []
    skeleton, segments, done, search = [], [], 0, 0
    while (start := data.find(b"<trkseg", search)) >= 0:
        open_end = search = data.find(b">", start) + 1
        if data[start + 7 : start + 8] not in b" \t\r\n/>":
            continue  # another element whose name begins with "trkseg"
        if not _PLAIN_SEGMENT.fullmatch(data, start, open_end):
            return data, []  # attributes (a namespace?) on a segment: the tree reads it
        if data[open_end - 2 : open_end] == b"/>":
            content_end = open_end  # <trkseg/>
        else:
            content_end = data.find(b"</trkseg", open_end)
            search = data.find(b">", content_end) + 1
        skeleton += [data[done:start], b'<trkseg %s="%d"/>' % (_MARK, len(segments))]
        segments.append(data[open_end:content_end])
        done = search
    return b"".join([*skeleton, data[done:]]), segments


def scan_segment(segment: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(lon, lat, times) of a segment's points in file order, or ``None`` to read it from the tree.

    Times are UTC ``datetime64[ns]``. A point the tree reading would refuse (a
    missing time, a coordinate out of range) makes it decline, so that the tree
    reading can name the point.
    """
    expected = segment.count(b"<trkpt")
    if expected == 0:
        return _empty()
    for pattern, lat_group, lon_group in ((_LAT_LON, 0, 1), (_LON_LAT, 1, 0)):
        points = pattern.findall(segment)
        if len(points) == expected:
            return _arrays(points, lat_group, lon_group)
        if points:
            return None  # some points in another form, or without a time
    return None


def _arrays(points: list[tuple], lat_group: int, lon_group: int) -> tuple | None:
    columns = list(zip(*points, strict=True))
    try:
        lat = np.fromiter(map(float, columns[lat_group]), np.float64, len(points))
        lon = np.fromiter(map(float, columns[lon_group]), np.float64, len(points))
    except ValueError:
        return None  # not a plain number: the tree reading names the point
    if not ((np.abs(lat) <= 90).all() and (np.abs(lon) <= 180).all()):
        return None  # out of range: likewise
    times = _utc_times(np.array(columns[2]))
    return None if times is None else (lon, lat, times)


def _utc_times(stamps: np.ndarray) -> np.ndarray | None:
    """ISO 8601 stamps (bytes) as naive UTC ``datetime64[ns]``, or ``None`` if one is not."""
    stamps = np.char.strip(stamps)
    first = stamps.astype("S1")
    if not ((first >= b"0") & (first <= b"9")).all():
        return None  # parsers read words such as "now"; the tree reading refuses them
    if _utc_shaped(stamps):
        # The common form: numpy parses it ten times faster than pandas.
        try:
            times = np.char.rstrip(stamps, b"Z").astype("datetime64[us]")
        except ValueError:
            return None
    else:
        try:
            parsed = pd.to_datetime(stamps.astype(str), utc=True, format="ISO8601")
        except (ValueError, TypeError):
            return None
        times = parsed.tz_localize(None).to_numpy(dtype="datetime64[us]")
    # Checked before nanoseconds, whose range (1678–2262) would wrap a year such as 1500.
    return times.astype("datetime64[ns]") if in_time_range(times) else None


def _utc_shaped(stamps: np.ndarray) -> bool:
    """Whether every stamp is "YYYY-MM-DDTHH:MM:SS[.fff…]Z", the form numpy reads strictly."""
    lengths = np.char.str_len(stamps)
    if len(stamps) == 0 or lengths.min() < 20 or lengths.max() > 30:
        return False
    chars = np.ascontiguousarray(stamps).view("S1").reshape(len(stamps), -1)
    shaped = chars[np.arange(len(stamps)), lengths - 1] == b"Z"
    shaped &= (lengths == 20) | (chars[:, 19] == b".")  # "…:SSZ" or "…:SS.fffZ"
    for position, char in _UTC_SHAPE.items():
        shaped &= chars[:, position] == char
    return bool(shaped.all())


def in_time_range(times: np.ndarray) -> bool:
    """Whether every time lies in 2000–2099: a GPS patrol's, not a clock's mistake."""
    return bool(((times >= EARLIEST) & (times < LATEST)).all())


def _empty() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.empty(0), np.empty(0), np.empty(0, dtype="datetime64[ns]")
