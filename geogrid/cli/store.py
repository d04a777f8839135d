"""``geogrid`` commands that work on a store: generations and reports.

Every command takes ``--store URL`` (default: ``$GEOGRID_STORE``, else
``sqlite:///geogrid.db`` in the working directory).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from tqdm import tqdm

from geogrid.access import Contact
from geogrid.cli.common import ACTOR_HELP, operator
from geogrid.errors import GeogridError, InputError
from geogrid.hierarchy import Hierarchy
from geogrid.moments import parse_moment
from geogrid.points import PointTable, read_points
from geogrid.reports import NewReport, Report, ReportQuery, check_report, check_reports
from geogrid.storage import (
    DEFAULT_URL,
    DuplicateReportError,
    Store,
    TopologyRefusedError,
    open_store,
)
from geogrid.workflow import STATUS_LABELS

EXIT_OK, EXIT_REFUSED, EXIT_USER_ERROR = 0, 1, 2
#: Reports per transaction when importing a file; each batch is stored whole or not at all.
IMPORT_BATCH = 10_000
MAX_ERRORS_SHOWN = 20
#: A row without an external id gets ``file-<first 16 hex digits of the file's SHA-256>-row-<n>``.
ROW_ID_PREFIX = "file-"


def add_store_commands(commands) -> None:
    """Register ``import``, ``generations``, ``activate``, ``backup`` and ``reports …``."""
    _add_import(commands)
    generations = commands.add_parser("generations", help="list the stored boundary generations")
    _store_option(generations)
    generations.set_defaults(run=_generations)
    activate = commands.add_parser("activate", help="make a generation current; re-assigns "
                                   "open reports")  # fmt: skip
    activate.add_argument("generation", type=int)
    activate.add_argument("--actor", help=ACTOR_HELP)
    _store_option(activate)
    activate.set_defaults(run=_activate)
    backup = commands.add_parser("backup", help="copy the whole store to a new file while it "
                                 "is in use")  # fmt: skip
    backup.add_argument("out", type=Path, help="the new file: a SQLite database, or for "
                        "PostgreSQL a pg_dump archive (pg_restore reads it)")  # fmt: skip
    _store_option(backup)
    backup.set_defaults(run=_backup)
    _add_reports(commands)


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=os.environ.get("GEOGRID_STORE", DEFAULT_URL),
                        help="store URL: sqlite:///file.db or postgresql://… "
                             "(default $GEOGRID_STORE or sqlite:///geogrid.db)")  # fmt: skip


def _add_import(commands) -> None:
    command = commands.add_parser("import", help="store a manifest's boundaries as a generation")
    command.add_argument("manifest", type=Path)
    command.add_argument("--label", help="name of the generation (default: the manifest's name)")
    command.add_argument("--activate", action="store_true", help="make it the current one")
    command.add_argument("--actor", help=ACTOR_HELP)
    _store_option(command)
    command.set_defaults(run=_import)


def _add_reports(commands) -> None:
    reports = commands.add_parser("reports", help="import, list and move reports")
    sub = reports.add_subparsers(required=True, metavar="ACTION")
    _add_reports_import(sub)
    listing = sub.add_parser("list", help="reports matching filters, newest first")
    listing.add_argument("--grid", help="a grid code at any level (descendants included)")
    listing.add_argument("--status", nargs="*", default=[])
    listing.add_argument("--category", nargs="*", default=[])
    listing.add_argument("--bbox", help="west,south,east,north in WGS-84")
    listing.add_argument("--since", help="ISO 8601 time (received at or after)")
    listing.add_argument("--until", help="ISO 8601 time (received before)")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--json", action="store_true")
    _store_option(listing)
    listing.set_defaults(run=_list)
    show = sub.add_parser("show", help="one report with its history")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    _store_option(show)
    show.set_defaults(run=_show)
    _add_reports_workflow(sub)


def _add_reports_import(sub) -> None:
    command = sub.add_parser("import", help="store reports from a CSV or GeoJSON file")
    command.add_argument("file", type=Path)
    command.add_argument("--crs", help="WGS-84 (CSV default), GCJ-02, BD-09 or EPSG:n")
    command.add_argument("--lon", default="lon")
    command.add_argument("--lat", default="lat")
    command.add_argument(
        "--source", default="grid_worker", help="source for rows without a 'source' column"
    )
    command.add_argument("--actor", help=ACTOR_HELP)
    command.add_argument("--batch", type=int, default=IMPORT_BATCH)
    _store_option(command)
    command.set_defaults(run=_import_reports)


def _add_reports_workflow(sub) -> None:
    move = sub.add_parser("transition", help="move a report along the closed loop")
    move.add_argument("id", type=int)
    move.add_argument("status", choices=list(STATUS_LABELS))
    move.add_argument("--actor", help=ACTOR_HELP)
    move.add_argument("--note", default="")
    _store_option(move)
    move.set_defaults(run=_transition)
    overdue = sub.add_parser("overdue", help="open reports past their deadline")
    overdue.add_argument(
        "--escalate",
        action="store_true",
        help="hand each to the parent level's grid (小事不出社，大事不出街)",
    )
    overdue.add_argument("--actor", help=ACTOR_HELP)
    _store_option(overdue)
    overdue.set_defaults(run=_overdue)


# --- generations ---------------------------------------------------------------------------


def _import(args: argparse.Namespace) -> int:
    hierarchy = Hierarchy.from_manifest(args.manifest)
    store = open_store(args.store)
    label = args.label or hierarchy.name or args.manifest.stem
    try:
        generation = store.import_generation(hierarchy, label, activate=args.activate,
                                             actor=operator(args))  # fmt: skip
    except TopologyRefusedError as refused:
        print(refused.report.to_text())
        print("geogrid: import refused: fix the errors above first", file=sys.stderr)
        return EXIT_REFUSED
    state = "active" if generation.active else "not active (geogrid activate "
    state += "" if generation.active else f"{generation.id})"
    print(
        f"generation {generation.id} '{generation.label}': {generation.grid_count:,} grids "
        f"in {len(generation.levels)} levels, {state}"
    )
    return EXIT_OK


def _generations(args: argparse.Namespace) -> int:
    for g in open_store(args.store).generations():
        mark = "*" if g.active else " "
        print(
            f"{mark} {g.id:>4}  {g.created_at:%Y-%m-%d %H:%M}  {g.grid_count:>7,} grids  "
            f"{' > '.join(lv.key for lv in g.levels)}  {g.label}"
        )
    return EXIT_OK


def _activate(args: argparse.Namespace) -> int:
    result = open_store(args.store).activate(args.generation, actor=operator(args))
    print(
        f"generation {result.generation.id} is active; {result.reassigned:,} open reports "
        f"re-assigned, {result.changed:,} of them changed grid"
    )
    return EXIT_OK


def _backup(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    database = Path(args.store.removeprefix("sqlite:///"))
    if args.store.startswith("sqlite:///") and not database.is_file():
        # Opening the store would create an empty one, and back that up.
        raise InputError(f"--store {args.store}: no store at {database}")
    out = open_store(args.store).backup(args.out)
    print(
        f"backed up to {out} ({out.stat().st_size / 1e6:,.1f} MB) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return EXIT_OK


# --- reports -------------------------------------------------------------------------------


def _import_reports(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    store = open_store(args.store)
    table = read_points(args.file, args.lon, args.lat, args.crs)
    reports = _reports_from(table, args.source, store, _file_digest(args.file))
    _check_all(reports, store, args.file)
    created = 0
    with tqdm(total=len(reports), unit="report", unit_scale=True, file=sys.stderr,
              disable=len(reports) <= args.batch, desc="storing") as bar:  # fmt: skip
        for start in range(0, len(reports), args.batch):
            batch = range(start, min(start + args.batch, len(reports)))
            with _refusal_names_rows(args.file, batch, created):
                results = store.add_reports(reports[batch.start : batch.stop], actor=operator(args))
            created += sum(r.created for r in results)
            bar.update(len(results))
    if created:
        store.optimize()
    seconds = time.perf_counter() - started
    print(
        f"{len(reports):,} reports read from {args.file} in {seconds:.1f} s: {created:,} stored, "
        f"{len(reports) - created:,} already there (same external id, or same row of this "
        "file, and same content)"
    )
    return EXIT_OK


def _reports_from(
    table: PointTable, default_source: str, store: Store, digest: str
) -> list[NewReport]:
    rows = table.rows
    if "category" not in rows.columns:
        raise InputError(f"no 'category' column; columns are: {', '.join(map(str, rows.columns))}")
    column = _text_column(rows)
    # Hotline exports name categories in Chinese (or English): accept those too.
    names = {name: c.code for c in store.categories for name in (c.zh, c.en)}
    categories = [names.get(value, value) for value in column("category")]
    zone = store.calendar.zone
    reported = [_time(v, zone, i) for i, v in enumerate(column("reported_at"))]
    external_ids = _row_ids(column("external_id"), digest)
    return [
        NewReport(category=category, lon=float(x), lat=float(y), crs=table.crs,
                  source=source or default_source, reported_at=when,
                  description=description or "", external_id=external_id,
                  contact=Contact(name=reporter) if reporter else None)
        for category, x, y, source, when, description, external_id, reporter in zip(
            categories, table.x, table.y, column("source"), reported,
            column("description"), external_ids, column("reporter"), strict=True)
    ]  # fmt: skip


def _file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes, as ``sha256sum`` prints it; ``f.gpkg#layer`` adds the layer.

    Examples
    --------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "r.csv"
    >>> _ = f.write_text("category,lon,lat\\n")
    >>> _file_digest(f)[:16], _file_digest(Path(f"{f}#other"))[:16]
    ('7309f7468a87ca43', '4217eb336326bcb3')
    """
    file, _, layer = str(path).partition("#")
    source = Path(file)
    # A File Geodatabase is a directory: all its files make its content.
    parts = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    digest = hashlib.sha256()
    for part in parts:
        with part.open("rb") as data:
            while block := data.read(1 << 20):
                digest.update(block)
    if layer:
        digest.update(f"#{layer}".encode())
    return digest.hexdigest()


