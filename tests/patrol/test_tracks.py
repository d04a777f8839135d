"""GPX tracks: reading, bad files, grids passed, route coverage, check-ins, stops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString

from geogrid import Hierarchy
from geogrid.crs import wgs84_to_gcj02
from geogrid.errors import InputError
from geogrid.patrol.gpx import parse_gpx, parse_route_gpx, read_gpx, write_gpx
from geogrid.patrol.tracks import (
    Track,
    analyse_track,
    checkpoints_reached,
    find_stops,
    grid_visits,
    route_coverage,
    track_length_m,
)
from tests.conftest import write_tiny_district
from tests.patrol import AROUND_101, DATA, TWO_SIDES, gpx_text, walk_points

SOUTH_SIDE_M, EAST_SIDE_M = 0.0096 * 98_350, 0.00962 * 110_800  # the two sides walked


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    return Hierarchy.from_manifest(write_tiny_district(tmp_path_factory.mktemp("district")))


def track_of(corners, start="2026-11-23T08:00:00+08:00", name="巡", author=None, step_s=5.0):
    return parse_gpx(gpx_text([(name, walk_points(corners, start, step_s))], author))[0]


def test_a_hand_made_gpx_file_reads_with_author_times_and_segments():
    (track,) = read_gpx(DATA / "two_sides.gpx")
    assert (track.name, track.worker) == ("早巡", "张三")
    assert track.start == pd.Timestamp("2026-11-23T00:00:00Z")
    assert track.duration_s == 26 * 60 + 36
    assert track_length_m(track) == pytest.approx(SOUTH_SIDE_M + EAST_SIDE_M, rel=0.005)
    assert "two_sides.gpx" in track.source


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("malformed.gpx", "not a GPX file \\(malformed XML"),
        ("empty.gpx", "no track points"),
        ("no_time.gpx", "track 1, point 2 has no <time>"),
    ],
)
def test_bad_gpx_files_say_what_is_wrong_and_where(name, message):
    with pytest.raises(InputError, match=message) as caught:
        read_gpx(DATA / name)
    assert name in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("<kml/>", "root element is <kml>"),
        (
            "<gpx><trk><trkseg><trkpt lat='95' lon='120'><time>2026-11-23T00:00:00Z</time>"
            "</trkpt></trkseg></trk></gpx>",
            "point 1: lat='95' is missing or out of range",
        ),
        (
            "<gpx><trk><trkseg><trkpt lat='28' lon='120'><time>noon</time>"
            "</trkpt></trkseg></trk></gpx>",
            "<time> 'noon' is not an ISO 8601 time",
        ),
    ],
)
def test_bad_gpx_text_is_refused(text, message):
    with pytest.raises(InputError, match=message):
        parse_gpx(text, source="upload.gpx")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match=r"nothing.gpx: file not found"):
        read_gpx(tmp_path / "nothing.gpx")


def test_points_out_of_order_are_sorted_by_time():
    points = walk_points(TWO_SIDES, "2026-11-23T08:00:00+08:00", step_s=60)
    (track,) = parse_gpx(gpx_text([("t", points.iloc[::-1])]))
    assert np.all(np.diff(track.times) > np.timedelta64(0))
    assert track.lon[0] == pytest.approx(TWO_SIDES[0][0])


def test_gcj02_tracks_are_converted_to_wgs84():
    points = walk_points(TWO_SIDES, "2026-11-23T08:00:00+08:00", step_s=60)
    shifted = points.assign(
        **dict(zip(("lon", "lat"), wgs84_to_gcj02(points.lon, points.lat), strict=True))
    )
    (track,) = parse_gpx(gpx_text([("t", shifted)]), crs="GCJ-02")
    assert track.lon == pytest.approx(points["lon"].to_numpy(), abs=1e-6)


def test_a_track_along_two_sides_of_a_grid_stays_in_it(district):
    track = track_of(TWO_SIDES)
    visits = grid_visits(track, district)
    assert visits["code"].tolist() == ["101"]
    visit = visits.iloc[0]
    assert visit["seconds"] == pytest.approx(track.duration_s)
    assert visit["length_m"] == pytest.approx(SOUTH_SIDE_M + EAST_SIDE_M, rel=0.002)
    assert visit["worker"] == "巡"
    assert track.duration_s == pytest.approx((SOUTH_SIDE_M + EAST_SIDE_M) / 1.25, abs=5)


def test_time_is_split_between_the_grids_passed_through(district):
    # West to east along 28.005: 800 m in grid 101 (to 120.01), then 800 m in 103.
    track = track_of([(120.002, 28.005), (120.018, 28.005)])
    visits = grid_visits(track, district)
    assert visits["code"].tolist() == ["101", "103"]
    assert visits["seconds"].tolist() == pytest.approx([track.duration_s / 2] * 2, abs=5)
    assert visits["end"][0] == visits["start"][1]
    street = grid_visits(track, district, level="street")
    assert street["code"].tolist() == ["1"]


def test_a_long_gap_counts_for_no_grid(district):
    morning = walk_points(TWO_SIDES, "2026-11-23T08:00:00+08:00")
    later = walk_points(TWO_SIDES[::-1], "2026-11-23T10:00:00+08:00")
    (track,) = parse_gpx(gpx_text([("t", pd.concat([morning, later]))]))
    visits = grid_visits(track, district)
    assert len(visits) == 2
    walked_s = 2 * (SOUTH_SIDE_M + EAST_SIDE_M) / 1.25
    assert visits["seconds"].sum() == pytest.approx(walked_s, abs=15)
    assert track.duration_s > walked_s + 3600
    assert track_length_m(track, max_gap_s=600) == pytest.approx(
        2 * (SOUTH_SIDE_M + EAST_SIDE_M), rel=0.01
    )


def test_a_track_far_from_every_grid_asks_about_the_coordinate_system(district):
    track = track_of([(121.0, 28.5), (121.001, 28.5)], name="远处")
    with pytest.raises(InputError, match=r"passes no grid; it is about 108.2 km from the district"):
        grid_visits(track, district)
    near = track_of([(120.05, 28.0), (120.051, 28.0)], name="稍远")
    with pytest.raises(InputError, match=r"nearest point is 984 m from grid 203 .*GCJ-02 or BD-09"):
        grid_visits(near, district)


def test_route_coverage_measures_the_planned_route_within_the_tolerance():
    track = track_of(TWO_SIDES)
    planned = LineString(AROUND_101)  # four sides, two walked
    assert route_coverage(track, planned, tolerance_m=30) == pytest.approx(0.5, abs=0.02)
    outer = LineString([(120.0, 28.0), (120.01, 28.0), (120.01, 28.01), (120.0, 28.01)])
    # The walk is 20 m inside the boundary: covered at 30 m, not at 10 m.
    assert route_coverage(track, outer, tolerance_m=30) > 0.6
    assert route_coverage(track, outer, tolerance_m=10) == pytest.approx(0.0, abs=0.01)
    with pytest.raises(InputError, match="tolerance_m"):
        route_coverage(track, outer, tolerance_m=0)


def test_checkpoints_are_reached_within_the_radius_and_timed():
    track = track_of(TWO_SIDES)
    checkpoints = pd.DataFrame(
        {
            "name": ["东南角", "西北角", "南门"],
            "lon": [120.0099, 120.0, 120.005],
            "lat": [28.0001, 28.01, 28.00035],
        }
    )
    reached = checkpoints_reached(track, checkpoints, radius_m=30)
    assert reached["reached"].tolist() == [True, False, True]
    assert reached["distance_m"][1] == pytest.approx(0.0098 * 98_350, rel=0.01)
    south_gate_after_s = (reached["first_at"][2] - track.start).total_seconds()
    assert south_gate_after_s == pytest.approx(0.0048 * 98_350 / 1.25, abs=20)


def test_stops_of_at_least_n_minutes_within_r_metres_are_found():
    rng = np.random.default_rng(3)
    walk_in = walk_points([(120.002, 28.002), (120.004, 28.002)], "2026-11-23T08:00:00+08:00")
    start = walk_in["time"].iloc[-1]

    def stay(minutes: float, at: tuple[float, float], begin) -> pd.DataFrame:
        n = int(minutes * 12)
        jitter = rng.normal(0, 3e-5, (n, 2))  # about 3 m of GPS noise
        return pd.DataFrame(
            {
                "time": begin + pd.to_timedelta(np.arange(1, n + 1) * 5, unit="s"),
                "lon": at[0] + jitter[:, 0],
                "lat": at[1] + jitter[:, 1],
            }
        )

    long_stay = stay(10, (120.004, 28.002), start)
    walk_on = walk_points([(120.004, 28.002), (120.007, 28.002)], long_stay["time"].iloc[-1])
    short_stay = stay(3, (120.007, 28.002), walk_on["time"].iloc[-1])
    points = pd.concat([walk_in, long_stay, walk_on.iloc[1:], short_stay])
    (track,) = parse_gpx(gpx_text([("t", points)]))
    stops = find_stops(track, min_minutes=5, radius_m=30)
    assert len(stops) == 1
    assert stops["minutes"][0] == pytest.approx(10, abs=0.6)
    assert stops["lon"][0] == pytest.approx(120.004, abs=1e-4)
    assert len(find_stops(track, min_minutes=2, radius_m=30)) == 2


def stops_by_definition(track, min_minutes: float, radius_m: float) -> list[tuple[int, int]]:
    """Stops point by point, as find_stops defines them (slow: for checking it)."""
    found, i, n = [], 0, len(track.lon)
    while i < n:
        j = i + 1
        while j < n and np.hypot(*(track.xy[j] - track.xy[i])) <= radius_m:
            j += 1
        if (track.times[j - 1] - track.times[i]) / np.timedelta64(60, "s") >= min_minutes:
            found.append((i, j - 1))
            i = j
        else:
            i += 1
    return found


@settings(max_examples=100, deadline=None)
@given(
    legs=st.lists(st.tuples(st.booleans(), st.integers(1, 80)), min_size=1, max_size=8),
    step_s=st.integers(1, 40),
    min_minutes=st.floats(0.5, 6),
    radius_m=st.floats(5, 60),
    seed=st.integers(0, 1000),
)
def test_stops_are_found_as_defined(legs, step_s, min_minutes, radius_m, seed):
    rng = np.random.default_rng(seed)
    # Legs of walking (1–2 m a step) and standing (the fix wandering up to ~8 m).
    steps = np.concatenate(
        [rng.normal(0, 3, (count, 2)) if stand else rng.uniform(1, 2, (count, 2))
         for stand, count in legs]
    )  # fmt: skip
    metres = np.cumsum(steps, axis=0)
    times = np.datetime64("2026-11-23T00:00", "ns") + np.arange(len(metres)) * np.timedelta64(
        step_s, "s"
    )
    track = Track("t", "w", times, 120.0 + metres[:, 0] / 98_300, 28.0 + metres[:, 1] / 110_800)
    stops = find_stops(track, min_minutes, radius_m)
    expected = stops_by_definition(track, min_minutes, radius_m)
    assert stops["points"].tolist() == [last - first + 1 for first, last in expected]
    assert stops["start"].tolist() == [
        pd.Timestamp(times[first], tz="UTC") for first, _ in expected
    ]


def test_analyse_track_gives_the_whole_picture_as_json(district):
    track = track_of(TWO_SIDES)
    checkpoints = pd.DataFrame({"name": ["东南角"], "lon": [120.0099], "lat": [28.0001]})
    analysis = analyse_track(track, district, route=LineString(AROUND_101), checkpoints=checkpoints)
    data = analysis.to_dict()
    assert data["grids"][0]["code"] == "101"
    assert data["route_coverage"] == pytest.approx(0.5, abs=0.02)
    assert data["checkpoints"][0]["reached"] is True
    assert data["stops"] == []
    assert data["start"].startswith("2026-11-23T00:00:00")
    import json

    json.dumps(data)  # plain values only


def test_planned_routes_go_out_and_back_in_as_gpx():
    line = LineString(AROUND_101)
    route = parse_route_gpx(write_gpx([("路线", line)]))
    assert np.asarray(route.coords) == pytest.approx(np.asarray(line.coords), abs=1e-7)
    with pytest.raises(InputError, match="no <trk> or <rte>"):
        parse_route_gpx("<gpx/>")


def test_steps_of_many_tracks_in_several_zones_are_each_tracks_own():
    from geogrid.patrol.records import Track
    from geogrid.patrol.tracks import _leaving_metres

    rng = np.random.default_rng(7)
    tracks = []
    for i, lon in enumerate((116.9, 117.2, 120.65, 116.95, 123.4)):  # zones 39, 40, 41, 39, 41
        n = int(rng.integers(1, 30))
        times = np.datetime64("2026-11-23T01:00") + np.arange(n) * np.timedelta64(20, "s")
        tracks.append(Track(f"t{i}", "张三", times, lon + rng.normal(0, 0.002, n).cumsum(),
                            28.0 + rng.normal(0, 0.002, n).cumsum()))  # fmt: skip
    sizes = np.array([len(t.lon) for t in tracks])
    owner = np.repeat(np.arange(len(tracks)), sizes)
    together = _leaving_metres(tracks, owner, np.cumsum(sizes) - 1)
    one_by_one = np.concatenate([np.r_[t.steps_m, 0.0] for t in tracks])
    np.testing.assert_allclose(together, one_by_one, rtol=0, atol=1e-6)
