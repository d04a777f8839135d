"""Per-grid metrics of a redraw plan, kept up to date move by move.

A :class:`Tally` holds running totals per grid (weights, area, the sum of the units'
perimeters, shared lengths inside the grid and across its edge, the part of the edge
along roads, compounds) and changes only what a moved unit touches, so a paint
stroke on a parent of 2,000 units costs well under a millisecond. What needs a walk
of the grid's units (its pieces, a thin corridor, the Reock circle) is computed on
demand and cached per grid until the grid changes again.

The measures (areas and lengths in metres, see :mod:`geogrid.redraw.units`):

- **weights**: the sum of every weight column; **band**: ``under``, ``in`` or ``over``
  the plan's band on its weight, ``exempt`` for an exclusive grid (专属网格);
- **pieces**: connected components of the grid's units on the unit graph (an island
  bridge counts as a link, so a grid spanning one is one piece);
- **perimeter** = the units' perimeters − 2 × the boundary they share inside the grid
  (no union needed); **Polsby-Popper** = 4πA/P²; **Reock** = A / the area of the
  smallest circle around the grid's units;
- **cut edges**: unit edges between this grid and another (count and length);
  **road share**: the part of the grid's boundary (cut edges and parent outline)
  along a road;
- **split compounds**: compounds (小区) with units here and in another grid;
- **bottleneck**: a thin corridor, i.e. a unit edge or a unit whose removal cuts the
  grid into parts of at least 2 units each (DRA's dumbbell test; island bridges aside).

:func:`grid_metrics`, :func:`summary`, :func:`warnings` and :func:`gate` read a
:class:`~geogrid.redraw.plan.Plan`; ``Plan.metrics()`` is the usual way in.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np
import shapely

from geogrid.redraw.units import Units

#: A unit sticking out of its parent by more than this (m²) fails the publish gate.
OUTSIDE_TOLERANCE_M2 = 1.0
#: A bottleneck cuts a grid into parts of at least this many units on each side.
BOTTLENECK_MIN_UNITS = 2
#: Chinese and English names of common weights in messages.
WEIGHT_NAMES = {"households": ("户数", "households"), "population": ("人口", "population"),
                "count": ("单元数", "units")}  # fmt: skip

Neighbours = list[tuple[int, float, float, bool]]


class Tally:
    """Running per-grid totals over one parent's units, updated one moved unit at a time.

    ``labels`` holds each unit's grid id (``-1``: in no grid); the tally owns it.

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> from geogrid.redraw.units import units_of
    >>> units = units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
    ...                  "grid", "330399001001")
    >>> tally = Tally(units, np.zeros(len(units), dtype=np.int64), grids=1)
    >>> tally.pieces(0) == [list(range(len(units)))], tally.cut_edges
    (True, 0)
    >>> new = tally.add_grid()
    >>> tally.move(0, new)
    >>> float(tally.totals(new)[0]), tally.cut_edges > 0
    (1.0, True)
    """

    def __init__(self, units: Units, labels: np.ndarray, grids: int) -> None:
        self.units = units
        self.labels = np.asarray(labels, dtype=np.int64).copy()
        self.adjacent = _adjacency(units)
        self._unit_weights = units.weights.to_numpy(dtype=np.float64)
        self._compound = _compound_ids(units)
        #: Compound id -> compound name (the units' compound attribute).
        self.compound_names = compound_names(units)
        self._hulls = _hull_points(units)
        self._bounds = shapely.bounds(units.geometry)
        self._columns = 0
        self.weights = np.zeros((0, self._unit_weights.shape[1]))
        self.members: list[set[int]] = []
        self.area: list[float] = []
        self.perimeters: list[float] = []
        self.inside_m: list[float] = []
        self.cut_m: list[float] = []
        self.cut_road_m: list[float] = []
        self.cut_count: list[int] = []
        self.outline_m: list[float] = []
        self.outline_road_m: list[float] = []
        self.version: list[int] = []
        self.compounds: list[Counter] = []
        self.compound_grids: dict[int, Counter] = {}
        self.cut_edges = 0
        self.cut_length_m = 0.0
        self._cache: dict[str, dict[int, tuple[int, Any]]] = {}
        self._where = [-1] * len(units)  # labels as a list: faster to read one by one
        self._unchecked: set[int] = set()
        self._in_pieces: set[int] = set()
        for _ in range(grids):
            self.add_grid()
        placed, self.labels = self.labels, np.full(len(units), -1, dtype=np.int64)
        for unit in np.flatnonzero(placed >= 0):
            self.move(int(unit), int(placed[unit]))

    def add_grid(self) -> int:
        """A new, empty grid; its id."""
        self.weights = np.vstack([self.weights, np.zeros((1, self.weights.shape[1]))])
        for totals in (self.area, self.perimeters, self.inside_m, self.cut_m, self.cut_road_m,
                       self.outline_m, self.outline_road_m):  # fmt: skip
            totals.append(0.0)
        self.cut_count.append(0)
        self.version.append(0)
        self.members.append(set())
        self.compounds.append(Counter())
        return len(self.members) - 1

    def move(self, unit: int, grid: int) -> None:
        """Put ``unit`` into ``grid`` (``-1``: into no grid) and update the totals."""
        where = self._where
        old = where[unit]
        if old == grid:
            return
        for other, length, road, bridge in self.adjacent[unit]:
            there = where[other]
            self._edge(old, there, length, road, bridge, -1)
            self._edge(grid, there, length, road, bridge, +1)
        self._unit(unit, old, -1)
        self._unit(unit, grid, +1)
        self.labels[unit] = where[unit] = grid
        if old >= 0 and not self.members[old]:
            self._empty(old)

    def _empty(self, grid: int) -> None:
        """A grid that lost its last unit holds nothing: no float leftovers of the sums."""
        self.weights[grid] = 0.0
        for totals in (self.area, self.perimeters, self.inside_m, self.cut_m, self.cut_road_m,
                       self.outline_m, self.outline_road_m):  # fmt: skip
            totals[grid] = 0.0

    def _unit(self, unit: int, grid: int, sign: int) -> None:
        if grid < 0:
            return
        units = self.units
        self.weights[grid] += sign * self._unit_weights[unit]
        self.area[grid] += sign * units.area_m2[unit]
        self.perimeters[grid] += sign * units.perimeter_m[unit]
        self.outline_m[grid] += sign * units.outline_m[unit]
        self.outline_road_m[grid] += sign * units.outline_road_m[unit]
        self.version[grid] += 1
        self._unchecked.add(grid)
        if sign > 0:
            self.members[grid].add(unit)
        else:
            self.members[grid].discard(unit)
        compound = self._compound[unit]
        if compound >= 0:
            _count(self.compounds[grid], compound, sign)
            _count(self.compound_grids.setdefault(compound, Counter()), grid, sign)

    def _edge(self, mine: int, theirs: int, length: float, road: float, bridge: bool, sign: int):
        if mine == theirs:
            if mine >= 0:
                self.inside_m[mine] += sign * length
            return
        if bridge:  # an island link is no boundary: nothing to cut
            return
        for grid in (mine, theirs):
            if grid >= 0:
                self.cut_m[grid] += sign * length
                self.cut_road_m[grid] += sign * road
                self.cut_count[grid] += sign
        if mine >= 0 and theirs >= 0:
            self.cut_edges += sign
            self.cut_length_m += sign * length

    def totals(self, grid: int) -> np.ndarray:
        """The grid's sum of every weight column (in the order of ``units.weights``)."""
        return self.weights[grid]

    def perimeter_m(self, grid: int) -> float:
        return max(float(self.perimeters[grid] - 2 * self.inside_m[grid]), 0.0)

    def sharing(self, unit: int) -> set[int]:
        """Grids holding a unit of the same compound as ``unit``."""
        compound = self._compound[unit]
        return set(self.compound_grids.get(compound, ())) if compound >= 0 else set()

    def split_compounds(self, grid: int) -> list[int]:
        """Compound ids with units in this grid and in another."""
        return sorted(c for c in self.compounds[grid] if len(self.compound_grids[c]) > 1)

    def pieces(self, grid: int) -> list[list[int]]:
        """The grid's units in connected pieces (island bridges link), largest first."""
        return self._cached("pieces", grid, lambda: _pieces(self.members[grid], self._inside(grid)))

    def non_contiguous(self, grids: Iterable[int]) -> int:
        """How many of these grids are in more than one piece."""
        # Only grids changed since the last look need a walk; the rest are remembered.
        for grid in self._unchecked:
            if len(self.pieces(grid)) > 1:
                self._in_pieces.add(grid)
            else:
                self._in_pieces.discard(grid)
        self._unchecked.clear()
        return len(self._in_pieces.intersection(grids))

    def bottleneck(self, grid: int) -> list[int]:
        """Units at the grid's thin corridors (see the module docstring); [] when none."""
        return self._cached("bottleneck", grid, lambda: self._bottleneck(grid))

    def articulation(self, grid: int) -> set[int]:
        """Units whose removal would cut the grid into more pieces."""
        return self._cached(
            "articulation", grid, lambda: _cut_structure(self.members[grid], self._inside(grid))[2]
        )

    def reock(self, grid: int) -> float:
        """Area over the area of the smallest circle around the grid's units (NaN if empty)."""
        return self._cached("reock", grid, lambda: self._reock(grid))

    def bbox(self, units: Iterable[int]) -> list[float]:
        """[west, south, east, north] of units, in lon/lat."""
        rows = self._bounds[list(units)]
        if not len(rows):
            return []
        return [float(rows[:, 0].min()), float(rows[:, 1].min()),
                float(rows[:, 2].max()), float(rows[:, 3].max())]  # fmt: skip

    def _cached(self, what: str, grid: int, compute: Callable[[], Any]) -> Any:
        cache = self._cache.setdefault(what, {})
        hit = cache.get(grid)
        if hit is None or hit[0] != self.version[grid]:
            hit = cache[grid] = (self.version[grid], compute())
        return hit[1]

    def _inside(self, grid: int, bridges: bool = True) -> Callable[[int], list[int]]:
        """Neighbours of a unit inside the grid (built once per version of the grid)."""
        local = self._cached("local", grid, lambda: self._local(grid))
        return local[0 if bridges else 1].__getitem__

    def _local(self, grid: int) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
        where, adjacent = self._where, self.adjacent
        linked = {
            u: [v for v, _, _, b in adjacent[u] if where[v] == grid] for u in self.members[grid]
        }
        if not any(b for u in linked for _, _, _, b in adjacent[u]):
            return linked, linked
        plain = {u: [v for v, _, _, b in adjacent[u] if where[v] == grid and not b] for u in linked}
        return linked, plain

    def _bottleneck(self, grid: int) -> list[int]:
        bridges, parts, _ = _cut_structure(self.members[grid], self._inside(grid, bridges=False))
        found: set[int] = set()
        for first, second, one_side, other_side in bridges:
            if min(one_side, other_side) >= BOTTLENECK_MIN_UNITS:
                found.update((first, second))
        for unit, sizes in parts.items():
            if sum(size >= BOTTLENECK_MIN_UNITS for size in sizes) >= 2:
                found.add(unit)
        return sorted(found)

    def _reock(self, grid: int) -> float:
        members = self.members[grid]
        if not members:
            return math.nan
        # One line through all hull vertices: cheaper to build than a MultiPoint, same circle.
        vertices = shapely.linestrings(np.concatenate([self._hulls[u] for u in members]))
        radius = shapely.minimum_bounding_radius(vertices)
        return self.area[grid] / (math.pi * radius**2) if radius > 0 else math.nan


