"""Vector tiles of grid levels: tile maths, legible zooms, encoding, and both stores' tiles."""

from __future__ import annotations

import math

import geopandas as gpd
import mapbox_vector_tile
import pytest
import shapely
from shapely.geometry import box, shape

from geogrid import Hierarchy
from geogrid.errors import InputError
from geogrid.storage import open_store
from geogrid.tiles import BUFFER, EXTENT, Tile, encode_tile, legible_zoom, min_zooms, tiled_levels
from tests.conftest import RENAMED_MANIFEST, SOUTH, STEP, WEST, tiny_grids, write_tiny_district
from tests.storage.conftest import fresh_postgis, postgis_template  # noqa: F401 (a fixture)


def tile_at(lon: float, lat: float, z: int) -> Tile:
    """The tile of zoom ``z`` holding a point (the usual slippy-map formula)."""
    n = 2**z
    row = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return Tile(z, int((lon + 180) / 360 * n), int(row))


#: A tile of zoom 12 that holds the whole tiny district (0.04° × 0.02° near 120° E, 28° N).
DISTRICT_TILE = tile_at(WEST + 2 * STEP, SOUTH + STEP, 12)


@pytest.mark.parametrize(
    ("z", "x", "y", "problem"),
    [(-1, 0, 0, "zoom must be from 0 to 24"), (25, 0, 0, "zoom must be from 0 to 24"),
     (3, 8, 0, "x must be from 0 to 7 at zoom 3"), (3, 0, -1, "y must be from 0 to 7 at zoom 3"),
     (0, 0, 2**40, "y must be from 0 to 0 at zoom 0")],
)  # fmt: skip
def test_a_tile_that_does_not_exist_is_refused_naming_it(z, x, y, problem):
    with pytest.raises(InputError, match=f"^tile {z}/{x}/{y}: {problem}$"):
        Tile(z, x, y)


def test_tile_bounds_hold_the_point_they_were_found_for_and_neighbours_share_edges():
    tile = tile_at(120.65, 28.01, 15)
    west, south, east, north = tile.bounds
    assert west <= 120.65 < east and south <= 28.01 < north
    right, below = Tile(15, tile.x + 1, tile.y), Tile(15, tile.x, tile.y + 1)
    assert right.bounds[0] == pytest.approx(east) and below.bounds[3] == pytest.approx(south)
    wide = tile.buffered_bounds()
    assert wide[0] < west and wide[1] < south and wide[2] > east and wide[3] > north


def test_a_level_with_more_grids_is_legible_from_a_closer_zoom_and_never_beyond_the_limits():
    bounds = (120.0, 28.0, 120.2, 28.2)
    zooms = [legible_zoom(count, bounds) for count in (1, 100, 10_000, 1_000_000)]
    assert zooms == sorted(zooms) and zooms[0] < zooms[-1]
    assert (
        legible_zoom(10**12, (0, 0, 1e-9, 1e-9)) == 24
        and legible_zoom(1, (-180, -85, 180, 85)) == 0
    )


def test_levels_over_the_threshold_are_tiled_and_chosen_zooms_override_the_default():
    assert tiled_levels({"township": 4, "zone": 5000}, 1000) == ["zone"]
    levels = {"township": (2, (120, 28, 120.04, 28.02)), "zone": (8, (120, 28, 120.04, 28.02))}
    assert min_zooms(levels, {"zone": 17}) == {"township": legible_zoom(2, levels["township"][1]),
                                               "zone": 17}  # fmt: skip
    # A level the generation lacks (a new one may rename its levels) is ignored.
    assert min_zooms(levels, {"grid": 3}) == min_zooms(levels, {})


def decoded(data: bytes, layer: str) -> dict[str, dict]:
    """A tile's features by code: properties and the outline in tile units (y down)."""
    found = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})
    if not found:
        return {}
    assert found[layer]["extent"] == EXTENT
    return {f["properties"]["code"]: {"properties": f["properties"], "shape": shape(f["geometry"])}
            for f in found[layer]["features"]}  # fmt: skip


def test_a_tile_holds_the_grids_under_it_with_their_codes_names_and_parents():
    grids = tiny_grids().rename(columns={"street": "parent"})
    features = decoded(encode_tile(grids, "zone", DISTRICT_TILE), "zone")
    assert set(features) == set(grids["code"])
    assert features["101"]["properties"] == {"code": "101", "name": "第1网格", "parent": "1"}
    # Grids of equal size have equal areas in the tile's units (they are a few hundred wide).
    areas = [f["shape"].area for f in features.values()]
    assert min(areas) > 100 and max(areas) / min(areas) < 1.01


