"""Many tracks at once: GPX files read and analysed in forked processes, visits in one call.

Every batch answer is checked against the same work done one track at a time.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from geogrid import Hierarchy
from geogrid.errors import InputError
from geogrid.patrol.batch import analyse_gpx_files, compliance_of_gpx_files, read_gpx_files
from geogrid.patrol.compliance import compliance_of_tracks
from geogrid.patrol.gpx import read_gpx
from geogrid.patrol.tracks import Track, analyse_track, visits_of_tracks
from tests.conftest import write_tiny_district
from tests.patrol import AROUND_101, DATA, TWO_SIDES, gpx_text, walk_points

#: Walks over the tiny district: around grid 101, along two of its sides, and across
#: both streets from grid 101 to grid 204.
WALKS = [AROUND_101, TWO_SIDES, [(120.0005, 28.0005), (120.0395, 28.0195)]]


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    return Hierarchy.from_manifest(write_tiny_district(tmp_path_factory.mktemp("district")))


@pytest.fixture(scope="module")
def gpx_files(tmp_path_factory):
    """Nine files of one or two tracks each, by three workers at different hours."""
    folder = tmp_path_factory.mktemp("gpx")
    paths = []
    for n in range(9):
        start = f"2026-11-23T{7 + n:02d}:00:00+08:00"
        tracks = [(f"巡{n}", walk_points(WALKS[n % 3], start))]
        if n % 4 == 0:
            tracks.append(
                (f"补{n}", walk_points(WALKS[(n + 1) % 3], start.replace(":00:00", ":30:00")))
            )
        path = folder / f"w{n}.gpx"
        path.write_text(gpx_text(tracks, author=f"网格员{n % 3}"), encoding="utf-8")
        paths.append(path)
    return paths


def one_by_one(paths):
    return [track for path in paths for track in read_gpx(path)]


def test_reading_in_two_processes_gives_every_track_in_the_files_order(gpx_files):
    together = read_gpx_files(gpx_files, processes=2)
    alone = one_by_one(gpx_files)
    assert [(t.source, t.name, t.worker) for t in together] == [
        (t.source, t.name, t.worker) for t in alone
    ]
    assert len(together) == 12
    for a, b in zip(together, alone, strict=True):
        assert (a.times == b.times).all() and (a.lon == b.lon).all() and (a.lat == b.lat).all()


def test_a_bad_file_among_many_stops_the_batch_and_is_named(gpx_files, tmp_path):
    bad = tmp_path / "zz_no_time.gpx"
    shutil.copy(DATA / "no_time.gpx", bad)
    paths = [*gpx_files[:5], bad, *gpx_files[5:]]
    with pytest.raises(InputError, match=r"zz_no_time\.gpx: track 1, point 2 has no <time>"):
        read_gpx_files(paths, processes=2)


def visits_by_definition(track, district, max_gap_s: float = 600.0) -> list[tuple]:
    """A track's visits point by point, as grid_visits defines them (slow: for checking)."""
    codes = district.assign(track.lon, track.lat, max_distance_m=50.0)["grid_code"].tolist()
    visits, current = [], None
    for i, code in enumerate(codes):
        code = code if isinstance(code, str) else None
        counted = i + 1 < len(codes) and track.steps_s[i] <= max_gap_s
        gap_before = i > 0 and track.steps_s[i - 1] > max_gap_s
        if current is None or code != current[0] or gap_before:
            current = [code, track.times[i], track.times[i], 0.0, 0.0, 0]
            visits.append(current)
        current[2] = track.times[i + 1] if counted else track.times[i]
        current[3] += track.steps_s[i] if counted else 0.0
        current[4] += track.steps_m[i] if counted else 0.0
        current[5] += 1
    return [tuple(v) for v in visits if v[0] is not None]


def with_a_gap(track, after: int, minutes: float):
    """The track with its clock jumping ``minutes`` ahead after point ``after``."""
    times = track.times.copy()
    times[after + 1 :] += np.timedelta64(int(minutes * 60), "s")
    return Track(track.name, track.worker, times, track.lon, track.lat, track.source)


def test_visits_of_many_tracks_are_as_defined_point_by_point(gpx_files, district):
    tracks = one_by_one(gpx_files)
    tracks += [with_a_gap(tracks[0], 40, 15), with_a_gap(tracks[2], 10, 11)]  # gaps > 10 min
    tracks.append(Track("一点", "王五", tracks[0].times[:1], tracks[0].lon[:1], tracks[0].lat[:1]))
    visits = visits_of_tracks(tracks, district)
    found = [
        (r.code, r.start.to_datetime64(), r.end.to_datetime64(), r.seconds, r.length_m, r.points)
        for r in visits.itertuples()
    ]
    expected = [v for t in tracks for v in visits_by_definition(t, district)]
    assert len(found) == len(expected)
    for got, want in zip(found, expected, strict=True):
        assert got[:3] == want[:3] and got[5] == want[5]
        assert got[3:5] == pytest.approx(want[3:5])
    assert {"101", "204"} <= set(visits["code"])  # the walk across the district
    assert visits["track"].tolist().count("一点") == 1


def test_analysing_files_in_two_processes_equals_analysing_each_track(gpx_files, district):
    together = analyse_gpx_files(gpx_files, district, processes=2, stop_minutes=1.0)
    alone = [analyse_track(t, district, stop_minutes=1.0) for t in one_by_one(gpx_files)]
    assert [a.to_dict() for a in together] == [a.to_dict() for a in alone]


def test_compliance_from_known_visits_equals_compliance_from_the_tracks(gpx_files, district):
    analyses = analyse_gpx_files(gpx_files, district, processes=2)
    tracks = [a.track for a in analyses]
    visits = pd.concat([a.visits for a in analyses], ignore_index=True)
    given = compliance_of_tracks(tracks, district, visits=visits)
    computed = compliance_of_tracks(tracks, district)
    pd.testing.assert_frame_equal(given.table, computed.table)
    assert given.table.set_index("code").loc["101", "patrols"] >= 3


def test_a_track_far_from_every_grid_is_named_in_a_batch(gpx_files, district, tmp_path):
    far = tmp_path / "far.gpx"
    far.write_text(
        gpx_text([("远", walk_points([(121.0, 29.0), (121.001, 29.0)], "2026-11-23T08:00:00Z"))])
    )
    with pytest.raises(InputError, match=r"far\.gpx: track '远': passes no grid"):
        analyse_gpx_files([*gpx_files, far], district, processes=2)


def test_compliance_of_gpx_files_counts_what_the_tracks_count(gpx_files, district):
    from_files = compliance_of_gpx_files(gpx_files, district, processes=2)
    tracks = one_by_one(gpx_files)
    from_tracks = compliance_of_tracks(tracks, district)
    assert len(from_files.tracks) == len(tracks)
    assert from_files.table.equals(from_tracks.table)
