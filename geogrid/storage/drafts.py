"""Boundary drafts of the redraw studio: stored, versioned, reviewed, published.

A draft regroups one parent's units (the grids of the level below the one
redrawn) into grids: its ``assignment`` maps each unit code to a grid key (an
existing grid's code, or ``new-1``, ``new-2`` …). It lives through

    draft ──submit──▶ submitted ──approve──▶ approved ──publish──▶ published
      ▲                   │                     │
      └─────withdraw──────┴─────────────────────┘

Planners (``draft.edit``) create, edit, branch, submit and withdraw; the command
centre (``draft.approve``) approves or sends back (withdraw); ``draft.publish``
publishes (:meth:`geogrid.storage.store.Store.publish_redraw`). A principal works
only on parents its scope covers: any other draft "does not exist".

Every change moves the draft's ``version`` on. :meth:`Drafts.save` takes the
version the client last read and refuses (:class:`DraftConflictError`) when it
is not the stored one, so two planners never overwrite each other. Each change
writes its audit event, and each unit moved its row in the append-only
``redraw_moves`` log, in the change's own transaction.

Examples
--------
>>> import tempfile
>>> from geogrid import Hierarchy
>>> from geogrid.storage import open_store
>>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db")
>>> district = Hierarchy.from_manifest("data/boundaries/sample.toml")
>>> _ = store.import_generation(district, "2026", activate=True)
>>> draft = store.drafts.create("金水 v1", "grid", "330399001001", actor="cli:root")
>>> draft.status, draft.version, len(set(draft.assignment.values()))
('draft', 1, 9)
>>> unit = min(draft.assignment)
>>> state = {"assignment": {**draft.assignment, unit: "new-1"}}
>>> store.drafts.save(draft.id, state, [(unit, draft.assignment[unit], "new-1", "move")],
...                   expected_version=1, actor="cli:root")
2
>>> store.drafts.save(draft.id, state, [], expected_version=1, actor="cli:root")
Traceback (most recent call last):
...
geogrid.storage.drafts.DraftConflictError: draft 1 was changed by someone else (cli:root) since you read it: it is at version 2 now, you had version 1; reload it and redo your change
"""  # noqa: E501

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import shapely

from geogrid.access.principals import Principal, principal_of
from geogrid.assign import DEFAULT_MAX_DISTANCE_M
from geogrid.errors import GeogridError, InputError, NotFoundError
from geogrid.storage.audit import audit_row, insert_events
from geogrid.storage.dialect import levels_from_json
from geogrid.storage.rows import Generation, PermissionDeniedError

DRAFT, SUBMITTED, APPROVED, PUBLISHED, WITHDRAWN = (
    "draft", "submitted", "approved", "published", "withdrawn",
)  # fmt: skip
STATUSES = (DRAFT, SUBMITTED, APPROVED, PUBLISHED, WITHDRAWN)
NUMBERINGS = ("spatial", "next")
DEFAULT_BAND = (300.0, 500.0)
#: What :meth:`Drafts.save` may change: the keys of ``Plan.to_state()``. The plan's own
#: bookkeeping (``history``, ``cursor``, ``grids`` in use, ``next_new`` key number) is kept
#: together in the ``history`` column.
STATE_KEYS = ("assignment", "locked", "exclusive", "names", "history", "cursor", "band",
              "weight", "grids", "next_new")  # fmt: skip
BOOKKEEPING = ("history", "cursor", "grids", "next_new")
MAX_NAME = 200
CROSSWALK_COLUMNS = ("generation_id", "level", "old_code", "new_code", "change")
DRAFT_COLUMNS = (
    "id, name, level, parent_code, base_generation, status, weight, band_min, band_max, "
    "numbering, survey, assignment, locked, exclusive, names, history, version, branched_from, "
    "created_by, created_at, updated_by, updated_at, submitted_by, submitted_at, approved_by, "
    "approved_at, published_by, published_at, published_generation"
)
MOVE_COLUMNS = ("draft_id", "version", "at", "principal", "unit_code", "from_grid", "to_grid",
                "operation")  # fmt: skip

Actor = Principal | str


class DraftConflictError(GeogridError):
    """The draft changed since the client read it (another save came first): reload, redo."""


class DraftStateError(GeogridError):
    """The draft is not in a state that allows the step (or its base is no longer current)."""


