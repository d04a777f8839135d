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

import numpy as np

from geogrid.access import Principal, cli_principal
from geogrid.errors import InputError
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


def parse_band(text: str) -> tuple[float, float]:
    """``"MIN:MAX"`` as two numbers, 0 ≤ MIN ≤ MAX.

    Examples
    --------
    >>> parse_band("300:500")
    (300.0, 500.0)
    >>> parse_band("500:300")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: --band: MIN 500 is more than MAX 300 (write MIN:MAX, e.g. 300:500)
    """
    low, sep, high = str(text).partition(":")
    try:
        band = (float(low), float(high)) if sep else None
    except ValueError:
        band = None
    if band is None or not all(np.isfinite(band)) or band[0] < 0:
        raise InputError(f"--band: {text!r} is not MIN:MAX with 0 ≤ MIN (e.g. 300:500)")
    if band[0] > band[1]:
        raise InputError(
            f"--band: MIN {band[0]:g} is more than MAX {band[1]:g} (write MIN:MAX, e.g. 300:500)"
        )
    return band