def _row_ids(external_ids: list[str | None], digest: str) -> list[str]:
    """The external ids of a file's rows; a row without one is known by the file and its number.

    The same file run again then finds every row it stored before, while another
    file (another digest) that holds an identical row stores it as a new report.

    Examples
    --------
    >>> _row_ids([None, "h-9"], "7309f7468a87ca434450fa10")
    ['file-7309f7468a87ca43-row-1', 'h-9']
    """
    prefix = f"{ROW_ID_PREFIX}{digest[:16]}-row-"
    return [given or f"{prefix}{number}" for number, given in enumerate(external_ids, start=1)]


@contextmanager
def _refusal_names_rows(file: Path, rows: range, created: int) -> Iterator[None]:
    """A refused batch ends the import; say which rows, and that the batches before it stay."""
    try:
        yield
    except DuplicateReportError as exc:
        hint = ""
        if f"external_id {ROW_ID_PREFIX}" in str(exc):
            hint = (" (this file was imported before with other --crs, --lon, --lat or "
                    "--source, or other categories: run it as it was run then)")  # fmt: skip
        raise DuplicateReportError(
            f"{file}: rows {rows.start + 1:,}–{rows.stop:,} refused, {created:,} new reports "
            f"stored from the rows before them: {exc}{hint}"
        ) from None


