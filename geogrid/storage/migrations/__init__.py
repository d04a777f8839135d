"""Versioned schema migrations of the store, with Alembic.

The schema is defined only here: ``versions/`` holds one module per revision
(``0001_baseline``: the schema of the release before migrations; ``0002_people``:
users, tokens, the audit log and reporters' contact details; ``0003_redraw``:
generations' dates, redraw drafts and their moves log; ``0004_loop``: who a report
is with, its ticket, warning time, outcome and rating, photos, offline actions,
notices and patrol check-ins). A store records its
revision in Alembic's ``alembic_version`` table.

Opening a store (:func:`geogrid.storage.open_store`) brings it to the head
revision when that is safe. A store already at head costs one plain query and
never loads Alembic: servers' workers and hundreds of tests open stores. A
revision module declares ``online_safe``: True when it only adds, in one
transaction, so it may run while other processes use the store. A pending
revision that is not safe stops the opening with an error that names
``geogrid db upgrade``, which applies every revision (stop the servers and take a
``geogrid backup`` first). A store at a revision this code does not know (made by
a newer geogrid) is refused and left untouched.

Adding a revision (developers)::

    python -c "from alembic import command; from geogrid.storage.migrations import \\
    alembic_config; command.revision(alembic_config(), 'what it changes', rev_id='0005')"

then write its ``upgrade()`` for both dialects (``op.get_bind().dialect.name`` is
``sqlite`` or ``postgresql``) and set ``online_safe``. No ``alembic.ini`` is
needed: :func:`alembic_config` is the configuration.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from geogrid.storage.sqlite import SqliteDialect
>>> dialect = SqliteDialect(Path(tempfile.mkdtemp()) / "g.db")
>>> current_revision(dialect) is None
True
>>> upgrade(dialect, only_safe=True)
['0001', '0002', '0003', '0004']
>>> current_revision(dialect) == head_revision()
True
"""

from __future__ import annotations

import re
import threading
from contextlib import AbstractContextManager
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from geogrid.errors import GeogridError

FOLDER = Path(__file__).resolve().parent
#: A revision's file is its four-digit id and a slug; the ids run in order.
REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")
UPGRADE_COMMAND = "geogrid db upgrade"
#: Alembic's ``op`` and ``context`` are proxies kept in its modules, one per process: two
#: threads migrating two stores at once would each run the other's revisions.
_ALEMBIC = threading.Lock()


class SchemaVersionError(GeogridError):
    """The store's schema revision cannot be brought to this release's when opening it."""


class Migratable(Protocol):
    """What the migrations need of a dialect (:class:`~geogrid.storage.dialect.Dialect`)."""

    def schema_revision(self) -> str | None: ...

    def migration_connection(self) -> AbstractContextManager[Any]: ...


def current_revision(dialect: Migratable) -> str | None:
    """The store's schema revision; None for a new store or one made before migrations.

    One plain query through the dialect: Alembic is not loaded.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from geogrid.storage.sqlite import SqliteDialect
    >>> dialect = SqliteDialect(Path(tempfile.mkdtemp()) / "g.db")
    >>> print(current_revision(dialect))
    None
    >>> dialect.create_schema()
    >>> current_revision(dialect)
    '0004'
    """
    return dialect.schema_revision()


@cache
def head_revision() -> str:
    """The newest revision this code knows, read from the names of the revision files.

    Examples
    --------
    >>> head_revision()
    '0004'
    """
    found = [m[1] for p in (FOLDER / "versions").iterdir() if (m := REVISION_FILE.match(p.name))]
    return max(found)


def upgrade(dialect: Migratable, *, only_safe: bool) -> list[str]:
    """Apply the pending revisions in one transaction; return their ids, oldest first.

    ``only_safe``: refuse (:class:`SchemaVersionError`, changing nothing) when a
    pending revision is not ``online_safe``; what opening a store does.
    ``geogrid db upgrade`` passes False. A store at an unknown revision is refused
    either way. The transaction holds the dialect's schema lock (SQLite's write
    lock; a PostgreSQL advisory lock), so processes starting together apply
    each revision once.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from geogrid.storage.sqlite import SqliteDialect
    >>> dialect = SqliteDialect(Path(tempfile.mkdtemp()) / "g.db")
    >>> upgrade(dialect, only_safe=False)
    ['0001', '0002', '0003', '0004']
    >>> upgrade(dialect, only_safe=False)
    []
    """
    # Deferred: Alembic and SQLAlchemy take a while to load; a store at head never needs them.
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationContext

    with dialect.migration_connection() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        pending = pending_revisions(current, only_safe)
        if not pending:
            return []
        # alembic.command.upgrade, but with the revision files read once per process
        # rather than on every call: tests open hundreds of new stores.
        scripts, head = _scripts(), head_revision()

        def steps(revision, _context):
            return scripts._upgrade_revs(head, revision)

        with _ALEMBIC, EnvironmentContext(alembic_config(connection), scripts, fn=steps,
                                          destination_rev=head):  # fmt: skip
            scripts.run_env()
    return pending


def pending_revisions(current: str | None, only_safe: bool = False) -> list[str]:
    """The revisions after ``current`` up to head, oldest first; refused as :func:`upgrade` says.

    Examples
    --------
    >>> pending_revisions(None), pending_revisions("0003"), pending_revisions("0004")
    (['0001', '0002', '0003', '0004'], ['0004'], [])
    >>> pending_revisions("9999")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    geogrid.storage.migrations.SchemaVersionError: the store's schema is at revision 9999, ...
    """
    scripts = _scripts()
    if current is not None and current not in _known(scripts):
        raise SchemaVersionError(
            f"the store's schema is at revision {current}, which this geogrid does not know "
            f"(it knows revisions up to {head_revision()}): a newer geogrid made or upgraded it. "
            "Run that version, or restore a backup taken before the upgrade; nothing was changed"
        )
    pending = [s for s in scripts.iterate_revisions(head_revision(), current or "base")]
    pending.reverse()
    unsafe = [s.revision for s in pending if getattr(s.module, "online_safe", False) is not True]
    if only_safe and unsafe:
        raise SchemaVersionError(
            f"the store's schema is at revision {current or 'none'} and revision "
            f"{', '.join(unsafe)} cannot be applied while the store is in use: stop the "
            f"servers, back up the store (geogrid backup), then run `{UPGRADE_COMMAND}`"
        )
    return [s.revision for s in pending]


def alembic_config(connection: Any = None) -> Any:
    """Alembic's configuration, made here instead of read from an ``alembic.ini``.

    ``connection`` (a SQLAlchemy connection in a transaction) is what ``env.py``
    runs the migrations on.

    Examples
    --------
    >>> alembic_config().get_main_option("script_location") == str(FOLDER)
    True
    """
    # Deferred: Alembic loads only when a migration runs or a developer adds one.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(FOLDER))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> Any:
    """The revision files, read once per process."""
    # Deferred: as in upgrade().
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def _known(scripts: Any) -> set[str]:
    return {script.revision for script in scripts.walk_revisions()}


__all__ = [
    "SchemaVersionError",
    "alembic_config",
    "current_revision",
    "head_revision",
    "pending_revisions",
    "upgrade",
]