def test_a_tile_clips_grids_at_its_margin_and_leaves_out_grids_away_from_it():
    grids = tiny_grids().rename(columns={"street": "parent"})
    corner = tile_at(WEST + 0.5 * STEP, SOUTH + 0.5 * STEP, 17)  # inside grid 101, near its middle
    features = decoded(encode_tile(grids, "zone", corner), "zone")
    assert set(features) == {"101"}
    assert features["101"]["shape"].bounds == (-BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)


def test_a_grid_smaller_than_a_tile_unit_is_left_out_and_nameless_grids_have_no_name():
    tiny = gpd.GeoDataFrame({"code": ["a", "b"], "name": [None, ""], "parent": [None, None]},
                            geometry=[box(WEST, SOUTH, WEST + 1e-7, SOUTH + 1e-7),
                                      box(WEST, SOUTH, WEST + STEP, SOUTH + STEP)],
                            crs=4326)  # fmt: skip
    features = decoded(encode_tile(tiny, "zone", DISTRICT_TILE), "zone")
    assert list(features) == ["b"] and features["b"]["properties"] == {"code": "b"}


# --- the stores: both give the same features -------------------------------------------------


@pytest.fixture(scope="module")
def both_stores(tmp_path_factory, request):
    """The tiny district under renamed levels, imported into SQLite and PostGIS."""
    folder = tmp_path_factory.mktemp("tiles")
    hierarchy = Hierarchy.from_manifest(write_tiny_district(folder / "d", RENAMED_MANIFEST))
    sqlite = open_store(f"sqlite:///{folder / 'g.db'}")
    with fresh_postgis(request.getfixturevalue("postgis_template")) as url:
        postgis = open_store(url)
        for store in (sqlite, postgis):
            store.import_generation(hierarchy, "tiny", activate=True)
        yield {"sqlite": sqlite, "postgis": postgis}
        postgis.close()


IN_101 = (WEST + 0.5 * STEP, SOUTH + 0.5 * STEP)
#: The world's edge columns (x = 0 and x = 2^z - 1) at low zooms: their margin reaches past
#: ±180°, which a store must not wrap to the other side of the world.
EDGE_TILES = [tile_at(WEST + STEP, SOUTH + STEP, 1), tile_at(WEST + STEP, SOUTH + STEP, 2),
              Tile(1, 0, 0), Tile(2, 0, 1), Tile(3, 7, 3)]  # fmt: skip
TILES = [DISTRICT_TILE, tile_at(WEST + STEP, SOUTH + STEP, 16), tile_at(*IN_101, 18),
         Tile(0, 0, 0), Tile(12, 0, 0), *EDGE_TILES]  # fmt: skip


def test_the_edge_tiles_are_in_the_edge_columns_and_two_hold_the_district():
    assert [t.x == 0 or t.x == 2**t.z - 1 for t in EDGE_TILES] == [True] * len(EDGE_TILES)
    # At zoom 1 the district's grids are under half a unit: both stores leave them out.
    assert EDGE_TILES[:2] == [Tile(1, 1, 0), Tile(2, 3, 1)]


@pytest.mark.parametrize("level", ["township", "zone"])
@pytest.mark.parametrize("tile", TILES, ids=lambda t: f"{t.z}/{t.x}/{t.y}")
def test_both_stores_give_the_same_features_in_a_tile(both_stores, tile, level):
    sqlite, postgis = (decoded(both_stores[b].grid_tile(level, tile), level)
                       for b in ("sqlite", "postgis"))  # fmt: skip
    assert set(sqlite) == set(postgis)
    for code, feature in sqlite.items():
        assert feature["properties"] == postgis[code]["properties"]
        # Both snap to whole units; corners may round one unit apart at most.
        difference = shapely.symmetric_difference(feature["shape"], postgis[code]["shape"]).area
        assert difference <= 2 * feature["shape"].length + 4


def test_both_stores_give_only_the_grids_asked_for(both_stores):
    for store in both_stores.values():
        data = store.grid_tile("zone", DISTRICT_TILE, codes={"101", "204"})
        assert set(decoded(data, "zone")) == {"101", "204"}
        assert store.grid_tile("zone", DISTRICT_TILE, codes=set()) == b""


@pytest.mark.parametrize("backend", ["sqlite", "postgis"])
def test_a_tile_in_the_world_s_edge_column_holds_the_grids_under_it(both_stores, backend):
    # PostGIS once looked for them under its margin wrapped past 180°: 178.6° W to 88.6° E.
    assert decoded(both_stores[backend].grid_tile("zone", EDGE_TILES[1]), "zone")
