"""Run every benchmark in bench/ and print its figures (no assertions on time).

``python bench/run.py`` runs them all; ``python bench/run.py province`` runs only
the province's (the point index, Dask, re-assignment, the map), side by side in one run;
any other arguments name the benchmarks to run (``bench_queue.py bench_stats.py``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: A province, not a district: the point index, the Dask path, re-assigning history, the map.
PROVINCE = ["bench_index.py", "bench_dask.py", "bench_reassign.py", "bench_map.py"]

BENCHMARKS = [
    "bench_assign.py",
    "bench_storage.py",
    "bench_patrol.py",
    "bench_analysis.py",
    "bench_web.py",
    "bench_costly.py",
    "bench_redraw_stroke.py",
    "bench_redraw_propose.py",
    "bench_redraw_impact.py",
    "bench_redraw_page.py",
    "bench_stats.py",
    "bench_queue.py",
    *PROVINCE,
]


def main(names: list[str]) -> int:
    here = Path(__file__).resolve().parent
    chosen = PROVINCE if names == ["province"] else names or BENCHMARKS
    for name in chosen:
        print(f"== {name}", flush=True)
        subprocess.run([sys.executable, str(here / name)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
