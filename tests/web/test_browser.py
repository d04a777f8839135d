"""The pages in a real browser: headless Chromium (Playwright) against the app over real HTTP.

Chromium is Debian's (``/usr/bin/chromium``), never one Playwright downloads. Without
it these tests skip on a developer's machine and fail under CI (``CI=true``).
The app serves no base map tiles (``TILES="none"``), so a page loads nothing from
outside and any request that fails is the app's fault.

No test depends on the day it runs: every page's clock starts at :data:`PAGE_NOW` in
China time, and the days the tests store and pick are fixed around it.

The screenshots in ``docs/`` come from :func:`test_screenshots_of_the_sample_district`;
it writes them there only with ``GEOGRID_TEST_SCREENSHOTS=1`` (otherwise into a temporary
folder), so an ordinary test run leaves the tree clean.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from geogrid.clock import fixed_clock
from geogrid.reports import NewReport
from tests.conftest import SOUTH, STEP, WEST, write_tiny_district
from tests.web.conftest import NOW, auth_header, served, signed_in_as_admin, tiny_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
VIEWPORT = {"width": 1280, "height": 800}
#: "Now" for every page, the same moment the test apps' clock reads: the map's default
#: day and its week-by-week slices start from it.
PAGE_NOW = NOW.astimezone(ZoneInfo("Asia/Shanghai"))
DOCS = Path(__file__).resolve().parents[2] / "docs"
SAMPLE_MANIFEST = Path(__file__).resolve().parents[2] / "data" / "boundaries" / "sample.toml"
MAP = "window[window.GEOGRID.map]"
#: The commander's map is ready: every level layer shown has its features and the
#: first refresh of heat map, choropleth and markers has finished.
READY = """() => window.GEOGRID && window.geogridLayers && document.body.dataset.loading === "false"
    && Object.values(window.geogridLayers).every(layer =>
        !window[window.GEOGRID.map].hasLayer(layer) || layer.getLayers().length > 0)"""
#: What a pane shows: painted canvas pixels, or SVG paths (whichever renderer draws it).
DRAWN = """pane => {
    const element = window[window.GEOGRID.map].getPane(pane);
    let painted = element.querySelectorAll("path").length;
    for (const canvas of element.querySelectorAll("canvas")) {
        const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 3; i < pixels.length; i += 4) { if (pixels[i]) { painted++; } }
    }
    return painted;
}"""
#: The heat map's points and the choropleth's fill per grid code (null: unfilled).
OVERLAYS = """() => {
    const map = window[window.GEOGRID.map], levels = Object.values(window.geogridLayers);
    const found = {heat: null, fills: {}};
    map.eachLayer(layer => {
        if (window.L.HeatLayer && layer instanceof window.L.HeatLayer) {
            found.heat = layer._latlngs.map(p => p.join(","));
        } else if (layer instanceof window.L.GeoJSON && !levels.includes(layer)) {
            layer.eachLayer(grid => {  // the choropleth's polygons, not patrol routes' lines
                if (!grid.feature.geometry.type.endsWith("Polygon")) { return; }
                found.fills[grid.feature.properties.code] =
                    grid.options.fillOpacity > 0 ? grid.options.fillColor : null;
            });
        }
    });
    return found;
}"""


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, one per module."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is required under CI: {CHROMIUM} is missing")
        pytest.skip(f"no Chromium here: {CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Problems(list):
    """Everything that went wrong on a page: JS errors, console errors, failed requests."""

    def __init__(self, page):
        super().__init__()
        page.on("pageerror", lambda error: self.append(f"JS error: {error}"))
        page.on("console", self._console)
        page.on("requestfailed", lambda r: self.append(f"failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and self.append(f"{r.status}: {r.url}"))

    def _console(self, message) -> None:
        source = message.location.get("url", "")
        # The pages declare no icon, so Chromium asks for /favicon.ico and gets a 404.
        if source.endswith("/favicon.ico"):
            return
        # commander.js reports a refresh that failed as a warning, then carries on.
        if message.type == "error" or (message.type == "warning" and "commander.js" in source):
            self.append(f"console {message.type}: {message.text} ({source})")


@pytest.fixture
def page(browser, request):
    """A page in a new browser context; with the test's ``app``, it sends the admin token."""
    with new_page(browser) as opened:
        if "app" in request.fixturenames:
            opened.set_extra_http_headers(auth_header(request.getfixturevalue("app")))
        yield opened