@dataclass(frozen=True)
class DraftRecord:
    """A stored draft: every column, JSON decoded.

    ``history`` and ``cursor`` are the Plan's undo/redo stack, kept so that undo
    works across requests; :meth:`state` is what ``Plan.from_state`` takes.
    """

    id: int
    name: str
    level: str
    parent_code: str
    base_generation: int
    status: str
    weight: str
    band_min: float
    band_max: float
    numbering: str
    survey: dict[str, dict[str, Any]] | None
    assignment: dict[str, str]
    locked: tuple[str, ...]
    exclusive: tuple[str, ...]
    names: dict[str, str]
    history: list = field(default_factory=list)
    cursor: int = 0
    #: Grid keys in use (empty new grids too) and the next "new-N" number, as the Plan
    #: kept them; empty and None until a plan's state is saved.
    grids: tuple[str, ...] = ()
    next_new: int | None = None
    version: int = 1
    branched_from: int | None = None
    created_by: str = ""
    created_at: datetime | None = None
    updated_by: str = ""
    updated_at: datetime | None = None
    submitted_by: str | None = None
    submitted_at: datetime | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None
    published_by: str | None = None
    published_at: datetime | None = None
    published_generation: int | None = None

    @property
    def band(self) -> tuple[float, float]:
        """(min, max) of the weight per grid."""
        return (self.band_min, self.band_max)

    def state(self) -> dict[str, Any]:
        """The editing state, as ``Plan.to_state()`` gives it and ``Plan.from_state`` takes.

        Examples
        --------
        >>> record = DraftRecord(1, "v1", "grid", "1", 1, "draft", "households", 300, 500,
        ...                      "spatial", None, {"10101": "101"}, (), (), {})
        >>> record.state()["band"], record.state()["assignment"]
        ([300, 500], {'10101': '101'})
        """
        state = {"assignment": dict(self.assignment), "locked": list(self.locked),
                 "exclusive": list(self.exclusive), "names": dict(self.names),
                 "history": list(self.history), "cursor": self.cursor, "weight": self.weight,
                 "band": [self.band_min, self.band_max]}  # fmt: skip
        if self.grids:
            state["grids"] = list(self.grids)
        if self.next_new is not None:
            state["next_new"] = self.next_new
        return state

    def survey_frame(self) -> pd.DataFrame | None:
        """The survey table (index: unit code) the draft was made with, if any."""
        if self.survey is None:
            return None
        return pd.DataFrame.from_dict(self.survey, orient="index").rename_axis("code")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (times as ISO 8601)."""
        values = asdict(self)
        for name, value in values.items():
            if isinstance(value, datetime):
                values[name] = value.isoformat()
        for name in ("locked", "exclusive", "grids"):
            values[name] = list(getattr(self, name))
        return values


@dataclass(frozen=True)
class MoveRecord:
    """One unit moved from one grid to another, as ``redraw_moves`` keeps it."""

    id: int
    draft_id: int
    version: int
    at: datetime
    principal: str
    unit_code: str
    from_grid: str | None
    to_grid: str | None
    operation: str


@dataclass(frozen=True)
class Publication:
    """What publishing a draft did (``Store.publish_redraw``).

    ``placed``: open reports placed again (the redrawn parent's, and any that
    arrived while publishing), ``changed`` of which changed codes (each with a
    history entry); ``moved``: open reports whose codes stay, moved to the new
    generation by one UPDATE (the parent's unchanged ones among them); ``codes``:
    the crosswalk's counts, level → change → number.
    """

    draft: DraftRecord
    generation: Generation
    previous: int | None
    placed: int
    changed: int
    moved: int
    codes: dict[str, dict[str, int]]


class Drafts:
    """The drafts of a store; reached as ``store.drafts``.

    ``hierarchy`` gives a generation's boundaries (the store's cached ones) and
    ``publish`` is :meth:`~geogrid.storage.store.Store.publish_redraw`.
    """

    def __init__(self, db, clock, hierarchy: Callable, publish: Callable | None = None) -> None:
        self.db = db
        self.clock = clock
        self._hierarchy = hierarchy
        self._publish = publish
        #: (generation, parent) → the parent's code and its ancestors'.
        self._chains: dict[tuple[int, str], list[str]] = {}

    # --- making drafts -------------------------------------------------------------------

    def create(
        self, name: str, level: str, parent: str, base_generation: int | None = None,
        weight: str = "households", band: Sequence[float] = DEFAULT_BAND,
        numbering: str = "spatial", assignment: Mapping[str, str] | None = None,
        survey: pd.DataFrame | Mapping | None = None, *, actor: Actor,
    ) -> DraftRecord:  # fmt: skip
        """A new draft of ``parent``'s grids at ``level``, on ``base_generation`` (default: active).

        ``assignment`` (unit code → grid key) defaults to the units' current grids
        and must name every unit of the parent; ``survey`` (a frame indexed by
        unit code) overrides the units' weights. Needs ``draft.edit`` on the parent.
        """
        who = principal_of(actor)
        base = self._base(base_generation)
        current = self._units(base, level, parent)
        chosen = current if assignment is None else _checked_assignment(assignment, current)
        values = {"name": _checked_name(name), "level": level, "parent_code": parent or "",
                  "base_generation": base, "weight": _checked_weight(weight),
                  "numbering": _checked_numbering(numbering), "survey": _survey_json(survey),
                  "assignment": chosen, "locked": [], "exclusive": [], "names": {},
                  "history": {"entries": [], "cursor": 0}}  # fmt: skip
        values["band_min"], values["band_max"] = _checked_band(band)
        return self._insert(values, who, "draft.edit")

    def branch(self, draft_id: int, name: str, *, actor: Actor) -> DraftRecord:
        """A new draft, ``name``, that starts from another's state (its undo history left behind).

        Examples
        --------
        >>> import tempfile
        >>> from geogrid import Hierarchy
        >>> from geogrid.storage import open_store
        >>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db")
        >>> _ = store.import_generation(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                             "2026", activate=True)
        >>> first = store.drafts.create("v1", "grid", "330399001001", actor="cli:root")
        >>> store.drafts.branch(first.id, "v2", actor="cli:root").branched_from
        1
        """
        who = principal_of(actor)
        source = self.get(draft_id, actor=who)
        values = {
            **{k: getattr(source, k) for k in ("level", "parent_code", "base_generation",
                                               "weight", "band_min", "band_max", "numbering",
                                               "survey", "assignment", "names")},
            "name": _checked_name(name), "locked": list(source.locked),
            "exclusive": list(source.exclusive), "history": {"entries": [], "cursor": 0},
            "branched_from": source.id,
        }  # fmt: skip
        return self._insert(values, who, "draft.edit")

    def _insert(self, values: dict, who: Principal, action: str) -> DraftRecord:
        self._allow(who, values, action)
        now = self.clock()
        stamp = self.db.encode_time(now)
        row = {**values, "status": DRAFT, "version": 1, "created_by": who.name,
               "created_at": stamp, "updated_by": who.name, "updated_at": stamp}  # fmt: skip
        for column in ("survey", "assignment", "locked", "exclusive", "names", "history"):
            row[column] = _json_text(row[column])
        with self.db.transaction() as tx:
            (row["id"],) = self.db.allocate_ids(tx, "redraw_drafts", 1)
            names = list(row)
            self.db.execute(tx, f"INSERT INTO redraw_drafts ({', '.join(names)}) VALUES "
                                f"({', '.join('?' * len(names))})",
                            [row[n] for n in names])  # fmt: skip
            insert_events(self.db, tx, [audit_row(who, now, "draft.create", "draft", row["id"],
                after={"name": values["name"], "level": values["level"],
                       "parent": values["parent_code"], "base_generation":
                       values["base_generation"], "branched_from": values.get("branched_from"),
                       "units": len(values["assignment"])})])  # fmt: skip
        return self.get(row["id"], actor=who)

    # --- reading -------------------------------------------------------------------------

    def get(self, draft_id: int, *, actor: Actor = "system") -> DraftRecord:
        """One draft; :class:`NotFoundError` if there is none (or it is out of scope)."""
        who = principal_of(actor)
        with self.db.transaction(write=False) as tx:
            row = self._row(tx, draft_id)
            self._check(tx, who, row, draft_id, "draft.read")
        return self._record(row)

    def list(
        self, level: str | None = None, parent: str | None = None, status: str | None = None,
        *, actor: Actor = "system",
    ) -> list[DraftRecord]:  # fmt: skip
        """Drafts (of one level, parent or status, if given) in the principal's scope, oldest first.

        Examples
        --------
        >>> import tempfile
        >>> from geogrid.storage import open_store
        >>> open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db").drafts.list(level="grid")
        []
        """
        who = principal_of(actor)
        if status is not None and status not in STATUSES:
            raise InputError(f"status: {status!r} is not one of {', '.join(STATUSES)}")
        where, params = [], []
        for column, value in (("level", level), ("parent_code", parent), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self.db.transaction(write=False) as tx:
            if not who.may("draft.read"):
                raise PermissionDeniedError(f"{who.name} ({who.role}) may not draft.read")
            rows = self.db.rows(tx, f"SELECT {DRAFT_COLUMNS} FROM redraw_drafts{clause} "
                                    "ORDER BY id", params)  # fmt: skip
            mine = [r for r in rows if self._in_scope(tx, who, r)]
        return [self._record(row) for row in mine]

    def moves(self, draft_id: int, *, actor: Actor = "system") -> list[MoveRecord]:
        """The draft's moves log, oldest first (edits, then publication)."""
        self.get(draft_id, actor=actor)
        with self.db.transaction(write=False) as tx:
            rows = self.db.rows(tx, f"SELECT id, {', '.join(MOVE_COLUMNS)} FROM redraw_moves "
                                    "WHERE draft_id = ? ORDER BY id", (draft_id,))  # fmt: skip
        return [MoveRecord(**{**r, "at": self.db.decode_time(r["at"])}) for r in rows]

    # --- editing -------------------------------------------------------------------------

    def save(
        self, draft_id: int, state: Mapping[str, Any], moves: Iterable = (), *,
        expected_version: int, actor: Actor,
    ) -> int:  # fmt: skip
        """Store an edit of the draft; the new version.

        ``state`` holds some of ``assignment``, ``locked``, ``exclusive``, ``names``,
        ``history``, ``cursor``, ``band`` and ``weight`` (``Plan.to_state()`` gives all);
        ``moves`` are ``(unit, from_grid, to_grid, operation)`` (or Plan moves, with
        ``units``, ``before``, ``after``, ``op``). ``expected_version`` is the version
        the client read: if another save came first, :class:`DraftConflictError` and
        nothing is written. Only a draft in status "draft" can be edited.
        """
        who = principal_of(actor)
        checked = dict(state)
        unknown = sorted(set(checked) - set(STATE_KEYS))
        if unknown:
            raise InputError(f"state: unknown {', '.join(unknown)}; use {', '.join(STATE_KEYS)}")
        moved = _move_rows(moves)
        now = self.clock()
        with self.db.transaction() as tx:
            row = self._locked(tx, draft_id, who, "draft.edit")
            if row["status"] != DRAFT:
                raise DraftStateError(f"draft {draft_id} is {row['status']}: withdraw it to "
                                      "edit it again")  # fmt: skip
            self._same_version(row, expected_version)
            values = _state_columns(checked, row)
            version = self._update(tx, row, values, who, now)
            self._insert_moves(tx, draft_id, version, who, now, moved)
            insert_events(self.db, tx, [audit_row(who, now, "draft.edit", "draft", draft_id,
                before={"version": expected_version},
                after={"version": version, "moves": len(moved),
                       "changed": sorted(checked)})])  # fmt: skip
        return version

    # --- review --------------------------------------------------------------------------

    def submit(self, draft_id: int, *, actor: Actor, expected_version: int | None = None
               ) -> DraftRecord:  # fmt: skip
        """Hand a draft in for approval (``draft.edit``): draft → submitted."""
        return self._step(draft_id, "submit", actor, expected_version)

    def approve(self, draft_id: int, *, actor: Actor, expected_version: int | None = None
                ) -> DraftRecord:  # fmt: skip
        """Approve a submitted draft (``draft.approve``): submitted → approved."""
        return self._step(draft_id, "approve", actor, expected_version)

    def withdraw(self, draft_id: int, *, actor: Actor, expected_version: int | None = None
                 ) -> DraftRecord:  # fmt: skip
        """Take a submitted or approved draft back for editing (its planner, or the approver
        sending it back): submitted|approved → draft; its approval is cleared."""
        return self._step(draft_id, "withdraw", actor, expected_version)

    def publish(self, draft_id: int, redraw, *, starts_on=None, actor: Actor,
                label: str | None = None):  # fmt: skip
        """Publish an approved draft as the new generation: see ``Store.publish_redraw``."""
        if self._publish is None:
            raise GeogridError("these drafts are not attached to a store")
        return self._publish(draft_id, redraw, starts_on=starts_on, actor=actor, label=label)

    def _step(self, draft_id: int, step: str, actor: Actor, expected: int | None) -> DraftRecord:
        allowed, target, actions = STEPS[step]
        who = principal_of(actor)
        now = self.clock()
        with self.db.transaction() as tx:
            row = self._locked(tx, draft_id, who, *actions)
            if row["status"] not in allowed:
                raise DraftStateError(
                    f"draft {draft_id} is {row['status']}: only a {' or '.join(allowed)} draft "
                    f"can be {PAST[step]}"
                )
            if expected is not None:
                self._same_version(row, expected)
            stamp = self.db.encode_time(now)
            values = {"status": target, **STAMPS[step](who.name, stamp)}
            version = self._update(tx, row, values, who, now)
            insert_events(self.db, tx, [audit_row(who, now, f"draft.{step}", "draft", draft_id,
                before={"status": row["status"], "version": row["version"]},
                after={"status": target, "version": version})])  # fmt: skip
        return self.get(draft_id, actor=who)

    # --- plumbing (the store's publish uses these inside its transaction) -----------------

    def _update(self, tx, row: dict, values: dict, who: Principal, now: datetime) -> int:
        """UPDATE … WHERE version = the one read: 0 rows means another writer came first."""
        sets = "".join(f"{column} = ?, " for column in values)
        count = self.db.execute_count(
            tx,
            f"UPDATE redraw_drafts SET {sets}version = version + 1, updated_by = ?, "
            f"updated_at = ? WHERE id = ? AND version = ?",
            [*values.values(), who.name, self.db.encode_time(now), row["id"], row["version"]],
        )
        if count != 1:
            current = self._row(tx, row["id"])
            raise _conflict(row["id"], current, row["version"])
        return row["version"] + 1

    def _insert_moves(self, tx, draft_id, version, who, now, moves: list[tuple]) -> None:
        at = self.db.encode_time(now)
        self.db.executemany(
            tx,
            f"INSERT INTO redraw_moves ({', '.join(MOVE_COLUMNS)}) VALUES "
            f"({', '.join('?' * len(MOVE_COLUMNS))})",
            [(draft_id, version, at, who.name, *move) for move in moves],
        )

    def _published(self, tx, row: dict, generation_id: int, changes: pd.DataFrame,
                   who: Principal, now: datetime) -> int:  # fmt: skip
        """In the publishing transaction: the draft is published, each unit move logged."""
        stamp = self.db.encode_time(now)
        values = {"status": PUBLISHED, "published_by": who.name, "published_at": stamp,
                  "published_generation": generation_id}  # fmt: skip
        version = self._update(tx, row, values, who, now)
        # A unit of a grid that gained or lost units changes grid code without moving:
        # logged too, as "renumber", so the log names every unit's old and new grid.
        moved = changes["moved"] if "moved" in changes else [True] * len(changes)
        rows = changes[["unit_code", "old_grid", "new_grid"]].itertuples(index=False)
        moves = [(str(u), _text(a), _text(b), "publish" if m else "renumber")
                 for (u, a, b), m in zip(rows, moved, strict=True)]  # fmt: skip
        self._insert_moves(tx, row["id"], version, who, now, moves)
        return version

    def insert_crosswalk(self, tx, generation_id: int, codes: pd.DataFrame) -> None:
        """In the publishing transaction: the publication's code crosswalk, kept with it."""
        table = codes[list(CROSSWALK_COLUMNS[1:])].itertuples(index=False)
        rows = [(generation_id, *(_text(value) for value in row)) for row in table]
        self.db.insert_rows(tx, "generation_codes", CROSSWALK_COLUMNS, rows)

    def crosswalk(self, generation_id: int) -> pd.DataFrame:
        """The code crosswalk of the publication that made a generation (empty if none did).

        Columns ``level, old_code, new_code, change`` (kept, reshaped, created,
        retired, renumbered), in the order the redraw wrote them.
        """
        with self.db.transaction(write=False) as tx:
            rows = self.db.rows(tx, "SELECT level, old_code, new_code, change FROM "
                                "generation_codes WHERE generation_id = ? ORDER BY level, "
                                "old_code, new_code", [generation_id])  # fmt: skip
        return pd.DataFrame(rows, columns=list(CROSSWALK_COLUMNS[1:]), dtype=object)

    def _same_version(self, row: dict, expected: int) -> None:
        if expected != row["version"]:
            raise _conflict(row["id"], row, expected)

    def _row(self, tx, draft_id: int, lock: bool = False) -> dict | None:
        if not isinstance(draft_id, int) or isinstance(draft_id, bool) or not 0 < draft_id < 2**63:
            return None
        suffix = self.db.lock_for_update if lock else ""
        rows = self.db.rows(tx, f"SELECT {DRAFT_COLUMNS} FROM redraw_drafts WHERE id = ?{suffix}",
                            (draft_id,))  # fmt: skip
        return rows[0] if rows else None

    def _locked(self, tx, draft_id: int, who: Principal, *actions: str) -> dict:
        """The draft's row, locked until ``tx`` ends, after checking scope and action."""
        row = self._row(tx, draft_id, lock=True)
        self._check(tx, who, row, draft_id, *actions)
        return row

    def _check(self, tx, who: Principal, row: dict | None, draft_id, *actions: str) -> None:
        """Out of scope: it "does not exist" (404); in scope without the action: 403."""
        if row is None or not self._in_scope(tx, who, row):
            raise NotFoundError(f"draft {draft_id} does not exist")
        if not any(who.may(action) for action in actions):
            raise PermissionDeniedError(f"{who.name} ({who.role}) may not {' or '.join(actions)}")

    def _allow(self, who: Principal, values: dict, action: str) -> None:
        with self.db.transaction(write=False) as tx:
            if not self._in_scope(tx, who, values):
                raise NotFoundError(f"grid {values['parent_code']} does not exist")
        if not who.may(action):
            raise PermissionDeniedError(f"{who.name} ({who.role}) may not {action}")

    def _in_scope(self, tx, who: Principal, row: dict) -> bool:
        if who.scope is None:
            return True
        return who.covers(self._chain(tx, row["base_generation"], row["level"], row["parent_code"]))

    def _chain(self, tx, generation: int, level: str, parent: str) -> list[str]:
        """The parent and its ancestors: a scope code on any of them covers the parent.

        Read with SQL in the caller's transaction (generations never change, so kept).
        """
        key = (generation, parent)
        if key not in self._chains:
            rows = self.db.rows(tx, "SELECT levels FROM generations WHERE id = ?", (generation,))
            keys = [lv.key for lv in levels_from_json(rows[0]["levels"])] if rows else []
            depth = keys.index(level) - 1 if level in keys else -1
            chain = self.db.ancestors(tx, generation, parent, depth) if parent else []
            self._chains[key] = chain
        return self._chains[key]

    def _record(self, row: dict) -> DraftRecord:
        values = dict(row)
        for column in ("survey", "assignment", "locked", "exclusive", "names", "history"):
            values[column] = _decoded(values[column])
        history = values.pop("history") or {}
        for column in ("created_at", "updated_at", "submitted_at", "approved_at", "published_at"):
            if values[column] is not None:
                values[column] = self.db.decode_time(values[column])
        values["locked"], values["exclusive"] = tuple(values["locked"]), tuple(values["exclusive"])
        values["band_min"], values["band_max"] = (
            float(values["band_min"]),
            float(values["band_max"]),
        )
        return DraftRecord(**values, history=history.get("entries", []),
                           cursor=history.get("cursor", 0),
                           grids=tuple(history.get("grids") or ()),
                           next_new=history.get("next_new"))  # fmt: skip

    def _base(self, base_generation: int | None) -> int:
        with self.db.transaction(write=False) as tx:
            if base_generation is None:
                base_generation = self.db.active_generation(tx)
                if base_generation is None:
                    raise NotFoundError("no generation is active; import and activate one first")
            found = self.db.rows(tx, "SELECT id FROM generations WHERE id = ?", (base_generation,))
        if not found:
            raise NotFoundError(f"generation {base_generation} does not exist")
        return base_generation

    def _units(self, generation: int, level: str, parent: str) -> dict[str, str]:
        """The parent's units (the grids one level below ``level``) → their grid at ``level``."""
        return units_of_parent(self._hierarchy(generation), level, parent or "")


