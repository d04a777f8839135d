"""Apply redraw plans: unit → grid-key plans become a new hierarchy, new codes and a crosswalk.

A plan regroups the units of one parent (the grids of the level right below the
redrawn level) into grids; :func:`apply_plans` turns the plans of one or more
parents into the whole next generation:

* a grid's geometry is the union of its units (exact where units share vertices;
  real data with tiny slivers keeps the union as it comes) and its numeric
  attributes are the sums of its units';
* **codes**: a grid whose unit set equals an old grid's keeps that code; every
  other grid gets a new code, after the highest number any grid of that parent
  ever used in the base generation (retired codes are never reused), zero-padded
  to the width of its siblings' suffix. ``numbering="spatial"`` numbers the new
  grids north → south, then west → east (DB11/T 2157; see :func:`spatial_order`),
  ``"next"`` in the order of their keys;
* **children follow**: a unit whose grid's code changed gets a code under its new
  grid (its old suffix when free there, else the next free number), and every
  deeper level (micro-grids, buildings) follows its parent's code the same way;
  codes that do not extend their parent's code are left as they are;
* **names**: the name given in ``names``, else the old grid's name when the key
  is an old code of that parent, else "<parent name>新网格N" (N = 1, 2, … in code
  order, skipping names already used in the parent).

The result, :class:`Redraw`, holds the new :class:`~geogrid.hierarchy.Hierarchy`
(every level, the roads and the name; no manifest: write one with
:func:`geogrid.redraw.files.write_manifest`), the code crosswalk and the unit moves.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.errors import InputError
from geogrid.hierarchy import Hierarchy
from geogrid.models import Level
from geogrid.redraw.survey import apply_survey

NUMBERINGS = ("spatial", "next")
#: Values of the ``change`` column of :attr:`Redraw.codes`.
KEPT, RESHAPED, CREATED, RETIRED, RENUMBERED = (
    "kept", "reshaped", "created", "retired", "renumbered")  # fmt: skip
CROSSWALK_COLUMNS = ("level", "old_code", "new_code", "change")
CHANGE_COLUMNS = ("unit_code", "old_grid", "new_grid", "moved")
GRID_COLUMNS = ("parent", "key", "code", "name", "change", "exclusive")
#: The column that marks exclusive grids (专属网格) when ``exclusive`` is given.
EXCLUSIVE = "exclusive"
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


@dataclass(frozen=True)
class Redraw:
    """The outcome of :func:`apply_plans`.

    Attributes
    ----------
    hierarchy : Hierarchy
        The whole new hierarchy (every level, roads and name; no manifest).
    codes : DataFrame
        The code crosswalk ``level, old_code, new_code, change``: every grid of the
        redrawn level (``kept``; ``reshaped``: its units changed but it holds more than
        half of its old units, so it keeps its code; ``created`` with no old code;
        ``retired`` with no new code) and, for each deeper level where any code
        changed, every row of that level (``kept`` or ``renumbered``). Levels above
        never change and are left out, as are deeper levels where nothing changed.
    changes : DataFrame
        ``unit_code, old_grid, new_grid, moved``: the units whose grid code changed,
        by their old unit code. A grid that lost more than half of its units gets a new
        code, so its remaining units are listed too, with ``moved`` False; ``moved`` is True
        for the units the plan put in another grid (its key is not their old grid's
        code).
    grids : DataFrame
        One row per grid of the redrawn parents: ``parent, key, code, name,
        change`` (kept or created) and ``exclusive``.
    """

    hierarchy: Hierarchy
    codes: pd.DataFrame
    changes: pd.DataFrame
    grids: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=GRID_COLUMNS))

    def code_of(self, parent: str, key: str) -> str:
        """The code a plan's grid key got.

        Examples
        --------
        >>> from geogrid import Hierarchy
        >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
        >>> units = h.grids("microgrid")
        >>> plan = dict.fromkeys(units.code[units.parent.str.startswith("330399001001")], "x")
        >>> apply_plans(h, "grid", {"330399001001": plan}).code_of("330399001001", "x")
        '330399001001010'
        """
        rows = self.grids[(self.grids["parent"] == parent) & (self.grids["key"] == key)]
        if rows.empty:
            raise InputError(f"key: no grid {key!r} in the plan of parent {parent!r}")
        return str(rows["code"].iloc[0])


@dataclass(frozen=True)
class _Base:
    """The base generation around the redrawn level."""

    hierarchy: Hierarchy
    level: Level
    unit_level: Level
    depth: int
    grids: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    unit_parent: pd.Series  # per unit row: the parent (code of the level above) of its grid


def apply_plans(
    hierarchy: Hierarchy,
    level: str,
    plans: Mapping[str, Mapping[str, str]],
    *,
    numbering: str = "spatial",
    names: Mapping[str, Mapping[str, str]] | None = None,
    exclusive: Mapping[str, Iterable[str]] | None = None,
    taken: Iterable[str] = (),
) -> Redraw:
    """Regroup the units of the planned parents and return the next generation.

    Parameters
    ----------
    hierarchy : Hierarchy
        The base generation.
    level : str
        The level redrawn (e.g. "grid"); its units are the grids of the level below.
    plans : mapping
        Parent code (a grid of the level above; ``""`` when ``level`` is the top) →
        {unit code → grid key}. A plan covers every unit of its parent.
    numbering : {"spatial", "next"}
        Order in which new grids get their numbers (see the module docstring).
    names : mapping, optional
        Parent code → {grid key → name}; renames kept grids too.
    exclusive : mapping, optional
        Parent code → grid keys of exclusive grids (专属网格). When given, the level
        gains a boolean ``exclusive`` attribute (False for the other grids); in
        parents it does not list, kept grids keep the flag they had.

    Returns
    -------
    Redraw
        The new hierarchy, code crosswalk, unit moves and the key → code table.

    ``taken`` are codes never to hand out although the base does not have them:
    every code of every generation a store ever held, so a code retired by an
    earlier redraw does not come back with another meaning.

    Raises
    ------
    InputError
        Unknown level, the finest level or one whose units are a partial level, an
        unknown parent, a unit outside its parent, a blank grid key, a plan that
        misses units of its parent, names or exclusive keys no plan uses, or an
        unknown ``numbering``.

    Examples
    --------
    >>> from geogrid import Hierarchy
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> units = h.grids("microgrid")
    >>> mine = units[units.parent.str.startswith("330399001001")]
    >>> plan = dict(zip(mine.code, mine.parent))          # today's grids
    >>> plan["330399001001001001"] = "330399001001002"    # move one micro-grid
    >>> redraw = apply_plans(h, "grid", {"330399001001": plan})
    >>> redraw.changes.iloc[0, :3].tolist()
    ['330399001001001001', '330399001001001', '330399001001002']
    >>> redraw.codes.query("level == 'grid' and change != 'kept'").values.tolist()
    [['grid', '330399001001001', '330399001001001', 'reshaped'], \
['grid', '330399001001002', '330399001001002', 'reshaped']]
    >>> redraw.codes.query("level == 'microgrid' and change == 'renumbered'").values.tolist()
    [['microgrid', '330399001001001001', '330399001001002012', 'renumbered']]
    >>> redraw.hierarchy.validate().ok
    True
    """
    if numbering not in NUMBERINGS:
        raise InputError(f"numbering: must be one of {', '.join(NUMBERINGS)}, got {numbering!r}")
    base = _base(hierarchy, level)
    names, exclusive = dict(names or {}), {p: set(keys) for p, keys in (exclusive or {}).items()}
    groups = {str(parent): _checked_plan(base, str(parent), plan) for parent, plan in plans.items()}
    _check_keys(groups, names, "names")
    _check_keys(groups, exclusive, "exclusive")
    taken = frozenset(taken)
    table = _grid_table(base, groups, names, exclusive, numbering, taken)
    return _assemble(base, groups, table, exclusive, taken)


# --- input -----------------------------------------------------------------------------------


def _base(hierarchy: Hierarchy, key: str) -> _Base:
    level = hierarchy.level(key)
    depth = hierarchy.levels.index(key)
    if depth + 1 == len(hierarchy.levels):
        raise InputError(f"level: {key!r} is the finest level; it has no units below to regroup")
    unit_level = hierarchy.level(hierarchy.levels[depth + 1])
    if unit_level.coverage == "partial":
        raise InputError(
            f"level: {key!r} cannot be redrawn: its units ({unit_level.key}) are a partial "
            "level and do not tile it"
        )
    grids, units = hierarchy.grids(key), hierarchy.grids(unit_level.key)
    if depth == 0:
        unit_parent = pd.Series("", index=units.index, dtype=object)
    else:
        unit_parent = units["parent"].map(dict(zip(grids["code"], grids["parent"], strict=True)))
    return _Base(hierarchy, level, unit_level, depth, grids, units, unit_parent)


def _checked_plan(base: _Base, parent: str, plan: Mapping[str, str]) -> dict[str, list[str]]:
    """The plan as grid key → sorted unit codes, after every check on its units and keys."""
    _check_parent(base, parent)
    own = set(base.units.loc[base.unit_parent == parent, "code"])
    groups: dict[str, list[str]] = {}
    for unit, key in plan.items():
        unit = str(unit)
        if unit not in own:
            raise InputError(_outside(base, parent, unit))
        if key is None or not str(key).strip():
            raise InputError(f"plans[{parent!r}]: unit {unit} has an empty grid key")
        groups.setdefault(str(key).strip(), []).append(unit)
    missing = sorted(own.difference(map(str, plan)))
    if missing:
        raise InputError(
            f"plans[{parent!r}]: misses {len(missing)} of the {len(own)} {base.unit_level.key} "
            f"units of {parent}: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}"
        )
    return {key: sorted(units) for key, units in groups.items()}


def _check_parent(base: _Base, parent: str) -> None:
    if base.depth == 0:
        if parent:
            raise InputError(f"plans: {base.level.key!r} is the top level; its parent is ''")
        return
    above = base.hierarchy.levels[base.depth - 1]
    if parent not in set(base.hierarchy.grids(above)["code"]):
        raise InputError(f"plans: parent {parent!r} is not a {above} code")


def _outside(base: _Base, parent: str, unit: str) -> str:
    known = base.units["code"] == unit
    if not known.any():
        return f"plans[{parent!r}]: unit {unit} is not a {base.unit_level.key} code"
    actual = base.unit_parent[known].iloc[0]
    return f"plans[{parent!r}]: unit {unit} is not in parent {parent}; it is in {actual}"


def _check_keys(groups: dict[str, dict], extra: Mapping[str, Iterable[str]], what: str) -> None:
    for parent, keys in extra.items():
        unknown = sorted(set(keys).difference(groups.get(parent, {})))
        if unknown:
            raise InputError(
                f"{what}: grid key(s) {', '.join(map(repr, unknown))} are not in the plan "
                f"of parent {parent!r}"
            )


# --- the redrawn level: codes, names, geometry -------------------------------------------------


def _grid_table(
    base: _Base,
    groups: dict[str, dict[str, list[str]]],
    names: Mapping[str, Mapping[str, str]],
    exclusive: Mapping[str, set[str]],
    numbering: str,
    taken: frozenset[str],
) -> pd.DataFrame:
    """One row per planned grid: parent, key, code, name, change, exclusive, units, geometry."""
    used = set(base.grids["code"]) | taken  # never handed out again
    tables = []
    for parent, plan in groups.items():
        table = _parent_table(base, parent, plan, numbering, used)
        table["name"] = _names(base, parent, table, names.get(parent, {}))
        table["exclusive"] = _exclusive_flags(base, table, exclusive.get(parent))
        tables.append(table)
    if not tables:
        return pd.DataFrame(columns=[*GRID_COLUMNS, "units", "geometry"])
    return pd.concat(tables, ignore_index=True)


def _exclusive_flags(base: _Base, table: pd.DataFrame, keys: set[str] | None) -> np.ndarray:
    """The keys given for the parent; without them kept grids keep their flag, new ones are not."""
    if keys is not None:
        return table["key"].isin(keys).to_numpy()
    if EXCLUSIVE not in base.grids.columns:
        return np.zeros(len(table), dtype=bool)
    flags = dict(zip(base.grids["code"], base.grids[EXCLUSIVE].fillna(False), strict=True))
    kept = table["change"].isin([KEPT, RESHAPED])  # the same grid: it stays exclusive
    return np.array([bool(flags.get(c, False)) and k for c, k in zip(table["code"], kept,
                                                                    strict=True)])  # fmt: skip


def _parent_table(
    base: _Base, parent: str, plan: dict[str, list[str]], numbering: str, used: set[str]
) -> pd.DataFrame:
    old = base.units[base.unit_parent == parent].groupby("parent")["code"].agg(frozenset)
    code_of_set = {units: code for code, units in old.items()}
    siblings = base.grids["code"][base.grids["parent"].fillna("") == parent] if base.depth else (
        base.grids["code"])  # fmt: skip
    geometry = base.units.set_index("code").geometry
    keys = sorted(plan, key=_natural)
    codes = [code_of_set.get(frozenset(plan[key])) for key in keys]
    reshaped = [_reshaped(key, plan[key], old) if code is None else False
                for key, code in zip(keys, codes, strict=True)]  # fmt: skip
    table = pd.DataFrame(
        {
            "parent": parent,
            "key": keys,
            "code": [
                key if again else code
                for key, code, again in zip(keys, codes, reshaped, strict=True)
            ],
            "units": [plan[key] for key in keys],
            "geometry": [shapely.union_all(geometry.loc[plan[key]].values) for key in keys],
        }
    )
    new = table.index[table["code"].isna()]
    order = spatial_order(table.loc[new, "geometry"]) if numbering == "spatial" else range(len(new))
    stem, width = _stem(parent, list(siblings))
    for position in np.asarray(new)[list(order)]:
        table.loc[position, "code"] = _free_code(stem, width, used)
        used.add(table.loc[position, "code"])
    table["change"] = np.where(table.index.isin(new), CREATED, np.where(reshaped, RESHAPED, KEPT))
    return table


def _reshaped(key: str, units: list[str], old: pd.Series) -> bool:
    """Whether a grid that changed is still the old grid its key names.

    Why: a grid that lost or gained a few units is the same grid to the people who work
    it; a new code would retire it, renumber its units and break every scope, route and
    report that names it. It keeps the code while it holds more than half of that old
    grid's units.
    """
    if key not in old.index:
        return False
    return 2 * len(old[key] & set(units)) > len(old[key])


def spatial_order(geometries: Iterable[shapely.Geometry]) -> np.ndarray:
    """Positions of grids in DB11/T 2157 reading order: rows north → south, west → east in a row.

    A row gathers the grids whose centre lies within half a typical grid height
    (the median) below the northernmost centre not yet placed, so grids that are
    side by side but a little offset read left to right.

    Examples
    --------
    >>> from shapely import box
    >>> grids = [box(2, 0, 3, 1), box(0, 1.1, 1, 2.1), box(0, 0, 1, 1), box(1, 0.9, 2, 1.9)]
    >>> spatial_order(grids).tolist()
    [1, 3, 2, 0]
    """
    geoms = np.asarray(list(geometries), dtype=object)
    if geoms.size == 0:
        return np.zeros(0, dtype=int)
    centres = shapely.get_coordinates(shapely.centroid(geoms))
    bounds = shapely.bounds(geoms)
    band = 0.5 * float(np.median(bounds[:, 3] - bounds[:, 1]))
    waiting = sorted(range(len(geoms)), key=lambda i: (-centres[i, 1], centres[i, 0]))
    order: list[int] = []
    while waiting:
        top = centres[waiting[0], 1]
        row = [i for i in waiting if top - centres[i, 1] <= band]
        order += sorted(row, key=lambda i: centres[i, 0])
        waiting = [i for i in waiting if i not in row]
    return np.array(order, dtype=int)


def _stem(parent: str, siblings: list[str]) -> tuple[str, int]:
    """The common stem and number width of a parent's grid codes: ("330399001001", 3)."""
    shapes = Counter(_split_code(parent, code) for code in siblings)
    shapes.pop(None, None)
    if not shapes:  # no numbered siblings: number under the parent's code
        return (f"{parent}-" if parent else "G", 2)
    return shapes.most_common(1)[0][0]