@pytest.fixture
def visitor(browser):
    """A page that sends no credentials: it signs in through /login, as people do."""
    with new_page(browser) as opened:
        yield opened


@contextmanager
def new_page(browser):
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    opened = context.new_page()
    opened.clock.install(time=PAGE_NOW)  # the clock runs on from there, timers as usual
    opened.set_default_timeout(15_000)
    opened.problems = Problems(opened)
    try:
        yield opened
    finally:
        context.close()


#: Grids with open reports in :func:`reports`.
WITH_REPORTS = {"101", "103", "202", "204"}


@pytest.fixture
def reports(filled):
    """:func:`filled`'s four reports and 9 more: 6 disputes in grid 103, 3 fires in 202.

    Per grid, open: 101 → 2 (a dispute, a fire), 103 → 6, 202 → 3, 204 → 1; fires only:
    101 → 1, 202 → 3.
    """
    more = [NewReport("dispute.family", WEST + STEP * (1.2 + 0.1 * i), SOUTH + 0.3 * STEP,
                      source="resident", external_id=f"d-{i}") for i in range(6)]  # fmt: skip
    more += [NewReport("fire.lane", WEST + STEP * (2.2 + 0.2 * i), SOUTH + 1.5 * STEP,
                       source="grid_worker", external_id=f"f-{i}") for i in range(3)]  # fmt: skip
    filled.add_reports(more, actor="test")
    return filled


def open_map(page, url: str) -> None:
    """Open the commander's map and wait until it is ready."""
    page.goto(url)
    wait_until_ready(page)


def wait_until_ready(page, seconds: float = 15) -> None:
    """Wait until the commander's map is ready; fail at once on a page error."""
    from playwright.sync_api import TimeoutError as Timeout

    deadline = time.monotonic() + seconds
    while True:
        try:
            page.wait_for_function(READY, timeout=250)
            return
        except Timeout:
            if page.problems or time.monotonic() > deadline:
                pytest.fail(f"{page.url} did not get ready: {page.problems or 'timeout'}")


def screen_point(page, lat: float, lon: float) -> tuple[float, float]:
    """Where a place is on the screen (page coordinates, for the mouse)."""
    return tuple(page.evaluate(f"""([lat, lon]) => {{
        const point = {MAP}.latLngToContainerPoint([lat, lon]);
        const box = {MAP}.getContainer().getBoundingClientRect();
        return [point.x + box.left, point.y + box.top];
    }}""", [lat, lon]))  # fmt: skip


#: The properties of the GeoJSON features on the map whose ``key`` is ``value``.
FEATURES = f"""((key, value) => {{
    const found = [];
    {MAP}.eachLayer(l => {{ if (l.feature && l.feature.properties[key] === value)
                              found.push(l.feature.properties); }});
    return found;
}})"""


def features_shown(page, key: str, value: str) -> int:
    return page.evaluate(f"([key, value]) => {FEATURES}(key, value).length", [key, value])


def shown(page, name: str) -> bool:
    return page.evaluate(f"name => {MAP}.hasLayer(window.geogridLayers[name])", name)


def coloured(overlays: dict) -> set[str]:
    """Codes of the grids the choropleth fills."""
    return {code for code, fill in overlays["fills"].items() if fill}


# --- the commander's map ---------------------------------------------------------------------