def _text_column(rows: pd.DataFrame):
    def column(name: str) -> list:
        if name not in rows.columns:
            return [None] * len(rows)
        values = rows[name].astype(object).where(rows[name].notna(), None)
        return [None if v is None or str(v).strip() == "" else str(v).strip() for v in values]

    return column


def _time(value: str | None, zone: ZoneInfo, index: int) -> datetime | None:
    return None if value is None else parse_moment(value, f"row {index + 1}: reported_at", zone)


def _check_all(reports: list[NewReport], store: Store, file: Path) -> None:
    """Check every row before storing any; list the bad rows (a few) and refuse."""
    try:
        check_reports(reports, store.categories)
        return
    except GeogridError:
        pass
    problems = []
    for index, report in enumerate(reports):
        try:
            check_report(_as_given(report), store.categories)
        except GeogridError as exc:
            problems.append(f"  row {index + 1}: {exc}")
            if len(problems) == MAX_ERRORS_SHOWN:
                break
    raise InputError(f"{file}: nothing stored; bad rows:\n" + "\n".join(problems))


def _as_given(report: NewReport) -> NewReport:
    """The row without the id made for it, which would only repeat the row number in errors."""
    if report.external_id and report.external_id.startswith(ROW_ID_PREFIX):
        return replace(report, external_id=None)
    return report