def _count(counter: Counter, key: int, sign: int) -> None:
    counter[key] += sign
    if counter[key] <= 0:
        del counter[key]


def _adjacency(units: Units) -> list[Neighbours]:
    adjacent: list[Neighbours] = [[] for _ in range(len(units))]
    columns = ("a", "b", "length_m", "road_m", "bridge")
    for a, b, length, road, bridge in zip(*(units.edges[c].tolist() for c in columns), strict=True):
        adjacent[a].append((b, length, road, bridge))
        adjacent[b].append((a, length, road, bridge))
    return adjacent


def _compound_ids(units: Units) -> np.ndarray:
    if units.compound is None:
        return np.full(len(units), -1, dtype=np.int64)
    names = sorted({c for c in units.compound if c is not None})
    index = {name: i for i, name in enumerate(names)}
    return np.array([index.get(c, -1) for c in units.compound], dtype=np.int64)


def compound_names(units: Units) -> list[str]:
    """Compound ids of :class:`Tally` -> the units' compound names."""
    return (
        sorted({c for c in units.compound if c is not None}) if units.compound is not None else []
    )


def _hull_points(units: Units) -> list[np.ndarray]:
    hulls = shapely.convex_hull(units.metric_geometry)
    coords, index = shapely.get_coordinates(hulls, return_index=True)
    return np.split(coords, np.flatnonzero(np.diff(index)) + 1) if len(coords) else []


