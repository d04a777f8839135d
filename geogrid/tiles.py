"""Vector tiles of grid levels: tile maths, which levels are tiled and from which zoom, encoding.

A level too large for one GeoJSON document (a city's grids, its buildings) is
served as Mapbox Vector Tiles, one layer named by the level's key, each feature
with its ``code``, ``name`` and ``parent``. Tiles are the usual web-mercator
``z/x/y`` (XYZ, y down) with an extent of :data:`EXTENT` units and
:data:`BUFFER` units of margin, as PostGIS's ``ST_AsMVTGeom`` makes them;
:func:`encode_tile` makes the same tile in Python for the embedded store.

A level is drawn from the zoom at which it is legible: :func:`legible_zoom`
takes its grid count and extent and finds the map zoom (Leaflet's: the world
is 256 px wide at zoom 0) at which an average grid is :data:`LEGIBLE_PIXELS`
wide. The browser draws each tile at 512 px, so a map at zoom z shows tiles of
zoom z - 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import shapely

from geogrid.errors import InputError

#: Units across a tile (the Mapbox Vector Tile default, and ST_AsMVT's).
EXTENT = 4096
#: Units of margin around a tile, so outlines do not stop short at its edge.
BUFFER = 64
#: Deepest tile zoom served: ~2 cm per unit at the equator, past any grid's need.
MAX_ZOOM = 24
#: Pixels across the world at map zoom 0 (Leaflet's, OpenStreetMap's).
WORLD_PIXELS = 256
#: An average grid at least this many pixels across is legible.
LEGIBLE_PIXELS = 20
#: Web mercator's edge: latitudes beyond it have no tile.
MAX_LATITUDE = 85.0511287798066


@dataclass(frozen=True)
class Tile:
    """One XYZ tile; refused with :class:`InputError` when it does not exist.

    Examples
    --------
    >>> Tile(1, 1, 0).bounds
    (0.0, 0.0, 180.0, 85.0511287798066)
    >>> Tile(1, 2, 0)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: tile 1/2/0: x must be from 0 to 1 at zoom 1
    """

    z: int
    x: int
    y: int

    def __post_init__(self) -> None:
        name = f"tile {self.z}/{self.x}/{self.y}"
        if not 0 <= self.z <= MAX_ZOOM:
            raise InputError(f"{name}: zoom must be from 0 to {MAX_ZOOM}")
        last = 2**self.z - 1
        for axis, value in (("x", self.x), ("y", self.y)):
            if not 0 <= value <= last:
                raise InputError(f"{name}: {axis} must be from 0 to {last} at zoom {self.z}")

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """West, south, east, north in degrees (EPSG:4326)."""
        n = 2.0**self.z
        west, east = self.x / n * 360 - 180, (self.x + 1) / n * 360 - 180
        return (west, _latitude(self.y + 1, n), east, _latitude(self.y, n))

    def buffered_bounds(self, buffer: int = BUFFER) -> tuple[float, float, float, float]:
        """:attr:`bounds` widened by ``buffer`` tile units on each side (clamped to the world).

        Clamped, not wrapped: an edge column's margin would reach past ±180°.

        Examples
        --------
        >>> [round(v, 2) for v in Tile(1, 0, 0).buffered_bounds()]
        [-180.0, -2.81, 2.81, 85.05]
        """
        n = 2.0**self.z
        margin = buffer / EXTENT
        west = max(-180.0, (self.x - margin) / n * 360 - 180)
        east = min(180.0, (self.x + 1 + margin) / n * 360 - 180)
        south = _latitude(min(n, self.y + 1 + margin), n)
        north = _latitude(max(0.0, self.y - margin), n)
        return (west, south, east, north)


def _latitude(row: float, n: float) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))


def legible_zoom(grid_count: int, bounds: Sequence[float]) -> int:
    """The map zoom from which a level of ``grid_count`` grids over ``bounds`` is legible.

    The level's extent (west, south, east, north) shared out evenly among its
    grids gives an average grid; it is legible from the first zoom at which it
    is :data:`LEGIBLE_PIXELS` across.

    Examples
    --------
    >>> legible_zoom(225, (120.63, 27.99, 120.68, 28.03))
    14
    >>> legible_zoom(200_000, (120.5, 27.9, 120.8, 28.1))
    16
    >>> legible_zoom(0, (0, 0, 0, 0))
    0
    """
    west, south, east, north = bounds
    width = (east - west) / 360
    height = abs(_mercator_y(north) - _mercator_y(south))
    if grid_count <= 0 or width <= 0 or height <= 0:
        return 0
    side = math.sqrt(width * height / grid_count)  # of the world at zoom 0, which is 1 × 1
    zoom = math.log2(LEGIBLE_PIXELS / (side * WORLD_PIXELS))
    return min(MAX_ZOOM, max(0, math.ceil(zoom)))


def _mercator_y(latitude: float) -> float:
    """Distance from the top of the world (0) to its bottom (1)."""
    clamped = math.radians(max(-MAX_LATITUDE, min(MAX_LATITUDE, latitude)))
    return (1 - math.log(math.tan(clamped) + 1 / math.cos(clamped)) / math.pi) / 2


def tiled_levels(grid_counts: Mapping[str, int], over: int) -> list[str]:
    """The levels served as vector tiles: those with more than ``over`` grids.

    Examples
    --------
    >>> tiled_levels({"street": 12, "grid": 40_000, "building": 200_000}, 1000)
    ['grid', 'building']
    """
    return [key for key, count in grid_counts.items() if count > over]


def min_zooms(
    levels: Mapping[str, tuple[int, Sequence[float]]], chosen: Mapping[str, int]
) -> dict[str, int]:
    """The zoom each level is drawn from: ``chosen`` where given, else :func:`legible_zoom`.

    ``levels`` maps each level to its grid count and extent; a level in
    ``chosen`` that is not among them is ignored: the setting outlives a
    generation, and a newly activated one may have renamed its levels.

    Examples
    --------
    >>> min_zooms({"street": (3, (120, 28, 120.1, 28.1)), "grid": (900, (120, 28, 120.1, 28.1))},
    ...           {"street": 0, "ward": 5})
    {'street': 0, 'grid': 13}
    """
    return {key: chosen.get(key, legible_zoom(count, bounds))
            for key, (count, bounds) in levels.items()}  # fmt: skip


def encode_tile(grids: gpd.GeoDataFrame, layer: str, tile: Tile) -> bytes:
    """One tile of ``grids`` (code, name, parent, geometry in EPSG:4326) as a vector tile.

    Outlines are moved into the tile's units, clipped :data:`BUFFER` units beyond
    its edge and snapped to whole units, as ``ST_AsMVTGeom`` does; grids that
    shrink to nothing or are under half a unit both ways are left out. An empty tile is
    ``b""`` (ST_AsMVT's too).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> grids = gpd.GeoDataFrame({"code": ["1"], "name": ["一"], "parent": [None]},
    ...                          geometry=[box(0.1, 0.1, 0.2, 0.2)], crs=4326)
    >>> data = encode_tile(grids, "grid", Tile(8, 128, 127))
    >>> mapbox_vector_tile.decode(data)["grid"]["features"][0]["properties"]
    {'code': '1', 'name': '一'}
    >>> encode_tile(grids.iloc[:0], "grid", Tile(8, 128, 127))
    b''
    """
    shapes = _in_tile_units(grids.geometry.values, tile)
    keep = ~shapely.is_empty(shapes)
    if not keep.any():
        return b""
    features = [{"geometry": shape, "properties": _properties(row)}
                for shape, row in zip(shapes[keep], _rows(grids[keep]), strict=True)]  # fmt: skip
    # Exteriors already wound as the format wants (below): the encoder need not check each.
    options = {"extents": EXTENT, "y_coord_down": True, "quantize_bounds": None,
               "check_winding_order": False}  # fmt: skip
    return mapbox_vector_tile.encode({"name": layer, "features": features},
                                     default_options=options)  # fmt: skip


def _in_tile_units(geometry: np.ndarray, tile: Tile) -> np.ndarray:
    n = 2.0**tile.z

    def to_tile(xy: np.ndarray) -> np.ndarray:
        lat = np.radians(np.clip(xy[:, 1], -MAX_LATITUDE, MAX_LATITUDE))
        column = ((xy[:, 0] + 180) / 360 * n - tile.x) * EXTENT
        row = ((1 - np.log(np.tan(lat) + 1 / np.cos(lat)) / np.pi) / 2 * n - tile.y) * EXTENT
        return np.column_stack([column, row])

    moved = shapely.transform(geometry, to_tile)
    # Under half a unit both ways is dropped, as ST_AsMVTGeom drops it (snapping alone
    # might keep it, as a whole unit, where it straddles a unit's edge).
    west, south, east, north = shapely.bounds(moved).T
    moved[(east - west < 0.5) & (north - south < 0.5)] = shapely.Polygon()
    clipped = shapely.clip_by_rect(moved, -BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)
    # Snapping can leave slivers as lines; a polygon level keeps only its polygons.
    snapped = shapely.set_precision(clipped, 1.0)
    polygons = np.array([_polygonal(shape) for shape in snapped], dtype=object)
    # A vector tile's exterior rings have a positive area with y down: counter-clockwise
    # in shapely's y-up reckoning, holes the other way (what orient_polygons makes).
    return shapely.orient_polygons(polygons, exterior_cw=False)


def _polygonal(shape):
    if shape is None or shape.is_empty or shape.geom_type in ("Polygon", "MultiPolygon"):
        return shape if shape is not None else shapely.Polygon()
    parts = [p for p in getattr(shape, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _rows(grids: gpd.GeoDataFrame):
    return grids[["code", "name", "parent"]].itertuples(index=False, name=None)


def _properties(row: tuple) -> dict:
    # ST_AsMVT leaves out NULLs; so does this (a top level has no parent, a grid may lack a name).
    return {key: str(value) for key, value in zip(("code", "name", "parent"), row, strict=True)
            if value is not None and value == value and value != ""}  # fmt: skip


__all__ = [
    "BUFFER",
    "EXTENT",
    "MAX_ZOOM",
    "Tile",
    "encode_tile",
    "legible_zoom",
    "min_zooms",
    "tiled_levels",
]
