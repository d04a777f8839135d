"""The JSON API: boundaries, lookup, reports and their workflow, statistics, errors."""

from __future__ import annotations

import json

import pytest

from geogrid.crs import wgs84_to_bd09
from tests.conftest import SOUTH, STEP, WEST

IN_101 = {"category": "dispute.neighbour", "lon": WEST + 0.005, "lat": SOUTH + 0.005}


def count(client) -> int:
    return client.get("/api/reports?limit=1").get_json()["total"]


# --- boundaries ----------------------------------------------------------------------------


def test_generations_and_levels(client):
    (generation,) = client.get("/api/generations").get_json()["generations"]
    assert generation["active"] and generation["levels"] == ["street", "grid"]
    assert [lv["key"] for lv in client.get("/api/levels").get_json()["levels"]] == [
        "street", "grid"]  # fmt: skip


def test_grids_of_a_level_with_bbox_and_simplification(client):
    every = client.get("/api/grids?level=grid").get_json()
    assert len(every["features"]) == 8 and every["features"][0]["properties"]["level"] == "grid"
    west = client.get(f"/api/grids?level=grid&bbox={WEST},{SOUTH},{WEST + 0.009},{SOUTH + 0.009}")
    assert [f["id"] for f in west.get_json()["features"]] == ["101"]
    simple = client.get("/api/grids?level=street&simplify=50")
    assert simple.status_code == 200 and simple.mimetype == "application/geo+json"


def test_one_grid_and_its_children(client):
    street = client.get("/api/grids/1").get_json()
    assert street["properties"]["name"] == "东街道" and street["properties"]["households"] == 800
    children = client.get("/api/grids/1/children").get_json()
    assert sorted(f["id"] for f in children["features"]) == ["101", "102", "103", "104"]
    assert client.get("/api/grids/104/children").get_json()["features"] == []
    assert client.get("/api/grids/999").status_code == 404


def test_lookup_in_baidu_coordinates(client):
    lon, lat = wgs84_to_bd09([WEST + 0.005], [SOUTH + 0.005])
    body = client.get(f"/api/lookup?lon={lon[0]}&lat={lat[0]}&crs=BD-09").get_json()
    assert body["codes"] == {"street": "1", "grid": "101"} and body["status"] == "assigned"


# --- reports -------------------------------------------------------------------------------


def test_create_a_report_then_read_it(client):
    response = client.post(
        "/api/reports",
        json={**IN_101, "external_id": "mp-1", "reported_at": "2026-11-23T09:30:00+08:00"},
    )
    assert response.status_code == 201
    report = response.get_json()
    assert report["codes"] == {"street": "1", "grid": "101"} and report["status"] == "received"
    assert response.headers["Location"] == f"/api/reports/{report['id']}"
    again = client.get(response.headers["Location"]).get_json()
    assert again["history"][0]["action"] == "received"


def test_resend_is_200_and_conflict_is_409(client):
    first = client.post("/api/reports", json={**IN_101, "external_id": "12345-9"})
    resend = client.post("/api/reports", json={**IN_101, "external_id": "12345-9"})
    assert resend.status_code == 200 and resend.get_json()["id"] == first.get_json()["id"]
    other = client.post(
        "/api/reports", json={**IN_101, "external_id": "12345-9", "description": "别的"}
    )
    assert other.status_code == 409 and "12345-9" in other.get_json()["error"]["message"]
    assert count(client) == 1


def test_batch(client):
    batch = {"reports": [{**IN_101, "external_id": f"b-{i}"} for i in range(3)]}
    response = client.post("/api/reports", json=batch)
    assert response.status_code == 201
    assert [r["created"] for r in response.get_json()["results"]] == [True] * 3


@pytest.mark.parametrize(
    "body, message",
    [
        ({**IN_101, "lat": 95}, "lat: 95 is out of range"),
        ({**IN_101, "lon": "east"}, "lon: must be a number"),
        ({"category": "fire", "lon": 120}, "missing field lat"),
        ({**IN_101, "category": "noise"}, "unknown category 'noise'"),
        ({**IN_101, "crs": "EPSG:999999"}, "crs"),
        ({**IN_101, "colour": "red"}, "unknown field colour"),
        ({**IN_101, "reported_at": "yesterday"}, "reported_at"),
        ([1, 2], "a report must be a JSON object"),
        ({"reports": []}, "reports: must be a non-empty list"),
        ({"reports": [IN_101, {**IN_101, "lat": -91}]}, "report 2: lat"),
    ],
)
def test_bad_reports_are_400_naming_the_field_and_store_nothing(client, body, message):
    response = client.post("/api/reports", json=body)
    assert response.status_code == 400, response.get_json()
    assert message in response.get_json()["error"]["message"]
    assert count(client) == 0


