"""The server store: PostgreSQL with PostGIS, for a city with many writers.

Points, grids, hazards and routes are PostGIS geometries in EPSG:4326 with
GiST indexes; a report's point is a generated column, so bulk loads with COPY
need not compute it. Intake holds the generation row ``FOR SHARE`` and
activation ``FOR UPDATE``: many intakes run at once, and none overlaps an
activation.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from geogrid.errors import GeogridError
from geogrid.storage.dialect import Dialect, StoreUnavailableError, assignment_columns

#: Taken while migrating the schema, so that processes starting together do not collide.
SCHEMA_LOCK = 727_001
#: Taken by the transactions that change generations (see Dialect.lock_generation_changes).
GENERATION_CHANGES = 727_002


class PostgisDialect(Dialect):
    """PostgreSQL + PostGIS through psycopg 3; one connection per thread."""

    placeholder = "%s"
    lock_for_update = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__()

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            shown = self.url.split("@")[-1]  # never print a password
            raise StoreUnavailableError(
                f"postgresql://…@{shown}: cannot connect: {str(exc).strip()}"
            ) from None

    def sqlalchemy_url(self) -> Any:
        """The store's URL for SQLAlchemy's psycopg driver; its query (``host=`` …) is kept.

        Examples
        --------
        >>> url = PostgisDialect("postgres://geo@db.local/grid?sslmode=require").sqlalchemy_url()
        >>> url.render_as_string()
        'postgresql+psycopg://geo@db.local/grid?sslmode=require'
        >>> PostgisDialect("postgresql:///grid?host=/var/run/postgresql").sqlalchemy_url().query
        immutabledict({'host': '/var/run/postgresql'})
        """
        # Deferred: SQLAlchemy loads only when migrations run.
        from sqlalchemy import make_url

        return make_url(re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", self.url))

    def sqlalchemy_engine(self) -> Any:
        # Deferred: as above.
        from sqlalchemy import NullPool, create_engine

        return create_engine(self.sqlalchemy_url(), poolclass=NullPool,
                             connect_args={"connect_timeout": 10})  # fmt: skip

    def lock_schema(self, connection: Any) -> None:
        # Released when the transaction ends: servers starting together migrate in turn.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")

    def is_missing_table(self, error: Exception) -> bool:
        return isinstance(error, psycopg.errors.UndefinedTable)

    def is_unique_violation(self, error: Exception) -> bool:
        return isinstance(error, psycopg.errors.UniqueViolation)

    @contextmanager
    def migration_connection(self) -> Iterator[Any]:
        try:
            with super().migration_connection() as connection:
                yield connection
        except Exception as error:
            # 0001 creates the extension; SQLAlchemy wraps psycopg's error in its own.
            if isinstance(getattr(error, "orig", None), psycopg.errors.FeatureNotSupported):
                raise GeogridError(
                    f"PostGIS is not installed on this server: {error.orig}"
                ) from None
            raise

    @contextmanager
    def transaction(
        self, write: bool = True, lock_generation: bool = False, share_generation: bool = False
    ) -> Iterator[psycopg.Connection]:
        connection = self._connection()
        with connection.transaction():
            if not (write or lock_generation or share_generation):
                # One snapshot for all a read does (a page and its total, a report
                # and its history); read-only, so it never fails to serialise.
                connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if lock_generation:
                self.lock_generation(connection)
            elif share_generation:
                connection.execute("SELECT 1 FROM state WHERE id = 1 FOR SHARE")
            yield connection

    def lock_generation(self, tx) -> None:
        tx.execute("SELECT 1 FROM state WHERE id = 1 FOR UPDATE")

    def lock_generation_changes(self, tx, shared: bool = False) -> None:
        # An advisory lock, released with the transaction: no table row is held, so
        # intake (which shares the state row) is not held up by it.
        kind = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        tx.execute(f"SELECT {kind}({GENERATION_CHANGES})")

    def optimize(self) -> None:
        # VACUUM sets the visibility map, so grid queries become index-only scans.
        connection = self._connection()
        connection.execute("VACUUM (ANALYZE) reports")
        connection.execute("VACUUM (ANALYZE) report_history")

    def backup(self, path: Path) -> None:
        # pg_dump reads one snapshot and blocks no writer. The password goes in its
        # environment, not its arguments, which every account on the machine can list.
        params = conninfo_to_dict(self.url)
        password = params.pop("password", None)
        environment = {**os.environ, **({"PGPASSWORD": password} if password else {})}
        command = ["pg_dump", "--format=custom", f"--file={path}",
                   f"--dbname={make_conninfo(**params)}"]  # fmt: skip
        try:
            done = subprocess.run(command, env=environment, capture_output=True, text=True)
        except FileNotFoundError:
            raise GeogridError(
                "pg_dump not found: install PostgreSQL's client programs "
                "(Debian: postgresql-client, the server's version or newer)"
            ) from None
        if done.returncode != 0:
            raise GeogridError(f"pg_dump failed: {done.stderr.strip()}")

    def allocate_ids(self, tx, table: str, count: int) -> list[int]:
        cursor = tx.execute(
            f"SELECT nextval('{table}_id_seq') FROM generate_series(1, %s)", (count,)
        )
        return [row[0] for row in cursor.fetchall()]

    def find_external_ids(self, tx, external_ids: list) -> dict[str, tuple[int, str]]:
        # One query with an array: long IN lists get generic plans that scan the table.
        wanted = [e for e in external_ids if e is not None]
        if not wanted:
            return {}
        cursor = tx.execute(
            "SELECT id, external_id, content_key FROM reports WHERE external_id = ANY(%s)",
            (wanted,),
        )
        return {key: (report_id, content) for report_id, key, content in cursor.fetchall()}

    def executemany(self, tx, query: str, rows) -> None:
        if rows:
            with tx.cursor() as cursor:
                cursor.executemany(self.sql(query), rows)

    def insert_rows(self, tx, table: str, columns, rows) -> None:
        if not rows:
            return
        with tx.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def update_assignments(self, tx, updates, changed=None) -> None:
        # COPY into a temporary table, then one UPDATE … FROM it: an UPDATE per report
        # costs a round of the executor each (200,000 re-assigned one by one: 80 s).
        if not updates:
            return
        columns, every = assignment_columns(changed), ", ".join(assignment_columns(None))
        tx.execute("CREATE TEMPORARY TABLE IF NOT EXISTS reassigned ON COMMIT DROP AS "
                   f"SELECT id, {every} FROM reports WITH NO DATA")  # fmt: skip
        tx.execute("TRUNCATE reassigned")
        with tx.cursor().copy(f"COPY reassigned (id, {', '.join(columns)}) FROM STDIN") as copy:
            for update in updates:
                copy.write_row([update["id"], *(self._value(c, update[c]) for c in columns)])
        assignments = ", ".join(f"{c} = t.{c}" for c in columns)
        tx.execute(f"UPDATE reports r SET {assignments} FROM reassigned t WHERE r.id = t.id")

    def encode_time(self, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def decode_time(self, value: Any) -> datetime:
        return value.astimezone(UTC)

    def encode_date(self, value: date | None) -> date | None:
        return value

    def geometry_param(self) -> str:
        return "ST_GeomFromWKB(?, 4326)"

    def geometry_select(self, column: str = "geometry") -> str:
        return f"ST_AsBinary({column})"

    def bbox_filter(self) -> str:
        return "geom && ST_MakeEnvelope(?, ?, ?, ?, 4326)"

    def geometry_bbox_filter(self) -> str:
        return "geometry && ST_MakeEnvelope(?, ?, ?, ?, 4326)"

    def bbox_params(self, west, south, east, north) -> list:
        return [west, south, east, north]
