"""Who may store and read patrols, routes and plans (the security review's F4), on both stores.

The tiny district: street 1 holds grids 101–104, street 2 grids 201–204. The
commander is scoped to street 1, the grid worker 张三 (zhang.san) to grid 101.
Each test patrols its own day, so that tests sharing the module's store stay apart.
"""

from __future__ import annotations

import pytest

from tests.conftest import LATTICE, STEP
from tests.patrol import AROUND_101, gpx_text, walk_points
from tests.storage.conftest import (
    fresh_postgis,
    postgis_template,  # noqa: F401 (a fixture, used by name)
)
from tests.web.conftest import anonymous, tiny_app, token_for

#: Around grid 201 (street 2), 20 m inside its boundary.
AROUND_201 = [(lon + 2 * STEP, lat) for lon, lat in AROUND_101]


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def app(request, tmp_path_factory):
    """The app over the tiny district with the lattice as its roads, on SQLite then PostGIS."""
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        yield tiny_app(folder, PATROL_NETWORK=str(LATTICE))
        return
    with fresh_postgis(request.getfixturevalue("postgis_template")) as url:
        app = tiny_app(folder, STORE=url, PATROL_NETWORK=str(LATTICE))
        yield app
        with app.app_context():
            from web.state import store

            store().close()


@pytest.fixture(scope="module")
def tokens(app):
    return {
        "worker": token_for(app, "zhang.san", "grid_worker", ["101"]),
        "commander": token_for(app, "chief.one", "commander", ["1"]),
        "viewer": token_for(app, "viewer", "viewer"),
    }


def client_of(app, token: str):
    client = anonymous(app)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def walk(corners, day: str, hour: str = "08:00", author: str | None = None) -> bytes:
    points = walk_points(corners, f"{day}T{hour}:00+08:00")
    return gpx_text([("巡", points)], author).encode()


def workers_of(client, day: str) -> list[str]:
    lines = client.get(f"/api/patrol/tracks?since={day}&until={day}")
    assert lines.status_code == 200, lines.get_json()
    return sorted(f["properties"]["worker"] for f in lines.get_json()["features"])


def statuses(client, day: str) -> dict[str, str]:
    layer = client.get(f"/api/patrol/compliance?since={day}&until={day}&format=geojson&required=1")
    assert layer.status_code == 200, layer.get_json()
    return {
        f["properties"]["code"]: f["properties"]["status"] for f in layer.get_json()["features"]
    }


def test_an_anonymous_patrol_is_refused_and_the_grid_stays_missed(app):
    day = "2026-11-02"
    forged = anonymous(app).post(
        "/api/patrol/tracks?store=true&worker=张三", data=walk(AROUND_101, day)
    )
    assert forged.status_code == 401
    assert statuses(app.test_client(), day)["101"] == "never"


def test_a_grid_worker_cannot_store_patrols_for_another(app, tokens):
    day = "2026-11-03"
    worker = client_of(app, tokens["worker"])
    forged = worker.post("/api/patrol/tracks?store=true&worker=李四", data=walk(AROUND_101, day))
    assert forged.status_code == 403
    assert "its own tracks only" in forged.get_json()["error"]["message"]
    assert statuses(app.test_client(), day)["101"] == "never"  # the forged patrol counts nowhere
    # The file's author is not trusted: the track is stored under the account's name.
    stored = worker.post("/api/patrol/tracks?store=true", data=walk(AROUND_101, day, author="李四"))
    assert stored.status_code == 201 and stored.get_json()["tracks"][0]["worker"] == "zhang.san"
    assert workers_of(app.test_client(), day) == ["zhang.san"]
    assert statuses(app.test_client(), day)["101"] == "met"


def test_a_commander_stores_tracks_for_the_workers_it_names(app, tokens):
    day = "2026-11-04"
    commander = client_of(app, tokens["commander"])
    stored = commander.post(
        "/api/patrol/tracks?store=true&worker=li.si", data=walk(AROUND_101, day)
    )
    assert stored.status_code == 201
    by_author = commander.post("/api/patrol/tracks?store=true",
                               data=walk(AROUND_101, day, "14:00", author="wang.wu"))  # fmt: skip
    assert by_author.status_code == 201
    assert workers_of(app.test_client(), day) == ["li.si", "wang.wu"]
    # Scoped to street 1: a patrol of street 2 is not its to import.
    elsewhere = commander.post("/api/patrol/tracks?store=true&worker=li.si",
                               data=walk(AROUND_201, day))  # fmt: skip
    assert elsewhere.status_code == 404
    assert workers_of(app.test_client(), day) == ["li.si", "wang.wu"]