def _pieces(members: set[int], inside: Callable[[int], list[int]]) -> list[list[int]]:
    seen: set[int] = set()
    pieces = []
    for start in sorted(members):
        if start in seen:
            continue
        seen.add(start)
        piece, stack = [start], [start]
        while stack:
            for other in inside(stack.pop()):
                if other not in seen:
                    seen.add(other)
                    piece.append(other)
                    stack.append(other)
        pieces.append(sorted(piece))
    return sorted(pieces, key=lambda piece: (-len(piece), piece[0]))


def _cut_structure(
    members: set[int], inside: Callable[[int], list[int]]
) -> tuple[list[tuple[int, int, int, int]], dict[int, list[int]], set[int]]:
    """Bridges and cut units of a grid's unit graph (Tarjan, iterative).

    Returns bridges as (unit, unit, units on the second's side, units on the first's),
    for each cut unit the sizes of the parts its removal leaves, and the cut units.
    """
    disc: dict[int, int] = {}
    bridges: list[tuple[int, int, int, int]] = []
    parts: dict[int, list[int]] = {}
    for root in sorted(members):
        if root not in disc:
            _tarjan(root, inside, disc, bridges, parts)
    return bridges, parts, set(parts)


def _tarjan(root, inside, disc, bridges, parts) -> None:
    low, size, separated = {root: len(disc)}, {root: 1}, {root: []}
    disc[root] = len(disc)
    stack = [(root, -1, iter(inside(root)))]
    order = [root]
    while stack:
        unit, parent, others = stack[-1]
        advanced = False
        for other in others:
            if other not in disc:
                disc[other] = low[other] = len(disc)
                size[other], separated[other] = 1, []
                order.append(other)
                stack.append((other, unit, iter(inside(other))))
                advanced = True
                break
            if other != parent:
                low[unit] = min(low[unit], disc[other])
        if advanced:
            continue
        stack.pop()
        if parent >= 0:
            low[parent] = min(low[parent], low[unit])
            size[parent] += size[unit]
            if low[unit] > disc[parent]:
                bridges.append((parent, unit, size[unit], -1))
            if low[unit] >= disc[parent]:
                separated[parent].append(size[unit])
    total = len(order)
    bridges[:] = [(a, b, s, total - s if rest < 0 else rest) for a, b, s, rest in bridges]
    for unit in order:
        sizes = separated[unit]
        if unit == root:
            if len(sizes) >= 2:
                parts[unit] = sizes
        elif sizes:
            parts[unit] = [*sizes, total - 1 - sum(sizes)]