STEPS: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "submit": ((DRAFT,), SUBMITTED, ("draft.edit",)),
    "approve": ((SUBMITTED,), APPROVED, ("draft.approve",)),
    "withdraw": ((SUBMITTED, APPROVED), DRAFT, ("draft.edit", "draft.approve")),
}
PAST = {"submit": "submitted", "approve": "approved", "withdraw": "withdrawn"}
#: Who did the step and when; a submission or a withdrawal clears any earlier approval.
STAMPS: dict[str, Callable[[str, Any], dict]] = {
    "submit": lambda who, at: {
        "submitted_by": who,
        "submitted_at": at,
        "approved_by": None,
        "approved_at": None,
    },
    "approve": lambda who, at: {"approved_by": who, "approved_at": at},
    "withdraw": lambda who, at: {"approved_by": None, "approved_at": None},
}


def units_of_parent(hierarchy, level: str, parent: str) -> dict[str, str]:
    """Unit code → its current grid code, for the units of ``parent`` redrawn at ``level``.

    The units are the grids of the level right below ``level``; ``parent`` is a
    grid of the level above it ("" when ``level`` is the top one).

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> units = units_of_parent(h, "grid", "330399001001")
    >>> sorted(set(units.values()))[:2]
    ['330399001001001', '330399001001002']
    >>> units_of_parent(h, "building", "330399001001001")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: level: building is the finest level; a redraw regroups the grids of the level below the one redrawn
    """  # noqa: E501
    keys = hierarchy.levels
    if level not in keys:
        raise InputError(f"level: {level!r} is not one of {', '.join(keys)}")
    depth = keys.index(level)
    if depth + 1 == len(keys):
        raise InputError(f"level: {level} is the finest level; a redraw regroups the grids of "
                         "the level below the one redrawn")  # fmt: skip
    grids = hierarchy.grids(level)
    if depth > 0:
        above = hierarchy.grids(keys[depth - 1])
        if parent not in set(above["code"]):
            raise InputError(f"parent: {parent!r} is not a {keys[depth - 1]} of this generation")
        grids = grids[grids["parent"] == parent]
    elif parent:
        raise InputError(f'parent: {level} is the top level; give no parent ("")')
    units = hierarchy.grids(keys[depth + 1])
    units = units[units["parent"].isin(set(grids["code"]))]
    return dict(zip(units["code"], units["parent"], strict=True))