def test_commander_map_loads_every_level_and_overlay_without_errors(page, live_server, reports):
    requests = []
    page.on("requestfinished", lambda r: requests.append(r.url.removeprefix(live_server)))
    open_map(page, live_server + "/")
    levels = json.load(urllib.request.urlopen(live_server + "/api/levels"))["levels"]
    sizes = page.evaluate("() => Object.fromEntries(Object.entries(window.geogridLayers)"
                          ".map(([name, layer]) => [name, layer.getLayers().length]))")  # fmt: skip
    assert sizes == {f"{lv['label']} {lv['key']}": lv["grids"] for lv in levels}
    assert all(shown(page, name) for name in sizes)
    overlays = page.evaluate(OVERLAYS)
    assert len(overlays["heat"]) >= 3  # cells around 101, 103, 202 and 204
    assert coloured(overlays) == WITH_REPORTS
    assert any(url.startswith("/api/heat?") for url in requests)
    assert any(url.startswith("/api/stats?level=grid") for url in requests)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.problems == []


def test_level_layers_toggle_from_the_layer_control(page, live_server, reports):
    open_map(page, live_server + "/")
    checkbox = page.get_by_label("网格 grid", exact=True)
    pane = page.evaluate("() => window.geogridLayers['网格 grid'].options.pane")
    assert checkbox.is_checked() and page.evaluate(DRAWN, pane) > 0
    checkbox.click()
    assert not checkbox.is_checked() and not shown(page, "网格 grid")
    page.wait_for_function(f"() => ({DRAWN})({json.dumps(pane)}) === 0")
    assert shown(page, "街道 street")
    checkbox.click()
    assert checkbox.is_checked() and shown(page, "网格 grid")
    page.wait_for_function(f"() => ({DRAWN})({json.dumps(pane)}) > 0")
    assert page.problems == []


def test_overlays_toggle_and_come_back_fresh(page, live_server, reports):
    open_map(page, live_server + "/")
    heat = page.get_by_label("热力图", exact=True)
    heat.click()
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 0
    with page.expect_request(lambda r: "/api/heat?" in r.url):
        heat.click()
    page.wait_for_function("() => document.body.dataset.loading === 'false'")
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
    assert page.problems == []


def test_risk_and_density_overlays_load_when_switched_on(page, live_server, reports):
    open_map(page, live_server + "/")
    with page.expect_response(lambda r: "/api/analysis/risk?" in r.url) as risk:
        page.get_by_label("四色风险", exact=True).click()
    assert risk.value.status == 200
    page.wait_for_function("() => document.querySelectorAll('path.leaflet-interactive').length > 0")
    colours = risk.value.json()["counts"]
    assert sum(colours.values()) == 8  # every grid of the tiny district has a colour
    with page.expect_response(lambda r: "/api/analysis/heat.png?" in r.url) as png:
        page.get_by_label("核密度", exact=True).click()
    assert png.value.status == 200 and png.value.headers["content-type"] == "image/png"
    page.wait_for_function("() => document.body.dataset.loading === 'false'")
    assert page.problems == []


def test_hot_spots_and_the_week_by_week_animation(page, live_server, reports):
    open_map(page, live_server + "/")
    with page.expect_response(lambda r: "/api/analysis/hotspots?" in r.url) as spots:
        page.get_by_label("冷热点 Gi*", exact=True).click()
    assert spots.value.status == 200 and spots.value.json()["count"] == 8
    with page.expect_response(lambda r: "/api/analysis/hexagons/slices?" in r.url) as slices:
        page.get_by_label("逐周变化", exact=True).click()
    assert slices.value.status == 200
    page.wait_for_function("() => document.getElementById('p-label').textContent.length > 0")
    page.locator("#p-slider").fill("0")
    assert page.locator("#p-label").inner_text().count("–") == 1
    page.wait_for_function("() => document.body.dataset.loading === 'false'")
    assert page.problems == []


#: The legends on screen: each one's layer key and its text.
LEGENDS = """() => Object.fromEntries(
    [...document.querySelectorAll(".geogrid-legend [data-legend]")]
    .filter(section => section.offsetParent !== null)
    .map(section => [section.dataset.legend, section.innerText]))"""
#: The colours of a legend's swatches, as "#rrggbb".
SWATCHES = """key => [...document.querySelectorAll(`.geogrid-legend [data-legend=${key}] i`)]
    .map(i => getComputedStyle(i).backgroundColor.match(/\\d+/g).slice(0, 3)
        .map(v => Number(v).toString(16).padStart(2, "0")).join(""))
    .map(hex => "#" + hex)"""
