"""``geogrid patrol plan|import|compliance``: patrol routes, tracks and compliance.

Every command takes ``--store URL`` (default ``$GEOGRID_STORE``, else
``sqlite:///geogrid.db``) for the active boundaries, hazards and routes, and the
planning command ``--network FILE`` (an .osm, .graphml or line layer; default the
roads stored with the active generation, or those of ``--manifest MANIFEST``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geogrid.cli.common import ACTOR_HELP, operator
from geogrid.crs import geometry_to_wgs84, to_wgs84
from geogrid.errors import InputError
from geogrid.hierarchy import Hierarchy
from geogrid.patrol.batch import analyse_gpx_files, compliance_of_gpx_files
from geogrid.patrol.compliance import PatrolRule, compliance_of_tracks
from geogrid.patrol.gpx import parse_route_gpx
from geogrid.patrol.network import (
    DEFAULT_MAX_SNAP_M,
    RoadNetwork,
    default_network,
    network_from_roads,
    read_network,
)
from geogrid.patrol.records import SHIFTS, PatrolRoute, check_route
from geogrid.patrol.routing import (
    grid_area,
    plan_level,
    plan_priority_route,
    plan_street_coverage,
    store_places,
)
from geogrid.storage import DEFAULT_URL, Store, open_store

EXIT_OK = 0
LEVEL_HELP = "level of the grids counted (default: the district's default level)"


def add_patrol_commands(commands) -> None:
    """Register ``patrol plan``, ``patrol import`` and ``patrol compliance``."""
    patrol = commands.add_parser("patrol", help="plan patrol routes, import tracks, compliance")
    sub = patrol.add_subparsers(required=True, metavar="ACTION")
    _add_plan(sub)
    _add_import(sub)
    _add_compliance(sub)


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=os.environ.get("GEOGRID_STORE", DEFAULT_URL),
        help="store URL (default $GEOGRID_STORE or sqlite:///geogrid.db)",
    )


def _add_plan(sub) -> None:
    plan = sub.add_parser("plan", help="plan a closed route from a start point")
    plan.add_argument("--start", required=True, metavar="LON,LAT", help="start and end point")
    plan.add_argument("--crs", default="WGS-84", help="CRS of --start: WGS-84, GCJ-02, BD-09")
    plan.add_argument("--grid", nargs="*", default=[], help="grid codes to plan in (any level)")
    plan.add_argument(
        "--cover-streets",
        action="store_true",
        help="walk every street of the grids (Chinese postman)",
    )
    plan.add_argument(
        "--places",
        type=Path,
        help="CSV or GeoJSON of places with a 'weight' "
        "(default: the store's hazards and the busiest grids)",
    )
    plan.add_argument(
        "--level",
        help="level whose busiest grids are visited "
        "(default: the finest level of --grid, else the district's default level)",
    )
    plan.add_argument("--max-length", type=float, default=5000.0, help="metres (default 5000)")
    plan.add_argument("--time-limit", type=float, default=1.0, help="solver seconds (default 1)")
    plan.add_argument(
        "--max-snap",
        type=float,
        default=DEFAULT_MAX_SNAP_M,
        help="metres from a road a point may be (default 250)",
    )
    plan.add_argument(
        "--network",
        help="roads: .osm, .graphml, or a line layer (default: the active generation's roads)",
    )
    plan.add_argument(
        "--manifest",
        help="read the roads of this manifest instead (for generations stored without roads)",
    )
    plan.add_argument("--out", type=Path, help="write the route: .geojson or .gpx")
    plan.add_argument(
        "--save",
        choices=SHIFTS,
        metavar="SHIFT",
        help="store the route for the one --grid and this shift",
    )
    _store_option(plan)
    plan.set_defaults(run=_plan)


def _add_import(sub) -> None:
    command = sub.add_parser("import", help="store and analyse GPX tracks, or store a route")
    command.add_argument("files", type=Path, nargs="+", help="GPX tracks (or a route file)")
    command.add_argument("--crs", default="WGS-84", help="WGS-84 (GPX), GCJ-02 or BD-09")
    command.add_argument(
        "--route",
        choices=SHIFTS,
        metavar="SHIFT",
        help="store the file's line (GPX or GeoJSON) as --grid's route "
        "for this shift instead of analysing tracks",
    )
    command.add_argument("--grid", help="grid code: its stored route is compared with tracks")
    command.add_argument("--level", help=LEVEL_HELP)
    command.add_argument("--tolerance", type=float, default=30.0, help="route tolerance (m)")
    command.add_argument("--stop-minutes", type=float, default=5.0)
    command.add_argument("--stop-radius", type=float, default=30.0)
    command.add_argument("--json", action="store_true", help="print the analysis as JSON")
    command.add_argument("--dry-run", action="store_true", help="analyse only, store nothing")
    command.add_argument("--actor", help=ACTOR_HELP)
    _store_option(command)
    command.set_defaults(run=_import)


def _add_compliance(sub) -> None:
    command = sub.add_parser("compliance", help="patrols per grid and day from GPX tracks")
    command.add_argument(
        "files", type=Path, nargs="*", help="GPX tracks of the period (none: the stored tracks)"
    )
    command.add_argument("--crs", default="WGS-84")
    command.add_argument("--level", help=LEVEL_HELP)
    command.add_argument("--since", help="first day (default: the tracks' first)")
    command.add_argument("--until", help="last day (default: the tracks' last)")
    command.add_argument("--required", type=int, default=3, help="patrols a day (一日三巡: 3)")
    command.add_argument("--min-minutes", type=float, default=2.0)
    command.add_argument("--min-length", type=float, default=100.0)
    command.add_argument("--merge-minutes", type=float, default=60.0)
    command.add_argument("--out", type=Path, help="the grid-day table as CSV")
    command.add_argument("--layer", type=Path, help="the map layer as GeoJSON or GeoPackage")
    _store_option(command)
    command.set_defaults(run=_compliance)


# --- plan --------------------------------------------------------------------------------


def _plan(args: argparse.Namespace) -> int:
    if args.save and len(args.grid) != 1:
        raise InputError("--save: give exactly one --grid to store the route for")
    store = open_store(args.store)
    hierarchy = store.hierarchy()
    lon, lat = _start(args.start, args.crs)
    area = grid_area(hierarchy, args.grid) if args.grid else None
    network = _network(args.network, args.manifest, store)
    if args.cover_streets:
        route = plan_street_coverage(network, area, lon, lat, max_snap_m=args.max_snap)
    else:
        places = _plan_places(args, store, hierarchy, area)
        route = plan_priority_route(
            network,
            lon,
            lat,
            places,
            max_length_m=args.max_length,
            max_snap_m=args.max_snap,
            time_limit_s=args.time_limit,
        )
    _print_route(route)
    if args.out:
        _write_route(route, args.out)
    if args.save:
        route_id = store.add_patrol_route(route.to_patrol_route(args.grid[0], args.save))
        print(f"stored as patrol route {route_id} of grid {args.grid[0]}, {args.save}")
    return EXIT_OK


def _plan_places(args: argparse.Namespace, store, hierarchy: Hierarchy, area):
    if args.places:
        return _places(args.places)
    # Districts name their levels as they like: the planned grid says which to look at.
    if args.level:
        level = hierarchy.chosen_level(args.level, "--level")
    else:
        level = plan_level(hierarchy, args.grid)
    return store_places(store, hierarchy, area, level)


def _start(text: str, crs: str) -> tuple[float, float]:
    try:
        lon, lat = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--start: {text!r} is not LON,LAT") from None
    x, y = to_wgs84(lon, lat, crs)
    return float(x), float(y)


def _network(path: str | None, manifest: str | None, store: Store) -> RoadNetwork:
    """A file given wins; then a manifest given; else the active generation's roads."""
    if path:
        return read_network(path)
    if manifest:
        return default_network(Hierarchy.from_manifest(manifest))
    roads = store.roads()
    if roads is None:
        raise InputError(
            "road network: the active generation carries no roads (its manifest has no "
            "[roads], or it was imported before roads were stored); give --network FILE "
            "or --manifest MANIFEST, or import the boundaries again"
        )
    return network_from_roads(roads, "the active generation's roads")


