"""Benchmark: the point index — how long it takes to build, what a server's workers spend on
it, and how fast it assigns against geopandas.sjoin.

Three parts, on the sample district, the big district (``make_sample_district.py --city``,
if made) and the us-atlas counties (``bench/realdata.py``, fetched with npm once):

* ``build``: ``Hierarchy.prepare`` (best of ``--repeats``), the fingerprint, saving the
  index for sharing and mapping it back, each in a fresh process;
* ``server``: PSS and USS (``/proc/PID/smaps_rollup``) of ``python -m web`` with two
  workers, each building its own index (``GEOGRID_INDEX_FOLDER=off``) and sharing one,
  after it started and after 2,000 lookups over HTTP;
* ``assign``: in-process assignment of ``--points`` random points against
  ``geopandas.sjoin`` (bench/bench_assign.py's two runners, each in a fresh process).

``--baseline DIR`` runs ``build`` and ``server`` also with the geogrid package of another
checkout (e.g. ``git worktree add /tmp/base HEAD``), for before/after figures.

    python bench/bench_index.py [--parts build,server,assign] [--points 1000000]
                                [--baseline DIR] [--skip-city] [--skip-us]

It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # after PYTHONPATH: --baseline runs another geogrid
CITY_MANIFEST = Path.home() / ".cache" / "geogrid" / "city" / "city.toml"
LOOKUPS = 2000


# --- build -------------------------------------------------------------------------------


def build_worker(manifest: str, repeats: int) -> dict:
    """In a fresh process: load, build ``repeats`` times, then save, map and fingerprint."""
    from geogrid import Hierarchy

    started = time.perf_counter()
    h = Hierarchy.from_manifest(manifest)
    figures = {"load_s": time.perf_counter() - started, "build_s": [], "cpu_s": []}
    levels, grids = [h.level(k) for k in h.levels], {k: h.grids(k) for k in h.levels}
    for _ in range(repeats):
        fresh = Hierarchy(levels, grids)
        started, cpu = time.perf_counter(), time.process_time()
        fresh.prepare()
        figures["build_s"].append(time.perf_counter() - started)
        # CPU time too: on a shared machine the wall time says more about the neighbours.
        figures["cpu_s"].append(time.process_time() - cpu)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures.update(_sharing_figures(levels, grids))
    return figures


def _sharing_figures(levels, grids) -> dict:
    try:
        from geogrid.assign import shared
    except ImportError:  # a baseline without sharing
        return {}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        key = shared.fingerprint(levels, grids)
        fingerprint_s = time.perf_counter() - started
        started = time.perf_counter()
        shared.shared_assigner(levels, grids, folder)  # builds and saves
        publish_s = time.perf_counter() - started
        started = time.perf_counter()
        shared.shared_assigner(levels, grids, folder)  # finds and maps
        map_s = time.perf_counter() - started
        size = sum(p.stat().st_size for p in (Path(folder) / key).iterdir())
    return {"fingerprint_s": fingerprint_s, "publish_s": publish_s, "map_s": map_s,
            "index_mb": size / 2**20}  # fmt: skip


def report_build(name: str, manifest: str, repeats: int, code: Path | None) -> None:
    figures = _run_worker(["--worker", "build", "--manifest", manifest, "--repeats",
                           str(repeats)], code)  # fmt: skip
    timings = zip(figures["build_s"], figures["cpu_s"], strict=True)
    runs = ", ".join(f"{wall:.2f}/{cpu:.2f}" for wall, cpu in timings)
    print(f"  {name:<8} {_label(code):<9} load {figures['load_s']:5.2f} s  prepare best "
          f"{min(figures['build_s']):6.2f} s wall, {min(figures['cpu_s']):6.2f} s CPU "
          f"(runs wall/CPU: {runs})  peak RSS {figures['peak_rss_mb']:,.0f} MB, load "
          f"{os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    if "map_s" in figures:
        print(f"  {'':<8} {'':<9} shared: fingerprint {figures['fingerprint_s']:.2f} s, build "
              f"+ save {figures['publish_s']:.2f} s, map a saved one {figures['map_s']:.2f} s, "
              f"{figures['index_mb']:,.0f} MB of files", flush=True)  # fmt: skip


# --- server ------------------------------------------------------------------------------


def report_server(name: str, manifest: str, store_folder: Path, code: Path | None) -> None:
    modes = ["off"] if code else ["off", "shared"]
    for mode in modes:
        with tempfile.TemporaryDirectory() as index_folder:
            folder = "off" if mode == "off" else index_folder
            started, after_start, after_lookups = _serve_and_measure(
                manifest, store_folder, folder, code
            )
        what = "each worker builds" if mode == "off" else "one shared index"
        print(f"  {name:<8} {_label(code):<9} {what:<19} ready in {started:5.1f} s", flush=True)
        for when, rows in (("started", after_start), (f"{LOOKUPS:,} lookups", after_lookups)):
            print(f"    {when:<15} {_memory_line(rows)}", flush=True)


def store_worker(manifest: str, folder: str) -> dict:
    """In a fresh process: a store with the manifest's boundaries imported and active."""
    from geogrid import Hierarchy
    from geogrid.storage import open_store

    started = time.perf_counter()
    district = Hierarchy.from_manifest(manifest)
    store = open_store(f"sqlite:///{folder}/geogrid.db")
    store.import_generation(district, district.name or "boundaries", activate=True,
                            actor="setup")  # fmt: skip
    return {"import_s": time.perf_counter() - started}