def crosswalk_counts(codes: pd.DataFrame) -> dict[str, dict[str, int]]:
    """How many codes each level kept, created, retired and renumbered.

    Examples
    --------
    >>> codes = pd.DataFrame({"level": ["grid", "grid", "grid"], "old_code": ["1", "2", None],
    ...                       "new_code": ["1", None, "3"],
    ...                       "change": ["kept", "retired", "created"]})
    >>> crosswalk_counts(codes)
    {'grid': {'created': 1, 'kept': 1, 'retired': 1}}
    """
    counts: dict[str, dict[str, int]] = {}
    for (level, change), number in codes.groupby(["level", "change"]).size().items():
        counts.setdefault(str(level), {})[str(change)] = int(number)
    return counts


def redrawn_region(old, new, level: str, parent: str,
                   margin_m: float = DEFAULT_MAX_DISTANCE_M) -> tuple:  # fmt: skip
    """Where a redraw of ``parent`` at ``level`` may move reports: (code column, codes, bbox).

    Refuses (:class:`InputError`) a new hierarchy with other levels, or that changes
    any grid outside the parent (its code, parent or shape): publishing relies on
    every report outside the parent keeping its codes. The bbox is the parent's,
    widened by ``margin_m`` (a point outside every grid takes the nearest grid within
    that distance). The top level (``parent`` "") is the whole district.
    """
    if list(old.levels) != list(new.levels):
        raise InputError(f"redraw: its levels ({', '.join(new.levels)}) are not those of the "
                         f"base generation ({', '.join(old.levels)})")  # fmt: skip
    depth = old.levels.index(level) - 1
    if depth < 0 or not parent:
        top = old.grids(old.levels[0])
        return "code0", sorted(top["code"]), (-180.0, -90.0, 180.0, 90.0)
    inside_old = old.covered([parent]) - {parent}
    inside_new = new.covered([parent]) - {parent}
    for key in old.levels:
        outside = [_outside(h.grids(key), inside) for h, inside in ((old, inside_old),
                                                                    (new, inside_new))]  # fmt: skip
        _same_grids(key, parent, *outside)
    _, row = old.find(parent)
    west, south, east, north = row.geometry.iloc[0].bounds
    lat_margin = margin_m / 111_320.0
    lon_margin = lat_margin / max(math.cos(math.radians(max(abs(south), abs(north)))), 0.01)
    bbox = (west - lon_margin, south - lat_margin, east + lon_margin, north + lat_margin)
    return f"code{depth}", [parent], bbox


