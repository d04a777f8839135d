"""Benchmark: the commander's analyses with 1,000,000 reports and 10,000 hazards.

On the sample district: colouring every grid at every level (four-colour map with
reasons and trend), the kernel density raster for a 1024 × 768 view (and its
PNG), Gi* at the grid level, H3 hexagons and a PAI evaluation. Each runs in a
fresh process, so its time and its peak memory (peak RSS above the RSS before
the run) are its own; inputs are the arrays a store would hand over (points with
their grid codes at every level, hazards as a GeoDataFrame).

    python bench/bench_analysis.py [--reports 1000000] [--hazards 10000]

It prints figures; it asserts nothing about time. ``--render-docs`` instead draws
``docs/risk-map.png`` and ``docs/risk-map.pdf`` from 20,000 sample reports and
60 sample hazards stored in a temporary store, through ``geogrid risk-map``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MANIFEST = str(ROOT / "data/boundaries/sample.toml")
AS_OF = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # the end of 2026-11-23 in China
TASKS = ("colour", "kde", "gi_star", "hexagons", "pai")

#: (name, category, method, typical scores, radius in metres, share of hazards)
HAZARD_KINDS = (
    ("加油站", "safety.hazmat", "lec", {"L": 1, "E": 6, "C": 40}, 100, 0.02),
    ("液化气供应站", "safety.gas", "lec", {"L": 3, "E": 6, "C": 15}, 150, 0.02),
    ("危化品仓库", "safety.hazmat", "lec", {"L": 3, "E": 6, "C": 40}, 200, 0.001),
    ("电动车集中充电棚", "fire.ebike", "matrix", {"L": 3, "S": 3}, 30, 0.159),
    ("老旧居民楼电线", "fire.equipment", "matrix", {"L": 2, "S": 2}, 0, 0.30),
    ("危房", "safety.building", "lec", {"L": 1, "E": 6, "C": 7}, 20, 0.10),
    ("建筑工地", "city.construction", "matrix", {"L": 2, "S": 3}, 50, 0.10),
    ("学校周边路口", "safety.road", "matrix", {"L": 2, "S": 4}, 0, 0.10),
    ("农贸市场", "fire.lane", "matrix", {"L": 2, "S": 2}, 0, 0.20),
)


def rss_mb() -> float:
    """Current resident set size in MB (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def reset_peak() -> None:
    """Make the peak RSS (VmHWM) the current RSS, so a peak measured next is the task's own.

    Loading the inputs peaks higher than most tasks; without the reset that peak,
    not the task's, would show (Linux ≥ 4.0: writing 5 to clear_refs).
    """
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def peak_rss_mb() -> float:
    """Peak resident set size since the last :func:`reset_peak`, in MB."""
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


# --- data ------------------------------------------------------------------------------


def sample_hazards(hierarchy, count: int, seed: int = 2026):
    """``count`` hazards at buildings of the district, mostly low risk, a few major ones."""
    import geopandas as gpd

    from geogrid.hazards import LEC_SCALES, MATRIX_SCALE

    rng = np.random.default_rng(seed)
    buildings = hierarchy.grids(hierarchy.levels[-1]).geometry.representative_point()
    kinds = rng.choice(len(HAZARD_KINDS), count, p=[k[5] for k in HAZARD_KINDS])
    where = rng.integers(0, len(buildings), count)
    rows = []
    for i, kind in enumerate(kinds):
        name, category, method, scores, radius, _ = HAZARD_KINDS[kind]
        scales = LEC_SCALES if method == "lec" else dict.fromkeys("LS", MATRIX_SCALE)
        varied = {k: _step(scales[k], v, rng) for k, v in scores.items()}
        rows.append({"id": i + 1, "name": f"{name}{i + 1}", "category": category,
                     "method": method, "scores": varied, "radius_m": float(radius)})  # fmt: skip
    return gpd.GeoDataFrame(rows, geometry=buildings.to_numpy()[where], crs=4326)


def _step(scale, value, rng):
    """The value, or a neighbour on its scale now and then (assessments vary)."""
    index = list(scale).index(value) + int(rng.choice([-1, 0, 0, 0, 1]))
    return scale[min(max(index, 0), len(scale) - 1)]


def sample_points(hierarchy, count: int, seed: int = 2026) -> pd.DataFrame:
    """Reports as a store would hand them over: lon, lat, time, category, codes per level."""
    from geogrid.categories import CategoryTree

    rng = np.random.default_rng(seed)
    west, south, east, north = hierarchy.grids(hierarchy.levels[0]).total_bounds
    lon, lat = rng.uniform(west, east, count), rng.uniform(south, north, count)
    hot = rng.random(count) < 0.6
    centres = np.column_stack([rng.uniform(west, east, 6), rng.uniform(south, north, 6)])
    which = rng.integers(0, len(centres), hot.sum())
    lon[hot] = centres[which, 0] + rng.normal(0, 0.002, hot.sum())
    lat[hot] = centres[which, 1] + rng.normal(0, 0.002, hot.sum())
    codes = [c.code for c in CategoryTree.default()]
    minutes = rng.integers(0, 90 * 24 * 60, count)
    frame = pd.DataFrame({"lon": lon, "lat": lat,
                          "time": pd.Timestamp(AS_OF) - pd.to_timedelta(minutes, unit="min"),
                          "category": pd.Categorical(rng.choice(codes, count))})  # fmt: skip
    assigned = hierarchy.prepare().assign(lon, lat)
    for key in hierarchy.levels:
        frame[f"{key}_code"] = assigned[f"{key}_code"].to_numpy()
    return frame


# --- tasks -----------------------------------------------------------------------------


def run_task(task: str, hierarchy, points: pd.DataFrame, hazards) -> str:
    """Run one analysis; returns a line saying what came out."""
    from geogrid.analysis import heat, hotspots, risk

    if task == "colour":
        maps = risk.colour_grids(hierarchy, hazards, points, AS_OF)
        counts = {k: f.colour.value_counts().to_dict() for k, f in maps.items()}
        return f"{sum(len(f) for f in maps.values()):,} grids coloured; grid level {counts['grid']}"
    if task == "kde":
        bounds = tuple(hierarchy.grids(hierarchy.levels[0]).total_bounds)
        raster = heat.kde_raster(points["lon"], points["lat"], bounds, (1024, 768), 200.0)
        return f"raster {raster.width}×{raster.height}, integral {raster.total():,.0f} events"
    if task == "gi_star":
        spots = hotspots.hot_spots(hierarchy, points, "grid")
        return f"{(spots.spot == 'hot').sum()} hot, {(spots.spot == 'cold').sum()} cold grids"
    if task == "hexagons":
        cells = heat.hexagons(points["lon"], points["lat"], resolution=9)
        return f"{len(cells):,} H3 cells (resolution 9)"
    train = (AS_OF - timedelta(days=60), AS_OF - timedelta(days=30))
    table = hotspots.evaluate_pai(hierarchy, points, train, (train[1], AS_OF))
    return "PAI " + ", ".join(f"{m} {p:.2f}" for m, p in zip(table.method, table.pai, strict=True))


def warm_up(task: str) -> None:
    """Imports and caches a long-running server has already paid for."""
    from geogrid.analysis import heat, hotspots, risk  # noqa: F401

    if task in ("gi_star", "pai"):
        import esda.getisord  # noqa: F401
        import libpysal.weights  # noqa: F401
    if task == "colour":
        risk._default_tree()


def worker(task: str, folder: Path) -> None:
    from geogrid import Hierarchy

    hierarchy = Hierarchy.from_manifest(MANIFEST)
    with open(folder / "points.pkl", "rb") as f:
        points = pickle.load(f)
    with open(folder / "hazards.pkl", "rb") as f:
        hazards = pickle.load(f)
    started = time.perf_counter()
    warm_up(task)
    imports = time.perf_counter() - started
    reset_peak()
    before = rss_mb()
    started = time.perf_counter()
    outcome = run_task(task, hierarchy, points, hazards)
    seconds = time.perf_counter() - started
    extra = _png_seconds(hierarchy, points) if task == "kde" else None
    print(json.dumps({"seconds": seconds, "peak_mb": peak_rss_mb() - before,
                      "imports_s": imports, "outcome": outcome, "png_s": extra}))  # fmt: skip


def _png_seconds(hierarchy, points) -> float:
    from geogrid.analysis import heat

    bounds = tuple(hierarchy.grids(hierarchy.levels[0]).total_bounds)
    raster = heat.kde_raster(points["lon"], points["lat"], bounds, (1024, 768), 200.0)
    started = time.perf_counter()
    heat.render_png(raster)
    return time.perf_counter() - started


def spawn(task: str, folder: Path) -> dict:
    command = [sys.executable, __file__, "--worker", task, "--folder", str(folder)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def report(reports: int, hazards: int) -> None:
    from geogrid import Hierarchy

    hierarchy = Hierarchy.from_manifest(MANIFEST)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        with open(folder / "points.pkl", "wb") as f:
            pickle.dump(sample_points(hierarchy, reports), f)
        with open(folder / "hazards.pkl", "wb") as f:
            pickle.dump(sample_hazards(hierarchy, hazards), f)
        print(f"analysis of {reports:,} reports and {hazards:,} hazards on the sample district "
              f"(data made in {time.perf_counter() - started:.1f} s)")  # fmt: skip
        for task in TASKS:
            figures = spawn(task, folder)
            png = f"; PNG {figures['png_s']:.3f} s" if figures["png_s"] is not None else ""
            timing = f"{figures['seconds']:7.3f} s  peak +{figures['peak_mb']:,.0f} MB"
            print(f"  {task:<9} {timing}  (imports {figures['imports_s']:.2f} s{png})  "
                  f"{figures['outcome']}")  # fmt: skip


# --- the README's map ---------------------------------------------------------------------


def render_docs(count_reports: int = 20_000, count_hazards: int = 60) -> None:
    """docs/risk-map.png and .pdf: the sample district's map, drawn by ``geogrid risk-map``."""
    from geogrid import Hierarchy
    from geogrid.cli import main as geogrid_main
    from geogrid.cli.analysis import add_analysis_commands
    from geogrid.hazards import Hazard
    from geogrid.sample import sample_reports
    from geogrid.storage import open_store

    hierarchy = Hierarchy.from_manifest(MANIFEST)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/docs.db"
        store = open_store(url)
        store.import_generation(hierarchy, hierarchy.name, activate=True)
        store.add_reports(sample_reports(hierarchy, count_reports, end=AS_OF))
        for row in sample_hazards(hierarchy, count_hazards, seed=7).itertuples():
            store.add_hazard(Hazard(row.name, row.category, row.geometry, row.method,
                                    row.scores, radius_m=row.radius_m))  # fmt: skip
        import geogrid.cli as cli

        registered = cli.add_store_commands
        cli.add_store_commands = lambda c: (registered(c), add_analysis_commands(c))
        for suffix in ("png", "pdf"):
            out = ROOT / "docs" / f"risk-map.{suffix}"
            geogrid_main(["risk-map", "--level", "grid", "--out", str(out), "--store", url,
                          "--date", "2026-11-23", "--dpi", "110"])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--hazards", type=int, default=10_000)
    parser.add_argument("--worker", choices=TASKS)
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--render-docs", action="store_true")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.folder)
    elif args.render_docs:
        render_docs()
    else:
        report(args.reports, args.hazards)


if __name__ == "__main__":
    main()