def _split_code(parent: str, code: str) -> tuple[str, int] | None:
    rest = code[len(parent) :]
    if parent and code.startswith(parent) and rest.isdigit():
        return parent, len(rest)
    match = _NUMBERED.match(code)
    return (match.group(1), len(match.group(2))) if match else None


def _free_code(stem: str, width: int, used: set[str]) -> str:
    """``stem`` + the number after the highest one ``used`` has under it, padded to ``width``.

    Zero-padded numbers (``width`` > 1) count only at that width: a deeper level's
    code (``10202`` under stem ``1``) is not a sibling numbered 202.
    """
    digits = rf"(\d{{{width}}})$" if width > 1 else r"(\d+)$"
    pattern = re.compile(re.escape(stem) + digits)
    numbers = [int(match.group(1)) for code in used if (match := pattern.match(code))]
    number = max(numbers, default=0) + 1
    while f"{stem}{number:0{width}d}" in used:
        number += 1
    return f"{stem}{number:0{width}d}"


def _names(
    base: _Base, parent: str, table: pd.DataFrame, given: Mapping[str, str]
) -> list[str | None]:
    old = base.grids[base.grids["parent"].fillna("") == parent] if base.depth else base.grids
    old_names = dict(zip(old["code"], old["name"], strict=True))
    taken = {str(name) for name in old_names.values() if isinstance(name, str)}
    result: dict[int, str | None] = {}
    for i, key, code in zip(table.index, table["key"], table["code"], strict=True):
        result[i] = given.get(key) or old_names.get(key) or old_names.get(code)
    taken.update(n for n in result.values() if n)
    prefix, number = _parent_name(base, parent), 0
    for i in table.sort_values("code").index:
        if result.get(i) is None:
            number += 1
            while f"{prefix}新网格{number}" in taken:
                number += 1
            result[i] = f"{prefix}新网格{number}"
    return [result[i] for i in table.index]


