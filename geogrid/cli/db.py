"""``geogrid db``: the store's schema revision, and upgrading it to this release's.

``geogrid db current`` shows the store's revision and this release's (head);
``geogrid db upgrade`` applies every pending revision, also those that opening a
store will not apply by itself (not ``online_safe``): stop the servers and take a
``geogrid backup`` first. Both take ``--store URL`` (default: ``$GEOGRID_STORE``,
else ``sqlite:///geogrid.db`` in the working directory).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from geogrid.errors import InputError
from geogrid.storage import DEFAULT_URL, Store, open_store
from geogrid.storage.migrations import (
    SchemaVersionError,
    current_revision,
    head_revision,
    pending_revisions,
    upgrade,
)

EXIT_OK = 0


def add_db_commands(commands) -> None:
    """Register ``db current`` and ``db upgrade``."""
    db = commands.add_parser("db", help="the store's schema: its revision, and upgrading it")
    sub = db.add_subparsers(required=True, metavar="ACTION")
    current = sub.add_parser("current", help="the store's schema revision and this release's")
    _store_option(current)
    current.set_defaults(run=_current)
    upgrade_ = sub.add_parser("upgrade", help="apply every pending schema revision (stop the "
                              "servers and run geogrid backup first)")  # fmt: skip
    _store_option(upgrade_)
    upgrade_.set_defaults(run=_upgrade)


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=os.environ.get("GEOGRID_STORE", DEFAULT_URL),
                        help="store URL: sqlite:///file.db or postgresql://… "
                             "(default $GEOGRID_STORE or sqlite:///geogrid.db)")  # fmt: skip


def _current(args: argparse.Namespace) -> int:
    store = _existing_store(args.store)
    try:
        revision = current_revision(store.db)
        print(f"store revision: {revision or 'none (made before revisions were recorded, or new)'}")
        print(f"this geogrid:   {head_revision()} (head)")
        try:
            pending = pending_revisions(revision)
        except SchemaVersionError:
            print("pending:        none; the store is newer than this geogrid: run a newer one")
            return EXIT_OK
        waiting = f"{', '.join(pending)} (run geogrid db upgrade)" if pending else "none"
        print(f"pending:        {waiting}")
    finally:
        store.close()
    return EXIT_OK


def _upgrade(args: argparse.Namespace) -> int:
    store = _existing_store(args.store)
    try:
        before = current_revision(store.db)
        applied = upgrade(store.db, only_safe=False)
        after = current_revision(store.db)
    finally:
        store.close()
    done = f"applied {', '.join(applied)}" if applied else "already at head, nothing to do"
    print(f"revision {before or 'none'} → {after}: {done}")
    return EXIT_OK


def _existing_store(url: str) -> Store:
    """The store as it is (no upgrade on opening); a SQLite file must exist already."""
    database = Path(url.removeprefix("sqlite:///"))
    if url.startswith("sqlite:///") and not database.is_file():
        # Opening it would create an empty store: most likely the URL is mistyped.
        raise InputError(f"--store {url}: no store at {database}")
    return open_store(url, upgrade=False)


__all__ = ["add_db_commands"]
