"""Run every benchmark in bench/ and print its figures (no assertions on time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
]


def main() -> int:
    here = Path(__file__).resolve().parent
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        subprocess.run([sys.executable, str(here / name)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
