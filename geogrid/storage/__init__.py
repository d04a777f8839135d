"""Storage behind one interface, chosen by URL.

``sqlite:///path/to/geogrid.db`` is the embedded default (no server; the file
and its tables are created on first use); ``postgresql://user@host/db`` uses
PostgreSQL with PostGIS and GiST indexes. The schema is versioned: opening a
store made by an earlier release upgrades it when that is safe
(:mod:`geogrid.storage.migrations`; ``geogrid db upgrade`` does the rest).

Examples
--------
>>> import tempfile
>>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/geogrid.db")
>>> store.active_generation() is None
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from geogrid.categories import CategoryTree
from geogrid.clock import Clock, system_clock
from geogrid.errors import InputError
from geogrid.storage.accounts import AuthenticationError, DuplicateUserError, User
from geogrid.storage.dialect import StoreUnavailableError
from geogrid.storage.migrations import SchemaVersionError
from geogrid.storage.rows import Activation, DuplicateReportError, Generation, IntakeResult
from geogrid.storage.sqlite import SqliteDialect
from geogrid.storage.store import (
    NotFoundError,
    PermissionDeniedError,
    StaleStatusError,
    Store,
    TopologyRefusedError,
)

DEFAULT_URL = "sqlite:///geogrid.db"

__all__ = [
    "DEFAULT_URL",
    "Activation",
    "AuthenticationError",
    "DuplicateReportError",
    "DuplicateUserError",
    "Generation",
    "IntakeResult",
    "NotFoundError",
    "PermissionDeniedError",
    "SchemaVersionError",
    "StaleStatusError",
    "Store",
    "StoreUnavailableError",
    "TopologyRefusedError",
    "User",
    "open_store",
]


def open_store(
    url: str = DEFAULT_URL,
    categories: CategoryTree | None = None,
    clock: Clock = system_clock,
    *,
    upgrade: bool = True,
    **options: Any,
) -> Store:
    """Open (and on first use, set up) the store a URL names.

    ``sqlite:///relative.db`` is relative to the working directory,
    ``sqlite:////abs/path.db`` absolute; ``postgresql://`` and ``postgres://``
    take any libpq URL. ``clock`` is where the store reads "now" (the time a
    report is received, whether it is overdue); tests pass a fixed one.

    ``upgrade``: apply the schema migrations that are safe while the store is in
    use, and refuse a store that needs others or was made by a newer geogrid
    (:class:`~geogrid.storage.migrations.SchemaVersionError`). False opens the
    store as it is, touching nothing: ``geogrid db`` does so, to upgrade it.
    ``options`` go to :class:`Store` (``warning_share``, ``media_folder``).
    """
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        return Store(
            SqliteDialect(_sqlite_path(url)), categories, clock, upgrade=upgrade, **options
        )
    if scheme in ("postgresql", "postgres"):
        # Deferred: psycopg is loaded only by those who open a PostGIS store.
        from geogrid.storage.postgis import PostgisDialect

        return Store(PostgisDialect(url), categories, clock, upgrade=upgrade, **options)
    raise InputError(f"store URL {url!r}: use sqlite:///path/to/file.db or postgresql://…")


def _sqlite_path(url: str) -> Path:
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
    if not path:
        raise InputError(f"store URL {url!r}: a SQLite URL looks like sqlite:///geogrid.db")
    return Path(path)
