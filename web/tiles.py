"""Vector tiles of grid levels: ``GET /tiles/<level>/<z>/<x>/<y>.mvt``.

A level with more grids than ``TILED_LEVEL_GRIDS`` is drawn on the commander's
map from these tiles instead of one GeoJSON document, from the zoom
``LEVEL_MIN_ZOOM`` gives (by default the zoom at which its average grid is
legible). The route serves any level of the active generation; it needs
``grid.read``, like ``/api/levels/<key>/grids``, and a principal with a scope
gets only the grids of its scope. A tile below the zoom its level is drawn
from is empty (204): the map never asks for it, and nobody makes the server
encode a city's buildings into one tile.

Tiles are revalidated, never stale: the ETag names the generation, the scope
and the level's zoom, so a newly activated generation gets new tiles at once
and an unchanged tile costs a 304.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable
from functools import lru_cache, partial

from flask import Blueprint, Response, current_app, request

from geogrid.errors import NotFoundError
from geogrid.tiles import Tile, min_zooms, tiled_levels
from web.access import principal, requires
from web.state import store

blueprint = Blueprint("tiles", __name__)
MVT = "application/vnd.mapbox-vector-tile"
#: The map draws each tile at 512 px: at map zoom z it shows tiles of zoom z - 1.
ZOOM_OFFSET = 1


@blueprint.get("/tiles/<level>/<int:z>/<int:x>/<int:y>.mvt")
@requires("grid.read")
def level_tile(level: str, z: int, x: int, y: int):
    """One level's grids under tile z/x/y as a Mapbox Vector Tile (layer named by the level)."""
    generation = store().active_generation_id()
    h = store().hierarchy(generation)
    if level not in h.levels:
        raise NotFoundError(f"unknown level {level!r}; levels are {', '.join(h.levels)}")
    tile = Tile(z, x, y)  # InputError (400) names a tile that does not exist
    scope = principal().scope
    drawn_from = level_zooms(h)[level]["minZoom"]
    etag = f"g{generation}-z{drawn_from}-s{_digest(scope)}"
    # Weak comparison (RFC 7232 §3.2): a gzipping proxy makes the tag weak, W/"…".
    if request.if_none_match.contains_weak(etag):
        return _tile_response(b"", etag, 304)
    if z < drawn_from - ZOOM_OFFSET:
        return _tile_response(b"", etag, 204)
    data = _tile_cache()(generation, level, tile, scope)
    return _tile_response(data, etag, 200 if data else 204)


def _tile_cache() -> Callable[..., bytes]:
    """This app's tiles by generation, level, tile and scope: each street's commanders share one.

    Kept on the app, so the generation id names one store's boundaries and the cache
    goes with its app (an ``id()`` of the boundaries could be reused by another's).
    """
    extensions = current_app.extensions
    if "geogrid.tiles" not in extensions:
        extensions.setdefault("geogrid.tiles", lru_cache(maxsize=256)(partial(_encode, store())))
    return extensions["geogrid.tiles"]


def _encode(s, generation: int, level: str, tile: Tile, scope: tuple[str, ...] | None) -> bytes:
    # The generation asked for, not the active one: an activation meanwhile changes nothing.
    codes = None if scope is None else s.hierarchy(generation).covered(scope)
    return s.grid_tile(level, tile, codes, generation_id=generation)


def _tile_response(data: bytes, etag: str, status: int) -> Response:
    response = Response(data if status == 200 else b"", status=status, mimetype=MVT)
    response.set_etag(etag)
    # private: a scope's tiles are its own; no-cache: asked again (a 304) after an activation.
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _digest(scope: tuple[str, ...] | None) -> str:
    if scope is None:
        return "all"
    return hashlib.sha256("\n".join(sorted(scope)).encode()).hexdigest()[:16]


#: Per generation's boundaries (held weakly: an entry goes with them, and is never taken for
#: another's) and settings: each level's zooms.
_ZOOMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def level_zooms(h) -> dict[str, dict]:
    """Per level of ``h`` (the active generation's): drawn from tiles? from which zoom?

    From the settings ``TILED_LEVEL_GRIDS`` and ``LEVEL_MIN_ZOOM``; computed once
    per generation's boundaries. A ``LEVEL_MIN_ZOOM`` level that ``h`` lacks is
    ignored with a warning: a newly activated generation may rename its levels.
    """
    config = current_app.config
    settings = (config["TILED_LEVEL_GRIDS"], tuple(sorted(config["LEVEL_MIN_ZOOM"].items())))
    known = _ZOOMS.setdefault(h, {})
    if settings not in known:
        known[settings] = _level_zooms(h, *settings)
    return known[settings]


def _level_zooms(h, over: int, chosen: tuple) -> dict[str, dict]:
    unknown = sorted(key for key, _ in chosen if key not in h.levels)
    if unknown:
        current_app.logger.warning("LEVEL_MIN_ZOOM: ignored %s, no such level; levels are %s",
                                   ", ".join(unknown), ", ".join(h.levels))  # fmt: skip
    grids = {key: h.grids(key) for key in h.levels}  # each call copies the level
    sizes = {key: (len(frame), tuple(frame.total_bounds)) for key, frame in grids.items()}
    tiled = tiled_levels({key: count for key, (count, _) in sizes.items()}, over)
    zooms = min_zooms(sizes, dict(chosen))
    return {key: {"tiled": key in tiled, "minZoom": zooms[key]} for key in h.levels}
