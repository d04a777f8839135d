"""Loading a hierarchy from a manifest: formats, CRS handling and every bad input."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Point

from geogrid import Hierarchy
from geogrid.crs import from_wgs84
from geogrid.errors import CRSError, LayerError, ManifestError
from geogrid.storage import open_store
from tests.conftest import (
    MANIFEST,
    RENAMED_MANIFEST,
    SOUTH,
    WEST,
    tiny_grids,
    tiny_streets,
    write_tiny_district,
)


def test_levels_grids_and_attributes(tiny_manifest):
    h = Hierarchy.from_manifest(tiny_manifest)
    assert h.levels == ["street", "grid"]
    grids = h.grids("grid")
    assert list(grids.columns) == ["code", "name", "parent", "households", "geometry"]
    assert grids.crs.to_epsg() == 4326
    assert sorted(grids["parent"].unique()) == ["1", "2"]
    assert h.name == "小区 Tiny district"


def test_default_level_is_the_manifests_else_the_finest_full_level(tmp_path):
    unnamed = Hierarchy.from_manifest(write_tiny_district(tmp_path / "a", RENAMED_MANIFEST))
    assert unnamed.default_level == "zone"
    manifest = 'default_level = "township"\n' + RENAMED_MANIFEST
    named = Hierarchy.from_manifest(write_tiny_district(tmp_path / "b", manifest))
    assert named.default_level == "township"
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    store.import_generation(named, "named", activate=True)
    assert store.hierarchy().default_level == "township"  # kept with the generation


def test_parent_found_spatially_when_no_parent_column(tmp_path):
    path = write_tiny_district(tmp_path, MANIFEST.replace('parent = "street"\n', ""))
    grids = Hierarchy.from_manifest(path).grids("grid").set_index("code")
    assert grids.loc["101", "parent"] == "1" and grids.loc["204", "parent"] == "2"


def test_numeric_code_columns_become_text(tmp_path):
    grids = tiny_grids().assign(code=lambda f: f["code"].astype(int))
    h = Hierarchy.from_manifest(write_tiny_district(tmp_path, grids=grids))
    assert h.grids("grid")["code"].tolist()[:2] == ["101", "102"]


def test_gcj02_layer_is_converted_to_wgs84(tmp_path):
    import shapely

    from geogrid.crs import wgs84_to_gcj02

    shifted = tiny_grids()
    shifted["geometry"] = shapely.transform(
        shifted.geometry.values, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))
    )
    manifest = MANIFEST.replace('parent = "street"\n', 'parent = "street"\ncrs = "GCJ-02"\n')
    h = Hierarchy.from_manifest(write_tiny_district(tmp_path, manifest, grids=shifted))
    back = h.grids("grid").geometry.iloc[0]
    assert back.equals_exact(tiny_grids().geometry.iloc[0], tolerance=1e-8)


def test_projected_shapefile_with_prj_is_reprojected(tmp_path):
    folder = tmp_path / "d"
    write_tiny_district(folder)
    tiny_grids().to_crs(4549).to_file(folder / "grids.shp")
    manifest = MANIFEST.replace("grids.gpkg#grids", "grids.shp")
    (folder / "district.toml").write_text(manifest, encoding="utf-8")
    grids = Hierarchy.from_manifest(folder / "district.toml").grids("grid")
    assert grids.crs.to_epsg() == 4326
    assert np.allclose(grids.total_bounds, tiny_grids().total_bounds, atol=1e-7)


def test_zipped_shapefile(tmp_path):
    folder = tmp_path / "d"
    write_tiny_district(folder)
    tiny_grids().to_file(folder / "grids.shp", encoding="utf-8")
    with zipfile.ZipFile(folder / "grids.zip", "w") as archive:
        for part in folder.glob("grids.*"):
            if part.suffix in {".shp", ".shx", ".dbf", ".prj", ".cpg"}:
                archive.write(part, part.name)
    (folder / "district.toml").write_text(MANIFEST.replace("grids.gpkg#grids", "grids.zip"))
    grids = Hierarchy.from_manifest(folder / "district.toml").grids("grid")
    assert len(grids) == 8 and grids["name"].iloc[0] == "第1网格"


def test_manifest_crs_applies_to_unlabelled_projected_geojson(tmp_path):
    # GeoJSON cannot say it is in a Gauss-Krüger zone; the manifest can.
    folder = tmp_path / "d"
    write_tiny_district(folder)
    x, _ = from_wgs84(np.array([WEST]), np.array([SOUTH]), "EPSG:4549")
    assert x[0] > 1000  # really projected numbers
    manifest = MANIFEST.replace('crs = "EPSG:4326"', 'crs = "EPSG:4549"')
    streets = tiny_streets().to_crs(4549).set_crs(4326, allow_override=True)
    streets.to_file(folder / "streets.geojson")
    tiny_grids().to_crs(4549).to_file(folder / "grids.gpkg", layer="grids")
    (folder / "district.toml").write_text(manifest, encoding="utf-8")
    h = Hierarchy.from_manifest(folder / "district.toml")
    assert np.allclose(h.grids("street").total_bounds, tiny_streets().total_bounds, atol=1e-7)


# --- bad input: one clear message naming file, level and field ---------------------------


def write_manifest(tmp_path: Path, text: str) -> Path:
    path = write_tiny_district(tmp_path / "d")
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("name = [", "not valid TOML"),
        ('name = "x"', "needs at least one"),
        (MANIFEST.replace('key = "grid"', 'key = "Grid level"'), "lower-case"),
        (
            MANIFEST.replace('code = "code"\nname = "name"\nparent', 'name = "name"\nparent'),
            "level 'grid': missing required key 'code'",
        ),
        (
            MANIFEST.replace('parent = "street"', 'parnet = "street"'),
            "level 'grid': unknown key 'parnet'",
        ),
        (MANIFEST.replace('key = "grid"', 'key = "street"'), "street is used more than once"),
        (MANIFEST + 'coverage = "most"\n', "'coverage' must be"),
        (
            MANIFEST.replace('attributes = ["households"]', 'attributes = "households"'),
            "'attributes' must be a list",
        ),
        (MANIFEST + "[roads]\ncrs = 'GCJ-02'\n", "[roads]: needs a 'path'"),
        (
            'default_level = "grids"\n' + MANIFEST,
            "'default_level' must be one of the level keys street, grid, got 'grids'",
        ),
    ],
)
def test_malformed_manifest(tmp_path, text, message):
    with pytest.raises(ManifestError, match=None) as error:
        Hierarchy.from_manifest(write_manifest(tmp_path, text))
    assert message in str(error.value) and "district.toml" in str(error.value)


def test_missing_manifest(tmp_path):
    with pytest.raises(ManifestError, match="manifest not found"):
        Hierarchy.from_manifest(tmp_path / "nope.toml")


def test_missing_layer_file(tmp_path):
    path = write_manifest(tmp_path, MANIFEST.replace("streets.geojson", "streetz.geojson"))
    with pytest.raises(LayerError, match=r"level 'street' \(.*streetz.geojson\): file not found"):
        Hierarchy.from_manifest(path)


def test_missing_geopackage_layer(tmp_path):
    path = write_manifest(tmp_path, MANIFEST.replace("grids.gpkg#grids", "grids.gpkg#cells"))
    with pytest.raises(LayerError, match=r"level 'grid' \(.*grids.gpkg#cells\): cannot read"):
        Hierarchy.from_manifest(path)


def test_unknown_crs(tmp_path):
    path = write_manifest(tmp_path, MANIFEST.replace('crs = "EPSG:4326"', 'crs = "EPSG:999999"'))
    with pytest.raises(CRSError, match=r"level 'street' .*EPSG:999999"):
        Hierarchy.from_manifest(path)


def test_code_column_that_does_not_exist(tmp_path):
    path = write_manifest(tmp_path, MANIFEST.replace('parent = "street"', 'parent = "jiedao"'))
    with pytest.raises(LayerError) as error:
        Hierarchy.from_manifest(path)
    message = str(error.value)
    assert "level 'grid'" in message and "grids.gpkg#grids" in message
    assert "column 'jiedao' (manifest key 'parent') does not exist" in message
    assert "code, name, street, households" in message


def test_duplicate_codes_are_reported_and_refused_for_assignment(tmp_path):
    grids = tiny_grids()
    grids.loc[1, "code"] = "101"
    h = Hierarchy.from_manifest(write_tiny_district(tmp_path, grids=grids))
    report = h.validate()
    assert [i.kind for i in report.errors].count("duplicate_code") == 1
    with pytest.raises(LayerError, match=r"level 'grid'.*duplicate codes: 101 \(2 rows\)"):
        h.assign([WEST], [SOUTH])


def test_non_polygon_geometries(tmp_path):
    grids = tiny_grids()
    grids.loc[2, "geometry"] = LineString([(WEST, SOUTH), (WEST + 0.01, SOUTH)])
    grids.loc[3, "geometry"] = Point(WEST, SOUTH)
    with pytest.raises(
        LayerError,
        match=r"level 'grid'.*must hold polygons; rows 2, 3 are "
        r"LineString, Point",
    ):
        Hierarchy.from_manifest(write_tiny_district(tmp_path, grids=grids))


def test_empty_layer(tmp_path):
    empty = gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs=4326)
    path = write_tiny_district(tmp_path, streets=empty)
    with pytest.raises(LayerError, match=r"level 'street' \(.*streets.geojson\).*is empty"):
        Hierarchy.from_manifest(path)


def test_blank_codes(tmp_path):
    grids = tiny_grids()
    grids.loc[4, "code"] = None
    with pytest.raises(LayerError, match=r"level 'grid'.*column 'code' is empty in rows 4"):
        Hierarchy.from_manifest(write_tiny_district(tmp_path, grids=grids))


def test_lonlat_check_catches_a_wrong_crs(tmp_path):
    folder = tmp_path / "d"
    write_tiny_district(folder)
    streets = tiny_streets().to_crs(4549).set_crs(4326, allow_override=True)
    streets.to_file(folder / "streets.geojson")
    with pytest.raises(LayerError, match=r"not longitude/latitude.*set 'crs'"):
        Hierarchy.from_manifest(folder / "district.toml")


def test_unreadable_layer_file(tmp_path):
    folder = tmp_path / "d"
    write_tiny_district(folder)
    (folder / "streets.geojson").write_text("{not json", encoding="utf-8")
    with pytest.raises(LayerError, match=r"level 'street'.*cannot read"):
        Hierarchy.from_manifest(folder / "district.toml")
