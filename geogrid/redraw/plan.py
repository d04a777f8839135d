"""A redraw draft: which grid each unit of one parent goes to, and the edits on it.

A :class:`Plan` maps every unit of a :class:`~geogrid.redraw.units.Units` to a grid
key (an existing grid keeps its code as key; a new one is "new-1", "new-2", …). Edits
(:meth:`Plan.move`, :meth:`Plan.new_grid`, :meth:`Plan.merge`, :meth:`Plan.split`,
:meth:`Plan.split_by_line`, and the two repairs :meth:`Plan.fix_contiguity` and
:meth:`Plan.fix_balance`) are recorded as :class:`Move` steps that
:meth:`Plan.undo` and :meth:`Plan.redo` walk; :meth:`Plan.to_state` and
:meth:`Plan.from_state` carry all of it across requests.

Rules:

- a locked grid neither gives nor takes units: an edit that would raises
  :class:`~geogrid.errors.InputError` naming the grid (undo and redo too);
- exclusive grids (专属网格) are exempt from the band, and the repairs leave them be;
- metrics follow each move incrementally (:mod:`geogrid.redraw.metrics`).

Examples
--------
>>> from geogrid import Hierarchy
>>> from geogrid.redraw.units import units_of
>>> units = units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
...                  "grid", "330399001001")
>>> plan = Plan(units)
>>> plan.grids[:2]
['330399001001001', '330399001001002']
>>> move = plan.move(["330399001001001001"], "330399001001002")
>>> move.before, plan.assignment["330399001001001001"]
(('330399001001001',), '330399001001002')
>>> plan.undo().after
'330399001001001'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString

from geogrid.errors import InputError
from geogrid.redraw import metrics as _metrics
from geogrid.redraw.metrics import Tally
from geogrid.redraw.units import Units, units_of

_NEW_KEY = re.compile(r"^new-(\d+)$")
#: Spanning trees tried per cut when splitting a grid automatically.
SPLIT_TRIES = 40


#: The longest grid name a planner may give (a draft's own name has the same limit).
MAX_NAME = 200


@dataclass(frozen=True)
class Move:
    """One recorded change: ``units`` went from ``before`` (one key per unit) to ``after``.

    ``created`` and ``removed`` name the grids the step made or dropped (new_grid,
    split, merge), so undo can bring them back. ``op`` is the edit that made it.
    """

    units: tuple[str, ...]
    before: tuple[str, ...]
    after: str
    op: str
    created: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


class Plan:
    """Assignment of a parent's units to grids, with edits, undo/redo, locks and metrics.

    Parameters
    ----------
    units : the parent's units (:func:`~geogrid.redraw.units.units_of`).
    assignment : unit code -> grid key; default: each unit's current grid.
        Units left out are in no grid (the publish gate refuses that).
    weight : the weight column the band applies to.
    band : (min, max) of ``weight`` per grid.
    locked, exclusive : grid keys locked / exempt from the band.
    names : grid key -> name (current grids keep theirs by default).
    """

    def __init__(
        self,
        units: Units,
        assignment: Mapping[str, str] | None = None,
        *,
        weight: str = "households",
        band: Sequence[float] = (300, 500),
        locked: Iterable[str] = (),
        exclusive: Iterable[str] = (),
        names: Mapping[str, str] | None = None,
    ) -> None:
        units.weight_values(weight)  # names an unknown weight
        self.units = units
        self.weight = weight
        self.band = _checked_band(band)
        labels = _checked_assignment(units, assignment)
        self._keys: list[str] = sorted({key for key in labels if key})
        self._ids = {key: i for i, key in enumerate(self._keys)}
        self._alive = set(range(len(self._keys)))
        ids = np.array([self._ids.get(key, -1) for key in labels], dtype=np.int64)
        self.tally = Tally(units, ids, grids=len(self._keys))
        self.names: dict[str, str] = {k: v for k, v in units.names.items() if k in self._ids}
        self.names.update(names or {})
        self.locked = set(self._checked_grids(locked, "locked"))
        self.exclusive = set(self._checked_grids(exclusive, "exclusive"))
        self._history: list[list[Move]] = []
        self._cursor = 0
        self._next_new = 1 + max(_new_numbers(self._keys), default=0)

    # --- reading -------------------------------------------------------------------------

    @property
    def assignment(self) -> dict[str, str]:
        """Unit code -> grid key, for the units in a grid (a copy)."""
        return {code: key for code, key in zip(self.units.codes, self.labels, strict=True) if key}

    @property
    def labels(self) -> np.ndarray:
        """Per unit position, its grid key ("" for a unit in no grid)."""
        keys = np.array([*self._keys, ""], dtype=object)
        return keys[self.tally.labels]

    @property
    def grids(self) -> list[str]:
        """Keys of the plan's grids (empty ones too), sorted."""
        return sorted(self._keys[g] for g in self._alive)

    def grid_ids(self, grids: Iterable[str] | None = None) -> list[int]:
        """The tally's ids of grid keys (default: :attr:`grids`), in the same order."""
        return [self._ids[key] for key in (self.grids if grids is None else grids)]

    @property
    def weight_column(self) -> int:
        """Position of :attr:`weight` among the units' weight columns."""
        return list(self.units.weights.columns).index(self.weight)

    def grid_id(self, grid: str, field: str = "grid") -> int:
        """The tally's id of a grid key; :class:`InputError` for a key not in the plan."""
        g = self._ids.get(grid)
        if g is None or g not in self._alive:
            raise InputError(f"{field}: {grid!r} is not a grid of this plan")
        return g

    def units_of_grid(self, grid: str) -> list[str]:
        """Codes of the units in a grid, sorted.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> from geogrid.redraw.units import units_of
        >>> plan = Plan(units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                      "grid", "330399001001"))
        >>> plan.units_of_grid("330399001001001")[:2]
        ['330399001001001001', '330399001001001002']
        """
        return sorted(str(self.units.codes[u]) for u in self.tally.members[self.grid_id(grid)])

    def metrics(self, grids: Iterable[str] | None = None) -> dict[str, Any]:
        """{"grids": {key: metrics}, "summary": {...}} (see :mod:`geogrid.redraw.metrics`).

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> from geogrid.redraw.units import units_of
        >>> plan = Plan(units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                      "grid", "330399001001"))
        >>> m = plan.metrics(["330399001001001"])
        >>> list(m["grids"]), m["summary"]["in_band"]
        (['330399001001001'], 9)
        """
        chosen = self.grids if grids is None else list(grids)
        return {
            "grids": {grid: _metrics.grid_metrics(self, grid) for grid in chosen},
            "summary": _metrics.summary(self),
        }

    def warnings(self) -> list[dict[str, Any]]:
        """See :func:`geogrid.redraw.metrics.warnings`."""
        return _metrics.warnings(self)

    def gate(self) -> list[str]:
        """Publish gate errors; an empty list means publishable (:func:`~.metrics.gate`)."""
        return _metrics.gate(self)

    def touched(self, move: Move) -> list[str]:
        """Grids whose metrics a move changed: its grids and those sharing a compound.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> from geogrid.redraw.units import units_of
        >>> plan = Plan(units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                      "grid", "330399001001"))
        >>> plan.touched(plan.move(["330399001001001001"], "330399001001002"))
        ['330399001001001', '330399001001002']
        """
        grids = {*move.before, move.after, *move.created, *move.removed}
        for code in move.units:
            grids.update(self._keys[g] for g in self.tally.sharing(self.units.positions[code]))
        return sorted(grid for grid in grids if grid and self._ids.get(grid) in self._alive)

    # --- edits ---------------------------------------------------------------------------

    def move(self, unit_codes: str | Iterable[str], grid: str) -> Move:
        """Move units into a grid (a paint stroke); units already there stay.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> from geogrid.redraw.units import units_of
        >>> plan = Plan(units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                      "grid", "330399001001"), locked=["330399001001002"])
        >>> plan.move(["330399001001001001"], "330399001001002")
        Traceback (most recent call last):
        ...
        geogrid.errors.InputError: grid: 330399001001002 is locked (网格已锁定); unlock it first
        """
        positions = self.units.index_of(unit_codes)
        target = self.grid_id(grid)
        move = self._move(positions, target, "move")
        self._record([move])
        return move

    def new_grid(self, unit_codes: str | Iterable[str] = (), name: str | None = None) -> str:
        """A new grid ("new-N"), with these units moved into it; its key.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> from geogrid.redraw.units import units_of
        >>> plan = Plan(units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                      "grid", "330399001001"))
        >>> plan.new_grid(["330399001001001001"], name="新网格")
        'new-1'
        >>> plan.units_of_grid("new-1"), plan.names["new-1"]
        (['330399001001001001'], '新网格')
        """
        positions = self.units.index_of(unit_codes)
        self._refuse_locked(positions)
        key = self._create()
        if name:
            self.names[key] = name
        move = self._move(positions, self._ids[key], "new_grid")
        self._record([Move(move.units, move.before, key, "new_grid", created=(key,))])
        return key

    def merge(self, grids: Sequence[str]) -> str:
        """Merge grids into the first; the others disappear. Returns the first key.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> from geogrid.redraw.units import units_of
        >>> plan = Plan(units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                      "grid", "330399001001"))
        >>> plan.merge(["330399001001001", "330399001001002"])
        '330399001001001'
        >>> len(plan.grids)
        8
        """
        grids = list(grids)
        if len(grids) < 2 or len(set(grids)) < len(grids):
            raise InputError(f"grids: merge needs two or more different grids, got {grids}")
        ids = [self.grid_id(grid, "grids") for grid in grids]
        for grid in grids:
            self._refuse_lock(grid)
        moving = sorted(u for g in ids[1:] for u in self.tally.members[g])
        move = self._move(np.array(moving, dtype=np.int64), ids[0], "merge")
        for g in ids[1:]:
            self._alive.discard(g)
        self._record([Move(move.units, move.before, grids[0], "merge", removed=tuple(grids[1:]))])
        return grids[0]

    def split(self, grid: str, k: int = 2, seed: int = 0) -> list[str]:
        """Split a grid into ``k`` contiguous parts of balanced weight; their keys.

        The first part keeps the grid's key. Parts are cut off one by one from random
        spanning trees of the grid's units (seeded), the best of several tries.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> from geogrid.redraw.units import units_of
        >>> plan = Plan(units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                      "grid", "330399001001"))
        >>> keys = plan.split("330399001001001", 2)
        >>> keys
        ['330399001001001', 'new-1']
        >>> [plan.metrics(keys)["grids"][key]["pieces"] for key in keys]
        [1, 1]
        """
        g = self.grid_id(grid)
        self._refuse_lock(grid)
        members = sorted(self.tally.members[g])
        if not isinstance(k, int) or k < 2 or k > len(members):
            raise InputError(f"k: must be a whole number from 2 to {len(members)}, got {k!r}")
        parts = _balanced_parts(members, self._weights_for_split(), self.tally.adjacent, k, seed)
        keys, moves = [grid], []
        for part in parts[1:]:
            key = self._create()
            move = self._move(np.array(part, dtype=np.int64), self._ids[key], "split")
            moves.append(Move(move.units, move.before, key, "split", created=(key,)))
            keys.append(key)
        self._record(moves)
        return keys

    def split_by_line(self, grid: str, line: LineString | Sequence[Sequence[float]]) -> list[str]:
        """Split a grid by a drawn line (lon/lat): units right of it go to a new grid.

        Each unit's side is the sign of the cross product of the nearest segment of
        the line (extended across the grid at both ends) and the unit's representative
        point. Returns [grid, new key].

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> from geogrid.redraw.units import units_of
        >>> plan = Plan(units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                      "grid", "330399001001"))
        >>> plan.split_by_line("330399001001001", [(120.0, 0.0), (120.0, 1.0)])
        Traceback (most recent call last):
        ...
        geogrid.errors.InputError: line: the line does not cut grid 330399001001001 in two
        """
        g = self.grid_id(grid)
        self._refuse_lock(grid)
        members = np.array(sorted(self.tally.members[g]), dtype=np.int64)
        right = members[_right_of(self.units, members, _checked_line(line))]
        if not len(right) or len(right) == len(members):
            raise InputError(f"line: the line does not cut grid {grid} in two")
        key = self._create()
        move = self._move(right, self._ids[key], "split_line")
        self._record([Move(move.units, move.before, key, "split_line", created=(key,))])
        return [grid, key]

    def lock(self, grid: str) -> None:
        """Lock a grid: it neither gives nor takes units until unlocked."""
        self.grid_id(grid)
        self.locked.add(grid)

    def unlock(self, grid: str) -> None:
        """Unlock a grid."""
        self.grid_id(grid)
        self.locked.discard(grid)

    def set_exclusive(self, grid: str, flag: bool = True) -> None:
        """Mark a grid exclusive (专属网格: exempt from the band), or not."""
        self.grid_id(grid)
        (self.exclusive.add if flag else self.exclusive.discard)(grid)

    def rename(self, grid: str, name: str) -> None:
        """Give a grid a display name."""
        self.grid_id(grid)
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"name: a grid name must be non-empty text, got {name!r}")
        if len(name.strip()) > MAX_NAME:
            raise InputError(f"name: at most {MAX_NAME} characters, got {len(name.strip())}")
        self.names[grid] = name.strip()

    # --- undo and redo -------------------------------------------------------------------

    def undo(self) -> Move | None:
        """Undo the last step; the change it made (op "undo"), or None at the start.

        A step may move units to several grids (split, the repairs): ``after`` is then
        "" and :attr:`labels` tells where each unit went.
        """
        if self._cursor == 0:
            return None
        step = self._history[self._cursor - 1]
        self._check_step(step)
        moved: dict[int, int] = {}
        for move in reversed(step):
            for code in move.removed:
                self._alive.add(self._ids[code])
            for code, before in zip(move.units, move.before, strict=True):
                unit = self.units.positions[code]
                moved.setdefault(unit, int(self.tally.labels[unit]))
                self.tally.move(unit, self._ids[before] if before else -1)
            for code in move.created:
                self._alive.discard(self._ids[code])
        self._cursor -= 1
        return self._summary_move(moved, "undo")

    def redo(self) -> Move | None:
        """Redo the step last undone; the change it made (op "redo"), or None."""
        if self._cursor == len(self._history):
            return None
        step = self._history[self._cursor]
        self._check_step(step)
        moved: dict[int, int] = {}
        for move in step:
            for code in move.created:
                self._alive.add(self._ids[code])
            for code in move.units:
                unit = self.units.positions[code]
                moved.setdefault(unit, int(self.tally.labels[unit]))
                self.tally.move(unit, self._ids[move.after])
            for code in move.removed:
                self._alive.discard(self._ids[code])
        self._cursor += 1
        return self._summary_move(moved, "redo")

    @property
    def history(self) -> list[list[Move]]:
        """Recorded steps (each a list of moves); steps after :attr:`cursor` are redoable."""
        return [list(step) for step in self._history]

    @property
    def cursor(self) -> int:
        return self._cursor

    # --- repairs -------------------------------------------------------------------------

    def fix_contiguity(self) -> list[Move]:
        """Give every stray piece of a grid to the neighbour it shares the longest edge with.

        Only grids in more than one piece change: each keeps its heaviest piece (ties:
        the most units), and each other piece goes whole to the unlocked neighbouring
        grid it shares the longest boundary with. Locked grids are left alone, and a
        piece with no unlocked neighbour stays. One undoable step.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> from geogrid.redraw.units import units_of
        >>> plan = Plan(units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                      "grid", "330399001001"))
        >>> plan.fix_contiguity()
        []
        """
        moves = []
        for grid in self.grids:
            if grid not in self.locked:
                moves += self._reunite(grid)
        self._record(moves)
        return moves

    def fix_balance(self, seed: int = 0) -> list[Move]:
        """Move boundary units between neighbouring grids until all are in band, or stuck.

        Greedy: each step takes the single-unit move between two adjacent unlocked,
        non-exclusive grids that most reduces the total distance of the grids from the
        band, never cutting a grid in two (the unit may not be a cut unit of its grid)
        and never emptying one. Ties are broken by a seeded order. One undoable step.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> from geogrid.redraw.units import units_of
        >>> plan = Plan(units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                      "grid", "330399001001"), band=(350, 450))
        >>> plan.metrics()["summary"]["in_band"]
        5
        >>> len(plan.fix_balance()), plan.metrics()["summary"]["in_band"]
        (3, 9)
        """
        order = np.random.default_rng(seed).permutation(len(self.units))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        unit_weight = self.units.weight_values(self.weight)
        moves = []
        for _ in range(4 * len(self.units)):
            best = self._best_balance_move(unit_weight, rank)
            if best is None:
                break
            unit, target = best
            moves.append(self._move(np.array([unit]), target, "fix_balance"))
        self._record(moves)
        return moves

    # --- state ---------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Everything a stored draft needs to rebuild this plan (JSON-ready).

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> from geogrid.redraw.units import units_of
        >>> units = units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
        ...                  "grid", "330399001001")
        >>> plan = Plan(units)
        >>> key = plan.new_grid(["330399001001001001"])
        >>> again = Plan.from_state(units, plan.to_state())
        >>> again.assignment == plan.assignment, again.undo().after
        (True, '330399001001001')
        """
        return {
            "assignment": self.assignment,
            "grids": self.grids,
            "locked": sorted(self.locked & set(self.grids)),
            "exclusive": sorted(self.exclusive & set(self.grids)),
            "names": {key: name for key, name in self.names.items()},
            "history": [[_move_state(move) for move in step] for step in self._history],
            "cursor": self._cursor,
            "weight": self.weight,
            "band": list(self.band),
            "next_new": self._next_new,
        }

    @classmethod
    def from_state(cls, units: Units, state: Mapping[str, Any]) -> Plan:
        """The plan :meth:`to_state` described, over the same units."""
        plan = cls(
            units,
            state.get("assignment", {}),
            weight=state.get("weight", "households"),
            band=state.get("band", (300, 500)),
            names={k: v for k, v in (state.get("names") or {}).items()},
        )
        history = [[_move_of(m) for m in step] for step in state.get("history", [])]
        keys = {*state.get("grids", ()), *_history_keys(history)}
        for key in sorted(keys - set(plan._ids)):
            plan._ids[key] = plan.tally.add_grid()
            plan._keys.append(key)
        plan._alive |= {plan._ids[key] for key in state.get("grids", ())}
        plan.locked = set(plan._checked_grids(state.get("locked", ()), "locked"))
        plan.exclusive = set(plan._checked_grids(state.get("exclusive", ()), "exclusive"))
        _check_history_units(units, history)
        cursor = state.get("cursor", len(history))
        if not isinstance(cursor, int) or not 0 <= cursor <= len(history):
            raise InputError(f"cursor: must be 0 to {len(history)}, got {cursor!r}")
        plan._history, plan._cursor = history, cursor
        numbers = _new_numbers(plan._keys)
        plan._next_new = max(int(state.get("next_new", 1)), 1 + max(numbers, default=0))
        return plan

    # --- inside --------------------------------------------------------------------------

    def _move(self, positions: np.ndarray, target: int, op: str) -> Move:
        """Move units into a grid id, checking locks; the Move (not recorded)."""
        target_key = self._keys[target]
        self._refuse_lock(target_key)
        moving = [int(u) for u in positions if self.tally.labels[u] != target]
        moving = list(dict.fromkeys(moving))
        self._refuse_locked(np.array(moving, dtype=np.int64))
        before = tuple(self._key_of(self.tally.labels[u]) for u in moving)
        for unit in moving:
            self.tally.move(unit, target)
        codes = tuple(str(self.units.codes[u]) for u in moving)
        return Move(codes, before, target_key, op)

    @contextmanager
    def one_step(self) -> Iterator[Plan]:
        """Edits made inside count as one step: one :meth:`undo` takes them all back.

        A proposal or an imported table applied as many moves is one act of the planner.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> from geogrid.redraw.units import units_of
        >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
        >>> plan = Plan(units_of(h, "grid", "330399001001"))
        >>> first, second = plan.units.codes[:2]
        >>> with plan.one_step():
        ...     _ = plan.new_grid([first])
        ...     _ = plan.move([second], "new-1")
        >>> len(plan.history), plan.undo() is not None, plan.assignment[first] == first[:15]
        (1, True, True)
        """
        start = self._cursor
        del self._history[start:]  # a new act ends whatever could be redone
        try:
            yield self
        finally:
            steps = self._history[start:]
            if len(steps) > 1:
                self._history[start:] = [[move for step in steps for move in step]]
                self._cursor = len(self._history)

    def _record(self, step: list[Move]) -> None:
        if not any(move.units or move.created or move.removed for move in step):
            return
        del self._history[self._cursor :]
        self._history.append(step)
        self._cursor = len(self._history)

    def _create(self) -> str:
        key = f"new-{self._next_new}"
        self._next_new += 1
        if key not in self._ids:
            self._ids[key] = self.tally.add_grid()
            self._keys.append(key)
        self._alive.add(self._ids[key])
        return key

    def _key_of(self, grid: int) -> str:
        return self._keys[grid] if grid >= 0 else ""

    def _refuse_lock(self, grid: str) -> None:
        if grid in self.locked:
            raise InputError(f"grid: {grid} is locked (网格已锁定); unlock it first")

    def _refuse_locked(self, positions: np.ndarray) -> None:
        for g in sorted({int(g) for g in self.tally.labels[positions] if g >= 0}):
            self._refuse_lock(self._keys[g])

    def _check_step(self, step: list[Move]) -> None:
        for move in step:
            for grid in {*move.before, move.after}:
                if grid:
                    self._refuse_lock(grid)

    def _summary_move(self, moved: dict[int, int], op: str) -> Move:
        units = sorted(moved)
        after = {self._key_of(self.tally.labels[u]) for u in units}
        return Move(
            tuple(str(self.units.codes[u]) for u in units),
            tuple(self._key_of(moved[u]) for u in units),
            after.pop() if len(after) == 1 else "",
            op,
        )

    def _checked_grids(self, grids: Iterable[str], field: str) -> list[str]:
        if isinstance(grids, str):
            grids = [grids]
        grids = list(grids)
        for grid in grids:
            self.grid_id(grid, field)
        return grids

    def _weights_for_split(self) -> np.ndarray:
        values = self.units.weight_values(self.weight)
        return values if values.sum() > 0 else np.ones(len(values))

    def _reunite(self, grid: str) -> list[Move]:
        g = self.grid_id(grid)
        pieces = self.tally.pieces(g)
        if len(pieces) < 2:
            return []
        values = self.units.weight_values(self.weight)
        pieces = sorted(pieces, key=lambda p: (-values[p].sum(), -len(p), p[0]))
        moves = []
        for piece in pieces[1:]:
            target = self._longest_neighbour(piece, g)
            if target is not None:
                moves.append(self._move(np.array(piece), target, "fix_contiguity"))
        return moves

    def _longest_neighbour(self, piece: list[int], grid: int) -> int | None:
        shared: dict[int, float] = {}
        labels = self.tally.labels
        for unit in piece:
            for other, length, _, _ in self.tally.adjacent[unit]:
                g = int(labels[other])
                if g >= 0 and g != grid and self._keys[g] not in self.locked:
                    shared[g] = shared.get(g, 0.0) + length
        if not shared:
            return None
        return min(shared, key=lambda g: (-shared[g], self._keys[g]))

    def _best_balance_move(self, unit_weight: np.ndarray, rank: np.ndarray):
        free = {g for g in self._alive if self._keys[g] not in self.locked | self.exclusive}
        column = self.weight_column
        totals = {g: float(self.tally.totals(g)[column]) for g in free}
        off = {g for g in free if _excess(totals[g], self.band) > 0}
        if not off:
            return None
        best, best_key = None, (0.0, 0)
        for unit, source, target in self._balance_candidates(off, free):
            w = unit_weight[unit]
            delta = (
                _excess(totals[source] - w, self.band)
                + _excess(totals[target] + w, self.band)
                - _excess(totals[source], self.band)
                - _excess(totals[target], self.band)
            )
            key = (delta, int(rank[unit]))
            if delta < -1e-9 and (best is None or key < best_key):
                best, best_key = (unit, target), key
        return best

    def _balance_candidates(self, off: set[int], free: set[int]):
        """(unit, its grid, a neighbouring grid) where one of the two grids is off band."""
        labels, tally = self.tally.labels, self.tally
        near_off = {
            int(labels[other])
            for g in off
            for unit in tally.members[g]
            for other, _, _, _ in tally.adjacent[unit]
        }
        for source in sorted((off | near_off) & free):
            members = tally.members[source]
            if len(members) < 2:
                continue
            cut_units = None
            for unit in sorted(members):
                targets = {
                    int(labels[other])
                    for other, _, _, _ in tally.adjacent[unit]
                    if labels[other] != source and labels[other] in free
                }
                targets = {t for t in targets if source in off or t in off}
                if not targets:
                    continue
                if cut_units is None:
                    cut_units = tally.articulation(source)
                if unit in cut_units:
                    continue
                for target in sorted(targets):
                    yield unit, source, target

    def __repr__(self) -> str:
        return f"<Plan {self.units.level} in {self.units.parent or '-'}: {len(self._alive)} grids>"


def _excess(weight: float, band: tuple[float, float]) -> float:
    low, high = band
    return max(low - weight, 0.0) + max(weight - high, 0.0)


def _checked_band(band: Sequence[float]) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in band)
    except (TypeError, ValueError):
        raise InputError(f"band: expected (min, max) numbers, got {band!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0:
        raise InputError(f"band: min and max must be finite numbers ≥ 0, got {band!r}")
    if low > high:
        raise InputError(f"band: min {low:g} is greater than max {high:g}")
    return low, high


def _checked_assignment(units: Units, assignment: Mapping[str, str] | None) -> list[str]:
    if assignment is None:
        return [str(key) for key in units.current]
    if not isinstance(assignment, Mapping):
        raise InputError(f"assignment: expected unit code -> grid key, got {type(assignment)}")
    units.index_of(list(assignment), field="assignment")
    for code, key in assignment.items():
        if not isinstance(key, str):
            raise InputError(f"assignment: unit {code} has grid {key!r}; grid keys are text")
    return [assignment.get(code, "") or "" for code in units.codes]


def _new_numbers(keys: Iterable[str]) -> list[int]:
    return [int(m.group(1)) for key in keys if (m := _NEW_KEY.match(key))]


def _move_state(move: Move) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(move).items()}  # fmt: skip


def _move_of(state: Mapping[str, Any]) -> Move:
    try:
        return Move(
            units=tuple(state["units"]),
            before=tuple(state["before"]),
            after=str(state["after"]),
            op=str(state["op"]),
            created=tuple(state.get("created", ())),
            removed=tuple(state.get("removed", ())),
        )
    except (KeyError, TypeError) as exc:
        raise InputError(f"history: a move is malformed ({exc}): {state!r}") from None


def _history_keys(history: list[list[Move]]) -> set[str]:
    keys = set()
    for step in history:
        for move in step:
            keys.update(k for k in (*move.before, move.after, *move.created, *move.removed) if k)
    return keys


def _check_history_units(units: Units, history: list[list[Move]]) -> None:
    codes = [code for step in history for move in step for code in move.units]
    if codes:
        units.index_of(codes, field="history")


# --- splitting --------------------------------------------------------------------------


def _balanced_parts(
    members: list[int], weights: np.ndarray, adjacent, k: int, seed: int
) -> list[list[int]]:
    """``k`` connected parts of about equal weight (largest first after the first cut)."""
    rng = np.random.default_rng(seed)
    remaining, parts = list(members), []
    for left in range(k, 1, -1):
        target = weights[remaining].sum() / left
        part = _best_cut(remaining, weights, adjacent, target, rng)
        parts.append(part)
        taken = set(part)
        remaining = [u for u in remaining if u not in taken]
    parts.append(remaining)
    # The grid keeps the part with the most units: its code is most likely to stay.
    parts.sort(key=lambda p: (-len(p), p[0]))
    return parts


def _best_cut(members, weights, adjacent, target, rng) -> list[int]:
    best, best_gap = None, math.inf
    for _ in range(SPLIT_TRIES):
        parent, order = _random_tree(members, adjacent, rng)
        below = {u: weights[u] for u in members}
        for unit in reversed(order[1:]):
            below[parent[unit]] += below[unit]
        total = below[order[0]]
        for unit in order[1:]:
            for weight, side in ((below[unit], "below"), (total - below[unit], "above")):
                gap = abs(weight - target)
                if gap < best_gap - 1e-9:
                    best, best_gap = (unit, side, parent, order), gap
    unit, side, parent, order = best
    subtree = _subtree(unit, parent, order)
    return sorted(subtree if side == "below" else set(members) - subtree)


def _random_tree(members, adjacent, rng) -> tuple[dict[int, int], list[int]]:
    """A random spanning tree (random-weight Kruskal), rooted: parents and a BFS order."""
    inside = set(members)
    edges = [(u, v) for u in members for v, _, _, _ in adjacent[u] if v in inside and u < v]
    edges += _links_between_pieces(members, adjacent)
    root = {u: u for u in members}

    def find(u: int) -> int:
        while root[u] != u:
            root[u] = root[root[u]]
            u = root[u]
        return u

    tree: dict[int, list[int]] = {u: [] for u in members}
    for i in rng.permutation(len(edges)):
        u, v = edges[i]
        a, b = find(u), find(v)
        if a != b:
            root[a] = b
            tree[u].append(v)
            tree[v].append(u)
    start = members[int(rng.integers(len(members)))]
    parent, order, seen = {start: -1}, [start], {start}
    for unit in order:
        for other in tree[unit]:
            if other not in seen:
                seen.add(other)
                parent[other] = unit
                order.append(other)
    return parent, order


def _links_between_pieces(members, adjacent) -> list[tuple[int, int]]:
    # A grid already in pieces is split as if its pieces touched, first unit to first unit.
    inside = set(members)
    pieces = _metrics._pieces(inside, lambda u: [v for v, *_ in adjacent[u] if v in inside])
    return [(pieces[i][0], pieces[i + 1][0]) for i in range(len(pieces) - 1)]


def _subtree(unit: int, parent: dict[int, int], order: list[int]) -> set[int]:
    inside = {unit}
    for other in order:
        if parent[other] in inside:
            inside.add(other)
    return inside


def _checked_line(line) -> np.ndarray:
    try:
        geometry = line if isinstance(line, LineString) else LineString(line)
        if geometry.is_empty:
            raise ValueError("empty")
    except (TypeError, ValueError, IndexError, shapely.errors.GEOSException):
        raise InputError(f"line: expected a line of lon/lat points, got {line!r}") from None
    coords = np.asarray(geometry.coords, dtype=np.float64)[:, :2]
    if not np.isfinite(coords).all() or (np.abs(coords) > (180, 90)).any():
        raise InputError("line: every point must be a lon/lat in degrees (EPSG:4326)")
    coords = coords[np.r_[True, (np.diff(coords, axis=0) != 0).any(axis=1)]]
    if len(coords) < 2:
        raise InputError("line: needs at least two different points")
    return coords


def _right_of(units: Units, members: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Which members lie right of the line (the line's far ends extended across them)."""
    line = units.to_metres(shapely.linestrings(coords))
    points = shapely.get_coordinates(shapely.point_on_surface(units.metric_geometry[members]))
    xy = shapely.get_coordinates(line)
    span = np.ptp(np.vstack([points, xy]), axis=0).sum() * 2 + 1
    xy[0] -= (xy[1] - xy[0]) / np.hypot(*(xy[1] - xy[0])) * span
    xy[-1] += (xy[-1] - xy[-2]) / np.hypot(*(xy[-1] - xy[-2])) * span
    start, stop = xy[:-1], xy[1:]
    direction = stop - start
    offset = points[:, None, :] - start[None, :, :]
    t = np.clip((offset * direction).sum(-1) / (direction**2).sum(-1), 0, 1)
    distance = np.hypot(*(offset - t[..., None] * direction).transpose(2, 0, 1))
    nearest = distance.argmin(axis=1)
    d, o = direction[nearest], offset[np.arange(len(points)), nearest]
    return d[:, 0] * o[:, 1] - d[:, 1] * o[:, 0] < 0


def draft_gate(hierarchy: Any, draft: Any) -> list[str]:
    """What forbids publishing a stored draft (empty: nothing), as :meth:`Plan.gate` says.

    ``draft`` is a :class:`geogrid.storage.drafts.DraftRecord` (its ``level``,
    ``parent_code``, ``survey_frame()`` and ``state()``) on its base ``hierarchy``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from geogrid import Hierarchy
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> state = Plan(units_of(h, "grid", "330399001001")).to_state()
    >>> draft = SimpleNamespace(level="grid", parent_code="330399001001",
    ...                         survey_frame=lambda: None, state=lambda: state)
    >>> draft_gate(h, draft)
    []
    """
    units = units_of(hierarchy, draft.level, draft.parent_code or None,
                     survey=draft.survey_frame())  # fmt: skip
    return Plan.from_state(units, draft.state()).gate()
