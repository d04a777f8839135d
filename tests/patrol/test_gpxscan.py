"""The fast GPX reading (scan of the segments) against the tree reading, on every form.

A comment in a file makes :func:`parse_gpx` read all of it from the tree, so the
same document with and without one is read both ways; the two must agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geogrid.errors import InputError
from geogrid.patrol.gpx import parse_gpx
from geogrid.patrol.gpxscan import cut_segments, scan_segment

NAMESPACES = ["http://www.topografix.com/GPX/1/1", "http://www.topografix.com/GPX/1/0", None]
START = pd.Timestamp("2026-11-22T16:00:00Z")


def read_from_tree(document: str):
    return parse_gpx(document.replace("</gpx>", "<!-- read from the tree --></gpx>"))


def same_tracks(left, right) -> None:
    assert [(t.name, t.worker) for t in left] == [(t.name, t.worker) for t in right]
    for a, b in zip(left, right, strict=True):
        np.testing.assert_array_equal(a.times, b.times)
        np.testing.assert_array_equal(a.lon, b.lon)
        np.testing.assert_array_equal(a.lat, b.lat)


@st.composite
def points(draw, lon_first: bool, quote: str):
    """One <trkpt> as GPS loggers and phone apps write it, in one of their forms."""
    lat = draw(st.floats(-90, 90, allow_nan=False))
    lon = draw(st.floats(-180, 180, allow_nan=False))
    digits = draw(st.integers(0, 9))
    attrs = [f"lat={quote}{lat:.{digits}f}{quote}", f"lon={quote}{lon:.{digits}f}{quote}"]
    space = draw(st.sampled_from([" ", "\n    ", "\t"]))
    when = START + pd.Timedelta(seconds=draw(st.integers(0, 86_400)))
    stamp = draw(
        st.sampled_from(
            [
                when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                when.strftime("%Y-%m-%dT%H:%M:%S.250Z"),
                when.tz_convert("Asia/Shanghai").isoformat(),
                f" {when.strftime('%Y-%m-%dT%H:%M:%SZ')}\n",
            ]
        )
    )
    before = draw(st.sampled_from(["", "<ele>12.5</ele>", "\n  <ele>-3</ele>\n  "]))
    after = draw(
        st.sampled_from(["", "<sat>7</sat>", "<extensions><speed>1.2</speed></extensions>"])
    )
    start_tag = "<trkpt " + space.join(reversed(attrs) if lon_first else attrs)
    return f"{start_tag}>{before}<time>{stamp}</time>{after}</trkpt>"


@st.composite
def documents(draw):
    """A GPX document: 1–3 tracks of 1–3 segments (some empty), in any namespace."""
    namespace = draw(st.sampled_from(NAMESPACES))
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    parts = [f'<gpx version="1.1" creator="t"{xmlns}>']
    if draw(st.booleans()):
        parts.append("<metadata><author><name>张三 &amp; 李四</name></author></metadata>")
    for number in range(draw(st.integers(1, 3))):
        parts.append(f"<trk><name>巡查{number}</name>")
        for _ in range(draw(st.integers(1, 3))):
            lon_first, quote = draw(st.booleans()), draw(st.sampled_from(['"', "'"]))
            segment = draw(st.lists(points(lon_first, quote), min_size=0, max_size=5))
            parts.append("<trkseg>" + "\n".join(segment) + "</trkseg>" if segment else "<trkseg/>")
        parts.append("</trk>")
    parts.append("</gpx>")
    return "\n".join(parts)


@settings(max_examples=150, deadline=None)
@given(documents())
def test_the_scan_reads_every_common_form_as_the_tree_does(document):
    _, segments = cut_segments(document.encode())
    assert all(scan_segment(segment) is not None for segment in segments)  # no fallback
    try:
        fast = parse_gpx(document)
    except InputError as exc:
        assert "no track points" in str(exc)  # every segment drawn empty
        with pytest.raises(InputError, match="no track points"):
            read_from_tree(document)
        return
    same_tracks(fast, read_from_tree(document))


@pytest.mark.parametrize(
    ("segment", "why"),
    [
        (b'<trkpt lat="28" lon="120"/>', "no time"),
        (b'<trkpt lat="28" lon="120"><ele>1</ele></trkpt>', "no time"),
        (b'<trkpt lat="95" lon="120"><time>2026-11-23T00:00:00Z</time></trkpt>', "out of range"),
        (b'<trkpt lat="2&#56;" lon="120"><time>2026-11-23T00:00:00Z</time></trkpt>', "entity"),
        (b'<trkpt lat="28" lon="120"><time>now</time></trkpt>', "not a time"),
        (b'<trkpt lat="28" lon="120"><time>2026-11-23T00:00:00ZZ</time></trkpt>', "not a time"),
        (
            b'<trkpt lat="28" lon="120"><time>2026-11-23T00:00:00Z</time></trkpt>'
            b'<trkpt lon="120" lat="28"><time>2026-11-23T00:00:05Z</time></trkpt>',
            "two orders",
        ),
        (
            b'<trkpt lat="28" lon="120"></trkpt>'
            b'<trkpt lat="28" lon="120"><time>2026-11-23T00:00:05Z</time></trkpt>',
            "a time that belongs to the next point",
        ),
    ],
)
def test_the_scan_declines_what_only_the_tree_can_name(segment, why):
    assert scan_segment(segment) is None, why


@pytest.mark.parametrize(
    "document",
    [
        # a comment, CDATA, and namespace-prefixed track elements: read from the tree
        '<gpx><!-- c --><trk><trkseg><trkpt lat="28" lon="120"><time>2026-11-23T00:00:00Z'
        "</time></trkpt></trkseg></trk></gpx>",
        '<gpx><trk><name><![CDATA[早巡]]></name><trkseg><trkpt lat="28" lon="120"><time>'
        "2026-11-23T00:00:00Z</time></trkpt></trkseg></trk></gpx>",
        '<g:gpx xmlns:g="http://www.topografix.com/GPX/1/1"><g:trk><g:trkseg><g:trkpt lat="28" '
        'lon="120"><g:time>2026-11-23T00:00:00Z</g:time></g:trkpt></g:trkseg></g:trk></g:gpx>',
        '<gpx xmlns="http://www.topografix.com/GPX/1/1" xmlns:g="http://www.topografix.com/GPX/1/1">'
        '<trk><trkseg><g:trkpt lat="28" lon="120"><time>2026-11-23T00:00:00Z</time></g:trkpt>'
        "</trkseg></trk></gpx>",
    ],
)
def test_markup_the_cut_cannot_see_through_is_read_from_the_tree(document):
    skeleton, segments = cut_segments(document.encode())
    assert (skeleton, segments) == (document.encode(), [])
    (track,) = parse_gpx(document)
    assert (track.lon.tolist(), track.lat.tolist()) == ([120.0], [28.0])


def test_elements_whose_name_begins_with_trkseg_are_not_cut():
    document = b"<gpx><trk><trksegment/><trkseg><trkpt/></trkseg></trk></gpx>"
    skeleton, segments = cut_segments(document)
    assert skeleton == b'<gpx><trk><trksegment/><trkseg geogrid-segment="0"/></trk></gpx>'
    assert segments == [b"<trkpt/>"]


def test_a_bad_point_is_named_by_the_tree_reading_after_the_scan_declines():
    document = (
        "<gpx><trk><trkseg>"
        + "".join(
            f'<trkpt lat="28" lon="120.{i}"><time>2026-11-23T00:00:0{i}Z</time></trkpt>'
            for i in range(3)
        )
        + '<trkpt lat="28" lon="120.5"/></trkseg></trk></gpx>'
    )
    with pytest.raises(InputError, match="track 1, point 4 has no <time>"):
        parse_gpx(document)


@pytest.mark.parametrize(
    ("document", "where"),
    [
        # the mismatched </trkseg> begins at the 47th character
        ('<gpx><trk><trkseg><trkpt lat="28" lon="120"></trkseg></trk></gpx>', "line 1, column 47"),
        ("<gpx>\n<trk>\n<trkseg>\n<trkpt lat='28' lon='120'><time>x</time></trkpt>", "line 4"),
        ("<gpx><trk><name>\xff</name></trk></gpx>".encode("latin-1"), "line 1"),
    ],
)
def test_malformed_xml_is_refused_with_its_line_and_column(document, where):
    with pytest.raises(InputError, match=f"malformed XML: .*{where}"):
        parse_gpx(document)


def test_text_already_decoded_is_read_whatever_its_declaration_says():
    document = (
        '<?xml version="1.0" encoding="GBK"?><gpx><trk><name>早巡</name><trkseg>'
        '<trkpt lat="28" lon="120"><time>2026-11-23T00:00:00Z</time></trkpt></trkseg></trk></gpx>'
    )
    (track,) = parse_gpx(document)
    assert track.name == "早巡"


@pytest.mark.parametrize("encoding", ["GBK", "GB18030", "UTF-8", "ISO-8859-1"])
def test_files_in_the_encodings_chinese_apps_export_are_read(encoding):
    name = "早巡" if encoding != "ISO-8859-1" else "Café"
    document = (
        f'<?xml version="1.0" encoding="{encoding}"?><gpx><trk><name>{name}</name><trkseg>'
        '<trkpt lat="28" lon="120"><time>2026-11-23T00:00:00Z</time></trkpt></trkseg></trk></gpx>'
    )
    (track,) = parse_gpx(document.encode(encoding))
    assert (track.name, track.lon.tolist()) == (name, [120.0])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'<?xml version="1.0" encoding="KLINGON"?><gpx/>', "unknown encoding 'KLINGON'"),
        (b'<?xml version="1.0" encoding="GBK"?><gpx>\xff\xff</gpx>', "not GBK text"),
    ],
)  # fmt: skip
def test_a_wrong_declared_encoding_is_named(data, message):
    with pytest.raises(InputError, match=message):
        parse_gpx(data)


def one_point(inside: str, segment: str = "<trkseg>") -> str:
    return f'<gpx><trk>{segment}<trkpt lat="28" lon="120">{inside}</trkpt></trkseg></trk></gpx>'


def outcome(read, document):
    """The times read, or the message of the refusal."""
    try:
        return [str(t) for track in read(document) for t in track.times]
    except InputError as exc:
        return str(exc)


@pytest.mark.parametrize(
    "document",
    [
        # a <time> nested in <extensions> before the point's own, or instead of it
        one_point("<extensions><time>2026-11-23T05:00:00Z</time></extensions>"
                  "<time>2026-11-23T00:00:00Z</time>"),
        one_point("<extensions><time>2026-11-23T05:00:00Z</time></extensions>"),
        one_point("<ele>3</ele><time>2026-11-23T00:00:00Z</time><extensions><time>x</time>"
                  "</extensions>"),
        # stamps numpy would read and the ISO 8601 reading would not, or out of range
        one_point("<time>2026-11-23T08:00:00+08:00Z</time>"),
        one_point("<time>2026-11-23Z</time>"),
        one_point("<time>2026Z</time>"),
        one_point("<time>1-11-23T00:00:00Z</time>"),
        one_point("<time>1500-11-23T00:00:00Z</time>"),
        one_point("<time>2026-11-23T00:00:00z</time>"),
        one_point("<time>now</time>"),
        one_point("<time>2026-11-23T00:00:00.123456Z</time>"),
        # segments the cut must leave to the tree
        one_point("<time>2026-11-23T00:00:00Z</time>", '<trkseg xmlns="urn:other">'),
        one_point("<time>2026-11-23T00:00:00Z</time><extensions><trkseg></trkseg></extensions>"),
    ],
)  # fmt: skip
def test_odd_forms_are_read_as_the_tree_reads_them(document):
    assert outcome(parse_gpx, document) == outcome(read_from_tree, document)


@pytest.mark.parametrize(
    ("inside", "message"),
    [
        (
            "<time>2026-11-23T00:00:00z</time>",
            "point 1: <time> '2026-11-23T00:00:00z' is not an ISO",
        ),
        ("<time>1500-11-23T00:00:00Z</time>", "is not between 2000 and 2099"),
        ("<time>now</time>", "point 1: <time> 'now' is not an ISO 8601 time"),
    ],
)
def test_times_that_cannot_be_a_patrols_are_named(inside, message):
    with pytest.raises(InputError, match=message):
        parse_gpx(one_point(inside))


def test_a_file_declared_utf8_without_the_dash_is_read():
    declared = '<?xml version="1.0" encoding="utf8"?>'
    document = declared + one_point("<name>早巡</name><time>2026-11-23T00:00:00Z</time>")
    (track,) = parse_gpx(document.encode("utf-8"))
    assert len(track.times) == 1
