"""Benchmark: the web app under load (point lookup) and the commander's map over 1M reports.

Each part serves the sample district from a SQLite store in a temporary folder,
served as ``python -m web`` serves it (Granian, one worker process per CPU core)
in a separate process on a free loopback port, and stops it at the end. Prints
figures only; it asserts nothing.

- ``lookup``: 50 keep-alive connections for 15 s against ``/api/lookup`` with
  random points over the district's bounding box (wrk when it is installed,
  otherwise threads with ``http.client``): requests/s, p50 and p99 latency.
- ``map``: a store with 1,000,000 generated reports (batches of 50,000, then
  ``optimize``); headless Chromium opens ``/`` in a fresh profile: bytes
  transferred for the first view and the time from navigation start until the
  map has rendered (every level layer loaded and the first refresh of heat map,
  choropleth and markers done). Aims: under 3 MB and under 3 s.

    python bench/bench_web.py [--part lookup|map|all] [--reports 1000000] [--seconds 15]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MANIFEST = ROOT / "data" / "boundaries" / "sample.toml"
BATCH = 50_000
#: Worker processes of ``python -m web`` (its default: one per CPU core).
WORKERS = os.cpu_count() or 1
#: Seconds of load before the measured run: every worker warm, every connection open.
WARM_UP_S = 3
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
#: Run in the page before its own scripts: note when the map is first ready.
WATCH_READY = """(() => {
    const ready = () => window.GEOGRID && window.geogridLayers && document.body
        && document.body.dataset.loading === "false"
        && Object.values(window.geogridLayers).every(layer =>
            !window[window.GEOGRID.map].hasLayer(layer) || layer.getLayers().length > 0);
    const poll = () => {
        if (ready()) { window.geogridReadyAt = performance.now(); }
        else { requestAnimationFrame(poll); }
    };
    requestAnimationFrame(poll);
})();"""


# --- the server, in its own process ------------------------------------------------------------


class Server:
    """The app in a child process; ``with Server(url) as base:`` gives its base URL.

    ``settings`` (names without the ``GEOGRID_`` prefix) override the ones set here.
    """

    def __init__(self, store_url: str, log: Path, settings: dict[str, str] | None = None):
        self.store_url, self.log, self.settings = store_url, log, settings or {}

    def __enter__(self) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        settings = {"STORE": self.store_url, "MANIFEST": str(MANIFEST), "TILES": "none",
                    "HOST": "127.0.0.1", "PORT": str(port), "SAMPLE_REPORTS": "false",
                    **self.settings}  # fmt: skip
        env = os.environ | {f"GEOGRID_{k}": v for k, v in settings.items()}
        with open(self.log, "w") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "web"], cwd=ROOT, env=env,
                                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and self.process.poll() is None:
            if self._workers_started() >= WORKERS:
                urllib.request.urlopen(base + "/api/levels", timeout=30).read()
                return base
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"the server did not start; its log:\n{self.log.read_text()[-3000:]}")

    def _workers_started(self) -> int:
        return self.log.read_text().count("Started worker")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- part 1: lookup under load --------------------------------------------------------------


def district_bounds() -> tuple[float, float, float, float]:
    from geogrid import Hierarchy

    hierarchy = Hierarchy.from_manifest(MANIFEST)
    return tuple(float(v) for v in hierarchy.grids(hierarchy.levels[0]).total_bounds)


def bench_lookup(args) -> None:
    """Lookups under load on one server, anonymous and with an API token checked per request."""
    bounds = district_bounds()
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    run = load_with_wrk if client == "wrk" else load_with_threads
    print(f"lookup: {args.connections} connections for {args.seconds:.0f} s against "
          f"/api/lookup, random points over the district's bounding box; server: "
          f"python -m web, {WORKERS} workers; client: {client}")  # fmt: skip
    with (tempfile.TemporaryDirectory() as tmp,
          Server(f"sqlite:///{tmp}/lookup.db", Path(tmp) / "server.log") as base):  # fmt: skip
        token = _bench_token(f"sqlite:///{tmp}/lookup.db")
        for label, headers in (
            ("anonymous", {}),
            ("token", {"Authorization": f"Bearer {token}"}),
            ("anonymous", {}),
            ("token", {"Authorization": f"Bearer {token}"}),
        ):
            run(base, bounds, args.connections, WARM_UP_S, Path(tmp), headers)
            _print_lookup(label, run(base, bounds, args.connections, args.seconds, Path(tmp),
                                     headers), args.connections)  # fmt: skip


def _bench_token(store_url: str) -> str:
    """A viewer's API token on the served store (the server reads it on each request)."""
    from geogrid.storage import open_store

    store = open_store(store_url)
    try:
        store.accounts.add_user("bench.viewer", "viewer", actor="bench")
        return store.accounts.issue_token("bench.viewer", days=1, actor="bench")[0]
    finally:
        store.close()