# --- reading a plan ------------------------------------------------------------------------


class PlanView(Protocol):
    """What the metrics read of a :class:`~geogrid.redraw.plan.Plan` (which imports this
    module, so it is described here rather than imported)."""

    units: Units
    tally: Tally
    weight: str
    band: tuple[float, float]
    locked: set[str]
    exclusive: set[str]
    names: dict[str, str]

    @property
    def grids(self) -> list[str]: ...

    @property
    def labels(self) -> np.ndarray: ...

    @property
    def weight_column(self) -> int: ...

    def grid_id(self, grid: str, field: str = "grid") -> int: ...

    def grid_ids(self, grids: Iterable[str] | None = None) -> list[int]: ...


def band_status(plan: PlanView, grid: str, weight: float) -> str:
    """``under``, ``in`` or ``over`` the plan's band; ``exempt`` for an exclusive grid."""
    if grid in plan.exclusive:
        return "exempt"
    low, high = plan.band
    return "under" if weight < low else "over" if weight > high else "in"


def grid_metrics(plan: PlanView, grid: str) -> dict[str, Any]:
    """The metrics of one grid of a plan, as a JSON-ready dict.

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> from geogrid.redraw.plan import Plan
    >>> from geogrid.redraw.units import units_of
    >>> plan = Plan(units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
    ...                      "grid", "330399001001"))
    >>> m = grid_metrics(plan, "330399001001001")
    >>> m["weight"], m["band"], m["pieces"], m["bottleneck"]
    (402.0, 'in', 1, False)
    """
    tally, g = plan.tally, plan.grid_id(grid)
    totals = dict(zip(plan.units.weights.columns, tally.totals(g).tolist(), strict=True))
    weight = totals[plan.weight]
    area, perimeter = float(tally.area[g]), tally.perimeter_m(g)
    middle = sum(plan.band) / 2
    names = plan.tally.compound_names
    return {
        "grid": grid,
        "name": plan.names.get(grid, grid),
        "units": len(tally.members[g]),
        "weights": totals,
        "weight": weight,
        "band": band_status(plan, grid, weight),
        "deviation": (weight - middle) / middle if middle else math.nan,
        "pieces": len(tally.pieces(g)),
        "area_m2": area,
        "perimeter_m": perimeter,
        "polsby_popper": 4 * math.pi * area / perimeter**2 if perimeter > 0 else math.nan,
        "reock": float(tally.reock(g)),
        "cut_edges": tally.cut_count[g],
        "cut_m": float(tally.cut_m[g]),
        "road_share": _road_share(tally, g, perimeter),
        "split_compounds": [names[c] for c in tally.split_compounds(g)],
        "bottleneck": bool(tally.bottleneck(g)),
        "locked": grid in plan.locked,
        "exclusive": grid in plan.exclusive,
    }


