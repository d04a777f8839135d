"""Compare two assignments of the same units to grids: a draft, a scenario or a generation.

An assignment maps unit codes to grid labels (draft keys such as "new-1", or grid
codes). :func:`compare` lines two of them up and tells

* which units changed grid, with their weight;
* per grid: units and weight totals (every column of the weight frame) in A and
  in B and their difference, plus the deltas of any metrics given per grid;
* for each grid of B, the grids of A it was made from: units and weight shared
  and their share of the B grid.

:func:`generation_assignment` reads the assignment of a stored generation (a
:class:`~geogrid.hierarchy.Hierarchy`), so that any two of draft, scenario and
generation compare. A redraw may renumber units; pass ``base=`` to express one
generation's units in another's codes (units are matched by location: a unit's
point on surface lies in exactly one unit of the other generation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geogrid.errors import InputError
from geogrid.hierarchy import Hierarchy, parents_by_location

COUNT = "count"


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` found.

    Attributes
    ----------
    units : DataFrame
        Units whose grid differs: ``unit, a, b, weight`` (the chosen weight), by unit.
    grids : DataFrame
        One row per grid label of A or B: ``grid, units_a, units_b, units_delta``,
        then ``<column>_a, <column>_b, <column>_delta`` for every weight column but
        ``count`` and every metric given.
    overlap : DataFrame
        ``b, a, units, weight, units_share, weight_share``: for each grid of B, each
        grid of A it shares units with; shares are of the B grid's units and weight.
    weight : str
        The weight column of ``units.weight`` and ``overlap.weight``.
    total_weight : float
        The chosen weight summed over all units.
    """

    units: pd.DataFrame
    grids: pd.DataFrame
    overlap: pd.DataFrame
    weight: str
    total_weight: float

    @property
    def only_a(self) -> list[str]:
        """Grids of A that B does not have (retired, when B is the newer)."""
        return sorted(self.grids.loc[self.grids["units_b"] == 0, "grid"])

    @property
    def only_b(self) -> list[str]:
        """Grids of B that A does not have (created, when B is the newer)."""
        return sorted(self.grids.loc[self.grids["units_a"] == 0, "grid"])

    @property
    def changed(self) -> list[str]:
        """Grids in both A and B whose units differ."""
        touched = set(self.units["a"]) | set(self.units["b"])
        both = (self.grids["units_a"] > 0) & (self.grids["units_b"] > 0)
        return sorted(set(self.grids.loc[both, "grid"]) & touched)

    def successors(self) -> dict[str, str]:
        """Each grid of A matched to at most one grid of B, the one that carries most of it.

        Pairs are taken greedily, largest shared weight first (then shared units,
        then codes), so a grid that was split continues as its largest part and a
        merged grid as the part that brought most.

        Examples
        --------
        >>> result = compare({"u1": "A", "u2": "A", "u3": "B"}, {"u1": "X", "u2": "Y", "u3": "Y"})
        >>> result.successors()
        {'A': 'X', 'B': 'Y'}
        """
        pairs = self.overlap.sort_values(["weight", "units", "a", "b"],
                                         ascending=[False, False, True, True])  # fmt: skip
        matched: dict[str, str] = {}
        for a, b in zip(pairs["a"], pairs["b"], strict=True):
            if a not in matched and b not in matched.values():
                matched[a] = b
        return dict(sorted(matched.items()))

    def regrouped(self) -> pd.DataFrame:
        """The rows of :attr:`units` that left their grid's successor (see :meth:`successors`).

        Units whose grid was only relabelled (a new code for the same or a slightly
        changed grid) are not among them: these are the moves a planner made.

        Examples
        --------
        >>> result = compare({"u1": "A", "u2": "A", "u3": "B"}, {"u1": "X", "u2": "Y", "u3": "Y"})
        >>> result.regrouped()["unit"].tolist()
        ['u2']
        """
        successor = self.successors()
        stayed = [successor.get(a) == b for a, b in zip(self.units["a"], self.units["b"],
                                                         strict=True)]  # fmt: skip
        return self.units[~np.array(stayed, dtype=bool)].reset_index(drop=True)

    def summary(self) -> dict[str, Any]:
        """Headline figures, JSON-ready.

        Examples
        --------
        >>> compare({"u1": "A", "u2": "A"}, {"u1": "A", "u2": "B"}).summary()["moved_units"]
        1
        """
        moved = float(self.units["weight"].sum())
        return {
            "units": int(self.grids["units_a"].sum()),
            "moved_units": len(self.units),
            "regrouped_units": len(self.regrouped()),
            "weight": self.weight,
            "moved_weight": moved,
            "moved_share": moved / self.total_weight if self.total_weight else 0.0,
            "grids_a": int((self.grids["units_a"] > 0).sum()),
            "grids_b": int((self.grids["units_b"] > 0).sum()),
            "only_a": self.only_a,
            "only_b": self.only_b,
            "changed": self.changed,
        }


