"""Map pages (a first slice: the district with every level as a layer)."""

from __future__ import annotations

from flask import Blueprint, current_app, url_for

from geogrid.maps import LayerSpec, MapAssets, grid_levels_map
from web.state import hierarchy

blueprint = Blueprint("pages", __name__)


@blueprint.get("/")
def district_map():
    """The district map: every level a toggleable layer; buildings off at first."""
    h = hierarchy()
    layers = [
        LayerSpec(
            key,
            h.level(key).label,
            url_for("api.level_grids", key=key),
            show=h.level(key).coverage == "full",
        )
        for key in h.levels
    ]
    bounds = h.grids(h.levels[0]).total_bounds
    title = f"{h.name or '网格'} · 网格地图 Grid map"
    html = grid_levels_map(layers, bounds, title=title, assets=map_assets()).get_root().render()
    return html.replace("<html>", '<html lang="zh-CN">', 1)


def map_assets() -> MapAssets:
    """Leaflet from this server's own static files; tiles as configured."""
    tiles = current_app.config["TILES"]
    return MapAssets(
        leaflet_js=url_for("static", filename="vendor/leaflet/leaflet.js"),
        leaflet_css=url_for("static", filename="vendor/leaflet/leaflet.css"),
        tiles=None if tiles.lower() == "none" else tiles,
        attribution=current_app.config["TILES_ATTRIBUTION"] or None,
    )
