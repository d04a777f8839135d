"""The commander's map drawing a level from vector tiles, in headless Chromium (no GPU).

The tiny district with ``TILED_LEVEL_GRIDS=4``: its grid level (8 grids, the default
level) comes as vector tiles, drawn by protomaps-leaflet on canvas; the streets stay
GeoJSON. Clicks, hovers and the choropleth must work as on a GeoJSON level.
"""

from __future__ import annotations

import time

import pytest

from geogrid.reports import NewReport
from tests.conftest import SOUTH, STEP, WEST
from tests.web.conftest import auth_header, tiny_app
from tests.web.test_browser import (  # noqa: F401 (fixtures, used by name)
    MAP,
    READY,
    browser,
    new_page,
    screen_point,
)

#: Every level drawn from tiles is drawn (or off, or below its zoom).
TILES_READY = f"""() => ({READY})() && Object.values(window.geogridTiledLayers || {{}})
    .concat(window.geogridTiles ? window.geogridTiles.layers : []).every(h => h.isReady())"""
#: The colour (RGBA) the choropleth painted at a place: its tile's canvas pixel there.
PAINTED = f"""([lat, lon]) => {{
    const map = {MAP}, zoom = map.getZoom(), at = map.project([lat, lon], zoom);
    const holder = window.geogridTiles.layers.filter(h => !h.geogrid.pickable
                                                          && map.hasLayer(h))[0];
    const key = [Math.floor(at.x / 256), Math.floor(at.y / 256), zoom].join(":");
    const tile = holder.geogrid.tiles._tiles[key].el, scale = tile.width / 256;
    const x = Math.floor((at.x % 256) * scale), y = Math.floor((at.y % 256) * scale);
    return Array.from(tile.getContext("2d").getImageData(x, y, 1, 1).data);
}}"""
GRID_103 = (SOUTH + 0.5 * STEP, WEST + 1.5 * STEP)  # 6 open reports: the busiest grid
GRID_201 = (SOUTH + 0.5 * STEP, WEST + 2.5 * STEP)  # none


@pytest.fixture
def app(tmp_path, tiny_manifest):
    return tiny_app(tmp_path, tiny_manifest, TILED_LEVEL_GRIDS=4)


@pytest.fixture
def tiled(browser, app):  # noqa: F811 (the fixture imported above)
    """A page sending the admin's token, over the app whose grid level is tiled."""
    with new_page(browser) as opened:
        opened.set_extra_http_headers(auth_header(app))
        yield opened


@pytest.fixture
def busy(filled):
    """Six more open reports in grid 103, three in 202: 103 is the busiest grid, 201 has none."""
    more = [NewReport("dispute.family", WEST + STEP * (1.2 + 0.1 * i), SOUTH + 0.3 * STEP,
                      source="resident", external_id=f"d-{i}") for i in range(6)]  # fmt: skip
    more += [NewReport("fire.lane", WEST + STEP * (2.2 + 0.2 * i), SOUTH + 1.5 * STEP,
                       source="grid_worker", external_id=f"f-{i}") for i in range(3)]  # fmt: skip
    filled.add_reports(more, actor="test")
    return filled


def open_tiled_map(page, url: str, seconds: float = 15) -> None:
    from playwright.sync_api import TimeoutError as Timeout

    page.goto(url)
    deadline = time.monotonic() + seconds
    while True:
        try:
            page.wait_for_function(TILES_READY, timeout=250)
            return
        except Timeout:
            if page.problems or time.monotonic() > deadline:
                pytest.fail(f"{page.url} did not get ready: {page.problems or 'timeout'}")


def test_a_tiled_level_is_drawn_and_its_grids_answer_clicks_and_hovers(tiled, live_server, busy):
    tiles = []
    tiled.on("response", lambda r: "/tiles/grid/" in r.url and tiles.append(r.status))
    open_tiled_map(tiled, live_server + "/")
    assert tiles and set(tiles) <= {200, 204} and 200 in tiles
    assert tiled.evaluate("() => Object.keys(window.geogridTiledLayers)") == ["网格 grid"]
    with tiled.expect_response(lambda r: "/api/stats/103?" in r.url):
        tiled.mouse.click(*screen_point(tiled, *GRID_103))
    popup = tiled.locator(".leaflet-popup-content")
    popup.wait_for()
    text = popup.inner_text()
    assert "第3网格" in text and "103" in text and "未结案: 6" in text and "总数: 6" in text
    tiled.mouse.move(*screen_point(tiled, *GRID_201))
    tiled.locator(".leaflet-tooltip", has_text="201").wait_for()
    assert tiled.problems == []


def test_the_choropleth_colours_the_tiled_default_level_by_code(tiled, live_server, busy):
    open_tiled_map(tiled, live_server + "/")
    busiest, empty = tiled.evaluate(PAINTED, GRID_103), tiled.evaluate(PAINTED, GRID_201)
    red, green, blue, alpha = busiest  # the ramp's darkest step, #a63603, at 65 %
    assert abs(red - 0xA6) <= 8 and abs(green - 0x36) <= 8 and blue <= 12 and 150 <= alpha <= 180
    assert empty[3] == 0
    tiled.get_by_label("网格事件数", exact=True).click()  # off and on: coloured again
    tiled.get_by_label("网格事件数", exact=True).click()
    tiled.wait_for_function(TILES_READY)
    assert tiled.evaluate(PAINTED, GRID_103)[3] > 0 and tiled.problems == []


def test_a_level_is_not_asked_for_below_its_zoom(tiled, live_server, app, busy):
    app.config["LEVEL_MIN_ZOOM"] = {"grid": 17}  # the tiny district opens at zoom 14
    tiles = []
    tiled.on("request", lambda r: "/tiles/" in r.url and tiles.append(r.url))
    open_tiled_map(tiled, live_server + "/")
    assert tiles == [] and tiled.evaluate(f"{MAP}.getZoom()") < 17
    with tiled.expect_request(lambda r: "/tiles/grid/16/" in r.url):
        tiled.evaluate(f"{MAP}.setView([{GRID_103[0]}, {GRID_103[1]}], 17, {{animate: false}})")
    tiled.wait_for_function(TILES_READY)
    assert all("/tiles/grid/16/" in url for url in tiles)
    assert tiled.problems == []
