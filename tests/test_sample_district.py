"""The committed sample district in data/boundaries/ and the script that makes it."""

from __future__ import annotations

import itertools
import subprocess
import sys
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

ROOT = Path(__file__).resolve().parents[1]
BOUNDARIES = ROOT / "data" / "boundaries"
SCRIPT = ROOT / "scripts" / "make_sample_district.py"
LEVEL_KEYS = ["street", "community", "grid", "microgrid", "building"]
CODE_LENGTHS = {"street": 9, "community": 12, "grid": 15, "microgrid": 18, "building": 23}
COUNTS = {
    "street": (3, 3),
    "community": (30, 45),
    "grid": (190, 230),
    "microgrid": (1800, 2100),
    "building": (3000, 9999),
}
TOLERANCE_DEG2 = 1e-12


def read_manifest(directory: Path) -> dict:
    return tomllib.loads((directory / "sample.toml").read_text(encoding="utf-8"))


def read_layer(directory: Path, path: str) -> gpd.GeoDataFrame:
    """Read ``file`` or ``file#layer`` as the manifest names it."""
    filename, _, layer = path.partition("#")
    return gpd.read_file(directory / filename, layer=layer or None)


def read_levels(directory: Path) -> dict[str, gpd.GeoDataFrame]:
    return {
        level["key"]: read_layer(directory, level["path"])
        for level in read_manifest(directory)["level"]
    }


@pytest.fixture(scope="module")
def manifest() -> dict:
    return read_manifest(BOUNDARIES)


@pytest.fixture(scope="module")
def levels() -> dict[str, gpd.GeoDataFrame]:
    return read_levels(BOUNDARIES)


@pytest.fixture(scope="module")
def roads(manifest: dict) -> gpd.GeoDataFrame:
    return read_layer(BOUNDARIES, manifest["roads"]["path"])


def parent_pairs(manifest: dict):
    """(parent level, child level, column of the child holding the parent's code)."""
    entries = manifest["level"]
    return [(up["key"], down["key"], down["parent"]) for up, down in itertools.pairwise(entries)]


def test_manifest_lists_five_levels_coarse_to_fine(manifest):
    assert manifest["crs"] == "EPSG:4326"
    assert [level["key"] for level in manifest["level"]] == LEVEL_KEYS
    assert [level["label"] for level in manifest["level"]] == [
        "街道",
        "社区",
        "网格",
        "微网格",
        "楼栋",
    ]
    assert "parent" not in manifest["level"][0]
    assert manifest["level"][-1]["coverage"] == "partial"
    assert all(level["attributes"] == ["households", "population"] for level in manifest["level"])


def test_every_layer_is_lon_lat(levels, roads):
    for frame in [*levels.values(), roads]:
        assert frame.crs.to_epsg() == 4326
        assert frame.geometry.is_valid.all()


@pytest.mark.parametrize("key", LEVEL_KEYS)
def test_level_has_the_expected_number_of_units(levels, key):
    low, high = COUNTS[key]
    assert low <= len(levels[key]) <= high


@pytest.mark.parametrize("key", LEVEL_KEYS)
def test_codes_are_unique_and_of_the_level_length(levels, key):
    codes = levels[key]["code"]
    assert codes.is_unique
    assert (codes.str.len() == CODE_LENGTHS[key]).all()
    assert codes.str.fullmatch(r"330399\d+").all()


def test_child_codes_extend_their_parent_code(levels, manifest):
    for parent_key, child_key, column in parent_pairs(manifest):
        parent_codes, children = set(levels[parent_key]["code"]), levels[child_key]
        assert set(children[column]) == parent_codes  # every parent has children
        prefixes = children["code"].str[: CODE_LENGTHS[parent_key]]
        assert (prefixes == children[column]).all()


def test_building_numbers_run_from_00001(levels):
    numbers = levels["building"]["code"].str[-5:].astype(int)
    first = numbers.groupby(levels["building"]["parent"]).min()
    assert (first == 1).all()


@pytest.mark.parametrize("key", ["street", "community", "grid", "microgrid"])
def test_area_units_have_distinct_chinese_names(levels, key):
    names = levels[key]["name"]
    assert names.is_unique
    assert names.str.contains(r"[\u4e00-\u9fff]").all()


def test_grids_hold_300_to_500_households(levels):
    assert levels["grid"]["households"].between(300, 500).all()
    assert (levels["building"]["households"] >= 4).all()


def test_every_level_carries_households_and_population(levels):
    for frame in levels.values():
        assert (frame["households"] > 0).all()
        ratio = frame["population"] / frame["households"]
        assert ratio.between(2.3, 3.0).all()


