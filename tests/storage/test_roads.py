"""A generation carries its road network, on every backend (the store's contract)."""

from __future__ import annotations

import shutil

import geopandas as gpd
import pytest

from geogrid import Hierarchy
from geogrid.storage import open_store
from tests.conftest import MANIFEST, write_tiny_district
from tests.patrol import DATA

LATTICE = DATA / "lattice.geojson"
WITH_ROADS = MANIFEST + '[roads]\npath = "roads.geojson"\n'


@pytest.fixture
def district_with_roads(tmp_path):
    folder = tmp_path / "district"
    manifest = write_tiny_district(folder, WITH_ROADS)
    shutil.copy(LATTICE, folder / "roads.geojson")
    return manifest


def test_import_stores_the_roads_and_they_come_back_the_same(store_url, district_with_roads):
    store = open_store(store_url)
    store.import_generation(Hierarchy.from_manifest(district_with_roads), "道路", activate=True)
    stored, original = store.roads(), gpd.read_file(LATTICE)
    assert len(stored) == len(original)
    assert stored.geometry.geom_equals_exact(original.geometry, tolerance=0).all()
    assert stored["name"].tolist() == original["name"].tolist()
    assert stored["class"].tolist() == original["class"].tolist()


def test_a_generation_without_roads_has_none(store_url, tmp_path, district_with_roads):
    store = open_store(store_url)
    first = store.import_generation(Hierarchy.from_manifest(district_with_roads), "有路")
    plain = write_tiny_district(tmp_path / "plain")
    second = store.import_generation(Hierarchy.from_manifest(plain), "无路", activate=True)
    assert store.roads() is None and store.roads(second.id) is None
    assert len(store.roads(first.id)) == len(gpd.read_file(LATTICE))