#: The fill colours of the grids on the map whose features have a property (the layer's own).
FILLS = f"""property => {{
    const fills = new Set();
    {MAP}.eachLayer(l => {{
        if (l.feature && property in l.feature.properties && l.options.fillOpacity > 0) {{
            fills.add(l.options.fillColor);
        }}
    }});
    return [...fills];
}}"""


def legends(page) -> dict[str, str]:
    return page.evaluate(LEGENDS)


def switch(page, label: str) -> None:
    """Click a layer on or off in the layer switch and wait for the map to settle."""
    page.get_by_label(label, exact=True).click()
    page.wait_for_function("() => document.body.dataset.loading === 'false'")


def test_each_layer_shows_its_own_legend_while_it_is_on(page, live_server, reports):
    open_map(page, live_server + "/")
    assert "每网格事件数" in page.locator(".geogrid-legend").inner_text()
    switch(page, "网格事件数")
    assert "每网格事件数" not in page.locator("body").inner_text()  # its legend went with it
    switch(page, "网格事件数")
    shown = legends(page)
    assert {"heat", "choropleth"} <= set(shown) and "risk" not in shown
    assert "每网格事件数" in shown["choropleth"] and "热力图" in shown["heat"]
    # Open reports per grid: at most 6 (grid 103); each colour names the counts it stands for.
    assert shown["choropleth"].split() == ["每网格事件数", "1", "2", "3–4", "5", "6"]
    switch(page, "网格事件数")
    assert "choropleth" not in legends(page)
    switch(page, "热力图")
    assert "heat" not in legends(page)

    switch(page, "四色风险")
    risk = legends(page)["risk"]
    assert all(word in risk for word in ("红 重大", "橙 较大", "黄 一般", "蓝 低"))
    page.wait_for_function(f"() => ({FILLS})('colour_zh').length > 0")
    assert set(page.evaluate(FILLS, "colour_zh")) <= set(page.evaluate(SWATCHES, "risk"))
    switch(page, "四色风险")
    assert "risk" not in legends(page)

    switch(page, "冷热点 Gi*")
    spots = legends(page)["spots"]
    assert all(f"{kind} {p}%" in spots for kind in ("热点", "冷点") for p in (90, 95, 99))
    switch(page, "冷热点 Gi*")
    switch(page, "核密度")
    page.wait_for_function(f"() => ({LEGENDS})().density?.includes('件/平方公里')")
    switch(page, "核密度")

    switch(page, "巡查达标")
    compliance = legends(page)["compliance"]
    assert "每天 3 次" in compliance and "从未巡查" in compliance
    page.wait_for_function(f"() => ({FILLS})('patrols').length > 0")
    assert set(page.evaluate(FILLS, "patrols")) <= set(page.evaluate(SWATCHES, "compliance"))
    switch(page, "巡查达标")
    assert "compliance" not in legends(page)
    assert page.problems == []


def test_the_legends_speak_english_on_the_english_map(page, live_server, reports):
    open_map(page, live_server + "/?lang=en")
    switch(page, "Four-colour risk")
    switch(page, "Hot spots (Gi*)")
    shown = legends(page)
    assert "Reports per grid" in shown["choropleth"]
    assert all(word in shown["risk"] for word in ("red: major", "orange: considerable",
                                                  "yellow: general", "blue: low"))  # fmt: skip
    assert "hot spot 99 %" in shown["spots"] and "not significant" in shown["spots"]
    assert not any("红" in text or "热点" in text for text in shown.values())
    assert page.problems == []


def test_uploading_gps_tracks_shows_them_and_patrol_compliance(page, live_server, reports):
    open_map(page, live_server + "/")
    track = Path(__file__).parents[1] / "patrol" / "data" / "two_sides.gpx"
    with page.expect_response(lambda r: "/api/patrol/compliance?" in r.url) as result:
        page.locator("#g-gpx").set_input_files(str(track))
    assert result.value.status == 200
    layer = result.value.json()
    assert any(f["properties"]["code"] == "101" and f["properties"]["patrols"] >= 1
               for f in layer["features"])  # fmt: skip
    page.wait_for_function("() => document.querySelectorAll('path.leaflet-interactive').length > 8")
    assert page.locator("#g-status").inner_text() == ""
    assert page.problems == []