def _places(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"--places: file not found: {path}")
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    return gpd.read_file(path).to_crs(4326)


def _print_route(route) -> None:
    print(
        f"route: {route.length_m:,.0f} m, about {route.walking_minutes:.0f} min on foot "
        f"({route.solver})"
    )
    for row in route.visited.itertuples():
        print(f"  {row.order:>3}. {row.name} (weight {row.weight:g}) at {row.at_m:,.0f} m")
    for row in route.skipped.itertuples():
        print(f"  skipped: {row.name}: {row.reason}")
    for note in route.notes:
        print(f"  note: {note}")


def _write_route(route, out: Path) -> None:
    if out.suffix.lower() == ".gpx":
        out.write_text(route.to_gpx(), encoding="utf-8")
    elif out.suffix.lower() in (".geojson", ".json"):
        out.write_text(json.dumps(route.to_geojson(), ensure_ascii=False), encoding="utf-8")
    else:
        raise InputError(f"--out: {out.name}: use a .geojson or .gpx file")
    print(f"written to {out}")


# --- import ---------------------------------------------------------------------------------


def _import(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    if args.route:
        return _import_route(args, store)
    hierarchy = store.hierarchy()
    level = hierarchy.chosen_level(args.level, "--level")
    route = _stored_route(store, args.grid) if args.grid else None
    # Read every file before printing anything: one bad file stops the batch, named.
    analyses = analyse_gpx_files(
        args.files,
        hierarchy,
        crs=args.crs,
        level=level,
        route=route,
        tolerance_m=args.tolerance,
        stop_minutes=args.stop_minutes,
        stop_radius_m=args.stop_radius,
    )
    stored = (
        [] if args.dry_run else store.add_tracks([a.track for a in analyses], actor=operator(args))
    )
    if args.json:
        records = [a.to_dict() for a in analyses]
        for record, intake in zip(records, stored, strict=False):
            record.update(id=intake.id, new=intake.created)
        print(json.dumps(records, ensure_ascii=False, indent=2))
    else:
        for analysis in analyses:
            _print_analysis(analysis, level)
    if stored:
        new = sum(intake.created for intake in stored)
        _note(f"stored {new} new tracks ({len(stored) - new} stored before)")
    return EXIT_OK


def _import_route(args: argparse.Namespace, store) -> int:
    if not args.grid or len(args.files) != 1:
        raise InputError("--route: give one route file and the --grid it belongs to")
    path = args.files[0]
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() == ".gpx":
        line = parse_route_gpx(path.read_bytes(), str(path), crs=args.crs)
    else:
        line = _geojson_line(path, args.crs)
    route = PatrolRoute(
        args.grid, args.route, line, name=path.stem, attributes={"source": path.name}
    )
    check_route(route)
    route_id = store.add_patrol_route(route)
    print(f"stored {path} as patrol route {route_id} of grid {args.grid}, {args.route}")
    return EXIT_OK


def _geojson_line(path: Path, crs: str):
    try:
        frame = gpd.read_file(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    lines = frame[frame.geom_type.isin(["LineString", "MultiLineString"])]
    if lines.empty:
        raise InputError(f"{path}: holds no line")
    return geometry_to_wgs84(lines.geometry.iloc[0], crs)


def _stored_route(store, grid: str):
    routes = store.patrol_routes(grid)
    if len(routes) == 0:
        raise InputError(f"--grid: grid {grid} has no stored patrol route to compare with")
    return routes.geometry.iloc[-1]


def _print_analysis(analysis, level: str) -> None:
    track = analysis.track
    print(
        f"{track.label} ({track.worker}): {analysis.length_m:,.0f} m in "
        f"{analysis.duration_s / 60:.0f} min, {track.start:%Y-%m-%d %H:%M}Z"
    )
    for row in analysis.grids.itertuples():
        print(f"  {level} {row.code}: {row.seconds / 60:.1f} min, {row.length_m:,.0f} m")
    for row in analysis.stops.itertuples():
        print(
            f"  stop {row.start:%H:%M}–{row.end:%H:%M}Z: {row.minutes:.0f} min "
            f"at {row.lon:.5f},{row.lat:.5f}"
        )
    if analysis.route_coverage is not None:
        print(f"  planned route covered: {analysis.route_coverage:.0%}")


def _note(text: str) -> None:
    """A line on stderr for the person at the terminal, after all printed so far."""
    # Python buffers stdout in blocks when it is a file or a pipe: unflushed, the listing's
    # tail would follow this line, and a block may end mid-line, which then runs into it.
    sys.stdout.flush()
    print(text, file=sys.stderr)


# --- compliance --------------------------------------------------------------------------


def _compliance(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    rule = PatrolRule(
        required_per_day=args.required,
        min_minutes=args.min_minutes,
        min_length_m=args.min_length,
        merge_minutes=args.merge_minutes,
        timezone=store.calendar.timezone,
    )
    hierarchy = store.hierarchy()
    level = hierarchy.chosen_level(args.level, "--level")
    if args.files:
        result = compliance_of_gpx_files(args.files, hierarchy, level=level, since=args.since,
                                         until=args.until, rule=rule, crs=args.crs)  # fmt: skip
    else:
        stored = _stored_tracks(store, args, rule)
        result = compliance_of_tracks(stored, hierarchy, level=level, since=args.since,
                                      until=args.until, rule=rule, skip_outside=True)  # fmt: skip
    for track in result.outside:
        _note(f"left out: {track.label} ({track.worker}) passes no grid")
    counts = result.summary["status"].value_counts()
    days = result.table["day"].nunique()
    print(
        f"{len(result.tracks)} tracks, {len(result.patrols)} patrols, {days} days, "
        f"{len(result.summary)} grids: "
        + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("met", "partly", "short", "never"))
    )
    for row in result.summary.head(10).itertuples():
        print(
            f"  {row.code} {row.label}: {row.days_met}/{row.days} days met, {row.patrols} patrols"
        )
    if args.out:
        result.table.to_csv(args.out, index=False, encoding="utf-8")
        _note(f"table written to {args.out}")
    if args.layer:
        result.layer.to_file(args.layer)
        _note(f"layer written to {args.layer}")
    return EXIT_OK


def _stored_tracks(store, args: argparse.Namespace, rule: PatrolRule) -> list:
    """The stored tracks of the local days --since … --until."""
    if not (args.since and args.until):
        raise InputError("give GPX files, or --since and --until to count the stored tracks")
    try:
        first, last = pd.Timestamp(args.since).date(), pd.Timestamp(args.until).date()
    except (ValueError, TypeError):
        raise InputError(f"--since/--until: {args.since!r}, {args.until!r} are not dates") from None
    return store.patrol_tracks(*rule.day_bounds(first, last))


__all__ = ["add_patrol_commands"]