def test_a_grid_worker_reads_only_its_own_tracks(app, tokens):
    day = "2026-11-05"
    admin = app.test_client()
    admin.post("/api/patrol/tracks?store=true&worker=li.si", data=walk(AROUND_101, day))
    worker = client_of(app, tokens["worker"])
    worker.post("/api/patrol/tracks?store=true", data=walk(AROUND_101, day, "14:00"))
    assert workers_of(worker, day) == ["zhang.san"]
    assert workers_of(admin, day) == ["li.si", "zhang.san"]
    someone = worker.get(f"/api/patrol/tracks?since={day}&until={day}&worker=li.si")
    assert someone.status_code == 403
    table = worker.get(f"/api/patrol/compliance?since={day}&until={day}").get_json()
    assert table["patrols"] == 1  # its own patrol, not li.si's
    assert {row["code"] for row in table["table"]} == {"101"}  # the grids of its scope


def test_a_commander_reads_the_tracks_through_its_grids_only(app, tokens):
    day = "2026-11-06"
    admin = app.test_client()
    admin.post("/api/patrol/tracks?store=true&worker=li.si", data=walk(AROUND_101, day))
    admin.post("/api/patrol/tracks?store=true&worker=wang.wu", data=walk(AROUND_201, day))
    commander = client_of(app, tokens["commander"])
    assert workers_of(commander, day) == ["li.si"]
    assert workers_of(admin, day) == ["li.si", "wang.wu"]
    table = commander.get(f"/api/patrol/compliance?since={day}&until={day}").get_json()
    assert {row["code"] for row in table["table"]} == {"101", "102", "103", "104"}
    assert table["patrols"] == 1 and "201" not in table["never_visited"]
    sent = commander.post(f"/api/patrol/compliance?since={day}&until={day}",
                          data=walk(AROUND_201, day)).get_json()  # fmt: skip
    assert sent["patrols"] == 0 and all(row["code"].startswith("1") for row in sent["table"])


@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 401), ("viewer", 403)]
)  # fmt: skip
def test_tracks_are_not_for_viewers_or_visitors(app, tokens, role, status):
    client = anonymous(app) if role == "anonymous" else client_of(app, tokens[role])
    day = "since=2026-11-06&until=2026-11-06"
    assert client.get(f"/api/patrol/tracks?{day}").status_code == status
    assert client.get(f"/api/patrol/compliance?{day}").status_code == status
    assert client.post("/api/patrol/tracks", data=walk(AROUND_101, "2026-11-06")).status_code == (
        status
    )


def test_routes_and_plans_keep_to_the_scope(app, tokens):
    line = {"type": "LineString", "coordinates": [list(p) for p in AROUND_101]}
    admin = app.test_client()
    commander = client_of(app, tokens["commander"])
    assert commander.get("/api/patrol/routes").get_json()["features"] == []  # none stored yet
    for grid in ("101", "201"):
        body = {"grid": grid, "shift": "morning", "geometry": line, "name": f"scope {grid}"}
        assert admin.post("/api/patrol/routes", json=body).status_code == 201
    listed = commander.get("/api/patrol/routes").get_json()["features"]
    names = {f["properties"]["name"] for f in listed}
    assert "scope 101" in names and "scope 201" not in names
    assert commander.get("/api/patrol/routes?grid=201").status_code == 404
    other = {"grid": "201", "shift": "morning", "geometry": line}
    assert commander.post("/api/patrol/routes", json=other).status_code == 404
    start = {"lon": 120.0, "lat": 28.0}
    plan = commander.post("/api/patrol/plan", json={"start": start, "grids": ["201"]})
    assert plan.status_code == 404
    streets = commander.post(
        "/api/patrol/plan", json={"start": start, "grids": ["101"], "mode": "streets"}
    )
    assert streets.status_code == 200
    far = {"name": "外", "weight": 1, "lon": 120.035, "lat": 28.005}
    places = commander.post("/api/patrol/plan", json={"start": start, "places": [far],
                                                      "time_limit_s": 0})  # fmt: skip
    assert (
        places.status_code == 404 and "not in your scope" in places.get_json()["error"]["message"]
    )


def test_a_stored_route_records_who_stored_it(app, tokens):
    from web.state import store

    line = {"type": "LineString", "coordinates": [list(p) for p in AROUND_101]}
    body = {"grid": "102", "shift": "evening", "geometry": line}
    created = client_of(app, tokens["commander"]).post("/api/patrol/routes", json=body)
    assert created.status_code == 201
    with app.app_context():
        from geogrid.storage.audit import AuditQuery

        events = store().audit.events(AuditQuery(action="route.create"))
    assert any(e.principal == "chief.one" and e.object_id == str(created.get_json()["id"])
               for e in events)  # fmt: skip
