"""Map pages: the commander's map and a page per grid (Chinese first, ``?lang=en``).

Both need ``report.read``: a visitor who has not signed in is sent to /login. A
principal with a grid scope sees its grids and everything below them: the map
opens on them, and the page of a grid out of scope answers 404. Each page names
the signed-in user and has a sign-out button (a form with the CSRF token).
"""

from __future__ import annotations

from html import escape

import folium
from flask import Blueprint, current_app, render_template_string, request, url_for
from flask_wtf.csrf import generate_csrf

from geogrid.access import ROLE_LABELS
from geogrid.maps import LayerSpec, MapAssets, base_map, commander_map, level_style
from geogrid.patrol.compliance import COLOURS as COMPLIANCE_COLOURS
from geogrid.patrol.compliance import PatrolRule
from geogrid.reports import ReportQuery
from geogrid.workflow import STATUS_LABELS, STATUSES
from web.access import principal, requires, visible_codes, visible_grid
from web.geojson import grid_features
from web.state import hierarchy, now, store, zone
from web.texts import language, texts
from web.tiles import level_zooms
from web.work_texts import map_texts

blueprint = Blueprint("pages", __name__)
#: Markers of single reports are drawn from this zoom level on (a few streets).
MARKER_ZOOM = 16


@blueprint.get("/")
@requires("report.read")
def commander():
    """The commander's map: levels, heat map, per-grid counts, reports, filters."""
    h = hierarchy()
    words = {**texts(), **map_texts()}  # the 预警 layer's words come with the work pages'
    shown = h.levels.index(h.default_level)  # levels down to the default one show at first
    in_scope = _levels_in_scope(h)
    zooms = level_zooms(h)  # the big levels come as vector tiles, each from its legible zoom
    layers = [LayerSpec(key, h.level(key).label, url_for("api.level_grids", key=key),
                        show=depth <= shown and h.level(key).coverage == "full"
                        and key in in_scope,
                        tiles=_tile_url(key) if zooms[key]["tiled"] else None,
                        min_zoom=zooms[key]["minZoom"])
              for depth, key in enumerate(h.levels)]  # fmt: skip
    fmap = commander_map(layers, _first_view(h), _title(words), _config(h, words),
                         scripts=_scripts(), styles=_styles(), assets=map_assets())  # fmt: skip
    return _html(fmap, f"{store().active_generation().label} · {words['title']}")


def _tile_url(key: str) -> str:
    """The level's tile URL template; Flask would quote the braces of ``{z}``."""
    return url_for("tiles.level_tile", level=key, z=0, x=0, y=0).replace(
        "/0/0/0.mvt", "/{z}/{x}/{y}.mvt"
    )


def _levels_in_scope(h) -> set[str]:
    """Levels with a grid in scope: a grid worker's map shows no empty street layer."""
    covered = visible_codes(h)
    return {key for key in h.levels
            if covered is None or h.grids(key)["code"].isin(covered).any()}  # fmt: skip


def _first_view(h):
    """The bounds the map opens on: the principal's grids, else the whole district."""
    covered = visible_codes(h)
    for key in h.levels if covered is not None else ():
        frame = h.grids(key)
        mine = frame[frame["code"].isin(covered)]
        if len(mine):
            return mine.total_bounds
    return h.grids(h.levels[0]).total_bounds


def _title(words: dict) -> str:
    generation = store().active_generation()
    other = "en" if language() == "zh" else "zh"
    link = url_for("pages.commander", lang=other)
    return (
        f"<b>{escape(generation.label)}</b> · {words['title']} "
        f"<small>({words['generation']} #{generation.id})</small>"
        f"<a href='{link}'>{words['other_language']}</a>{user_box()}"
    )