def _parent_name(base: _Base, parent: str) -> str:
    if base.depth == 0:
        return base.hierarchy.name or ""
    above = base.hierarchy.grids(base.hierarchy.levels[base.depth - 1])
    name = above.loc[above["code"] == parent, "name"].iloc[0]
    return str(name) if isinstance(name, str) and name else parent


def _natural(key: str) -> tuple:
    """Sort key that puts "new-2" before "new-10"."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key))


# --- the new hierarchy -----------------------------------------------------------------------


def _assemble(
    base: _Base,
    groups: dict[str, dict[str, list[str]]],
    table: pd.DataFrame,
    exclusive: Mapping[str, set[str]],
    taken: frozenset[str],
) -> Redraw:
    hierarchy = base.hierarchy
    frames = {key: hierarchy.grids(key) for key in hierarchy.levels}
    mark = bool(exclusive) or EXCLUSIVE in base.grids.columns
    grids = _new_grids(base, set(groups), table, mark)
    frames[base.level.key] = grids
    unit_grid = {unit: code for code, units in zip(table["code"], table["units"], strict=True)
                 for unit in units}  # fmt: skip
    renamed = _follow_levels(hierarchy, frames, base.depth + 1, unit_grid, taken)
    levels = [_with_exclusive(hierarchy.level(key), key == base.level.key and mark)
              for key in hierarchy.levels]  # fmt: skip
    new = Hierarchy(levels, frames, name=hierarchy.name, roads=hierarchy.roads())
    return Redraw(
        hierarchy=new,
        codes=_crosswalk(base, grids, renamed, set(table.loc[table["change"] == RESHAPED, "code"])),
        changes=_changes(base, table),
        grids=table[list(GRID_COLUMNS)].copy(),
    )


def _new_grids(
    base: _Base, parents: set[str], table: pd.DataFrame, mark_exclusive: bool
) -> gpd.GeoDataFrame:
    """The redrawn level: untouched and kept grids as they were, created ones from their units."""
    old = base.grids
    redrawn = old["parent"].fillna("").isin(parents) if base.depth else pd.Series(True, old.index)
    kept = table[table["change"] == KEPT].set_index("code")
    stay = old[~redrawn | old["code"].isin(kept.index)].copy()
    renamed = stay["code"].isin(kept.index).to_numpy()
    stay.loc[renamed, "name"] = stay.loc[renamed, "code"].map(kept["name"])
    rebuilt = table["change"].isin([CREATED, RESHAPED])
    created = _created_rows(base, table[rebuilt])
    if mark_exclusive:
        flags = stay[EXCLUSIVE].fillna(False) if EXCLUSIVE in stay else pd.Series(False, stay.index)
        flags = flags.to_numpy(dtype=bool, copy=True)
        flags[renamed] = stay.loc[renamed, "code"].map(kept["exclusive"]).to_numpy(dtype=bool)
        stay[EXCLUSIVE] = flags
        created[EXCLUSIVE] = table.loc[rebuilt, "exclusive"].to_numpy(bool)
    frame = pd.concat([stay, created], ignore_index=True) if len(created) else stay
    frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=old.crs)
    frame = frame.sort_values("code", kind="stable").reset_index(drop=True)
    frame.index.name = "row"
    return frame


def _created_rows(base: _Base, created: pd.DataFrame) -> gpd.GeoDataFrame:
    """New grids: code, name, parent, the sums of their units' numeric attributes, geometry."""
    units = base.units.set_index("code")
    columns: dict[str, list] = {"code": list(created["code"]), "name": list(created["name"]),
                                "parent": [p or None for p in created["parent"]]}  # fmt: skip
    others = base.grids.columns.drop(["code", "name", "parent", "geometry"], errors="ignore")
    for column in others:
        summable = (
            column in units.columns and _numeric(units[column]) and _numeric(base.grids[column])
        )
        columns[column] = [units.loc[u, column].sum() if summable else None
                           for u in created["units"]]  # fmt: skip
    frame = gpd.GeoDataFrame(columns, geometry=list(created["geometry"]), crs=base.grids.crs)
    for column in others:
        if frame[column].notna().all() and _numeric(base.grids[column]):
            frame[column] = frame[column].astype(base.grids[column].dtype)
    return frame


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _follow_levels(
    hierarchy: Hierarchy,
    frames: dict[str, gpd.GeoDataFrame],
    depth: int,
    parent_of: dict,
    taken: frozenset[str],
) -> dict[str, dict[str, str]]:
    """Give the unit level its new parents, then let every deeper level follow; old → new codes.

    ``parent_of`` maps the unit codes of the redrawn parents to their new grid code.
    """
    renamed: dict[str, dict[str, str]] = {}
    for key in hierarchy.levels[depth:]:
        frame = frames[key]
        new_parents = frame["parent"].astype(object).copy()
        hit = frame["code"].isin(parent_of.keys())
        new_parents[hit] = frame.loc[hit, "code"].map(parent_of)
        codes = _follow(frame["code"], frame["parent"], new_parents, taken)
        frames[key] = frame.assign(code=codes, parent=new_parents.astype(object))
        renamed[key] = {old: new for old, new in zip(frame["code"], codes, strict=True)}
        below = hierarchy.levels.index(key) + 1
        if below < len(hierarchy.levels):
            parent_of = _children_parents(frames, hierarchy.levels[below], renamed[key])
    return renamed


