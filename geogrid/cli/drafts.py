"""``geogrid redraw draft …``, ``redraw drafts`` and ``redraw rollback``: stored drafts.

- ``draft create --level L --parent CODE [--name N] [--weight households] [--band 300:500]
  [--numbering spatial|next] [--from-csv FILE] [--survey FILE]``
- ``drafts [--level L] [--parent CODE] [--status S]``: list them
- ``draft show ID [--json]``: the draft, its grids (units, weight, band) and the publish gate
- ``draft propose ID [--keep-current] [--seed N]``: replace the assignment by a proposal
- ``draft import ID FILE.csv`` / ``draft export ID --out FILE`` (.csv, .gpkg, .geojson,
  .shp.zip or .pdf, the review map)
- ``draft submit|approve|withdraw ID``, ``draft publish ID [--starts-on DATE]``
- ``rollback --to GENERATION``: make an earlier generation current again

Each finds the store through ``--store`` or ``$GEOGRID_STORE`` and acts as the
operator (``cli:<account>``, an administrator). A proposal or an imported CSV
replaces the assignment whole: its undo history starts again, and every unit it
moves is logged.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import pandas as pd

from geogrid.cli.common import operator, parse_band, store_option
from geogrid.errors import InputError
from geogrid.storage import Store, open_store
from geogrid.storage.drafts import DEFAULT_BAND, NUMBERINGS, STATUSES, DraftRecord

EXIT_OK = 0
EXPORTS = (".csv", ".gpkg", ".geojson", ".shp.zip", ".pdf")


def add_draft_commands(redraw) -> None:
    """Register ``draft …``, ``drafts`` and ``rollback`` under ``geogrid redraw``'s actions."""
    drafts = redraw.add_parser("drafts", help="list stored drafts")
    drafts.add_argument("--level", help="of this level only")
    drafts.add_argument("--parent", help="of this parent only")
    drafts.add_argument("--status", choices=STATUSES)
    drafts.set_defaults(run=_list)
    store_option(drafts)
    draft = redraw.add_parser("draft", help="a stored draft: create, show, propose, review…")
    actions = draft.add_subparsers(required=True, metavar="ACTION")
    _add_create(actions)
    for name, run, text in (
        ("show", _show, "the draft, its grids and the publish gate"),
        ("submit", _submit, "hand the draft in for approval"),
        ("approve", _approve, "approve a submitted draft"),
        ("withdraw", _withdraw, "take a submitted or approved draft back"),
    ):
        command = actions.add_parser(name, help=text)
        command.add_argument("id", type=int)
        command.set_defaults(run=run)
    actions.choices["show"].add_argument("--json", action="store_true", help="as JSON")
    _add_file_commands(actions)
    publish = actions.add_parser("publish", help="make an approved draft the new generation")
    publish.add_argument("id", type=int)
    publish.add_argument("--starts-on", metavar="DATE", help="YYYY-MM-DD (default today)")
    publish.set_defaults(run=_publish)
    for command in actions.choices.values():
        store_option(command)
    rollback = redraw.add_parser("rollback", help="make an earlier generation current again")
    rollback.add_argument("--to", type=int, required=True, metavar="GENERATION")
    rollback.set_defaults(run=_rollback)
    store_option(rollback)
    crosswalk = redraw.add_parser(
        "crosswalk", help="the old → new code table (新旧编码对照表) a publication made"
    )
    crosswalk.add_argument("generation", type=int, metavar="GENERATION")
    crosswalk.add_argument("--out", metavar="CSV", help="write it to a file (default: print)")
    crosswalk.set_defaults(run=_crosswalk)
    store_option(crosswalk)


def _add_create(actions) -> None:
    create = actions.add_parser("create", help="a new draft of one parent's grids")
    create.add_argument("--level", required=True, help="the level to redraw, e.g. grid")
    create.add_argument("--parent", required=True, help="a grid code of the level above")
    create.add_argument("--name", help="the draft's name (default: PARENT LEVEL)")
    create.add_argument(
        "--weight",
        default="households",
        help="unit column to balance (default households; 'count' counts units)",
    )
    create.add_argument(
        "--band",
        default=f"{DEFAULT_BAND[0]:g}:{DEFAULT_BAND[1]:g}",
        metavar="MIN:MAX",
        help="weight per grid (default 300:500)",
    )
    create.add_argument("--numbering", choices=NUMBERINGS, default="spatial")
    create.add_argument(
        "--from-csv",
        type=Path,
        metavar="FILE",
        help="start from this unit_code,grid CSV (default: today's grids)",
    )
    create.add_argument(
        "--survey",
        type=Path,
        metavar="FILE",
        help="household survey CSV overriding the units' weights",
    )
    create.set_defaults(run=_create)