def compare(
    a: Mapping[str, str],
    b: Mapping[str, str],
    weights: pd.DataFrame | None = None,
    *,
    weight: str = COUNT,
    metrics_a: Mapping[str, Mapping[str, float]] | None = None,
    metrics_b: Mapping[str, Mapping[str, float]] | None = None,
) -> Comparison:
    """Compare two assignments (unit code → grid label) of the same units.

    Parameters
    ----------
    a, b : mapping
        Unit code → grid key or code; both must hold the same units.
    weights : DataFrame, optional
        Indexed by unit code, numeric columns (e.g. ``Units.weights``: count,
        households, population). Without it every unit weighs 1 (``count``).
    weight : str
        The column of ``weights`` that units moved and overlaps are weighed by.
    metrics_a, metrics_b : mapping, optional
        Grid → {metric → value} for A and B (e.g. compactness); their deltas join
        the grid table.

    Examples
    --------
    >>> a = {"u1": "G1", "u2": "G1", "u3": "G2", "u4": "G2"}
    >>> b = {"u1": "G1", "u2": "new-1", "u3": "new-1", "u4": "G2"}
    >>> weights = pd.DataFrame({"households": [100, 50, 30, 20]}, index=["u1", "u2", "u3", "u4"])
    >>> result = compare(a, b, weights, weight="households")
    >>> result.units.values.tolist()
    [['u2', 'G1', 'new-1', 50.0], ['u3', 'G2', 'new-1', 30.0]]
    >>> result.grids[["grid", "units_a", "units_b", "households_delta"]].values.tolist()
    [['G1', 2, 1, -50.0], ['G2', 2, 1, -30.0], ['new-1', 0, 2, 80.0]]
    >>> result.overlap.query("b == 'new-1'")[["a", "weight_share"]].values.tolist()
    [['G1', 0.625], ['G2', 0.375]]
    """
    frame = _lined_up(a, b, _weights(weights, a))
    if weight not in frame.columns.drop(["a", "b"]):
        columns = ", ".join(frame.columns.drop(["a", "b"]))
        raise InputError(f"weight: {weight!r} is not a weight column; columns are {columns}")
    moved = frame[frame["a"] != frame["b"]]
    units = pd.DataFrame(
        {"unit": moved.index, "a": moved["a"], "b": moved["b"], "weight": moved[weight]}
    ).reset_index(drop=True)
    grids = _grid_table(frame, metrics_a or {}, metrics_b or {})
    return Comparison(units, grids, _overlap(frame, weight), weight, float(frame[weight].sum()))


def _weights(weights: pd.DataFrame | None, a: Mapping[str, str]) -> pd.DataFrame:
    if weights is None:
        weights = pd.DataFrame(index=pd.Index(list(a), dtype=object))
    weights = weights.copy()
    weights.index = weights.index.astype(str)
    if COUNT not in weights.columns:
        weights.insert(0, COUNT, 1.0)
    numeric = [c for c in weights.columns if pd.api.types.is_numeric_dtype(weights[c])]
    return weights[numeric].astype(float)


def _lined_up(a: Mapping[str, str], b: Mapping[str, str], weights: pd.DataFrame) -> pd.DataFrame:
    left = pd.Series({str(u): str(g) for u, g in a.items()}, dtype=object)
    right = pd.Series({str(u): str(g) for u, g in b.items()}, dtype=object)
    _same_units(set(left.index), set(right.index), "b", "a")
    _same_units(set(left.index), set(weights.index), "weights", "a", only_missing=True)
    index = left.index.sort_values()
    frame = pd.DataFrame({"a": left[index], "b": right[index]}, index=index)
    return frame.join(weights.loc[index])


def _same_units(
    reference: set[str], other: set[str], field: str, name: str, only_missing: bool = False
) -> None:
    missing, extra = sorted(reference - other), sorted(other - reference)
    problems = [f"lacks {_few(missing)} of {name}"] if missing else []
    if extra and not only_missing:
        problems.append(f"has {_few(extra)} that {name} does not")
    if problems:
        raise InputError(f"{field}: not the same units: it {' and '.join(problems)}")


def _few(codes: list[str], limit: int = 5) -> str:
    shown = ", ".join(codes[:limit]) + (" …" if len(codes) > limit else "")
    return f"{len(codes)} unit{'s' if len(codes) != 1 else ''} ({shown})"