def store_patrols(store, day: str, worker: str, hours=(8, 14)) -> None:
    """Patrols around grid 101 on ``day`` (China time), one a given hour."""
    from geogrid.patrol.gpx import parse_gpx
    from tests.patrol import AROUND_101, gpx_text, walk_points

    walks = [("巡", walk_points(AROUND_101, f"{day}T{hour:02d}:00:00+08:00")) for hour in hours]
    store.add_tracks(parse_gpx(gpx_text(walks, author=worker)))


def test_stored_tracks_and_their_compliance_show_for_the_chosen_days(page, live_server, reports):
    store_patrols(reports, "2026-11-20", "张三")  # 16 days before PAGE_NOW
    open_map(page, live_server + "/")
    with page.expect_response(lambda r: "/api/patrol/tracks?" in r.url) as today:
        page.get_by_label("轨迹", exact=True).click()
    assert today.value.status == 200  # today's, by default: none stored
    assert "since=2026-12-06&until=2026-12-06" in today.value.url
    day = "since=2026-11-20&until=2026-11-20"
    with page.expect_response(lambda r: f"/api/patrol/compliance?format=geojson&{day}" in r.url):
        page.locator("#f-since").fill("2026-11-20")
        page.locator("#f-until").fill("2026-11-20")
    page.wait_for_function("() => document.getElementById('g-status').textContent === ''")
    assert features_shown(page, "worker", "张三") == 2
    page.get_by_label("巡查达标", exact=True).click()
    page.wait_for_function(f"() => {FEATURES}('code', '101').some(p => p.patrols === 2)")
    assert page.problems == []


def test_a_long_period_shows_its_last_days_of_patrols_and_says_so(page, live_server, reports):
    store_patrols(reports, "2026-11-20", "张三")
    store_patrols(reports, "2026-11-28", "李四")
    open_map(page, live_server + "/")
    with page.expect_response(lambda r: "/api/patrol/tracks?" in r.url):
        page.get_by_label("轨迹", exact=True).click()
    last_week = "format=geojson&since=2026-11-24&until=2026-11-30"
    with page.expect_response(lambda r: f"/api/patrol/compliance?{last_week}" in r.url):
        page.locator("#f-since").fill("2026-11-01")
        page.locator("#f-until").fill("2026-11-30")
    status = page.locator("#g-status")
    expect(status).to_have_text("轨迹和巡查达标一次最多显示 7 天，现显示 2026-11-24 至 2026-11-30")
    assert features_shown(page, "worker", "李四") == 2
    assert features_shown(page, "worker", "张三") == 0
    assert page.problems == []

    open_map(page, live_server + "/?lang=en")
    page.get_by_label("Tracks", exact=True).click()
    page.locator("#f-since").fill("2026-11-01")  # until: today, 2026-12-06
    expect(status).to_have_text(
        "Tracks and compliance show at most 7 days at once: showing 2026-11-30 to 2026-12-06. "
        "No stored tracks on the chosen days"
    )
    assert page.problems == []


def test_dates_out_of_order_or_half_typed_are_named_and_not_asked_for(page, live_server, reports):
    asked = []
    page.on("request", lambda r: asked.append(r.url))
    open_map(page, live_server + "/")
    for layer in ("轨迹", "冷热点 Gi*"):  # both refuse a period that ends before it starts
        page.get_by_label(layer, exact=True).click()
    page.wait_for_function("() => document.body.dataset.loading === 'false'")
    problem = page.locator("#f-problem")
    page.locator("#f-since").fill("2026-11-20")
    page.locator("#f-until").fill("2026-11-10")
    page.wait_for_function("() => document.body.dataset.loading === 'false'")
    assert page.problems == []
    expect(problem).to_have_text("止日期早于起日期")
    assert not [url for url in asked if "until=2026-11-1" in url]

    page.locator("#f-until").press("Backspace")  # one part of the date cleared while typing
    expect(problem).to_have_text("止：日期未填完或无效")
    page.locator("#f-until").fill("0002-11-25")  # the year's first digit typed
    expect(problem).to_have_text("止：日期未填完或无效")
    with page.expect_response(lambda r: "since=2026-11-20&until=2026-11-25" in r.url) as tracks:
        page.locator("#f-until").fill("2026-11-25")
    assert tracks.value.status == 200
    expect(problem).to_have_text("")
    page.wait_for_function("() => document.body.dataset.loading === 'false'")
    assert not [url for url in asked if "0002" in url or "until=&" in url or url.endswith("until=")]
    assert page.problems == []


