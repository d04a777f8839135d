"""The store: generations of boundaries, reports and their workflow, hazards, patrol routes.

One class, :class:`Store`, holds every rule; a :class:`~geogrid.storage.dialect.Dialect`
speaks to the database (SQLite embedded, or PostgreSQL/PostGIS). The contract
test suite runs the same tests against both.

Guarantees:

* a batch of reports is checked in full before anything is written, then stored
  in one transaction: all of it or none of it;
* a call that returns has committed (SQLite runs in WAL mode with
  ``synchronous=FULL``; PostgreSQL commits synchronously);
* intake and activation of a generation exclude each other, so every report
  is assigned under the generation that is active when it is stored, and
  activation re-assigns every open report.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.crs import normalize_crs
from geogrid.errors import GeogridError, InputError, NotFoundError
from geogrid.hazards import Hazard, check_hazard
from geogrid.hierarchy import Hierarchy
from geogrid.models import Level
from geogrid.patrol import PatrolRoute, Track, check_route, check_track
from geogrid.reports import HistoryEntry, NewReport, Page, Report, ReportQuery, check_reports
from geogrid.storage.dialect import Dialect
from geogrid.topology import TopologyReport
from geogrid.workflow import (
    OPEN_STATUSES,
    RECEIVED,
    CategoryTree,
    WorkingCalendar,
    check_status,
    check_transition,
)

MAX_LEVELS = 6
CODE_COLUMNS = tuple(f"code{depth}" for depth in range(MAX_LEVELS))
SYSTEM = "system"


class DuplicateReportError(InputError):
    """An external id already used by a report that says something else."""


class TopologyRefusedError(GeogridError):
    """A boundary set with topology errors was refused; ``report`` says why."""

    def __init__(self, report: TopologyReport) -> None:
        super().__init__(
            f"boundaries refused: {len(report.errors)} topology errors\n" + report.to_text()
        )
        self.report = report


@dataclass(frozen=True)
class Generation:
    """One version of the whole boundary set."""

    id: int
    label: str
    created_at: datetime
    levels: tuple[Level, ...]
    grid_count: int
    active: bool


@dataclass(frozen=True)
class TrackIntake:
    """What :meth:`Store.add_tracks` did with one track: its id and whether it is new."""

    id: int
    digest: str
    created: bool


@dataclass(frozen=True)
class IntakeResult:
    """What became of one report of a batch: its id, and whether it was new."""

    id: int
    external_id: str | None
    created: bool


@dataclass(frozen=True)
class Activation:
    """The outcome of activating a generation."""

    generation: Generation
    reassigned: int
    changed: int


class Store:
    """Everything geogrid keeps, behind one interface; see :func:`geogrid.storage.open_store`.

    Examples
    --------
    >>> import tempfile
    >>> from geogrid.storage import open_store
    >>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db")
    >>> store.generations()
    []
    """

    def __init__(self, dialect: Dialect, categories: CategoryTree | None = None) -> None:
        self.db = dialect
        self.categories = categories or CategoryTree.default()
        self.calendar: WorkingCalendar = self.categories.calendar
        self._hierarchies: dict[int, Hierarchy] = {}
        self.db.create_schema()

    def close(self) -> None:
        """Close the connections of this process."""
        self.db.close()

    def optimize(self) -> None:
        """Refresh the database's statistics; call it after a bulk import.

        Right after a million reports arrive, the query planner still believes
        the tables are small and may pick slow plans until it looks again.
        """
        self.db.optimize()

    # --- generations -------------------------------------------------------------------

    def import_generation(
        self, hierarchy: Hierarchy, label: str, *, activate: bool = False, actor: str = SYSTEM
    ) -> Generation:
        """Store a validated boundary set as a new generation; refused on topology errors."""
        if len(hierarchy.levels) > MAX_LEVELS:
            raise InputError(f"levels: at most {MAX_LEVELS} levels can be stored")
        report = hierarchy.validate()
        if not report.ok:
            raise TopologyRefusedError(report)
        levels = [hierarchy.level(key) for key in hierarchy.levels]
        with self.db.transaction() as tx:
            generation_id = self.db.insert_generation(tx, label, _now(), _levels_json(levels))
            rows = _grid_rows(generation_id, hierarchy)
            self.db.insert_grids(tx, rows)
        if activate:
            self.activate(generation_id, actor=actor)
        return self.generation(generation_id)

    def generations(self) -> list[Generation]:
        """Every stored generation, oldest first."""
        active = self._active_id()
        return [_generation(row, active) for row in self.db.fetch_generations()]

    def generation(self, generation_id: int) -> Generation:
        """One generation; :class:`NotFoundError` if there is none with that id."""
        for generation in self.generations():
            if generation.id == generation_id:
                return generation
        raise NotFoundError(f"generation {generation_id} does not exist")

    def active_generation(self) -> Generation | None:
        """The generation reports are assigned under now, if any."""
        active = self._active_id()
        return None if active is None else self.generation(active)

    def _active_id(self) -> int | None:
        with self.db.transaction(write=False) as tx:
            return self.db.active_generation(tx)

    def hierarchy(self, generation_id: int | None = None) -> Hierarchy:
        """The boundaries of a generation (default: the active one), ready to assign."""
        if generation_id is None:
            generation_id = self._active_id()
            if generation_id is None:
                raise NotFoundError("no generation is active; import and activate one first")
        if generation_id not in self._hierarchies:
            generation = self.generation(generation_id)
            frames = self._grid_frames(generation)
            self._hierarchies[generation_id] = Hierarchy(
                generation.levels, frames, name=generation.label
            ).prepare()
        return self._hierarchies[generation_id]

    def grids(self, level: str, generation_id: int | None = None) -> gpd.GeoDataFrame:
        """Grids of one level of a generation (default: the active one)."""
        return self.hierarchy(generation_id).grids(level)

    def _grid_frames(self, generation: Generation) -> dict[str, gpd.GeoDataFrame]:
        with self.db.transaction(write=False) as tx:
            rows = self.db.fetch_grids(tx, generation.id)
        frames = {}
        for depth, level in enumerate(generation.levels):
            mine = [r for r in rows if r["depth"] == depth]
            frames[level.key] = _grid_frame(mine, level)
        return frames

    def activate(self, generation_id: int, *, actor: str = SYSTEM) -> Activation:
        """Make a generation current and re-assign every open report under it.

        Each re-assigned report gets a history entry with its old and new codes.
        """
        generation = self.generation(generation_id)
        hierarchy = self.hierarchy(generation_id)
        with self.db.transaction(lock_generation=True) as tx:
            self.db.set_active_generation(tx, generation_id)
            rows = self.db.fetch_open_for_reassignment(tx, OPEN_STATUSES)
            changed = self._reassign(tx, rows, generation, hierarchy, actor)
        return Activation(self.generation(generation_id), len(rows), changed)

    def _reassign(self, tx, rows, generation: Generation, hierarchy: Hierarchy, actor) -> int:
        if not rows:
            return 0
        lon = np.array([r["lon"] for r in rows], dtype=float)
        lat = np.array([r["lat"] for r in rows], dtype=float)
        placed = _placements(hierarchy, lon, lat)
        depth_count, base = len(generation.levels), _base_depth(hierarchy)
        now, updates, history, changed = _now(), [], [], 0
        for row, new in zip(rows, placed, strict=True):
            old_codes = {c: row[c] for c in CODE_COLUMNS}
            depth = row["handler_depth"]
            depth = depth if depth is not None and depth < depth_count else base
            handler = new[f"code{depth}"]
            updates.append(
                {
                    **new,
                    "id": row["id"],
                    "generation_id": generation.id,
                    "handler_depth": depth if handler else None,
                    "handler_code": handler,
                    "updated_at": now,
                }
            )
            changed += old_codes != {c: new[c] for c in CODE_COLUMNS}
            history.append(_history_row(row["id"], now, actor, "reassigned", data={
                "from_generation": row["generation_id"], "to_generation": generation.id,
                "old": _codes_by_level(old_codes, row["levels"]),
                "new": _codes_by_level(new, generation.levels),
            }))  # fmt: skip
        self.db.update_assignments(tx, updates)
        self.db.insert_history(tx, history)
        return changed

    # --- reports: intake ---------------------------------------------------------------

    def add_report(self, report: NewReport, *, actor: str = SYSTEM) -> Report:
        """Store one report (idempotent on ``external_id``) and return it as stored."""
        return self.get_report(self.add_reports([report], actor=actor)[0].id)

    def add_reports(
        self, reports: Sequence[NewReport], *, actor: str = SYSTEM
    ) -> list[IntakeResult]:
        """Store a batch in one transaction, after checking all of it.

        A resent report (same ``external_id``, same content) is not stored again and
        comes back with ``created=False``; the same ``external_id`` with different
        content refuses the whole batch with :class:`DuplicateReportError`.
        """
        lon, lat = check_reports(reports, self.categories)
        unique, stands_for = _dedupe_batch(reports)
        received_at = _now()
        for _ in range(3):  # a generation activated meanwhile means: assign again
            generation_id = self._active_id()
            hierarchy = self.hierarchy(generation_id) if generation_id is not None else None
            batch = self._intake_columns(unique, lon, lat, hierarchy, generation_id, received_at)
            with self.db.transaction(share_generation=True) as tx:
                if self.db.active_generation(tx) != generation_id:
                    continue
                existing = self.db.find_external_ids(tx, batch["external_id"])
                new = _subset(batch, _not_stored_yet(batch, existing))
                ids = self.db.insert_report_columns(tx, new)
                self.db.insert_history_columns(tx, _received_history(new, ids, actor))
            stored = {i: (report_id, True) for i, report_id in zip(new["index"], ids, strict=True)}
            for i, key in zip(batch["index"], batch["external_id"], strict=True):
                stored.setdefault(i, (existing[key][0], False) if key in existing else None)
            return [_result(report, stored[stands_for[i]], stands_for[i] == i)
                    for i, report in enumerate(reports)]  # fmt: skip
        raise GeogridError("boundaries kept changing during intake; try again")

    def _intake_columns(self, unique, lon, lat, hierarchy, generation_id, received_at) -> dict:
        """The batch as columns (lists, or one value for all): it is stored column-wise."""
        indices = list(unique)
        reports = list(unique.values())
        columns = _placement_columns(hierarchy, lon[indices], lat[indices])
        base = _base_depth(hierarchy)
        handlers = columns[f"code{base}"] if base is not None else [None] * len(indices)
        deadlines = {code: self.calendar.deadline(received_at, self.categories.deadline_for(code))
                     for code in {r.category for r in reports}}  # fmt: skip
        columns.update({
            "index": indices, "external_id": [r.external_id for r in reports],
            "content_key": [r.content_key() for r in reports],
            "source": [r.source for r in reports], "category": [r.category for r in reports],
            "description": [r.description for r in reports],
            "reported_at": [r.reported_at or received_at for r in reports],
            "received_at": received_at, "received_lon": [float(r.lon) for r in reports],
            "received_lat": [float(r.lat) for r in reports],
            "received_crs": [_crs_name(r.crs) for r in reports],
            "lon": lon[indices].tolist(), "lat": lat[indices].tolist(),
            "generation_id": generation_id, "status": RECEIVED,
            "handler_depth": [base if code else None for code in handlers],
            "handler_code": handlers, "deadline": [deadlines[r.category] for r in reports],
            "updated_at": received_at, "reporter": [r.reporter for r in reports],
        })  # fmt: skip
        return columns

    # --- reports: reading --------------------------------------------------------------

    def get_report(self, report_id: int) -> Report:
        """One report with its full history; :class:`NotFoundError` if unknown."""
        with self.db.transaction(write=False) as tx:
            row = self.db.fetch_report(tx, report_id)
            if row is None:
                raise NotFoundError(f"report {report_id} does not exist")
            history = self.db.fetch_history(tx, [report_id])
        return self._report(row, history.get(report_id, []))

    def find_reports(self, query: ReportQuery | None = None) -> Page:
        """Reports matching every given filter, newest first, one page at a time."""
        query = query or ReportQuery()
        where, params = self._where(query)
        with self.db.transaction(write=False) as tx:
            total = self.db.count_reports(tx, where, params)
            rows = self.db.select_reports(tx, where, params, query.limit, query.offset)
            history = self.db.fetch_history(tx, [r["id"] for r in rows])
        items = [self._report(r, history.get(r["id"], [])) for r in rows]
        return Page(items, total, query.limit, query.offset)

    def count_by_grid(
        self, level: str, query: ReportQuery | None = None, now: datetime | None = None
    ) -> pd.DataFrame:
        """Reports per grid of one level of the active generation, by status, with overdue.

        Returns one row per grid that has reports: ``code``, one column per status,
        ``total``, ``open`` and ``overdue`` (open and past deadline at ``now``).
        Filters of ``query`` apply (its ``grid`` narrows to that grid's descendants).

        Examples
        --------
        >>> import tempfile
        >>> from geogrid import Hierarchy
        >>> from geogrid.storage import open_store
        >>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db")
        >>> district = Hierarchy.from_manifest("data/boundaries/sample.toml")
        >>> _ = store.import_generation(district, "2026", activate=True)
        >>> list(store.count_by_grid("grid").columns)[:3]
        ['code', 'received', 'registered']
        """
        depth = self._depth_of_level(level)
        where, params = self._where(query or ReportQuery())
        now_value = self.db.encode_time(_aware(now or _now(), "now"))
        with self.db.transaction(write=False) as tx:
            rows = self.db.count_grouped(tx, f"code{depth}", where, params, now_value,
                                         list(OPEN_STATUSES))  # fmt: skip
        return _counts_frame(rows)

    def count_in_cells(
        self, bbox: Sequence[float], cell_deg: float, query: ReportQuery | None = None
    ) -> pd.DataFrame:
        """Reports counted in square cells of ``cell_deg`` degrees over ``bbox`` (for heat maps).

        Returns ``lon``, ``lat`` (cell centres) and ``count``, only for cells with
        reports: the page gets a few thousand numbers, never the raw points.
        """
        west, south, _, _ = _checked_bbox(bbox)
        if not (isinstance(cell_deg, int | float) and cell_deg > 0):
            raise InputError(f"cell_deg: must be a positive number, got {cell_deg!r}")
        query = query or ReportQuery()
        where, params = self._where(ReportQuery(**{**query.__dict__, "bbox": bbox}))
        with self.db.transaction(write=False) as tx:
            rows = self.db.count_cells(tx, west, south, cell_deg, where, params)
        frame = pd.DataFrame(rows, columns=["column", "row", "count"])
        return pd.DataFrame({"lon": west + (frame["column"] + 0.5) * cell_deg,
                             "lat": south + (frame["row"] + 0.5) * cell_deg,
                             "count": frame["count"].astype(int)})  # fmt: skip

    def report_points(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> pd.DataFrame:
        """Reports as plain columns for analysis: one query, no histories.

        ``lon``, ``lat``, ``time`` (when it happened: ``reported_at``), ``received_at``,
        ``category`` and ``<level>_code`` per level of the active generation;
        ``since``/``until`` select on ``time``.

        Examples
        --------
        >>> import tempfile
        >>> from geogrid.storage import open_store
        >>> list(open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db").report_points().columns)
        ['lon', 'lat', 'time', 'received_at', 'category']
        """
        generation = self.active_generation()
        levels = generation.levels if generation else ()
        where, params = [], []
        for name, value, op in (("since", since, ">="), ("until", until, "<")):
            if value is not None:
                where.append(f"reported_at {op} ?")
                params.append(self.db.encode_time(_aware(value, name)))
        codes = [f"code{d}" for d in range(len(levels))]
        with self.db.transaction(write=False) as tx:
            rows = self.db.report_columns(tx, codes, where, params)
        return _points_frame(rows, levels)

    def _depth_of_level(self, level: str) -> int:
        # The active boundaries are cached; listing generations would count grids.
        keys = self.hierarchy().levels if self._active_id() is not None else []
        if level not in keys:
            raise InputError(f"level: {level!r} is not one of {', '.join(keys) or 'no levels'}")
        return keys.index(level)

    def _where(self, query: ReportQuery) -> tuple[list[str], list[Any]]:
        _check_page(query)
        where: list[str] = []
        params: list[Any] = []
        if query.grid:
            depth = self._depth_of_code(query.grid)
            where.append(f"code{depth} = ?")
            params.append(query.grid)
        if query.bbox:
            west, south, east, north = _checked_bbox(query.bbox)
            where.append(self.db.bbox_filter())
            params += self.db.bbox_params(west, south, east, north)
        for name, value, op in (("since", query.since, ">="), ("until", query.until, "<")):
            if value is not None:
                where.append(f"received_at {op} ?")
                params.append(self.db.encode_time(_aware(value, name)))
        self._where_in(where, params, "category", self._categories(query.category))
        self._where_in(where, params, "status", [check_status(s) for s in query.status])
        if query.overdue_at is not None:
            self._where_in(where, params, "status", list(OPEN_STATUSES))
            where.append("deadline < ?")
            params.append(self.db.encode_time(_aware(query.overdue_at, "overdue_at")))
        return where, params

    @staticmethod
    def _where_in(where: list[str], params: list[Any], column: str, values: list[str]) -> None:
        if values:
            where.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)

    def _categories(self, codes: Iterable[str]) -> list[str]:
        wanted: list[str] = []
        for code in codes:
            wanted += [c.code for c in self.categories.descendants(code)]
        return wanted

    def _depth_of_code(self, code: str) -> int:
        with self.db.transaction(write=False) as tx:
            depth = self.db.depth_of_code(tx, code)
        if depth is None:
            raise NotFoundError(f"grid {code} does not exist in any generation")
        return depth

    def _report(self, row: dict, history: list[dict]) -> Report:
        levels = row["levels"] or ()
        codes = {level.key: row[f"code{d}"] for d, level in enumerate(levels)}
        depth = row["handler_depth"]
        return Report(
            id=row["id"],
            external_id=row["external_id"],
            source=row["source"],
            category=row["category"],
            description=row["description"] or "",
            reported_at=self.db.decode_time(row["reported_at"]),
            received_at=self.db.decode_time(row["received_at"]),
            received_lon=row["received_lon"],
            received_lat=row["received_lat"],
            received_crs=row["received_crs"],
            lon=row["lon"],
            lat=row["lat"],
            generation_id=row["generation_id"],
            codes=codes,
            assignment=row["assignment"],
            distance_m=row["distance_m"],
            status=row["status"],
            handler_level=levels[depth].key if depth is not None and levels else None,
            handler_code=row["handler_code"],
            deadline=self.db.decode_time(row["deadline"]) if row["deadline"] else None,
            updated_at=self.db.decode_time(row["updated_at"]),
            history=tuple(self._history_entry(h) for h in history),
        )

    def _history_entry(self, row: dict) -> HistoryEntry:
        return HistoryEntry(
            at=self.db.decode_time(row["at"]),
            actor=row["actor"],
            action=row["action"],
            from_status=row["from_status"],
            to_status=row["to_status"],
            note=row["note"] or "",
            data=json.loads(row["data"]) if isinstance(row["data"], str) else (row["data"] or {}),
        )

    # --- reports: workflow -------------------------------------------------------------

    def transition(self, report_id: int, target: str, *, actor: str, note: str = "") -> Report:
        """Move a report along the closed loop; only allowed transitions, each recorded."""
        if not actor:
            raise InputError("actor: every step of the workflow records who took it")
        with self.db.transaction() as tx:
            row = self.db.lock_report(tx, report_id)
            if row is None:
                raise NotFoundError(f"report {report_id} does not exist")
            check_transition(row["status"], target, note)
            now = _now()
            self.db.update_status(tx, report_id, target, now)
            self.db.insert_history(
                tx, [_history_row(report_id, now, actor, "transition", row["status"], target, note)]
            )
        return self.get_report(report_id)

    def overdue(self, now: datetime | None = None, limit: int = 1000) -> list[Report]:
        """Open reports past their deadline at ``now``."""
        query = ReportQuery(overdue_at=now or _now(), limit=limit)
        return self.find_reports(query).items

    def escalate_overdue(self, now: datetime | None = None, *, actor: str = SYSTEM) -> list[Report]:
        """Hand every overdue report to the parent level's grid, with a new deadline.

        "小事不出社，大事不出街": what the grid cannot settle in time goes up one
        level. A report already at the top level stays there, still overdue.
        """
        now = _aware(now or _now(), "now")
        escalated = []
        with self.db.transaction() as tx:
            for row in self.db.lock_overdue(tx, OPEN_STATUSES, self.db.encode_time(now)):
                target = self._escalation(row, now)
                if target is None:
                    continue
                self.db.update_handler(tx, row["id"], *target, now)
                self.db.insert_history(
                    tx,
                    [
                        _history_row(
                            row["id"],
                            now,
                            actor,
                            "escalated",
                            row["status"],
                            row["status"],
                            "超期升级 overdue: handed to the parent level",
                            {"from": row["handler_code"], "to": target[1]},
                        )
                    ],
                )
                escalated.append(row["id"])
        return [self.get_report(i) for i in escalated]

    def _escalation(self, row: dict, now: datetime) -> tuple[int, str, datetime] | None:
        depth = row["handler_depth"]
        if depth is None or depth == 0 or not self.categories.get(row["category"]).escalate:
            return None
        code = row[f"code{depth - 1}"]
        if code is None:
            return None
        rule = self.categories.deadline_for(row["category"])
        return depth - 1, code, self.calendar.deadline(now, rule) if rule else None

    # --- hazards and patrol routes -----------------------------------------------------

    def add_hazard(self, hazard: Hazard) -> int:
        """Store a hazard after checking its scores; returns its id."""
        check_hazard(hazard)
        self.categories.check(hazard.category)
        with self.db.transaction() as tx:
            return self.db.insert_hazard(tx, hazard, _now())

    def hazards(self, bbox: Sequence[float] | None = None) -> gpd.GeoDataFrame:
        """Hazards (in a bbox, if given) with their method, scores, score and radius."""
        with self.db.transaction(write=False) as tx:
            rows = self.db.fetch_hazards(tx, _checked_bbox(bbox) if bbox else None)
        return _frame(rows)

    def add_patrol_route(self, route: PatrolRoute) -> int:
        """Store a planned patrol route of a grid; returns its id."""
        check_route(route)
        self._depth_of_code(route.grid_code)
        with self.db.transaction() as tx:
            return self.db.insert_route(tx, route, _now())

    def patrol_routes(
        self, grid_code: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> gpd.GeoDataFrame:
        """Planned patrol routes, of one grid if given, in the order stored.

        ``limit`` and ``offset`` give a page of them (all when ``limit`` is None).
        """
        with self.db.transaction(write=False) as tx:
            rows = self.db.fetch_routes(tx, grid_code, limit, offset)
        return _frame(rows)

    def add_tracks(self, tracks: Iterable[Track], *, actor: str = SYSTEM) -> list[TrackIntake]:
        """Store recorded patrol tracks (巡查轨迹) in one transaction: all of them or none.

        A track stored before (the same worker, times and positions, see
        :meth:`Track.digest`) is kept once and comes back with ``created=False``.
        """
        tracks = list(tracks)
        for number, track in enumerate(tracks):
            check_track(track, f"tracks[{number}]")
        rows = [_track_row(track) for track in tracks]
        once = {row["digest"]: row for row in rows}  # a batch may hold a track twice
        with self.db.transaction() as tx:
            before = self.db.track_ids(tx, list(once))
            new = [row for digest, row in once.items() if digest not in before]
            self.db.insert_tracks(tx, new, actor, _now())
            ids = self.db.track_ids(tx, list(once))
        results, seen = [], set(before)
        for digest in (row["digest"] for row in rows):
            results.append(TrackIntake(ids[digest], digest, digest not in seen))
            seen.add(digest)
        return results

    def patrol_tracks(
        self, since: datetime, until: datetime, worker: str | None = None
    ) -> list[Track]:
        """Stored tracks that overlap ``since``…``until`` (aware times), in order of start."""
        since, until = _aware(since, "since"), _aware(until, "until")
        if until < since:
            raise InputError(f"until ({until.isoformat()}) is before since ({since.isoformat()})")
        with self.db.transaction(write=False) as tx:
            rows = self.db.fetch_tracks(tx, since, until, worker)
        return [_track(row) for row in rows]


# --- helpers ------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InputError(f"{field}: needs a time with a time zone")
    return value.astimezone(UTC)


@lru_cache(maxsize=64)
def _crs_name(crs: str) -> str:
    name = normalize_crs(crs)
    return name if isinstance(name, str) else name.to_string()


def _check_page(query: ReportQuery) -> None:
    if not (isinstance(query.limit, int) and 1 <= query.limit <= 10_000):
        raise InputError(f"limit: must be between 1 and 10000, got {query.limit!r}")
    if not (isinstance(query.offset, int) and query.offset >= 0):
        raise InputError(f"offset: must be 0 or more, got {query.offset!r}")


def _checked_bbox(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise InputError("bbox: needs four numbers west, south, east, north") from None
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InputError(
            f"bbox: ({west}, {south}, {east}, {north}) is not west ≤ east, south ≤ north in WGS-84"
        )
    return west, south, east, north


def _levels_json(levels: Sequence[Level]) -> str:
    return json.dumps(
        [{"key": lv.key, "label": lv.label, "coverage": lv.coverage} for lv in levels],
        ensure_ascii=False,
    )


def levels_from_json(text: str | list) -> tuple[Level, ...]:
    """Levels as stored with a generation (key, label, coverage)."""
    raw = json.loads(text) if isinstance(text, str) else text
    return tuple(Level(d["key"], d["label"], "", "code", coverage=d["coverage"]) for d in raw)


def _generation(row: dict, active: int | None) -> Generation:
    return Generation(
        row["id"],
        row["label"],
        row["created_at"],
        levels_from_json(row["levels"]),
        row["grid_count"],
        row["id"] == active,
    )


def _grid_rows(generation_id: int, hierarchy: Hierarchy) -> list[dict]:
    rows = []
    for depth, key in enumerate(hierarchy.levels):
        grids = hierarchy.grids(key)
        extra = [c for c in grids.columns if c not in ("code", "name", "parent", "geometry")]
        attributes = grids[extra].to_dict("records") if extra else [{}] * len(grids)
        for (code, name, parent, geometry), attrs in zip(
            grids[["code", "name", "parent", "geometry"]].itertuples(index=False, name=None),
            attributes,
            strict=True,
        ):
            rows.append(
                {
                    "generation_id": generation_id,
                    "depth": depth,
                    "level": key,
                    "code": code,
                    "name": name,
                    "parent": parent,
                    "attributes": json.dumps(_plain(attrs), ensure_ascii=False),
                    "geometry": geometry,
                }
            )
    return rows


def _plain(values: dict) -> dict:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in values.items()}


def _grid_frame(rows: list[dict], level: Level) -> gpd.GeoDataFrame:
    attributes = pd.DataFrame(
        [
            json.loads(r["attributes"])
            if isinstance(r["attributes"], str)
            else (r["attributes"] or {})
            for r in rows
        ]
    )
    frame = gpd.GeoDataFrame(
        {
            "code": [r["code"] for r in rows],
            "name": [r["name"] for r in rows],
            "parent": [r["parent"] for r in rows],
        },
        geometry=shapely.from_wkb([r["geometry"] for r in rows]),
        crs=4326,
    )
    return pd.concat([frame, attributes], axis=1).set_geometry("geometry")


def _placement_columns(hierarchy: Hierarchy | None, lon: np.ndarray, lat: np.ndarray) -> dict:
    """Per point, as columns: the code at every depth, assignment status and distance."""
    count = len(lon)
    columns: dict[str, list] = {c: [None] * count for c in CODE_COLUMNS}
    if hierarchy is None:
        return {**columns, "assignment": ["unassigned"] * count, "distance_m": [None] * count}
    assigned = hierarchy.assign(lon, lat)
    for depth, key in enumerate(hierarchy.levels):
        codes = assigned[f"{key}_code"]
        columns[f"code{depth}"] = codes.astype(object).where(codes.notna(), None).tolist()
    distance = assigned["distance_m"]
    columns["assignment"] = assigned["status"].astype(str).tolist()
    columns["distance_m"] = distance.astype(object).where(distance.notna(), None).tolist()
    return columns


def _placements(hierarchy: Hierarchy | None, lon: np.ndarray, lat: np.ndarray) -> list[dict]:
    """Per point, as rows: the code columns, assignment status and distance."""
    columns = _placement_columns(hierarchy, lon, lat)
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _base_depth(hierarchy: Hierarchy | None) -> int | None:
    """Reports are handled first by the finest full level's grid (e.g. the micro-grid)."""
    if hierarchy is None:
        return None
    from geogrid.assign import base_level

    return base_level([hierarchy.level(key) for key in hierarchy.levels])


def _codes_by_level(codes: dict, levels: Sequence[Level]) -> dict:
    return {level.key: codes.get(f"code{d}") for d, level in enumerate(levels or ())}


def _history_row(
    report_id, at, actor, action, from_status=None, to_status=None, note="", data=None
) -> dict:
    return {
        "report_id": report_id,
        "at": at,
        "actor": actor,
        "action": action,
        "from_status": from_status,
        "to_status": to_status,
        "note": note,
        "data": json.dumps(data or {}, ensure_ascii=False),
    }


def _received_history(new: dict, ids: list[int], actor: str) -> dict:
    """History columns: one "received" entry per new report (where it landed is on the row)."""
    return {"report_id": ids, "at": new["received_at"],
            "actor": [r or actor for r in new["reporter"]], "action": "received",
            "from_status": None, "to_status": RECEIVED, "note": "", "data": None}  # fmt: skip


def _dedupe_batch(reports: Sequence[NewReport]) -> tuple[dict[int, NewReport], dict[int, int]]:
    """Reports to store (by first index) and, for each index, the index that stands for it."""
    first_of: dict[str, int] = {}
    unique: dict[int, NewReport] = {}
    stands_for: dict[int, int] = {}
    for i, report in enumerate(reports):
        key = report.external_id
        if key is None or key not in first_of:
            if key is not None:
                first_of[key] = i
            unique[i] = report
            stands_for[i] = i
            continue
        if reports[first_of[key]].content_key() != report.content_key():
            raise DuplicateReportError(
                f"external_id {key}: reports {first_of[key] + 1} and {i + 1} of the batch "
                "say different things"
            )
        stands_for[i] = first_of[key]
    return unique, stands_for


def _not_stored_yet(batch: dict, existing: dict[str, tuple[int, str]]) -> list[bool]:
    """Which rows to store; a stored external id with other content refuses the batch."""
    keep = []
    for key, content in zip(batch["external_id"], batch["content_key"], strict=True):
        if key is not None and key in existing and existing[key][1] != content:
            raise DuplicateReportError(
                f"external_id {key}: already used by report {existing[key][0]}, "
                "which says something different"
            )
        keep.append(key is None or key not in existing)
    return keep


def _subset(columns: dict, keep: list[bool]) -> dict:
    if all(keep):
        return columns
    return {name: [v for v, k in zip(values, keep, strict=True) if k]
            if isinstance(values, list) else values
            for name, values in columns.items()}  # fmt: skip


def _result(report: NewReport, stored: tuple[int, bool], first: bool) -> IntakeResult:
    report_id, created = stored
    return IntakeResult(report_id, report.external_id, created and first)


def _points_frame(rows: list[tuple], levels: Sequence[Level]) -> pd.DataFrame:
    names = ["lon", "lat", "time", "received_at", "category",
             *(f"{level.key}_code" for level in levels)]  # fmt: skip
    frame = pd.DataFrame(rows, columns=names)
    for column in ("time", "received_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    for column in names[4:]:
        frame[column] = frame[column].astype("category")
    return frame.astype({"lon": float, "lat": float})


def _counts_frame(rows: list[dict]) -> pd.DataFrame:
    from geogrid.workflow import STATUSES

    columns = ["code", *STATUSES, "total", "open", "overdue"]
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "code" else int) for c in columns})
    frame = pd.DataFrame(rows)
    table = frame.pivot_table(index="code", columns="status", values="n", aggfunc="sum",
                              fill_value=0)  # fmt: skip
    table = table.reindex(columns=list(STATUSES), fill_value=0)
    table["total"] = table.sum(axis=1)
    table["open"] = table[list(OPEN_STATUSES)].sum(axis=1)
    table["overdue"] = frame.groupby("code")["overdue"].sum().reindex(table.index).fillna(0)
    return table.astype(int).reset_index()[columns].rename_axis(columns=None)


