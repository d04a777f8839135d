"""folium map builders: they take data and return a :class:`folium.Map`; no I/O.

Large layers are not embedded in the page: :class:`RemoteGeoJson` makes the
browser fetch them from a URL, so a page stays small whatever the data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import folium
from jinja2 import Template

#: Outline colour and weight per depth, coarse levels bold and dark.
_LEVEL_STYLES = [
    ("#b2182b", 4.0),
    ("#ef8a62", 3.0),
    ("#2166ac", 2.0),
    ("#67a9cf", 1.0),
    ("#999999", 0.8),
    ("#bbbbbb", 0.6),
]

#: Amap (高德) street tiles are in GCJ-02 and would shift WGS-84 data by hundreds
#: of metres, so the default base map is OpenStreetMap, which is WGS-84.
DEFAULT_TILES = "OpenStreetMap"


@dataclass(frozen=True)
class LayerSpec:
    """One level on the map: its key, display label, and where its GeoJSON lives."""

    key: str
    label: str
    url: str
    show: bool = True

    @property
    def name(self) -> str:
        """The level's name in the layer switch: its label and key, each once.

        A manifest level without a label takes its key as label; the key alone
        then names it, not the same word twice.

        Examples
        --------
        >>> LayerSpec("street", "街道", "/s").name
        '街道 street'
        >>> LayerSpec("msoa", "msoa", "/m").name
        'msoa'
        """
        return self.key if self.label in ("", self.key) else f"{self.label} {self.key}"


class RemoteGeoJson(folium.map.Layer):
    """A GeoJSON overlay that the browser fetches from ``url`` when the page loads.

    Examples
    --------
    >>> m = folium.Map()
    >>> _ = RemoteGeoJson("/api/levels/street/grids", name="街道").add_to(m)
    >>> "/api/levels/street/grids" in m.get_root().render()
    True
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {% if this.z_index %}
        {{ this._parent.get_name() }}.createPane({{ this.get_name()|tojson }});
        {{ this._parent.get_name() }}.getPane({{ this.get_name()|tojson }}).style.zIndex =
            {{ this.z_index }};
        {% endif %}
        var {{ this.get_name() }} = L.geoJSON(null, {
            {% if this.z_index %}pane: {{ this.get_name()|tojson }},{% endif %}
            style: function () { return {{ this.style|tojson }}; },
            onEachFeature: function (feature, layer) {
                var p = feature.properties || {};
                layer.bindTooltip((p.name || "") + " " + (p.code || ""), {sticky: true});
                // A page may define what clicking a grid does (e.g. show its counts).
                layer.on("click", function (e) {
                    if (window.geogridGridClick) { window.geogridGridClick(feature, e); }
                });
            }
        });
        // Fetched when first shown: a level left off (buildings) costs nothing.
        {{ this.get_name() }}.once("add", function () {
            fetch({{ this.url|tojson }})
                .then(function (response) { return response.json(); })
                .then(function (data) { {{ this.get_name() }}.addData(data); });
        });
        {% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
        window.geogridLayers = window.geogridLayers || {};
        window.geogridLayers[{{ this.layer_name|tojson }}] = {{ this.get_name() }};
        {% endmacro %}
        """
    )

    def __init__(
        self,
        url: str,
        name: str,
        style: dict | None = None,
        show: bool = True,
        z_index: int | None = None,
    ):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "RemoteGeoJson"
        self.url = url
        self.style = style or {"color": "#3388ff", "weight": 2, "fillOpacity": 0.05}
        self.z_index = z_index  # its own map pane, stacked at this z-index


def level_style(depth: int, fill: bool = False) -> dict:
    """Leaflet path style for a level at this depth (0 = top); filled levels catch the hover.

    Examples
    --------
    >>> level_style(0)["weight"]
    4.0
    """
    colour, weight = _LEVEL_STYLES[min(depth, len(_LEVEL_STYLES) - 1)]
    return {"color": colour, "weight": weight, "fill": fill, "fillOpacity": 0.06}


@dataclass(frozen=True)
class MapAssets:
    """Where the page loads Leaflet from, and its base map tiles.

    The defaults are folium's public CDN and OpenStreetMap; a server on an
    intranet passes its own URLs. ``tiles=None`` draws no base map.
    """

    leaflet_js: str | None = None
    leaflet_css: str | None = None
    tiles: str | None = DEFAULT_TILES
    attribution: str | None = None


def base_map(bounds: Sequence[float], assets: MapAssets = MapAssets()) -> folium.Map:
    """An empty map fitted to ``bounds`` (west, south, east, north), with only Leaflet loaded.

    Examples
    --------
    >>> m = base_map((120.6, 28.0, 120.7, 28.1), MapAssets(leaflet_js="/static/leaflet.js"))
    >>> "/static/leaflet.js" in m.get_root().render()
    True
    """
    west, south, east, north = bounds
    # SVG, not canvas: each level has its own pane, and a canvas pane would take every
    # click over the whole map; SVG lets clicks through where a level draws nothing.
    fmap = folium.Map(tiles=None, control_scale=True, prefer_canvas=False)
    # Without tiles folium passes no maxZoom, and marker clustering needs one.
    fmap.options["maxZoom"] = 19
    fmap.get_root().header.add_child(folium.Element('<link rel="icon" href="data:,">'))
    # Only Leaflet: the pages use no jQuery, Bootstrap or icon fonts, so they load
    # nothing from outside unless the base map tiles do.
    fmap.default_js = [("leaflet", assets.leaflet_js or folium.Map.default_js[0][1])]
    fmap.default_css = [("leaflet_css", assets.leaflet_css or folium.Map.default_css[0][1])]
    if assets.tiles:
        folium.TileLayer(
            assets.tiles, attr=assets.attribution, name="底图 Base map", control=False
        ).add_to(fmap)
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


def grid_levels_map(
    layers: Sequence[LayerSpec],
    bounds: Sequence[float],
    title: str | None = None,
    assets: MapAssets = MapAssets(),
) -> folium.Map:
    """A map with one toggleable overlay per level, fitted to ``bounds`` (west, south, east, north).

    Examples
    --------
    >>> m = grid_levels_map([LayerSpec("street", "街道", "/s.geojson")], (120.6, 28.0, 120.7, 28.1))
    >>> isinstance(m, folium.Map)
    True
    """
    fmap = base_map(bounds, assets)
    # Coarse levels are drawn above fine ones (their bold lines stay visible) and
    # only the finest levels are filled, so hovering shows the smallest grid.
    finest_full = max((i for i, spec in enumerate(layers) if spec.show), default=0)
    for depth, spec in enumerate(layers):
        style = level_style(depth, fill=depth >= finest_full)
        z_index = 440 - 5 * depth
        RemoteGeoJson(spec.url, spec.name, style, spec.show, z_index).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    if title:
        fmap.get_root().html.add_child(folium.Element(_title_html(title)))
    return fmap


def commander_map(
    layers: Sequence[LayerSpec],
    bounds: Sequence[float],
    title_html: str,
    config: dict,
    scripts: Sequence[str] = (),
    styles: Sequence[str] = (),
    assets: MapAssets = MapAssets(),
) -> folium.Map:
    """The commander's map: level layers plus the page's own scripts and their settings.

    ``config`` becomes ``window.GEOGRID`` (with the map's variable name added), read
    by the scripts, which fetch heat maps, per-grid counts and report markers for the
    current view from the API.

    Examples
    --------
    >>> m = commander_map([LayerSpec("street", "街道", "/s")], (120.6, 28.0, 120.7, 28.1),
    ...                   "<b>示范区</b>", {"api": "/api"}, scripts=["/static/c.js"])
    >>> html = m.get_root().render()
    >>> "window.GEOGRID" in html and "/static/c.js" in html
    True
    """
    fmap = grid_levels_map(layers, bounds, assets=assets)
    root = fmap.get_root()
    for url in styles:
        root.header.add_child(folium.CssLink(url))
    root.html.add_child(
        folium.Element(f'<div id="geogrid-title" class="geogrid-box">{title_html}</div>')
    )
    settings = json.dumps({**config, "map": fmap.get_name()}, ensure_ascii=False)
    # After the map script, so the scripts find the map and its layers ready.
    root.script.add_child(folium.Element(f"window.GEOGRID = {settings};"))
    for url in scripts:
        root.script.add_child(folium.Element(_script_loader(url)))
    return fmap


def _script_loader(url: str) -> str:
    return (
        "(function () { var s = document.createElement('script'); "
        f"s.src = {json.dumps(url)}; s.async = false; document.body.appendChild(s); }})();"
    )


def _title_html(title: str) -> str:
    return (
        '<div style="position:fixed;top:10px;left:60px;z-index:1000;background:white;'
        'padding:4px 10px;border-radius:4px;font:16px sans-serif;box-shadow:0 1px 4px #999">'
        f"{escape(title)}</div>"
    )


__all__ = [
    "DEFAULT_TILES",
    "LayerSpec",
    "MapAssets",
    "RemoteGeoJson",
    "base_map",
    "commander_map",
    "grid_levels_map",
    "level_style",
]
