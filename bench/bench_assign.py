"""Benchmark: Hierarchy.assign against geopandas.sjoin + parent joins, side by side.

Each method runs in its own fresh process, so that its time and its peak memory
(peak RSS above the RSS before the run) are its own. Both start from the same
arrays of longitude and latitude and must produce the code at every level.

    python bench/bench_assign.py [--points 1000000] [--manifest data/boundaries/sample.toml]

It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
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


def rss_mb() -> float:
    """Current resident set size in MB (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_geogrid(hierarchy, lon, lat) -> dict[str, np.ndarray]:
    result = hierarchy.assign(lon, lat)
    return {key: result[f"{key}_code"].astype(object).to_numpy() for key in hierarchy.levels}


def run_sjoin(hierarchy, lon, lat) -> dict[str, np.ndarray]:
    """The straightforward way: sjoin into the finest level, then walk the parents by joins."""
    import geopandas as gpd

    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    base, partial = _split_levels(hierarchy)
    codes: dict[str, pd.Series] = {}
    joined = gpd.sjoin(
        points,
        hierarchy.grids(base)[["code", "parent", "geometry"]],
        predicate="within",
        how="left",
    )
    joined = joined[~joined.index.duplicated(keep="first")]
    codes[base] = joined["code"]
    parent = joined["parent"]
    for key in reversed(hierarchy.levels[: hierarchy.levels.index(base)]):
        table = hierarchy.grids(key)[["code", "parent"]]
        walked = pd.DataFrame({"code": parent}).merge(table, on="code", how="left")
        codes[key] = pd.Series(walked["code"].to_numpy(), index=parent.index)
        parent = pd.Series(walked["parent"].to_numpy(), index=parent.index)
    for key in partial:
        inside = gpd.sjoin(
            points, hierarchy.grids(key)[["code", "geometry"]], predicate="within", how="left"
        )
        codes[key] = inside[~inside.index.duplicated(keep="first")]["code"]
    return {key: codes[key].to_numpy() for key in hierarchy.levels}


def _split_levels(hierarchy) -> tuple[str, list[str]]:
    keys = hierarchy.levels
    partial = [k for k in keys if hierarchy.level(k).coverage == "partial"]
    full = [k for k in keys if k not in partial]
    return full[-1], partial


def worker(method: str, manifest: str, folder: Path) -> None:
    from geogrid import Hierarchy

    started = time.perf_counter()
    hierarchy = Hierarchy.from_manifest(manifest)
    loaded = time.perf_counter()
    if method == "geogrid":
        hierarchy.prepare()
    indexed = time.perf_counter()
    lon, lat = np.load(folder / "lon.npy"), np.load(folder / "lat.npy")
    before = rss_mb()
    run = run_geogrid if method == "geogrid" else run_sjoin
    t0 = time.perf_counter()
    codes = run(hierarchy, lon, lat)
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb() - before
    pd.DataFrame(codes).to_pickle(folder / f"{method}.pkl")
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak,
                "load_s": loaded - started,
                "index_s": indexed - loaded,
            }
        )
    )


def read_codes(folder: Path, method: str) -> pd.DataFrame:
    return pd.read_pickle(folder / f"{method}.pkl")


def spawn(method: str, manifest: str, folder: Path) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        method,
        "--manifest",
        manifest,
        "--folder",
        str(folder),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def random_points(manifest: str, count: int, folder: Path) -> None:
    from geogrid import Hierarchy

    h = Hierarchy.from_manifest(manifest)
    west, south, east, north = h.grids(h.levels[0]).total_bounds
    rng = np.random.default_rng(2026)
    np.save(folder / "lon.npy", rng.uniform(west, east, count))
    np.save(folder / "lat.npy", rng.uniform(south, north, count))


def compare(folder: Path, levels: list[str]) -> tuple[int, int]:
    """Points where the reference found a grid, and how many of those disagree."""
    ours, theirs = read_codes(folder, "geogrid"), read_codes(folder, "sjoin")
    checked = theirs[levels[0]].notna().to_numpy()
    disagree = np.zeros(len(ours), dtype=bool)
    for key in levels:
        a = ours[key].astype(object).where(ours[key].notna(), None).to_numpy()
        b = theirs[key].astype(object).where(theirs[key].notna(), None).to_numpy()
        disagree |= checked & (a != b)
    return int(checked.sum()), int(disagree.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--manifest", default=str(ROOT / "data/boundaries/sample.toml"))
    parser.add_argument("--worker", choices=["geogrid", "sjoin"])
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.manifest, args.folder)
        return
    report(args.manifest, args.points)


def report(manifest: str, count: int) -> None:
    from geogrid import Hierarchy

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        random_points(manifest, count, folder)
        ours = spawn("geogrid", manifest, folder)
        theirs = spawn("sjoin", manifest, folder)
        levels = Hierarchy.from_manifest(manifest).levels
        checked, disagree = compare(folder, levels)
    print(f"assign {count:,} random points to {len(levels)} levels ({manifest})")
    print(
        f"  hierarchy load {ours['load_s']:.2f} s, assignment index build {ours['index_s']:.2f} s"
    )
    for name, figures in (("Hierarchy.assign", ours), ("sjoin + parent joins", theirs)):
        rate = count / figures["seconds"]
        print(
            f"  {name:<22} {figures['seconds']:7.3f} s  {rate:12,.0f} points/s  "
            f"peak +{figures['peak_mb']:,.0f} MB"
        )
    print(f"  speed-up {theirs['seconds'] / ours['seconds']:.1f}×")
    print(
        f"  agreement: {disagree:,} of {checked:,} points inside a grid differ "
        f"({count - checked:,} points outside every grid or on an edge not compared)"
    )


if __name__ == "__main__":
    main()
