"""`geogrid patrol …` and the /api/patrol routes, on the tiny district and the lattice."""

from __future__ import annotations

import argparse
import copy
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from geogrid import Hierarchy
from geogrid.cli.patrol import add_patrol_commands
from geogrid.errors import GeogridError
from geogrid.storage import open_store
from tests.patrol import AROUND_101, DATA, TWO_SIDES, gpx_text, walk_points
from tests.web.conftest import signed_in_as_admin
from web import create_app
from web.errors import error_body, http_status

LATTICE = str(DATA / "lattice.geojson")


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run ``geogrid patrol …`` as geogrid.cli.main would once the commands are wired."""
    parser = argparse.ArgumentParser(prog="geogrid")
    add_patrol_commands(parser.add_subparsers(required=True))
    args = parser.parse_args(["patrol", *argv])
    try:
        code = args.run(args)
    except GeogridError as exc:
        print(f"geogrid: error: {exc}", file=sys.stderr)
        code = 2
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def store_url(tmp_path, tiny_manifest, monkeypatch):
    url = f"sqlite:///{tmp_path / 'patrol.db'}"
    open_store(url).import_generation(Hierarchy.from_manifest(tiny_manifest), "tiny", activate=True)
    monkeypatch.setenv("GEOGRID_STORE", url)
    return url


def day_of_tracks(tmp_path) -> list[str]:
    paths = []
    for worker, start in (("张三", "08:00"), ("李四", "14:00"), ("王五", "20:00")):
        path = tmp_path / f"{worker}.gpx"
        points = walk_points(AROUND_101, f"2026-11-23T{start}:00+08:00")
        path.write_text(gpx_text([("巡", points)], worker), encoding="utf-8")
        paths.append(str(path))
    return paths


def test_cli_plans_a_route_writes_gpx_and_stores_it(store_url, tmp_path, capsys):
    places = tmp_path / "places.csv"
    places.write_text("name,weight,lon,lat\n仓库,4,120.0,28.0025\n加油站,8,120.0,28.0075\n")
    out = tmp_path / "route.gpx"
    code, printed, err = run(
        [
            "plan",
            "--start",
            "120.0,28.0",
            "--places",
            str(places),
            "--network",
            LATTICE,
            "--max-length",
            "1500",
            "--time-limit",
            "0",
            "--grid",
            "101",
            "--out",
            str(out),
            "--save",
            "morning",
        ],
        capsys,
    )
    assert code == 0, err
    assert "1. 仓库" in printed and "skipped: 加油站: too far" in printed
    assert out.read_text(encoding="utf-8").startswith("<?xml")
    assert len(open_store(store_url).patrol_routes("101")) == 1


def test_cli_plans_every_street_of_a_grid(store_url, tmp_path, capsys):
    out = tmp_path / "route.geojson"
    code, printed, _ = run(
        [
            "plan",
            "--start",
            "120.0,28.0",
            "--grid",
            "101",
            "--cover-streets",
            "--network",
            LATTICE,
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0 and "route: 8,367 m" in printed and "Chinese postman" in printed
    assert json.loads(out.read_text())["features"][0]["properties"]["kind"] == "route"


def test_cli_refuses_a_start_off_the_network_and_stores_nothing(store_url, capsys):
    code, _, err = run(
        [
            "plan",
            "--start",
            "121,28",
            "--grid",
            "101",
            "--cover-streets",
            "--network",
            LATTICE,
            "--save",
            "morning",
        ],
        capsys,
    )
    assert code == 2 and "start: (121.000000, 28.000000) is" in err
    assert len(open_store(store_url).patrol_routes()) == 0


def test_cli_imports_tracks_and_routes(store_url, tmp_path, capsys):
    route_file = tmp_path / "planned.gpx"
    route_file.write_text(gpx_text([("计划", walk_points(AROUND_101, "2026-11-23T00:00Z", 60))]))
    code, printed, _ = run(
        ["import", str(route_file), "--route", "morning", "--grid", "101"], capsys
    )
    assert code == 0 and "stored" in printed
    code, printed, _ = run(["import", str(DATA / "two_sides.gpx"), "--grid", "101"], capsys)
    assert code == 0
    assert "早巡" in printed and "grid 101: 26.6 min" in printed
    assert "planned route covered: 5" in printed  # two of four sides
    code, printed, _ = run(["import", str(DATA / "two_sides.gpx"), "--json"], capsys)
    assert json.loads(printed)[0]["worker"] == "张三"
    code, _, err = run(["import", str(DATA / "two_sides.gpx"), str(DATA / "no_time.gpx")], capsys)
    assert code == 2 and "no_time.gpx: track 1, point 2 has no <time>" in err


def test_cli_compliance_writes_a_table_and_a_layer(store_url, tmp_path, capsys):
    table, layer = tmp_path / "table.csv", tmp_path / "layer.geojson"
    code, printed, _ = run(
        ["compliance", *day_of_tracks(tmp_path), "--out", str(table), "--layer", str(layer)], capsys
    )
    assert code == 0
    assert "3 tracks, 3 patrols, 1 days, 8 grids: 1 met, 0 partly, 0 short, 7 never" in printed
    assert table.read_text(encoding="utf-8").count("\n") == 9
    colours = {
        f["properties"]["code"]: f["properties"]["colour"]
        for f in json.loads(layer.read_text())["features"]
    }
    assert colours["101"] == "#1a9850" and colours["204"] == "#d73027"


NOV_23 = (datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC))


def test_cli_import_stores_each_track_once_and_a_dry_run_nothing(store_url, tmp_path, capsys):
    gpx = str(DATA / "two_sides.gpx")
    code, _, err = run(["import", gpx, "--dry-run"], capsys)
    assert code == 0 and "stored" not in err
    assert open_store(store_url).patrol_tracks(*NOV_23) == []
    code, _, err = run(["import", gpx], capsys)
    assert code == 0 and "stored 1 new tracks (0 stored before)" in err
    code, printed, err = run(["import", gpx, "--json"], capsys)
    assert "stored 0 new tracks (1 stored before)" in err and json.loads(printed)[0]["new"] is False
    code, _, _ = run(["import", *day_of_tracks(tmp_path), str(DATA / "no_time.gpx")], capsys)
    assert code == 2  # one bad file: none of the batch is stored
    assert [t.worker for t in open_store(store_url).patrol_tracks(*NOV_23)] == ["张三"]


def test_cli_compliance_counts_the_stored_tracks_of_a_period(store_url, tmp_path, capsys):
    assert run(["import", *day_of_tracks(tmp_path)], capsys)[0] == 0
    code, printed, _ = run(["compliance", "--since", "2026-11-23", "--until", "2026-11-23"], capsys)
    assert code == 0
    assert "3 tracks, 3 patrols, 1 days, 8 grids: 1 met, 0 partly, 0 short, 7 never" in printed
    code, printed, _ = run(["compliance", "--since", "2026-11-30", "--until", "2026-12-01"], capsys)
    assert "0 tracks, 0 patrols, 2 days, 8 grids: 0 met, 0 partly, 0 short, 8 never" in printed
    code, _, err = run(["compliance"], capsys)
    assert code == 2 and "--since and --until" in err


# --- web -------------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path, tiny_manifest):
    """The app, whose patrol planning uses a small lattice network."""
    return signed_in_as_admin(
        create_app(
            {
                "TESTING": True,
                "STORE": f"sqlite:///{tmp_path / 'web.db'}",
                "MANIFEST": str(tiny_manifest),
                "TILES": "none",
                "PATROL_NETWORK": LATTICE,
            }
        )
    )


@pytest.fixture
def client(app):
    return app.test_client()


def test_api_plans_a_route_as_geojson_or_gpx(client):
    body = {
        "start": {"lon": 120.0, "lat": 28.0},
        "time_limit_s": 0,
        "max_length_m": 1500,
        "places": [{"name": "仓库", "weight": 4, "lon": 120.0, "lat": 28.0025}],
    }
    response = client.post("/api/patrol/plan", json=body)
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    features = response.get_json()["features"]
    assert features[0]["properties"]["length_m"] == pytest.approx(554.1, abs=1)
    gpx = client.post("/api/patrol/plan", json={**body, "format": "gpx"})
    assert gpx.mimetype == "application/gpx+xml" and b"<trk>" in gpx.data
    streets = client.post(
        "/api/patrol/plan",
        json={"start": {"lon": 120.0, "lat": 28.0}, "mode": "streets", "grids": ["101"]},
    )
    assert streets.get_json()["features"][0]["properties"]["length_m"] == pytest.approx(8367, 1)


def test_api_plan_without_places_uses_the_stores_hazards(client, store):
    from shapely.geometry import Point

    from geogrid.hazards import Hazard

    store.add_hazard(
        Hazard("加油站", "fire", Point(120.0, 28.0075), "lec", {"L": 3, "E": 6, "C": 40})
    )
    response = client.post(
        "/api/patrol/plan", json={"start": {"lon": 120.0, "lat": 28.0}, "time_limit_s": 0}
    )
    places = [f for f in response.get_json()["features"] if f["properties"]["kind"] == "place"]
    assert [p["properties"]["name"] for p in places] == ["加油站"]


@pytest.fixture
def store(app):
    from web.state import store as app_store

    with app.app_context():
        return app_store()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"start": {"lon": 121.0, "lat": 28.0}, "places": []}, "from the nearest road"),
        ({"start": {"lon": 120.0}}, "body.start: must be an object with lon and lat"),
        ({"start": {"lon": 120.0, "lat": 28.0}, "mode": "drive"}, "body.mode"),
        ({"start": {"lon": 120.0, "lat": 28.0}, "grids": ["999"]}, "no grid has the code 999"),
        ({"start": {"lon": 120.0, "lat": 28.0}, "places": [{"weight": -1}]}, "weight"),
        ({"start": {"lon": 120.0, "lat": 28.0}, "speed": 3}, "unknown field speed"),
    ],
)
def test_api_plan_names_bad_input(client, body, message):
    response = client.post("/api/patrol/plan", json=body)
    assert response.status_code == 400
    assert message in response.get_json()["error"]["message"]


def test_api_analyses_tracks_and_says_what_is_wrong(client):
    gpx = (DATA / "two_sides.gpx").read_bytes()
    response = client.post("/api/patrol/tracks", data=gpx, content_type="application/gpx+xml")
    assert response.status_code == 200
    (track,) = response.get_json()["tracks"]
    assert track["worker"] == "张三" and track["grids"][0]["code"] == "101"
    bad = client.post("/api/patrol/tracks", data=(DATA / "no_time.gpx").read_bytes())
    assert bad.status_code == 400 and "has no <time>" in bad.get_json()["error"]["message"]
    far = gpx_text([("远", walk_points([(121.0, 28.5), (121.001, 28.5)], "2026-11-23T00:00Z"))])
    response = client.post("/api/patrol/tracks", data=far)
    assert (
        response.status_code == 400 and "passes no grid" in response.get_json()["error"]["message"]
    )


def test_api_routes_are_stored_and_compared_with_tracks(client):
    line = {"type": "LineString", "coordinates": [list(p) for p in AROUND_101]}
    created = client.post(
        "/api/patrol/routes", json={"grid": "101", "shift": "morning", "geometry": line}
    )
    assert created.status_code == 201
    listed = client.get("/api/patrol/routes?grid=101").get_json()
    assert listed["features"][0]["properties"]["shift"] == "morning"
    gpx = gpx_text([("t", walk_points(TWO_SIDES, "2026-11-23T08:00:00+08:00"))])
    response = client.post("/api/patrol/tracks?grid=101", data=gpx)
    assert response.get_json()["tracks"][0]["route_coverage"] == pytest.approx(0.5, abs=0.02)
    unknown = client.post(
        "/api/patrol/routes", json={"grid": "999", "shift": "morning", "geometry": line}
    )
    assert unknown.status_code == 404


def test_api_compliance_table_and_layer(client, tmp_path):
    texts = [Path(p).read_text(encoding="utf-8") for p in day_of_tracks(tmp_path)]
    merged = (
        texts[0].replace("</gpx>", "")
        + "".join(t[t.index("<trk>") : t.index("</gpx>")] for t in texts[1:])
        + "</gpx>"
    )
    response = client.post("/api/patrol/compliance", data=merged.encode())
    assert response.status_code == 200
    data = response.get_json()
    assert data["patrols"] == 3 and "101" not in data["never_visited"]
    layer = client.post("/api/patrol/compliance?format=geojson&required=4", data=merged.encode())
    colours = {
        f["properties"]["code"]: f["properties"]["status"] for f in layer.get_json()["features"]
    }
    assert colours["101"] == "short" and colours["204"] == "never"


def test_api_stores_tracks_once_and_serves_them_and_their_compliance(client, tmp_path):
    bodies = [Path(p).read_bytes() for p in day_of_tracks(tmp_path)]
    first = client.post(
        "/api/patrol/tracks?store=true", data=bodies[0], headers={"X-Actor": "张三"}
    )
    assert first.status_code == 201 and first.get_json()["tracks"][0]["new"] is True
    again = client.post("/api/patrol/tracks?store=true", data=bodies[0])
    assert again.status_code == 200 and again.get_json()["tracks"][0]["new"] is False
    for body in bodies[1:]:
        assert client.post("/api/patrol/tracks?store=true", data=body).status_code == 201
    day = "since=2026-11-23&until=2026-11-23"
    lines = client.get(f"/api/patrol/tracks?{day}")
    assert lines.mimetype == "application/geo+json"
    features = lines.get_json()["features"]
    assert [f["properties"]["worker"] for f in features] == ["张三", "李四", "王五"]
    assert features[0]["geometry"]["type"] == "LineString"
    assert features[0]["properties"]["length_m"] == pytest.approx(4 * 1030, rel=0.05)  # around 101
    table = client.get(f"/api/patrol/compliance?{day}").get_json()
    assert table["patrols"] == 3 and "101" not in table["never_visited"]
    layer = client.get(f"/api/patrol/compliance?{day}&format=geojson&required=4").get_json()
    statuses = {f["properties"]["code"]: f["properties"]["status"] for f in layer["features"]}
    assert statuses["101"] == "short" and statuses["204"] == "never"
    nobody = client.get("/api/patrol/compliance?since=2026-11-30&until=2026-11-30").get_json()
    assert nobody["patrols"] == 0 and len(nobody["never_visited"]) == 8


def test_stored_compliance_counts_whole_days_and_leaves_out_tracks_off_the_grids(
    client, app, tmp_path
):
    for path in day_of_tracks(tmp_path):  # patrols at 08:00, 14:00 and 20:00 China time
        client.post("/api/patrol/tracks?store=true", data=Path(path).read_bytes())
    with app.app_context():  # a track stored before the grids moved: it passes none now
        from geogrid.patrol.gpx import parse_gpx
        from web.state import store

        far = walk_points([(121.0, 28.5), (121.001, 28.5)], "2026-11-23T10:00:00+08:00")
        (stored,) = store().add_tracks(parse_gpx(gpx_text([("远", far)], "赵六")))
    afternoon = "since=2026-11-23T12:00:00%2B08:00&until=2026-11-23T18:00:00%2B08:00"
    table = client.get(f"/api/patrol/compliance?{afternoon}").get_json()
    assert table["patrols"] == 3  # the day's table: the morning and evening patrols count
    assert table["tracks_outside"] == [stored.id]
    lines = client.get("/api/patrol/tracks?since=2026-11-23&until=2026-11-23 09:00").get_json()
    assert [f["properties"]["worker"] for f in lines["features"]] == ["张三"]  # not a whole day


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "'since' and 'until' are required"),
        ("?since=2026-11-01&until=2026-11-30", "at most 7 days"),
        ("?since=2026-11-23&until=2026-11-22", "must be after since"),
        ("?since=yesterday&until=2026-11-23", "'since' must be an ISO 8601 time"),
        # Half-typed years from a date picker: a clear 400, not an overflow at the calendar's ends.
        ("?since=0001-01-01&until=0001-01-01", "since: 0001-01-01 is outside the years 1900"),
        ("?since=2026-11-23&until=9999-12-31", "until: 9999-12-31 is outside the years 1900"),
    ],
)
def test_stored_track_periods_are_checked(client, query, message):
    for path in ("/api/patrol/tracks", "/api/patrol/compliance"):
        response = client.get(path + query)
        assert response.status_code == 400 and message in response.get_json()["error"]["message"]


def test_the_longest_period_of_stored_tracks_is_a_setting(tmp_path, tiny_manifest):
    app = create_app({"TESTING": True, "STORE": f"sqlite:///{tmp_path / 'web.db'}",
                      "MANIFEST": str(tiny_manifest), "TILES": "none",
                      "PATROL_MAX_DAYS": 30})  # fmt: skip
    client = signed_in_as_admin(app).test_client()
    for path in ("/api/patrol/tracks", "/api/patrol/compliance"):
        assert client.get(path + "?since=2026-11-01&until=2026-11-30").status_code == 200
        refused = client.get(path + "?since=2026-11-01&until=2026-12-01")
        assert refused.status_code == 400
        assert "at most 30 days" in refused.get_json()["error"]["message"]


def test_the_openapi_paths_fuzz_without_a_server_error(app):
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    from web.openapi import openapi_document
    from web.patrol_openapi import OPENAPI_PATHS

    document = copy.deepcopy(openapi_document())
    document["paths"] = OPENAPI_PATHS
    schema = schemathesis.openapi.from_dict(document)
    schema.app = app
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case):
            case.call_and_validate(app=app, checks=[schemathesis.checks.not_a_server_error])

        check()


def test_domain_errors_of_the_patrol_api_map_to_400():
    from geogrid.errors import InputError

    assert http_status(InputError("x")) == 400
    assert error_body("InputError", "x")["error"]["message"] == "x"


@pytest.mark.parametrize(
    "period",
    ["since=2026-11-23&until=2026-11-23",  # a day given alone is that whole day
     "since=2026-11-22T20:00:00Z&until=2026-11-23T15:00:00Z"],  # the district's days it touches
)  # fmt: skip
def test_compliance_of_sent_tracks_counts_the_days_the_stored_ones_would(client, tmp_path, period):
    texts = [Path(p).read_text(encoding="utf-8") for p in day_of_tracks(tmp_path)]
    for text in texts:
        client.post("/api/patrol/tracks?store=true", data=text.encode())
    merged = texts[0].replace("</gpx>", "") + "".join(
        t[t.index("<trk>") : t.index("</gpx>")] for t in texts[1:]) + "</gpx>"  # fmt: skip
    sent = client.post(f"/api/patrol/compliance?{period}", data=merged.encode()).get_json()
    stored = client.get(f"/api/patrol/compliance?{period}").get_json()
    assert (
        {r["day"] for r in sent["table"]} == {r["day"] for r in stored["table"]} == {"2026-11-23"}
    )
    assert sent["patrols"] == stored["patrols"] == 3