def _outside(grids: pd.DataFrame, inside: frozenset[str]) -> pd.DataFrame:
    return grids.loc[~grids["code"].isin(inside), ["code", "parent", "geometry"]].set_index("code")


def _same_grids(level: str, parent: str, old: pd.DataFrame, new: pd.DataFrame) -> None:
    differ = sorted(set(old.index) ^ set(new.index))
    if not differ:
        new = new.loc[old.index]
        same = shapely.equals_exact(old.geometry.values, new.geometry.values, 0.0)
        if not same.all():  # the same shape written another way (a ring starting elsewhere)
            same |= shapely.equals(old.geometry.values, new.geometry.values)
        parents = old["parent"].fillna("").to_numpy() == new["parent"].fillna("").to_numpy()
        differ = sorted(old.index[~(same & parents)])
    if differ:
        raise InputError(f"redraw: it changes {level} grids outside parent {parent} "
                         f"({', '.join(map(str, differ[:5]))}); a draft regroups its parent's "
                         "units only")  # fmt: skip


def same_grouping(draft: DraftRecord, redraw, old) -> None:
    """Refuse a redraw whose grids do not group the draft's units as the draft does."""
    unit_level = old.levels[old.levels.index(draft.level) + 1]
    crosswalk = redraw.codes[redraw.codes["level"] == unit_level]
    crosswalk = crosswalk.dropna(subset=["old_code", "new_code"])
    old_code = dict(zip(crosswalk["new_code"], crosswalk["old_code"], strict=True))
    units = redraw.hierarchy.grids(unit_level)
    wanted = _groups(draft.assignment.items())
    mine = set(draft.assignment)
    found = _groups((old_code.get(u, u), g) for u, g in zip(units["code"], units["parent"],
                                                            strict=True))  # fmt: skip
    found = {group for group in found if group & mine}
    if found != wanted:
        raise InputError(
            f"redraw: its grids do not group the units of draft {draft.id} "
            f"(version {draft.version}) as the draft does; apply this draft again"
        )