def _query(args: argparse.Namespace, zone: ZoneInfo) -> ReportQuery:
    bbox = None
    if args.bbox:
        try:
            bbox = tuple(float(v) for v in args.bbox.split(","))
        except ValueError:
            raise InputError(f"--bbox: {args.bbox!r} is not four numbers") from None
    return ReportQuery(
        grid=args.grid,
        bbox=bbox,
        since=_cli_time(args.since, "--since", zone),
        until=_cli_time(args.until, "--until", zone),
        category=tuple(args.category),
        status=tuple(args.status),
        limit=args.limit,
        offset=args.offset,
    )


def _cli_time(value: str | None, option: str, zone: ZoneInfo) -> datetime | None:
    # A time without an offset is the district's local time, as everywhere else.
    return None if value is None else parse_moment(value, option, zone)


def _list(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    page = store.find_reports(_query(args, store.calendar.zone))
    if args.json:
        print(
            json.dumps(
                {"total": page.total, "items": [r.to_dict() for r in page.items]},
                ensure_ascii=False,
                indent=2,
            )
        )
        return EXIT_OK
    print(
        f"{page.total:,} reports match; showing {page.offset + 1}–{page.offset + len(page.items)}"
    )
    for report in page.items:
        print(_line(report))
    return EXIT_OK


def _line(report: Report) -> str:
    status = STATUS_LABELS[report.status][0]
    place = report.handler_code or report.assignment
    return (
        f"{report.id:>8}  {report.received_at:%Y-%m-%d %H:%M}  {status:<3} "
        f"{report.category:<24} {place:<20} {report.description[:30]}"
    )


def _show(args: argparse.Namespace) -> int:
    report = open_store(args.store).get_report(args.id)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return EXIT_OK
    print(_line(report))
    print(f"  grids: {', '.join(f'{k} {v}' for k, v in report.codes.items())}")
    deadline = f"{report.deadline:%Y-%m-%d %H:%M} UTC" if report.deadline else "none"
    print(f"  handled by {report.handler_level} {report.handler_code}, due {deadline}")
    for entry in report.history:
        print(
            f"  {entry.at:%Y-%m-%d %H:%M}  {entry.actor:<12} {entry.action:<11} "
            f"{entry.from_status or ''} → {entry.to_status or ''}  {entry.note}"
        )
    return EXIT_OK


def _transition(args: argparse.Namespace) -> int:
    report = open_store(args.store).transition(args.id, args.status, actor=operator(args),
                                               note=args.note)  # fmt: skip
    print(_line(report))
    return EXIT_OK


def _overdue(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    if args.escalate:
        escalated = store.escalate_overdue(actor=operator(args))
        moves = Counter(r.handler_level for r in escalated)
        print(
            f"{len(escalated):,} overdue reports escalated: "
            + (", ".join(f"{n} to {level}" for level, n in moves.items()) or "none")
        )
        return EXIT_OK
    overdue = store.overdue()
    print(f"{len(overdue):,} open reports past their deadline")
    for report in overdue:
        print(_line(report))
    return EXIT_OK


__all__ = ["add_store_commands"]
