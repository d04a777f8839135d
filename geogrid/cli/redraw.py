"""``geogrid redraw propose|diff``: redraw a level of boundary files, and compare two of them.

``propose`` regroups the units (the grids of the level below) of every parent, or
of the ``--within`` parents, into grids whose ``--weight`` lies in ``--band``, and
writes the whole new hierarchy as a manifest (``boundaries.toml`` and
``boundaries.gpkg``) with ``changes.csv`` (unit_code, old_grid, new_grid) and
``codes.csv`` (level, old_code, new_code, change). ``diff`` tells what changed
between two manifests, and with ``--store`` how many open reports a switch
would re-assign.

Exit codes: 0 success; 2 a user mistake, reported in one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geogrid.cli.common import parse_band
from geogrid.cli.drafts import add_draft_commands
from geogrid.errors import InputError, NotFoundError
from geogrid.hierarchy import Hierarchy
from geogrid.redraw.apply import NUMBERINGS, Redraw, apply_plans
from geogrid.redraw.compare import compare, generation_assignment, unit_weights
from geogrid.redraw.files import write_manifest
from geogrid.redraw.propose import propose
from geogrid.redraw.survey import apply_survey, read_survey
from geogrid.redraw.units import units_of
from geogrid.reports import ReportQuery
from geogrid.storage import open_store
from geogrid.workflow import OPEN_STATUSES

EXIT_OK = 0
SHOWN_CODES = 10  # codes listed per kind in the text output of diff


def add_redraw_commands(commands) -> None:
    """Register ``redraw propose`` and ``redraw diff``."""
    redraw = commands.add_parser("redraw", help="propose redrawn grids; compare two manifests")
    sub = redraw.add_subparsers(required=True, metavar="ACTION")
    _add_propose(sub)
    _add_diff(sub)
    add_draft_commands(sub)


def _add_propose(sub) -> None:
    propose = sub.add_parser("propose", help="regroup units into grids within a weight band")
    propose.add_argument("manifest", type=Path)
    propose.add_argument("--level", required=True, help="the level to redraw, e.g. grid")
    propose.add_argument(
        "--weight",
        required=True,
        metavar="COLUMN",
        help="unit column to balance, e.g. households; 'count' counts units",
    )
    propose.add_argument(
        "--band", required=True, metavar="MIN:MAX", help="weight every grid must have, e.g. 300:500"
    )
    propose.add_argument(
        "--within",
        nargs="+",
        action="extend",
        metavar="CODE",
        help="parents to redraw (codes of the level above; default all)",
    )
    propose.add_argument(
        "--keep-current",
        action="store_true",
        help="repair today's grids instead of drawing new ones",
    )
    propose.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    propose.add_argument(
        "--survey",
        type=Path,
        metavar="CSV",
        help="a household survey of the units (code, households, …, compound) to balance by",
    )
    propose.add_argument(
        "--numbering",
        choices=NUMBERINGS,
        default="spatial",
        help="order of new codes: spatial (north→south, west→east) or next",
    )
    propose.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for the manifest, changes.csv and codes.csv",
    )
    propose.set_defaults(run=_propose)


def _add_diff(sub) -> None:
    diff = sub.add_parser("diff", help="what changed between two manifests")
    diff.add_argument("old_manifest", type=Path)
    diff.add_argument("new_manifest", type=Path)
    diff.add_argument(
        "--store",
        metavar="URL",
        help="count the store's open reports the new boundaries would re-assign",
    )
    diff.add_argument("--json", action="store_true", help="print the differences as JSON")
    diff.set_defaults(run=_diff)


# --- propose ---------------------------------------------------------------------------------


def _propose(args: argparse.Namespace) -> int:
    hierarchy = Hierarchy.from_manifest(args.manifest)
    level = _redraw_level(hierarchy, args.level)
    if args.survey:
        below = hierarchy.levels[hierarchy.levels.index(level) + 1]
        hierarchy = apply_survey(hierarchy, below, read_survey(args.survey))
    band = parse_band(args.band)
    parents = _parents(hierarchy, level, args.within)
    proposals = [_proposal(hierarchy, level, parent, band, args) for parent in parents]
    plans = {units.parent: proposal.assignment for units, proposal in proposals}
    redraw = apply_plans(hierarchy, level, plans, numbering=args.numbering)
    manifest = _write_outputs(redraw, args.out)
    for units, proposal in proposals:
        print(_parent_line(hierarchy, units, proposal, args.weight))
    _warn_topology(redraw, manifest)
    moved = int(redraw.changes["moved"].sum())
    print(
        f"{moved:,} units moved, {len(redraw.changes) - moved:,} renumbered with their grid → "
        f"{manifest}, {args.out / 'changes.csv'}, {args.out / 'codes.csv'}"
    )
    return EXIT_OK


def _proposal(hierarchy: Hierarchy, level: str, parent: str, band, args: argparse.Namespace):
    """The units of one parent and their proposal; a band they cannot meet names the parent."""
    units = units_of(hierarchy, level, parent)
    if args.weight not in units.weights.columns:
        raise InputError(
            f"--weight: {args.weight!r} is not a column of the {units.unit_level} "
            f"units; columns are {', '.join(units.weights.columns)}"
        )
    try:
        proposal = propose(
            units, weight=args.weight, band=band, keep_current=args.keep_current, seed=args.seed
        )
    except InputError as exc:
        raise InputError(f"parent {parent or '-'}: {exc}") from None
    return units, proposal


def _redraw_level(hierarchy: Hierarchy, key: str) -> str:
    level = hierarchy.chosen_level(key, "--level")
    depth = hierarchy.levels.index(level)
    if depth + 1 == len(hierarchy.levels):
        raise InputError(f"--level: {level!r} is the finest level; it has no units to regroup")
    below = hierarchy.level(hierarchy.levels[depth + 1])
    if below.coverage == "partial":
        raise InputError(
            f"--level: {level!r} cannot be redrawn: the level below ({below.key}) "
            "is partial and does not tile it"
        )
    return level


def _parents(hierarchy: Hierarchy, level: str, within: list[str] | None) -> list[str]:
    """The parents to redraw: the ``--within`` codes, checked, or every parent with units."""
    depth = hierarchy.levels.index(level)
    if depth == 0:
        if within:
            raise InputError(f"--within: {level!r} is the top level; it has no parents to choose")
        return [""]
    above = hierarchy.levels[depth - 1]
    units = hierarchy.grids(hierarchy.levels[depth + 1])
    grids = hierarchy.grids(level)
    with_units = set(grids.loc[grids["code"].isin(set(units["parent"])), "parent"])
    if not within:
        return sorted(with_units)
    for code in dict.fromkeys(within):
        try:
            at = hierarchy.find(code)[0]
        except NotFoundError:
            where = hierarchy.name or "the manifest"
            raise InputError(f"--within: {code} is not a grid of {where}") from None
        if at != above:
            raise InputError(f"--within: {code} is a {at}; --within takes {above} codes")
        if code not in with_units:
            raise InputError(f"--within: {above} {code} has no {level} with units to regroup")
    return list(dict.fromkeys(within))


def _write_outputs(redraw: Redraw, out: Path) -> Path:
    manifest = write_manifest(redraw.hierarchy, out)
    redraw.changes[["unit_code", "old_grid", "new_grid"]].to_csv(out / "changes.csv", index=False)
    redraw.codes.to_csv(out / "codes.csv", index=False)
    return manifest


def _parent_line(hierarchy: Hierarchy, units, proposal, weight: str) -> str:
    before = len(set(units.current))
    kept = proposal.kept_share
    if kept is None:  # share of the weight whose grid key is still its current grid
        values = units.weights[weight].to_numpy(dtype=float)
        same = np.array(
            [proposal.assignment[c] == g for c, g in zip(units.codes, units.current, strict=True)]
        )
        kept = float(values[same].sum() / values.sum()) if values.sum() else 0.0
    name = _name(hierarchy, units.parent)
    return (
        f"{units.parent or '-'} {name}: {before} → {proposal.grids} grids, "
        f"{proposal.in_band}/{proposal.grids} in band, kept {kept:.0%}"
    )


def _name(hierarchy: Hierarchy, code: str) -> str:
    if not code:
        return hierarchy.name or ""
    _, row = hierarchy.find(code)
    name = row["name"].iloc[0] if "name" in row else None
    return str(name) if isinstance(name, str) else ""


def _warn_topology(redraw: Redraw, manifest: Path) -> None:
    report = redraw.hierarchy.validate()
    if not report.ok:
        print(
            f"warning: the new boundaries have {len(report.errors)} topology errors; "
            f"run 'geogrid validate {manifest}'",
            file=sys.stderr,
        )


# --- diff ------------------------------------------------------------------------------------


def _diff(args: argparse.Namespace) -> int:
    old = Hierarchy.from_manifest(args.old_manifest)
    new = Hierarchy.from_manifest(args.new_manifest)
    if old.levels != new.levels:
        raise InputError(
            f"NEW_MANIFEST: its levels ({', '.join(new.levels)}) are not those of "
            f"OLD_MANIFEST ({', '.join(old.levels)})"
        )
    result: dict[str, Any] = {"levels": [level_diff(old, new, key) for key in old.levels]}
    if args.store:
        result["reports"] = reassigned_reports(args.store, old, new)
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else _diff_text(result))
    return EXIT_OK


def level_diff(old: Hierarchy, new: Hierarchy, key: str) -> dict[str, Any]:
    """What changed at one level: grid codes created and retired, grids whose units changed,
    and the units of the level below that changed grid.

    ``units_recoded`` counts the units whose grid code changed; ``units_moved`` (and
    ``weight_moved``) only those that left the grid continuing theirs (the new grid
    that carries most of it: :meth:`~geogrid.redraw.compare.Comparison.successors`).
    Units are matched across the two by location, so renumbered units are the same.

    Examples
    --------
    >>> h = Hierarchy.from_manifest("data/boundaries/sample.toml")
    >>> level_diff(h, h, "grid")["units_moved"]
    0
    """
    old_codes, new_codes = set(old.grids(key)["code"]), set(new.grids(key)["code"])
    result: dict[str, Any] = {
        "level": key,
        "grids_old": len(old_codes),
        "grids_new": len(new_codes),
        "created": sorted(new_codes - old_codes),
        "retired": sorted(old_codes - new_codes),
        "changed": [],
        "unit_level": None,
        "units_moved": None,
        "weight_moved": {},
    }
    depth = old.levels.index(key)
    if depth + 1 < len(old.levels) and old.level(old.levels[depth + 1]).coverage == "full":
        result.update(_units_moved(old, new, key))
    return result


def _units_moved(old: Hierarchy, new: Hierarchy, key: str) -> dict[str, Any]:
    a = generation_assignment(old, key)
    b = generation_assignment(new, key, base=old)  # renumbered units get their old codes
    shared = sorted(set(a) & set(b))
    weights = unit_weights(old, key)
    found = compare({u: a[u] for u in shared}, {u: b[u] for u in shared}, weights.loc[shared])
    moved = weights.loc[found.regrouped()["unit"]]
    return {
        "changed": found.changed,
        "unit_level": old.levels[old.levels.index(key) + 1],
        "units_moved": len(moved),
        "units_recoded": len(found.units),
        "units_unmatched": len(set(a) ^ set(b)),
        "weight_moved": {c: float(moved[c].sum()) for c in weights.columns if c != "count"},
    }


def reassigned_reports(url: str, old: Hierarchy, new: Hierarchy) -> dict[str, int]:
    """Open reports of a store and how many of them get another code at some level.

    Each report's stored lon/lat is assigned under both hierarchies; a report counts
    when its code differs at any level.
    """
    lon, lat = _open_report_points(url)
    before, after = old.assign(lon, lat), new.assign(lon, lat)
    columns = [f"{key}_code" for key in old.levels]
    differs = (_codes(before[columns]) != _codes(after[columns])).any(axis=1)
    return {"open": len(lon), "reassigned": int(differs.sum())}


def _codes(frame: pd.DataFrame) -> pd.DataFrame:
    """Code columns (categorical) as plain text, "" where a point has none."""
    return frame.astype(object).where(frame.notna(), "")


def _open_report_points(url: str) -> tuple[np.ndarray, np.ndarray]:
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        raise InputError(f"--store: {url} does not exist")
    store = open_store(url)
    lon: list[float] = []
    lat: list[float] = []
    page_size = 10_000
    while True:
        query = ReportQuery(status=tuple(OPEN_STATUSES), limit=page_size, offset=len(lon))
        page = store.find_reports(query)
        lon += [report.lon for report in page.items]
        lat += [report.lat for report in page.items]
        if len(page.items) < page_size:
            return np.array(lon, dtype=float), np.array(lat, dtype=float)


def _diff_text(result: dict[str, Any]) -> str:
    lines = []
    for level in result["levels"]:
        if not (level["created"] or level["retired"] or level["changed"] or level["units_moved"]):
            lines.append(f"{level['level']}: {level['grids_new']:,} grids, unchanged")
            continue
        line = (
            f"{level['level']}: {level['grids_old']:,} → {level['grids_new']:,} grids; "
            f"{len(level['created'])} created, {len(level['retired'])} retired, "
            f"{len(level['changed'])} changed"
        )
        if level["units_moved"] is not None:
            weights = ", ".join(f"{k} {v:,.0f}" for k, v in level["weight_moved"].items())
            line += f"; {level['units_moved']:,} {level['unit_level']} units moved"
            line += f" ({weights})" if weights else ""
            line += f", {level['units_recoded']:,} under a new grid code"
        lines.append(line)
        for kind in ("created", "retired", "changed"):
            if level[kind]:
                lines.append(f"  {kind}: {_few(level[kind])}")
    if "reports" in result:
        reports = result["reports"]
        lines.append(
            f"open reports: {reports['reassigned']:,} of {reports['open']:,} would be re-assigned"
        )
    return "\n".join(lines)


def _few(codes: list[str]) -> str:
    more = f" … ({len(codes)} in all)" if len(codes) > SHOWN_CODES else ""
    return ", ".join(codes[:SHOWN_CODES]) + more
