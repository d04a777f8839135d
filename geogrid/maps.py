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
#: protomaps-leaflet from a public CDN, for pages whose server does not serve its own copy.
PROTOMAPS_JS = "https://unpkg.com/protomaps-leaflet@5.1.0/dist/protomaps-leaflet.js"


@dataclass(frozen=True)
class LayerSpec:
    """One level on the map: its key, display label, and where its GeoJSON lives."""

    key: str
    label: str
    url: str
    show: bool = True
    #: A ``{z}/{x}/{y}`` URL template of the level's vector tiles: drawn from those, not ``url``.
    tiles: str | None = None
    #: The map zoom from which the level is drawn (its grids are legible).
    min_zoom: int = 0

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
                    // A finer level drawn from tiles under this spot takes the click.
                    var finer = window.geogridTiles && window.geogridTiles.pick(e.latlng,
                        {{ this.depth|tojson }});
                    L.DomEvent.stopPropagation(e);
                    if (window.geogridGridClick) { window.geogridGridClick(finer || feature, e); }
                });
            }
        });
        {% if this.min_zoom and this.z_index %}
        // Drawn only from the zoom at which its grids are legible.
        (function (map, pane) {
            function sync() {
                pane.style.display = map.getZoom() < {{ this.min_zoom }} ? "none" : "";
            }
            map.on("zoomend", sync);
            sync();
        })({{ this._parent.get_name() }},
           {{ this._parent.get_name() }}.getPane({{ this.get_name()|tojson }}));
        {% endif %}
        // Fetched when first shown: a level left off (buildings) costs nothing.
        {{ this.get_name() }}.once("add", function () {
            // Kept by URL: a page's own layer over the same level (a choropleth) reuses it.
            window.geogridLevelData = window.geogridLevelData || {};
            window.geogridLevelData[{{ this.url|tojson }}] = fetch({{ this.url|tojson }})
                .then(function (response) { return response.json(); });
            window.geogridLevelData[{{ this.url|tojson }}]
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
        min_zoom: int = 0,
        depth: int = 0,
    ):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "RemoteGeoJson"
        self.url = url
        self.style = style or {"color": "#3388ff", "weight": 2, "fillOpacity": 0.05}
        self.z_index = z_index  # its own map pane, stacked at this z-index
        self.min_zoom = min_zoom  # its pane is hidden below this zoom (needs z_index)
        self.depth = depth  # the level's depth: a finer tiled level under a click takes it


#: Helpers of the levels drawn from vector tiles, in the page once: ``geogridTiles.layer``
#: makes a level's tiled layer (drawn from its zoom on, filled per grid if asked), and
#: ``geogridTiles.pick`` finds the grid of the finest such level under a point.
TILES_JS = """
window.geogridTiles = window.geogridTiles || (function () {
  "use strict";
  var holders = [];
  function paintRules(o) {
    var fillOf = o.fill || function () {
      return o.fillOpacity ? [o.fillColor, o.fillOpacity] : null;
    };
    var rules = [{ dataLayer: o.level, symbolizer: new protomapsL.PolygonSymbolizer({
      fill: function (z, f) { var c = fillOf(f.props); return c ? c[0] : "#000"; },
      opacity: function (z, f) { var c = fillOf(f.props); return c ? c[1] : 0; } }) }];
    if (o.weight) {
      rules.push({ dataLayer: o.level, symbolizer: new protomapsL.LineSymbolizer({
        color: o.color || "#3388ff", width: o.weight }) });
    }
    return rules;
  }
  /* A level's tiles in a layer group that holds them only from minZoom on: the layer
     switch turns the group on and off, the zoom decides whether tiles are asked for. */
  function layer(map, o) {
    var tiles = protomapsL.leafletLayer({ url: o.url, pane: o.pane || "overlayPane",
      attribution: "", paintRules: paintRules(o), labelRules: [],
      maxDataZoom: Math.max(15, (o.minZoom || 0) - 1) });
    share(tiles, o.url);
    var holder = L.layerGroup();
    holder.geogrid = { level: o.level, depth: o.depth || 0, minZoom: o.minZoom || 0,
                       tiles: tiles, pickable: o.pickable !== false };
    function sync() {
      var on = map.hasLayer(holder) && map.getZoom() >= holder.geogrid.minZoom;
      if (on && !holder.hasLayer(tiles)) { holder.addLayer(tiles); }
      if (!on && holder.hasLayer(tiles)) { holder.removeLayer(tiles); }
    }
    holder.on("add", sync);
    map.on("zoomend", sync);
    var repainting = 0;
    /* Drawn: off, below its zoom, or every tile in view painted (and painted again). */
    holder.isReady = function () {
      return !holder.hasLayer(tiles) || (!tiles.isLoading() && repainting === 0);
    };
    /* Paint again (a fill changed: new counts, new colours); the plugin's rerenderTiles,
       keeping the promises, so that isReady waits for them. */
    holder.repaint = function () {
      if (!holder.hasLayer(tiles)) { return; }
      var painted = Object.keys(tiles._tiles).map(function (key) {
        var coords = tiles._wrapCoords(tiles._keyToTileCoords(key));
        return tiles.renderTile(coords, tiles._tiles[key].el, tiles._tileCoordsToKey(coords));
      });
      repainting += 1;
      Promise.all(painted).catch(function () {}).then(function () { repainting -= 1; });
    };
    holders.push(holder);
    watch(map);
    return holder;
  }
  /* Layers over the same tiles (a level, its choropleth) fetch each tile once: the
     plugin's source is wrapped so they share one request and its decoded tile. */
  var shared = {};
  function share(tiles, url) {
    var cache = tiles.views && tiles.views.get("") && tiles.views.get("").tileCache;
    if (!cache || !cache.source) { return; }  // another version of the plugin: no sharing
    var source = cache.source, known = shared[url] = shared[url] || [];
    cache.source = { get: function (c, size) {
      var key = c.z + "/" + c.x + "/" + c.y + "@" + size;
      var found = known.filter(function (k) { return k.key === key; })[0];
      if (!found) {
        found = { key: key, promise: source.get(c, size) };
        found.promise.catch(function () { known.splice(known.indexOf(found), 1); });
        known.push(found);
        if (known.length > 128) { known.shift(); }
      }
      return found.promise;
    } };
  }
  /* The grid of the finest drawn level under latlng, deeper than ``depth``: {properties}. */
  function pick(latlng, depth) {
    var best = null;
    holders.forEach(function (holder) {
      var g = holder.geogrid;
      if (!g.pickable || !holder.hasLayer(g.tiles) || g.depth <= (depth === undefined ? -1 : depth)
          || (best && best.depth >= g.depth)) { return; }
      var found = g.tiles.queryTileFeaturesDebug(latlng.lng, latlng.lat, 0).get("") || [];
      found = found.filter(function (hit) { return hit.layerName === g.level; });
      if (found.length) {
        var props = Object.assign({ level: g.level }, found[0].feature.props);
        best = { depth: g.depth, feature: { type: "Feature", properties: props } };
      }
    });
    return best && best.feature;
  }
  var watched = [];
  /* Clicks and hovers over tiles: the same popup and tooltip as a GeoJSON level's grids. */
  function watch(map) {
    if (watched.indexOf(map) >= 0) { return; }
    watched.push(map);
    var tip = L.tooltip({ sticky: true, direction: "auto" }), pending = null;
    map.on("click", function (e) {
      var hit = pick(e.latlng);
      if (hit && window.geogridGridClick) { window.geogridGridClick(hit, e); }
    });
    map.on("mousemove", function (e) {
      pending = e;
      window.requestAnimationFrame(function () {
        if (!pending) { return; }
        var at = pending;
        pending = null;
        var target = at.originalEvent && at.originalEvent.target;
        var onPath = target && target.classList && target.classList.contains("leaflet-interactive");
        var hit = onPath ? null : pick(at.latlng);
        if (!hit) { map.closeTooltip(tip); return; }
        var p = hit.properties;
        tip.setLatLng(at.latlng).setContent(escape((p.name || "") + " " + p.code));
        if (!map.hasLayer(tip)) { map.openTooltip(tip); }
      });
    });
    map.on("mouseout", function () { map.closeTooltip(tip); });
  }
  function escape(text) {
    return String(text).replace(/[&<>"']/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch];
    });
  }
  return { layer: layer, pick: pick, layers: holders };
})();
"""


class TiledLevel(folium.map.Layer):
    """A level drawn from vector tiles (``{z}/{x}/{y}`` URL), from ``min_zoom`` on.

    Needs protomaps-leaflet and :data:`TILES_JS` in the page (:func:`grid_levels_map`
    adds both). A click or hover on a grid does what it does on a
    :class:`RemoteGeoJson` level's grids.

    Examples
    --------
    >>> m = folium.Map()
    >>> _ = TiledLevel("/tiles/building/{z}/{x}/{y}.mvt", "building", "楼栋", min_zoom=16).add_to(m)
    >>> "/tiles/building/{z}/{x}/{y}.mvt" in m.get_root().render()
    True
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.createPane({{ this.get_name()|tojson }});
        {{ this._parent.get_name() }}.getPane({{ this.get_name()|tojson }}).style.zIndex =
            {{ this.z_index }};
        var {{ this.get_name() }} = window.geogridTiles.layer({{ this._parent.get_name() }},
            Object.assign({{ this.options|tojson }}, {pane: {{ this.get_name()|tojson }}}));
        {% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
        window.geogridTiledLayers = window.geogridTiledLayers || {};
        window.geogridTiledLayers[{{ this.layer_name|tojson }}] = {{ this.get_name() }};
        {% endmacro %}
        """
    )

    def __init__(
        self,
        url: str,
        level: str,
        name: str,
        style: dict | None = None,
        show: bool = True,
        z_index: int = 400,
        min_zoom: int = 0,
        depth: int = 0,
    ):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "TiledLevel"
        style = style or {"color": "#3388ff", "weight": 2, "fill": False}
        filled = style.get("fillOpacity", 0) if style.get("fill") else 0
        self.options = {"url": url, "level": level, "minZoom": min_zoom, "depth": depth,
                        "color": style["color"], "weight": style["weight"],
                        "fillColor": style["color"], "fillOpacity": filled}  # fmt: skip
        self.z_index = z_index


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
    #: protomaps-leaflet, which draws the levels served as vector tiles.
    vector_tiles_js: str | None = None


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
    if any(spec.tiles for spec in layers):
        fmap.default_js.append(("protomaps_leaflet", assets.vector_tiles_js or PROTOMAPS_JS))
        fmap.get_root().header.add_child(folium.Element(f"<script>{TILES_JS}</script>"))
    # Coarse levels are drawn above fine ones (their bold lines stay visible) and
    # only the finest levels are filled, so hovering shows the smallest grid.
    finest_full = max((i for i, spec in enumerate(layers) if spec.show), default=0)
    for depth, spec in enumerate(layers):
        style = level_style(depth, fill=depth >= finest_full)
        z_index = 440 - 5 * depth
        if spec.tiles:
            TiledLevel(spec.tiles, spec.key, spec.name, style, spec.show, z_index, spec.min_zoom,
                       depth).add_to(fmap)  # fmt: skip
        else:
            RemoteGeoJson(spec.url, spec.name, style, spec.show, z_index, spec.min_zoom,
                          depth).add_to(fmap)  # fmt: skip
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
    "TILES_JS",
    "LayerSpec",
    "MapAssets",
    "RemoteGeoJson",
    "TiledLevel",
    "base_map",
    "commander_map",
    "grid_levels_map",
    "level_style",
]
