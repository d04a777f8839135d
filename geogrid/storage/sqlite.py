"""The embedded store: one SQLite file, no server, set up on first use.

WAL mode lets readers work while one writer writes; ``synchronous=FULL`` makes
every commit durable before the call returns (WAL's default, NORMAL, may lose
the last commits on power loss). Writers take the write lock at the start of
their transaction (``BEGIN IMMEDIATE``), so intake, activation and workflow
steps never interleave.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely

from geogrid.errors import GeogridError
from geogrid.storage.dialect import Dialect

#: How long a writer waits for another writer's lock before giving up (ms).
BUSY_TIMEOUT_MS = 60_000


def create_owner_only(path: Path) -> None:
    """Create an empty file only its owner may read and write, unless ``path`` exists.

    Reports name people, places and what they complained of, so other accounts
    on the machine must not read the store. SQLite gives the ``-wal`` and
    ``-shm`` files the mode of the database file. An existing file keeps its
    mode: its owner may have opened it to a group on purpose.

    Examples
    --------
    >>> import stat, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "g.db"
    >>> create_owner_only(path)
    >>> oct(stat.S_IMODE(path.stat().st_mode))
    '0o600'
    """
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class SqliteDialect(Dialect):
    """SQLite in WAL mode; one connection per thread.

    Examples
    --------
    >>> import tempfile
    >>> dialect = SqliteDialect(Path(tempfile.mkdtemp()) / "g.db")
    >>> dialect.create_schema()
    >>> with dialect.transaction(write=False) as tx:
    ...     dialect.active_generation(tx) is None
    True
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        super().__init__()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            create_owner_only(self.path)
            connection = sqlite3.connect(
                self.path,
                isolation_level=None,
                timeout=BUSY_TIMEOUT_MS / 1000,
                check_same_thread=False,
            )
            _set_wal(connection)
        except (OSError, sqlite3.Error) as exc:
            raise GeogridError(f"sqlite:///{self.path}: cannot open the store: {exc}") from None
        connection.execute("PRAGMA synchronous=FULL")
        # A large page cache keeps the report indexes in memory during bulk loads.
        connection.execute("PRAGMA cache_size=-131072")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return connection

    def sqlalchemy_url(self) -> Any:
        """``sqlite:///<path>``, built rather than parsed, so any file name is safe in it.

        Examples
        --------
        >>> str(SqliteDialect(Path("/srv/geogrid/g.db")).sqlalchemy_url())
        'sqlite:////srv/geogrid/g.db'
        """
        # Deferred: SQLAlchemy loads only when migrations run.
        from sqlalchemy import URL

        return URL.create("sqlite", database=str(self.path))

    def sqlalchemy_engine(self) -> Any:
        # Deferred: as above.
        from sqlalchemy import NullPool, create_engine, event

        engine = create_engine(self.sqlalchemy_url(), poolclass=NullPool,
                               connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})  # fmt: skip

        # Python's sqlite3 begins transactions only before INSERT, UPDATE and DELETE,
        # so DDL would commit as it goes; with no isolation level it leaves them to
        # us, and BEGIN IMMEDIATE takes the write lock up front: all pending
        # revisions run in one transaction, one process at a time.
        @event.listens_for(engine, "connect")
        def _no_implicit_transactions(connection, _record) -> None:
            connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _write_lock(connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def lock_schema(self, connection: Any) -> None:
        pass  # BEGIN IMMEDIATE holds SQLite's one write lock already

    def is_missing_table(self, error: Exception) -> bool:
        return isinstance(error, sqlite3.OperationalError) and "no such table" in str(error)

    def is_unique_violation(self, error: Exception) -> bool:
        return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)

    @contextmanager
    def transaction(
        self, write: bool = True, lock_generation: bool = False, share_generation: bool = False
    ) -> Iterator[sqlite3.Connection]:
        # Every writer takes SQLite's single write lock up front, which also
        # excludes intake from activation; readers get a consistent snapshot.
        connection = self._connection()
        connection.execute(
            "BEGIN IMMEDIATE" if write or lock_generation or share_generation else "BEGIN"
        )
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def lock_generation(self, tx) -> None:
        pass  # BEGIN IMMEDIATE holds SQLite's one write lock already

    def lock_generation_changes(self, tx, shared: bool = False) -> None:
        pass  # as above

    def optimize(self) -> None:
        self._connection().execute("ANALYZE")

    def backup(self, path: Path) -> None:
        # SQLite's online backup copies one snapshot, page by page; in WAL mode the
        # writers go on meanwhile (copying the file itself could catch half a commit).
        with closing(sqlite3.connect(path)) as target:
            self._connection().backup(target)

    def allocate_ids(self, tx, table: str, count: int) -> list[int]:
        # Inside BEGIN IMMEDIATE no other writer can take the same ids.
        (highest,) = tx.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()
        return list(range(highest + 1, highest + 1 + count))

    def encode_time(self, value: datetime) -> str:
        # Fixed-width UTC text sorts in time order, so SQL can compare it.
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def decode_time(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def geometry_param(self) -> str:
        return "?"

    def geometry_select(self, column: str = "geometry") -> str:
        return column

    def bbox_filter(self) -> str:
        return "lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?"

    def bbox_params(self, west, south, east, north) -> list:
        return [west, east, south, north]

    def find_external_ids(self, tx, external_ids: list) -> dict[str, tuple[int, str]]:
        # One query with the ids as a JSON array, instead of hundreds of IN lists.
        wanted = [e for e in external_ids if e is not None]
        if not wanted:
            return {}
        rows = tx.execute(
            "SELECT id, external_id, content_key FROM reports WHERE external_id "
            "IN (SELECT value FROM json_each(?))",
            (json.dumps(wanted),),
        )
        return {key: (report_id, content) for report_id, key, content in rows}

    def cell_index(self, column: str, origin: float, cell: float) -> str:
        # SQLite has no FLOOR before 3.44; the bbox filter keeps the value ≥ 0,
        # where truncation is floor.
        return f"CAST(({column} - {float(origin)!r}) / {float(cell)!r} AS INTEGER)"

    def fetch_hazards(self, tx, bbox) -> list[dict]:
        rows = super().fetch_hazards(tx, None)
        if bbox is None:
            return rows
        area = shapely.box(*bbox)
        return [r for r in rows if shapely.intersects(shapely.from_wkb(r["geometry"]), area)]


def _set_wal(connection: sqlite3.Connection) -> None:
    """Put the file in WAL mode, waiting while another connection sets up a new store.

    Changing the journal mode needs the file to itself, and SQLite does not always
    wait for it as it waits for a write: another connection's first migrations
    (rollback-journal mode until they commit) can make it answer "locked" at once.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
