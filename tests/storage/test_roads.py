"""A generation carries its road network, on every backend (the store's contract)."""

from __future__ import annotations

import geopandas as gpd
import pytest

from geogrid import Hierarchy
from geogrid.storage import open_store
from tests.conftest import LATTICE, write_tiny_district, write_tiny_district_with_roads


@pytest.fixture
def district_with_roads(tmp_path):
    return write_tiny_district_with_roads(tmp_path / "district")


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


def test_an_unknown_generation_has_no_roads_to_ask_for(store_url):
    from geogrid.storage import NotFoundError

    with pytest.raises(NotFoundError, match="generation 999"):
        open_store(store_url).roads(999)


def test_a_generation_from_the_previous_release_keeps_its_level_and_says_it_has_no_roads():
    from datetime import UTC, datetime

    from geogrid.storage.rows import generation_of_row

    levels = [{"key": k, "label": "", "coverage": "full"} for k in ("街道", "社区", "片区", "楼")]
    row = {"id": 1, "label": "旧", "created_at": datetime(2026, 1, 1, tzinfo=UTC),
           "levels": levels, "grid_count": 9}  # fmt: skip
    old = generation_of_row(row, active=1)
    assert [level.key for level in old.levels if level.default] == ["片区"]  # as it was served
    assert not old.keeps_roads
