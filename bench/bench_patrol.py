"""Benchmark: route planning on a ~10,000-edge network, and a day of tracks for 100 workers.

1. Planning: a jittered lattice of about 10,000 streets (80 m blocks, about 5.6 km
   across, near Wenzhou); a route from its centre visiting up to 30 weighted priority
   places within 12 km (OR-Tools, with and without guided local search), and the
   street-covering route of one 0.5 km² block.
2. Tracks: 100 workers walk the sample district for ``--hours`` (default 24) with one
   point every 5 s (17,280 points each); their GPX files are read (on every core, and
   on one for comparison), every track is analysed (grids passed and time in each,
   length, stops) and the compliance of the 225 grids for the day is counted from
   those visits.

Each part runs in a fresh process; prints figures only (no assertion on time).

    python bench/bench_patrol.py [--hours 24] [--workers 100]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lattice_lines(side: int = 71, block_deg: float = 0.0008, seed: int = 5):
    """Streets of a side × side lattice whose crossings are moved up to ~15 m at random."""
    from shapely import linestrings

    rng = np.random.default_rng(seed)
    x = 120.62 + block_deg * np.arange(side)[None, :] + rng.uniform(-1.5e-4, 1.5e-4, (side, side))
    y = 27.99 + block_deg * np.arange(side)[:, None] + rng.uniform(-1.3e-4, 1.3e-4, (side, side))
    east = [
        ((x[i, j], y[i, j]), (x[i, j + 1], y[i, j + 1]))
        for i in range(side)
        for j in range(side - 1)
    ]
    north = [
        ((x[i, j], y[i, j]), (x[i + 1, j], y[i + 1, j]))
        for i in range(side - 1)
        for j in range(side)
    ]
    return linestrings(np.asarray(east + north))


def plan_part() -> dict:
    import pandas as pd
    from shapely.geometry import box

    from geogrid.patrol.network import RoadNetwork
    from geogrid.patrol.routing import plan_priority_route, plan_street_coverage

    t0 = time.perf_counter()
    network = RoadNetwork.from_lines(lattice_lines(), source="lattice")
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(8)
    west, south, east, north = network.edges.total_bounds
    places = pd.DataFrame(
        {
            "name": [f"隐患{i}" for i in range(30)],
            "weight": rng.choice([1, 2, 4, 8], 30),
            "lon": rng.uniform(west + 0.005, east - 0.005, 30),
            "lat": rng.uniform(south + 0.005, north - 0.005, 30),
        }
    )
    centre = ((west + east) / 2, (south + north) / 2)
    out = {"edges": network.graph.number_of_edges(), "build_s": build_s}
    for limit in (0.0, 1.0):
        t0 = time.perf_counter()
        route = plan_priority_route(
            network, *centre, places, max_length_m=12_000, time_limit_s=limit
        )
        out[f"plan_s_gls{limit:g}"] = time.perf_counter() - t0
        out[f"visited_gls{limit:g}"] = len(route.visited)
        out[f"weight_gls{limit:g}"] = float(route.visited["weight"].sum())
        out[f"length_gls{limit:g}"] = route.length_m
    t0 = time.perf_counter()
    block = box(centre[0] - 0.004, centre[1] - 0.003, centre[0] + 0.003, centre[1] + 0.004)
    cover = plan_street_coverage(network, block, *centre)
    out["cover_s"] = time.perf_counter() - t0
    out["cover_length_m"] = cover.length_m
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def worker_gpx(worker: int, hours: float, rng, bounds) -> str:
    """A random walk at 1.25 m/s that turns gently, stays in the district's middle and,
    once every two hours or so, stops for ten minutes (a check-in, a talk with a resident)."""
    n = int(hours * 3600 / 5)
    west, south, east, north = bounds
    heading = np.cumsum(rng.normal(0, 0.25, n))
    step_deg = np.full(n, 6.25 / 98_000)
    for first in rng.integers(0, max(1, n - 120), max(1, n // 1440)):
        step_deg[first : first + 120] = 0.3 / 98_000  # standing, the fix wandering a little
    lon = np.empty(n)
    lat = np.empty(n)
    lon[0], lat[0] = rng.uniform(west, east), rng.uniform(south, north)
    dx, dy = np.cos(heading) * step_deg, np.sin(heading) * step_deg * 0.885
    for i in range(1, n):  # reflect at the box's edges to stay inside
        lon[i], lat[i] = lon[i - 1] + dx[i], lat[i - 1] + dy[i]
        if not west < lon[i] < east:
            dx[i:] *= -1
            lon[i] = lon[i - 1] + dx[i]
        if not south < lat[i] < north:
            dy[i:] *= -1
            lat[i] = lat[i - 1] + dy[i]
    start = np.datetime64("2026-11-22T16:00:00")  # midnight China time
    times = (start + np.arange(n) * np.timedelta64(5, "s")).astype(str)
    points = "\n".join(
        f'<trkpt lat="{y:.7f}" lon="{x:.7f}"><time>{t}Z</time></trkpt>'
        for x, y, t in zip(lon, lat, times, strict=True)
    )
    return (
        '<?xml version="1.0"?><gpx version="1.1" creator="bench" '
        'xmlns="http://www.topografix.com/GPX/1/1">'
        f"<metadata><author><name>网格员{worker:03d}</name></author></metadata>"
        f"<trk><name>{worker}</name><trkseg>\n{points}\n</trkseg></trk></gpx>"
    )


def tracks_part(hours: float, workers: int) -> dict:
    from geogrid import Hierarchy
    from geogrid.patrol.batch import analyse_gpx_files, read_gpx_files
    from geogrid.patrol.compliance import compliance_of_tracks

    district = Hierarchy.from_manifest(ROOT / "data/boundaries/sample.toml").prepare()
    west, south, east, north = district.grids("street").total_bounds
    inner = (west + 0.004, south + 0.004, east - 0.004, north - 0.004)
    rng = np.random.default_rng(21)
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"worker{w:03d}.gpx" for w in range(workers)]
        for w, path in enumerate(paths):
            path.write_text(worker_gpx(w, hours, rng, inner), encoding="utf-8")
        megabytes = sum(p.stat().st_size for p in paths) / 2**20
        before = peak_rss_mb()
        t0 = time.perf_counter()
        read_gpx_files(paths, processes=1)
        read_one_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        analyse_gpx_files(paths, district, processes=1)
        one_core_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        analyses = analyse_gpx_files(paths, district)
        analyse_s = time.perf_counter() - t0
    tracks = [a.track for a in analyses]
    t0 = time.perf_counter()
    visits = pd.concat([a.visits for a in analyses], ignore_index=True)
    result = compliance_of_tracks(tracks, district, visits=visits)
    compliance_s = time.perf_counter() - t0
    return {
        "workers": workers,
        "processes": os.cpu_count(),
        "points": sum(len(t.lon) for t in tracks),
        "gpx_mb": megabytes,
        "read_one_s": read_one_s,
        "one_core_s": one_core_s,
        "analyse_s": analyse_s,
        "compliance_s": compliance_s,
        "visits": len(visits),
        "km": sum(a.length_m for a in analyses) / 1000,
        "stops": sum(len(a.stops) for a in analyses),
        "patrols": len(result.patrols),
        "grids_met": int((result.summary["status"] == "met").sum()),
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": before,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--part", choices=["plan", "tracks"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "plan":
        print(json.dumps(plan_part()))
        return 0
    if args.part == "tracks":
        print(json.dumps(tracks_part(args.hours, args.workers)))
        return 0
    plan = _fresh("plan", args)
    print(f"planning on a lattice of {plan['edges']:,} streets (built in {plan['build_s']:.2f} s):")
    for limit in ("0", "1"):
        print(
            f"  30 places within 12 km, guided local search {limit} s: "
            f"{plan[f'plan_s_gls{limit}']:.2f} s, {plan[f'visited_gls{limit}']} visited "
            f"(weight {plan[f'weight_gls{limit}']:g}), {plan[f'length_gls{limit}']:,.0f} m"
        )
    print(
        f"  every street of a 0.5 km² block: {plan['cover_s']:.2f} s, "
        f"{plan['cover_length_m']:,.0f} m"
    )
    print(f"  peak memory {plan['peak_rss_mb']:.0f} MB")
    tracks = _fresh("tracks", args)
    print(
        f"a day of tracks: {tracks['workers']} workers, {tracks['points']:,} points "
        f"({tracks['gpx_mb']:.0f} MB of GPX):"
    )
    total = tracks["analyse_s"] + tracks["compliance_s"]
    print(
        f"  read and analyse every file (grids and time in each, length, stops) on "
        f"{tracks['processes']} cores {tracks['analyse_s']:.2f} s (on one core "
        f"{tracks['one_core_s']:.2f} s, of which reading {tracks['read_one_s']:.2f} s); "
        f"compliance of 225 grids from those visits {tracks['compliance_s']:.2f} s; "
        f"all together {total:.2f} s"
    )
    print(
        f"  {tracks['visits']:,} grid visits, {tracks['km']:,.0f} km, {tracks['stops']} stops, "
        f"{tracks['patrols']:,} patrols, {tracks['grids_met']} grids met 一日三巡"
    )
    print(
        f"  peak memory {tracks['peak_rss_mb']:.0f} MB "
        f"({tracks['rss_before_mb']:.0f} MB before reading)"
    )
    return 0


def _fresh(part: str, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        __file__,
        "--part",
        part,
        "--hours",
        str(args.hours),
        "--workers",
        str(args.workers),
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