def test_malformed_json_and_oversized_bodies(client, app):
    malformed = client.post("/api/reports", data="{not json", content_type="application/json")
    assert (
        malformed.status_code == 400 and "must be JSON" in malformed.get_json()["error"]["message"]
    )
    app.config["MAX_CONTENT_LENGTH"] = 1000
    huge = client.post("/api/reports", json={**IN_101, "description": "长" * 2000})
    assert huge.status_code == 413 and huge.get_json()["error"]["type"]
    assert count(client) == 0


def test_list_filters_and_paging(client, filled):
    assert client.get("/api/reports?grid=1").get_json()["total"] == 2
    assert client.get("/api/reports?category=fire,city").get_json()["total"] == 2
    assert client.get("/api/reports?status=closed").get_json()["total"] == 0
    page = client.get("/api/reports?limit=3").get_json()
    assert page["total"] == 4 and len(page["items"]) == 3
    rest = client.get(page["next"]).get_json()
    assert len(rest["items"]) == 1 and "next" not in rest
    points = client.get("/api/reports.geojson?grid=101").get_json()
    assert points["numberMatched"] == 2 and points["features"][0]["geometry"]["type"] == "Point"


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=abc",
        "bbox=1,2,3",
        "since=soon",
        "overdue=maybe",
        "grid=999",
        "status=done",
    ],
)
def test_bad_filters(client, query):
    assert client.get(f"/api/reports?{query}").status_code in (400, 404)


def test_workflow_transitions(client, filled):
    report_id = client.get("/api/reports?grid=204").get_json()["items"][0]["id"]
    url = f"/api/reports/{report_id}/transitions"
    moved = client.post(url, json={"status": "registered", "actor": "指挥中心", "note": "登记"})
    assert moved.status_code == 200 and moved.get_json()["status"] == "registered"
    illegal = client.post(url, json={"status": "closed", "actor": "x"})
    assert illegal.status_code == 409
    assert client.post(url, json={"note": "no status"}).status_code == 400
    dispatched = client.post(url, json={"status": "dispatched"})  # who: the token's user
    assert dispatched.status_code == 200
    assert [e["actor"] for e in dispatched.get_json()["history"]][-2:] == ["test.admin"] * 2
    assert (
        client.post(
            "/api/reports/999/transitions", json={"status": "registered", "actor": "x"}
        ).status_code
        == 404
    )


def test_unknown_report_is_404(client):
    assert client.get("/api/reports/12345").status_code == 404


def test_categories(client):
    tree = client.get("/api/categories").get_json()
    assert [c["code"] for c in tree["categories"]][:2] == ["dispute", "safety"]


# --- statistics ----------------------------------------------------------------------------


def test_stats_per_grid_and_for_one_grid(client, filled):
    per_grid = {g["code"]: g for g in client.get("/api/stats?level=grid").get_json()["grids"]}
    assert per_grid["101"]["total"] == 2 and per_grid["204"]["open"] == 1
    one = client.get("/api/stats/1").get_json()
    assert one["counts"]["total"] == 2 and one["households"] == 800
    assert {c["code"]: c["total"] for c in one["children"]} == {"101": 2}
    quiet = client.get("/api/stats/102").get_json()
    assert quiet["counts"]["total"] == 0
    overdue = client.get("/api/stats?level=street&overdue=true").get_json()["grids"]
    assert overdue == []


def test_heat_counts_add_up(client, filled):
    body = client.get(
        f"/api/heat?bbox={WEST},{SOUTH},{WEST + 4 * STEP},{SOUTH + 2 * STEP}&size=16"
    ).get_json()
    assert sum(p[2] for p in body["points"]) == 3 and body["max"] >= 1
    assert all(isinstance(p[2], int) for p in body["points"])


def test_openapi_document_lists_every_route(client, app):
    document = client.get("/api/openapi.json").get_json()
    documented = set(document["paths"])
    routes = {
        rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
    }
    assert routes - {"/api/openapi.json"} == documented
    json.dumps(document)


def test_planned_routes_carry_length_and_walking_time(client, store):
    from shapely.geometry import LineString

    from geogrid.patrol.records import PatrolRoute

    line = LineString([(WEST + 0.001, SOUTH + 0.001), (WEST + 0.009, SOUTH + 0.001)])
    store.add_patrol_route(
        PatrolRoute(
            "101",
            "morning",
            line,
            name="早巡",
            attributes={"length_m": 784.2, "walking_minutes": 10.5},
        )
    )
    (route,) = client.get("/api/patrol/routes").get_json()["features"]
    assert route["properties"]["length_m"] == 784.2
    assert route["properties"]["walking_minutes"] == 10.5