def test_the_until_day_counts_whole_on_the_report_layers(page, live_server, reports):
    open_map(page, live_server + "/")
    with page.expect_request(lambda r: "/api/stats?" in r.url and "until=" in r.url) as stats:
        page.locator("#f-until").fill("2026-11-20")
    assert "until=2026-11-21" in stats.value.url  # the API's until is a moment: the day after
    page.wait_for_function("() => document.body.dataset.loading === 'false'")
    assert page.problems == []


def test_clicking_inside_a_grid_shows_its_popup_with_code_and_counts(page, live_server, reports):
    open_map(page, live_server + "/")
    with page.expect_response(lambda r: "/api/stats/101?" in r.url) as stats:
        page.mouse.click(*screen_point(page, SOUTH + 0.005, WEST + 0.005))
    assert "status=received" in stats.value.url  # the popup counts what the filters show
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    text = popup.inner_text()
    assert "第1网格" in text and "101" in text and "户数: 400" in text
    assert "未结案: 2" in text and "超期: 0" in text and "总数: 2" in text
    assert popup.get_by_role("link").get_attribute("href").endswith("/grids/101")
    assert page.problems == []


def test_category_filter_changes_heat_map_and_choropleth(page, live_server, reports):
    open_map(page, live_server + "/")
    before = page.evaluate(OVERLAYS)
    with (page.expect_request(lambda r: "/api/heat?" in r.url) as heat,
          page.expect_request(lambda r: "/api/stats?" in r.url) as stats):  # fmt: skip
        page.select_option("#f-category", "fire")
    assert "category=fire" in heat.value.url and "category=fire" in stats.value.url
    page.wait_for_function("() => document.body.dataset.loading === 'false'")
    after = page.evaluate(OVERLAYS)
    assert coloured(before) == WITH_REPORTS and coloured(after) == {"101", "202"}
    assert after["heat"] != before["heat"] and 0 < len(after["heat"]) < len(before["heat"])
    assert page.problems == []


def test_english_switch(page, live_server, reports):
    open_map(page, live_server + "/")
    page.get_by_role("link", name="English").click()
    page.wait_for_url("**/?lang=en")
    wait_until_ready(page)
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Grid map" in page.locator("#geogrid-title").inner_text()
    assert page.locator("#geogrid-title a").inner_text() == "中文"
    filters = page.locator(".geogrid-filters").inner_text()
    assert "Filters" in filters and "Category" in filters and "Status" in filters
    assert "Fire safety" in page.locator("#f-category").inner_text()
    for label in ("Heat map", "Reports per grid", "Reports"):
        assert page.get_by_label(label, exact=True).is_checked()
    assert "Reports per grid" in page.locator(".geogrid-legend").inner_text()
    assert "筛选" not in page.locator("body").inner_text()
    assert page.problems == []


#: A district whose levels have other keys and no labels, as a planner may write it.
UNLABELLED = """\
name = "Unlabelled district"
crs = "EPSG:4326"
[[level]]
key = "borough"
path = "streets.geojson"
code = "code"
name = "name"
[[level]]
key = "msoa"
path = "grids.gpkg#grids"
code = "code"
name = "name"
parent = "street"
"""


def test_levels_without_labels_are_named_once_in_the_layer_switch(page, tmp_path):
    manifest = write_tiny_district(tmp_path / "district", UNLABELLED)
    app = tiny_app(tmp_path, manifest)
    page.set_extra_http_headers(auth_header(app))
    with served(app) as base:
        open_map(page, base + "/")
        switch = page.locator(".leaflet-control-layers-overlays label")
        names = [name.strip() for name in switch.all_inner_texts()]
        assert names[:2] == ["borough", "msoa"]
        assert page.get_by_label("msoa", exact=True).is_checked()
        assert page.problems == []