@pytest.mark.parametrize("column", ["households", "population"])
def test_totals_add_up_level_by_level(levels, manifest, column):
    for parent_key, child_key, parent_column in parent_pairs(manifest):
        sums = levels[child_key].groupby(parent_column)[column].sum()
        parents = levels[parent_key].set_index("code")[column]
        pd.testing.assert_series_equal(
            sums.sort_index(), parents.sort_index(), check_names=False, check_dtype=False
        )


def test_children_tile_their_parent_exactly(levels, manifest):
    for parent_key, child_key, column in parent_pairs(manifest)[:-1]:  # buildings are partial
        unions = levels[child_key].dissolve(by=column).geometry.sort_index()
        parents = levels[parent_key].set_index("code").geometry.sort_index()
        assert (unions.index == parents.index).all()
        leftover = shapely.symmetric_difference(unions.values, parents.values)
        assert shapely.area(leftover).max() < TOLERANCE_DEG2, (parent_key, child_key)


def test_the_district_has_no_holes(levels):
    district = shapely.union_all(levels["street"].geometry.values)
    assert district.geom_type == "Polygon"
    assert len(district.interiors) == 0


@pytest.mark.parametrize("key", LEVEL_KEYS)
def test_units_of_a_level_do_not_overlap(levels, key):
    geometries = levels[key].geometry.values
    left, right = levels[key].sindex.query(geometries, predicate="intersects")
    pairs = left < right
    overlaps = shapely.intersection(geometries[left[pairs]], geometries[right[pairs]])
    assert shapely.area(overlaps).max(initial=0.0) < TOLERANCE_DEG2


def test_buildings_lie_strictly_inside_their_microgrid(levels):
    buildings = levels["building"]
    microgrids = levels["microgrid"].set_index("code").geometry
    homes = microgrids.loc[buildings["parent"]].values
    assert shapely.contains_properly(homes, buildings.geometry.values).all()


def test_roads_have_four_classes_and_named_main_roads(roads):
    assert set(roads["class"]) == {"arterial", "secondary", "branch", "lane"}
    main = roads["class"].isin(["arterial", "secondary"])
    assert roads.loc[main, "name"].notna().all()
    assert (roads["length_m"] > 0).all()
    assert (roads.geometry.geom_type == "LineString").all()


def test_arterial_roads_run_along_every_street_boundary(levels, roads):
    arterials = shapely.union_all(roads.loc[roads["class"] == "arterial"].geometry.values)
    assert shapely.covers(arterials, levels["street"].geometry.boundary.values).all()


def test_roads_form_a_graph_that_meets_only_at_node_ids(roads):
    coords, owner = shapely.get_coordinates(roads.geometry.values, return_index=True)
    first = np.r_[True, owner[1:] != owner[:-1]]
    last = np.r_[owner[1:] != owner[:-1], True]
    ends = {tuple(xy) for xy in coords[first | last]}
    inner = [tuple(xy) for xy in coords[~(first | last)]]
    assert len(set(inner)) == len(inner)  # no crossing inside two roads
    assert ends.isdisjoint(inner)  # no road ends in the middle of another
    nodes = pd.DataFrame(
        {"node": np.r_[roads["node_from"], roads["node_to"]],
         "xy": [tuple(xy) for xy in np.r_[coords[first], coords[last]]]}
    )  # fmt: skip
    assert nodes.drop_duplicates().groupby("node").size().max() == 1
    assert nodes.drop_duplicates().groupby("xy").size().max() == 1


def test_streets_are_numbered_north_to_south_then_west_to_east(levels):
    streets = levels["street"].set_index("code").loc[["330399001", "330399002", "330399003"]]
    north, south_west, south_east = shapely.centroid(streets.geometry.values)
    assert north.y > max(south_west.y, south_east.y)
    assert south_west.x < south_east.x


def test_script_regenerates_the_committed_files(tmp_path):
    subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)], check=True, capture_output=True
    )
    assert (tmp_path / "sample.toml").read_text(encoding="utf-8") == (
        BOUNDARIES / "sample.toml"
    ).read_text(encoding="utf-8")
    manifest = read_manifest(tmp_path)
    paths = [level["path"] for level in manifest["level"]] + [manifest["roads"]["path"]]
    for path in paths:
        fresh, committed = read_layer(tmp_path, path), read_layer(BOUNDARIES, path)
        pd.testing.assert_frame_equal(
            pd.DataFrame(fresh.drop(columns="geometry")),
            pd.DataFrame(committed.drop(columns="geometry")),
        )
        assert (fresh.geometry.to_wkb() == committed.geometry.to_wkb()).all(), path
