"""The ``geogrid`` command: one module per command group.

- :mod:`~geogrid.cli.boundaries`: ``info``, ``validate``, ``assign`` (files, no store);
- :mod:`~geogrid.cli.store`: ``import``, ``generations``, ``activate``, ``reports …``, ``backup``;
- :mod:`~geogrid.cli.patrol`: ``patrol plan|import|compliance``;
- :mod:`~geogrid.cli.analysis`: ``risk-map``;
- :mod:`~geogrid.cli.people`: ``users add|token|list|tokens|disable|enable|revoke|password``,
  ``audit``;
- :mod:`~geogrid.cli.db`: ``db current|upgrade`` (the store's schema revision);
- :mod:`~geogrid.cli.redraw`: ``redraw propose|diff`` (regroup units into grids; compare manifests).

Exit codes: 0 success; 1 the boundaries have topology errors (``validate``);
2 a user mistake (bad manifest, file, column, CRS…), reported in one line.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any

from geogrid.cli.analysis import add_analysis_commands
from geogrid.cli.boundaries import add_boundary_commands
from geogrid.cli.db import add_db_commands
from geogrid.cli.patrol import add_patrol_commands
from geogrid.cli.people import add_people_commands
from geogrid.cli.redraw import add_redraw_commands
from geogrid.cli.stats import add_stats_commands
from geogrid.cli.store import add_store_commands
from geogrid.errors import GeogridError

EXIT_USER_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``geogrid`` command; returns the exit code.

    Examples
    --------
    >>> main(["info", "data/boundaries/sample.toml"])  # doctest: +ELLIPSIS
    示范区 Sample district
    ...
    0
    """
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except GeogridError as exc:
        print(f"geogrid: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


class CommandParser(argparse.ArgumentParser):
    """argparse that takes a value such as ``-0.19,51.5`` (west of Greenwich) for a value.

    argparse reads an argument that starts with "-" as an option unless it is a
    plain number, so ``--start -0.19,51.5`` and ``--bbox -0.5,51.3,0.3,51.7`` would
    fail. No option of geogrid starts with "-" and a digit, so such an argument
    is a value. Subcommands' parsers are of this class too.

    Examples
    --------
    >>> parser = CommandParser(prog="geogrid")
    >>> _ = parser.add_argument("--start")
    >>> parser.parse_args(["--start", "-0.19,51.5"]).start
    '-0.19,51.5'
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Python 3.11's pattern accepts only "-5" and "-0.5"; newer Pythons use this one.
        # The attribute is how argparse decides in every version we run on.
        self._negative_number_matcher = re.compile(r"^-\.?\d")


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="geogrid", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    add_boundary_commands(commands)
    add_store_commands(commands)
    add_patrol_commands(commands)
    add_analysis_commands(commands)
    add_people_commands(commands)
    add_db_commands(commands)
    add_redraw_commands(commands)
    add_stats_commands(commands)
    return parser
