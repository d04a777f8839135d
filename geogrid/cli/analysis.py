"""``geogrid`` commands for commanders: the printable four-colour risk map.

``geogrid risk-map --out map.pdf [--level KEY] [--store URL] [--date YYYY-MM-DD]``
colours every grid of the store's active generation from its hazards and its
reports (see :mod:`geogrid.analysis.risk`) and draws the map for the wall.
"""

from __future__ import annotations

import argparse
import os
from datetime import timedelta
from pathlib import Path

from geogrid.analysis.events import as_of_moment, check_points
from geogrid.analysis.printmap import save_risk_map
from geogrid.analysis.risk import RiskRules, colour_grids
from geogrid.errors import InputError
from geogrid.storage import DEFAULT_URL, open_store

EXIT_OK = 0


def add_analysis_commands(commands) -> None:
    """Register ``risk-map`` on the ``geogrid`` command's subparsers."""
    command = commands.add_parser(
        "risk-map", help="draw the four-colour risk map (四色安全风险分布图) as PDF or PNG"
    )
    command.add_argument("--out", type=Path, required=True, help="map.pdf or map.png")
    command.add_argument("--level", help="level to colour (default: the district's default level)")
    command.add_argument(
        "--date", help="colours as of the end of this day, YYYY-MM-DD (default: now)"
    )
    command.add_argument(
        "--window-days",
        type=int,
        default=RiskRules.window_days,
        help="days of reports that count as event pressure (default 30)",
    )
    command.add_argument(
        "--categories",
        nargs="*",
        default=list(RiskRules.categories),
        help="report categories that count (default: %(default)s)",
    )
    command.add_argument("--title", help="title (default: district, 四色安全风险分布图, level)")
    command.add_argument("--dpi", type=int, default=200, help="resolution of a PNG (default 200)")
    command.add_argument(
        "--store",
        default=os.environ.get("GEOGRID_STORE", DEFAULT_URL),
        help="store URL (default $GEOGRID_STORE or sqlite:///geogrid.db)",
    )
    command.set_defaults(run=_risk_map)


def _risk_map(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    hierarchy = store.hierarchy()
    args.level = hierarchy.chosen_level(args.level, "--level")
    if not 30 <= args.dpi <= 1200:
        raise InputError(f"--dpi: must be 30–1200, got {args.dpi}")
    rules = RiskRules(window_days=args.window_days, categories=tuple(args.categories))
    as_of = as_of_moment(args.date or store.clock(), store.calendar.zone)
    points = check_points(store.report_points(since=as_of - 2 * timedelta(days=rules.window_days)))
    maps = colour_grids(hierarchy, store.hazards(), points, as_of, rules, store.categories)
    frame = maps[args.level]
    out = _draw(args, hierarchy, frame, rules, as_of)
    counts = frame["colour"].value_counts()
    summary = ", ".join(f"{c} {int(counts.get(c, 0))}" for c in ("red", "orange", "yellow", "blue"))
    print(f"wrote {out}: {len(frame):,} grids of level {args.level} — {summary}")
    return EXIT_OK


def _draw(args: argparse.Namespace, hierarchy, frame, rules: RiskRules, as_of) -> Path:
    """The map with the parent level's boundaries over it, a title and the rules in a note."""
    depth = hierarchy.levels.index(args.level)
    outline = hierarchy.grids(hierarchy.levels[depth - 1]) if depth > 0 else None
    label = hierarchy.level(args.level).label
    title = args.title or f"{hierarchy.name or ''} 四色安全风险分布图（{label}）".strip()
    note = (
        f"规则 rules: 最高隐患等级，近{rules.window_days}天事件居前"
        f"{rules.top_percent[0]:g}%升一级，上级取下级最高 · geogrid"
    )
    # as_of is the end of the day (exclusive): the map is dated the day itself.
    day = as_of - timedelta(microseconds=1)
    return save_risk_map(frame, args.out, title=title, as_of=day, outline=outline, note=note,
                         dpi=args.dpi)  # fmt: skip