def _deviation_range(weights: np.ndarray, middle: float) -> list[float]:
    if not len(weights) or not middle:
        return []
    return [float(weights.min() - middle) / middle, float(weights.max() - middle) / middle]


def _road_share(tally: Tally, grid: int, perimeter: float) -> float:
    if perimeter <= 0:
        return math.nan
    return min(float(tally.cut_road_m[grid] + tally.outline_road_m[grid]) / perimeter, 1.0)


def summary(plan: PlanView) -> dict[str, Any]:
    """Plan-wide figures: grids, in band, the range of weights, cut edges, unassigned units.

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> from geogrid.redraw.plan import Plan
    >>> from geogrid.redraw.units import units_of
    >>> plan = Plan(units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
    ...                      "grid", "330399001001"))
    >>> s = summary(plan)
    >>> s["grids"], s["in_band"], s["unassigned"], s["weight_range"]
    (9, 9, 0, [327.0, 477.0])
    """
    tally, keys = plan.tally, plan.grids
    ids = plan.grid_ids(keys)
    weights = tally.weights[ids, plan.weight_column] if ids else np.zeros(0)
    exempt = np.array([key in plan.exclusive for key in keys], dtype=bool)
    filled = np.array([bool(tally.members[g]) for g in ids], dtype=bool)
    low, high = plan.band
    under, over = ~exempt & (weights < low), ~exempt & (weights > high)
    banded = weights[~exempt & filled]
    middle = (low + high) / 2
    names = plan.tally.compound_names
    return {
        "grids": len(keys),
        "weight": plan.weight,
        "band": list(plan.band),
        "in_band": int((~exempt & ~under & ~over).sum()),
        "under": int(under.sum()),
        "over": int(over.sum()),
        "exempt": int(exempt.sum()),
        "weight_range": [float(banded.min()), float(banded.max())] if len(banded) else [],
        "deviation_range": _deviation_range(banded, middle),
        "non_contiguous": tally.non_contiguous(ids),
        "cut_edges": tally.cut_edges,
        "cut_m": float(tally.cut_length_m),
        "unassigned": int((tally.labels < 0).sum()),
        "split_compounds": sorted(
            names[c] for c, held in tally.compound_grids.items() if len(held) > 1
        ),
    }


