"""Benchmark: automatic redraw proposals for street 330399001 of the sample (~650 micro-grids).

The issue's target: "a proposal for one street of ~650 micro-grids into grids of 300–500
households: every grid in band and contiguous in ≤ 5 s; in keep-current mode report the share
of households kept". A redraw of level "grid" happens inside one community, so the street is
measured two ways:

1. per community: ``propose`` on each of the street's 12 communities (``units_within``), times
   summed; with the 2027 survey, whose new compounds put two grids of community
   330399001010 far above the band, so keep-current mode has something to repair;
2. street-wide: the same micro-grids as the units of one parent, from a copy of the sample
   without its community level (street → grid → micro-grid), so one proposal regroups all of
   them — what a multi-community redraw of a street would be.

Fresh and keep-current modes, seeds 0–2. Prints figures only (no assertion on time).

    python bench/bench_redraw_propose.py [--street 330399001] [--time-limit 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geogrid import Hierarchy  # noqa: E402
from geogrid.redraw.propose import propose  # noqa: E402
from geogrid.redraw.survey import read_survey  # noqa: E402
from geogrid.redraw.units import units_of, units_within  # noqa: E402

SAMPLE = ROOT / "data/boundaries/sample.toml"
SURVEY = ROOT / "data/boundaries/survey-2027.csv"
SEEDS = (0, 1, 2)


def street_hierarchy(sample: Hierarchy) -> Hierarchy:
    """The sample without its community level: grids hang from their street directly."""
    levels = [sample.level(key) for key in ("street", "grid", "microgrid")]
    communities = sample.grids("community").set_index("code")["parent"]
    grids = sample.grids("grid")
    grids["parent"] = grids["parent"].map(communities)
    frames = {
        "street": sample.grids("street"),
        "grid": grids,
        "microgrid": sample.grids("microgrid"),
    }
    return Hierarchy(levels, frames, name="street-wide", roads=sample.roads())


def run(all_units, keep_current: bool, seed: int, time_limit: float) -> dict:
    """One proposal per Units; figures summed (kept share weighted by households)."""
    totals = {"units": 0, "grids": 0, "in_band": 0, "contiguous": 0, "seconds": 0.0}
    kept = weight = 0.0
    for units in all_units:
        p = propose(units, keep_current=keep_current, seed=seed, time_limit_s=time_limit)
        households = float(units.weights["households"].sum())
        totals["units"] += len(units)
        totals["grids"] += p.grids
        totals["in_band"] += p.in_band
        totals["contiguous"] += p.contiguous
        totals["seconds"] += p.seconds
        kept += (p.kept_share or 0.0) * households
        weight += households
    totals["kept"] = kept / weight if weight else None
    return totals


def report(title: str, all_units, time_limit: float) -> None:
    print(title)
    print(
        f"  {'mode':<13}{'seed':>5}{'units':>7}{'grids':>7}{'in band':>9}"
        f"{'contig.':>9}{'seconds':>9}{'kept':>8}"
    )
    for keep_current in (False, True):
        for seed in SEEDS:
            r = run(all_units, keep_current, seed, time_limit)
            mode = "keep-current" if keep_current else "fresh"
            print(
                f"  {mode:<13}{seed:>5}{r['units']:>7}{r['grids']:>7}{r['in_band']:>9}"
                f"{r['contiguous']:>9}{r['seconds']:>9.2f}{r['kept']:>8.1%}",
                flush=True,
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--street", default="330399001")
    parser.add_argument("--time-limit", type=float, default=5.0)
    args = parser.parse_args()
    sample = Hierarchy.from_manifest(SAMPLE)
    survey = read_survey(SURVEY)
    for label, extra in (("base", {}), ("2027 survey", {"survey": survey})):
        started = time.perf_counter()
        per_community = units_within(sample, "grid", args.street, **extra)
        built = time.perf_counter() - started
        report(
            f"street {args.street}, per community ({len(per_community)} communities, "
            f"{label}; units built in {built:.2f} s):",
            per_community,
            args.time_limit,
        )
        started = time.perf_counter()
        whole = units_of(street_hierarchy(sample), "grid", args.street, **extra)
        built = time.perf_counter() - started
        report(
            f"street {args.street}, street-wide ({label}; units built in {built:.2f} s):",
            [whole],
            args.time_limit,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
