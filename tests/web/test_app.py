"""The web app's first slice: the district map page and the lookup API."""

from __future__ import annotations

import pytest

from tests.conftest import RENAMED_MANIFEST, SOUTH, WEST, write_tiny_district
from tests.web.conftest import tiny_app
from web.settings import settings_from_environ


def test_map_page_has_a_layer_per_level(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "/api/levels/street/grids" in html and "/api/levels/grid/grids" in html
    assert "网格地图" in html and "L.control.layers" in html


def test_map_page_loads_nothing_from_outside_without_tiles(client):
    html = client.get("/").get_data(as_text=True)
    assert "/static/vendor/leaflet/leaflet.js" in html
    assert "https://" not in html and "http://" not in html
    assert client.get("/static/vendor/leaflet/leaflet.js").status_code == 200


def test_levels(client):
    body = client.get("/api/levels").get_json()
    assert [level["key"] for level in body["levels"]] == ["street", "grid"]
    assert body["levels"][1] == {"key": "grid", "label": "网格", "coverage": "full", "grids": 8}


def test_level_grids_geojson(client):
    response = client.get("/api/levels/grid/grids")
    assert response.mimetype == "application/geo+json"
    collection = response.get_json()
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 8
    assert collection["features"][0]["properties"]["name"] == "第1网格"


def test_unknown_level_is_404_json(client):
    response = client.get("/api/levels/room/grids")
    assert (
        response.status_code == 404 and "unknown level" in response.get_json()["error"]["message"]
    )


def test_lookup(client):
    body = client.get(f"/api/lookup?lon={WEST + 0.005}&lat={SOUTH + 0.005}").get_json()
    assert body["codes"] == {"street": "1", "grid": "101"} and body["status"] == "assigned"


def test_lookup_gcj02(client):
    from geogrid.crs import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02([WEST + 0.0097], [SOUTH + 0.015])
    body = client.get(f"/api/lookup?lon={lon[0]}&lat={lat[0]}&crs=GCJ-02").get_json()
    assert body["codes"]["grid"] == "102"


@pytest.mark.parametrize(
    "query, message",
    [
        ("lat=28", "'lon' is required"),
        ("lon=abc&lat=28", "'lon' must be a number"),
        ("lon=120&lat=28&crs=XYZ-99", "XYZ-99"),
    ],
)
def test_lookup_bad_input_is_400_naming_the_field(client, query, message):
    response = client.get(f"/api/lookup?{query}")
    assert response.status_code == 400 and message in response.get_json()["error"]["message"]


def test_settings_come_from_the_environment_with_prefix():
    values = settings_from_environ({"GEOGRID_MANIFEST": "/x.toml", "GEOGRID_THREADS": "2"})
    assert values["MANIFEST"] == "/x.toml" and values["THREADS"] == 2


def test_bad_setting_names_the_variable():
    with pytest.raises(ValueError, match="GEOGRID_PORT='eighty'"):
        settings_from_environ({"GEOGRID_PORT": "eighty"})


def test_bad_clock_setting_names_the_variable_and_the_form():
    with pytest.raises(ValueError, match=r"GEOGRID_CLOCK='2026-11-20'.*ISO 8601 time"):
        settings_from_environ({"GEOGRID_CLOCK": "2026-11-20"})


def test_the_clock_setting_dates_what_the_app_receives(tmp_path):
    clock = settings_from_environ({"GEOGRID_CLOCK": "2027-02-01T09:30+08:00"})["CLOCK"]
    client = tiny_app(tmp_path, CLOCK=clock).test_client()
    reply = client.post("/api/reports", json={"category": "city.rubbish", "lon": 120.005,
                                              "lat": 28.005})  # fmt: skip
    received = client.get(f"/api/reports/{reply.get_json()['id']}").get_json()["received_at"]
    assert received.startswith("2027-02-01T01:30")  # UTC, a moment after the clock started


def test_commander_page_carries_settings_not_data(client, filled):
    html = client.get("/").get_data(as_text=True)
    assert "window.GEOGRID" in html and "commander.js" in html
    assert "leaflet-heat.js" in html and "leaflet.markercluster.js" in html
    assert "楼上漏水" not in html  # reports come from the API, never inside the page
    english = client.get("/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english and "Grid map" in english
    assert "<title>小区 Tiny district · 网格地图</title>" in html


def test_commander_page_and_stats_count_the_districts_default_level(tmp_path):
    text = 'default_level = "township"\n' + RENAMED_MANIFEST  # levels township, zone
    client = tiny_app(tmp_path, write_tiny_district(tmp_path / "d", text)).test_client()
    assert '"choroplethLevel": "township"' in client.get("/").get_data(as_text=True)
    assert client.get("/api/stats").get_json()["level"] == "township"


def test_grid_page(client, filled):
    page = client.get("/grids/1")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "东街道" in html and "/grids/101" in html
    assert "<title>东街道 1 · 小区 Tiny district</title>" in html
    assert "邻里纠纷" in html and "消防通道堵塞" in html  # its two reports, by category
    assert client.get("/grids/101?lang=en").status_code == 200
    assert client.get("/grids/999").status_code == 404