def _children_parents(
    frames: dict[str, gpd.GeoDataFrame], key: str, renamed: dict[str, str]
) -> dict[str, str]:
    """Child code → its parent's new code, for the children of parents whose code changed."""
    frame = frames[key]
    moved = {old: new for old, new in renamed.items() if old != new}
    hit = frame["parent"].isin(moved)
    return dict(zip(frame.loc[hit, "code"], frame.loc[hit, "parent"].map(moved), strict=True))


def _follow(
    codes: pd.Series, old_parents: pd.Series, new_parents: pd.Series, taken: frozenset[str]
) -> list[str]:
    """Each row's code once its parent changed: the old suffix if free there, else the next free.

    Only codes that extend their old parent's code are re-prefixed; others stay as they are.
    Free means no row of the level had it (two moved units never trade codes: an old
    report's code must not name another place) and it is not ``taken``.
    """
    nested = pd.Series([bool(p) and str(c).startswith(str(p)) for c, p in
                        zip(codes, old_parents, strict=True)], index=codes.index)  # fmt: skip
    moved = nested & (old_parents.fillna("") != new_parents.fillna(""))
    used = set(codes) | taken
    result = codes.copy()
    for i in sorted(codes.index[moved], key=lambda i: (new_parents[i], codes[i])):
        suffix = codes[i][len(old_parents[i]) :]
        wanted = f"{new_parents[i]}{suffix}"
        if wanted in used:
            numbered = _NUMBERED.match(suffix)
            stem, digits = numbered.groups() if numbered else (f"{suffix}-", "1")
            wanted = _free_code(f"{new_parents[i]}{stem}", len(digits), used)
        result[i] = wanted
        used.add(wanted)
    return list(result)


