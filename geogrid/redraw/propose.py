"""Automatic proposals: regroup a parent's units into grids whose weight is in band.

Two modes, both driven by GerryChain 1.0 (spanning-tree cuts on a rustworkx graph):

- **fresh** (``keep_current=False``): cut the units into the number of grids whose mean weight
  is nearest the middle of the band (``recursive_tree_part``), retrying with new random draws
  until every grid is in band and contiguous; then improve it with a ReCom hill climb that
  prefers roads as boundaries: it minimises the length of grid boundaries *not* along a road
  (``length_m - road_m`` summed over the unit edges that separate two grids).
- **keep current** (``keep_current=True``): start from the current grids; grids already in band
  and contiguous stay as they are unless a neighbour needs a few of their units; a grid that is
  too heavy is split, a grid in pieces keeps its largest piece, a grid that is too light takes
  units from its neighbours along the shortest chain of grids that has some to spare, and grids
  are added or dissolved when the count must change. What does not fit is recombined with a
  neighbour (merge the two, cut them again in band). The aim is to keep as much weight as
  possible in its current grid (``Proposal.kept_share``).

Spanning trees are drawn with a bias: edges along roads (and edges between two compounds, 小区)
are drawn last, so whole blocks hang together in the tree and a cut falls on a road when one is
balanced. Bridge edges (the links :mod:`geogrid.redraw.units` adds so that an island can join
the rest) are ordinary edges here: an island may share a grid with the unit it is linked to, and
such a grid counts as contiguous.

Locked grids and exclusive grids (专属网格, exempt from the band) stay exactly as they are: their
units are set aside before partitioning, and what remains is partitioned component by component.

Results are reproducible: the same inputs and ``seed`` give the same assignment, as long as the
time limit does not cut a search short (the searches stop on step counts, the clock only guards).

An idea for later, not a dependency: PySAL spopt's max-p (``MaxPHeuristic``) answers "how many
grids of at least MIN fit?"; ``Proposal.suggested_grids`` gives the plain arithmetic bounds.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from itertools import combinations
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

from geogrid.errors import InputError

if TYPE_CHECKING:
    from gerrychain import Graph

    from geogrid.redraw.units import Units

#: Added to a spanning-tree edge's random weight by the share of it along a road (0–1): a weight
#: of 1 dominates the random part, so road edges join the tree last and cuts prefer them.
ROAD_BIAS = 1.0
#: Added when an edge joins two different compounds (小区), so a compound tends to stay whole.
COMPOUND_BIAS = 0.5
#: Key prefix of grids a proposal creates; codes are only allocated on apply.
NEW_KEY = "new-"

_SEED_SHARE = 0.5  # share of the time a fresh proposal may spend finding its first plan
_TREE_ATTEMPTS = 1000  # spanning trees per cut before a recursive partition gives up
_RECOM_ATTEMPTS = 8  # spanning trees per ReCom step before trying another pair


@dataclass(frozen=True)
class Proposal:
    """An automatic proposal: every unit's grid key and how well the grids fit.

    ``grids``, ``in_band`` and ``contiguous`` count every grid, locked and exclusive ones
    included; exclusive grids count as in band (they are exempt). ``kept_share`` is the share
    of the weight (of units count when the weight is all zero) that stays in its current grid,
    ``None`` when there is no current grid to compare with. ``suggested_grids`` is the range of
    grid counts the band allows: (ceil(T/MAX), floor(T/MIN)) over the free units, plus the
    locked and exclusive grids.

    Examples
    --------
    >>> p = Proposal({"u1": "G1"}, grids=1, kept_share=1.0, in_band=1, contiguous=1,
    ...              seconds=0.01, seed=0, suggested_grids=(1, 1))
    >>> p.in_band == p.grids
    True
    """

    assignment: dict[str, str]
    grids: int
    kept_share: float | None
    in_band: int
    contiguous: int
    seconds: float
    seed: int
    suggested_grids: tuple[int, int]


class InfeasibleBandError(InputError):
    """No partition can put every grid in band; the message says why, with the numbers.

    Examples
    --------
    >>> issubclass(InfeasibleBandError, InputError)
    True
    """


def propose(
    units: Units,
    *,
    weight: str = "households",
    band: tuple[float, float] = (300, 500),
    keep_current: bool = False,
    seed: int = 0,
    locked: Iterable[str] = (),
    exclusive: Iterable[str] = (),
    current: Mapping[str, str] | None = None,
    time_limit_s: float = 5.0,
) -> Proposal:
    """Propose grids of ``units`` whose ``weight`` is within ``band``, each contiguous.

    ``current`` (unit code -> grid key, e.g. a draft's assignment) replaces the units' grids in
    the base hierarchy; ``locked`` and ``exclusive`` name grids of it that must not change.
    ``keep_current`` repairs the current grids instead of drawing new ones. Kept grids keep
    their code as key (a grid keeps it when it holds most of that grid's old weight); the others
    are "new-1", "new-2", …

    Raises :class:`InfeasibleBandError` when no plan can meet the band (the total does not fit
    any count of grids, one unit is heavier than the maximum, an island — a component of the
    free units, bridges included — is lighter than the minimum), and
    :class:`~geogrid.errors.InputError` naming the field for a bad ``band``, ``current``,
    ``locked``, ``exclusive`` or ``time_limit_s``. When ``time_limit_s`` runs out first, the
    best plan found so far comes back and ``in_band``/``contiguous`` say how far it got.

    Examples
    --------
    >>> from geogrid.hierarchy import Hierarchy
    >>> from geogrid.redraw.units import units_of
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> units = units_of(h, "grid", "330399001011")
    >>> p = propose(units, band=(300, 500), keep_current=True, time_limit_s=1)
    >>> p.in_band == p.contiguous == p.grids, p.kept_share
    (True, 1.0)
    >>> p = propose(units, band=(300, 400), seed=1, time_limit_s=1)
    >>> p.in_band == p.contiguous == p.grids, p.suggested_grids
    (True, (5, 5))
    """
    return _propose_on_graph(
        units.graph(weight),
        weight=weight,
        band=band,
        keep_current=keep_current,
        seed=seed,
        locked=locked,
        exclusive=exclusive,
        current=current,
        time_limit_s=time_limit_s,
    )


def _propose_on_graph(
    graph: nx.Graph,
    *,
    weight: str = "households",
    band: tuple[float, float] = (300, 500),
    keep_current: bool = False,
    seed: int = 0,
    locked: Iterable[str] = (),
    exclusive: Iterable[str] = (),
    current: Mapping[str, str] | None = None,
    time_limit_s: float = 5.0,
) -> Proposal:
    """:func:`propose` on a unit graph (nodes 0..n-1 with code, weight, current, compound;
    edges with length_m, road_m, bridge), so tests can use any graph.

    >>> g = nx.path_graph(4)
    >>> for n in g:
    ...     g.nodes[n].update(code=f"u{n}", weight=100.0, current="A" if n < 2 else "B")
    >>> _propose_on_graph(g, band=(150, 250), keep_current=True).assignment
    {'u0': 'A', 'u1': 'A', 'u2': 'B', 'u3': 'B'}
    """
    started = time.perf_counter()
    if not (isinstance(time_limit_s, int | float) and time_limit_s > 0):
        raise InputError(f"time_limit_s: {time_limit_s!r} is not a positive number of seconds")
    problem = _problem(graph, weight, band, current, locked, exclusive)
    if keep_current and not problem.has_current:
        raise InputError("current: keep_current needs the units' current grids, and none is set")
    comps = _free_components(problem)
    _check_feasible(problem, comps)
    rng = random.Random(seed)
    deadline = started + time_limit_s
    labels = np.full(len(problem.codes), -1, dtype=np.int64)
    for nodes in comps:
        comp = _Component(problem, nodes, rng, deadline)
        local = _repair_mode(comp, problem) if keep_current else _fresh_mode(comp)
        labels[nodes] = np.asarray(local) + labels.max() + 1
    keys = _keys(problem, labels)
    return _summary(problem, keys, seed, started)


# ---------------------------------------------------------------- input and feasibility


@dataclass
class _Problem:
    """The unit graph as arrays, with the band and the grids that must not change."""

    codes: list[str]
    w: np.ndarray  # weight per unit
    old: list[str]  # current grid key per unit ("" when none)
    fixed: np.ndarray  # bool: unit of a locked or exclusive grid
    exclusive: set[str]
    adj: list[list[int]]  # neighbours per unit (bridges included), sorted
    edges: list[tuple[int, int, float, float]]  # a, b, non-road length, tree bias
    lo: float
    hi: float
    weight: str
    has_current: bool


def _problem(
    graph: nx.Graph,
    weight: str,
    band: tuple[float, float],
    current: Mapping[str, str] | None,
    locked: Iterable[str],
    exclusive: Iterable[str],
) -> _Problem:
    lo, hi = _band(band)
    n = graph.number_of_nodes()
    if sorted(graph.nodes) != list(range(n)):
        raise InputError("graph: nodes must be 0..n-1")
    nodes = [graph.nodes[i] for i in range(n)]
    codes = [str(d.get("code", i)) for i, d in enumerate(nodes)]
    w = np.array([float(d.get("weight", 0.0)) for d in nodes], dtype=float)
    if n and (not np.isfinite(w).all() or (w < 0).any()):
        bad = codes[int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])]
        raise InputError(f"{weight}: unit {bad} has no usable value (missing or negative)")
    old = _current_codes(codes, nodes, current)
    locked, exclusive = _grid_names(old, locked, "locked"), _grid_names(old, exclusive, "exclusive")
    fixed = np.array([g in locked or g in exclusive for g in old], dtype=bool)
    compound = [d.get("compound") for d in nodes]
    adj: list[list[int]] = [sorted(graph.adj[i]) for i in range(n)]
    edges = [_edge(a, b, d, compound) for a, b, d in sorted(_sorted_edges(graph))]
    return _Problem(codes, w, old, fixed, exclusive, adj, edges, lo, hi, weight, any(old))


def _sorted_edges(graph: nx.Graph) -> Iterator[tuple[int, int, dict]]:
    for a, b, data in graph.edges(data=True):
        yield (a, b, data) if a < b else (b, a, data)


def _edge(a: int, b: int, data: dict, compound: list) -> tuple[int, int, float, float]:
    """An edge's cost as a boundary (its length not along a road) and its spanning-tree bias."""
    length = float(data.get("length_m", 0.0) or 0.0)
    road = min(float(data.get("road_m", 0.0) or 0.0), length)
    road_share = road / length if length > 0 else 1.0  # bridges cost nothing to cut
    crosses = compound[a] is not None and compound[a] != compound[b]
    return a, b, length - road, ROAD_BIAS * road_share + COMPOUND_BIAS * crosses


def _band(band: tuple[float, float]) -> tuple[float, float]:
    """The band as two floats; InputError naming ``band`` when it is not (min, max), min ≤ max.

    >>> _band((300, 500))
    (300.0, 500.0)
    >>> _band((500, 300))
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: band: minimum 500 is above maximum 300 (band is (min, max))
    """
    try:
        lo, hi = (float(x) for x in band)
    except (TypeError, ValueError):
        raise InputError(f"band: {band!r} is not a pair of numbers (min, max)") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or hi <= 0:
        raise InputError(f"band: {band!r} must be finite, min ≥ 0 and max > 0")
    if lo > hi:
        raise InputError(f"band: minimum {lo:g} is above maximum {hi:g} (band is (min, max))")
    return lo, hi


def _current_codes(
    codes: list[str], nodes: list[dict], current: Mapping[str, str] | None
) -> list[str]:
    """Each unit's current grid key: from ``current`` when given, else the node's own."""
    if current is None:
        return [str(d.get("current") or "") for d in nodes]
    unknown = sorted(set(current) - set(codes))
    if unknown:
        raise InputError(f"current: unit {unknown[0]} is not one of the units redrawn")
    missing = [c for c in codes if c not in current]
    if missing:
        raise InputError(f"current: unit {missing[0]} has no grid ({len(missing)} units missing)")
    return [str(current[c] or "") for c in codes]


def _grid_names(old: list[str], names: Iterable[str], what: str) -> set[str]:
    names = {names} if isinstance(names, str) else set(names)
    unknown = sorted(names - set(old))
    if unknown:
        raise InputError(f"{what}: {unknown[0]} is not a current grid of these units")
    return names


def _free_components(problem: _Problem) -> list[list[int]]:
    """Components of the units that are free to move (bridges count as edges)."""
    free = ~problem.fixed
    seen = np.zeros(len(free), dtype=bool)
    comps = []
    for start in np.flatnonzero(free):
        if seen[start]:
            continue
        comp = _reach(start, lambda u: free[u], problem.adj)
        seen[comp] = True
        comps.append(sorted(comp))
    return comps


def _reach(start: int, inside: Callable[[int], bool], adj: list[list[int]]) -> list[int]:
    """Nodes reachable from ``start`` through nodes for which ``inside`` holds."""
    found, todo = {start}, [start]
    while todo:
        for v in adj[todo.pop()]:
            if v not in found and inside(v):
                found.add(v)
                todo.append(v)
    return list(found)


def _count_range(total: float, lo: float, hi: float, units: int) -> tuple[int, int]:
    """Fewest and most grids of weight lo–hi that ``total`` can make (≤ one per unit).

    >>> _count_range(1000, 300, 500, 30), _count_range(520, 300, 500, 30)
    ((2, 3), (2, 1))
    """
    most = units if lo <= 0 else min(units, math.floor(total / lo + 1e-9))
    fewest = max(1, math.ceil(total / hi - 1e-9))
    return fewest, most


def _check_feasible(problem: _Problem, comps: list[list[int]]) -> None:
    free = np.flatnonzero(~problem.fixed)
    if not len(free):
        return
    name, lo, hi = problem.weight, problem.lo, problem.hi
    heavy = free[problem.w[free] > hi]
    if len(heavy):
        unit, value = problem.codes[heavy[0]], problem.w[heavy[0]]
        raise InfeasibleBandError(
            f"band: unit {unit} alone has {name} {value:g}, more than the band maximum {hi:g}, "
            f"so no grid holding it can be in band "
            f"(单元 {unit} 的 {name} 为 {value:g}，超过上限 {hi:g})"
        )
    total = float(problem.w[free].sum())
    fewest, most = _count_range(total, lo, hi, len(free))
    if fewest > most:
        raise InfeasibleBandError(
            f"band: {name} total {total:g} cannot be cut into grids of {lo:g}–{hi:g}: that needs "
            f"at least ceil({total:g}/{hi:g}) = {fewest} grids and allows at most "
            f"floor({total:g}/{lo:g}) = {most} (合计 {total:g} 无法划分为每格 {lo:g}–{hi:g} 的网格)"
        )
    for nodes in comps:
        _check_island(problem, nodes)


def _check_island(problem: _Problem, nodes: list[int]) -> None:
    total = float(problem.w[nodes].sum())
    fewest, most = _count_range(total, problem.lo, problem.hi, len(nodes))
    if fewest <= most:
        return
    shown = ", ".join(problem.codes[u] for u in nodes[:5]) + (" …" if len(nodes) > 5 else "")
    why = "no neighbour outside it" + (
        " once locked and exclusive grids are set aside" if problem.fixed.any() else ""
    )
    limit = (
        f"less than the band minimum {problem.lo:g}"
        if total < problem.lo
        else (f"which cannot be cut into grids of {problem.lo:g}–{problem.hi:g}")
    )
    raise InfeasibleBandError(
        f"band: units {shown} form an island ({why}) with {problem.weight} {total:g}, {limit} "
        f"(孤立片区 {len(nodes)} 个单元合计 {total:g}，"
        f"无法构成 {problem.lo:g}–{problem.hi:g} 的网格)"
    )


# ---------------------------------------------------------------- one component


class _OutOfTimeError(Exception):
    """Raised inside a spanning-tree draw when the time limit has passed."""


class _Component:
    """One connected set of free units, with local ids 0..m-1 and its GerryChain graph."""

    def __init__(
        self, problem: _Problem, nodes: list[int], rng: random.Random, deadline: float
    ) -> None:
        local = {u: i for i, u in enumerate(nodes)}
        self.nodes = nodes
        self.w = [float(problem.w[u]) for u in nodes]
        self.adj = [[local[v] for v in problem.adj[u] if v in local] for u in nodes]
        self.cost: dict[tuple[int, int], float] = {}
        bias: dict[tuple[int, int], float] = {}
        for a, b, cost, tree_bias in problem.edges:
            if a in local and b in local:
                self.cost[local[a], local[b]] = cost
                bias[local[a], local[b]] = tree_bias
        self.lo, self.hi = problem.lo, problem.hi
        self.rng, self.deadline = rng, deadline
        self.graph = _gerrychain_graph(self.w, bias)

    def out_of_time(self) -> bool:
        return time.perf_counter() > self.deadline

    def in_band(self, weight: float) -> bool:
        return self.lo - 1e-9 <= weight <= self.hi + 1e-9

    def edge_cost(self, a: int, b: int) -> float:
        return self.cost[(a, b) if a < b else (b, a)]

    def count_range(self, total: float, units: int) -> tuple[int, int]:
        return _count_range(total, self.lo, self.hi, units)

    def subgraph(self, nodes: Iterable[int]) -> Graph:
        return self.graph.subgraph(sorted(nodes))


def _gerrychain_graph(w: list[float], bias: dict[tuple[int, int], float]) -> Graph:
    """A rustworkx-backed GerryChain graph whose node ids are the local ids 0..m-1."""
    from gerrychain import Graph

    g = nx.Graph()
    g.add_nodes_from((i, {"w": x}) for i, x in enumerate(w))
    g.add_edges_from((a, b, {"bias": x}) for (a, b), x in sorted(bias.items()))
    graph = Graph.from_networkx(g).convert_from_nx_to_rx()
    if any(graph.get_nx_to_rx_node_id_map()[i] != i for i in range(len(w))):
        raise RuntimeError("GerryChain renumbered the unit graph")  # the ids below rely on it
    return graph


def _road_tree(
    graph: Graph, region_surcharge: object = None, *, rng: random.Random, deadline: float = math.inf
) -> Graph:
    """A random minimum spanning tree whose road and compound-crossing edges come last.

    GerryChain's cut choice then takes the balanced tree edge with the highest weight, so a
    cut falls on a road when one is balanced. Raises _OutOfTimeError past ``deadline``.
    """
    if time.perf_counter() > deadline:
        raise _OutOfTimeError
    for edge_id in sorted(graph.edge_indices):
        data = graph.edge_data(edge_id)
        data["random_weight"] = rng.random() + data["bias"]
    return graph.minimum_spanning_tree_from_edge_weight(edge_weight_attribute_name="random_weight")


def _tree_cut(
    comp: _Component, nodes: Iterable[int], parts: int, attempts: int, deadline: float | None = None
) -> list[list[int]] | None:
    """Cut ``nodes`` (connected) into ``parts`` contiguous pieces in band, as lists of local ids.

    The pieces aim at an equal share, with a tolerance that keeps every piece inside the band
    (GerryChain's epsilon is symmetric around its target; the band need not be). None when no
    cut is found within ``attempts`` trees per cut.
    """
    nodes = sorted(nodes)
    total = sum(comp.w[u] for u in nodes)
    if parts == 1:
        return [nodes] if comp.in_band(total) else None
    ideal = total / parts
    slack = min(ideal - comp.lo, comp.hi - ideal)
    if slack < 0 or ideal <= 0:
        return None
    flips = _cut_flips(comp, nodes, parts, ideal, slack, attempts, deadline)
    if flips is None:
        return None
    pieces: list[list[int]] = [[] for _ in range(parts)]
    for node, part in sorted(flips.items()):
        pieces[part].append(int(node))
    ok = all(comp.in_band(sum(comp.w[u] for u in p)) for p in pieces)
    return pieces if ok else None


def _cut_flips(
    comp: _Component,
    nodes: Collection[int],
    parts: int,
    ideal: float,
    slack: float,
    attempts: int,
    deadline: float | None = None,
) -> dict[int, int] | None:
    """GerryChain's ``recursive_tree_part`` on ``nodes``: local id -> piece 0..parts-1.

    Every piece within ``ideal ± slack``; None when a cut needs more than ``attempts``
    spanning trees or ``deadline`` (default: the component's) passes.
    """
    from gerrychain.partition import recursive_tree_part
    from gerrychain.tree import PopulationBalanceError, bipartition_tree

    deadline = deadline or comp.deadline
    cut = partial(
        bipartition_tree,
        spanning_tree_fn=_road_tree,
        max_attempts=attempts,
        spanning_tree_fn_kwargs={"deadline": deadline},
    )
    epsilon = slack * (1 - 1e-9) / ideal  # a hair inside, so rounding cannot leave the band
    sub = comp.graph if len(nodes) == len(comp.w) else comp.subgraph(nodes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "failed to find a balanced cut" is our cue to retry
            flips = recursive_tree_part(
                sub, list(range(parts)), ideal, "w", epsilon, bipartition_tree_fn=cut, rng=comp.rng
            )
    except (RuntimeError, PopulationBalanceError, _OutOfTimeError):
        return None
    return sub.translate_subgraph_node_ids_for_flips(flips)


# ---------------------------------------------------------------- fresh mode


def _fresh_mode(comp: _Component) -> list[int]:
    labels = _fresh_seed(comp)
    if labels is None:  # no clean cut in time: grow one from a single grid, as a repair would
        labels = _repair(comp, [0] * len(comp.w))
    else:
        _improve_roads(comp, labels)
    return labels


def _fresh_seed(comp: _Component) -> list[int] | None:
    """A first plan: counts nearest the band's middle first, new random trees until one fits."""
    total = sum(comp.w)
    fewest, most = comp.count_range(total, len(comp.w))
    middle = (comp.lo + comp.hi) / 2
    counts = sorted(range(fewest, most + 1), key=lambda k: (abs(total / k - middle), k))
    stop = time.perf_counter() + _SEED_SHARE * (comp.deadline - time.perf_counter())
    while time.perf_counter() < stop:
        for k in counts[:2]:
            pieces = _tree_cut(comp, range(len(comp.w)), k, _TREE_ATTEMPTS, stop)
            if pieces is not None:
                return _labels_of(pieces, len(comp.w))
    return None


def _labels_of(pieces: list[list[int]], size: int) -> list[int]:
    labels = [-1] * size
    for part, piece in enumerate(pieces):
        for u in piece:
            labels[u] = part
    return labels


def _improve_roads(comp: _Component, labels: list[int]) -> None:
    """ReCom hill climb: recombine two neighbouring grids when it shortens boundaries off roads.

    A pair is drawn through a cut edge, weighted by its length off roads, so effort goes where
    boundaries leave the roads; the merged pair is cut again in band by a road-biased tree and
    the new cut kept unless it is longer off roads. Stops after ``patience`` steps without a
    strict improvement, after ``50 × grids`` steps, or at the time limit.
    """
    parts = _members(labels)
    patience, steps = max(100, 4 * len(parts)), 50 * len(parts)
    stale = 0
    for _ in range(steps):
        if stale >= patience or comp.out_of_time():
            return
        cut = [(e, c) for e, c in comp.cost.items() if labels[e[0]] != labels[e[1]] and c > 0]
        if not cut:
            return
        (a, b), _ = comp.rng.choices(cut, weights=[c for _, c in cut])[0]
        gain = _recombine(comp, labels, parts, labels[a], labels[b])
        stale = 0 if gain > 1e-9 else stale + 1


def _members(labels: list[int]) -> dict[int, set[int]]:
    parts: dict[int, set[int]] = {}
    for u, part in enumerate(labels):
        parts.setdefault(part, set()).add(u)
    return parts


def _recombine(
    comp: _Component, labels: list[int], parts: dict[int, set[int]], first: int, second: int
) -> float:
    """Merge two grids and cut them again in band; keep the cut unless it is longer off roads.

    Returns the gain in boundary length off roads (≥ 0 when kept, -1 when nothing changed).
    """
    merged = parts[first] | parts[second]
    total = sum(comp.w[u] for u in merged)
    middle, half = (comp.lo + comp.hi) / 2, (comp.hi - comp.lo) / 2
    if not (2 * comp.lo - 1e-9 <= total <= 2 * comp.hi + 1e-9):
        return -1.0
    flips = _cut_flips(comp, merged, 2, middle, half, _RECOM_ATTEMPTS)
    if flips is None:
        return -1.0
    side = {u for u, part in flips.items() if part == 0}
    if not (
        comp.in_band(sum(comp.w[u] for u in side))
        and comp.in_band(total - sum(comp.w[u] for u in side))
    ):
        return -1.0
    before = _inner_cut(comp, merged, lambda u: u in parts[first])
    after = _inner_cut(comp, merged, lambda u: u in side)
    if after > before + 1e-9:
        return -1.0
    if len(side & parts[first]) < len(side & parts[second]):
        side = merged - side  # the piece most like the old first grid keeps its label
    parts[first], parts[second] = set(side), merged - side
    for u in merged:
        labels[u] = first if u in side else second
    return before - after


def _inner_cut(comp: _Component, nodes: set[int], side: Callable[[int], bool]) -> float:
    """Boundary length off roads between ``side`` and the rest of ``nodes``."""
    return sum(
        comp.edge_cost(u, v)
        for u in nodes
        if side(u)
        for v in comp.adj[u]
        if v in nodes and not side(v)
    )


# ---------------------------------------------------------------- keep-current mode


def _repair_mode(comp: _Component, problem: _Problem) -> list[int]:
    homes = sorted({problem.old[u] for u in comp.nodes})
    home_id = {g: i for i, g in enumerate(homes)}
    home = [home_id[problem.old[u]] if problem.old[u] else -1 for u in comp.nodes]
    labels = _repair(comp, home)
    if _violations(comp, labels) and not comp.out_of_time():
        fresh = _fresh_seed(comp)  # a clean plan beats a repair that does not fit
        if fresh is not None and _violations(comp, fresh) < _violations(comp, labels):
            return fresh
    return labels


def _violations(comp: _Component, labels: list[int]) -> int:
    parts = _members(labels)
    return sum(not comp.in_band(sum(comp.w[u] for u in p)) for p in parts.values())


class _Parts:
    """A plan under repair: labels, members and weight per grid, and the units' home grids."""

    def __init__(self, comp: _Component, labels: list[int], home: list[int]) -> None:
        self.comp, self.labels, self.home = comp, list(labels), home
        self.members = _members(self.labels)
        self.weight = {p: sum(comp.w[u] for u in m) for p, m in self.members.items()}
        self.next_id = max([*self.members, *home, -1]) + 1

    def restore(self, labels: list[int]) -> None:
        next_id = self.next_id
        self.__init__(self.comp, labels, self.home)
        self.next_id = max(self.next_id, next_id)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def move(self, u: int, part: int) -> None:
        old = self.labels[u]
        self.members[old].discard(u)
        self.weight[old] -= self.comp.w[u]
        if not self.members[old]:
            del self.members[old], self.weight[old]
        self.labels[u] = part
        self.members.setdefault(part, set()).add(u)
        self.weight[part] = self.weight.get(part, 0.0) + self.comp.w[u]

    def assign(self, pieces: list[list[int]], ids: list[int]) -> None:
        for piece, part in zip(pieces, ids, strict=True):
            for u in piece:
                self.move(u, part)

    def neighbours(self, part: int) -> list[int]:
        found = {self.labels[v] for u in self.members[part] for v in self.comp.adj[u]}
        return sorted(found - {part})

    def excess(self, part: int) -> float:
        """How far the grid is out of band: > 0 above the maximum, < 0 below the minimum."""
        w = self.weight[part]
        return w - self.comp.hi if w > self.comp.hi else min(0.0, w - self.comp.lo)

    def kept(self, part: int, nodes: Iterable[int]) -> float:
        return sum(self.comp.w[u] for u in nodes if self.home[u] == part)


def _repair(comp: _Component, home: list[int]) -> list[int]:
    """Bring every grid into band and in one piece, moving as little weight as it can."""
    parts = _Parts(comp, _split_pieces(comp, home), home)
    _split_heavy(parts)
    _fix_count(parts)
    _balance(parts)
    _recombine_violators(parts)
    return parts.labels


def _split_pieces(comp: _Component, home: list[int]) -> list[int]:
    """Home grids cut into connected pieces: the heaviest piece keeps the home id."""
    labels, seen = list(home), [False] * len(home)
    next_id = max([*home, -1]) + 1
    pieces_of: dict[int, list[list[int]]] = {}
    for start in range(len(home)):
        if not seen[start]:
            piece = sorted(_reach(start, lambda v, h=home[start]: home[v] == h, comp.adj))
            for u in piece:
                seen[u] = True
            pieces_of.setdefault(home[start], []).append(piece)
    for h, pieces in sorted(pieces_of.items()):
        pieces.sort(key=lambda p: (-sum(comp.w[u] for u in p), p[0]))
        for i, piece in enumerate(pieces):
            part = h if i == 0 and h >= 0 else next_id
            next_id += part == next_id
            for u in piece:
                labels[u] = part
    return labels


def _split_heavy(parts: _Parts) -> None:
    """Cut each grid that holds about two grids' weight or more into grids in band.

    The count is the weight over the band's middle, rounded: a grid a little above the band
    keeps its units and passes the excess to neighbours instead (see :func:`_balance`).
    """
    comp = parts.comp
    middle = (comp.lo + comp.hi) / 2
    for part in sorted(parts.members):
        weight = parts.weight[part]
        if weight <= comp.hi or comp.out_of_time():
            continue
        fewest, most = comp.count_range(weight, len(parts.members[part]))
        k = min(max(round(weight / middle), fewest), most)
        pieces = _best_cut(parts, part, parts.members[part], k) if k >= 2 else None
        if pieces is not None:
            _settle(parts, pieces, [part])


def _best_cut(
    parts: _Parts, part: int, nodes: set[int], k: int, tries: int = 3
) -> list[list[int]] | None:
    """Of a few tree cuts of ``nodes`` into ``k`` in band, the one keeping most at home."""
    best, best_kept = None, -1.0
    for _ in range(tries):
        pieces = _tree_cut(parts.comp, nodes, k, _TREE_ATTEMPTS // 10)
        if pieces is None:
            continue
        kept = max(parts.kept(part, p) for p in pieces)
        if kept > best_kept:
            best, best_kept = pieces, kept
    return best


def _settle(parts: _Parts, pieces: list[list[int]], olds: list[int]) -> None:
    """Give ``pieces`` the ids of ``olds``, best overlap at home first; new ids to the rest."""
    pairs = sorted(
        (
            (parts.kept(old, piece), -i, -j)
            for i, piece in enumerate(pieces)
            for j, old in enumerate(olds)
        ),
        reverse=True,
    )
    ids: list[int | None] = [None] * len(pieces)
    used: set[int] = set()
    for _, i, j in pairs:
        if ids[-i] is None and -j not in used:
            ids[-i] = olds[-j]
            used.add(-j)
    parts.assign(pieces, [parts.new_id() if i is None else i for i in ids])


def _fix_count(parts: _Parts) -> None:
    """Dissolve grids or split the heaviest until the count fits the band.

    A grid below half the minimum is dissolved into its neighbours while the count allows:
    filling it would move more weight than it holds.
    """
    comp = parts.comp
    fewest, most = comp.count_range(sum(comp.w), len(comp.w))
    while len(parts.members) > fewest and not comp.out_of_time():
        lightest = min(parts.members, key=lambda p: (parts.weight[p], p))
        if len(parts.members) <= most and parts.weight[lightest] >= comp.lo / 2:
            break
        _dissolve(parts, lightest)
    while len(parts.members) < fewest and not comp.out_of_time():
        heaviest = max(parts.members, key=lambda p: (parts.weight[p], -p))
        if not _split_in_two(parts, heaviest):
            return


def _dissolve(parts: _Parts, part: int) -> None:
    """Hand a grid's units to its neighbours, each unit to the lightest grid it touches."""
    left = set(parts.members[part])
    while left:
        moved = False
        for u in sorted(left):
            near = {parts.labels[v] for v in parts.comp.adj[u] if v not in left}
            if near:
                parts.move(u, min(near, key=lambda p: (parts.weight[p], p)))
                left.discard(u)
                moved = True
        if not moved:  # the whole component is this grid: nothing to dissolve into
            return


def _split_in_two(parts: _Parts, part: int) -> bool:
    comp = parts.comp
    nodes = parts.members[part]
    if len(nodes) < 2:
        return False
    total = parts.weight[part]
    flips = _cut_flips(comp, nodes, 2, total / 2, total / 2 * 0.9, _TREE_ATTEMPTS // 10)
    if flips is None:
        return False
    pieces = [sorted(u for u, p in flips.items() if p == side) for side in (0, 1)]
    _settle(parts, pieces, [part])
    return True


def _balance(parts: _Parts) -> None:
    """Move units along chains of grids while that brings the grids closer to the band.

    An over-full grid pushes its excess towards the nearest grid with room, an under-full grid
    pulls from the nearest grid with weight to spare; every grid on the way passes the amount
    on. Only border units move, and the giver stays in one piece. A chain is kept only when it
    lowers the total distance to the band, so the search always ends.
    """
    improved = True
    while improved and not parts.comp.out_of_time():
        improved = False
        for part in sorted(parts.members, key=lambda p: (-abs(parts.excess(p)), p)):
            if part not in parts.members or not parts.excess(part):
                continue
            before, saved = _badness(parts), list(parts.labels)
            _relieve(parts, part)
            if _badness(parts) < before - 1e-9:
                improved = True
            else:
                parts.restore(saved)


def _badness(parts: _Parts) -> float:
    return sum(abs(parts.excess(p)) for p in parts.members)


def _relieve(parts: _Parts, part: int) -> None:
    """One chain of moves for an out-of-band grid."""
    over = parts.excess(part) > 0
    path = _chain(parts, part, over)
    for i in range(len(path or ()) - 1):
        if over:  # each grid passes its excess on to the next
            giver, taker = path[i], path[i + 1]
            need, floor = parts.weight[giver] - parts.comp.hi, parts.comp.lo
        else:  # each grid takes its shortfall from the next one
            giver, taker = path[i + 1], path[i]
            need, floor = parts.comp.lo - parts.weight[taker], 0.0
        if need <= 1e-9 or _transfer(parts, giver, taker, need, floor) < need - 1e-9:
            return


def _chain(parts: _Parts, start: int, over: bool) -> list[int] | None:
    """Shortest chain of neighbouring grids from ``start`` to one with room (or spare)."""
    comp = parts.comp

    def spare(p: int) -> float:
        return comp.hi - parts.weight[p] if over else parts.weight[p] - comp.lo

    previous = {start: start}
    level = [start]
    while level:
        nxt = []
        for p in level:
            for q in parts.neighbours(p):
                if q not in previous:
                    previous[q] = p
                    nxt.append(q)
        helpers = [q for q in nxt if spare(q) > 1e-9]
        if helpers:
            path = [max(helpers, key=lambda q: (spare(q), -q))]
            while path[-1] != start:
                path.append(previous[path[-1]])
            return path[::-1]
        level = nxt
    return None


def _transfer(parts: _Parts, giver: int, taker: int, need: float, floor: float) -> float:
    """Move border units of ``giver`` to ``taker`` until ``need`` moved; returns what moved.

    ``giver`` stays in one piece and at least ``floor``. First the units that leave the giver
    in band, then those that cover the need, then units going home, then the closest fit.
    """
    comp, moved = parts.comp, 0.0
    while moved < need - 1e-9 and len(parts.members[giver]) > 1:
        rest, left = need - moved, parts.weight[giver]
        border = [
            u
            for u in sorted(parts.members[giver])
            if left - comp.w[u] >= floor - 1e-9
            and any(parts.labels[v] == taker for v in comp.adj[u])
        ]
        border.sort(
            key=lambda u: (
                left - comp.w[u] < comp.lo - 1e-9,
                comp.w[u] < rest - 1e-9,
                _home_cost(parts, u, giver, taker),
                abs(comp.w[u] - rest),
            )
        )
        unit = next((u for u in border if _stays_whole(parts, giver, u)), None)
        if unit is None:
            break
        parts.move(unit, taker)
        moved += comp.w[unit]
    return moved


def _home_cost(parts: _Parts, u: int, giver: int, taker: int) -> int:
    return (parts.home[u] == giver) - (parts.home[u] == taker)


def _stays_whole(parts: _Parts, part: int, u: int) -> bool:
    rest = parts.members[part] - {u}
    start = next(iter(rest))
    return len(_reach(start, lambda v: v in rest, parts.comp.adj)) == len(rest)


def _recombine_violators(parts: _Parts) -> None:
    """Merge each grid still out of band with one neighbour, else two, and cut them again."""
    comp = parts.comp
    for _ in range(2 * len(parts.members) + 5):
        bad = [p for p in sorted(parts.members) if parts.excess(p)]
        if not bad or comp.out_of_time():
            return
        if not any(_recombine_group(parts, p, size) for size in (1, 2) for p in bad):
            return


def _recombine_group(parts: _Parts, part: int, size: int) -> bool:
    """Recombine ``part`` with ``size`` of its neighbours into grids in band, if any cut fits."""
    comp = parts.comp
    fewest, most = comp.count_range(sum(comp.w), len(comp.w))
    near = sorted(parts.neighbours(part), key=lambda q: (parts.excess(q) == 0, q))
    for others in combinations(near, size):
        group = [part, *others]
        merged = set().union(*(parts.members[p] for p in group))
        low, high = comp.count_range(sum(parts.weight[p] for p in group), len(merged))
        count = len(parts.members) - len(group)
        choices = [k for k in range(low, high + 1) if fewest <= count + k <= most]
        for k in sorted(choices, key=lambda k: (abs(k - len(group)), k)):
            pieces = _best_cut(parts, part, merged, k)
            if pieces is not None:
                _settle(parts, pieces, group)
                return True
        if comp.out_of_time():
            break
    return False


# ---------------------------------------------------------------- keys and summary


def _keys(problem: _Problem, labels: np.ndarray) -> list[str]:
    """Grid keys: a part holding most of an old grid's weight keeps its code; others new-N.

    New keys are numbered in unit order and skip keys still in use (a draft's own "new-1"
    may be locked or kept).
    """
    keys = [problem.old[u] if problem.fixed[u] else "" for u in range(len(problem.codes))]
    names = _claims(problem, labels)
    taken = set(names.values()) | {k for k in keys if k}
    number = 0
    for u in range(len(labels)):
        part = int(labels[u])
        if part >= 0 and part not in names:
            number += 1
            while f"{NEW_KEY}{number}" in taken:
                number += 1
            names[part] = f"{NEW_KEY}{number}"
        if part >= 0:
            keys[u] = names[part]
    return keys


def _claims(problem: _Problem, labels: np.ndarray) -> dict[int, str]:
    """Part -> old grid code it holds the strict majority of (by weight, by count if none)."""
    totals: dict[str, list[float]] = {}
    overlap: dict[tuple[str, int], list[float]] = {}
    for u, part in enumerate(labels):
        if part >= 0 and problem.old[u]:
            for cell in (
                totals.setdefault(problem.old[u], [0.0, 0]),
                overlap.setdefault((problem.old[u], int(part)), [0.0, 0]),
            ):
                cell[0] += problem.w[u]
                cell[1] += 1
    best: dict[int, tuple[list[float], str]] = {}
    for (code, part), share in sorted(overlap.items()):
        total = totals[code]
        majority = 2 * share[0] > total[0] if total[0] > 0 else 2 * share[1] > total[1]
        if majority and (part not in best or share > best[part][0]):
            best[part] = (share, code)
    return {part: code for part, (_, code) in best.items()}


def _summary(problem: _Problem, keys: list[str], seed: int, started: float) -> Proposal:
    grids: dict[str, list[int]] = {}
    for u, key in enumerate(keys):
        grids.setdefault(key, []).append(u)
    in_band = sum(
        key in problem.exclusive or problem.lo - 1e-9 <= problem.w[m].sum() <= problem.hi + 1e-9
        for key, m in grids.items()
    )
    whole = sum(_is_whole(problem, m) for m in grids.values())
    return Proposal(
        assignment=dict(zip(problem.codes, keys, strict=True)),
        grids=len(grids),
        kept_share=_kept_share(problem, keys),
        in_band=int(in_band),
        contiguous=whole,
        seconds=time.perf_counter() - started,
        seed=seed,
        suggested_grids=_suggested(problem),
    )


def _is_whole(problem: _Problem, members: list[int]) -> bool:
    inside = set(members)
    return len(_reach(members[0], lambda v: v in inside, problem.adj)) == len(inside)


def _kept_share(problem: _Problem, keys: list[str]) -> float | None:
    if not problem.has_current:
        return None
    stays = np.array([k == o and o != "" for k, o in zip(keys, problem.old, strict=True)])
    total = problem.w.sum()
    if total > 0:
        return float(problem.w[stays].sum() / total)
    return float(stays.mean()) if len(stays) else None


def _suggested(problem: _Problem) -> tuple[int, int]:
    free = ~problem.fixed
    fixed_grids = len({problem.old[u] for u in np.flatnonzero(problem.fixed)})
    if not free.any():
        return fixed_grids, fixed_grids
    fewest, most = _count_range(
        float(problem.w[free].sum()), problem.lo, problem.hi, int(free.sum())
    )
    return fewest + fixed_grids, most + fixed_grids