# --- a grid's page ---------------------------------------------------------------------------


def test_grid_page_lists_its_children(page, live_server, reports):
    page.goto(live_server + "/grids/1")
    page.wait_for_load_state("networkidle")
    panel = page.locator(".geogrid-panel")
    assert "东街道" in panel.locator("h3").inner_text()
    rows = panel.locator("table").first.locator("tr")
    children = {rows.nth(i).locator("td").first.inner_text(): rows.nth(i).locator("td").nth(1)
                .inner_text() for i in range(1, rows.count())}  # fmt: skip
    assert children == {"第1网格": "2", "第2网格": "0", "第3网格": "6", "第4网格": "0"}
    link = panel.get_by_role("link", name="第3网格")
    assert link.get_attribute("href").endswith("/grids/103")
    assert page.locator(".leaflet-overlay-pane path, .leaflet-overlay-pane canvas").count() > 0
    link.click()
    page.wait_for_load_state("networkidle")
    assert "第3网格" in page.locator(".geogrid-panel h3").inner_text()
    assert page.problems == []


# --- people: signing in, and each sees its scope ---------------------------------------------

PASSWORD = "correct horse battery"
#: The codes of the grids each level layer of the map holds.
LAYER_CODES = """() => Object.fromEntries(Object.entries(window.geogridLayers).map(
    ([name, layer]) => [name, layer.getLayers().map(l => l.feature.properties.code).sort()]))"""


def add_person(store, name: str, role: str, scope: list[str], display_name: str) -> None:
    store.accounts.add_user(name, role, scope, display_name=display_name, password=PASSWORD,
                            actor="test")  # fmt: skip


def sign_in(page, base: str, name: str, password: str = PASSWORD) -> None:
    """Open the map, get sent to the sign-in page, and sign in there."""
    page.goto(base + "/")
    page.wait_for_url("**/login?**")
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def test_the_sign_in_page_speaks_chinese_links_english_and_refuses_a_wrong_password(
    visitor, live_server, store
):
    add_person(store, "li.si", "commander", ["1"], "李四")
    sign_in(visitor, live_server, "li.si", "wrong password")
    expect(visitor.get_by_role("alert")).to_have_text("用户名或密码错误，或账号已停用")
    assert visitor.locator("html").get_attribute("lang") == "zh-CN"
    refused = [p for p in visitor.problems if "401" in p and "/login?" in p]
    assert refused and visitor.problems == refused  # the refusal itself (no CSP violation)
    visitor.problems.clear()
    visitor.get_by_role("link", name="English").click()
    expect(visitor.get_by_role("button", name="Sign in")).to_be_visible()
    assert visitor.locator("html").get_attribute("lang") == "en"
    assert visitor.problems == []


def test_a_street_commander_sees_its_street_and_uploads_tracks(visitor, live_server, reports):
    add_person(reports, "li.si", "commander", ["1"], "李四")
    sign_in(visitor, live_server, "li.si")
    visitor.wait_for_url(live_server + "/")
    wait_until_ready(visitor)
    assert visitor.evaluate(LAYER_CODES) == {
        "街道 street": ["1"],
        "网格 grid": ["101", "102", "103", "104"],
    }
    assert coloured(visitor.evaluate(OVERLAYS)) == WITH_REPORTS & {"101", "103"}
    assert "李四 · 指挥中心" in visitor.locator("#geogrid-title").inner_text()
    track = Path(__file__).parents[1] / "patrol" / "data" / "two_sides.gpx"
    with visitor.expect_response(lambda r: "/api/patrol/compliance?" in r.url) as result:
        visitor.locator("#g-gpx").set_input_files(str(track))
    assert result.value.status == 200  # a session's change: sent with its CSRF token
    assert result.value.request.headers.get("x-csrftoken")
    assert visitor.problems == []


