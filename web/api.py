"""The JSON/GeoJSON API (a first slice: levels, grids per level, point lookup)."""

from __future__ import annotations

from functools import cache

import numpy as np
import shapely
from flask import Blueprint, Response, abort, current_app, jsonify, request

from geogrid.errors import InputError
from web.state import hierarchy

blueprint = Blueprint("api", __name__)
#: Six decimals of a degree are ~0.1 m: plenty for display, a third of the bytes.
DISPLAY_DECIMALS = 6


@blueprint.get("/levels")
def levels():
    """The levels, top first, with their labels and grid counts."""
    h = hierarchy()
    return jsonify(
        levels=[
            {
                "key": key,
                "label": h.level(key).label,
                "coverage": h.level(key).coverage,
                "grids": len(h.grids(key)),
            }
            for key in h.levels
        ]
    )


@blueprint.get("/levels/<key>/grids")
def level_grids(key: str):
    """All grids of one level as a GeoJSON FeatureCollection."""
    h = hierarchy()
    if key not in h.levels:
        abort(404, f"unknown level {key!r}; levels are {', '.join(h.levels)}")
    return Response(_level_geojson(h, key), mimetype="application/geo+json")


@cache
def _level_geojson(h, key: str) -> str:
    grids = h.grids(key)
    grids["geometry"] = shapely.transform(
        grids.geometry.values, lambda xy: np.round(xy, DISPLAY_DECIMALS)
    )
    return grids.to_json(drop_id=True, ensure_ascii=False)


@blueprint.get("/lookup")
def lookup():
    """The grid at every level for one point: ``?lon=&lat=&crs=``."""
    lon, lat = _number_arg("lon"), _number_arg("lat")
    crs = request.args.get("crs", "WGS-84")
    max_distance = current_app.config["MAX_DISTANCE_M"]
    row = hierarchy().assign([lon], [lat], crs=crs, max_distance_m=max_distance).iloc[0]
    codes = {key: _none_if_missing(row[f"{key}_code"]) for key in hierarchy().levels}
    distance = None if np.isnan(row["distance_m"]) else round(float(row["distance_m"]), 2)
    return jsonify(
        lon=lon,
        lat=lat,
        crs=crs,
        status=row["status"],
        codes=codes,
        distance_m=distance,
        nearest_code=_none_if_missing(row["nearest_code"]),
    )


def _number_arg(name: str) -> float:
    raw = request.args.get(name)
    if raw is None:
        raise InputError(f"query parameter '{name}' is required")
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"query parameter '{name}' must be a number, got {raw!r}") from None
    if not np.isfinite(value):
        raise InputError(f"query parameter '{name}' must be a finite number")
    return value


def _none_if_missing(value):
    return None if value is None or value != value else str(value)