def user_box() -> str:
    """The signed-in user (display name, role) and a sign-out button; empty for visitors."""
    who = principal()
    if not who.signed_in:
        return ""
    zh, en = ROLE_LABELS.get(who.role or "", (who.role or "", who.role or ""))
    role = zh if language() == "zh" else en
    sign_out = "退出" if language() == "zh" else "Sign out"
    return (
        f"<form class='geogrid-user' method='post' action='{url_for('accounts.logout')}'>"
        f"<span>{escape(who.display_name or who.name)} · {escape(role)}</span> "
        f"<input type='hidden' name='csrf_token' value='{generate_csrf()}'>"
        f"<button type='submit'>{sign_out}</button></form>"
    )


def _config(h, words: dict) -> dict:
    categories = store().categories
    lang = language()
    name = (lambda c: c.zh) if lang == "zh" else (lambda c: c.en)
    return {
        "api": url_for("api.openapi").rsplit("/", 1)[0], "texts": words, "lang": lang,
        # Sent as X-CSRFToken with every change the page makes (a session's changes need it).
        "csrfToken": generate_csrf(),
        "choroplethLevel": h.default_level,
        # The levels drawn from vector tiles: the choropleth, risk and hot spots of the
        # default level colour its tiles by code when it is one of them.
        "tiledLevels": {key: {"url": _tile_url(key), "minZoom": z["minZoom"],
                              "depth": h.levels.index(key)}
                        for key, z in level_zooms(h).items() if z["tiled"]},
        "markerZoom": MARKER_ZOOM, "gridPage": url_for("pages.grid", code="") ,
        "workPage": url_for("pages.work"),  # the 预警 marks and the queue link lead there
        "patrolMaxDays": current_app.config["PATROL_MAX_DAYS"],
        # The server's clock and the district's zone: the page's "now" and "today".
        "now": round(now().timestamp() * 1000), "zone": zone().key,
        # The compliance layer's colours come from the library; its legend shows the same.
        "complianceColours": {k: COMPLIANCE_COLOURS[k] for k in ("met", "partly", "short",
                                                                 "never")},
        "patrolRequired": PatrolRule().required_per_day,
        "categories": [{"code": c.code, "name": name(c)} for c in categories.roots()],
        "categoryNames": {c.code: name(c) for c in categories},
        "statuses": [{"key": s, "name": STATUS_LABELS[s][0 if lang == "zh" else 1]}
                     for s in STATUSES],
    }  # fmt: skip


def _scripts() -> list[str]:
    return [url_for("static", filename="vendor/leaflet.markercluster/leaflet.markercluster.js"),
            url_for("static", filename="vendor/leaflet.heat/leaflet-heat.js"),
            url_for("static", filename="commander.js")]  # fmt: skip


def _styles() -> list[str]:
    return [url_for("static", filename="vendor/leaflet.markercluster/MarkerCluster.css"),
            url_for("static", filename="vendor/leaflet.markercluster/MarkerCluster.Default.css"),
            url_for("static", filename="geogrid.css")]  # fmt: skip


def _html(fmap: folium.Map, title: str) -> str:
    """The page, in the reader's language, with the browser tab's title."""
    lang = "zh-CN" if language() == "zh" else "en"
    root = fmap.get_root()
    root.header.add_child(folium.Element(f"<title>{escape(title)}</title>"))
    return root.render().replace("<html>", f'<html lang="{lang}">', 1)


def map_assets() -> MapAssets:
    """Leaflet from this server's own static files; tiles as configured."""
    tiles = current_app.config["TILES"]
    return MapAssets(
        leaflet_js=url_for("static", filename="vendor/leaflet/leaflet.js"),
        leaflet_css=url_for("static", filename="vendor/leaflet/leaflet.css"),
        vector_tiles_js=url_for("static", filename="vendor/protomaps-leaflet/protomaps-leaflet.js"),
        tiles=None if tiles.lower() == "none" else tiles,
        attribution=current_app.config["TILES_ATTRIBUTION"] or None,
    )


# --- a grid's page ---------------------------------------------------------------------------