def _serve_and_measure(manifest, store_folder, index_folder, code):
    port = _free_port()
    env = {**os.environ, "GEOGRID_STORE": f"sqlite:///{store_folder}/geogrid.db",
           "GEOGRID_MANIFEST": str(manifest), "GEOGRID_WORKERS": "2", "GEOGRID_PORT": str(port),
           "GEOGRID_INDEX_FOLDER": index_folder, "GEOGRID_ANONYMOUS_ACTIONS": "lookup",
           "GEOGRID_DEMO_ACCOUNTS": "no"}  # fmt: skip
    if code:
        env["PYTHONPATH"] = str(code)
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "web"], env=env, cwd=code or ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        bounds = _bounds(manifest)
        _wait_until_ready(server, port, bounds)
        ready_s = time.perf_counter() - started
        after_start = _tree_memory(server.pid)
        _lookups(port, bounds, LOOKUPS)
        return ready_s, after_start, _tree_memory(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def _wait_until_ready(server, port: int, bounds) -> None:
    """Until a lookup answers and both workers have stopped using CPU (index built or mapped)."""
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server stopped with {server.returncode}")
        try:
            _lookups(port, bounds, 1)
            break
        except OSError:
            time.sleep(1)
    last = None
    while time.monotonic() < deadline:
        workers = _children(server.pid)
        used = sum(_cpu_ticks(pid) for pid in workers)
        if len(workers) >= 2 and used == last:
            return
        last = used
        time.sleep(2)


def _lookups(port: int, bounds, count: int) -> None:
    rng = np.random.default_rng(7)
    west, south, east, north = bounds
    for lon, lat in zip(rng.uniform(west, east, count), rng.uniform(south, north, count),
                        strict=True):  # fmt: skip
        url = f"http://127.0.0.1:{port}/api/lookup?lon={lon:.6f}&lat={lat:.6f}"
        with urllib.request.urlopen(url, timeout=60) as answer:
            answer.read()


def _tree_memory(pid: int) -> list[tuple[str, dict]]:
    rows = [("main", _smaps(pid))]
    rows += [(f"worker {pid}", _smaps(pid)) for pid in _children(pid)]
    return rows


def _smaps(pid: int) -> dict:
    """Rss, Pss and USS (private clean + dirty) in MB, from smaps_rollup."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                values[parts[0].rstrip(":")] = int(parts[1]) / 1024
    uss = values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)
    return {"rss": values.get("Rss", 0), "pss": values.get("Pss", 0), "uss": uss}


def _memory_line(rows) -> str:
    parts = [f"{name.split()[0]} PSS {m['pss']:,.0f} / USS {m['uss']:,.0f}" for name, m in rows]
    total_pss = sum(m["pss"] for _, m in rows)
    total_uss = sum(m["uss"] for _, m in rows)
    return f"total PSS {total_pss:,.0f} MB, USS {total_uss:,.0f} MB  ({'; '.join(parts)})"


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except FileNotFoundError:
        return []


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _bounds(manifest: str) -> tuple[float, float, float, float]:
    from geogrid.layers import read_boundary_layer
    from geogrid.manifest import load_manifest

    loaded = load_manifest(manifest)
    top = loaded.levels[0]
    return tuple(read_boundary_layer(loaded.source(top), top, loaded.crs).total_bounds)


# --- assignment --------------------------------------------------------------------------


def report_assign(name: str, manifest: str, count: int) -> None:
    from bench import bench_assign

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench_assign.random_points(manifest, count, folder)
        # Best of two fresh processes each: a busy neighbour can double a 0.2 s run.
        ours = min((bench_assign.spawn("geogrid", manifest, folder) for _ in range(2)),
                   key=lambda figures: figures["seconds"])  # fmt: skip
        theirs = min((bench_assign.spawn("sjoin", manifest, folder) for _ in range(2)),
                     key=lambda figures: figures["seconds"])  # fmt: skip
        from geogrid import Hierarchy

        checked, disagree = bench_assign.compare(folder, Hierarchy.from_manifest(manifest).levels)
    print(f"  {name:<8} {count:,} points: Hierarchy.assign {ours['seconds']:.3f} s "
          f"({count / ours['seconds']:,.0f} points/s), sjoin + parent joins "
          f"{theirs['seconds']:.3f} s: {theirs['seconds'] / ours['seconds']:.1f}×; "
          f"{disagree:,} of {checked:,} differ", flush=True)  # fmt: skip


# --- running -----------------------------------------------------------------------------


def _run_worker(arguments: list[str], code: Path | None) -> dict:
    env = {**os.environ, **({"PYTHONPATH": str(code)} if code else {})}
    output = subprocess.run([sys.executable, __file__, *arguments], check=True, env=env,
                            capture_output=True, text=True, cwd=code or ROOT).stdout  # fmt: skip
    return json.loads(output.strip().splitlines()[-1])


def _label(code: Path | None) -> str:
    return "baseline" if code else "this"


def _manifests(args) -> dict[str, str]:
    found = {"sample": str(ROOT / "data" / "boundaries" / "sample.toml")}
    if not args.skip_city:
        if not CITY_MANIFEST.exists():
            subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sample_district.py"),
                            "--city"], check=True)  # fmt: skip
        found["city"] = str(CITY_MANIFEST)
    if not args.skip_us:
        from bench.realdata import us_counties_manifest

        found["us-atlas"] = str(us_counties_manifest())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="build,server,assign")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--skip-city", action="store_true")
    parser.add_argument("--skip-us", action="store_true")
    parser.add_argument("--worker", choices=["build", "store"])
    parser.add_argument("--store")
    parser.add_argument("--manifest")
    args = parser.parse_args()
    if args.worker == "build":
        print(json.dumps(build_worker(args.manifest, args.repeats)))
        return
    if args.worker == "store":
        print(json.dumps(store_worker(args.manifest, args.store)))
        return
    parts, manifests = args.parts.split(","), _manifests(args)
    codes = [None] + ([args.baseline.resolve()] if args.baseline else [])
    print(f"point index benchmarks (load: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    if "build" in parts:
        print("index build (Hierarchy.prepare), each in a fresh process:")
        for name, manifest in manifests.items():
            for code in codes:
                repeats = args.repeats if name == "sample" else 1
                report_build(name, manifest, repeats, code)
    if "server" in parts:
        print("server memory, python -m web with 2 workers (MB):")
        for name, manifest in manifests.items():
            if name == "us-atlas":
                continue  # the brief's figures are the two districts
            with tempfile.TemporaryDirectory() as store_folder:
                # The baseline first: it makes the store, which this code may then upgrade.
                # Made before measuring, so that no main process carries the import.
                _run_worker(["--worker", "store", "--manifest", manifest, "--store",
                             store_folder], codes[-1])  # fmt: skip
                for code in reversed(codes):
                    report_server(name, manifest, Path(store_folder), code)
    if "assign" in parts:
        print("in-process assignment against geopandas.sjoin:")
        for name, manifest in manifests.items():
            report_assign(name, manifest, args.points)


if __name__ == "__main__":
    main()