def _print_lookup(label: str, figures: dict, connections: int) -> None:
    print(f"  {label:<9} {figures['requests']:,} requests ({figures['errors']} not 200): "
          f"{figures['rps']:,.0f} requests/s; latency p50 {figures['p50']:.1f} ms, "
          f"p99 {figures['p99']:.1f} ms")  # fmt: skip
    # Little's law: requests in flight = rate × mean latency; it shows every connection
    # was kept busy, none left waiting outside the measurement.
    in_flight = figures["rps"] * figures["mean"] / 1000
    print(f"            requests in flight on average: {in_flight:.1f} of {connections}")


def random_paths(bounds, count: int, seed: int = 7) -> list[str]:
    west, south, east, north = bounds
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(west, east, count), rng.uniform(south, north, count)
    return [f"/api/lookup?lon={x:.6f}&lat={y:.6f}" for x, y in zip(lon, lat, strict=True)]


def load_with_threads(base: str, bounds, connections: int, seconds: float, _tmp,
                      headers: dict[str, str] | None = None) -> dict:  # fmt: skip
    """One thread per keep-alive connection, each asking for the next random point."""
    host, port = base.removeprefix("http://").split(":")
    paths = random_paths(bounds, 200_000)
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    start = time.perf_counter()
    deadline = start + seconds

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        i = n
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            conn.request("GET", paths[i % len(paths)], headers=headers or {})
            response = conn.getresponse()
            response.read()
            latencies[n].append(time.perf_counter() - t0)
            errors[n] += response.status != 200
            i += connections
        conn.close()

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - start
    every = np.concatenate([np.asarray(x) for x in latencies]) * 1000
    p50, p99 = np.percentile(every, [50, 99])
    return {"requests": len(every), "errors": sum(errors), "rps": len(every) / elapsed,
            "p50": float(p50), "p99": float(p99), "mean": float(every.mean())}  # fmt: skip


#: wrk's request generator: a random point in BOUNDS for every request, seeded per thread.
WRK_SCRIPT = """
math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
local west, south, east, north = BOUNDS
request = function()
  local lon = west + math.random() * (east - west)
  local lat = south + math.random() * (north - south)
  return wrk.format("GET", string.format("/api/lookup?lon=%.6f&lat=%.6f", lon, lat))
end
"""


def load_with_wrk(base: str, bounds, connections: int, seconds: float, tmp: Path,
                  headers: dict[str, str] | None = None) -> dict:  # fmt: skip
    script = tmp / "lookup.lua"
    script.write_text(WRK_SCRIPT.replace("BOUNDS", ", ".join(map(repr, bounds))))
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:.0f}s", "--latency",
               "--timeout", "30s", "-s", str(script), base]  # fmt: skip
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    percentile = {p: _millis(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)$", output, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"requests": int(re.search(r"(\d+) requests in", output).group(1)),
            "errors": int(errors.group(1)) if errors else 0,
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "p50": percentile["50"], "p99": percentile["99"],
            "mean": _millis(re.search(r"Latency\s+(\S+)", output).group(1))}  # fmt: skip