def _with_exclusive(level: Level, add: bool) -> Level:
    if not add or EXCLUSIVE in level.attributes:
        return level
    return replace(level, attributes=(*level.attributes, EXCLUSIVE))


# --- crosswalk and moves ---------------------------------------------------------------------


def _crosswalk(
    base: _Base, grids: gpd.GeoDataFrame, renamed: dict[str, dict[str, str]], reshaped: set[str]
) -> pd.DataFrame:
    old, new = set(base.grids["code"]), set(grids["code"])
    rows = [(base.level.key, code, code, RESHAPED if code in reshaped else KEPT)
            for code in sorted(old & new)]  # fmt: skip
    rows += [(base.level.key, None, code, CREATED) for code in sorted(new - old)]
    rows += [(base.level.key, code, None, RETIRED) for code in sorted(old - new)]
    for key, codes in renamed.items():
        if any(o != n for o, n in codes.items()):
            rows += [(key, o, n, KEPT if o == n else RENUMBERED) for o, n in codes.items()]
    return pd.DataFrame(rows, columns=list(CROSSWALK_COLUMNS), dtype=object)


def _changes(base: _Base, table: pd.DataFrame) -> pd.DataFrame:
    """Units whose grid code changed; ``moved`` when the plan put them in another grid."""
    code_of, key_of = {}, {}
    for code, key, units in zip(table["code"], table["key"], table["units"], strict=True):
        code_of.update(dict.fromkeys(units, code))
        key_of.update(dict.fromkeys(units, key))
    units = base.units[base.units["code"].isin(code_of)]
    new = units["code"].map(code_of)
    changed = units[units["parent"] != new]
    frame = pd.DataFrame(
        {
            "unit_code": changed["code"].astype(object),
            "old_grid": changed["parent"].astype(object),
            "new_grid": new[changed.index].astype(object),
            "moved": changed["code"].map(key_of) != changed["parent"],
        }
    )
    return frame.sort_values("unit_code").reset_index(drop=True)