def _add_file_commands(actions) -> None:
    propose = actions.add_parser("propose", help="replace the assignment by a proposal")
    propose.add_argument("id", type=int)
    propose.add_argument(
        "--keep-current",
        action="store_true",
        help="repair today's grids instead of drawing new ones",
    )
    propose.add_argument("--seed", type=int, default=0)
    propose.set_defaults(run=_propose)
    load = actions.add_parser("import", help="replace the assignment by a unit_code,grid CSV")
    load.add_argument("id", type=int)
    load.add_argument("file", type=Path)
    load.set_defaults(run=_import)
    export = actions.add_parser("export", help="write the draft as a file")
    export.add_argument("id", type=int)
    export.add_argument(
        "--out", type=Path, required=True, help=f"a file ending in {', '.join(EXPORTS)}"
    )
    export.set_defaults(run=_export)


# --- commands ---------------------------------------------------------------------------------


def _create(args: argparse.Namespace) -> int:
    # Deferred: the redraw modules load only when a redraw command runs.
    from geogrid.redraw import files, survey

    store = open_store(args.store)
    surveyed = survey.read_survey(args.survey) if args.survey else None
    assignment = files.read_assignment_csv(args.from_csv) if args.from_csv else None
    draft = store.drafts.create(
        args.name or f"{args.parent} {args.level}",
        args.level,
        args.parent,
        weight=args.weight,
        band=parse_band(args.band),
        numbering=args.numbering,
        assignment=assignment,
        survey=surveyed,
        actor=operator(args),
    )
    grids = len(set(draft.assignment.values()))
    print(
        f"draft {draft.id} ({draft.name}): {len(draft.assignment)} units in {grids} grids, "
        f"on generation {draft.base_generation}"
    )
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    found = open_store(args.store).drafts.list(
        args.level, args.parent, args.status, actor=operator(args)
    )
    print(f"{'id':>4}  {'status':<10} {'ver':>4}  {'level':<10} {'parent':<16} {'base':>4}  name")
    for d in found:
        print(
            f"{d.id:>4}  {d.status:<10} {d.version:>4}  {d.level:<10} "
            f"{d.parent_code or '-':<16} {d.base_generation:>4}  {d.name}"
        )
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    draft = store.drafts.get(args.id, actor=operator(args))
    plan = _plan(store, draft)
    grids = _grid_table(plan)
    gate = plan.gate()
    if args.json:
        shown = {**draft.to_dict(), "grids": grids.to_dict("records"), "gate": gate}
        print(json.dumps(shown, ensure_ascii=False, indent=2, default=str))
        return EXIT_OK
    print(f"draft {draft.id}: {draft.name}  [{draft.status}, version {draft.version}]")
    print(
        f"  {draft.level} of {draft.parent_code or '-'} on generation {draft.base_generation}; "
        f"{draft.weight} {draft.band_min:g}–{draft.band_max:g}, numbering {draft.numbering}"
    )
    for who in ("created", "submitted", "approved", "published"):
        by, at = getattr(draft, f"{who}_by"), getattr(draft, f"{who}_at")
        if by:
            print(f"  {who} by {by} at {at.astimezone(store.calendar.zone):%Y-%m-%d %H:%M}")
    print(grids.to_string(index=False))
    print("publish gate: " + ("passes" if not gate else "; ".join(gate)))
    return EXIT_OK


def _propose(args: argparse.Namespace) -> int:
    # Deferred: GerryChain loads only when a proposal is made.
    from geogrid.redraw.propose import propose

    store = open_store(args.store)
    draft = store.drafts.get(args.id, actor=operator(args))
    units = _units(store, draft)
    found = propose(
        units,
        weight=draft.weight,
        band=draft.band,
        keep_current=args.keep_current,
        seed=args.seed,
        locked=draft.locked,
        exclusive=draft.exclusive,
        current=draft.assignment,
    )
    moved = _replace(store, draft, found.assignment, "propose", args)
    print(
        f"draft {draft.id}: {found.grids} grids, {found.in_band} in band, "
        f"{found.contiguous} contiguous; {moved} units moved"
    )
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    # Deferred: as above.
    from geogrid.redraw.files import read_assignment_table

    store = open_store(args.store)
    draft = store.drafts.get(args.id, actor=operator(args))
    table = read_assignment_table(args.file, list(draft.assignment))
    names = {g: str(n).strip() for g, n in zip(table["grid"], table["grid_name"], strict=True)
             if pd.notna(n) and str(n).strip()}  # fmt: skip
    assignment = {**draft.assignment, **dict(zip(table["unit_code"], table["grid"], strict=True))}
    moved = _replace(store, draft, assignment, "import", args, names)
    print(f"draft {draft.id}: {len(table)} units read, {moved} moved")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    # Deferred: as above.
    from geogrid.redraw import files

    out: Path = args.out
    kind = next((e for e in EXPORTS if out.name.lower().endswith(e)), None)
    if kind is None:
        raise InputError(f"--out: {out.name} must end in {', '.join(EXPORTS)}")
    store = open_store(args.store)
    draft = store.drafts.get(args.id, actor=operator(args))
    names = _used(draft.names, draft)
    if kind == ".csv":
        files.write_assignment_csv(draft.assignment, out, names=names)
    elif kind == ".pdf":
        base = store.hierarchy(draft.base_generation)
        files.write_review_pdf(
            base,
            redraw_of_draft(store, draft),
            draft.level,
            out,
            title=f"{draft.name}（草案 {draft.id}）",
        )
    else:
        units = _units(store, draft)
        if kind == ".gpkg":
            moves = pd.DataFrame([m.__dict__ for m in store.drafts.moves(draft.id)])
            files.write_geopackage(
                out, units, draft.assignment, names=names, changes=moves if len(moves) else None
            )
        elif kind == ".geojson":
            files.write_geojson(out, units, draft.assignment, names=names)
        else:
            files.write_shapefile_zip(out, units, draft.assignment, names=names)
    print(f"draft {draft.id} → {out}")
    return EXIT_OK


