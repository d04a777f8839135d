"""GeoJSON for grids and reports, shared by the JSON API and OGC API – Features."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geogrid.reports import Report

#: Six decimals of a degree are ~0.1 m: plenty for display, a third of the bytes.
DISPLAY_DECIMALS = 6
_CORE = ("code", "name", "parent", "geometry")


def round_geometry(geometry: Any, decimals: int = DISPLAY_DECIMALS) -> Any:
    """Geometries with coordinates rounded for display.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> round_geometry(Point(120.123456789, 28.0)).wkt
    'POINT (120.123457 28)'
    """
    return shapely.transform(geometry, lambda xy: np.round(xy, decimals))


def grid_features(grids: gpd.GeoDataFrame, level: str, simplify_m: float = 0.0) -> list[dict]:
    """Grids of one level as GeoJSON features (id = code; properties include the level).

    ``simplify_m`` > 0 simplifies outlines (Douglas–Peucker, topology kept per grid)
    for small-scale maps.
    """
    geometry = grids.geometry.values
    if simplify_m > 0:
        geometry = shapely.simplify(geometry, simplify_m / 111_000, preserve_topology=True)
    shapes = [shapely.geometry.mapping(g) for g in round_geometry(geometry)]
    extra = [c for c in grids.columns if c not in _CORE]
    features = []
    for (code, name, parent), values, shape in zip(
        grids[["code", "name", "parent"]].itertuples(index=False, name=None),
        grids[extra].itertuples(index=False, name=None),
        shapes,
        strict=True,
    ):
        properties = {"code": code, "name": name, "parent": parent, "level": level}
        properties.update({k: _plain(v) for k, v in zip(extra, values, strict=True)})
        features.append({"type": "Feature", "id": code, "geometry": shape,
                         "properties": properties})  # fmt: skip
    return features


def report_properties(report: Report) -> dict:
    """A report's fields for JSON (history left out; times in ISO 8601 UTC)."""
    out = report.to_dict()
    out.pop("history")
    return out


def report_feature(report: Report, history: bool = False) -> dict:
    """A report as a GeoJSON point feature at its WGS-84 location."""
    properties = report.to_dict() if history else report_properties(report)
    return {"type": "Feature", "id": report.id,
            "geometry": {"type": "Point", "coordinates": [round(report.lon, 7),
                                                          round(report.lat, 7)]},
            "properties": properties}  # fmt: skip


def feature_collection(features: list[dict], **members: Any) -> dict:
    """A FeatureCollection with extra top-level members (links, numberMatched…)."""
    return {"type": "FeatureCollection", "features": features, **members}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value
