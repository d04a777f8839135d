"""Benchmark: one paint stroke of the redraw studio on a parent of ~2,000 units.

Builds, in code, a lattice district: one community cut into ``--side`` × ``--side``
micro-grids of 40 m (45 × 45 = 2,025 by default), grouped into grids of 5 × 5, with
households per micro-grid drawn from N(16, 5) and roads along every grid edge. It
times building the units (adjacency, roads, outline) and a plan, then ``--strokes``
strokes: 1–20 adjacent units of one grid moved into a neighbouring grid, each
followed by the metrics of the grids it touched and the plan summary (what the web
edit answers). Prints p50/p99 in ms; it asserts nothing about time.

    python bench/bench_redraw_stroke.py [--side 45] [--strokes 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geogrid import Hierarchy  # noqa: E402
from geogrid.models import Level  # noqa: E402
from geogrid.redraw.plan import Plan  # noqa: E402
from geogrid.redraw.units import units_of  # noqa: E402

WEST, SOUTH = 120.60, 28.00
CELL_LON, CELL_LAT = 40 / 98_300, 40 / 110_800  # ~40 m at 28° N
BLOCK = 5  # micro-grids per grid side


def lattice(side: int, seed: int) -> Hierarchy:
    """One community of side × side micro-grids in grids of BLOCK × BLOCK."""
    rng = np.random.default_rng(seed)
    i, j = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    i, j = i.ravel(), j.ravel()
    grid_code = [f"C1-G{a // BLOCK:02d}{b // BLOCK:02d}" for a, b in zip(i, j, strict=True)]
    west, south = WEST + i * CELL_LON, SOUTH + j * CELL_LAT
    micro = gpd.GeoDataFrame(
        {
            "code": [f"{g}-M{a:02d}{b:02d}" for g, a, b in zip(grid_code, i, j, strict=True)],
            "name": [f"微网格 {a},{b}" for a, b in zip(i, j, strict=True)],
            "parent": grid_code,
            "households": np.clip(rng.normal(16, 5, len(i)).round(), 3, 40),
        },
        geometry=shapely.box(west, south, west + CELL_LON, south + CELL_LAT),
        crs=4326,
    )
    grids = micro.dissolve("parent", aggfunc={"households": "sum"}).reset_index()
    grids = grids.rename(columns={"parent": "code"}).assign(parent="C1", name=grids["parent"])
    community = gpd.GeoDataFrame(
        {"code": ["C1"], "name": ["格子社区"], "households": [micro["households"].sum()]},
        geometry=[shapely.box(WEST, SOUTH, WEST + side * CELL_LON, SOUTH + side * CELL_LAT)],
        crs=4326,
    )
    keys = (("community", "社区"), ("grid", "网格"), ("microgrid", "微网格"))
    levels = [Level(key, label, "", "code", name="name", attributes=("households",))
              for key, label in keys]  # fmt: skip
    frames = {"community": community, "grid": grids, "microgrid": micro}
    return Hierarchy(levels, frames, roads=_roads(side))


def _roads(side: int) -> gpd.GeoDataFrame:
    steps = np.arange(0, side + 1, BLOCK)
    north, east = SOUTH + side * CELL_LAT, WEST + side * CELL_LON
    lines = [shapely.LineString([(WEST + k * CELL_LON, SOUTH), (WEST + k * CELL_LON, north)])
             for k in steps]  # fmt: skip
    lines += [shapely.LineString([(WEST, SOUTH + k * CELL_LAT), (east, SOUTH + k * CELL_LAT)])
              for k in steps]  # fmt: skip
    names = [f"路{k}" for k in range(len(lines))]
    return gpd.GeoDataFrame({"name": names}, geometry=lines, crs=4326)


def stroke(plan: Plan, rng: np.random.Generator) -> tuple[list[str], str] | None:
    """1–20 adjacent units of one grid at its edge, and a neighbouring grid to paint them."""
    tally = plan.tally
    labels = tally.labels
    start = int(rng.integers(len(labels)))
    others = [int(labels[v]) for v, *_ in tally.adjacent[start] if labels[v] != labels[start]]
    if not others:
        return None
    across = next(v for v, *_ in tally.adjacent[start] if labels[v] == others[0])
    target = plan.labels[across]
    size, picked, frontier = int(rng.integers(1, 21)), [start], [start]
    seen = {start}
    while frontier and len(picked) < size:
        unit = frontier.pop(0)
        for other, *_ in tally.adjacent[unit]:
            if other not in seen and labels[other] == labels[start] and len(picked) < size:
                seen.add(other)
                picked.append(other)
                frontier.append(other)
    return [str(plan.units.codes[u]) for u in picked], str(target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=45)
    parser.add_argument("--strokes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    hierarchy = lattice(args.side, args.seed)
    started = time.perf_counter()
    units = units_of(hierarchy, "grid", "C1")
    built = time.perf_counter() - started
    started = time.perf_counter()
    plan = Plan(units, band=(300, 500))
    planned = time.perf_counter() - started
    print(f"{len(units):,} units, {len(units.edges):,} edges, {len(plan.grids)} grids")
    print(f"  units_of (adjacency, roads, outline): {built * 1000:.0f} ms")
    print(f"  Plan (tallies):                       {planned * 1000:.0f} ms")

    rng = np.random.default_rng(args.seed)
    times, sizes = [], []
    while len(times) < args.strokes:
        chosen = stroke(plan, rng)
        if chosen is None:
            continue
        codes, target = chosen
        started, cpu = time.perf_counter(), time.thread_time()
        move = plan.move(codes, target)
        plan.metrics(plan.touched(move))
        times.append((time.perf_counter() - started, time.thread_time() - cpu))
        sizes.append(len(move.units))
    wall, cpu = (np.array(column) * 1000 for column in zip(*times, strict=True))
    print(f"{len(wall)} strokes of 1–20 units (mean {np.mean(sizes):.1f} moved), "
          "move + metrics of the touched grids + summary:")  # fmt: skip
    for label, ms in (("wall", wall), ("CPU ", cpu)):
        print(f"  {label} p50 {np.percentile(ms, 50):.2f} ms   p99 {np.percentile(ms, 99):.2f} ms"
              f"   max {ms.max():.2f} ms")  # fmt: skip
    started = time.perf_counter()
    plan.warnings()
    print(f"  warnings() of the whole plan: {(time.perf_counter() - started) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
