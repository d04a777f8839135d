"""Shared fixtures: small hand-made districts written as real files in real formats."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

SAMPLE_MANIFEST = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "sample.toml"

#: A 2 × 1 street district near Wenzhou; each street is cut into 2 × 2 grids of
#: 0.01° (about 980 m × 1110 m). Grid codes: street code + "0" + 1..4, numbered
#: column-major so that "101" is the south-west grid of street "1".
WEST, SOUTH, STEP = 120.0, 28.0, 0.01


def tiny_streets() -> gpd.GeoDataFrame:
    """Two streets side by side: "1" west, "2" east."""
    return gpd.GeoDataFrame(
        {"code": ["1", "2"], "name": ["东街道", "西街道"], "households": [800, 900]},
        geometry=[
            box(WEST, SOUTH, WEST + 2 * STEP, SOUTH + 2 * STEP),
            box(WEST + 2 * STEP, SOUTH, WEST + 4 * STEP, SOUTH + 2 * STEP),
        ],
        crs=4326,
    )


def tiny_grids() -> gpd.GeoDataFrame:
    """Four grids per street, each with its street code in ``street``."""
    rows = []
    for street, x0 in (("1", WEST), ("2", WEST + 2 * STEP)):
        for i in range(2):
            for j in range(2):
                rows.append(
                    {
                        "code": f"{street}0{i * 2 + j + 1}",
                        "name": f"第{i * 2 + j + 1}网格",
                        "street": street,
                        "households": 400,
                        "geometry": box(
                            x0 + STEP * i,
                            SOUTH + STEP * j,
                            x0 + STEP * (i + 1),
                            SOUTH + STEP * (j + 1),
                        ),
                    }
                )
    return gpd.GeoDataFrame(rows, crs=4326)


MANIFEST = """\
name = "小区 Tiny district"
crs = "EPSG:4326"
[[level]]
key = "street"
label = "街道"
path = "streets.geojson"
code = "code"
name = "name"
attributes = ["households"]
[[level]]
key = "grid"
label = "网格"
path = "grids.gpkg#grids"
code = "code"
name = "name"
parent = "street"
attributes = ["households"]
"""

#: The tiny district under other level keys, as another district would name its levels:
#: code must not assume the sample district's ("street", "grid").
RENAMED_MANIFEST = MANIFEST.replace('key = "street"', 'key = "township"').replace(
    'key = "grid"', 'key = "zone"'
)


def write_tiny_district(folder: Path, manifest: str = MANIFEST, grids=None, streets=None) -> Path:
    """Write the tiny district (GeoJSON streets, GeoPackage grids) and its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    (tiny_streets() if streets is None else streets).to_file(folder / "streets.geojson")
    (tiny_grids() if grids is None else grids).to_file(folder / "grids.gpkg", layer="grids")
    path = folder / "district.toml"
    path.write_text(manifest, encoding="utf-8")
    return path


#: The tiny district's manifest with a road layer: the lattice of tests/patrol/data.
MANIFEST_WITH_ROADS = MANIFEST + '[roads]\npath = "roads.geojson"\n'
LATTICE = Path(__file__).resolve().parent / "patrol" / "data" / "lattice.geojson"


def write_tiny_district_with_roads(folder: Path) -> Path:
    """The tiny district and a street lattice as its ``[roads]`` layer."""
    manifest = write_tiny_district(folder, MANIFEST_WITH_ROADS)
    shutil.copy(LATTICE, folder / "roads.geojson")
    return manifest


@pytest.fixture
def tiny_manifest(tmp_path: Path) -> Path:
    """Path of a freshly written tiny district manifest."""
    return write_tiny_district(tmp_path / "district")


@pytest.fixture(scope="session")
def sample_hierarchy():
    """The sample district, loaded once for the whole session."""
    from geogrid import Hierarchy

    return Hierarchy.from_manifest(SAMPLE_MANIFEST)
