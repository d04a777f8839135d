"""The store: generations of boundaries, reports and their workflow, hazards, patrol routes.

One class, :class:`Store`, holds every rule; a :class:`~geogrid.storage.dialect.Dialect`
speaks to the database (SQLite embedded, or PostgreSQL/PostGIS), and
:mod:`geogrid.storage.rows` turns nouns into rows and back. The contract test
suite runs the same tests against both backends.

Why one class of ~1,000 lines: the Store is the application service over every
stored aggregate (generations and their roads, intake, queries, the workflow,
hazards and patrol records), and its guarantees below hold across them (intake
and activation exclude each other). Its methods are short and grouped by
aggregate under section markers; the people and redraw issues add their own
services beside it (``store.accounts``, ``store.drafts``) rather than grow it.
Publishing a redraw stays here: it is an activation of a new generation, one
transaction over generations, reports and the draft.

Guarantees:

* a batch of reports is checked in full before anything is written, then stored
  in one transaction: all of it or none of it;
* a call that returns has committed (SQLite runs in WAL mode with
  ``synchronous=FULL``; PostgreSQL commits synchronously);
* intake and activation of a generation exclude each other, so every report
  is assigned under the generation that is active when it is stored, and
  activation re-assigns every open report (publishing a redraw too: it places
  again the redrawn parent's open reports and moves the others, whose codes
  stay, to the new generation);
* activations, publications and escalations take turns (they lock many
  reports); intake waits only for the end of an activation or publication.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.access.personal import CONTACT_FIELDS, Contact
from geogrid.access.principals import Principal, principal_of
from geogrid.access.roles import HANDLER_ROLES, action_of_transition, statuses_to_act_on
from geogrid.categories import CategoryTree
from geogrid.clock import Clock, system_clock
from geogrid.deadlines import WorkingCalendar
from geogrid.errors import GeogridError, InputError, NotFoundError
from geogrid.hazards import Hazard, check_hazard
from geogrid.hierarchy import Hierarchy
from geogrid.patrol.records import PatrolRoute, Track, check_route, check_track
from geogrid.redraw.plan import draft_gate
from geogrid.reports import (
    HistoryEntry,
    NewReport,
    Page,
    Report,
    ReportExtent,
    ReportQuery,
    check_reports,
    check_ticket,
    new_ticket,
)
from geogrid.storage.accounts import Accounts
from geogrid.storage.audit import AuditLog, audit_row, insert_events
from geogrid.storage.checkins import Checkins
from geogrid.storage.dialect import MAX_LEVELS, Dialect
from geogrid.storage.drafts import (
    APPROVED,
    PUBLISHED,
    DraftConflictError,
    Drafts,
    DraftStateError,
    Publication,
    crosswalk_counts,
    redrawn_region,
    same_grouping,
)
from geogrid.storage.loop import (
    DEFAULT_WARNING_SHARE,
    LoopConflictError,
    QueueQuery,
    check_client_id,
    check_deadline,
    check_rating,
    check_share,
    check_warning,
    insert_notices,
    notice,
    warn_time,
)
from geogrid.storage.media import Media
from geogrid.storage.rows import (
    CODE_COLUMNS,
    Activation,
    Generation,
    IntakeResult,
    PermissionDeniedError,
    TrackIntake,
    aware_utc,
    base_depth,
    check_page,
    checked_bbox,
    checked_report_id,
    codes_by_level,
    counts_frame,
    crs_name,
    dedupe_batch,
    frame_of_rows,
    generation_of_row,
    grid_frame,
    grid_rows,
    history_row,
    intake_result,
    levels_json,
    not_stored_yet,
    placement_columns,
    placements,
    points_frame,
    received_history,
    road_rows,
    subset_of,
    sync_folder,
    track_of_row,
    track_row,
)
from geogrid.storage.tiles import grid_tile
from geogrid.tiles import Tile
from geogrid.topology import TopologyReport
from geogrid.workflow import (
    CLOSED,
    DISPATCHED,
    FEEDBACK,
    IN_PROGRESS,
    OPEN_STATUSES,
    RECEIVED,
    check_source,
    check_status,
    check_transition,
)

SYSTEM = "system"
Actor = Principal | str
#: What the assessment statistics read of each report, after its grid code (see
#: Store._index_for_assessment).
ASSESSMENT_COLUMNS = ("assignee", "received_at", "assigned_at", "closed_at", "deadline",
                      "status", "escalations", "returns", "rating", "rated_at")  # fmt: skip
#: Open reports read, placed and written at a time when a generation becomes current
#: (activation, publishing a redraw): memory holds one batch (tens of MB) at any size.
REASSIGN_BATCH = 20_000
#: Where a report is placed: what re-assigning writes when it changes.
PLACEMENT_COLUMNS = (*CODE_COLUMNS, "assignment", "distance_m", "handler_depth", "handler_code")
#: A work queue counts its reports up to this many ("10,000+"): counting a million costs.
QUEUE_COUNT_LIMIT = 10_000
#: How far back a warning sweep looks for reports that became nearly overdue or overdue.
SWEEP_LOOKBACK = timedelta(days=2)


class StaleStatusError(GeogridError):
    """The report moved on since the client last read it (it expected another status)."""


class TopologyRefusedError(GeogridError):
    """A boundary set with topology errors was refused; ``report`` says why."""

    def __init__(self, report: TopologyReport) -> None:
        super().__init__(
            f"boundaries refused: {len(report.errors)} topology errors\n" + report.to_text()
        )
        self.report = report


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

    #: Open reports re-assigned per batch; see :data:`REASSIGN_BATCH`.
    reassign_batch: int = REASSIGN_BATCH

    def __init__(
        self,
        dialect: Dialect,
        categories: CategoryTree | None = None,
        clock: Clock = system_clock,
        *,
        upgrade: bool = True,
        warning_share: float = DEFAULT_WARNING_SHARE,
        media_folder: str | Path | None = None,
        index_folder: str | Path | None = None,
    ) -> None:
        self.db = dialect
        #: Where the generations' point indexes are shared between processes (see
        #: :mod:`geogrid.assign.shared`); None: each process builds its own.
        self.index_folder = index_folder
        self.clock = clock
        #: 预警: a report is nearly overdue this share of the way to its deadline.
        self.warning_share = check_share(warning_share)
        self.categories = categories or CategoryTree.default()
        self.calendar: WorkingCalendar = self.categories.calendar
        self._hierarchies: dict[int, Hierarchy] = {}
        if upgrade:
            self.db.create_schema()
        self.accounts = Accounts(self.db, clock)
        self.audit = AuditLog(self.db)
        self.drafts = Drafts(self.db, clock, self.hierarchy, self.publish_redraw)
        self.media = Media(self.db, clock, media_folder)
        self.checkins = Checkins(self.db, clock, self.hierarchy)

    def close(self) -> None:
        """Close the connections of this process."""
        self.db.close()

    def optimize(self) -> None:
        """Refresh the database's statistics; call it after a bulk import.

        Right after a million reports arrive, the query planner still believes
        the tables are small and may pick slow plans until it looks again.
        """
        self.db.optimize()

    def backup(self, out: str | Path) -> Path:
        """Copy the whole store into the new file ``out``, while it stays in use.

        SQLite: a database file, made with SQLite's online backup (open it as
        ``sqlite:///out``). PostgreSQL: a ``pg_dump --format=custom`` archive, for
        ``pg_restore``. ``out`` is readable by its owner only, and written under
        another name then renamed, so it is never half-written.

        Examples
        --------
        >>> import tempfile
        >>> from geogrid.storage import open_store
        >>> folder = tempfile.mkdtemp()
        >>> open_store(f"sqlite:///{folder}/g.db").backup(f"{folder}/copy.db").name
        'copy.db'
        """
        out = Path(out)
        if out.exists():
            raise InputError(f"{out}: already exists; back up to a new file")
        if not out.parent.is_dir():
            raise InputError(f"{out.parent}: no such folder")
        # mkstemp creates the file with mode 0600; SQLite and pg_dump keep it.
        handle, partial = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial",
                                           dir=out.parent)  # fmt: skip
        os.close(handle)
        try:
            self.db.backup(Path(partial))
            os.replace(partial, out)
        finally:
            Path(partial).unlink(missing_ok=True)
        sync_folder(out.parent)
        return out

    # --- generations -------------------------------------------------------------------

    def import_generation(
        self, hierarchy: Hierarchy, label: str, *, activate: bool = False, actor: Actor = SYSTEM
    ) -> Generation:
        """Store a validated boundary set as a new generation; refused on topology errors."""
        levels = checked_boundaries(hierarchy)
        with self.db.transaction() as tx:
            generation_id = self._insert_generation(tx, hierarchy, label, levels,
                                                    principal_of(actor), self.clock())  # fmt: skip
        if activate:
            self.activate(generation_id, actor=actor)
        return self.generation(generation_id)

    def _insert_generation(self, tx, hierarchy, label, levels, who, now, **extra) -> int:
        """A generation's rows (itself, its grids and roads) and their audit event, in ``tx``."""
        generation_id = self.db.insert_generation(tx, label, now, levels_json(levels))
        rows = grid_rows(generation_id, hierarchy)
        self.db.insert_grids(tx, rows)
        self.db.insert_roads(tx, generation_id, road_rows(hierarchy.roads()))
        insert_events(self.db, tx, [audit_row(who, now, "generation.import", "generation",
            generation_id, after={"label": label, "levels": list(hierarchy.levels),
                                  "grids": len(rows), **extra})])  # fmt: skip
        return generation_id

    def generations(self) -> list[Generation]:
        """Every stored generation, oldest first."""
        active = self.active_generation_id()
        return [generation_of_row(row, active) for row in self.db.fetch_generations()]

    def generation(self, generation_id: int) -> Generation:
        """One generation; :class:`NotFoundError` if there is none with that id."""
        for generation in self.generations():
            if generation.id == generation_id:
                return generation
        raise NotFoundError(f"generation {generation_id} does not exist")

    def active_generation(self) -> Generation | None:
        """The generation reports are assigned under now, if any."""
        active = self.active_generation_id()
        return None if active is None else self.generation(active)

    def active_generation_id(self) -> int | None:
        """The active generation's id, without reading the generation (a cheap check)."""
        with self.db.transaction(write=False) as tx:
            return self.db.active_generation(tx)

    def roads(self, generation_id: int | None = None) -> gpd.GeoDataFrame | None:
        """A generation's road network (default: the active one's), as it was imported.

        ``name``, ``class`` (the road's kind) and the lines in EPSG:4326; ``None``
        when the generation carries none (its manifest had no ``[roads]``, or it was
        stored before generations kept their roads).
        """
        generation_id = self.active_generation_id() if generation_id is None else generation_id
        if generation_id is None:
            raise NotFoundError("no active generation: import boundaries first")
        self.generation(generation_id)  # NotFoundError for an unknown one
        with self.db.transaction(write=False) as tx:
            rows = self.db.fetch_roads(tx, generation_id)
        if not rows:
            return None
        frame = pd.DataFrame(rows).set_index("position").rename_axis(None)
        geometry = shapely.from_wkb([bytes(g) for g in frame.pop("geometry")])
        return gpd.GeoDataFrame(frame.rename(columns={"kind": "class"}), geometry=geometry,
                                crs=4326)  # fmt: skip

    def hierarchy(self, generation_id: int | None = None) -> Hierarchy:
        """The boundaries of a generation (default: the active one), ready to assign."""
        if generation_id is None:
            generation_id = self.active_generation_id()
            if generation_id is None:
                raise NotFoundError("no generation is active; import and activate one first")
        if generation_id not in self._hierarchies:
            generation = self.generation(generation_id)
            frames = self._grid_frames(generation)
            self._hierarchies[generation_id] = Hierarchy(
                generation.levels, frames, name=generation.label
            ).prepare(self.index_folder)
        return self._hierarchies[generation_id]

    def codes_ever(self) -> frozenset[str]:
        """Every grid code any stored generation has had, at any level.

        A redraw hands none of them out again (``taken`` of
        :func:`geogrid.redraw.apply.apply_plans`): an old report's code must keep
        naming the place it named.

        Examples
        --------
        >>> import tempfile
        >>> from geogrid.storage import open_store
        >>> open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db").codes_ever()
        frozenset()
        """
        with self.db.transaction(write=False) as tx:
            return frozenset(r["code"] for r in self.db.rows(tx, "SELECT DISTINCT code FROM grids"))

    def grids(self, level: str, generation_id: int | None = None) -> gpd.GeoDataFrame:
        """Grids of one level of a generation (default: the active one)."""
        return self.hierarchy(generation_id).grids(level)

    def _grid_frames(self, generation: Generation) -> dict[str, gpd.GeoDataFrame]:
        with self.db.transaction(write=False) as tx:
            rows = self.db.fetch_grids(tx, generation.id)
        frames = {}
        for depth, level in enumerate(generation.levels):
            mine = [r for r in rows if r["depth"] == depth]
            frames[level.key] = grid_frame(mine, level)
        return frames

    def activate(self, generation_id: int, *, actor: Actor = SYSTEM) -> Activation:
        """Make a generation current and re-assign every open report under it.

        Each re-assigned report gets a history entry with its old and new codes.
        The dates follow one rule: a generation's ``starts_on`` is the (local) day
        it first became current, its ``ends_on`` the day it last stopped being
        current, empty while it is current. So rolling back a redraw is activating
        the previous generation again: the redrawn one ends today and the previous
        one is current again (its first ``starts_on`` kept); the audit trail holds
        every activation.
        """
        generation = self.generation(generation_id)
        hierarchy = self.hierarchy(generation_id)
        who, now = principal_of(actor), self.clock()
        with self.db.transaction() as tx:
            self.db.lock_generation_changes(tx)  # first: see Store.publish_redraw
            self.db.lock_generation(tx)
            before = self._make_current(tx, generation_id, self._local_day(now))
            reassigned = changed = 0
            for rows in self._open_batches(tx):
                reassigned += len(rows)
                changed += self._reassign(tx, rows, generation, hierarchy, who.name)
            insert_events(self.db, tx, [audit_row(who, now, "generation.activate",
                "generation", generation_id, before={"active": before},
                after={"active": generation_id, "reassigned": reassigned,
                       "changed": changed})])  # fmt: skip
        self._index_for_assessment(hierarchy)
        return Activation(self.generation(generation_id), reassigned, changed)

    def _open_batches(self, tx, generation_id: int | None = None) -> Iterator[list[dict]]:
        """The open reports (of one generation, if given), ``reassign_batch`` at a time.

        Keyset paging by id, inside ``tx``: each batch is read, placed and written
        before the next is read, so memory holds one batch whatever the store's
        size, and re-assigning changes neither a report's id nor its status.
        """
        after_id = 0  # ids start at 1 on both backends
        while rows := self.db.fetch_open_batch(tx, OPEN_STATUSES, after_id, self.reassign_batch,
                                               generation_id):  # fmt: skip
            yield rows
            after_id = rows[-1]["id"]

    def _index_for_assessment(self, hierarchy: Hierarchy) -> None:
        """Make sure an index covers the assessment statistics on the default level's codes.

        The statistics group a year of reports by that level's code; read from this
        index instead of the wide table, a million reports take 1.7 s instead of 5 s
        on SQLite. Which column it is depends on the boundaries, so it is made when
        they become current (once: IF NOT EXISTS), not by a migration.
        """
        depth = hierarchy.levels.index(hierarchy.default_level)
        columns = ", ".join((f"code{depth}", *ASSESSMENT_COLUMNS))
        with self.db.transaction() as tx:
            self.db.execute(tx, f"CREATE INDEX IF NOT EXISTS reports_assessment_{depth} "
                                f"ON reports ({columns})")  # fmt: skip

    def _make_current(self, tx, generation_id: int, day: date) -> int | None:
        """Activate in ``tx`` (which holds the generation lock) and date both generations;
        the generation that was current before."""
        before = self.db.active_generation(tx)
        self.db.set_active_generation(tx, generation_id)
        if before is not None and before != generation_id:
            self.db.end_generation(tx, before, day)
        self.db.start_generation(tx, generation_id, day)
        return before

    def _local_day(self, now: datetime) -> date:
        """The district's date at ``now`` (its working calendar's zone)."""
        return now.astimezone(ZoneInfo(self.calendar.timezone)).date()

    def _reassign(self, tx, rows, generation: Generation, hierarchy: Hierarchy, actor) -> int:
        if not rows:
            return 0
        placed = _placed(hierarchy, rows)
        updates, history, changed = self._assignments(rows, placed, generation, hierarchy, actor)
        self._write_placements(tx, rows, updates)
        self.db.insert_history(tx, history)
        return sum(changed)

    def _write_placements(self, tx, rows: list[dict], updates: list[dict]) -> None:
        """Write ``updates`` of ``rows`` (one generation and time for all), each with only
        the columns that change: those placed as they were (most reports, when few grids
        change) only change generation; the others, grouped by the columns they change,
        rewrite only those columns' index entries (a redraw changes one level's codes)."""
        groups: dict[tuple, list[dict]] = {}
        for row, update in zip(rows, updates, strict=True):
            changed = tuple(c for c in PLACEMENT_COLUMNS if row[c] != update[c])
            groups.setdefault(changed, []).append(update)
        for changed, group in groups.items():
            if changed:
                self.db.update_assignments(tx, group, changed)
            else:
                self.db.move_reports(tx, [u["id"] for u in group], group[0]["generation_id"],
                                     group[0]["updated_at"])  # fmt: skip

    def _assignments(self, rows, placed, generation, hierarchy, actor, note=None) -> tuple:
        """Per row: its update to ``placed`` under ``generation``, its "reassigned" history
        entry, and whether any of its codes changed."""
        depth_count, base = len(generation.levels), base_depth(hierarchy)
        now, updates, history, changed = self.clock(), [], [], []
        for row, new in zip(rows, placed, strict=True):
            depth = row["handler_depth"]
            depth = depth if depth is not None and depth < depth_count else base
            handler = new[CODE_COLUMNS[depth]]
            updates.append({**new, "id": row["id"], "generation_id": generation.id,
                            "handler_depth": depth if handler else None,
                            "handler_code": handler, "updated_at": now})  # fmt: skip
            changed.append(any(row[c] != new[c] for c in CODE_COLUMNS))
            history.append(history_row(row["id"], now, actor, "reassigned", data={
                "from_generation": row["generation_id"], "to_generation": generation.id,
                "old": codes_by_level(row, row["levels"]),
                "new": codes_by_level(new, generation.levels), **(note or {}),
            }))  # fmt: skip
        return updates, history, changed

    # --- redraw: publishing a draft ----------------------------------------------------

    def publish_redraw(
        self, draft_id: int, redraw, *, starts_on: date | None = None, actor: Actor,
        label: str | None = None,
    ) -> Publication:  # fmt: skip
        """Publish an approved draft: its redraw becomes the current generation, in ONE transaction.

        ``redraw`` is ``geogrid.redraw.apply_plans`` of the draft on its base
        generation (``.hierarchy``, the ``.codes`` crosswalk, the unit ``.changes``).
        Refused, changing nothing: a draft that fails the publish gate (a grid out
        of the band or in pieces, an empty grid, a unit in no grid: :class:`InputError`),
        not approved, or whose base generation is no longer the current one (someone
        published first: :class:`DraftStateError`); a redraw with topology errors
        (:class:`TopologyRefusedError`), that is not this draft's grouping, or that
        changes grids outside the draft's parent (:class:`InputError`). Then: the
        new generation is stored, current from ``starts_on`` (default: today;
        the base ends that day), open reports follow it (those inside the parent
        are placed again, with a history entry when their grid changed), each unit
        move is logged and the draft is "published", with its audit events.
        Needs ``draft.publish``. Roll back with :meth:`activate` of the base.
        """
        who = principal_of(actor)
        draft = self.drafts.get(draft_id, actor=who)
        if not who.may("draft.publish"):
            raise PermissionDeniedError(f"{who.name} ({who.role}) may not draft.publish")
        _check_publishable(draft.id, draft.status, draft.base_generation,
                           self.active_generation_id())  # fmt: skip
        base = self.generation(draft.base_generation)
        day = self._checked_start(starts_on, base)
        levels = checked_boundaries(redraw.hierarchy)
        old = self.hierarchy(base.id)
        # The gate is hard for every caller (page, command line, library), not only the page.
        if problems := draft_gate(old, draft):
            raise InputError(f"draft: cannot be published: {'; '.join(problems)}")
        region = redrawn_region(old, redraw.hierarchy, draft.level, draft.parent_code)
        same_grouping(draft, redraw, old)
        hierarchy = redraw.hierarchy.prepare()
        # The parent's reports are placed before any transaction; under it, only those
        # that arrived meanwhile are placed.
        with self.db.transaction(write=False) as tx:
            early = self.db.fetch_open_in_region(tx, OPEN_STATUSES, *region, base.id)
        known = _placements_by_point(hierarchy, early)
        # Reports not under the base generation (none while every activation re-assigns
        # every open report) are found now, so that later reads ask indexed terms only.
        strays = [r["id"] for r in early if r["generation_id"] != base.id]
        return self._publish(draft, redraw, hierarchy, levels, (*region, None, strays), known,
                             day, who, label or f"{draft.name} (draft {draft.id})")  # fmt: skip

    def _publish(self, draft, redraw, hierarchy, levels, region, known, day, who, label):
        """The publishing transaction. Locks, in this order (no two writers wait on each
        other in a cycle): the turn of generation changes (activations, publications and
        escalations take turns; intake does not), the draft's row, the reports it
        updates, and last the generation lock, which stops intake until the commit; so
        intake goes on while the grids are written and most reports are moved."""
        now, counts, base = self.clock(), crosswalk_counts(redraw.codes), draft.base_generation
        with self.db.transaction() as tx:
            self.db.lock_generation_changes(tx)
            generation_id = self._insert_generation(tx, hierarchy, label, levels, who, now,
                                                    draft=draft.id)  # fmt: skip
            row = self.drafts._locked(tx, draft.id, who, "draft.publish")
            _check_still_publishable(draft, row, self.db.active_generation(tx))
            generation = Generation(generation_id, label, now, tuple(levels), 0, True)
            ids = self.db.open_ids_in_region(tx, OPEN_STATUSES, *region)
            # Every report of the region is updated here: the UPDATE below leaves the region
            # out, so that one arriving there meanwhile stays under the base and is placed
            # under the lock with the late ones.
            placed, changed = self._replace_all(tx, self._batches_of(tx, ids), known,
                                                generation, hierarchy, who, draft.id)  # fmt: skip
            moved = self.db.move_open_to_generation(tx, OPEN_STATUSES, base, generation_id,
                                                    region[:3])  # fmt: skip
            self.db.lock_generation(tx)  # intake waits from here to the commit
            _check_still_publishable(draft, row, self.db.active_generation(tx))
            late, late_changed = self._replace_all(tx, self._open_batches(tx, base), {},
                                                   generation, hierarchy, who,
                                                   draft.id)  # fmt: skip
            self._make_current(tx, generation_id, day)
            published = self.drafts._published(tx, row, generation_id, redraw.changes, who, now)
            self.drafts.insert_crosswalk(tx, generation_id, redraw.codes)
            reports = {"placed": placed + late, "changed": changed + late_changed,
                       "moved": moved, "reassigned": placed + late + moved}  # fmt: skip
            insert_events(self.db, tx, _publish_events(who, now, draft.id, base, generation_id,
                                                       day, published, counts, reports,
                                                       len(redraw.changes)))  # fmt: skip
        self._hierarchies[generation_id] = hierarchy
        return Publication(self.drafts.get(draft.id, actor=who), self.generation(generation_id),
                           base, reports["placed"], reports["changed"], moved, counts)  # fmt: skip

    def _batches_of(self, tx, ids: list[int]) -> Iterator[list[dict]]:
        """The reports ``ids`` (in order), ``reassign_batch`` at a time, read in ``tx``."""
        for start in range(0, len(ids), self.reassign_batch):
            yield self.db.fetch_open_by_ids(tx, ids[start : start + self.reassign_batch])

    def _replace_all(self, tx, batches, known, generation, hierarchy, who, draft_id) -> tuple:
        """:meth:`_replace` each batch of reports: how many were placed, how many changed."""
        placed = changed = 0
        for rows in batches:
            placed += len(rows)
            changed += self._replace(tx, rows, known, generation, hierarchy, who, draft_id)
        return placed, changed

    def _replace(self, tx, rows, known, generation, hierarchy, who, draft_id) -> int:
        """Place ``rows`` (open reports) under the new generation; how many changed codes.

        Why only the redrawn parent's reports are placed again: outside the parent
        every grid keeps its code and its shape (:func:`redrawn_region` checked it),
        and the levels above the parent never change, while a report's codes come
        from where its point lies (or, outside every grid, from the nearest grid of
        the finest full level, whose shapes are the same). So outside the parent
        every open report keeps all its codes and one UPDATE moves it to the new
        generation (:meth:`Dialect.move_open_to_generation`). The parent's region also
        takes the points in its box widened by the nearest-grid distance (a tie on
        the outline is broken by code, and codes inside change) and any report not
        under the base generation. Placements in ``known`` (by id and point) were
        made before the transaction; the rest are made now. Every one is updated (the
        UPDATE of the others leaves the region out); those whose codes changed get a
        history entry.
        """
        placed = [known.get((r["id"], r["lon"], r["lat"])) for r in rows]
        missing = [i for i, p in enumerate(placed) if p is None]
        for i, p in zip(missing, _placed(hierarchy, [rows[i] for i in missing]), strict=True):
            placed[i] = p
        updates, history, changed = self._assignments(rows, placed, generation, hierarchy,
                                                      who.name, {"draft": draft_id})  # fmt: skip
        self._write_placements(tx, rows, updates)
        self.db.insert_history(tx, [h for h, c in zip(history, changed, strict=True) if c])
        return sum(changed)

    def _checked_start(self, starts_on: date | None, base: Generation) -> date:
        today = self._local_day(self.clock())
        day = today if starts_on is None else starts_on
        if not isinstance(day, date) or isinstance(day, datetime):
            raise InputError(f"starts_on: a date (YYYY-MM-DD), got {starts_on!r}")
        if day > today:
            raise InputError(f"starts_on: {day} is after today ({today}); publishing makes the "
                             "generation current now: publish on that day")  # fmt: skip
        if base.starts_on is not None and day < base.starts_on:
            raise InputError(f"starts_on: {day} is before the current generation started "
                             f"({base.starts_on})")  # fmt: skip
        return day

    # --- reports: intake ---------------------------------------------------------------

    def add_report(self, report: NewReport, *, actor: Actor = SYSTEM) -> Report:
        """Store one report (idempotent on ``external_id``) and return it as stored."""
        return self.get_report(self.add_reports([report], actor=actor)[0].id)

    def add_reports(
        self, reports: Sequence[NewReport], *, actor: Actor = SYSTEM
    ) -> list[IntakeResult]:
        """Store a batch in one transaction, after checking all of it.

        A resent report (same ``external_id``, same content) is not stored again and
        comes back with ``created=False``; the same ``external_id`` with different
        content refuses the whole batch with :class:`DuplicateReportError`.
        """
        who = principal_of(actor)
        lon, lat = check_reports(reports, self.categories)
        unique, stands_for = dedupe_batch(reports)
        received_at = self.clock()
        for _ in range(3):  # another generation or server meanwhile (see _store_new): again
            generation_id = self.active_generation_id()
            hierarchy = self.hierarchy(generation_id) if generation_id is not None else None
            batch = self._intake_columns(unique, lon, lat, hierarchy, generation_id, received_at)
            done = self._store_new(batch, generation_id, who, received_at)
            if done is None:
                continue
            new, ids, existing = done
            stored = {i: (report_id, True) for i, report_id in zip(new["index"], ids, strict=True)}
            for i, key in zip(batch["index"], batch["external_id"], strict=True):
                stored.setdefault(i, (existing[key][0], False) if key in existing else None)
            return [intake_result(report, stored[stands_for[i]], stands_for[i] == i)
                    for i, report in enumerate(reports)]  # fmt: skip
        raise GeogridError(
            "the store kept changing during intake (boundaries activated, or "
            "these reports stored by another server meanwhile); try again"
        )

    def _store_new(self, batch: dict, generation_id, who, received_at) -> tuple | None:
        """Store the reports of ``batch`` not stored yet, in one transaction: (those new,
        their ids, those stored before by external id).

        None when it must be tried again: another generation became current since
        ``batch`` was assigned, or another server (or worker) stored one of its
        external ids after this transaction looked for them (PostgreSQL runs intakes
        side by side; the unique index refuses the second copy, and the next try
        finds the first).
        """
        try:
            with self.db.transaction(share_generation=True) as tx:
                if self.db.active_generation(tx) != generation_id:
                    return None
                existing = self.db.find_external_ids(tx, batch["external_id"])
                new = subset_of(batch, not_stored_yet(batch, existing))
                ids = self.db.insert_report_columns(tx, new)
                self.db.insert_history_columns(tx, received_history(new, ids, who.name))
                if ids:
                    insert_events(self.db, tx, [_intake_event(who, received_at, ids)])
        except Exception as error:
            if self.db.is_unique_violation(error):
                return None
            raise
        return new, ids, existing

    def _intake_columns(self, unique, lon, lat, hierarchy, generation_id, received_at) -> dict:
        """The batch as columns (lists, or one value for all): it is stored column-wise."""
        indices = list(unique)
        reports = list(unique.values())
        columns = placement_columns(hierarchy, lon[indices], lat[indices])
        base = base_depth(hierarchy)
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
            "received_crs": [crs_name(r.crs) for r in reports],
            "lon": lon[indices].tolist(), "lat": lat[indices].tolist(),
            "generation_id": generation_id, "status": RECEIVED,
            "handler_depth": [base if code else None for code in handlers],
            "handler_code": handlers, "deadline": [deadlines[r.category] for r in reports],
            "updated_at": received_at, "ticket": [new_ticket() for _ in reports],
            "warn_at": [warn_time(received_at, deadlines[r.category], self.warning_share)
                        for r in reports],
            "assignee": None, "assigned_at": None, "closed_at": None, "escalations": 0,
            "returns": 0, "rating": None, "rating_note": None, "rated_at": None,
        })  # fmt: skip
        for name in CONTACT_FIELDS:
            columns[f"contact_{name}"] = [getattr(r.contact, name) if r.contact else None
                                          for r in reports]  # fmt: skip
        return columns

    # --- reports: reading --------------------------------------------------------------

    def get_report(self, report_id: int) -> Report:
        """One report with its full history; :class:`NotFoundError` if unknown."""
        with self.db.transaction(write=False) as tx:
            row = self.db.fetch_report(tx, checked_report_id(report_id))
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

    def report_extent(self) -> ReportExtent | None:
        """The box around every stored report and when the first arrived; None with none.

        Reports outside every grid count too. Each bound is read from an index, so it
        costs as little with millions of reports as with a few.

        Examples
        --------
        >>> import tempfile
        >>> from geogrid.storage import open_store
        >>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db")
        >>> store.report_extent() is None
        True
        >>> _ = store.add_reports([NewReport("dispute", -0.19, 51.5),
        ...                        NewReport("dispute", 120.65, 28.01)])
        >>> store.report_extent().bbox
        (-0.19, 28.01, 120.65, 51.5)
        """
        with self.db.transaction(write=False) as tx:
            row = self.db.report_extent(tx)
        if row["first"] is None:
            return None
        bbox = (row["west"], row["south"], row["east"], row["north"])
        return ReportExtent(tuple(float(v) for v in bbox), self.db.decode_time(row["first"]))

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
        now_value = self.db.encode_time(aware_utc(now or self.clock(), "now"))
        with self.db.transaction(write=False) as tx:
            rows = self.db.count_grouped(tx, f"code{depth}", where, params, now_value,
                                         list(OPEN_STATUSES))  # fmt: skip
        return counts_frame(rows)

    def open_report_counts(
        self, level: str, codes: Sequence[str], now: datetime | None = None
    ) -> pd.DataFrame:
        """Open reports in each of ``codes`` (grids of ``level``), by status, with overdue.

        One row per (code, status) that has open reports: ``code``, ``status``,
        ``count`` and ``overdue`` (past deadline at ``now``). Read from the index on
        the level's code column alone, so a street's thousands of reports cost
        milliseconds; a redraw's impact asks it for the units of one parent.

        Examples
        --------
        >>> import tempfile
        >>> from geogrid import Hierarchy
        >>> from geogrid.storage import open_store
        >>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db")
        >>> _ = store.import_generation(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                             "2026", activate=True)
        >>> list(store.open_report_counts("microgrid", ["330399001001001001"]).columns)
        ['code', 'status', 'count', 'overdue']
        """
        depth = self._depth_of_level(level)
        now_value = self.db.encode_time(aware_utc(now or self.clock(), "now"))
        with self.db.transaction(write=False) as tx:
            rows = self.db.count_open_by_code(tx, f"code{depth}", list(codes),
                                              list(OPEN_STATUSES), now_value)  # fmt: skip
        frame = pd.DataFrame(rows, columns=["code", "status", "n", "overdue"])
        frame = frame.rename(columns={"n": "count"}).astype({"count": int})
        return frame.assign(overdue=frame["overdue"].fillna(0).astype(int))

    def count_in_cells(
        self, bbox: Sequence[float], cell_deg: float, query: ReportQuery | None = None
    ) -> pd.DataFrame:
        """Reports counted in square cells of ``cell_deg`` degrees over ``bbox`` (for heat maps).

        Returns ``lon``, ``lat`` (cell centres) and ``count``, only for cells with
        reports: the page gets a few thousand numbers, never the raw points.
        """
        west, south, _, _ = checked_bbox(bbox)
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
        self, since: datetime | None = None, until: datetime | None = None,
        scope: Sequence[str] | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Reports as plain columns for analysis: one query, no histories.

        ``lon``, ``lat``, ``time`` (when it happened: ``reported_at``), ``received_at``,
        ``category`` and ``<level>_code`` per level of the active generation;
        ``since``/``until`` select on ``time``; ``scope`` keeps the reports of those
        grids (and their descendants) only.

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
                params.append(self.db.encode_time(aware_utc(value, name)))
        if scope is not None:
            self._where_scope(where, params, scope)
        codes = [f"code{d}" for d in range(len(levels))]
        with self.db.transaction(write=False) as tx:
            rows = self.db.report_columns(tx, codes, where, params)
        return points_frame(rows, levels)

    def _depth_of_level(self, level: str) -> int:
        # The active boundaries are cached; listing generations would count grids.
        keys = self.hierarchy().levels if self.active_generation_id() is not None else []
        if level not in keys:
            raise InputError(f"level: {level!r} is not one of {', '.join(keys) or 'no levels'}")
        return keys.index(level)

    def _where(self, query: ReportQuery) -> tuple[list[str], list[Any]]:
        check_page(query)
        where: list[str] = []
        params: list[Any] = []
        if query.grid:
            depth = self._depth_of_code(query.grid)
            where.append(f"code{depth} = ?")
            params.append(query.grid)
        if query.bbox:
            west, south, east, north = checked_bbox(query.bbox)
            where.append(self.db.bbox_filter())
            params += self.db.bbox_params(west, south, east, north)
        for name, value, op in (("since", query.since, ">="), ("until", query.until, "<")):
            if value is not None:
                where.append(f"received_at {op} ?")
                params.append(self.db.encode_time(aware_utc(value, name)))
        self._where_in(where, params, "category", self._categories(query.category))
        self._where_in(where, params, "status", [check_status(s) for s in query.status])
        if query.overdue_at is not None:
            self._where_in(where, params, "status", list(OPEN_STATUSES))
            where.append("deadline < ?")
            params.append(self.db.encode_time(aware_utc(query.overdue_at, "overdue_at")))
        if query.scope is not None:
            self._where_scope(where, params, query.scope)
        return where, params

    def _where_scope(self, where: list[str], params: list[Any], scope: Sequence[str]) -> None:
        """Reports in any scope grid: a report carries its grid at every level, so a
        grid's reports (and its descendants') are those with its code at its depth."""
        terms = []
        with self.db.transaction(write=False) as tx:
            depths = {code: self.db.depth_of_code(tx, code) for code in scope}
        for code, depth in depths.items():
            if depth is not None:
                terms.append(f"code{depth} = ?")
                params.append(code)
        where.append(f"({' OR '.join(terms)})" if terms else "1 = 0")

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
            contact=Contact(*(row[f"contact_{name}"] for name in CONTACT_FIELDS)) or None,
            ticket=row["ticket"],
            assignee=row["assignee"],
            **{
                name: self._time(row[name])
                for name in ("assigned_at", "warn_at", "closed_at", "rated_at")
            },
            escalations=row["escalations"] or 0,
            returns=row["returns"] or 0,
            rating=row["rating"],
            rating_note=row["rating_note"] or "",
        )

    def _time(self, value: Any) -> datetime | None:
        return self.db.decode_time(value) if value is not None else None

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

    def transition(
        self, report_id: int, target: str, *, actor: Actor, note: str = "",
        expected: str | None = None, client_id: str | None = None,
        assignee: str | None = None, deadline: datetime | None = None,
    ) -> Report:  # fmt: skip
        """Move a report along the closed loop; only allowed transitions, each recorded.

        The principal's role must allow the step (see
        :func:`geogrid.access.action_of_transition`) and the report must be in its
        scope (else it "does not exist"). ``expected`` is the status the client saw:
        if the report has moved on meanwhile, :class:`StaleStatusError` and nothing
        changes, so two people acting on one report never overwrite each other.

        分拨 (``target="dispatched"``) names the ``assignee``, an active department
        or grid-worker account whose scope covers the report, and may set a new
        ``deadline`` (after now); dispatching a dispatched report again hands it to
        another assignee. A department or grid worker handles only what is
        dispatched to them. ``client_id``, the id a phone gave an action made
        offline, makes a replay of it answer with the report as it is, done once.
        """
        who, client_id = principal_of(actor), check_client_id(client_id)
        now = self.clock()
        with self.db.transaction() as tx:
            row = self._locked_report(tx, report_id, who)  # scope first, replay or not
            if client_id is None or self._first_time(tx, client_id, who, report_id, target, now):
                if expected is not None and row["status"] != expected:
                    raise StaleStatusError(
                        f"status: report {report_id} is {row['status']} "
                        f"now, not {expected}; reload it and try again"
                    )
                self._step(tx, row, target, who, note, assignee, deadline, now)
        return self.get_report(report_id)

    def _first_time(self, tx, client_id: str, who: Principal, report_id: int, target: str,
                    now: datetime) -> bool:  # fmt: skip
        """Record the phone's id of an action; False if it was done already (a replay)."""
        claimed = self.db.execute_count(
            tx, "INSERT INTO client_actions (id, principal, report_id, action, at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (client_id, who.name, report_id, target, self.db.encode_time(now)))  # fmt: skip
        if claimed:
            return True
        (done,) = self.db.rows(tx, "SELECT principal, report_id, action FROM client_actions "
                                   "WHERE id = ?", (client_id,))  # fmt: skip
        if (done["principal"], done["report_id"], done["action"]) != (who.name, report_id, target):
            raise LoopConflictError(f"client_id: {client_id!r} was used for another action "
                                    "(make a new id for each action)")  # fmt: skip
        return False

    def _locked_report(self, tx, report_id: int, who: Principal) -> dict:
        query = (
            f"SELECT id, status, category, assignee, deadline, handler_code, returns, "
            f"{', '.join(CODE_COLUMNS)} FROM reports WHERE id = ?{self.db.lock_for_update}"
        )
        rows = self.db.rows(tx, query, (checked_report_id(report_id),))
        if not rows or not who.covers(rows[0][c] for c in CODE_COLUMNS):
            raise NotFoundError(f"report {report_id} does not exist")
        return rows[0]

    def _step(self, tx, row, target, who, note, assignee, deadline, now) -> None:
        """Check one step of the loop by ``who`` and write it: the row, history, audit, notices."""
        current, report_id = row["status"], row["id"]
        again = current == target == DISPATCHED  # 改派: hand it to another assignee
        if not again:
            check_transition(current, target, note)
        action = "report.dispatch" if again else action_of_transition(current, target)
        if not who.may(action):
            raise PermissionDeniedError(f"{who.name} ({who.role}) may not {action}")
        if (action in ("report.handle", "report.feedback") and who.role in HANDLER_ROLES
                and row["assignee"] not in (None, who.name)):  # fmt: skip
            raise PermissionDeniedError(f"report {report_id} is dispatched to "
                                        f"{row['assignee']}, not to {who.name}")  # fmt: skip
        values: dict[str, Any] = {"status": target, "updated_at": now}
        data, notices = {}, []
        if target == DISPATCHED:
            data = self._dispatch(tx, row, assignee, deadline, now, values)
            if data.get("assignee"):
                notices.append(notice(now, "dispatched", _brief(row), data["assignee"],
                                      f"dispatched:{report_id}:{self.db.encode_time(now)}",
                                      by=who.name, deadline=data["deadline"]))  # fmt: skip
        elif assignee is not None or deadline is not None:
            raise InputError("assignee: only a dispatch (分拨) names an assignee and a deadline")
        if target == CLOSED:
            values["closed_at"] = now
        if (current, target) == (FEEDBACK, IN_PROGRESS):
            values["returns"] = row["returns"] + 1
            notices.append(notice(now, "returned", _brief(row), row["assignee"],
                                  f"returned:{report_id}:{self.db.encode_time(now)}",
                                  by=who.name, note=note))  # fmt: skip
        self.db.update_report(tx, report_id, values)
        self.db.insert_history(tx, [history_row(report_id, now, who.name,
                                                "redispatched" if again else "transition",
                                                current, target, note, data or None)])  # fmt: skip
        insert_events(self.db, tx, [audit_row(who, now, action, "report", report_id,
            before={"status": current, **({"assignee": row["assignee"]} if data else {})},
            after={"status": target, "note": note, **data})])  # fmt: skip
        insert_notices(self.db, tx, notices)

    def _dispatch(self, tx, row, assignee, deadline, now, values) -> dict:
        """Check a dispatch's assignee and deadline; the values to store; the history's data."""
        deadline = check_deadline(deadline, now)
        current = self.db.decode_time(row["deadline"]) if row["deadline"] else None
        if deadline is not None and current is not None and current < now < deadline:
            # 按期办结 is counted against the deadline: what is late is escalated or closed
            # late, never made on time again by a later one.
            raise InputError(f"deadline: report {row['id']} is overdue since "
                             f"{current.isoformat()}; an overdue report keeps its deadline "
                             "(dispatch it without one)")  # fmt: skip
        data: dict[str, Any] = {}
        if assignee is not None:
            user = self._assignee(tx, assignee, row)
            values.update(assignee=user.name, assigned_at=now)
            data["assignee"] = user.name
        elif row["status"] == DISPATCHED:
            raise InputError("assignee: dispatching again (改派) names who takes the report")
        if deadline is not None:
            values.update(deadline=deadline, warn_at=warn_time(now, deadline, self.warning_share))
        current = deadline or current
        data["deadline"] = current.isoformat() if current else None
        return data

    def _assignee(self, tx, name: Any, row: dict):
        """The account a report is dispatched to: active, handling, with the report in scope."""
        if not isinstance(name, str) or not name.strip():
            raise InputError("assignee: the name of a department or grid-worker account")
        found = self.accounts._row(tx, name.strip())  # inside the step's own transaction
        if found is None:
            raise InputError(f"assignee: no account is named {name.strip()!r}")
        user = self.accounts._user(found)
        place = [row[c] for c in CODE_COLUMNS]
        if not user.active or user.role not in HANDLER_ROLES:
            raise InputError(f"assignee: {user.name} is not an active department or grid-worker "
                             "account")  # fmt: skip
        if not user.principal("system").covers(place):
            raise InputError(f"assignee: report {row['id']} is outside {user.name}'s grids")
        return user

    def assignees(self, report_id: int, *, actor: Actor) -> list[dict]:
        """Who a report can be dispatched to: active departments and grid workers covering it.

        Grid workers of the report's own grids come first, then departments.
        """
        who = principal_of(actor)
        with self.db.transaction(write=False) as tx:
            rows = self.db.rows(tx, f"SELECT id, {', '.join(CODE_COLUMNS)} FROM reports "
                                    "WHERE id = ?", (checked_report_id(report_id),))  # fmt: skip
        if not rows or not who.covers(rows[0][c] for c in CODE_COLUMNS):
            raise NotFoundError(f"report {report_id} does not exist")
        place = [rows[0][c] for c in CODE_COLUMNS]
        users = [
            u
            for u in self.accounts.users()
            if u.active and u.role in HANDLER_ROLES and u.principal("system").covers(place)
        ]
        users.sort(key=lambda u: (u.role != "grid_worker", u.scope is None, u.name))
        return [{"name": u.name, "display_name": u.display_name, "role": u.role,
                 "scope": list(u.scope) if u.scope else None} for u in users]  # fmt: skip

    # --- reports: work queues, tickets, ratings, notices -----------------------------------

    def queue(self, actor: Actor, query: QueueQuery | None = None) -> Page:
        """A work queue (待办): open reports in scope, overdue and nearly overdue first.

        See :class:`~geogrid.storage.loop.QueueQuery`. The overdue ones come first,
        longest overdue first; then the others by the time each warns (预警), so the
        nearly overdue come next; ``total`` stops counting at 10,000.
        """
        who, query = principal_of(actor), query or QueueQuery()
        now = aware_utc(query.now or self.clock(), "now")
        statuses = OPEN_STATUSES
        if query.mine:
            statuses = statuses_to_act_on(who.role) if who.role != "admin" else OPEN_STATUSES
        wanted = [check_status(s) for s in query.status] or list(statuses)
        base = ReportQuery(grid=query.grid, since=query.since, until=query.until,
                           category=query.category, limit=query.limit, offset=query.offset,
                           scope=who.scope)  # fmt: skip
        where, params = self._where(base)
        self._where_in(where, params, "status", [s for s in wanted if s in statuses] or ["-"])
        # Implied by the statuses; written out so the planners see that the partial
        # indexes (WHERE status <> 'closed') apply: SQLite proves it only from this very
        # term, PostgreSQL not in a generic plan, where the statuses are parameters.
        where.append(f"status <> '{CLOSED}'")
        self._where_in(where, params, "source", [check_source(s) for s in query.source])
        if query.mine and who.role in HANDLER_ROLES:
            where.append("(assignee = ? OR assignee IS NULL)")
            params.append(who.name)
        self._where_warning(where, params, check_warning(query.warning), now)
        with self.db.transaction(write=False) as tx:
            total = self.db.count_reports(tx, where, params, at_most=QUEUE_COUNT_LIMIT)
            rows = self._queue_page(tx, where, params, query.limit, query.offset, now)
            history = self.db.fetch_history(tx, [r["id"] for r in rows])
        return Page([self._report(r, history.get(r["id"], [])) for r in rows], total,
                    query.limit, query.offset)  # fmt: skip

    def _queue_page(self, tx, where, params, limit: int, offset: int, now: datetime) -> list:
        """One page: the overdue reports, longest overdue first, then the others by the time
        they warn; each part read in its index's order, so a million reports cost a page."""
        moment = self.db.encode_time(now)
        late = ([*where, "deadline < ?"], [*params, moment])
        # Counting the overdue ones up to the end of the page is enough to place it.
        late_count = self.db.count_reports(tx, *late, at_most=offset + limit)
        rows = []
        if offset < late_count:
            rows = self.db.select_reports(tx, *late, limit, offset, order="deadline, id")
        if len(rows) < limit:
            rest = ([*where, "(deadline >= ? OR deadline IS NULL)"], [*params, moment])
            skip = max(0, offset - late_count)
            rows += self.db.select_reports(tx, *rest, limit - len(rows), skip,
                                           order="warn_at, id")  # fmt: skip
        return rows

    def _where_warning(self, where: list[str], params: list, warning: str | None,
                       now: datetime) -> None:  # fmt: skip
        if warning == "overdue":
            where.append("deadline < ?")
            params.append(self.db.encode_time(now))
        elif warning == "nearly":
            where.append("warn_at <= ? AND deadline >= ?")
            params += [self.db.encode_time(now)] * 2

    def report_by_ticket(self, ticket: Any) -> Report:
        """The report a resident's ticket number names (typed any way: see ``check_ticket``)."""
        ticket = check_ticket(ticket)
        with self.db.transaction(write=False) as tx:
            rows = self.db.rows(tx, "SELECT id FROM reports WHERE ticket = ?", (ticket,))
        if not rows:
            raise NotFoundError(f"ticket: no report has number {ticket}")
        return self.get_report(rows[0]["id"])

    def rate(self, ticket: Any, score: Any, note: Any = "", *, actor: Actor) -> Report:
        """The resident's satisfaction (满意度) with a closed report: once, 1–5, with a note."""
        who, (score, note) = principal_of(actor), check_rating(score, note)
        report_id = self.report_by_ticket(ticket).id
        now = self.clock()
        with self.db.transaction() as tx:
            query = f"SELECT status, rating FROM reports WHERE id = ?{self.db.lock_for_update}"
            (row,) = self.db.rows(tx, query, (report_id,))
            if row["status"] != CLOSED:
                raise StaleStatusError(f"ticket: the report is {row['status']}; it can be rated "
                                       "once it is closed (结案)")  # fmt: skip
            if row["rating"] is not None:
                raise LoopConflictError("ticket: the report has been rated already")
            self.db.update_report(tx, report_id, {"rating": score, "rating_note": note,
                                                  "rated_at": now})  # fmt: skip
            self.db.insert_history(tx, [history_row(report_id, now, who.name, "rated", CLOSED,
                                                    CLOSED, note, {"score": score})])  # fmt: skip
            insert_events(self.db, tx, [audit_row(who, now, "ticket", "report", report_id,
                                                  after={"rating": score})])  # fmt: skip
        return self.get_report(report_id)

    def notifications(self, actor: Actor, *, unread_only: bool = False,
                      limit: int = 50) -> list[dict]:  # fmt: skip
        """The in-app list (提醒): what was dispatched or returned to me and what is about to
        be late; the command centre's notices (no recipient) go to commanders in scope."""
        who = principal_of(actor)
        where, params = ["(n.recipient = ?"], [who.name]
        if who.may("report.dispatch"):
            shared: list[str] = []
            if who.scope is not None:
                self._where_scope(shared, params, who.scope)
            where[0] += " OR (n.recipient IS NULL" + "".join(f" AND {t}" for t in shared) + ")"
        where[0] += ")"
        if unread_only:
            where.append("n.read_at IS NULL")
        query = ("SELECT n.id, n.at, n.kind, n.report_id, n.recipient, n.payload, n.read_at "
                 "FROM notifications n JOIN reports r ON r.id = n.report_id "
                 f"WHERE {' AND '.join(where)} ORDER BY n.id DESC LIMIT ?")  # fmt: skip
        with self.db.transaction(write=False) as tx:
            rows = self.db.rows(tx, query, [*params, _check_limit(limit)])
        return [{**r, "at": self.db.decode_time(r["at"]).isoformat(),
                 "read_at": self._time(r["read_at"]) and self._time(r["read_at"]).isoformat(),
                 "payload": r["payload"] if isinstance(r["payload"], dict)
                 else json.loads(r["payload"])} for r in rows]  # fmt: skip

    def mark_read(self, actor: Actor, ids: Sequence[int]) -> int:
        """Mark notices of mine (or, for commanders, the command centre's) read; how many."""
        mine = {n["id"] for n in self.notifications(actor, unread_only=True, limit=1000)}
        chosen = [i for i in ids if i in mine]
        if not chosen:
            return 0
        with self.db.transaction() as tx:
            marks = ", ".join("?" * len(chosen))
            return self.db.execute_count(tx, f"UPDATE notifications SET read_at = ? WHERE id IN "
                                             f"({marks}) AND read_at IS NULL",
                                         [self.db.encode_time(self.clock()), *chosen])  # fmt: skip

    def sweep_warnings(self, now: datetime | None = None, lookback: timedelta = SWEEP_LOOKBACK
                       ) -> int:  # fmt: skip
        """Write a notice for each report that became nearly overdue or overdue lately.

        Returns how many reports were found (those noticed before are not noticed again).

        Each is written once (its key names the report and its deadline), so every
        worker of every server may sweep; ``lookback`` bounds how far back a sweep
        looks, so a store of a million reports is not read whole each minute.
        """
        now = aware_utc(now or self.clock(), "now")
        since = self.db.encode_time(now - lookback)
        marks = ", ".join("?" * len(OPEN_STATUSES))
        columns = (
            f"id, category, status, assignee, deadline, handler_code, {', '.join(CODE_COLUMNS)}"
        )
        rows_of = {
            "nearly_overdue": (f"SELECT {columns} FROM reports WHERE status IN ({marks}) AND "
                               "warn_at > ? AND warn_at <= ? AND deadline >= ?"),
            "overdue": (f"SELECT {columns} FROM reports WHERE status IN ({marks}) AND "
                        "deadline > ? AND deadline < ?"),
        }  # fmt: skip
        encoded = self.db.encode_time(now)
        written = 0
        with self.db.transaction() as tx:
            for kind, query in rows_of.items():
                extra = [since, encoded, encoded] if kind == "nearly_overdue" else [since, encoded]
                rows = self.db.rows(tx, query, [*OPEN_STATUSES, *extra])
                notices = [notice(now, kind, _brief(r), r["assignee"],
                                  f"{kind}:{r['id']}:{_key_time(r['deadline'])}",
                                  deadline=_key_time(r["deadline"])) for r in rows]  # fmt: skip
                insert_notices(self.db, tx, notices)
                written += len(notices)
        return written

    def overdue(self, now: datetime | None = None, limit: int = 1000) -> list[Report]:
        """Open reports past their deadline at ``now``."""
        query = ReportQuery(overdue_at=now or self.clock(), limit=limit)
        return self.find_reports(query).items

    def escalate_overdue(
        self, now: datetime | None = None, *, actor: Actor = SYSTEM
    ) -> list[Report]:
        """Hand every overdue report to the parent level's grid, with a new deadline.

        "小事不出社，大事不出街": what the grid cannot settle in time goes up one
        level. A report already at the top level stays there, still overdue.
        """
        now = aware_utc(now or self.clock(), "now")
        who, escalated = principal_of(actor), []
        with self.db.transaction() as tx:
            # Not while a generation changes: activation and publication re-assign codes
            # and lock many reports; escalations may run together.
            self.db.lock_generation_changes(tx, shared=True)
            for row in self.db.lock_overdue(tx, OPEN_STATUSES, self.db.encode_time(now)):
                target = self._escalation(row, now)
                if target is None:
                    continue
                self.db.update_handler(tx, row["id"], *target, now)
                self.db.update_report(tx, row["id"], {
                    "escalations": (row["escalations"] or 0) + 1,
                    "warn_at": warn_time(now, target[2], self.warning_share)})  # fmt: skip
                insert_notices(self.db, tx, [notice(now, "escalated", _brief(row), None,
                    f"escalated:{row['id']}:{target[1]}", to=target[1])])  # fmt: skip
                handed = {"from": row["handler_code"], "to": target[1]}
                self.db.insert_history(tx, [history_row(
                    row["id"], now, who.name, "escalated", row["status"], row["status"],
                    "超期升级 overdue: handed to the parent level", handed)])  # fmt: skip
                insert_events(self.db, tx, [audit_row(who, now, "report.escalate", "report",
                    row["id"], before={"handler": row["handler_code"]},
                    after={"handler": target[1]})])  # fmt: skip
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

    def add_hazard(self, hazard: Hazard, *, actor: Actor = SYSTEM) -> int:
        """Store a hazard after checking its scores; returns its id."""
        check_hazard(hazard)
        self.categories.check(hazard.category)
        now = self.clock()
        with self.db.transaction() as tx:
            hazard_id = self.db.insert_hazard(tx, hazard, now)
            insert_events(self.db, tx, [audit_row(actor, now, "hazard.create", "hazard",
                hazard_id, after={"name": hazard.name, "score": hazard.score})])  # fmt: skip
        return hazard_id

    def hazards(self, bbox: Sequence[float] | None = None) -> gpd.GeoDataFrame:
        """Hazards (in a bbox, if given) with their method, scores, score and radius."""
        with self.db.transaction(write=False) as tx:
            rows = self.db.fetch_hazards(tx, checked_bbox(bbox) if bbox else None)
        return frame_of_rows(rows)

    def grid_tile(
        self, level: str, tile: Tile, codes: Collection[str] | None = None,
        generation_id: int | None = None,
    ) -> bytes:  # fmt: skip
        """A level's grids under ``tile`` (only ``codes``, if given) as a Mapbox Vector Tile,
        of one generation (default: the active one)."""
        if generation_id is None:
            generation_id = self.active_generation_id()
        hierarchy = self.hierarchy(generation_id)  # NotFoundError when none is active
        return grid_tile(self.db, hierarchy, generation_id, level, tile, codes)

    def add_patrol_route(self, route: PatrolRoute, *, actor: Actor = SYSTEM) -> int:
        """Store a planned patrol route of a grid; returns its id."""
        check_route(route)
        self._depth_of_code(route.grid_code)
        now = self.clock()
        with self.db.transaction() as tx:
            route_id = self.db.insert_route(tx, route, now)
            insert_events(self.db, tx, [audit_row(actor, now, "route.create", "route", route_id,
                after={"grid": route.grid_code, "shift": route.shift})])  # fmt: skip
        return route_id

    def patrol_routes(
        self, grid_code: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> gpd.GeoDataFrame:
        """Planned patrol routes, of one grid if given, in the order stored.

        ``limit`` and ``offset`` give a page of them (all when ``limit`` is None).
        """
        with self.db.transaction(write=False) as tx:
            rows = self.db.fetch_routes(tx, grid_code, limit, offset)
        return frame_of_rows(rows)

    def add_tracks(self, tracks: Iterable[Track], *, actor: Actor = SYSTEM) -> list[TrackIntake]:
        """Store recorded patrol tracks (巡查轨迹) in one transaction: all of them or none.

        A track stored before (the same worker, times and positions, see
        :meth:`Track.digest`) is kept once and comes back with ``created=False``.
        """
        tracks = list(tracks)
        for number, track in enumerate(tracks):
            check_track(track, f"tracks[{number}]")
        rows = [track_row(track) for track in tracks]
        once = {row["digest"]: row for row in rows}  # a batch may hold a track twice
        who, now = principal_of(actor), self.clock()
        with self.db.transaction() as tx:
            before = self.db.track_ids(tx, list(once))
            new = [row for digest, row in once.items() if digest not in before]
            self.db.insert_tracks(tx, new, who.name, now)
            ids = self.db.track_ids(tx, list(once))
            if new:
                stored = [ids[row["digest"]] for row in new]
                insert_events(self.db, tx, [audit_row(who, now, "track.create", "track",
                    stored[0] if len(stored) == 1 else None, after={"ids": stored,
                    "workers": sorted({row["worker"] for row in new})})])  # fmt: skip
        results, seen = [], set(before)
        for digest in (row["digest"] for row in rows):
            results.append(TrackIntake(ids[digest], digest, digest not in seen))
            seen.add(digest)
        return results

    def patrol_tracks(
        self, since: datetime, until: datetime, worker: str | None = None
    ) -> list[Track]:
        """Stored tracks that overlap ``since``…``until`` (aware times), in order of start."""
        since, until = aware_utc(since, "since"), aware_utc(until, "until")
        if until < since:
            raise InputError(f"until ({until.isoformat()}) is before since ({since.isoformat()})")
        with self.db.transaction(write=False) as tx:
            rows = self.db.fetch_tracks(tx, since, until, worker)
        return [track_of_row(row) for row in rows]


def checked_boundaries(hierarchy: Hierarchy) -> list:
    """The levels of a boundary set the store can keep; refused on topology errors."""
    if len(hierarchy.levels) > MAX_LEVELS:
        raise InputError(f"levels: at most {MAX_LEVELS} levels can be stored")
    report = hierarchy.validate()
    if not report.ok:
        raise TopologyRefusedError(report)
    return [hierarchy.level(key) for key in hierarchy.levels]


def _check_publishable(draft_id: int, status: str, base: int, active: int | None) -> None:
    if status != APPROVED:
        raise DraftStateError(f"draft {draft_id} is {status}: only an approved draft can be "
                              "published")  # fmt: skip
    if active != base:
        raise DraftStateError(
            f"draft {draft_id} was drawn on generation {base}, but generation {active} is "
            "current now: someone published first; start a new draft on the current generation"
        )


def _check_still_publishable(draft, row: dict, active: int | None) -> None:
    """Inside the publishing transaction: the draft as it was checked, its base current."""
    _check_publishable(draft.id, row["status"], row["base_generation"], active)
    if row["version"] != draft.version:
        raise DraftConflictError(f"draft {draft.id} changed while it was being published "
                                 f"(version {row['version']} now); try again")  # fmt: skip


def _publish_events(who, now, draft_id, base, generation_id, day, version, codes, reports,
                    units) -> list[dict]:  # fmt: skip
    """The activation, recorded as :meth:`Store.activate` records it (the generations'
    history reads the same either way), and the publication with its counts."""
    return [
        audit_row(who, now, "generation.activate", "generation", generation_id,
                  before={"active": base}, after={"active": generation_id,
                  "reassigned": reports["reassigned"], "changed": reports["changed"],
                  "draft": draft_id}),
        audit_row(who, now, "draft.publish", "draft", draft_id,
                  before={"status": APPROVED, "version": version - 1, "active": base},
                  after={"status": PUBLISHED, "version": version, "generation": generation_id,
                         "starts_on": day.isoformat(), "codes": codes, "units_changed": units,
                         "reports": reports}),
    ]  # fmt: skip


def _placed(hierarchy: Hierarchy, rows: list[dict]) -> list[dict]:
    """Where each row's point lies in ``hierarchy``: code columns, assignment, distance.

    Found as intake places a report (:func:`~geogrid.storage.rows.placements`, by the
    bulk path the command line and the Dask engine call per chunk, WGS-84 points, the
    default nearest-grid distance): a report is placed again as intake placed it.
    """
    if not rows:
        return []
    lon = np.fromiter((r["lon"] for r in rows), float, len(rows))
    lat = np.fromiter((r["lat"] for r in rows), float, len(rows))
    return placements(hierarchy, lon, lat)


def _placements_by_point(hierarchy: Hierarchy, rows: list[dict]) -> dict[tuple, dict]:
    """Placements keyed by (id, lon, lat): reused inside the lock for the same reports."""
    placed = _placed(hierarchy, rows)
    return {(r["id"], r["lon"], r["lat"]): p for r, p in zip(rows, placed, strict=True)}


def _intake_event(who: Principal, at: datetime, ids: list[int]) -> dict:
    """One audit event for a batch taken in: the report's id, or every id of the batch."""
    single = ids[0] if len(ids) == 1 else None
    return audit_row(who, at, "report.create", "report", single,
                     after={"ids": ids} if single is None else None)  # fmt: skip


def _brief(row: dict) -> dict:
    """What a notice says of its report: id, category, status, assignee, grid, deadline."""
    return {key: row.get(key) for key in ("id", "category", "status", "assignee", "handler_code",
                                          "deadline")}  # fmt: skip


def _key_time(value: Any) -> str:
    """A stored time as text, the same for both dialects (notices' keys)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return datetime.fromisoformat(value).isoformat(timespec="seconds") if value else ""


def _check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InputError(f"limit: must be between 1 and 1000, got {limit!r}")
    return limit