def test_a_grid_worker_sees_its_grid_and_signs_out(visitor, live_server, reports):
    from web.pages import MARKER_ZOOM

    add_person(reports, "zhang.san", "grid_worker", ["101"], "张三")
    sign_in(visitor, live_server, "zhang.san")
    visitor.wait_for_url(live_server + "/")
    wait_until_ready(visitor)
    assert visitor.evaluate(LAYER_CODES) == {"街道 street": [], "网格 grid": ["101"]}
    assert coloured(visitor.evaluate(OVERLAYS)) == {"101"}
    with visitor.expect_response(lambda r: "/api/reports.geojson?" in r.url) as markers:
        visitor.evaluate(
            f"([lat, lon, zoom]) => void {MAP}.setView([lat, lon], zoom, {{animate: false}})",
            [SOUTH + STEP, WEST + STEP, MARKER_ZOOM],
        )  # four grids meet here
    points = markers.value.json()
    assert points["numberMatched"] == 2
    assert {f["properties"]["codes"]["grid"] for f in points["features"]} == {"101"}
    visitor.wait_for_function("() => document.body.dataset.loading === 'false'")
    assert visitor.goto(live_server + "/grids/204").status == 404
    visitor.problems.clear()
    visitor.goto(live_server + "/")
    wait_until_ready(visitor)
    visitor.get_by_role("button", name="退出").click()
    visitor.wait_for_url("**/login")
    visitor.goto(live_server + "/")
    visitor.wait_for_url("**/login?**")  # signed out: the map is for signed-in users
    assert visitor.problems == []


# --- screenshots of the sample district -------------------------------------------------------


@pytest.fixture(scope="module")
def sample_server(tmp_path_factory):
    """The sample district with 5,000 generated reports, served on a free loopback port."""

    from geogrid.sample import sample_reports
    from web import create_app
    from web.state import store

    folder = tmp_path_factory.mktemp("sample")
    app = create_app({"STORE": f"sqlite:///{folder / 'sample.db'}", "CLOCK": fixed_clock(NOW),
                      "MANIFEST": str(SAMPLE_MANIFEST), "TILES": "none"})  # fmt: skip
    with app.app_context():
        reported = sample_reports(store().hierarchy(), 5000, end=PAGE_NOW)  # 90 days before
        store().add_reports(reported, actor="test")
    signed_in_as_admin(app)
    with served(app) as base:
        yield base, auth_header(app)


def settle(page) -> None:
    """Let the last drawing (heat map, canvases) reach the screen."""
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => "
                  "requestAnimationFrame(done)))")  # fmt: skip


def test_screenshots_of_the_sample_district(page, sample_server, tmp_path):
    from web.pages import MARKER_ZOOM

    sample_server, header = sample_server
    page.set_extra_http_headers(header)
    folder = DOCS if os.environ.get("GEOGRID_TEST_SCREENSHOTS") == "1" else tmp_path
    open_map(page, sample_server + "/")
    settle(page)
    page.screenshot(path=folder / "commander-map.png")

    open_map(page, sample_server + "/?lang=en")
    heat = json.load(urllib.request.urlopen(sample_server + "/api/heat?size=32"))
    lat, lon, _ = max(heat["points"], key=lambda point: point[2])
    with page.expect_response(lambda r: "/api/reports.geojson?" in r.url):
        page.evaluate(f"([lat, lon, zoom]) => void {MAP}.setView([lat, lon], zoom, "
                      "{animate: false})", [lat, lon, MARKER_ZOOM])  # fmt: skip
    page.wait_for_function("() => document.body.dataset.loading === 'false'")
    assert page.locator(".leaflet-marker-icon").count() > 10
    settle(page)
    page.screenshot(path=folder / "commander-map-en.png")

    counts = json.load(urllib.request.urlopen(sample_server + "/api/stats?level=community"))
    busiest = max(counts["grids"], key=lambda grid: grid["total"])["code"]
    page.goto(f"{sample_server}/grids/{busiest}")
    page.wait_for_load_state("networkidle")
    assert page.locator(".geogrid-panel table").first.locator("tr").count() > 2
    settle(page)
    page.screenshot(path=folder / "grid-page.png")
    assert page.problems == []
