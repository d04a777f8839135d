"""Benchmark: the costliest requests an anonymous client can send, and a lookup behind them.

Serves the sample district as ``make serve`` does (``python -m web``, one worker
process per CPU core, the 20,000 sample reports) from a store in a temporary
folder, on a free loopback port. Then, one at a time, it sends the slow requests
of the security review (research/security-review.md, F5, F6, F10 and its cost
table) and the largest ones the limits allow. While each runs, it sends lookups
one after another, each on a new connection (so the kernel hands them to any
worker), and times them. Prints figures only; it asserts nothing.

    python bench/bench_costly.py [--only TEXT] [--timeout 300]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench_web import Server

#: The review's 20,000 two-point tracks (3.9 MB of GPX).
REVIEW_TRACKS = 20_000
#: Seconds after a costly request starts before the first lookup is sent behind it.
LOOKUP_DELAY_S = 0.5
#: Most lookups sent during one costly request.
LOOKUPS = 8
WHOLE_DISTRICT = ["330399001", "330399002", "330399003"]
START = {"lon": 120.655, "lat": 28.01}


@dataclass
class Case:
    """One costly request: a label, the method and path, and a body made when it is sent."""

    label: str
    method: str
    path: str
    body: Callable[[], bytes] | None = None
    content_type: str = "application/json"
    repeat: int = 1


def gpx_of_tracks(count: int, points: int = 2) -> bytes:
    """``count`` tracks of ``points`` timed points each, as the review built them.

    The points go to and fro over ~140 m, one a second, so that every one is in a grid.
    """
    head = ('<?xml version="1.0"?><gpx version="1.1" creator="x" '
            'xmlns="http://www.topografix.com/GPX/1/1">')  # fmt: skip
    trkpts = "".join(
        f'<trkpt lat="{28.0 + j % 100 * 1e-5:.5f}" lon="{120.66 + j % 100 * 1e-5:.5f}">'
        f"<time>2026-12-05T{1 + j // 3600:02d}:{j // 60 % 60:02d}:{j % 60:02d}Z</time></trkpt>"
        for j in range(points)
    )
    tracks = (f"<trk><name>t{i}</name><trkseg>{trkpts}</trkseg></trk>" for i in range(count))
    return (head + "".join(tracks) + "</gpx>").encode()


def long_line(vertices: int) -> bytes:
    """The review's stored route of ``vertices`` points (F10)."""
    coordinates = [[round(120.6 + i * 1e-7, 7), round(28.0 + i * 1e-7, 7)] for i in range(vertices)]
    route = {"grid": "330399003010002", "shift": "night", "name": "big",
             "geometry": {"type": "LineString", "coordinates": coordinates}}  # fmt: skip
    return json.dumps(route, separators=(",", ":")).encode()


def plan(**fields) -> Callable[[], bytes]:
    return lambda: json.dumps({"start": START, **fields}).encode()


