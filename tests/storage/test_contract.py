"""The storage contract: every backend passes exactly these tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from shapely.geometry import LineString, Point, box

from geogrid import Hierarchy, Level
from geogrid.categories import UnknownCategoryError
from geogrid.crs import wgs84_to_gcj02
from geogrid.errors import CRSError, InputError
from geogrid.hazards import Hazard
from geogrid.patrol.records import PatrolRoute, Track
from geogrid.reports import NewReport, ReportQuery
from geogrid.storage import (
    DuplicateReportError,
    NotFoundError,
    StoreUnavailableError,
    TopologyRefusedError,
    open_store,
)
from geogrid.workflow import IllegalTransitionError
from tests.conftest import SOUTH, STEP, WEST, tiny_grids, tiny_streets

LEVELS = [Level("street", "街道", "", "code"), Level("grid", "网格", "", "code")]
IN_101 = (WEST + 0.005, SOUTH + 0.005)
IN_204 = (WEST + 3.5 * STEP, SOUTH + 1.5 * STEP)
LATER = datetime(2030, 1, 1, tzinfo=UTC)


def tiny_hierarchy(grids=None) -> Hierarchy:
    grids = tiny_grids() if grids is None else grids
    return Hierarchy(
        LEVELS, {"street": tiny_streets(), "grid": grids.rename(columns={"street": "parent"})}
    )


def redrawn_hierarchy() -> Hierarchy:
    """Street 1 redrawn: its four grids merged into two (codes 105, 106)."""
    grids = tiny_grids()
    grids = grids[grids["street"] == "2"]
    west = {
        "code": ["105", "106"],
        "name": ["西网格", "东网格"],
        "street": ["1", "1"],
        "households": [800, 800],
        "geometry": [
            box(WEST, SOUTH, WEST + STEP, SOUTH + 2 * STEP),
            box(WEST + STEP, SOUTH, WEST + 2 * STEP, SOUTH + 2 * STEP),
        ],
    }
    import geopandas as gpd
    import pandas as pd

    merged = pd.concat([gpd.GeoDataFrame(west, crs=4326), grids], ignore_index=True)
    return tiny_hierarchy(gpd.GeoDataFrame(merged, crs=4326))


@pytest.fixture
def active(store):
    """A store with the tiny district imported and active."""
    store.import_generation(tiny_hierarchy(), "2026 版", activate=True)
    return store


def report(lon_lat=IN_101, **extra) -> NewReport:
    values = {
        "category": "dispute.neighbour",
        "lon": lon_lat[0],
        "lat": lon_lat[1],
        "source": "resident",
        "description": "楼上漏水",
    }
    return NewReport(**{**values, **extra})


def count(store) -> int:
    return store.find_reports(ReportQuery(limit=1)).total


# --- generations ---------------------------------------------------------------------------


def test_import_and_activate_a_generation(store):
    generation = store.import_generation(tiny_hierarchy(), "2026 版")
    assert generation.label == "2026 版" and not generation.active
    assert generation.grid_count == 10
    assert [lv.key for lv in generation.levels] == ["street", "grid"]
    assert store.active_generation() is None
    store.activate(generation.id)
    assert store.active_generation().id == generation.id


def test_stored_boundaries_come_back_the_same(active):
    grids = active.grids("grid").sort_values("code").reset_index(drop=True)
    original = tiny_grids().sort_values("code").reset_index(drop=True)
    assert grids["code"].tolist() == original["code"].tolist()
    assert grids.geometry.geom_equals_exact(original.geometry, tolerance=0).all()
    assert grids["households"].tolist() == [400] * 8


def test_topology_errors_refuse_the_import_and_store_nothing(store):
    grids = tiny_grids()
    grids.loc[0, "geometry"] = grids.geometry[0].buffer(0.002, join_style="mitre")
    with pytest.raises(TopologyRefusedError, match="topology errors") as refused:
        store.import_generation(tiny_hierarchy(grids), "bad")
    assert not refused.value.report.ok
    assert store.generations() == []


def test_unknown_generation(store):
    with pytest.raises(NotFoundError, match="generation 99"):
        store.activate(99)


# --- intake --------------------------------------------------------------------------------


def test_a_report_is_assigned_at_every_level_and_recorded(active):
    stored = active.add_report(report(external_id="mp-1"), actor="网格员张三")
    assert stored.codes == {"street": "1", "grid": "101"}
    assert stored.assignment == "assigned" and stored.distance_m == 0
    assert stored.status == "received" and stored.handler_level == "grid"
    assert stored.handler_code == "101"
    assert stored.generation_id == active.active_generation().id
    assert stored.deadline > stored.received_at
    (entry,) = stored.history
    assert entry.action == "received" and entry.to_status == "received"


def test_gcj02_report_lands_in_the_same_grid(active):
    lon, lat = wgs84_to_gcj02([IN_204[0]], [IN_204[1]])
    stored = active.add_report(report((float(lon[0]), float(lat[0])), crs="GCJ-02"))
    assert stored.codes["grid"] == "204"
    assert stored.received_crs == "GCJ-02" and stored.received_lon == pytest.approx(lon[0])
    assert stored.lon == pytest.approx(IN_204[0], abs=1e-9)


def test_report_outside_the_district_is_kept_unassigned(active):
    stored = active.add_report(report((WEST - 0.05, SOUTH)))
    assert stored.assignment == "unassigned" and stored.codes == {"street": None, "grid": None}
    assert stored.handler_code is None


def test_reports_before_any_generation_are_kept(store):
    stored = store.add_report(report())
    assert stored.assignment == "unassigned" and stored.generation_id is None


@pytest.mark.parametrize(
    "bad, error, message",
    [
        ({"lat": float("nan")}, InputError, "lat: must be a finite number"),
        ({"lon": 181.0}, InputError, "lon: 181.0 is out of range"),
        ({"lat": "28.0"}, InputError, "lat: must be a number"),
        ({"category": "noise"}, UnknownCategoryError, "unknown category 'noise'"),
        ({"source": "pigeon"}, InputError, "pigeon"),
        ({"crs": "EPSG:999999"}, CRSError, "crs: "),
        ({"reported_at": datetime(2026, 1, 1)}, InputError, "reported_at: needs a time zone"),
        ({"external_id": ""}, InputError, "external_id"),
    ],
)
def test_bad_reports_are_refused_naming_the_field(active, bad, error, message):
    with pytest.raises(error, match=None) as refused:
        active.add_report(report(**bad))
    assert message in str(refused.value)
    assert count(active) == 0


def test_one_bad_report_refuses_the_whole_batch(active):
    batch = [report(external_id="a"), report(lon_lat=(WEST, 95.0), external_id="b")]
    with pytest.raises(InputError, match=r"report 2 \(external_id b\): lat"):
        active.add_reports(batch)
    assert count(active) == 0


def test_resending_a_report_does_not_store_it_twice(active):
    first = active.add_reports([report(external_id="12345-001")])
    again = active.add_reports([report(external_id="12345-001"), report(external_id="x")])
    assert first[0].created and not again[0].created and again[1].created
    assert again[0].id == first[0].id and count(active) == 2


def test_same_external_id_with_other_content_is_refused(active):
    active.add_report(report(external_id="12345-001"))
    with pytest.raises(DuplicateReportError, match=r"12345-001.*says something different"):
        active.add_reports(
            [report(external_id="new"), report(external_id="12345-001", description="别的事")]
        )
    assert count(active) == 1


def test_duplicates_inside_one_batch(active):
    results = active.add_reports([report(external_id="d"), report(external_id="d")])
    assert [r.created for r in results] == [True, False] and results[0].id == results[1].id
    with pytest.raises(DuplicateReportError, match="reports 1 and 2 of the batch"):
        active.add_reports([report(external_id="e"), report(external_id="e", description="x")])


# --- queries -------------------------------------------------------------------------------


@pytest.fixture
def filled(active):
    at = datetime(2026, 11, 1, 9, tzinfo=UTC)
    active.add_reports(
        [
            report(IN_101, category="dispute.neighbour", reported_at=at),
            report(IN_101, category="fire.lane", reported_at=at),
            report(IN_204, category="dispute.family", reported_at=at),
            report((WEST + 0.015, SOUTH + 0.005), category="city.rubbish", reported_at=at),
        ]
    )
    return active


def test_report_extent_holds_every_report_outside_grids_too(active):
    assert active.report_extent() is None
    active.add_reports([report(IN_101), report(IN_204)])
    first = active.find_reports().items[-1].received_at
    active.add_reports([report((-0.19, 51.5))])  # outside every grid, west of Greenwich
    extent = active.report_extent()
    assert extent.bbox == (-0.19, IN_101[1], IN_204[0], 51.5)
    assert extent.first_received == first


def test_query_by_grid_at_any_level_includes_descendants(filled):
    assert filled.find_reports(ReportQuery(grid="101")).total == 2
    assert filled.find_reports(ReportQuery(grid="1")).total == 3
    assert filled.find_reports(ReportQuery(grid="2")).total == 1


def test_query_by_unknown_grid(filled):
    with pytest.raises(NotFoundError, match="grid 999"):
        filled.find_reports(ReportQuery(grid="999"))


def test_query_by_bbox_category_and_status(filled):
    west_half = (WEST, SOUTH, WEST + 2 * STEP, SOUTH + 2 * STEP)
    assert filled.find_reports(ReportQuery(bbox=west_half)).total == 3
    assert filled.find_reports(ReportQuery(category=("dispute",))).total == 2
    assert filled.find_reports(ReportQuery(status=("received",))).total == 4
    assert filled.find_reports(ReportQuery(status=("closed",))).total == 0


def test_query_by_time_range(filled):
    now = datetime.now(UTC)
    assert filled.find_reports(ReportQuery(since=now - timedelta(hours=1))).total == 4
    assert filled.find_reports(ReportQuery(until=now - timedelta(hours=1))).total == 0


def test_paging(filled):
    page = filled.find_reports(ReportQuery(limit=3))
    rest = filled.find_reports(ReportQuery(limit=3, offset=3))
    assert page.total == rest.total == 4 and len(page.items) == 3 and len(rest.items) == 1
    assert {r.id for r in page.items}.isdisjoint({r.id for r in rest.items})


@pytest.mark.parametrize(
    "query, message",
    [
        (ReportQuery(limit=0), "limit"),
        (ReportQuery(offset=-1), "offset"),
        (ReportQuery(bbox=(1, 2, 0, 3)), "bbox"),
        (ReportQuery(status=("done",)), "done"),
        (ReportQuery(category=("nope",)), "nope"),
        (ReportQuery(since=datetime(2026, 1, 1)), "since"),
    ],
)
def test_bad_queries(filled, query, message):
    with pytest.raises(InputError, match=message):
        filled.find_reports(query)


# --- workflow ------------------------------------------------------------------------------


def test_the_closed_loop_records_every_step(active):
    stored = active.add_report(report())
    for target in ("registered", "dispatched", "in_progress", "feedback", "verified", "closed"):
        stored = active.transition(stored.id, target, actor="指挥中心李四", note=f"→ {target}")
    assert stored.status == "closed"
    steps = [(h.from_status, h.to_status, h.actor) for h in stored.history[1:]]
    assert steps[0] == ("received", "registered", "指挥中心李四") and len(steps) == 6


def test_illegal_transition_is_refused_and_changes_nothing(active):
    stored = active.add_report(report())
    with pytest.raises(IllegalTransitionError):
        active.transition(stored.id, "verified", actor="x")
    assert active.get_report(stored.id).status == "received"
    assert len(active.get_report(stored.id).history) == 1


def test_transition_of_unknown_report(active):
    with pytest.raises(NotFoundError, match="report 12345"):
        active.transition(12345, "registered", actor="x")


def test_overdue_reports_escalate_to_the_parent_level(active):
    stored = active.add_report(report())
    assert active.overdue(stored.received_at) == []
    assert [r.id for r in active.overdue(LATER)] == [stored.id]
    (escalated,) = active.escalate_overdue(LATER)
    assert escalated.handler_level == "street" and escalated.handler_code == "1"
    assert escalated.deadline > LATER
    assert escalated.history[-1].action == "escalated"
    assert escalated.history[-1].data == {"from": "101", "to": "1"}
    # At the top there is no one to hand it to: it stays, still overdue later on.
    assert active.escalate_overdue(LATER + timedelta(days=365)) == []


def test_closed_reports_are_never_overdue(active):
    stored = active.add_report(report())
    active.transition(stored.id, "closed", actor="x", note="重复上报 duplicate")
    assert active.overdue(LATER) == []


# --- generations and open reports ----------------------------------------------------------


def test_activation_reassigns_open_reports_and_records_old_and_new(active):
    open_one = active.add_report(report(IN_101))
    closed_one = active.add_report(report(IN_101))
    active.transition(closed_one.id, "closed", actor="x", note="无效")
    redrawn = active.import_generation(redrawn_hierarchy(), "2027 版")
    result = active.activate(redrawn.id, actor="规划科")
    assert result.reassigned == 1 and result.changed == 1
    moved = active.get_report(open_one.id)
    assert moved.codes == {"street": "1", "grid": "105"} and moved.generation_id == redrawn.id
    assert moved.handler_code == "105"
    entry = moved.history[-1]
    assert entry.action == "reassigned" and entry.actor == "规划科"
    assert entry.data["old"] == {"street": "1", "grid": "101"}
    assert entry.data["new"] == {"street": "1", "grid": "105"}
    assert active.get_report(closed_one.id).codes["grid"] == "101"
    assert active.hierarchy(1).levels == ["street", "grid"]  # the old one stays queryable


# --- hazards and patrol routes -------------------------------------------------------------


def test_hazards(active):
    station = Hazard(
        "加油站", "safety.hazmat", Point(*IN_101), "lec", {"L": 3, "E": 6, "C": 15}, radius_m=100
    )
    area = Hazard(
        "老旧小区",
        "safety.building",
        box(WEST + 0.03, SOUTH, WEST + 0.035, SOUTH + 0.005),
        "matrix",
        {"L": 4, "S": 5},
    )
    first = active.add_hazard(station)
    active.add_hazard(area)
    hazards = active.hazards()
    assert len(hazards) == 2 and hazards.crs.to_epsg() == 4326
    assert hazards.loc[hazards["id"] == first, "score"].item() == 270
    inside = active.hazards(bbox=(WEST, SOUTH, WEST + 0.01, SOUTH + 0.01))
    assert inside["name"].tolist() == ["加油站"]


def test_bad_hazard_scores_are_refused(active):
    with pytest.raises(InputError, match=r"scores\.C"):
        active.add_hazard(Hazard("x", "fire", Point(*IN_101), "lec", {"L": 3, "E": 6, "C": 16}))
    assert len(active.hazards()) == 0


def test_patrol_routes(active):
    line = LineString([IN_101, (WEST + 0.008, SOUTH + 0.008)])
    route_id = active.add_patrol_route(PatrolRoute("101", "morning", line, name="早巡"))
    routes = active.patrol_routes("101")
    assert routes["id"].tolist() == [route_id] and routes.geometry[0].equals(line)
    assert len(active.patrol_routes("102")) == 0
    with pytest.raises(NotFoundError, match="grid 777"):
        active.add_patrol_route(PatrolRoute("777", "morning", line))


def test_patrol_routes_come_a_page_at_a_time(active):
    line = LineString([IN_101, (WEST + 0.008, SOUTH + 0.008)])
    ids = [active.add_patrol_route(PatrolRoute("101", "night", line)) for _ in range(5)]
    assert active.patrol_routes(limit=2, offset=1)["id"].tolist() == ids[1:3]
    assert active.patrol_routes("101", limit=10, offset=4)["id"].tolist() == ids[4:]
    assert len(active.patrol_routes(limit=3, offset=5)) == 0


# --- patrol tracks -------------------------------------------------------------------------

DAY = (datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC))


def walked(worker: str = "张三", points: int = 5, start: str = "2026-11-23T00:00:00") -> Track:
    """A straight walk east through grid 101, one point every 5 s (times to the nanosecond)."""
    times = np.datetime64(start, "ns") + np.arange(points) * np.timedelta64(5_000_000_001, "ns")
    lon = WEST + 0.002 + np.arange(points) * 0.000123456789
    return Track("早巡", worker, times, lon, np.full(points, SOUTH + 0.002), source="a.gpx")


def test_tracks_come_back_exactly_and_are_stored_once(active):
    first, second = walked(), walked("李四", points=1)
    results = active.add_tracks([first, second, first], actor="张三")
    assert [r.created for r in results] == [True, True, False]
    assert results[2].id == results[0].id
    (again,) = active.add_tracks([first])
    assert (again.id, again.created) == (results[0].id, False)
    stored = active.patrol_tracks(*DAY)
    assert [(t.id, t.worker, t.name, t.source) for t in stored] == [
        (results[0].id, "张三", "早巡", "a.gpx"),
        (results[1].id, "李四", "早巡", "a.gpx"),
    ]
    for original, back in zip([first, second], stored, strict=True):
        assert (back.times == original.times).all()
        assert (back.lon == original.lon).all() and (back.lat == original.lat).all()
        assert back.digest() == original.digest()


def test_stored_tracks_are_found_by_time_and_worker(active):
    active.add_tracks([walked(), walked("李四", start="2026-11-24T23:59:58")])
    assert [t.worker for t in active.patrol_tracks(*DAY, worker="李四")] == []
    late = active.patrol_tracks(
        datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC)
    )
    assert [t.worker for t in late] == ["李四"]  # it runs past midnight into the 25th
    assert len(active.patrol_tracks(DAY[0], DAY[0] + timedelta(seconds=1))) == 1


def test_a_bad_track_stores_nothing_of_its_batch(active):
    far = walked()
    bad = Track("x", "李四", far.times, far.lon, np.full(5, 95.0))
    with pytest.raises(InputError, match=r"tracks\[1\]: lon/lat must be WGS-84"):
        active.add_tracks([walked("王五"), bad])
    unordered = Track("x", "李四", far.times[::-1], far.lon, far.lat)
    with pytest.raises(InputError, match=r"tracks\[0\]\.times: not in time order"):
        active.add_tracks([unordered])
    assert active.patrol_tracks(*DAY) == []


def test_a_batch_of_tracks_that_fails_while_written_leaves_nothing(active, monkeypatch):
    insert = active.db.insert_tracks

    def insert_then_fail(*args, **kwargs):
        insert(*args, **kwargs)  # every row written, then the connection drops
        raise ConnectionError("lost the database")

    monkeypatch.setattr(active.db, "insert_tracks", insert_then_fail)
    with pytest.raises(ConnectionError):
        active.add_tracks([walked(), walked("李四")])
    monkeypatch.undo()
    assert active.patrol_tracks(*DAY) == []
    assert [r.created for r in active.add_tracks([walked()])] == [True]


def test_track_periods_need_aware_times_in_order(active):
    with pytest.raises(InputError, match="since: needs a time with a time zone"):
        active.patrol_tracks(datetime(2026, 11, 23), DAY[1])
    with pytest.raises(InputError, match="is before since"):
        active.patrol_tracks(DAY[1], DAY[0])


# --- opening -------------------------------------------------------------------------------


def test_store_reopens_with_everything(store_url):
    first = open_store(store_url)
    first.import_generation(tiny_hierarchy(), "v1", activate=True)
    stored = first.add_report(report(external_id="keep"))
    first.close()
    again = open_store(store_url)
    assert again.get_report(stored.id).codes["grid"] == "101"
    assert again.active_generation().label == "v1"
    again.close()


def test_bad_store_urls():
    with pytest.raises(InputError, match="use sqlite:///"):
        open_store("mysql://x")
    with pytest.raises(StoreUnavailableError, match="cannot connect"):
        open_store("postgresql://nobody@127.0.0.1:1/none")


def test_unknown_report(store):
    with pytest.raises(NotFoundError, match="report 5"):
        store.get_report(5)


def test_numbers_from_numpy_are_accepted(active):
    stored = active.add_report(report((np.float64(IN_101[0]), np.float64(IN_101[1]))))
    assert stored.codes["grid"] == "101"


def test_optimize_after_a_bulk_load_keeps_answers(filled):
    before = filled.find_reports(ReportQuery(grid="1")).total
    filled.optimize()
    assert filled.find_reports(ReportQuery(grid="1")).total == before == 3


def test_counts_by_grid_with_status_and_overdue(filled):
    first = filled.find_reports(ReportQuery(grid="101")).items[0]
    filled.transition(first.id, "closed", actor="x", note="无效")
    counts = filled.count_by_grid("grid").set_index("code")
    assert counts.loc["101", "total"] == 2 and counts.loc["101", "closed"] == 1
    assert counts.loc["101", "open"] == 1 and counts.loc["204", "received"] == 1
    assert counts["overdue"].sum() == 0
    late = filled.count_by_grid("street", now=LATER).set_index("code")
    assert late.loc["1", "overdue"] == 2 and late.loc["2", "overdue"] == 1
    fire = filled.count_by_grid("grid", ReportQuery(category=("fire",))).set_index("code")
    assert fire["total"].to_dict() == {"101": 1}


def test_counts_by_grid_of_an_unknown_level(filled):
    with pytest.raises(InputError, match="level: 'room'"):
        filled.count_by_grid("room")


def test_counts_in_cells_add_up(filled):
    cells = filled.count_in_cells((WEST, SOUTH, WEST + 4 * STEP, SOUTH + 2 * STEP), 0.01)
    assert cells["count"].sum() == 4
    assert set(cells.itertuples(index=False, name=None)) >= {(WEST + 0.005, SOUTH + 0.005, 2)}
    with pytest.raises(InputError, match="cell_deg"):
        filled.count_in_cells((WEST, SOUTH, WEST + 1, SOUTH + 1), 0)


def test_report_points_for_analysis(filled):
    points = filled.report_points()
    assert len(points) == 4 and list(points.columns[:5]) == [
        "lon", "lat", "time", "received_at", "category"]  # fmt: skip
    assert points["time"].dt.tz is not None
    assert sorted(points["grid_code"].dropna()) == ["101", "101", "103", "204"]
    assert len(filled.report_points(since=datetime(2026, 11, 2, tzinfo=UTC))) == 0
