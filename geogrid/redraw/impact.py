"""What publishing a redraw would touch in a store: people, reports, routes, hazards, accounts.

:func:`impact` answers the reviewer's question before approval: which units move
and how many households and buildings go with them; which open reports would be
re-assigned (by status, and how many are overdue); which planned patrol routes
(and the check-in points they carry) belong to a grid that is retired or
renumbered, or cross grids that change; which hazards change grid; which
accounts' scopes name a code that is retired or renumbered; and the codes
retired, created and renumbered.

It reads the store and changes nothing. Reports are counted by the store from
its index on the unit level's code (:meth:`Store.open_report_counts`), so a parent
with tens of thousands of reports costs milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geogrid.hierarchy import Hierarchy

#: Changes of the crosswalk that make an old code stop naming the same place: gone, or moved
#: to another code, or (``reshaped``) the same code over other units.
GONE = ("retired", "renumbered", "reshaped")


@dataclass(frozen=True)
class Impact:
    """The impact of a redraw on one parent; :meth:`to_dict` for JSON.

    ``moves``: one row per (from grid, to grid) with units, households, population
    and buildings moved; ``totals``: their sums. ``reports``: open reports whose
    codes would change (``total``, ``by_status``, ``overdue``, ``in_moved_units``).
    ``routes``, ``hazards``, ``users``: the affected ones, each with why (a code
    ``retired``, ``renumbered`` to another or ``reshaped``: the same code over other
    units; a user's ``codes`` maps each scope code to its new code, None if retired,
    and ``changes`` says which). ``codes``: level → {"retired": […], "created": […],
    "reshaped": […], "renumbered": {old: new}}.
    """

    level: str
    unit_level: str
    parent: str
    moves: list[dict[str, Any]]
    totals: dict[str, float]
    reports: dict[str, Any]
    routes: list[dict[str, Any]]
    hazards: list[dict[str, Any]]
    users: list[dict[str, Any]]
    codes: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return asdict(self)


def impact(store, units, redraw, *, now: datetime, generation: int | None = None) -> Impact:
    """What publishing ``redraw`` (of ``units``' parent) would touch in ``store``.

    ``generation`` is the base the redraw was drawn on (default: the active one);
    ``now`` decides which open reports are overdue.

    Examples
    --------
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from geogrid import Hierarchy
    >>> from geogrid.redraw.apply import apply_plans
    >>> from geogrid.redraw.units import units_of
    >>> from geogrid.storage import open_store
    >>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db")
    >>> district = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> _ = store.import_generation(district, "2026", activate=True)
    >>> units = units_of(district, "grid", "330399001001")
    >>> plan = dict(zip(units.codes, units.current, strict=True))
    >>> plan["330399001001001001"] = "new-1"  # one micro-grid into a grid of its own
    >>> redraw = apply_plans(district, "grid", {"330399001001": plan})
    >>> found = impact(store, units, redraw, now=datetime(2026, 3, 2, tzinfo=UTC))
    >>> found.totals["units"], found.reports["total"], len(found.codes["grid"]["created"])
    (1, 0, 1)
    """
    changes = _changes_in(redraw.changes, units.codes)
    old = store.hierarchy(generation)
    gone = _gone_codes(redraw.codes)
    moves, totals = _moves(units, changes)
    return Impact(
        level=units.level,
        unit_level=units.unit_level,
        parent=units.parent,
        moves=moves,
        totals=totals,
        reports=_reports(store, units.unit_level, changes, now),
        routes=_routes(
            store, gone, _changed_area(units, changes), (old, redraw.hierarchy), units.level
        ),
        hazards=_hazards(store, units, old, redraw.hierarchy),
        users=_users(store, gone),
        codes=_codes(redraw.codes),
    )


def _changes_in(changes: pd.DataFrame, codes: Iterable[str]) -> pd.DataFrame:
    """The redraw's unit changes inside this parent, with ``moved`` (True when absent)."""
    mine = changes[changes["unit_code"].isin(set(codes))].copy()
    if "moved" not in mine:
        mine["moved"] = True
    return mine.reset_index(drop=True)


def _moves(units, changes: pd.DataFrame) -> tuple[list[dict], dict[str, float]]:
    """Per (from, to) grid: units, their weights and buildings that move."""
    moved = changes[changes["moved"].astype(bool)]
    columns = [c for c in ("households", "population") if c in units.weights]
    table = units.weights.reindex(moved["unit_code"])[columns].fillna(0.0)
    table.index = moved.index
    table = table.assign(old_grid=moved["old_grid"], new_grid=moved["new_grid"], units=1)
    table["buildings"] = _building_counts(units).reindex(moved["unit_code"]).fillna(0).to_numpy()
    sums = ["units", *columns, "buildings"]
    grouped = table.groupby(["old_grid", "new_grid"], sort=True)[sums].sum().reset_index()
    rows = [{k: _plain(v) for k, v in row.items()} for row in grouped.to_dict("records")]
    return rows, {name: _plain(table[name].sum()) for name in sums}


def _building_counts(units) -> pd.Series:
    """Buildings per unit code (none when the units carry no buildings)."""
    if units.buildings is None or len(units.buildings) == 0:
        return pd.Series(0, index=pd.Index(units.codes), dtype=int)
    counts = units.buildings.groupby("unit").size()
    return pd.Series(counts.reindex(range(len(units.codes)), fill_value=0).to_numpy(),
                     index=pd.Index(units.codes))  # fmt: skip


def _reports(store, unit_level: str, changes: pd.DataFrame, now: datetime) -> dict[str, Any]:
    """Open reports in units whose grid code changes: all of them would be re-assigned."""
    counts = store.open_report_counts(unit_level, list(changes["unit_code"]), now)
    moved = set(changes.loc[changes["moved"].astype(bool), "unit_code"])
    by_status = counts.groupby("status")["count"].sum()
    return {
        "total": int(counts["count"].sum()),
        "by_status": {str(k): int(v) for k, v in by_status.items()},
        "overdue": int(counts["overdue"].sum()),
        "in_moved_units": int(counts.loc[counts["code"].isin(moved), "count"].sum()),
    }


def _changed_area(units, changes: pd.DataFrame) -> shapely.Geometry:
    """Where grids change: the units whose grid code changes."""
    positions = units.index_of(list(changes["unit_code"])) if len(changes) else []
    return shapely.union_all(units.geometry[positions]) if len(positions) else shapely.Point()


def _routes(store, gone: dict[str, dict], area, both: tuple[Hierarchy, Hierarchy],
            level: str) -> list[dict]:  # fmt: skip
    """Routes of a grid retired, renumbered or reshaped, or whose line crosses grids that
    change, or whose check-in points change grid."""
    routes = store.patrol_routes()
    found = []
    for route in routes.itertuples(index=False):
        reasons = []
        if route.grid_code in gone:
            reasons.append(_gone_reason(route.grid_code, gone[route.grid_code]))
        if not area.is_empty and _crosses(route.geometry, area):
            reasons.append("crosses grids that change")
        checkpoints = _checkpoints(route.attributes, *both, level)
        if checkpoints:
            reasons.append(f"{len(checkpoints)} check-in points change grid")
        if reasons:
            found.append({"id": int(route.id), "grid_code": route.grid_code,
                          "shift": route.shift, "name": route.name or "",
                          "reasons": reasons, "checkpoints": checkpoints})  # fmt: skip
    return found


def _crosses(line, area) -> bool:
    return bool(shapely.intersects(line, area) and not shapely.touches(line, area))


def _checkpoints(attributes: Any, old: Hierarchy, new: Hierarchy, level: str) -> list[dict]:
    """Check-in points (打卡点) a route carries as ``checkpoints`` [{name, lon, lat}], whose
    grid at ``level`` changes."""
    points = (attributes or {}).get("checkpoints") if isinstance(attributes, dict) else None
    if not points:
        return []
    frame = pd.DataFrame(points)
    if not {"lon", "lat"} <= set(frame.columns):
        return []
    before = old.assign(frame["lon"], frame["lat"])[f"{level}_code"]
    after = new.assign(frame["lon"], frame["lat"])[f"{level}_code"]
    names = frame["name"] if "name" in frame else pd.Series(range(1, len(frame) + 1))
    pairs = [(str(n), _text(a), _text(b)) for n, a, b in zip(names, before, after, strict=True)]
    return [{"name": n, "old": a, "new": b} for n, a, b in pairs if a != b]


def _hazards(store, units, old: Hierarchy, new: Hierarchy) -> list[dict]:
    """Hazards near the parent whose grid (at the redrawn or the unit level) changes."""
    bounds = [float(v) for v in shapely.total_bounds(units.geometry)]
    hazards = store.hazards(bounds)
    if len(hazards) == 0:
        return []
    points = shapely.point_on_surface(hazards.geometry.to_numpy())
    lon, lat = shapely.get_x(points), shapely.get_y(points)
    before, after = old.assign(lon, lat), new.assign(lon, lat)
    found = []
    for i, row in enumerate(hazards.itertuples(index=False)):
        pairs = {key: (_text(before[f"{key}_code"].iloc[i]), _text(after[f"{key}_code"].iloc[i]))
                 for key in (units.level, units.unit_level)}  # fmt: skip
        changed = {key: {"old": a, "new": b} for key, (a, b) in pairs.items() if a != b}
        if changed:
            found.append({"id": int(row.id), "name": row.name, "codes": changed})
    return found


def _users(store, gone: dict[str, dict]) -> list[dict]:
    """Accounts whose scope names a code retired, renumbered or reshaped: review their scope."""
    found = []
    for user in store.accounts.users():
        named = sorted(set(user.scope or ()) & set(gone))
        if named:
            found.append({"name": user.name, "role": user.role, "active": user.active,
                          "codes": {code: gone[code]["new_code"] for code in named},
                          "changes": {code: gone[code]["change"] for code in named}})  # fmt: skip
    return found


def _gone_codes(codes: pd.DataFrame) -> dict[str, dict[str, str | None]]:
    """Old code → {"change", "new_code"} for codes retired, renumbered or reshaped."""
    rows = codes[codes["change"].isin(GONE)][["old_code", "new_code", "change"]]
    return {str(o): {"change": str(c), "new_code": _text(n)}
            for o, n, c in rows.itertuples(index=False)}  # fmt: skip


def _gone_reason(code: str, gone: dict[str, str | None]) -> str:
    """Why a route of grid ``code`` is listed.

    Examples
    --------
    >>> _gone_reason("101", {"change": "renumbered", "new_code": "104"})
    'grid 101 is renumbered 104'
    """
    more = f" {gone['new_code']}" if gone["change"] == "renumbered" else ""
    return f"grid {code} is {gone['change']}{more}"


def _codes(codes: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per level: codes retired, created, reshaped and renumbered (old → new)."""
    found: dict[str, dict[str, Any]] = {}
    for level, rows in codes.groupby("level", sort=False):
        found[str(level)] = {
            "retired": sorted(rows.loc[rows["change"] == "retired", "old_code"].astype(str)),
            "created": sorted(rows.loc[rows["change"] == "created", "new_code"].astype(str)),
            "reshaped": sorted(rows.loc[rows["change"] == "reshaped", "old_code"].astype(str)),
            "renumbered": dict(_pairs(rows[rows["change"] == "renumbered"])),
        }
    return found


def _pairs(rows: pd.DataFrame) -> list[tuple[str, str]]:
    return [(str(o), str(n)) for o, n in zip(rows["old_code"], rows["new_code"], strict=True)]


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _plain(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    return int(value) if isinstance(value, float) and value.is_integer() else value
