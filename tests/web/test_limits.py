"""Every GEOGRID_MAX_* limit refuses a request over it, with its status and a message naming it.

The app serves the tiny district with small limits, so that a small request is
over each; the patrol routes plan on the lattice network of tests/patrol.
"""

from __future__ import annotations

import pytest
from shapely.geometry import Point

from geogrid.hazards import Hazard
from tests.conftest import SOUTH, WEST
from tests.patrol import DATA, TWO_SIDES, gpx_text, walk_points
from tests.web.conftest import tiny_app

LIMITS = {"MAX_UPLOAD_TRACKS": 2, "MAX_UPLOAD_POINTS": 1000, "MAX_PLAN_STREETS": 3,
          "MAX_PLAN_PLACES": 2, "MAX_ROUTE_POINTS": 5, "MAX_PAGE_POINTS": 12,
          "MAX_RASTER_CELLS": 1000, "MAX_HEXAGONS": 10, "MAX_ANALYSIS_GRIDS": 4}  # fmt: skip
START = {"lon": WEST, "lat": SOUTH}
PLACE = {"weight": 1, "lon": WEST + 0.002, "lat": SOUTH + 0.0025}
AROUND = "119.98,27.98,120.06,28.04"


@pytest.fixture
def app(tmp_path, tiny_manifest):
    return tiny_app(tmp_path, tiny_manifest, PATROL_NETWORK=str(DATA / "lattice.geojson"),
                    **LIMITS)  # fmt: skip


@pytest.fixture
def client(app):
    return app.test_client()


def gpx(tracks: int, step_s: float = 5.0) -> str:
    """``tracks`` walks along two sides of grid 101, of ~300 points each at 5 s."""
    walk = walk_points(TWO_SIDES, "2026-11-23T08:00:00+08:00", step_s=step_s)
    return gpx_text([(f"t{i}", walk) for i in range(tracks)], "张三")


def refused(response, status: int, message: str) -> bool:
    error = response.get_json()["error"]
    kind = {413: "TooLargeError", 422: "TooCostlyError"}[status]
    return response.status_code == status and error["type"] == kind and message in error["message"]


def line(points: int) -> dict:
    coordinates = [[WEST + 0.001 * i, SOUTH + 0.001 * i] for i in range(points)]
    return {"type": "LineString", "coordinates": coordinates}


# --- what an upload or a body holds: 413 ----------------------------------------------------


@pytest.mark.parametrize("path", ["/api/patrol/tracks", "/api/patrol/compliance"])
def test_an_upload_of_more_tracks_than_allowed_is_refused(client, path):
    assert client.post(path, data=gpx(2)).status_code == 200
    response = client.post(path, data=gpx(3))
    assert refused(response, 413, "3 tracks in the upload; at most 2 (GEOGRID_MAX_UPLOAD_TRACKS)")


def test_an_upload_of_more_points_than_allowed_is_refused_and_nothing_is_stored(client):
    response = client.post("/api/patrol/tracks?store=true", data=gpx(1, step_s=1.0))
    assert refused(response, 413, "track points in the upload; at most 1,000 "
                   "(GEOGRID_MAX_UPLOAD_POINTS)")  # fmt: skip
    stored = client.get("/api/patrol/tracks?since=2026-11-23&until=2026-11-23").get_json()
    assert stored["features"] == []


def test_a_plan_sent_more_places_than_allowed_is_refused(client):
    body = {"start": START, "time_limit_s": 0, "places": [PLACE] * 3}
    response = client.post("/api/patrol/plan", json=body)
    assert refused(response, 413, "3 places in body.places; at most 2 (GEOGRID_MAX_PLAN_PLACES)")


def test_a_route_of_more_points_than_allowed_is_refused_and_not_stored(client):
    created = client.post("/api/patrol/routes",
                          json={"grid": "101", "shift": "night", "geometry": line(6)})  # fmt: skip
    assert refused(created, 413, "6 points in body.geometry; at most 5 (GEOGRID_MAX_ROUTE_POINTS)")
    assert client.get("/api/patrol/routes").get_json()["features"] == []


# --- what a request asks to compute: 422 ----------------------------------------------------


@pytest.mark.parametrize("grids", [["101"], []])  # one grid; the whole network
def test_a_street_plan_over_more_streets_than_allowed_is_refused(client, grids):
    body = {"start": START, "mode": "streets", "grids": grids}
    response = client.post("/api/patrol/plan", json=body)
    assert refused(response, 422, "streets in the plan's area; at most 3 "
                   "(GEOGRID_MAX_PLAN_STREETS): name fewer or smaller grids")  # fmt: skip