def _submit(args: argparse.Namespace) -> int:
    return _said(open_store(args.store).drafts.submit(args.id, actor=operator(args)))


def _approve(args: argparse.Namespace) -> int:
    return _said(open_store(args.store).drafts.approve(args.id, actor=operator(args)))


def _withdraw(args: argparse.Namespace) -> int:
    return _said(open_store(args.store).drafts.withdraw(args.id, actor=operator(args)))


def _publish(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    who = operator(args)
    draft = store.drafts.get(args.id, actor=who)
    starts_on = _day(args.starts_on) if args.starts_on else None
    done = store.publish_redraw(
        draft.id, redraw_of_draft(store, draft), starts_on=starts_on, actor=who
    )
    print(
        f"draft {draft.id} published as generation {done.generation.id}, current from "
        f"{done.generation.starts_on}; generation {done.previous} ended. Open reports: "
        f"{done.changed:,} changed grid ({done.placed:,} placed again), {done.moved:,} "
        f"kept their codes under the new generation"
    )
    return EXIT_OK


def _crosswalk(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    store.generation(args.generation)  # NotFoundError names an unknown one
    codes = store.drafts.crosswalk(args.generation)
    if codes.empty:
        raise InputError(f"generation {args.generation} was not made by publishing a draft")
    text = codes.to_csv(index=False, lineterminator="\n")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text)
        print(f"{len(codes):,} codes → {args.out}")
    else:
        print(text, end="")
    return EXIT_OK


def _rollback(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    before = store.active_generation_id()
    if before == args.to:
        raise InputError(f"--to: generation {args.to} is already current")
    result = store.activate(args.to, actor=operator(args))
    print(
        f"generation {args.to} is current again (generation {before} ended today); "
        f"{result.reassigned:,} open reports re-assigned, {result.changed:,} changed grid"
    )
    return EXIT_OK


# --- helpers ----------------------------------------------------------------------------------


def redraw_of_draft(store: Store, draft: DraftRecord):
    """The draft applied to its base generation (``geogrid.redraw.apply.apply_plans``).

    Names and exclusive grids go with it, for the grids still in use.
    """
    # Deferred: as above.
    from geogrid.redraw.apply import apply_draft

    return apply_draft(store.hierarchy(draft.base_generation), draft, store.codes_ever())


def _units(store: Store, draft: DraftRecord):
    # Deferred: as above.
    from geogrid.redraw.units import units_of

    return units_of(
        store.hierarchy(draft.base_generation),
        draft.level,
        draft.parent_code,
        survey=draft.survey_frame(),
    )


def _plan(store: Store, draft: DraftRecord):
    # Deferred: as above.
    from geogrid.redraw.plan import Plan

    return Plan.from_state(_units(store, draft), draft.state())


def _grid_table(plan) -> pd.DataFrame:
    """One row per grid key: name, units, weight, band status, pieces, locked, exclusive."""
    columns = ["grid", "name", "units", "weight", "band", "pieces", "locked", "exclusive"]
    rows = plan.metrics()["grids"].values()
    return pd.DataFrame([{c: m[c] for c in columns} for m in rows], columns=columns)


def _replace(store, draft, assignment, operation, args, names=None) -> int:
    """Save a whole new assignment (its undo history starts again); how many units moved."""
    moves = [
        (unit, draft.assignment[unit], grid, operation)
        for unit, grid in sorted(assignment.items())
        if draft.assignment[unit] != grid
    ]
    state = {
        "assignment": assignment,
        "history": [],
        "cursor": 0,
        "grids": None,
        "next_new": None,
        "names": {**draft.names, **(names or {})},
    }
    store.drafts.save(draft.id, state, moves, expected_version=draft.version, actor=operator(args))
    return len(moves)


def _used(names: dict[str, str], draft: DraftRecord) -> dict[str, str]:
    keys = set(draft.assignment.values())
    return {key: name for key, name in names.items() if key in keys}


def _said(draft: DraftRecord) -> int:
    print(f"draft {draft.id} ({draft.name}) is {draft.status} (version {draft.version})")
    return EXIT_OK


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--starts-on: {text!r} is not a date (YYYY-MM-DD)") from None
