"""Benchmark: the redraw studio in headless Chromium, paint strokes on a parent of ~2,000 units.

The district is bench_redraw_stroke.py's lattice: one community of ``--side`` × ``--side``
micro-grids of 40 m (45 × 45 = 2,025 by default) in grids of 5 × 5, with roads. It is
stored in a SQLite store in a temporary folder, a draft of the community is made, and
the app is served as ``python -m web`` serves it (Granian, one worker per CPU core, in a
child process; ``--server werkzeug``: Werkzeug's threaded server in this process).
Chromium opens /redraw on the draft, then makes ``--strokes`` strokes with the mouse:
select a grid in the palette, press on a unit of the grid next to it, drag over one to
three of its units, release.

Figures (ms, p50 and p99; no assertion on time):

- ``mouse-up → panel``: from the mouse-up event to the statistics panel redrawn from the
  edit's answer (the page's own ``window.redrawTimings``); the issue's aim: ≤ 100 ms;
- ``edit request``: the POST …/edit as the browser saw it (Resource Timing);
- ``page ready``: navigation to the draft drawn (once), and the draft's bytes.

    python bench/bench_redraw_page.py [--side 45] [--strokes 200] [--seed 0]
                                      [--server granian|werkzeug]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_redraw_stroke import BLOCK, lattice  # noqa: E402
from bench_web import WORKERS, Server  # noqa: E402

from geogrid.clock import fixed_clock  # noqa: E402
from geogrid.storage import open_store  # noqa: E402
from tests.web.conftest import NOW, served  # noqa: E402
from web import create_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
SETTLED = ("() => document.body.dataset.ready === 'true' && document.body.dataset.draft"
           " && document.body.dataset.busy === 'false'")  # fmt: skip
#: Screen points of a grid's units nearest another grid's centre.
NEAREST = """([from, towards, count]) => {
    const them = window.redrawDebug.unitPoints(from), us = window.redrawDebug.unitPoints(towards);
    const cx = us.reduce((s, p) => s + p[0], 0) / us.length;
    const cy = us.reduce((s, p) => s + p[1], 0) / us.length;
    return them.sort((a, b) => Math.hypot(a[0] - cx, a[1] - cy) - Math.hypot(b[0] - cx, b[1] - cy))
        .slice(0, count);
}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=45)
    parser.add_argument("--strokes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server", choices=["granian", "werkzeug"], default="granian")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app, token, draft = _app(Path(folder), args.side, args.seed)
        if args.server == "werkzeug":
            with served(app) as base:
                figures = _browse(base, token, draft, args)
        else:
            with Server(app.config["STORE"], Path(folder) / "server.log") as base:
                figures = _browse(base, token, draft, args)
    units = args.side * args.side
    server = f"Granian, {WORKERS} workers" if args.server == "granian" else "Werkzeug"
    print(f"redraw page: {units} units, {args.strokes} strokes ({server}, headless Chromium)")
    print(f"  page ready            {figures['ready_ms']:8.0f} ms   draft "
          f"{figures['draft_bytes'] / 1e6:.2f} MB")  # fmt: skip
    for name, values in (("mouse-up → panel", figures["panel"]),
                         ("edit request", figures["requests"])):  # fmt: skip
        print(f"  {name:<20} p50 {_pct(values, 50):6.1f} ms   p99 {_pct(values, 99):6.1f} ms   "
              f"(n={len(values)})")  # fmt: skip
    return 0


def _app(folder: Path, side: int, seed: int):
    url = f"sqlite:///{folder / 'bench.db'}"
    store = open_store(url)
    store.import_generation(lattice(side, seed), "lattice", activate=True)
    store.accounts.add_user("bench.planner", "planner", None, actor="bench")
    token = store.accounts.issue_token("bench.planner", days=1, actor="bench")[0]
    draft = store.drafts.create("bench", "grid", "C1", actor="bench.planner")
    store.close()
    app = create_app({"STORE": url, "TILES": "none", "CLOCK": fixed_clock(NOW)})
    return app, token, draft.id


def _browse(base: str, token: str, draft: int, args) -> dict:
    from playwright.sync_api import sync_playwright

    rng = np.random.default_rng(args.seed)
    grids = (args.side + BLOCK - 1) // BLOCK
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = chromium.new_page(viewport={"width": 1400, "height": 900})
        page.set_extra_http_headers({"Authorization": f"Bearer {token}"})
        started = time.perf_counter()
        page.goto(f"{base}/redraw?draft={draft}")
        page.wait_for_function(SETTLED, timeout=120_000)
        ready_ms = (time.perf_counter() - started) * 1000
        for _ in range(args.strokes):
            _stroke(page, rng, grids)
        panel = page.evaluate("window.redrawTimings")
        requests = page.evaluate("""() => performance.getEntriesByType('resource')
            .filter(e => e.name.endsWith('/edit')).map(e => e.responseEnd - e.startTime)""")
        chromium.close()
    request = urllib.request.Request(f"{base}/api/redraw/drafts/{draft}",
                                     headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    size = len(urllib.request.urlopen(request).read())
    return {"ready_ms": ready_ms, "draft_bytes": size, "panel": panel, "requests": requests}


def _stroke(page, rng: np.random.Generator, grids: int) -> None:
    """Paint 1–3 units of a grid into its neighbour to the east or north (or back)."""
    a, b = (int(v) for v in rng.integers(0, grids - 1, 2))
    here = f"C1-G{a:02d}{b:02d}"
    there = f"C1-G{a + 1:02d}{b:02d}" if rng.random() < 0.5 else f"C1-G{a:02d}{b + 1:02d}"
    if rng.random() < 0.5:
        here, there = there, here
    keys = page.evaluate("window.redrawDebug.state.grids.map(g => g.key)")
    if here not in keys or there not in keys:
        return
    points = page.evaluate(NEAREST, [there, here, int(rng.integers(1, 4))])
    if not points:
        return
    page.locator(f"#rd-grids li[data-key='{here}']").click()
    before = page.evaluate("window.redrawTimings.length")
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=3)
    page.mouse.move(points[-1][0] + 2, points[-1][1] + 2)  # a drag, not a click
    page.mouse.up()
    page.wait_for_function(f"() => window.redrawTimings.length > {before}")
    page.wait_for_function(SETTLED)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


if __name__ == "__main__":
    sys.exit(main())
