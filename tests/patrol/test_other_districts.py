"""Patrol commands and routes on a district whose levels are not named like the sample's.

The tiny district is written as files with the level keys "township" and "zone"
(``RENAMED_MANIFEST``): no level is called "grid", so nothing may assume one is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString

from geogrid import Hierarchy
from geogrid.cli import main
from geogrid.reports import NewReport
from geogrid.storage import open_store
from tests.conftest import RENAMED_MANIFEST, SOUTH, WEST, write_tiny_district
from tests.patrol import DATA
from tests.web.conftest import tiny_app

LATTICE = str(DATA / "lattice.geojson")
#: Two open reports in zone 101, one in zone 204.
REPORTS = [
    NewReport("dispute.neighbour", WEST + 0.005, SOUTH + 0.005, external_id="a"),
    NewReport("fire.lane", WEST + 0.006, SOUTH + 0.004, external_id="b"),
    NewReport("city.rubbish", WEST + 0.035, SOUTH + 0.015, external_id="c"),
]


@pytest.fixture
def manifest(tmp_path):
    return write_tiny_district(tmp_path / "district", RENAMED_MANIFEST)


@pytest.fixture
def store_url(tmp_path, manifest, monkeypatch):
    url = f"sqlite:///{tmp_path / 'patrol.db'}"
    store = open_store(url)
    store.import_generation(Hierarchy.from_manifest(manifest), "renamed", activate=True)
    store.add_reports(REPORTS)
    monkeypatch.setenv("GEOGRID_STORE", url)
    return url


def patrol(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["patrol", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def plan(capsys, *argv: str) -> tuple[int, str, str]:
    start = ["--start", "120.0,28.0", "--network", LATTICE, "--time-limit", "0"]
    return patrol(capsys, "plan", *start, *argv)


def test_plan_visits_the_busiest_grids_of_the_planned_grids_level(store_url, capsys):
    code, printed, err = plan(capsys, "--grid", "101")
    assert code == 0, err
    assert "1. 101 (weight 8)" in printed
    code, printed, err = plan(capsys, "--grid", "1")
    assert code == 0, err
    assert "1. 1 (weight 8)" in printed  # township 1 holds two open reports
    code, printed, err = plan(capsys, "--grid", "1", "--level", "zone")
    assert code == 0, err
    assert "1. 101 (weight 8)" in printed and "204" not in printed  # only zones inside 1
    code, _, err = plan(capsys, "--grid", "1", "--level", "grid")
    assert code == 2 and "--level: 'grid' is not one of township, zone" in err


def test_plan_of_the_whole_district_uses_its_default_level(store_url, capsys):
    code, printed, err = plan(capsys)
    assert code == 0, err
    assert "101 (weight 8)" in printed and "204" in printed  # zones, the finest full level


def test_import_and_compliance_count_the_districts_default_level(store_url, capsys):
    code, printed, err = patrol(capsys, "import", str(DATA / "two_sides.gpx"))
    assert code == 0, err
    assert "101: 26.6 min, 2,010 m" in printed
    code, printed, err = patrol(capsys, "compliance", "--since", "2026-11-23", "--until",
                                "2026-11-23")  # fmt: skip
    assert code == 0, err
    assert "1 tracks, 1 patrols, 1 days, 8 grids" in printed


def test_import_names_the_level_asked_for(store_url, capsys):
    code, printed, err = patrol(capsys, "import", str(DATA / "two_sides.gpx"), "--level",
                                "township", "--dry-run")  # fmt: skip
    assert code == 0, err
    assert "  township 1: 26.6 min, 2,010 m\n" in printed
    code, printed, err = patrol(capsys, "import", str(DATA / "two_sides.gpx"))
    assert code == 0, err
    assert "  zone 101: 26.6 min, 2,010 m\n" in printed  # the default level


def test_import_summary_follows_the_listing_in_one_log(store_url, tmp_path):
    # More than a block (8 KiB) of listing: Python writes stdout to a pipe in blocks.
    track = (DATA / "two_sides.gpx").read_text(encoding="utf-8")
    files = []
    for n in range(80):
        files.append(tmp_path / f"worker{n}.gpx")
        files[-1].write_text(track.replace("张三", f"w{n}"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    command = [sys.executable, "-m", "geogrid.cli", "patrol", "import", *map(str, files)]
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, timeout=300, check=False)  # fmt: skip
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout[-2000:]
    assert lines[-1] == "stored 80 new tracks (0 stored before)"
    assert len(lines) == 161 and all("stored" not in line for line in lines[:-1])


def test_plan_starts_west_of_greenwich(store_url, tmp_path, capsys):
    west, south, step = -0.19, 51.5, 0.002
    square = [(west, south), (west + step, south), (west + step, south + step),
              (west, south + step), (west, south)]  # fmt: skip
    roads = gpd.GeoDataFrame(geometry=[LineString(square)], crs=4326)
    roads.to_file(tmp_path / "london.geojson")
    places = tmp_path / "places.csv"
    places.write_text(f"name,weight,lon,lat\n桥,2,{west + step},{south + step}\n")
    code, printed, err = patrol(capsys, "plan", "--start", f"{west},{south}", "--places",
                                str(places), "--network", str(tmp_path / "london.geojson"),
                                "--time-limit", "0")  # fmt: skip
    assert code == 0, err
    assert "1. 桥 (weight 2)" in printed


# --- web ---------------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path, manifest):
    app = tiny_app(tmp_path, manifest, PATROL_NETWORK=LATTICE)
    with app.app_context():
        from web.state import store

        store().add_reports(REPORTS)
    return app.test_client()


def test_api_plans_tracks_and_compliance_without_a_level(client, tmp_path):
    start = {"start": {"lon": 120.0, "lat": 28.0}, "time_limit_s": 0}
    response = client.post("/api/patrol/plan", json=start)
    assert response.status_code == 200, response.get_json()
    places = [f["properties"]["name"] for f in response.get_json()["features"]
              if f["properties"]["kind"] == "place"]  # fmt: skip
    assert "101" in places
    in_101 = client.post("/api/patrol/plan", json={**start, "grids": ["101"]}).get_json()
    assert [f["properties"]["name"] for f in in_101["features"][2:]] == ["101"]
    gpx = (DATA / "two_sides.gpx").read_bytes()
    tracks = client.post("/api/patrol/tracks?store=true", data=gpx)
    assert tracks.status_code == 201 and tracks.get_json()["tracks"][0]["grids"][0]["code"] == "101"
    table = client.get("/api/patrol/compliance?since=2026-11-23&until=2026-11-23").get_json()
    assert table["patrols"] == 1 and len(table["never_visited"]) == 7