def apply_draft(hierarchy: Hierarchy, draft: Any, taken: Iterable[str] = ()) -> Redraw:
    """A stored draft applied to its base generation's hierarchy, ready to review or publish.

    ``draft`` is a :class:`geogrid.storage.drafts.DraftRecord` (or anything with its
    ``level``, ``parent_code``, ``assignment``, ``numbering``, ``names``, ``exclusive``
    and ``survey_frame()``). The draft's survey is written onto the units first, so the
    published generation carries the figures the grids were balanced by; names and
    exclusive marks go with the grids still in use.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> units = h.grids("microgrid")
    >>> mine = units[units.parent.str.startswith("330399001001")]
    >>> draft = SimpleNamespace(level="grid", parent_code="330399001001", numbering="spatial",
    ...                         assignment=dict(zip(mine.code, mine.parent)), names={},
    ...                         exclusive=(), survey_frame=lambda: None)
    >>> apply_draft(h, draft).changes.empty
    True
    """
    survey = draft.survey_frame()
    if survey is not None:
        # Only the draft's own units: a district-wide survey must not change figures
        # outside the parent, which publishing promises to leave as they are.
        survey = survey.loc[survey.index.intersection(list(draft.assignment))]
        below = hierarchy.levels[hierarchy.levels.index(draft.level) + 1]
        hierarchy = apply_survey(hierarchy, below, survey)
    parent, used = draft.parent_code or "", set(draft.assignment.values())
    exclusive = sorted(set(draft.exclusive) & used)
    return apply_plans(
        hierarchy, draft.level, {parent: dict(draft.assignment)}, numbering=draft.numbering,
        names={parent: {k: v for k, v in draft.names.items() if k in used}},
        exclusive={parent: exclusive} if exclusive else None, taken=taken,
    )  # fmt: skip
