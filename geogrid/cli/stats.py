"""``geogrid stats``: the assessment table (考核) of a period, as CSV, Excel or JSON.

    geogrid stats --level LEVEL [--since DATE] [--until DATE] [--by grid|worker|department]
                  [--format csv|xlsx|json] [--out FILE] [--no-patrol] [--store URL]

DATE is a local date (YYYY-MM-DD) in the district's zone; ``--until`` includes its
whole day. The default period is the 30 days that end today (by the store's
clock). ``--by worker`` and ``--by department`` give a row per account of that
role (``--level`` is then optional). The columns start ``code, name, received,
closed, closure_rate, on_time_rate, overdue, escalated, mean_hours_to_close``;
:mod:`geogrid.stats` defines each. The format follows ``--out``'s suffix unless
given; without ``--out`` CSV or JSON goes to standard output. CSV is UTF-8 with
a byte-order mark, so that Excel opens the Chinese names right.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta
from pathlib import Path

from geogrid.cli.common import store_option
from geogrid.errors import InputError
from geogrid.stats import BY, assessment, check_period, local_period, records, to_csv, to_xlsx
from geogrid.storage import open_store

EXIT_OK = 0
FORMATS = ("csv", "xlsx", "json")
DEFAULT_DAYS = 30


def add_stats_commands(commands) -> None:
    """Register ``geogrid stats``."""
    command = commands.add_parser("stats", help="assessment statistics (考核) of a period",
                                  description=__doc__.splitlines()[0])  # fmt: skip
    command.add_argument("--level", help="a level key of the boundaries, e.g. grid")
    command.add_argument("--since", metavar="DATE", help="first local day (default: 29 days "
                         "before --until)")  # fmt: skip
    command.add_argument("--until", metavar="DATE", help="last local day, included (default: "
                         "today)")  # fmt: skip
    command.add_argument("--by", choices=BY, default="grid",
                         help="rows: units of --level, grid workers or departments")  # fmt: skip
    command.add_argument("--format", choices=FORMATS, help="default: --out's suffix, else csv")
    command.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    command.add_argument("--no-patrol", action="store_true",
                         help="skip patrol compliance (read from every stored track)")  # fmt: skip
    store_option(command)
    command.set_defaults(run=_stats)


def _stats(args: argparse.Namespace) -> int:
    fmt = _format(args)
    if args.by == "grid" and not args.level:
        raise InputError("--level: required with --by grid (a level key of the boundaries)")
    store = open_store(args.store)
    first, last = _days(args, store)
    zone = store.calendar.timezone
    since, until = check_period(*local_period(first, last, zone))
    table = assessment(store, args.level, since, until, store.clock(), by=args.by,
                       patrol=not args.no_patrol)  # fmt: skip
    about = {"level": args.level, "by": args.by, "since": first.isoformat(),
             "until": last.isoformat(), "timezone": zone,
             "now": store.clock().isoformat(timespec="seconds")}  # fmt: skip
    data = _encoded(table, fmt, about)
    if args.out:
        Path(args.out).write_bytes(data)
        print(f"wrote {args.out}: {len(table)} rows ({args.by}, {first} to {last})",
              file=sys.stderr)  # fmt: skip
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return EXIT_OK


def _format(args: argparse.Namespace) -> str:
    if args.format:
        fmt = args.format
    else:
        suffix = Path(args.out).suffix.lower().lstrip(".") if args.out else ""
        fmt = suffix if suffix in FORMATS else "csv"
    if fmt == "xlsx" and not args.out:
        raise InputError("--out: an Excel file needs a file name (--out stats.xlsx)")
    if args.out and not Path(args.out).parent.is_dir():
        raise InputError(f"--out: {Path(args.out).parent} is not a folder")
    return fmt


def _days(args: argparse.Namespace, store) -> tuple[date, date]:
    today = store.clock().astimezone(store.calendar.zone).date()
    last = parse_day(args.until, "--until") if args.until else today
    first = parse_day(args.since, "--since") if args.since else last - timedelta(
        days=DEFAULT_DAYS - 1)  # fmt: skip
    if last < first:
        raise InputError(f"--until ({last}) is before --since ({first})")
    return first, last


def parse_day(text: str, option: str) -> date:
    """A local date as typed on the command line.

    Examples
    --------
    >>> parse_day("2026-11-30", "--until")
    datetime.date(2026, 11, 30)
    >>> parse_day("30/11/2026", "--since")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: --since: '30/11/2026' is not a date (YYYY-MM-DD)
    """
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from None
    if not 1900 <= day.year <= 2100:
        raise InputError(f"{option}: {text} is outside the years 1900 to 2100")
    return day


def _encoded(table, fmt: str, about: dict) -> bytes:
    if fmt == "csv":
        return to_csv(table)
    if fmt == "xlsx":
        return to_xlsx(table, about)
    body = {**about, "rows": records(table)}
    return (json.dumps(body, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