def _grid_table(
    frame: pd.DataFrame,
    metrics_a: Mapping[str, Mapping[str, float]],
    metrics_b: Mapping[str, Mapping[str, float]],
) -> pd.DataFrame:
    columns = frame.columns.drop(["a", "b"])
    totals_a, totals_b = frame.groupby("a")[columns].sum(), frame.groupby("b")[columns].sum()
    grids = sorted(set(totals_a.index) | set(totals_b.index))
    totals_a = totals_a.reindex(grids, fill_value=0.0)
    totals_b = totals_b.reindex(grids, fill_value=0.0)
    table = pd.DataFrame({"grid": grids})
    table["units_a"] = totals_a[COUNT].to_numpy().astype(int)
    table["units_b"] = totals_b[COUNT].to_numpy().astype(int)
    table["units_delta"] = table["units_b"] - table["units_a"]
    for column in columns.drop(COUNT):
        _paired(table, column, totals_a[column].to_numpy(), totals_b[column].to_numpy())
    for metric in sorted({m for values in (*metrics_a.values(), *metrics_b.values())
                          for m in values}):  # fmt: skip
        _paired(table, metric, _metric(metrics_a, grids, metric), _metric(metrics_b, grids, metric))
    return table


def _paired(table: pd.DataFrame, name: str, a: np.ndarray, b: np.ndarray) -> None:
    table[f"{name}_a"], table[f"{name}_b"], table[f"{name}_delta"] = a, b, b - a


def _metric(metrics: Mapping[str, Mapping[str, float]], grids: list[str], name: str) -> np.ndarray:
    return np.array([float(metrics.get(g, {}).get(name, np.nan)) for g in grids])


def _overlap(frame: pd.DataFrame, weight: str) -> pd.DataFrame:
    pairs = frame.groupby(["b", "a"]).agg(units=(COUNT, "sum"), weight=(weight, "sum"))
    pairs = pairs.reset_index()
    of_b = pairs.groupby("b")[["units", "weight"]].transform("sum")
    pairs["units"] = pairs["units"].astype(int)
    pairs["units_share"] = pairs["units"] / of_b["units"]
    pairs["weight_share"] = pairs["weight"] / of_b["weight"].replace(0.0, np.nan)
    return pairs.sort_values(["b", "a"]).reset_index(drop=True)


def generation_assignment(
    hierarchy: Hierarchy,
    level: str,
    parent: str | None = None,
    *,
    base: Hierarchy | None = None,
) -> dict[str, str]:
    """Unit code → grid code at ``level`` in a generation, for one parent's units or all.

    Parameters
    ----------
    hierarchy : Hierarchy
        The generation.
    level : str
        The level whose grids the units belong to; the units are the level below.
    parent : str, optional
        A grid of the level above: only its units. None (or "" at the top level): all.
    base : Hierarchy, optional
        Another generation whose unit codes the result uses: each unit takes the code
        of the base unit its point on surface lies in (units a redraw renumbered get
        their old codes back). A unit in no base unit keeps its own code.

    Examples
    --------
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> a = generation_assignment(h, "grid", "330399001001")
    >>> len(a), a["330399001001001001"]
    (82, '330399001001001')
    """
    unit_level, units = _units_of(hierarchy, level, parent)
    codes = units["code"].astype(str).to_numpy()
    if base is not None:
        found = parents_by_location(units, base.grids(unit_level))
        codes = np.where(pd.isna(found), codes, found.astype(object))
    return dict(zip(codes.tolist(), units["parent"].astype(str), strict=True))


def _units_of(hierarchy: Hierarchy, level: str, parent: str | None) -> tuple[str, pd.DataFrame]:
    depth = hierarchy.levels.index(hierarchy.level(level).key)
    if depth + 1 == len(hierarchy.levels):
        raise InputError(f"level: {level!r} is the finest level; it has no units below")
    unit_level = hierarchy.levels[depth + 1]
    units = hierarchy.grids(unit_level)
    if parent:
        if depth == 0:
            raise InputError(f"parent: {level!r} is the top level; it has no parent")
        grids = hierarchy.grids(level)
        above = hierarchy.levels[depth - 1]
        if parent not in set(hierarchy.grids(above)["code"]):
            raise InputError(f"parent: {parent!r} is not a {above} code")
        units = units[units["parent"].isin(grids.loc[grids["parent"] == parent, "code"])]
    return unit_level, units


def unit_weights(hierarchy: Hierarchy, level: str) -> pd.DataFrame:
    """Weights of the units below ``level``: ``count`` and their numeric attributes.

    A plain stand-in for ``Units.weights`` when no survey or building sums are needed.

    Examples
    --------
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> list(unit_weights(h, "grid").columns)
    ['count', 'households', 'population']
    """
    _, units = _units_of(hierarchy, level, None)
    others = units.columns.drop(["code", "name", "parent", "geometry"], errors="ignore")
    numeric = [c for c in others if pd.api.types.is_numeric_dtype(units[c])
               and not pd.api.types.is_bool_dtype(units[c])]  # fmt: skip
    frame = units[numeric].astype(float).set_axis(units["code"].astype(str).to_numpy())
    frame.insert(0, COUNT, 1.0)
    return frame