def _groups(pairs: Iterable[tuple[str, str]]) -> set[frozenset[str]]:
    grouped: dict[str, set[str]] = {}
    for unit, grid in pairs:
        grouped.setdefault(grid, set()).add(unit)
    return {frozenset(units) for units in grouped.values()}


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _conflict(draft_id: int, current: dict | None, expected: int) -> GeogridError:
    if current is None:
        return NotFoundError(f"draft {draft_id} does not exist")
    return DraftConflictError(
        f"draft {draft_id} was changed by someone else ({current['updated_by']}) since you read "
        f"it: it is at version {current['version']} now, you had version {expected}; reload it "
        "and redo your change"
    )


def _checked_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise InputError(f"name: give the draft a name of 1 to {MAX_NAME} characters")
    return name.strip()


def _checked_weight(weight: str) -> str:
    if not isinstance(weight, str) or not weight.strip():
        raise InputError("weight: name the weight balanced per grid (e.g. households)")
    return weight.strip()


def _checked_numbering(numbering: str) -> str:
    if numbering not in NUMBERINGS:
        raise InputError(f"numbering: {numbering!r} is not one of {', '.join(NUMBERINGS)}")
    return numbering


def _checked_band(band: Sequence[float]) -> tuple[float, float]:
    """(min, max) as floats, 0 ≤ min ≤ max, both finite.

    Examples
    --------
    >>> _checked_band([300, 500])
    (300.0, 500.0)
    >>> _checked_band((500, 300))
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: band: (min, max) with 0 ≤ min ≤ max, got (500, 300)
    """
    try:
        low, high = (float(v) for v in band)
    except (TypeError, ValueError):
        raise InputError(f"band: two numbers (min, max), got {band!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
        raise InputError(f"band: (min, max) with 0 ≤ min ≤ max, got {tuple(band)!r}")
    return low, high


def _checked_assignment(assignment: Mapping[str, str], units: Mapping[str, str]) -> dict:
    """Every unit of the parent, and nothing else, mapped to a grid key."""
    if not isinstance(assignment, Mapping):
        raise InputError("assignment: a mapping of unit code to grid key")
    chosen = {str(unit): str(key) for unit, key in assignment.items()}
    unknown = sorted(set(chosen) - set(units))
    missing = sorted(set(units) - set(chosen))
    if unknown or missing:
        parts = [f"{len(unknown)} not units of this parent ({', '.join(unknown[:5])})"] * bool(
            unknown
        ) + [f"{len(missing)} units without a grid ({', '.join(missing[:5])})"] * bool(missing)
        raise InputError(f"assignment: {'; '.join(parts)}")
    if any(not key.strip() for key in chosen.values()):
        raise InputError("assignment: every unit needs a grid key")
    return chosen


def _state_columns(state: dict, row: dict) -> dict[str, Any]:
    """The columns an edit changes, checked and encoded."""
    values: dict[str, Any] = {}
    if "assignment" in state:
        stored = _decoded(row["assignment"])
        values["assignment"] = _json_text(_checked_assignment(state["assignment"], stored))
    for name in ("locked", "exclusive"):
        if name in state:
            keys = state[name]
            if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
                raise InputError(f"{name}: a list of grid keys")
            values[name] = _json_text(sorted(set(keys)))
    if "names" in state:
        names = state["names"]
        if not isinstance(names, Mapping):
            raise InputError("names: a mapping of grid key to name")
        values["names"] = _json_text({str(k): str(v) for k, v in names.items()})
    if any(key in state for key in BOOKKEEPING):
        values["history"] = _json_text(_history(state, _decoded(row["history"]) or {}))
    if "band" in state:
        values["band_min"], values["band_max"] = _checked_band(state["band"])
    if "weight" in state:
        values["weight"] = _checked_weight(state["weight"])
    return values


def _history(state: dict, stored: dict) -> dict:
    """The plan's bookkeeping, the stored values where ``state`` gives none."""
    entries = state.get("history", stored.get("entries", []))
    cursor = state.get("cursor", len(entries) if "history" in state else stored.get("cursor", 0))
    if not isinstance(entries, list):
        raise InputError("history: a list of moves")
    if not (isinstance(cursor, int) and 0 <= cursor <= len(entries)):
        raise InputError(f"cursor: a position 0 to {len(entries)} in the history, got {cursor!r}")
    grids = state.get("grids", stored.get("grids"))
    if grids is not None and (isinstance(grids, str) or not all(isinstance(g, str) for g in grids)):
        raise InputError("grids: a list of grid keys")
    next_new = state.get("next_new", stored.get("next_new"))
    if next_new is not None and not (isinstance(next_new, int) and next_new >= 1):
        raise InputError(f"next_new: a whole number from 1, got {next_new!r}")
    return {"entries": entries, "cursor": cursor, "grids": None if grids is None else list(grids),
            "next_new": next_new}  # fmt: skip


def _move_rows(moves: Iterable) -> list[tuple]:
    """(unit, from_grid, to_grid, operation) per unit moved.

    Examples
    --------
    >>> _move_rows([("10101", "101", "new-1", "move")])
    [('10101', '101', 'new-1', 'move')]
    """
    rows = []
    for number, move in enumerate(moves):
        if hasattr(move, "units"):  # a Plan's Move: several units, each from its own grid
            rows += [(str(u), b, move.after, str(move.op))
                     for u, b in zip(move.units, move.before, strict=True)]  # fmt: skip
            continue
        try:
            unit, before, after, operation = move
        except (TypeError, ValueError):
            raise InputError(f"moves[{number}]: (unit, from_grid, to_grid, operation)") from None
        if not unit or not operation:
            raise InputError(f"moves[{number}]: needs a unit code and an operation")
        rows.append((str(unit), None if before is None else str(before),
                     None if after is None else str(after), str(operation)))  # fmt: skip
    return rows


def _survey_json(survey: pd.DataFrame | Mapping | None) -> dict | None:
    if survey is None:
        return None
    frame = survey if isinstance(survey, pd.DataFrame) else pd.DataFrame.from_dict(
        dict(survey), orient="index")  # fmt: skip
    frame = frame.astype(object).where(frame.notna(), None)
    return {str(code): {str(k): _plain(v) for k, v in values.items()}
            for code, values in frame.to_dict("index").items()}  # fmt: skip


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