def _track_row(track: Track) -> dict:
    """A track as the store keeps it: a line of its positions, its times as int64 ns."""
    positions = np.column_stack([track.lon, track.lat])
    if len(positions) == 1:
        positions = np.repeat(positions, 2, axis=0)  # a line needs two points
    return {
        "digest": track.digest(),
        "worker": track.worker,
        "name": track.name,
        "source": track.source,
        "started_at": track.start.floor("us").to_pydatetime(),
        "ended_at": track.end.ceil("us").to_pydatetime(),
        "points": len(track.lon),
        "times": np.asarray(track.times, "datetime64[ns]").view(np.int64).tobytes(),
        "geometry": shapely.to_wkb(shapely.linestrings(positions)),
    }


def _track(row: dict) -> Track:
    positions = shapely.get_coordinates(shapely.from_wkb(bytes(row["geometry"])))
    positions = positions[: row["points"]]
    times = np.frombuffer(bytes(row["times"]), dtype=np.int64).view("datetime64[ns]")
    return Track(row["name"], row["worker"], times.copy(), positions[:, 0].copy(),
                 positions[:, 1].copy(), row["source"] or "", id=row["id"])  # fmt: skip


def _frame(rows: list[dict]) -> gpd.GeoDataFrame:
    if not rows:
        return gpd.GeoDataFrame({"id": []}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    geometry = shapely.from_wkb([r.pop("geometry") for r in rows])
    return gpd.GeoDataFrame(rows, geometry=geometry, crs=4326)
