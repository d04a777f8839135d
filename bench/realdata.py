"""A real, irregular hierarchy to measure on, fetched from the npm registry, never committed.

The sample district is a warped lattice: every grid a quadrilateral of lattice
cells. Real boundaries follow rivers and roads, with thousands of vertices per
polygon and slivers between neighbours. us-atlas (npm, ISC licence: the U.S.
Census Bureau's cartographic boundaries as TopoJSON) gives 49 contiguous states
and D.C. → 3,107 counties whose shared edges are shared arcs, so counties
tile their state exactly: a two-level hierarchy of real shapes.

    >>> from bench.realdata import us_counties_manifest   # doctest: +SKIP
    >>> us_counties_manifest()                             # doctest: +SKIP
    PosixPath('/root/.cache/geogrid/us-atlas/us.toml')

The first call runs ``npm pack us-atlas@3`` (about 600 KB) and writes a
GeoPackage and a manifest into the cache; later calls return the manifest.
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

DEFAULT_CACHE = Path.home() / ".cache" / "geogrid"
US_ATLAS = "us-atlas@3.0.1"
#: FIPS codes of the 48 contiguous states and the District of Columbia.
CONTIGUOUS = frozenset(f"{n:02d}" for n in range(1, 57)) - {
    "02",
    "03",
    "07",
    "14",
    "15",
    "43",
    "52",
}

MANIFEST = """\
# A real irregular hierarchy for benchmarks: us-atlas 3.0.1 (U.S. Census Bureau, 1:10m).
name = "us-atlas counties"
crs = "EPSG:4326"
default_level = "county"

[[level]]
key = "state"
label = "state"
path = "us.gpkg#states"
code = "code"
name = "name"

[[level]]
key = "county"
label = "county"
path = "us.gpkg#counties"
code = "code"
name = "name"
parent = "state_code"
"""


def us_counties_manifest(cache: Path = DEFAULT_CACHE) -> Path:
    """The manifest of us-atlas's states → counties, made once in ``cache/us-atlas``."""
    folder = cache / "us-atlas"
    manifest = folder / "us.toml"
    if manifest.exists():
        return manifest
    folder.mkdir(parents=True, exist_ok=True)
    topojson = _fetch_topojson(folder)
    states, counties = _levels(topojson)
    target = folder / "us.gpkg"
    target.unlink(missing_ok=True)
    states.to_file(target, layer="states", driver="GPKG")
    counties.to_file(target, layer="counties", driver="GPKG")
    manifest.write_text(MANIFEST, encoding="utf-8")
    return manifest


def _fetch_topojson(folder: Path) -> Path:
    """counties-10m.json of us-atlas, from the npm registry (``npm pack``)."""
    target = folder / "counties-10m.json"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(["npm", "pack", US_ATLAS, "--silent"], cwd=work, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        (packed,) = Path(work).glob("us-atlas-*.tgz")
        with tarfile.open(packed) as archive:
            member = archive.extractfile("package/counties-10m.json")
            target.write_bytes(member.read())
    return target


def _levels(topojson: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The contiguous states' counties, made disjoint, and the states as their union.

    A province is a few degrees across, so Alaska (which crosses the antimeridian),
    Hawaii and the territories are left out: 49 states and D.C., 3,107 counties.
    0.7 % of the decoded TopoJSON rings touch themselves; ``make_valid`` repairs
    them, and the few overlaps that leaves go to the lower code (the house's rule
    for a shared edge), so the counties pass the topology check as the Census
    drew them, and each state is exactly the union of its counties.
    """
    counties = gpd.read_file(topojson, layer="counties").rename(columns={"id": "code"})
    counties["state_code"] = counties["code"].str[:2]
    # Falls Church (51610) is too small for 1:10m: its polygon is empty.
    counties = counties[counties["state_code"].isin(CONTIGUOUS) & ~counties.is_empty]
    counties = (
        counties.sort_values("code").reset_index(drop=True).set_crs(4326, allow_override=True)
    )
    counties["geometry"] = _disjoint(_polygonal(shapely.make_valid(counties.geometry.values)))
    names = gpd.read_file(topojson, layer="states").set_index("id")["name"]
    states = counties.dissolve("state_code").reset_index()[["state_code", "geometry"]]
    states = states.rename(columns={"state_code": "code"})
    states["name"] = states["code"].map(names)
    return states, counties


def _disjoint(polygons: np.ndarray) -> np.ndarray:
    """Each polygon less the ones before it (sorted by code) that overlap it."""
    tree = shapely.STRtree(polygons)
    out = polygons.copy()
    for later, earlier in zip(*tree.query(polygons, predicate="overlaps"), strict=True):
        if earlier < later:
            out[later] = shapely.difference(out[later], polygons[earlier])
    return _polygonal(out)


def _polygonal(geometries: np.ndarray) -> np.ndarray:
    """Only the polygons of each repaired shape (make_valid may add stray lines)."""
    parts = []
    for shape in geometries:
        polygons = _flat_polygons(shape)
        parts.append(shapely.multipolygons(polygons) if len(polygons) > 1 else polygons[0])
    return np.array(parts, dtype=object)


def _flat_polygons(shape) -> list:
    """The polygons inside ``shape``, however deeply its collections nest them."""
    if shape.geom_type == "Polygon":
        return [] if shape.is_empty else [shape]
    if shape.geom_type not in ("MultiPolygon", "GeometryCollection"):
        return []  # the stray lines and points of a repair
    return [p for part in shapely.get_parts(shape) for p in _flat_polygons(part)]


def random_points_in(bounds, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform (lon, lat) points in ``bounds`` (minx, miny, maxx, maxy), reproducible."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = bounds
    return rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)


if __name__ == "__main__":
    print(us_counties_manifest())