def _millis(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


# --- part 2: the commander's map over a million reports ------------------------------------------


def fill_store(url: str, count: int) -> None:
    from geogrid import Hierarchy
    from geogrid.sample import sample_reports
    from geogrid.storage import open_store

    hierarchy = Hierarchy.from_manifest(MANIFEST)
    store = open_store(url)
    store.import_generation(hierarchy, hierarchy.name or "sample", activate=True)
    t0 = time.perf_counter()
    reports = sample_reports(hierarchy, count)
    made = time.perf_counter() - t0
    t0 = time.perf_counter()
    for start in range(0, count, BATCH):
        store.add_reports(reports[start : start + BATCH], actor="bench")
    del reports
    store.optimize()
    store.close()
    print(f"  {count:,} reports generated in {made:.1f} s, stored in "
          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip


def bench_map(args) -> None:
    from playwright.sync_api import sync_playwright

    print(f"map: the commander's map over {args.reports:,} reports, headless Chromium, "
          "a fresh profile for each view (empty cache)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/map.db"
        fill_store(url, args.reports)
        with Server(url, Path(tmp) / "server.log") as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                views = [first_view(browser, base) for _ in range(args.views)]
            finally:
                browser.close()
    for n, view in enumerate(views, 1):
        state = "server cold (first request since start)" if n == 1 else "server warm"
        print(f"  view {n}: {view['bytes'] / 1e6:.2f} MB in {view['requests']} responses, "
              f"rendered after {view['ready_ms'] / 1000:.2f} s  [{state}]")  # fmt: skip
    warm = views[1:] or views
    print(f"  first view: {statistics.median(v['bytes'] for v in warm) / 1e6:.2f} MB "
          f"(aim: under 3 MB); rendered after "
          f"{statistics.median(v['ready_ms'] for v in warm) / 1000:.2f} s "
          f"(aim: under 3 s; median of the warm-server views)")  # fmt: skip
    for title, column in (("largest", 1), ("slowest", 2)):
        print(f"  {title} responses of the last view:")
        for url, size, millis in sorted(views[-1]["items"], key=lambda i: -i[column])[:5]:
            print(f"    {size / 1e3:9,.1f} kB {millis:7,.0f} ms  {url}")


class Transfers:
    """What went over the wire (DevTools' Network events): URL, bytes, milliseconds."""

    def __init__(self):
        self.started, self.urls, self.done = {}, {}, {}

    def sent(self, event: dict) -> None:
        self.started.setdefault(event["requestId"], event["timestamp"])
        self.urls.setdefault(event["requestId"], event["request"]["url"])

    def finished(self, event: dict) -> None:
        self.done[event["requestId"]] = (event["encodedDataLength"], event["timestamp"])

    def items(self, base: str) -> list[tuple[str, int, float]]:
        return [(self.urls.get(key, "?").removeprefix(base)[:90], size,
                 (end - self.started.get(key, end)) * 1000)
                for key, (size, end) in self.done.items()]  # fmt: skip


def first_view(browser, base: str) -> dict:
    """Open the map in a fresh context; bytes on the wire and the time until it is ready."""
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
        page.add_init_script(WATCH_READY)
        page.goto(base + "/", timeout=120_000)
        deadline = time.monotonic() + 120
        while (ready_ms := page.evaluate("window.geogridReadyAt")) is None:
            if errors or time.monotonic() > deadline:
                raise RuntimeError(f"the map did not render: {errors or 'timeout (120 s)'}")
            page.wait_for_timeout(100)
        page.wait_for_load_state("networkidle", timeout=60_000)
        items = transfers.items(base)
        return {"bytes": sum(i[1] for i in items), "requests": len(items), "ready_ms": ready_ms,
                "items": items}  # fmt: skip
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["lookup", "map", "all"], default="all")
    parser.add_argument("--reports", type=int, default=1_000_000, help="reports for the map part")
    parser.add_argument("--seconds", type=float, default=15, help="length of the lookup load")
    parser.add_argument("--connections", type=int, default=50, help="concurrent connections")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto",
                        help="lookup load generator (auto: wrk if installed)")  # fmt: skip
    parser.add_argument("--views", type=int, default=3, help="first views of the map to time")
    args = parser.parse_args()
    if args.part in ("lookup", "all"):
        bench_lookup(args)
    if args.part in ("map", "all"):
        bench_map(args)


if __name__ == "__main__":
    main()
