"""The two lanes of a worker: a costly request never holds up a cheap one."""

from __future__ import annotations

import pytest

from tests.web.conftest import tiny_app
from web.lanes import COSTLY_BLUEPRINTS, COSTLY_ENDPOINTS, is_costly

HEAT = "/api/analysis/heat.png?bbox=119.98,27.98,120.06,28.04&width=40&height=20"


@pytest.fixture
def app(tmp_path, tiny_manifest):
    return tiny_app(tmp_path, tiny_manifest, THREADS=2)


def test_a_worker_busy_with_costly_requests_refuses_one_more_with_503_but_serves_cheap_ones(app):
    client = app.test_client()
    lanes = app.extensions["geogrid.lanes"]
    held = lanes.enter_costly()  # a heat map computing, say: the only costly seat of 2 threads
    try:
        busy = client.get(HEAT)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
        assert busy.get_json()["error"] == {
            "type": "BusyError",
            "message": "busy with 1 costly request (GEOGRID_THREADS=2); try again in 5 s",
        }
        assert client.get("/api/levels").status_code == 200
    finally:
        lanes.leave(held)
    assert client.get(HEAT).status_code == 200


def test_only_the_computing_routes_take_the_costly_lane(app):
    costly = {rule.endpoint for rule in app.url_map.iter_rules() if is_costly(rule.endpoint)}
    blueprints = {e.split(".")[0] for e in costly}
    assert costly and blueprints == COSTLY_BLUEPRINTS | {"redraw"}
    assert {e for e in costly if e.startswith("redraw.")} == COSTLY_ENDPOINTS
    assert {"patrol.plan", "patrol.tracks", "analysis.heat_png"} <= costly
    cheap = {"patrol.routes", "patrol.create_route", "api.lookup", "static", "redraw.edit_draft"}
    assert not costly & cheap


def test_a_large_body_takes_the_costly_lane_whatever_the_route(app):
    client = app.test_client()
    lanes = app.extensions["geogrid.lanes"]
    report = {"category": "fire", "lon": 120.005, "lat": 28.005}
    held = lanes.enter_costly()
    try:
        batch = client.post("/api/reports", json={"reports": [report] * 2000})  # ~110 kB
        assert batch.status_code == 503
        assert client.post("/api/reports", json=report).status_code == 201
    finally:
        lanes.leave(held)


def test_a_body_over_the_limit_is_refused_at_once_not_queued(tmp_path, tiny_manifest):
    app = tiny_app(tmp_path, tiny_manifest, THREADS=2, MAX_BODY_BYTES=100_000)
    lanes = app.extensions["geogrid.lanes"]
    held = lanes.enter_costly()  # the costly lane is busy: a large body must not wait for it
    try:
        reply = app.test_client().post("/api/reports", data=b"x" * 200_000,
                                       content_type="application/json")  # fmt: skip
        assert reply.status_code == 413
    finally:
        lanes.leave(held)
