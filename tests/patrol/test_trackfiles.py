"""Many tracks at once: GPX files read and analysed in forked processes, visits in one call.

Every batch answer is checked against the same work done one track at a time.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from geogrid import Hierarchy
from geogrid.analysis.compliance import compliance_of_tracks
from geogrid.analysis.trackfiles import analyse_gpx_files, read_gpx_files
from geogrid.analysis.tracks import analyse_track, grid_visits, read_gpx, visits_of_tracks
from geogrid.errors import InputError
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


def test_visits_of_many_tracks_are_those_of_each_track(gpx_files, district):
    tracks = one_by_one(gpx_files)
    together = visits_of_tracks(tracks, district)
    alone = pd.concat([grid_visits(t, district) for t in tracks], ignore_index=True)
    pd.testing.assert_frame_equal(together, alone)
    assert {"101", "204"} <= set(together["code"])  # the walk across the district


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
