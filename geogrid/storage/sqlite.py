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
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely

from geogrid.errors import GeogridError
from geogrid.storage.dialect import CODE_COLUMNS_DDL, CODE_INDEXES, Dialect

#: How long a writer waits for another writer's lock before giving up (ms).
BUSY_TIMEOUT_MS = 60_000

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS generations (
    id INTEGER PRIMARY KEY, label TEXT NOT NULL, created_at TEXT NOT NULL, levels TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    active_generation INTEGER REFERENCES generations (id));
INSERT OR IGNORE INTO state (id, active_generation) VALUES (1, NULL);
CREATE TABLE IF NOT EXISTS grids (
    generation_id INTEGER NOT NULL REFERENCES generations (id), depth INTEGER NOT NULL,
    level TEXT NOT NULL, code TEXT NOT NULL, name TEXT, parent TEXT, attributes TEXT,
    geometry BLOB NOT NULL, PRIMARY KEY (generation_id, depth, code));
CREATE INDEX IF NOT EXISTS grids_code ON grids (code);
CREATE TABLE IF NOT EXISTS generation_roads (
    generation_id INTEGER NOT NULL REFERENCES generations (id), position INTEGER NOT NULL,
    name TEXT, kind TEXT, geometry BLOB NOT NULL, PRIMARY KEY (generation_id, position));
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY, external_id TEXT UNIQUE, content_key TEXT NOT NULL,
    source TEXT NOT NULL, category TEXT NOT NULL, description TEXT,
    reported_at TEXT NOT NULL, received_at TEXT NOT NULL,
    received_lon REAL NOT NULL, received_lat REAL NOT NULL, received_crs TEXT NOT NULL,
    lon REAL NOT NULL, lat REAL NOT NULL,
    generation_id INTEGER REFERENCES generations (id), assignment TEXT NOT NULL, distance_m REAL,
    {CODE_COLUMNS_DDL},
    status TEXT NOT NULL, handler_depth INTEGER, handler_code TEXT, deadline TEXT,
    updated_at TEXT NOT NULL,
    contact_name TEXT, contact_phone TEXT, contact_email TEXT, contact_device TEXT,
    contact_account TEXT);
{CODE_INDEXES}
CREATE INDEX IF NOT EXISTS reports_status_deadline ON reports (status, deadline);
CREATE INDEX IF NOT EXISTS reports_received_at ON reports (received_at);
CREATE INDEX IF NOT EXISTS reports_reported_at ON reports (reported_at);
CREATE INDEX IF NOT EXISTS reports_lon_lat ON reports (lon, lat, status, category, received_at);
CREATE INDEX IF NOT EXISTS reports_lat ON reports (lat);
CREATE TABLE IF NOT EXISTS report_history (
    id INTEGER PRIMARY KEY, report_id INTEGER NOT NULL REFERENCES reports (id),
    at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, from_status TEXT,
    to_status TEXT, note TEXT, data TEXT);
CREATE INDEX IF NOT EXISTS report_history_report ON report_history (report_id, id);
CREATE TABLE IF NOT EXISTS hazards (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, method TEXT NOT NULL,
    scores TEXT NOT NULL, score REAL NOT NULL, radius_m REAL NOT NULL, attributes TEXT,
    created_at TEXT NOT NULL, geometry BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS patrol_routes (
    id INTEGER PRIMARY KEY, grid_code TEXT NOT NULL, shift TEXT NOT NULL, name TEXT,
    attributes TEXT, created_at TEXT NOT NULL, geometry BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS patrol_routes_grid ON patrol_routes (grid_code);
CREATE TABLE IF NOT EXISTS patrol_tracks (
    id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE, worker TEXT NOT NULL,
    name TEXT NOT NULL, source TEXT, started_at TEXT NOT NULL, ended_at TEXT NOT NULL,
    points INTEGER NOT NULL, times BLOB NOT NULL, created_at TEXT NOT NULL,
    actor TEXT NOT NULL, geometry BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS patrol_tracks_time ON patrol_tracks (started_at, ended_at);
-- interim: the people tables until the migrations land
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
    role TEXT NOT NULL, scope TEXT, password_hash TEXT, active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id),
    digest TEXT NOT NULL UNIQUE, label TEXT NOT NULL, created_at TEXT NOT NULL,
    expires_at TEXT, revoked_at TEXT);
CREATE TABLE IF NOT EXISTS audit_events (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, principal TEXT NOT NULL, role TEXT, via TEXT,
    action TEXT NOT NULL, object_type TEXT, object_id TEXT, before TEXT, after TEXT,
    client TEXT, request_id TEXT);
CREATE TABLE IF NOT EXISTS app_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


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
            connection.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as exc:
            raise GeogridError(f"sqlite:///{self.path}: cannot open the store: {exc}") from None
        connection.execute("PRAGMA synchronous=FULL")
        # A large page cache keeps the report indexes in memory during bulk loads.
        connection.execute("PRAGMA cache_size=-131072")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return connection

    def create_schema(self) -> None:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

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
