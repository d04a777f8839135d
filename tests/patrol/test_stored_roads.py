"""A generation carries its road network: stored on import, read back for planning."""

from __future__ import annotations

import pytest

from geogrid.cli import main
from tests.conftest import write_tiny_district, write_tiny_district_with_roads
from tests.web.conftest import tiny_app


@pytest.fixture
def district_with_roads(tmp_path):
    return write_tiny_district_with_roads(tmp_path / "district")


def test_planning_reads_the_stored_roads_not_the_files(tmp_path, district_with_roads, capsys):
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    assert main(["import", str(district_with_roads), "--activate", "--store", url]) == 0
    (district_with_roads.parent / "roads.geojson").unlink()  # the file is gone; the store has it
    code = main(["patrol", "plan", "--start", "120.0,28.0", "--cover-streets", "--grid", "101",
                 "--store", url])  # fmt: skip
    assert code == 0 and "route:" in capsys.readouterr().out


def test_planning_without_stored_roads_says_what_to_give(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    assert main(["import", str(write_tiny_district(tmp_path / "d")), "--activate",
                 "--store", url]) == 0  # fmt: skip
    code = main(["patrol", "plan", "--start", "120.0,28.0", "--cover-streets", "--store", url])
    assert code == 2 and "give --network FILE" in capsys.readouterr().err


def test_the_map_plans_on_the_active_generations_roads(tmp_path, district_with_roads):
    client = tiny_app(tmp_path, district_with_roads).test_client()
    client.get("/api/levels")  # the store is set up: the district and its roads imported
    (district_with_roads.parent / "roads.geojson").unlink()
    response = client.post("/api/patrol/plan", json={
        "start": {"lon": 120.0, "lat": 28.0}, "mode": "streets", "grids": ["101"]})  # fmt: skip
    assert response.status_code == 200
    assert response.get_json()["features"][0]["properties"]["length_m"] > 0


def test_the_map_without_any_road_network_says_who_can_give_one(tmp_path):
    client = tiny_app(tmp_path, write_tiny_district(tmp_path / "plain")).test_client()
    response = client.post("/api/patrol/plan", json={
        "start": {"lon": 120.0, "lat": 28.0}, "mode": "streets", "grids": ["101"]})  # fmt: skip
    message = response.get_json()["error"]["message"]
    assert response.status_code == 422 and "GEOGRID_PATROL_NETWORK" in message
    assert str(tmp_path) not in message  # no server path in an anonymous reply
