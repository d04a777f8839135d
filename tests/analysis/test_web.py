"""The analysis API at /api/analysis: thin routes over geogrid.analysis, errors as JSON."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import schemathesis
from flask import jsonify
from hypothesis import HealthCheck, given, settings
from PIL import Image
from shapely.geometry import Point

from geogrid.hazards import Hazard
from geogrid.reports import NewReport
from tests.analysis import ORANGE_LEC, RED_LEC, centre
from tests.conftest import RENAMED_MANIFEST, write_tiny_district
from tests.storage.conftest import (
    fresh_postgis,
    postgis_template,  # noqa: F401 (a fixture, used by name)
)
from tests.web.conftest import NOW, anonymous, tiny_app, token_for
from web.access import requires
from web.analysis import OPENAPI_PATHS
from web.openapi import openapi_document

AROUND = "119.98,27.98,120.06,28.04"  # the tiny district and 1.5 km around it


@pytest.fixture
def app(tmp_path, tiny_manifest):
    app = tiny_app(tmp_path, tiny_manifest)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    """A client over one store shared by the tests that only read (bad input, empty map)."""
    folder = tmp_path_factory.mktemp("analysis")
    app = tiny_app(folder)
    return app.test_client()


@pytest.fixture
def store(app):
    from web.state import store as app_store

    with app.app_context():
        return app_store()


def add_reports(store, where: dict[str, int], days_ago: float, category="dispute.neighbour"):
    when = NOW - timedelta(days=days_ago)
    reports = [NewReport(category, *centre(code), reported_at=when)
               for code, count in where.items() for _ in range(count)]  # fmt: skip
    store.add_reports(reports)


def by_code(body: dict) -> dict[str, dict]:
    return {f["properties"]["code"]: f["properties"] for f in body["features"]}


def test_an_empty_district_is_all_blue(reader):
    response = reader.get("/api/analysis/risk?level=grid")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    body = response.get_json()
    assert body["counts"] == {"red": 0, "orange": 0, "yellow": 0, "blue": 8}
    assert {f["properties"]["colour"] for f in body["features"]} == {"blue"}
    assert body["features"][0]["properties"]["reasons_zh"] == "无隐患，无重点事件"


def test_without_a_level_the_districts_default_level_is_analysed(tmp_path):
    text = 'default_level = "township"\n' + RENAMED_MANIFEST  # levels township, zone
    client = tiny_app(tmp_path, write_tiny_district(tmp_path / "d", text)).test_client()
    risk = client.get("/api/analysis/risk")
    assert risk.status_code == 200 and risk.get_json()["level"] == "township"


def test_risk_colours_with_hazards_and_reasons(client, store):
    store.add_hazard(Hazard("加油站", "safety.hazmat", Point(*centre("101")), "lec", RED_LEC,
                            radius_m=50))  # fmt: skip
    store.add_hazard(Hazard("液化气站", "safety.gas", Point(*centre("204")), "lec", ORANGE_LEC))
    body = client.get("/api/analysis/risk?level=grid").get_json()
    grids = by_code(body)
    assert grids["101"]["colour"] == "red" and grids["204"]["colour"] == "orange"
    assert grids["101"]["reasons"].startswith("1处重大隐患：加油站")
    assert "1 red hazard: 加油站" in grids["101"]["reasons_en"]
    streets = by_code(client.get("/api/analysis/risk?level=street").get_json())
    assert streets["1"]["colour"] == "red" and streets["2"]["colour"] == "orange"


def test_risk_event_pressure_from_stored_reports(client, store):
    add_reports(store, {"202": 12}, days_ago=3)
    grids = by_code(client.get("/api/analysis/risk?top_percent=20").get_json())
    assert grids["202"]["colour"] == "yellow" and grids["202"]["events"] == 12
    assert "30天内重点事件12起" in grids["202"]["reasons_zh"]
    short = by_code(client.get("/api/analysis/risk?top_percent=20&window_days=2").get_json())
    assert short["202"]["colour"] == "blue" and short["202"]["events_prev"] == 12


@pytest.mark.parametrize(
    ("query", "message"),
    [("level=floor", "'level' must be one of street, grid"),
     ("window_days=0", "'window_days' must be between 1 and 365"),
     ("pressure=zscore", "pressure: 'zscore' is not one of"),
     ("date=yesterday", "date: 'yesterday' is not YYYY-MM-DD")],
)  # fmt: skip
def test_risk_bad_input_is_a_400_naming_the_field(reader, query, message):
    response = reader.get(f"/api/analysis/risk?{query}")
    assert response.status_code == 400
    assert message in response.get_json()["error"]["message"]


def test_heat_png_for_a_view(client, store):
    add_reports(store, {"101": 5, "204": 3}, days_ago=2)
    response = client.get(f"/api/analysis/heat.png?bbox={AROUND}&width=80&height=40"
                          "&bandwidth_m=300")  # fmt: skip
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.headers["X-Geogrid-Bounds"].startswith("119.9800000,27.9800000")
    assert float(response.headers["X-Geogrid-Events"]) == pytest.approx(8, abs=0.5)
    image = Image.open(io.BytesIO(response.data))
    assert image.size == (80, 40) and image.getchannel("A").getextrema()[1] > 0


@pytest.mark.parametrize(
    ("query", "message"),
    [("bandwidth_m=0", "bandwidth_m: must be a number of metres > 0"),
     ("kernel=box", "kernel: 'box' is not one of gaussian, quartic"),
     ("width=5", "'width' must be between 16 and 2048"),
     ("since=2026-11-20&until=2026-11-10", "until: the time window is empty")],
)  # fmt: skip
def test_heat_bad_input_is_a_400(reader, query, message):
    response = reader.get(f"/api/analysis/heat.png?{query}")
    assert response.status_code == 400
    assert message in response.get_json()["error"]["message"]


def test_hexagons_as_geojson(client, store):
    add_reports(store, {"101": 4}, days_ago=2)
    body = client.get("/api/analysis/hexagons?resolution=9").get_json()
    assert sum(f["properties"]["count"] for f in body["features"]) == 4
    assert body["resolution"] == 9


def test_hexagon_time_slices_for_an_animation(client, store):
    add_reports(store, {"101": 3}, days_ago=2)
    add_reports(store, {"204": 2}, days_ago=9)
    body = client.get("/api/analysis/hexagons/slices?step=week").get_json()
    assert len(body["slices"]) == 4
    counts = sorted(f["properties"]["count"] for f in body["features"])
    assert counts == [2.0, 3.0]
    response = client.get("/api/analysis/hexagons/slices?step=month")
    assert response.status_code == 400 and "'step' must be one of day, week" in response.text


def test_hot_spot_table(client, store):
    add_reports(store, {"101": 30, "102": 25, "103": 20, "201": 1}, days_ago=2)
    body = client.get("/api/analysis/hotspots?level=grid").get_json()
    assert body["level"] == "grid" and body["count"] == 8
    assert sum(body["summary"].values()) == 8
    first = body["grids"][0]
    assert set(first) >= {"code", "z", "p", "spot", "confidence", "label_zh", "label_en"}
    assert first["code"] == "101" and first["value"] == 30


def test_pai_of_kde_gi_star_and_counts(client, store):
    add_reports(store, {"101": 20}, days_ago=40)
    add_reports(store, {"101": 6, "204": 2}, days_ago=5)
    body = client.get("/api/analysis/pai?top_percent=10").get_json()
    methods = {row["method"]: row for row in body["methods"]}
    assert set(methods) == {"kde", "gi_star", "counts"}
    assert methods["counts"]["hits"] == 6 and methods["counts"]["events"] == 8
    assert methods["counts"]["pai"] == pytest.approx(0.75 / 0.125, rel=1e-3)


def test_pai_without_test_reports_is_a_400(reader):
    response = reader.get("/api/analysis/pai")
    assert response.status_code == 400
    assert "test: no reports in the test window" in response.get_json()["error"]["message"]


@pytest.fixture(params=["sqlite", "postgis"])
def each_store_app(request, tmp_path):
    """The app over the tiny district, on SQLite, then on PostGIS."""
    if request.param == "sqlite":
        yield tiny_app(tmp_path)
        return
    with fresh_postgis(request.getfixturevalue("postgis_template")) as url:
        app = tiny_app(tmp_path, STORE=url)
        yield app
        with app.app_context():
            from web.state import store as app_store

            app_store().close()


def test_a_scoped_principal_analyses_the_reports_and_grids_of_its_scope(each_store_app):
    app = each_store_app
    with app.app_context():
        from web.state import store as app_store

        add_reports(app_store(), {"101": 5, "204": 3}, days_ago=2)
    scoped = anonymous(app)
    token = token_for(app, "chief.one", "commander", ["1"])
    scoped.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    street_1 = {"101", "102", "103", "104"}
    assert set(by_code(scoped.get("/api/analysis/risk").get_json())) == street_1
    spots = scoped.get("/api/analysis/hotspots?level=grid").get_json()
    assert {row["code"] for row in spots["grids"]} == street_1 and spots["count"] == 4
    hexagons = scoped.get("/api/analysis/hexagons?resolution=9").get_json()
    assert sum(f["properties"]["count"] for f in hexagons["features"]) == 5
    heat = scoped.get(f"/api/analysis/heat.png?bbox={AROUND}&width=40&height=20")
    assert float(heat.headers["X-Geogrid-Events"]) == pytest.approx(5, abs=0.5)
    slices = scoped.get("/api/analysis/hexagons/slices?step=week").get_json()
    assert sum(f["properties"]["count"] for f in slices["features"]) == 5
    # Anonymous visitors see the district-wide aggregates.
    visitor = anonymous(app)
    assert len(by_code(visitor.get("/api/analysis/risk").get_json())) == 8
    hexagons = visitor.get("/api/analysis/hexagons?resolution=9").get_json()
    assert sum(f["properties"]["count"] for f in hexagons["features"]) == 8


def test_every_route_is_in_the_openapi_paths(app):
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith(
        "analysis.")}  # fmt: skip
    assert routes == set(OPENAPI_PATHS)
    for path in OPENAPI_PATHS.values():
        assert path["get"]["summary"] and "200" in path["get"]["responses"]


def test_no_request_makes_the_analysis_api_fail(app, store):
    add_reports(store, {"101": 6, "103": 4, "204": 2}, days_ago=5)
    add_reports(store, {"101": 6}, days_ago=40)
    document = {**openapi_document(), "paths": OPENAPI_PATHS}
    app.add_url_rule("/analysis-openapi.json", "analysis_openapi",
                     requires("public")(lambda: jsonify(document)))  # fmt: skip
    schema = schemathesis.openapi.from_wsgi("/analysis-openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(OPENAPI_PATHS)
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def check(case):
            case.call_and_validate(checks=[schemathesis.checks.not_a_server_error])

        check()