def test_a_plan_over_more_stored_places_than_allowed_is_refused(client, app):
    from web.state import store

    with app.app_context():
        for n in range(3):
            store().add_hazard(Hazard(f"危险点{n}", "fire", Point(WEST + 0.002 * n, SOUTH + 0.0075),
                                      "lec", {"L": 3, "E": 6, "C": 40}))  # fmt: skip
    response = client.post("/api/patrol/plan", json={"start": START, "time_limit_s": 0})
    assert refused(response, 422, "3 places (hazards, busy grids) in the plan's area; at most 2")


def test_a_heat_map_of_more_cells_than_allowed_is_refused(client):
    response = client.get(f"/api/analysis/heat.png?bbox={AROUND}&width=40&height=30")
    assert refused(response, 422, "1,200 cells (width × height) in the image; at most 1,000 "
                   "(GEOGRID_MAX_RASTER_CELLS)")  # fmt: skip
    assert client.get(f"/api/analysis/heat.png?bbox={AROUND}&width=40&height=25").status_code == 200


def test_a_pai_density_grid_of_more_cells_than_allowed_is_refused(client):
    response = client.get("/api/analysis/pai?level=street&cell_m=50")
    assert refused(response, 422, "cells of 50 m over the grids; at most 1,000 "
                   "(GEOGRID_MAX_RASTER_CELLS): choose a larger cell_m")  # fmt: skip


def test_hexagons_more_than_a_view_may_hold_are_refused(client):
    response = client.get(f"/api/analysis/hexagons?resolution=9&bbox={AROUND}")
    assert refused(response, 422, "hexagons of resolution 9 in the view; at most 10 "
                   "(GEOGRID_MAX_HEXAGONS): zoom in (bbox) or choose a coarser "
                   "resolution")  # fmt: skip
    assert client.get("/api/analysis/hexagons?resolution=5").status_code == 200


@pytest.mark.parametrize("route", ["hotspots", "pai"])
def test_an_analysis_of_a_level_with_more_grids_than_allowed_is_refused(client, route):
    response = client.get(f"/api/analysis/{route}?level=grid")
    assert refused(response, 422, "8 grids at level grid; at most 4 "
                   "(GEOGRID_MAX_ANALYSIS_GRIDS): choose a coarser level")  # fmt: skip


# --- stored routes come a page at a time ----------------------------------------------------


def store_routes(client, *points: int) -> list[int]:
    bodies = [{"grid": "101", "shift": "morning", "geometry": line(n)} for n in points]
    return [client.post("/api/patrol/routes", json=body).get_json()["id"] for body in bodies]


def listed(client, url: str) -> tuple[list[int], str | None]:
    body = client.get(url).get_json()
    assert body["numberReturned"] == len(body["features"])
    return [f["properties"]["id"] for f in body["features"]], body.get("next")


def test_stored_routes_come_a_page_at_a_time(client):
    ids = store_routes(client, 2, 2, 2, 2, 2)
    page, following = listed(client, "/api/patrol/routes?limit=2")
    assert page == ids[:2] and following == "/api/patrol/routes?limit=2&offset=2"
    assert listed(client, following) == (ids[2:4], "/api/patrol/routes?limit=2&offset=4")
    assert listed(client, "/api/patrol/routes?limit=2&offset=4") == (ids[4:], None)


def test_a_page_of_routes_ends_at_the_points_it_may_hold(client):
    ids = store_routes(client, 5, 5, 3, 5, 4)  # at most 12 points a page
    assert listed(client, "/api/patrol/routes") == (ids[:2], "/api/patrol/routes?offset=2")
    assert listed(client, "/api/patrol/routes?offset=2") == (ids[2:], None)


def test_a_route_longer_than_a_page_still_gets_one(app):
    client = app.test_client()
    app.config["MAX_PAGE_POINTS"] = 3
    ids = store_routes(client, 5, 2)
    assert listed(client, "/api/patrol/routes") == (ids[:1], "/api/patrol/routes?offset=1")


def test_the_grid_filter_keeps_to_its_grid_on_every_page(client):
    ids = store_routes(client, 2, 2)
    client.post("/api/patrol/routes",
                json={"grid": "102", "shift": "night", "geometry": line(2)})  # fmt: skip
    assert listed(client, "/api/patrol/routes?grid=101&limit=1") == (
        ids[:1], "/api/patrol/routes?grid=101&limit=1&offset=1")  # fmt: skip
    assert listed(client, "/api/patrol/routes?grid=101&limit=1&offset=1") == (ids[1:], None)
