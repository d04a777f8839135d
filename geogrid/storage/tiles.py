"""A grid level's vector tile from each backend: ``ST_AsMVT`` on PostGIS, Python on SQLite.

PostGIS makes the tile where the grids are (the GiST index finds the grids
under the tile, ``ST_AsMVTGeom`` clips and snaps them, ``ST_AsMVT`` encodes).
The embedded store keeps no spatial index on disk, but the store holds each
generation's grids in memory with their R-tree, ready to assign: the grids
under the tile come from there and :func:`geogrid.tiles.encode_tile` encodes
them. Both give the same features (the contract test compares them).
"""

from __future__ import annotations

import weakref
from collections.abc import Collection

import geopandas as gpd
import shapely

from geogrid.errors import NotFoundError
from geogrid.hierarchy import Hierarchy
from geogrid.storage.dialect import Dialect
from geogrid.storage.sqlite import SqliteDialect
from geogrid.tiles import BUFFER, EXTENT, Tile, encode_tile

#: One level's grids under one tile, clipped and snapped, then encoded; the layer is named
#: by the level. The GiST index finds them by the tile and its margin in degrees, clamped to
#: ±180° (Tile.buffered_bounds): ST_TileEnvelope's margin reaches past the antimeridian in the
#: world's edge columns, and ST_Transform would wrap it into a box over the wrong longitudes.
POSTGIS_TILE = f"""
WITH grids_here AS (
    SELECT ST_AsMVTGeom(ST_Transform(geometry, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s),
                        {EXTENT}, {BUFFER}, true) AS geom,
           code, NULLIF(name, '') AS name, parent
    FROM grids
    WHERE generation_id = %(generation)s AND depth = %(depth)s
      AND geometry && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
      AND (%(codes)s::text[] IS NULL OR code = ANY(%(codes)s::text[]))
)
SELECT ST_AsMVT(grids_here.*, %(layer)s, {EXTENT}, 'geom') FROM grids_here WHERE geom IS NOT NULL
"""


def grid_tile(
    db: Dialect,
    hierarchy: Hierarchy,
    generation_id: int,
    level: str,
    tile: Tile,
    codes: Collection[str] | None = None,
) -> bytes:
    """The vector tile of ``level``'s grids (those in ``codes`` only, if given) under ``tile``.

    ``hierarchy`` is generation ``generation_id``'s, as the store holds it.

    Examples
    --------
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> grid_tile(SqliteDialect(":memory:"), h, 1, "ward", Tile(0, 0, 0))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.NotFoundError: unknown level 'ward'; levels are street, community, grid, ...
    """
    if level not in hierarchy.levels:
        raise NotFoundError(f"unknown level {level!r}; levels are {', '.join(hierarchy.levels)}")
    if isinstance(db, SqliteDialect):
        return _tile_in_python(_indexed_grids(hierarchy, level), level, tile, codes)
    west, south, east, north = tile.buffered_bounds()
    params = {"z": tile.z, "x": tile.x, "y": tile.y, "generation": generation_id,
              "west": west, "south": south, "east": east, "north": north,
              "depth": hierarchy.levels.index(level), "layer": level,
              "codes": None if codes is None else sorted(codes)}  # fmt: skip
    with db.transaction(write=False) as tx:
        found = tx.execute(POSTGIS_TILE, params).fetchone()
    return bytes(found[0]) if found and found[0] is not None else b""


#: Per generation's boundaries and level: the columns a tile needs, with their R-tree. Kept
#: while the store keeps the boundaries (Hierarchy.grids hands out a copy, index-less).
_INDEXED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _indexed_grids(hierarchy: Hierarchy, level: str) -> gpd.GeoDataFrame:
    levels = _INDEXED.setdefault(hierarchy, {})
    if level not in levels:
        grids = hierarchy.grids(level)[["code", "name", "parent", "geometry"]]
        grids.sindex  # noqa: B018 (built now, once, not at the first tile's request)
        levels[level] = grids
    return levels[level]


def _tile_in_python(grids, level: str, tile: Tile, codes: Collection[str] | None) -> bytes:
    under = grids.sindex.query(shapely.box(*tile.buffered_bounds()), predicate="intersects")
    candidates = grids.iloc[sorted(under)]
    if codes is not None:
        candidates = candidates[candidates["code"].isin(codes)]
    return encode_tile(candidates, level, tile)


__all__ = ["POSTGIS_TILE", "grid_tile"]
