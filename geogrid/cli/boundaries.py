"""``geogrid info``, ``validate`` and ``assign``: the boundary files, with no store.

Exit codes: 0 success; 1 the boundaries have topology errors (``validate``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from geogrid.assign import DEFAULT_MAX_DISTANCE_M
from geogrid.assign.bulk import CHUNK, assign_in_chunks
from geogrid.crs import to_wgs84
from geogrid.hierarchy import Hierarchy
from geogrid.models import ASSIGNMENT_OUTCOMES
from geogrid.points import read_points, write_assigned

EXIT_OK, EXIT_TOPOLOGY_ERRORS = 0, 1


def add_boundary_commands(commands) -> None:
    """Add ``info``, ``validate`` and ``assign`` to the ``geogrid`` command."""
    _add_info(commands)
    _add_validate(commands)
    _add_assign(commands)


def _add_info(commands) -> None:
    info = commands.add_parser("info", help="list the levels of a manifest and their grids")
    info.add_argument("manifest", type=Path)
    info.set_defaults(run=_info)


def _add_validate(commands) -> None:
    validate = commands.add_parser("validate", help="check the topology of the boundaries")
    validate.add_argument("manifest", type=Path)
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.add_argument(
        "--problems",
        type=Path,
        metavar="OUT.geojson",
        help="write the problem geometries as GeoJSON (opens in QGIS)",
    )
    validate.add_argument(
        "--sliver-m2",
        type=float,
        default=1.0,
        help="overlaps and gaps smaller than this are warnings (default 1)",
    )
    validate.set_defaults(run=_validate)


def _add_assign(commands) -> None:
    assign = commands.add_parser("assign", help="assign points to their grid at every level")
    assign.add_argument("manifest", type=Path)
    assign.add_argument("points", type=Path, help="CSV with lon/lat columns, or a point layer")
    assign.add_argument("--out", type=Path, required=True, help="CSV, GeoJSON or GeoPackage")
    assign.add_argument("--lon", default="lon", help="longitude column of a CSV (default lon)")
    assign.add_argument("--lat", default="lat", help="latitude column of a CSV (default lat)")
    assign.add_argument("--crs", default=None, help="WGS-84 (CSV default), GCJ-02, BD-09 or EPSG:n")
    assign.add_argument(
        "--max-distance",
        type=float,
        default=DEFAULT_MAX_DISTANCE_M,
        help="metres within which a point outside every grid gets the nearest",
    )
    assign.set_defaults(run=_assign)


def _info(args: argparse.Namespace) -> int:
    hierarchy = Hierarchy.from_manifest(args.manifest)
    print(hierarchy.name or args.manifest)
    for key in hierarchy.levels:
        level = hierarchy.level(key)
        print(
            f"  {key:<12} {level.label:<6} {len(hierarchy.grids(key)):>7,} grids"
            f"  ({level.coverage} coverage)"
        )
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    report = Hierarchy.from_manifest(args.manifest).validate(sliver_m2=args.sliver_m2)
    print(report.to_json() if args.json else report.to_text())
    if args.problems:
        report.write_geojson(args.problems)
        print(f"problem geometries written to {args.problems}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_TOPOLOGY_ERRORS


def _assign(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    hierarchy = Hierarchy.from_manifest(args.manifest).prepare()
    table = read_points(args.points, args.lon, args.lat, args.crs)
    assigned = _assign_with_progress(hierarchy, table.x, table.y, table.crs, args.max_distance)
    lon, lat = to_wgs84(table.x, table.y, table.crs)
    write_assigned(table, assigned, lon, lat, args.out)
    _print_summary(assigned["status"], args.out, time.perf_counter() - started)
    return EXIT_OK


def _assign_with_progress(hierarchy, x, y, crs, max_distance) -> pd.DataFrame:
    with tqdm(total=len(x), unit="pt", unit_scale=True, disable=len(x) <= CHUNK,
              desc="assigning", file=sys.stderr) as bar:  # fmt: skip
        return assign_in_chunks(hierarchy, x, y, crs, max_distance, progress=bar.update)


def _print_summary(status: pd.Series, out: Path, seconds: float) -> None:
    counts = status.value_counts().reindex(ASSIGNMENT_OUTCOMES, fill_value=0)
    total = int(counts.sum())
    print(f"{total:,} points assigned in {seconds:.1f} s → {out}")
    for name, count in counts.items():
        share = 100 * count / total if total else np.nan
        print(f"  {name:<11} {count:>10,}  {share:5.1f} %")