PANEL = """
<div class="geogrid-box geogrid-panel">
  {{ user | safe }}
  <p><a href="{{ back }}">← {{ t.back }}</a></p>
  <h3>{{ name }} <small><code>{{ code }}</code></small></h3>
  <p>{{ t.level }}: {{ level }} · {{ t.households }}: {{ households }}
     · {{ t.population }}: {{ population }}</p>
  <p>{{ t.open }}: <b>{{ counts.open }}</b> · {{ t.overdue }}:
     <b class="overdue">{{ counts.overdue }}</b> · {{ t.total }}: {{ counts.total }}</p>
  {% if children %}<h4>{{ t.children }}</h4><table>
  <tr><th></th><th>{{ t.open }}</th><th>{{ t.overdue }}</th><th>{{ t.total }}</th></tr>
  {% for c in children %}<tr><td><a href="{{ c.url }}">{{ c.name }}</a></td>
  <td>{{ c.open }}</td><td>{{ c.overdue }}</td><td>{{ c.total }}</td></tr>{% endfor %}
  </table>{% endif %}
  <h4>{{ t.recent }} ({{ page.total }})</h4>
  {% if not page.items %}<p>{{ t.no_reports }}</p>{% endif %}
  <table>{% for r in page.items %}<tr><td>#{{ r.id }}</td>
  <td>{{ r.received_at.strftime("%Y-%m-%d %H:%M") }}</td><td>{{ categories[r.category] }}</td>
  <td>{{ statuses[r.status] }}</td></tr>{% endfor %}</table>
</div>
"""


@blueprint.get("/grids/<code>")
@requires("report.read")
def grid(code: str):
    """A grid: its boundary and children on a map, its counts, its recent reports."""
    h = hierarchy()
    level, row = h.find(code)
    visible_grid(code, h)
    words = texts()
    fmap = base_map(row.total_bounds, map_assets())
    folium.GeoJson({"type": "FeatureCollection", "features": grid_features(row, level)},
                   style_function=lambda _: level_style(0)).add_to(fmap)  # fmt: skip
    below, kids = h.children(code)
    if len(kids):
        folium.GeoJson({"type": "FeatureCollection", "features": grid_features(kids, "")},
                       style_function=lambda _: level_style(2, fill=True),
                       tooltip=folium.GeoJsonTooltip(["name", "code"])).add_to(fmap)  # fmt: skip
    panel = render_template_string(PANEL, **_panel(h, level, row, code, (below, kids), words))
    root = fmap.get_root()
    root.header.add_child(folium.CssLink(url_for("static", filename="geogrid.css")))
    root.html.add_child(folium.Element(panel))
    name = row.iloc[0]["name"] or code
    return _html(fmap, f"{name} {code} · {store().active_generation().label}")


def _panel(h, level, row, code, children, words) -> dict:
    lang = language()
    below, kids = children
    counts = store().count_by_grid(level, ReportQuery(grid=code))
    totals = counts.iloc[0].to_dict() if len(counts) else {"open": 0, "overdue": 0, "total": 0}
    child_counts = {}
    if len(kids):
        child_counts = store().count_by_grid(below, ReportQuery(grid=code)).set_index("code")
    record = row.iloc[0]
    return {
        "t": words, "code": code, "name": record["name"] or code, "level": h.level(level).label,
        "user": user_box(),
        "households": record.get("households", "—"), "population": record.get("population", "—"),
        "counts": totals, "back": url_for("pages.commander", lang=request.args.get("lang")),
        "children": [_child(c, child_counts, lang) for c in kids.itertuples()],
        "page": store().find_reports(ReportQuery(grid=code, limit=50)),
        "categories": {c.code: c.zh if lang == "zh" else c.en for c in store().categories},
        "statuses": {s: STATUS_LABELS[s][0 if lang == "zh" else 1] for s in STATUSES},
    }  # fmt: skip


def _child(child, counts, lang: str) -> dict:
    found = counts.loc[child.code] if len(counts) and child.code in counts.index else None
    numbers = {k: (int(found[k]) if found is not None else 0) for k in ("open", "overdue", "total")}
    return {"name": child.name or child.code, "url": url_for("pages.grid", code=child.code,
                                                            lang=lang if lang == "en" else None),
            **numbers}  # fmt: skip
