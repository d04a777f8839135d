"""What every command group shares: who acts, and where the store is.

Who acts on the command line is the operating-system account that runs the command.

Whoever can open the store's file or database may change it, so the command
line acts as ``cli:<account>``; what ``--actor`` says is kept as the display
name only, never as the name recorded in the history or the audit trail.

Examples
--------
>>> import argparse
>>> operator(argparse.Namespace(actor="王科长")).display_name
'王科长'
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace

from geogrid.access import Principal, cli_principal
from geogrid.storage import DEFAULT_URL

ACTOR_HELP = ("a name for the record's display; the history and audit trail name the "
              "operating-system account (cli:USER)")  # fmt: skip


def operator(args: argparse.Namespace) -> Principal:
    """The principal of this command's run."""
    stated = getattr(args, "actor", None)
    principal = cli_principal()
    return replace(principal, display_name=stated.strip()) if stated else principal


def store_option(parser: argparse.ArgumentParser) -> None:
    """``--store URL``, by default ``$GEOGRID_STORE`` (else ``sqlite:///geogrid.db``)."""
    parser.add_argument("--store", default=os.environ.get("GEOGRID_STORE", DEFAULT_URL),
                        help="store URL: sqlite:///file.db or postgresql://… "
                             "(default $GEOGRID_STORE or sqlite:///geogrid.db)")  # fmt: skip