def review_cases() -> list[Case]:
    """The slow requests of the security review, as it sent them."""
    places = [{"name": f"p{i}", "weight": 1, "lon": 120.635 + (i % 25) * 0.0018,
               "lat": 27.997 + (i // 25) * 0.0014} for i in range(500)]  # fmt: skip
    a = "/api/analysis"
    return [
        Case(
            "tracks: 20,000 two-point tracks (3.9 MB)",
            "POST",
            "/api/patrol/tracks",
            lambda: gpx_of_tracks(REVIEW_TRACKS),
            "application/gpx+xml",
        ),
        Case(
            "plan: every street of the district",
            "POST",
            "/api/patrol/plan",
            plan(mode="streets", grids=WHOLE_DISTRICT),
        ),
        Case(
            "plan: 500 places, time_limit_s=5",
            "POST",
            "/api/patrol/plan",
            plan(places=places, time_limit_s=5),
        ),
        Case(
            "plan: priority, 50 km, time_limit_s=5",
            "POST",
            "/api/patrol/plan",
            plan(max_length_m=50_000, time_limit_s=5),
        ),
        Case(
            "pai: building, cell_m=5, bandwidth 50 km",
            "GET",
            f"{a}/pai?level=building&cell_m=5&bandwidth_m=50000",
        ),
        Case("hexagons: resolution 12", "GET", f"{a}/hexagons?resolution=12"),
        Case(
            "heat.png: 2048 x 2048, bandwidth 50 km",
            "GET",
            f"{a}/heat.png?width=2048&height=2048&bandwidth_m=50000",
        ),
        Case(
            "hotspots: microgrid, 999 permutations",
            "GET",
            f"{a}/hotspots?level=microgrid&permutations=999",
        ),
        Case(
            "hotspots: building, 999 permutations",
            "GET",
            f"{a}/hotspots?level=building&permutations=999",
        ),
        Case("risk: building, 365 days", "GET", f"{a}/risk?level=building&window_days=365"),
        Case(
            "route: one of 170,000 points (F10)",
            "POST",
            "/api/patrol/routes",
            lambda: long_line(170_000),
        ),
        Case("routes: the listing", "GET", "/api/patrol/routes"),
    ]


def limit_cases() -> list[Case]:
    """The costliest requests the default limits let through (none before they existed)."""
    from web.settings import SETTINGS

    defaults = {s.name: s.default for s in SETTINGS}
    if "MAX_UPLOAD_TRACKS" not in defaults:
        return []
    tracks, points = defaults["MAX_UPLOAD_TRACKS"], defaults["MAX_UPLOAD_POINTS"]
    route_points = defaults["MAX_ROUTE_POINTS"]
    routes = defaults["MAX_PAGE_POINTS"] // route_points
    two, three = ["330399001001", "330399001002"], ["330399001001", "330399001002", "330399001003"]
    return [
        Case(f"tracks: {tracks} two-point tracks", "POST", "/api/patrol/tracks",
             lambda: gpx_of_tracks(tracks), "application/gpx+xml"),
        Case(f"tracks: {tracks} tracks of {points // tracks:,} points", "POST",
             "/api/patrol/tracks", lambda: gpx_of_tracks(tracks, points // tracks),
             "application/gpx+xml"),
        Case("plan: every street of two communities (319)", "POST", "/api/patrol/plan",
             plan(mode="streets", grids=two, max_snap_m=2000)),
        Case("plan: every street of three communities (430)", "POST", "/api/patrol/plan",
             plan(mode="streets", grids=three, max_snap_m=2000)),
        Case("hexagons: resolution 11", "GET", "/api/analysis/hexagons?resolution=11"),
        Case("pai: microgrid, cell_m=5, bandwidth 50 km", "GET",
             "/api/analysis/pai?level=microgrid&cell_m=5&bandwidth_m=50000"),
        Case(f"route: {route_points:,} points, {routes} times", "POST", "/api/patrol/routes",
             lambda: long_line(route_points), repeat=routes),
        Case("routes: a page", "GET", "/api/patrol/routes"),
        Case("reports: a batch of 60,000 (4.5 MB)", "POST", "/api/reports", report_batch),
    ]  # fmt: skip


def report_batch(count: int = 60_000) -> bytes:
    """``count`` reports over the middle of the district, in one body under 5 MB."""
    reports = [{"category": "fire", "lon": round(120.64 + i % 100 * 3e-4, 4),
                "lat": round(28.0 + i // 100 % 80 * 3e-4, 4), "description": "x"}
               for i in range(count)]  # fmt: skip
    return json.dumps({"reports": reports}).encode()


def send(base: str, case: Case, timeout: float) -> tuple[int, int, float]:
    """Status, response bytes and seconds of one request on its own connection."""
    host, port = base.removeprefix("http://").split(":")
    body = case.body() if case.body else None
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    started = time.perf_counter()
    try:
        connection.request(case.method, case.path, body, {"Content-Type": case.content_type})
        response = connection.getresponse()
        size = len(response.read())
        return response.status, size, time.perf_counter() - started
    except (OSError, http.client.HTTPException):
        return 0, 0, time.perf_counter() - started
    finally:
        connection.close()


def lookups_behind(base: str, busy: threading.Event, timeout: float) -> list[float]:
    """Seconds of each lookup sent while ``busy`` is set, one after another."""
    lookup = Case("lookup", "GET", "/api/lookup?lon=120.65&lat=28.01")
    times: list[float] = []
    time.sleep(LOOKUP_DELAY_S)
    while busy.is_set() and len(times) < LOOKUPS:
        status, _, seconds = send(base, lookup, timeout)
        times.append(seconds if status == 200 else float("inf"))
    return times


def run_case(base: str, case: Case, timeout: float) -> dict:
    """The case's own figures and the lookups sent while it ran."""
    busy, result = threading.Event(), {}
    busy.set()

    def costly() -> None:
        for _ in range(case.repeat):  # the slowest of them is reported
            figures = send(base, case, timeout)
            if figures[2] >= result.get("seconds", 0):
                result["status"], result["bytes"], result["seconds"] = figures
        busy.clear()

    thread = threading.Thread(target=costly)
    thread.start()
    lookups = lookups_behind(base, busy, timeout)
    thread.join()
    return {**result, "lookups": lookups}


def report(label: str, figures: dict) -> None:
    lookups = figures["lookups"]
    behind = (f"{len(lookups)} lookups behind it, worst {max(lookups) * 1000:,.0f} ms"
              if lookups else "no lookup behind it (too quick)")  # fmt: skip
    print(f"  {label:<45} {figures['status']:>3}  {figures['seconds']:>7.2f} s  "
          f"{figures['bytes']:>11,} B  {behind}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only the cases whose label has this text")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a request may take")
    args = parser.parse_args()
    groups = {"the security review's requests": review_cases(),
              "the largest requests the limits allow": limit_cases()}  # fmt: skip
    worst_request = worst_lookup = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(f"sqlite:///{tmp}/costly.db", Path(tmp) / "server.log",
                        {"SAMPLE_REPORTS": "true"})  # fmt: skip
        with server as base:
            for title, cases in groups.items():
                cases = [c for c in cases if args.only in c.label]
                print(f"{title} (status, time, size, lookups sent meanwhile):" if cases else "")
                for case in cases:
                    figures = run_case(base, case, args.timeout)
                    report(case.label, figures)
                    worst_request = max(worst_request, figures["seconds"])
                    worst_lookup = max([worst_lookup, *figures["lookups"]])
    print(
        f"worst request: {worst_request:.2f} s; worst lookup sent behind one: "
        f"{worst_lookup * 1000:,.0f} ms"
    )


if __name__ == "__main__":
    sys.exit(main())
