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
from geogrid.errors import InputError
from geogrid.hierarchy import Hierarchy
from geogrid.models import ASSIGNMENT_OUTCOMES
from geogrid.points import read_points, write_assigned

EXIT_OK, EXIT_TOPOLOGY_ERRORS = 0, 1
ENGINES = ("in-process", "dask")


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
    assign.add_argument(
        "points",
        type=Path,
        help="CSV with lon/lat columns, or a point layer; with --engine dask: "
        "CSV, Parquet/GeoParquet file or a folder of them",
    )
    assign.add_argument(
        "--out",
        type=Path,
        required=True,
        help="CSV, GeoJSON or GeoPackage; with --engine dask: a folder of GeoParquet parts",
    )
    assign.add_argument("--lon", default="lon", help="longitude column of a CSV (default lon)")
    assign.add_argument("--lat", default="lat", help="latitude column of a CSV (default lat)")
    assign.add_argument("--crs", default=None, help="WGS-84 (CSV default), GCJ-02, BD-09 or EPSG:n")
    assign.add_argument(
        "--max-distance",
        type=float,
        default=DEFAULT_MAX_DISTANCE_M,
        help="metres within which a point outside every grid gets the nearest",
    )
    _add_engine_options(assign)
    assign.set_defaults(run=_assign)


def _add_engine_options(assign) -> None:
    engine = assign.add_argument_group("engine")
    engine.add_argument(
        "--engine",
        choices=ENGINES,
        default=ENGINES[0],
        help="in-process (default): this process; dask: partitions on a Dask cluster",
    )
    engine.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler to use, e.g. tcp://10.0.0.5:8786 (default: start a local cluster)",
    )
    engine.add_argument(
        "--workers", type=int, help="worker processes of the local cluster (default: one per core)"
    )
    engine.add_argument(
        "--partition-rows",
        type=int,
        default=None,
        help="rows per partition (default 2,000,000); Parquet partitions are whole row groups",
    )
    engine.add_argument(
        "--scheduler-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the scheduler to answer (default 10)",
    )


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
    if args.engine == "dask":
        return _assign_on_dask(args)
    for option in ("scheduler", "workers", "partition_rows"):
        if getattr(args, option) is not None:
            raise InputError(f"--{option.replace('_', '-')} needs --engine dask")
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


def _assign_on_dask(args: argparse.Namespace) -> int:
    # deferred: distributed takes a second to import, and only this engine needs it
    from geogrid.assign.dask import (
        PARTITION_ROWS,
        PointColumns,
        assign_on_dask,
        dask_client,
        plan_partitions,
    )

    started = time.perf_counter()
    _check_dask_options(args)
    hierarchy = Hierarchy.from_manifest(args.manifest)
    columns = PointColumns(args.lon, args.lat, args.crs)
    rows = PARTITION_ROWS if args.partition_rows is None else args.partition_rows
    partitions = plan_partitions(args.points, columns, rows)
    with (
        dask_client(args.scheduler, args.workers, args.scheduler_timeout) as client,
        tqdm(unit="pt", unit_scale=True, desc="assigning", file=sys.stderr, disable=None) as bar,
    ):  # disable=None: a bar on a terminal only, not in a log
        summary = assign_on_dask(
            client, hierarchy, partitions, args.out, args.max_distance, progress=bar.update
        )
    _print_counts(pd.Series(summary.counts), args.out, time.perf_counter() - started)
    print(f"  {summary.partitions:,} parts in {args.out}")
    return EXIT_OK


def _check_dask_options(args: argparse.Namespace) -> None:
    """Refuse options the Dask engine cannot use, before any boundaries are loaded.

    Examples
    --------
    >>> options = dict(scheduler=None, workers=0, partition_rows=None, out=Path("o"))
    >>> _check_dask_options(argparse.Namespace(**options))
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: --workers: must be at least 1, got 0
    """
    # A local cluster of no workers would wait for one forever.
    for option in ("workers", "partition_rows"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise InputError(f"--{option.replace('_', '-')}: must be at least 1, got {value}")
    if args.scheduler and args.workers:
        raise InputError("--workers sizes the local cluster; a --scheduler has its own workers")
    if args.out.suffix.lower() in (".csv", ".geojson", ".json", ".gpkg"):
        raise InputError(
            f"{args.out}: --engine dask writes a folder of GeoParquet parts; give a folder name"
        )


def _print_summary(status: pd.Series, out: Path, seconds: float) -> None:
    _print_counts(status.value_counts(), out, seconds)


def _print_counts(counts: pd.Series, out: Path, seconds: float) -> None:
    counts = counts.reindex(ASSIGNMENT_OUTCOMES, fill_value=0)
    total = int(counts.sum())
    print(f"{total:,} points assigned in {seconds:.1f} s → {out}")
    for name, count in counts.items():
        share = 100 * count / total if total else np.nan
        print(f"  {name:<11} {count:>10,}  {share:5.1f} %")