# --- warnings and the publish gate -----------------------------------------------------------


def warnings(plan: PlanView) -> list[dict[str, Any]]:
    """What a planner should look at, grid by grid: {kind, grid, message, units, bbox}.

    Kinds: ``band``, ``pieces``, ``island``, ``bottleneck``, ``compound``, ``empty``,
    ``unassigned``, ``outside``. Messages are in Chinese, then English.

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> from geogrid.redraw.plan import Plan
    >>> from geogrid.redraw.units import units_of
    >>> plan = Plan(units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
    ...                      "grid", "330399001001"), band=(300, 405))
    >>> [w["message"] for w in warnings(plan)][0]
    '网格 金水社区第2网格 户数 406，超出 300–405 / households 406 above 300–405'
    """
    found = _unit_warnings(plan)
    for grid in plan.grids:
        found += _grid_warnings(plan, grid)
    return found


def gate(plan: PlanView) -> list[str]:
    """Errors that forbid publishing the plan; an empty list means publishable.

    A unit in no grid, an empty grid, a grid out of band (exclusive grids aside), a
    grid in more than one piece (island bridges link), a unit outside the parent.

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> from geogrid.redraw.plan import Plan
    >>> from geogrid.redraw.units import units_of
    >>> plan = Plan(units_of(Hierarchy.from_manifest("data/boundaries/sample.toml"),
    ...                      "grid", "330399001001"))
    >>> gate(plan)
    []
    >>> plan.new_grid()
    'new-1'
    >>> gate(plan)
    ['网格 new-1 没有单元 / grid new-1 has no units']
    """
    blocking = {"band", "pieces", "empty", "unassigned", "outside"}
    return [w["message"] for w in warnings(plan) if w["kind"] in blocking]


def _warning(kind: str, grid: str, message: str, units: list[str], bbox: list[float]) -> dict:
    return {"kind": kind, "grid": grid, "message": message, "units": units, "bbox": bbox}


def _unit_warnings(plan: PlanView) -> list[dict]:
    tally, codes = plan.tally, plan.units.codes
    found = []
    loose = np.flatnonzero(tally.labels < 0)
    if len(loose):
        shown = [str(c) for c in codes[loose]]
        message = f"{len(loose)} 个单元未分配网格 / {len(loose)} units are in no grid"
        found.append(_warning("unassigned", "", message, shown, tally.bbox(loose)))
    outside = plan.units.outside_m2
    for unit in np.flatnonzero(outside > OUTSIDE_TOLERANCE_M2) if outside is not None else []:
        code, area = str(codes[unit]), float(outside[unit])
        message = (
            f"单元 {code} 有 {area:.0f} m² 超出上级 {plan.units.parent} / "
            f"unit {code} lies {area:.0f} m² outside the parent {plan.units.parent}"
        )
        found.append(
            _warning("outside", str(plan.labels[unit]), message, [code], tally.bbox([unit]))
        )
    return found


def _grid_warnings(plan: PlanView, grid: str) -> list[dict]:
    tally, g = plan.tally, plan.grid_id(grid)
    label = plan.names.get(grid) or grid
    members = sorted(tally.members[g])
    if not members:
        return [
            _warning("empty", grid, f"网格 {label} 没有单元 / grid {label} has no units", [], [])
        ]
    found = []
    found += _band_warning(plan, grid, label, members)
    found += _piece_warning(plan, grid, label)
    found += _island_warnings(plan, grid, label)
    found += _bottleneck_warning(plan, grid, label)
    found += _compound_warning(plan, grid, label)
    return found


def _band_warning(plan: PlanView, grid: str, label: str, members: list[int]) -> list[dict]:
    weight = float(plan.tally.totals(plan.grid_id(grid))[plan.weight_column])
    status = band_status(plan, grid, weight)
    if status not in ("under", "over"):
        return []
    zh, en = WEIGHT_NAMES.get(plan.weight, (plan.weight, plan.weight))
    low, high = plan.band
    verb_zh, verb_en = ("超出", "above") if status == "over" else ("低于", "below")
    message = (
        f"网格 {label} {zh} {weight:g}，{verb_zh} {low:g}–{high:g} / "
        f"{en} {weight:g} {verb_en} {low:g}–{high:g}"
    )
    return [_warning("band", grid, message, _codes(plan, members), plan.tally.bbox(members))]


def _piece_warning(plan: PlanView, grid: str, label: str) -> list[dict]:
    pieces = plan.tally.pieces(plan.grid_id(grid))
    if len(pieces) < 2:
        return []
    stray = [unit for piece in pieces[1:] for unit in piece]
    message = (
        f"网格 {label} 分成 {len(pieces)} 块，不连续 / "
        f"grid {label} is in {len(pieces)} pieces, not contiguous"
    )
    return [_warning("pieces", grid, message, _codes(plan, stray), plan.tally.bbox(stray))]


def _island_warnings(plan: PlanView, grid: str, label: str) -> list[dict]:
    tally, g = plan.tally, plan.grid_id(grid)
    found = []
    for island in plan.units.islands:
        here = [int(u) for u in island if tally.labels[u] == g]
        if here and len(here) < len(tally.members[g]):
            shown = ", ".join(_codes(plan, here))
            message = (
                f"网格 {label} 含飞地（孤立单元 {shown}，经桥接相连） / "
                f"grid {label} spans the island {shown} (linked by a bridge)"
            )
            found.append(_warning("island", grid, message, _codes(plan, here), tally.bbox(here)))
    return found


def _bottleneck_warning(plan: PlanView, grid: str, label: str) -> list[dict]:
    units = plan.tally.bottleneck(plan.grid_id(grid))
    if not units:
        return []
    shown = ", ".join(_codes(plan, units))
    message = (
        f"网格 {label} 有狭窄通道（单元 {shown}） / grid {label} has a thin corridor at {shown}"
    )
    return [_warning("bottleneck", grid, message, _codes(plan, units), plan.tally.bbox(units))]


def _compound_warning(plan: PlanView, grid: str, label: str) -> list[dict]:
    tally, g = plan.tally, plan.grid_id(grid)
    split = tally.split_compounds(g)
    if not split:
        return []
    names = plan.tally.compound_names
    shown = ", ".join(names[c] for c in split)
    units = [u for u in sorted(tally.members[g]) if tally._compound[u] in set(split)]
    message = (
        f"网格 {label} 含被拆分的小区 {shown} / grid {label} holds part of split compounds {shown}"
    )
    return [_warning("compound", grid, message, _codes(plan, units), tally.bbox(units))]


def _codes(plan: PlanView, units: Iterable[int]) -> list[str]:
    return [str(plan.units.codes[u]) for u in units]
