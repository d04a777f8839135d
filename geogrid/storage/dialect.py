"""The SQL both databases share; :mod:`.sqlite` and :mod:`.postgis` fill in the differences.

Queries are written with ``?`` placeholders and portable SQL; a dialect
translates the placeholders, and supplies transactions, id allocation, bulk
loading and the encoding of times, JSON and geometries. The schema itself is
made by the migrations (:mod:`geogrid.storage.migrations`), on a SQLAlchemy
connection each dialect opens for them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from itertools import repeat
from pathlib import Path
from typing import Any

import shapely

from geogrid.access.personal import CONTACT_FIELDS
from geogrid.errors import GeogridError
from geogrid.models import Level
from geogrid.storage.migrations import current_revision, head_revision, upgrade

MAX_LEVELS = 6
CODES = ", ".join(f"code{d}" for d in range(MAX_LEVELS))
#: What re-assigning reads of an open report: its point and where it was placed.
OPEN_COLUMNS = (f"id, lon, lat, generation_id, assignment, distance_m, handler_depth, "
                f"handler_code, {CODES}")  # fmt: skip

#: A reporter's contact details: columns of their own, never in the history or description.
CONTACT_COLUMNS = tuple(f"contact_{name}" for name in CONTACT_FIELDS)
#: The closed loop's columns of a report (migration 0004): ticket, assignee, warning, outcome.
LOOP_COLUMNS = ("ticket", "assignee", "assigned_at", "warn_at", "closed_at", "escalations",
                "returns", "rating", "rating_note", "rated_at")  # fmt: skip
REPORT_COLUMNS = (
    "id", "external_id", "content_key", "source", "category", "description", "reported_at",
    "received_at", "received_lon", "received_lat", "received_crs", "lon", "lat",
    "generation_id", "assignment", "distance_m", *(f"code{d}" for d in range(MAX_LEVELS)),
    "status", "handler_depth", "handler_code", "deadline", "updated_at",
    *CONTACT_COLUMNS, *LOOP_COLUMNS,
)  # fmt: skip
HISTORY_COLUMNS = ("report_id", "at", "actor", "action", "from_status", "to_status", "note",
                   "data")  # fmt: skip
TIME_COLUMNS = {"reported_at", "received_at", "deadline", "updated_at", "at", "created_at",
                "assigned_at", "warn_at", "closed_at", "rated_at"}  # fmt: skip


class StoreUnavailableError(GeogridError):
    """The store named by a URL cannot be reached or opened."""


class Dialect:
    """Base of the database dialects: the shared SQL, over a DB-API connection."""

    placeholder = "?"
    lock_for_update = ""
    lock_for_share = ""

    def __init__(self) -> None:
        self._local = threading.local()
        self._connections: list[Any] = []

    def _connection(self) -> Any:
        """This thread's connection, opened on first use (connections are not shared)."""
        connection = getattr(self._local, "connection", None)
        if connection is None or getattr(connection, "closed", False) is True:
            connection = self._connect()
            self._local.connection = connection
            self._connections.append(connection)
        return connection

    def close(self) -> None:
        """Close every connection this dialect opened, in any thread."""
        for connection in self._connections:
            connection.close()
        self._connections.clear()
        self._local = threading.local()

    # --- to be provided by each dialect ------------------------------------------------

    def _connect(self) -> Any:
        raise NotImplementedError

    def sqlalchemy_engine(self) -> Any:
        """A SQLAlchemy engine on the same database, for the migrations (Alembic)."""
        raise NotImplementedError

    def lock_schema(self, connection: Any) -> None:
        """Take, in ``connection``'s transaction, the lock that makes migrations take turns."""
        raise NotImplementedError

    def is_missing_table(self, error: Exception) -> bool:
        raise NotImplementedError

    def is_unique_violation(self, error: Exception) -> bool:
        """Whether ``error`` is a row refused by a unique index (a key stored meanwhile)."""
        raise NotImplementedError

    # --- the schema ----------------------------------------------------------------------

    def create_schema(self) -> None:
        """Bring the schema to this release's: apply the pending migrations that are safe online.

        A store already at the head revision costs one query (Alembic is not
        loaded). Raises :class:`~geogrid.storage.migrations.SchemaVersionError` when
        a pending migration must wait for ``geogrid db upgrade``, or the store was
        made by a newer geogrid.
        """
        if current_revision(self) != head_revision():
            upgrade(self, only_safe=True)

    def schema_revision(self) -> str | None:
        """The revision in Alembic's ``alembic_version``; None before the first migration."""
        try:
            with self.transaction(write=False) as tx:
                rows = self.rows(tx, "SELECT version_num FROM alembic_version")
        except Exception as error:
            if self.is_missing_table(error):
                return None
            raise
        return rows[0]["version_num"] if rows else None

    @contextmanager
    def migration_connection(self) -> Iterator[Any]:
        """A SQLAlchemy connection in a transaction that holds the schema lock.

        The migrations run in it; it commits when the block ends, and rolls back
        (changing nothing) when the block raises.
        """
        engine = self.sqlalchemy_engine()
        try:
            with engine.connect() as connection, connection.begin():
                self.lock_schema(connection)
                yield connection
        finally:
            engine.dispose()

    def transaction(
        self, write: bool = True, lock_generation: bool = False, share_generation: bool = False
    ) -> AbstractContextManager:
        raise NotImplementedError

    def allocate_ids(self, tx, table: str, count: int) -> list[int]:
        raise NotImplementedError

    def optimize(self) -> None:
        """Refresh the planner's statistics after a bulk load."""
        raise NotImplementedError

    def backup(self, path: Path) -> None:
        """Write a consistent copy of the whole database into the (empty) file ``path``."""
        raise NotImplementedError

    def encode_time(self, value: datetime) -> Any:
        raise NotImplementedError

    def decode_time(self, value: Any) -> datetime:
        raise NotImplementedError

    def encode_date(self, value: date | None) -> Any:
        """A day as the dialect stores it (ISO text here; PostgreSQL: a DATE)."""
        return None if value is None else value.isoformat()

    def decode_date(self, value: Any) -> date | None:
        return date.fromisoformat(value) if isinstance(value, str) else value

    def lock_generation_changes(self, tx, shared: bool = False) -> None:
        """Take, inside ``tx``, a turn among the transactions that change generations.

        Activations and publications take it alone, escalations ``shared``; intake
        never does. Taken first, before any row lock, so that these writers wait for
        each other in one order and never deadlock.
        """
        raise NotImplementedError

    def lock_generation(self, tx) -> None:
        """Take, inside ``tx``, the lock that keeps intake out until ``tx`` ends.

        What ``transaction(lock_generation=True)`` takes at its start; taken later, the
        work before it (inserting a generation's grids) leaves intake running.
        """
        raise NotImplementedError

    def geometry_param(self) -> str:
        """SQL for a geometry given as WKB in a placeholder."""
        raise NotImplementedError

    def geometry_select(self, column: str = "geometry") -> str:
        """SQL that reads a geometry column back as WKB."""
        raise NotImplementedError

    def bbox_filter(self) -> str:
        raise NotImplementedError

    def bbox_params(self, west: float, south: float, east: float, north: float) -> list:
        raise NotImplementedError

    # --- plumbing ----------------------------------------------------------------------

    def sql(self, query: str) -> str:
        return query if self.placeholder == "?" else query.replace("?", self.placeholder)

    def rows(self, tx, query: str, params: Sequence = ()) -> list[dict]:
        cursor = tx.execute(self.sql(query), tuple(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def execute(self, tx, query: str, params: Sequence = ()) -> None:
        tx.execute(self.sql(query), tuple(params))

    def execute_count(self, tx, query: str, params: Sequence = ()) -> int:
        """Run an UPDATE or DELETE; how many rows it changed."""
        return tx.execute(self.sql(query), tuple(params)).rowcount

    def executemany(self, tx, query: str, rows: Sequence[Sequence]) -> None:
        if rows:
            tx.executemany(self.sql(query), rows)

    def insert_rows(self, tx, table: str, columns: Sequence[str], rows: Sequence[Sequence]):
        """Bulk insert (the PostGIS dialect uses COPY)."""
        marks = ", ".join("?" * len(columns))
        self.executemany(tx, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    # --- generations -------------------------------------------------------------------

    def insert_generation(self, tx, label: str, created_at: datetime, levels: str) -> int:
        (generation_id,) = self.allocate_ids(tx, "generations", 1)
        self.execute(
            tx,
            "INSERT INTO generations (id, label, created_at, levels) VALUES (?, ?, ?, ?)",
            (generation_id, label, self.encode_time(created_at), levels),
        )
        return generation_id

    def insert_grids(self, tx, rows: list[dict]) -> None:
        query = (
            f"INSERT INTO grids (generation_id, depth, level, code, name, parent, "
            f"attributes, geometry) VALUES (?, ?, ?, ?, ?, ?, ?, {self.geometry_param()})"
        )
        self.executemany(
            tx,
            query,
            [
                (
                    r["generation_id"],
                    r["depth"],
                    r["level"],
                    r["code"],
                    r["name"],
                    r["parent"],
                    r["attributes"],
                    shapely.to_wkb(r["geometry"]),
                )
                for r in rows
            ],
        )

    def insert_roads(self, tx, generation_id: int, rows: list[tuple]) -> None:
        """A generation's road network: (position, name, kind, geometry) rows."""
        query = (
            f"INSERT INTO generation_roads (generation_id, position, name, kind, geometry) "
            f"VALUES (?, ?, ?, ?, {self.geometry_param()})"
        )
        self.executemany(
            tx, query, [(generation_id, p, n, k, shapely.to_wkb(g)) for p, n, k, g in rows]
        )

    def fetch_roads(self, tx, generation_id: int) -> list[dict]:
        return self.rows(
            tx,
            f"SELECT position, name, kind, {self.geometry_select()} AS geometry "
            f"FROM generation_roads WHERE generation_id = ? ORDER BY position",
            (generation_id,),
        )

    def fetch_generations(self) -> list[dict]:
        with self.transaction(write=False) as tx:
            rows = self.rows(
                tx,
                "SELECT g.id, g.label, g.created_at, g.levels, g.starts_on, g.ends_on, "
                "(SELECT COUNT(*) FROM grids WHERE generation_id = g.id) "
                "AS grid_count FROM generations g ORDER BY g.id",
            )
        for row in rows:
            row["created_at"] = self.decode_time(row["created_at"])
            row["starts_on"] = self.decode_date(row["starts_on"])
            row["ends_on"] = self.decode_date(row["ends_on"])
        return rows

    def start_generation(self, tx, generation_id: int, day: date) -> None:
        """It is current from ``day`` on: its first start is kept, its end cleared."""
        self.execute(
            tx,
            "UPDATE generations SET starts_on = COALESCE(starts_on, ?), ends_on = NULL "
            "WHERE id = ?",
            (self.encode_date(day), generation_id),
        )

    def end_generation(self, tx, generation_id: int, day: date) -> None:
        self.execute(
            tx,
            "UPDATE generations SET ends_on = ? WHERE id = ?",
            (self.encode_date(day), generation_id),
        )

    def ancestors(self, tx, generation_id: int, code: str, depth: int) -> list[str]:
        """``code`` (at ``depth``) and its parents' codes up to the top level; [] if unknown."""
        chain: list[str] = []
        while code and depth >= 0:
            rows = self.rows(tx, "SELECT parent FROM grids WHERE generation_id = ? AND depth = ? "
                                 "AND code = ?", (generation_id, depth, code))  # fmt: skip
            if not rows:
                break
            chain.append(code)
            code, depth = rows[0]["parent"], depth - 1
        return chain

    def active_generation(self, tx) -> int | None:
        rows = self.rows(tx, "SELECT active_generation FROM state WHERE id = 1")
        return rows[0]["active_generation"] if rows else None

    def set_active_generation(self, tx, generation_id: int) -> None:
        self.execute(tx, "UPDATE state SET active_generation = ? WHERE id = 1", (generation_id,))

    def fetch_grids(self, tx, generation_id: int) -> list[dict]:
        return self.rows(
            tx,
            f"SELECT depth, code, name, parent, attributes, "
            f"{self.geometry_select()} AS geometry FROM grids "
            f"WHERE generation_id = ? ORDER BY depth, code",
            (generation_id,),
        )

    def depth_of_code(self, tx, code: str) -> int | None:
        rows = self.rows(
            tx,
            "SELECT depth FROM grids WHERE code = ? ORDER BY generation_id DESC LIMIT 1",
            (code,),
        )
        return rows[0]["depth"] if rows else None

    # --- reports -----------------------------------------------------------------------

    def find_external_ids(self, tx, external_ids: list) -> dict[str, tuple[int, str]]:
        wanted = [e for e in external_ids if e is not None]
        found: dict[str, tuple[int, str]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = (
                f"SELECT id, external_id, content_key FROM reports "
                f"WHERE external_id IN ({', '.join('?' * len(chunk))})"
            )
            for row in self.rows(tx, query, chunk):
                found[row["external_id"]] = (row["id"], row["content_key"])
        return found

    def insert_report_columns(self, tx, columns: dict) -> list[int]:
        """Store reports given as columns (a list per column, or one value for all)."""
        count = len(columns["index"])
        ids = self.allocate_ids(tx, "reports", count)
        self.insert_rows(
            tx, "reports", REPORT_COLUMNS, self._rows({**columns, "id": ids}, REPORT_COLUMNS, count)
        )
        return ids

    def insert_history_columns(self, tx, columns: dict) -> None:
        count = len(columns["report_id"])
        self.insert_rows(
            tx, "report_history", HISTORY_COLUMNS, self._rows(columns, HISTORY_COLUMNS, count)
        )

    def insert_history(self, tx, rows: list[dict]) -> None:
        columns = {c: [row[c] for row in rows] for c in HISTORY_COLUMNS}
        self.insert_history_columns(tx, columns)

    def _rows(self, columns: dict, names: Sequence[str], count: int) -> list[tuple]:
        """Zip columns into rows; times encoded (a value shared by all rows only once)."""
        lists = []
        for name in names:
            values = columns[name]
            if name in TIME_COLUMNS:
                values = self._times(values)
            lists.append(values if isinstance(values, list) else repeat(values, count))
        return list(zip(*lists, strict=True))

    def _times(self, values: Any) -> Any:
        if not isinstance(values, list):
            return None if values is None else self.encode_time(values)
        cache: dict[datetime, Any] = {}
        for moment in values:
            if moment is not None and moment not in cache:
                cache[moment] = self.encode_time(moment)
        return [None if m is None else cache[m] for m in values]

    def _value(self, column: str, value: Any) -> Any:
        if column in TIME_COLUMNS and value is not None:
            return self.encode_time(value)
        return value

    def _select_reports(self) -> str:
        return (
            f"SELECT r.{', r.'.join(REPORT_COLUMNS)}, g.levels FROM reports r "
            "LEFT JOIN generations g ON g.id = r.generation_id"
        )

    def fetch_report(self, tx, report_id: int) -> dict | None:
        rows = self.rows(tx, self._select_reports() + " WHERE r.id = ?", (report_id,))
        return self._with_levels(rows[0]) if rows else None

    def count_reports(self, tx, where: list[str], params: list, at_most: int | None = None) -> int:
        """How many reports match; counting stops after ``at_most`` (work queues: "1000+")."""
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        if at_most is None:
            return self.rows(tx, f"SELECT COUNT(*) AS n FROM reports{clause}", params)[0]["n"]
        query = f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM reports{clause} LIMIT ?) AS capped"
        return self.rows(tx, query, [*params, at_most])[0]["n"]

    def report_extent(self, tx) -> dict:
        """west, south, east, north and the first received time of all reports (None: none)."""
        # One MIN or MAX per subquery: each is then read from the end of an index
        # (lon, lat, received_at), where one query of them all would scan the table.
        bounds = (("west", "MIN(lon)"), ("south", "MIN(lat)"), ("east", "MAX(lon)"),
                  ("north", "MAX(lat)"), ("first", "MIN(received_at)"))  # fmt: skip
        columns = ", ".join(f"(SELECT {bound} FROM reports) AS {name}" for name, bound in bounds)
        return self.rows(tx, f"SELECT {columns}")[0]

    def count_grouped(self, tx, column: str, where, params, now, open_statuses) -> list[dict]:
        """Report counts by (grid code, status), and how many of them are overdue."""
        clause = " AND ".join([*where, f"{column} IS NOT NULL"])
        marks = ", ".join("?" * len(open_statuses))
        query = (
            f"SELECT {column} AS code, status, COUNT(*) AS n, "
            f"SUM(CASE WHEN status IN ({marks}) AND deadline < ? THEN 1 ELSE 0 END) "
            f"AS overdue FROM reports WHERE {clause} GROUP BY {column}, status"
        )
        return self.rows(tx, query, [*open_statuses, now, *params])

    def report_columns(self, tx, codes: list[str], where: list[str], params: list) -> list:
        """Point, times, category and codes of every report matching ``where``."""
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        columns = ", ".join(["lon", "lat", "reported_at", "received_at", "category", *codes])
        return tx.execute(self.sql(f"SELECT {columns} FROM reports{clause}"),
                          tuple(params)).fetchall()  # fmt: skip

    def count_cells(self, tx, west, south, cell, where, params) -> list[tuple]:
        """Report counts in square cells counted from (west, south)."""
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        column, row = self.cell_index("lon", west, cell), self.cell_index("lat", south, cell)
        query = (
            f"SELECT {column} AS c, {row} AS r, COUNT(*) AS n FROM reports{clause} GROUP BY c, r"
        )
        return [(r["c"], r["r"], r["n"]) for r in self.rows(tx, query, params)]

    def cell_index(self, column: str, origin: float, cell: float) -> str:
        """SQL for the cell number of a coordinate (numbers are ours, not the caller's)."""
        return f"CAST(FLOOR(({column} - {float(origin)!r}) / {float(cell)!r}) AS INTEGER)"

    def select_reports(self, tx, where: list[str], params: list, limit: int, offset: int,
                       order: str = "id DESC"):  # fmt: skip
        # Pick the page's ids from the indexes first, then read those rows: asked
        # in one query, planners may walk the whole table in id order instead.
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        page = f"SELECT id FROM reports{clause} ORDER BY {order} LIMIT ? OFFSET ?"
        outer = ", ".join(f"r.{term.strip()}" for term in order.split(","))
        query = f"{self._select_reports()} WHERE r.id IN ({page}) ORDER BY {outer}"
        return [self._with_levels(r) for r in self.rows(tx, query, [*params, limit, offset])]

    def _with_levels(self, row: dict) -> dict:
        row["levels"] = levels_from_json(row["levels"]) if row["levels"] else ()
        return row

    def fetch_history(self, tx, report_ids: list[int]) -> dict[int, list[dict]]:
        history: dict[int, list[dict]] = {}
        for start in range(0, len(report_ids), 500):
            chunk = report_ids[start : start + 500]
            query = (
                f"SELECT {', '.join(HISTORY_COLUMNS)} FROM report_history "
                f"WHERE report_id IN ({', '.join('?' * len(chunk))}) ORDER BY report_id, id"
            )
            for row in self.rows(tx, query, chunk):
                history.setdefault(row["report_id"], []).append(row)
        return history

    def lock_report(self, tx, report_id: int) -> dict | None:
        rows = self.rows(
            tx,
            f"SELECT id, status, {CODES} FROM reports WHERE id = ?{self.lock_for_update}",
            (report_id,),
        )
        return rows[0] if rows else None

    def update_status(self, tx, report_id: int, status: str, now: datetime) -> None:
        self.execute(
            tx,
            "UPDATE reports SET status = ?, updated_at = ? WHERE id = ?",
            (status, self.encode_time(now), report_id),
        )

    def lock_overdue(self, tx, statuses: Sequence[str], now: Any) -> Iterator[dict]:
        marks = ", ".join("?" * len(statuses))
        query = (
            f"SELECT id, category, status, handler_depth, handler_code, escalations, assignee, "
            f"deadline, {CODES} "
            f"FROM reports WHERE status IN ({marks}) AND deadline < ? "
            f"ORDER BY id{self.lock_for_update}"
        )
        return iter(self.rows(tx, query, [*statuses, now]))

    def update_report(self, tx, report_id: int, values: dict[str, Any]) -> None:
        """Set some columns of one report (times encoded); the names are the caller's own."""
        names = list(values)
        assert set(names) <= set(REPORT_COLUMNS), names
        self.execute(tx, f"UPDATE reports SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?",
                     [*(self._value(n, values[n]) for n in names), report_id])  # fmt: skip

    def update_handler(self, tx, report_id, depth, code, deadline, now) -> None:
        self.execute(
            tx,
            "UPDATE reports SET handler_depth = ?, handler_code = ?, deadline = ?, "
            "updated_at = ? WHERE id = ?",
            (
                depth,
                code,
                self.encode_time(deadline) if deadline else None,
                self.encode_time(now),
                report_id,
            ),
        )

    def fetch_open_batch(
        self, tx, statuses: Sequence[str], after_id: int, limit: int,
        generation_id: int | None = None,
    ) -> list[dict]:  # fmt: skip
        """One batch of a walk over the open reports by id (keyset paging): up to ``limit``
        of those (of one generation, if given) whose id is above ``after_id``, in id order,
        each with its point, generation, handler depth, codes and its generation's levels.

        Each batch starts at the primary key where the last one stopped, so walking a
        million reports reads the table once, with no OFFSET to skip again.
        """
        marks = ", ".join("?" * len(statuses))
        query = f"SELECT {OPEN_COLUMNS} FROM reports WHERE status IN ({marks}) AND id > ?"
        params: list = [*statuses, after_id]
        if generation_id is not None:
            query += " AND generation_id = ?"
            params.append(generation_id)
        rows = self.rows(tx, query + " ORDER BY id LIMIT ?", [*params, limit])
        return self._with_generation_levels(tx, rows)

    def fetch_open_by_ids(self, tx, ids: Sequence[int]) -> list[dict]:
        """Reports ``ids`` in the form of :meth:`fetch_open_batch`, in id order."""
        rows: list[dict] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            query = (
                f"SELECT {OPEN_COLUMNS} FROM reports WHERE id IN ({', '.join('?' * len(chunk))})"
            )
            rows += self.rows(tx, query, chunk)
        return self._with_generation_levels(tx, _by_id(rows))

    def _with_generation_levels(self, tx, rows: list[dict]) -> list[dict]:
        """Each row gets its generation's ``levels``, read once per generation (there are
        few), where a join would decode the same JSON once per report."""
        stored = self.rows(tx, "SELECT id, levels FROM generations")
        levels = {r["id"]: levels_from_json(r["levels"]) for r in stored}
        for row in rows:
            row["levels"] = levels.get(row["generation_id"], ())
        return rows

    def fetch_open_in_region(
        self, tx, statuses: Sequence[str], column: str, codes: Sequence[str],
        bbox: Sequence[float], generation_id: int | None = None, ids: Sequence[int] = (),
    ) -> list[dict]:  # fmt: skip
        """Open reports a redraw of the grids ``codes`` may move, in the form of
        :meth:`fetch_open_batch`: those with one of ``codes`` in ``column``,
        those with their point in ``bbox`` (west, south, east, north), those of ``ids``,
        and, when ``generation_id`` is given, any not assigned under it.

        Without ``generation_id`` every term is answered from an index (the code
        column's, the points', the primary key), so it is quick enough to run under
        the generation lock; with it, every open report is read.
        """
        where, params = self._region_terms(statuses, column, codes, bbox, generation_id, ids)
        query = f"SELECT {OPEN_COLUMNS} FROM reports {where}"
        # Sorted here: with ORDER BY id, planners walk the whole table in id order.
        rows = _by_id(self.rows(tx, query, params))
        return self._with_generation_levels(tx, rows)

    def open_ids_in_region(
        self, tx, statuses: Sequence[str], column: str, codes: Sequence[str],
        bbox: Sequence[float], generation_id: int | None = None, ids: Sequence[int] = (),
    ) -> list[int]:  # fmt: skip
        """The ids of :meth:`fetch_open_in_region`'s reports, in order: read from the
        indexes alone, then their rows a batch at a time (:meth:`fetch_open_by_ids`)."""
        where, params = self._region_terms(statuses, column, codes, bbox, generation_id, ids)
        return sorted(row["id"] for row in self.rows(tx, f"SELECT id FROM reports {where}", params))

    def _region_terms(self, statuses, column, codes, bbox, generation_id, ids) -> tuple:
        """The WHERE clause of :meth:`fetch_open_in_region` and its parameters."""
        terms = [f"{column} IN ({', '.join('?' * len(codes))})" if codes else "1 = 0",
                 self.bbox_filter()]  # fmt: skip
        params: list = [*codes, *self.bbox_params(*bbox)]
        if ids:
            terms.append(f"id IN ({', '.join('?' * len(ids))})")
            params += list(ids)
        if generation_id is not None:
            terms.append("generation_id IS NULL OR generation_id <> ?")
            params.append(generation_id)
        marks = ", ".join("?" * len(statuses))
        where = f"WHERE status IN ({marks}) AND ({' OR '.join(f'({t})' for t in terms)})"
        return where, [*statuses, *params]

    def move_open_to_generation(
        self, tx, statuses: Sequence[str], from_id: int, to_id: int,
        region: tuple[str, Sequence[str], Sequence[float]] | None = None,
    ) -> int:  # fmt: skip
        """Open reports of generation ``from_id`` now belong to ``to_id``, codes unchanged.

        Reports of ``region`` (code column, codes, bbox: as :meth:`fetch_open_in_region`)
        are left where they are: one that arrived there after the region was read must
        be placed again, not moved with codes the redraw may have retired.
        """
        marks = ", ".join("?" * len(statuses))
        query = (
            f"UPDATE reports SET generation_id = ? WHERE status IN ({marks}) AND generation_id = ?"
        )
        params: list = [to_id, *statuses, from_id]
        if region is not None:
            column, codes, bbox = region
            inside = f"{column} IN ({', '.join('?' * len(codes))})" if codes else "1 = 0"
            # COALESCE: a report with no code there (unassigned) is not "inside" by NULL.
            query += f" AND NOT (COALESCE({inside}, FALSE) OR ({self.bbox_filter()}))"
            params += [*codes, *self.bbox_params(*bbox)]
        return self.execute_count(tx, query, params)

    def count_open_by_code(
        self, tx, column: str, codes: Sequence[str], statuses: Sequence[str], now: Any
    ) -> list[dict]:
        """Open reports per (code of ``column``, status), with how many are overdue.

        Read from the index on (``column``, status, deadline, id) alone.
        """
        marks = ", ".join("?" * len(statuses))
        found: list[dict] = []
        for start in range(0, len(codes), 500):
            chunk = list(codes[start : start + 500])
            query = (
                f"SELECT {column} AS code, status, COUNT(*) AS n, "
                f"SUM(CASE WHEN deadline < ? THEN 1 ELSE 0 END) AS overdue FROM reports "
                f"WHERE {column} IN ({', '.join('?' * len(chunk))}) AND status IN ({marks}) "
                f"GROUP BY {column}, status"
            )
            found += self.rows(tx, query, [now, *chunk, *statuses])
        return found

    def move_reports(self, tx, ids: Sequence[int], generation_id: int, now: datetime) -> None:
        """Reports ``ids`` now belong to ``generation_id``, placed as they were.

        Only the generation and the time are written, columns no index holds: writing
        the code columns, even unchanged, rewrites each report's entry in every index
        on them (SQLite: 6× the time, 200,000 reports).
        """
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            self.execute(tx, f"UPDATE reports SET generation_id = ?, updated_at = ? WHERE id IN "
                             f"({', '.join('?' * len(chunk))})",
                         [generation_id, self.encode_time(now), *chunk])  # fmt: skip

    def update_assignments(
        self, tx, updates: list[dict], changed: Sequence[str] | None = None
    ) -> None:
        """Write re-assigned reports: generation, time and the placement columns ``changed``
        (default: all of them); a column left out keeps its index entries as they are."""
        columns = assignment_columns(changed)
        assignments = ", ".join(f"{c} = ?" for c in columns)
        self.executemany(
            tx,
            f"UPDATE reports SET {assignments} WHERE id = ?",
            [[self._value(c, u[c]) for c in columns] + [u["id"]] for u in updates],
        )

    # --- hazards and routes ------------------------------------------------------------

    def insert_hazard(self, tx, hazard, now: datetime) -> int:
        (hazard_id,) = self.allocate_ids(tx, "hazards", 1)
        self.execute(
            tx,
            f"INSERT INTO hazards (id, name, category, method, scores, score, "
            f"radius_m, attributes, created_at, geometry) VALUES "
            f"(?, ?, ?, ?, ?, ?, ?, ?, ?, {self.geometry_param()})",
            (
                hazard_id,
                hazard.name,
                hazard.category,
                hazard.method,
                json.dumps(hazard.scores),
                float(hazard.score),
                float(hazard.radius_m),
                json.dumps(hazard.attributes, ensure_ascii=False),
                self.encode_time(now),
                shapely.to_wkb(hazard.geometry),
            ),
        )
        return hazard_id

    def fetch_hazards(self, tx, bbox) -> list[dict]:
        query = (
            f"SELECT id, name, category, method, scores, score, radius_m, attributes, "
            f"{self.geometry_select()} AS geometry FROM hazards"
        )
        params: list = []
        if bbox:
            query += f" WHERE {self.geometry_bbox_filter()}"
            params = self.bbox_params(*bbox)
        rows = self.rows(tx, query + " ORDER BY id", params)
        for row in rows:
            row["scores"] = _json(row["scores"])
            row["attributes"] = _json(row["attributes"])
        return rows

    def geometry_bbox_filter(self) -> str:
        raise NotImplementedError

    def insert_route(self, tx, route, now: datetime) -> int:
        (route_id,) = self.allocate_ids(tx, "patrol_routes", 1)
        self.execute(
            tx,
            f"INSERT INTO patrol_routes (id, grid_code, shift, name, attributes, "
            f"created_at, geometry) VALUES (?, ?, ?, ?, ?, ?, "
            f"{self.geometry_param()})",
            (
                route_id,
                route.grid_code,
                route.shift,
                route.name,
                json.dumps(route.attributes, ensure_ascii=False),
                self.encode_time(now),
                shapely.to_wkb(route.geometry),
            ),
        )
        return route_id

    def fetch_routes(
        self, tx, grid_code: str | None, limit: int | None = None, offset: int = 0
    ) -> list[dict]:
        query = (
            f"SELECT id, grid_code, shift, name, attributes, {self.geometry_select()} "
            f"AS geometry FROM patrol_routes"
        )
        params: list = []
        if grid_code:
            query += " WHERE grid_code = ?"
            params = [grid_code]
        query += " ORDER BY id"
        if limit is not None:
            query += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        rows = self.rows(tx, query, params)
        for row in rows:
            row["attributes"] = _json(row["attributes"])
        return rows

    # --- patrol tracks ------------------------------------------------------------------

    def track_ids(self, tx, digests: Sequence[str]) -> dict[str, int]:
        """Ids of the stored tracks among ``digests``."""
        if not digests:
            return {}
        marks = ", ".join("?" * len(digests))
        query = f"SELECT id, digest FROM patrol_tracks WHERE digest IN ({marks})"
        return {row["digest"]: row["id"] for row in self.rows(tx, query, list(digests))}

    def insert_tracks(self, tx, rows: list[dict], actor: str, now: datetime) -> None:
        ids = self.allocate_ids(tx, "patrol_tracks", len(rows))
        self.executemany(
            tx,
            "INSERT INTO patrol_tracks (id, digest, worker, name, source, started_at, ended_at, "
            f"points, times, created_at, actor, geometry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            f"{self.geometry_param()}) ON CONFLICT (digest) DO NOTHING",
            [
                (track_id, row["digest"], row["worker"], row["name"], row["source"],
                 self.encode_time(row["started_at"]), self.encode_time(row["ended_at"]),
                 row["points"], row["times"], self.encode_time(now), actor, row["geometry"])
                for track_id, row in zip(ids, rows, strict=True)
            ],
        )  # fmt: skip

    def fetch_tracks(self, tx, since: datetime, until: datetime, worker: str | None) -> list:
        query = (
            "SELECT id, worker, name, source, points, times, "
            f"{self.geometry_select()} AS geometry FROM patrol_tracks "
            "WHERE ended_at >= ? AND started_at <= ?"
        )
        params: list = [self.encode_time(since), self.encode_time(until)]
        if worker:
            query += " AND worker = ?"
            params.append(worker)
        return self.rows(tx, query + " ORDER BY started_at, id", params)


def assignment_columns(changed: Sequence[str] | None) -> list[str]:
    """What :meth:`Dialect.update_assignments` writes: generation, ``changed``, time.

    Examples
    --------
    >>> assignment_columns(["code3", "handler_code"])
    ['generation_id', 'code3', 'handler_code', 'updated_at']
    """
    placement = ["assignment", "distance_m", *(f"code{d}" for d in range(MAX_LEVELS)),
                 "handler_depth", "handler_code"]  # fmt: skip
    return ["generation_id", *(placement if changed is None else changed), "updated_at"]


def _by_id(rows: list[dict]) -> list[dict]:
    rows.sort(key=lambda row: row["id"])
    return rows


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def levels_from_json(text: str | list) -> tuple[Level, ...]:
    """Levels as stored with a generation (key, label, coverage, default).

    A generation stored by an earlier release records no default level; it keeps
    the one that release used, the third level from the top (or the finest), so an
    upgraded store's statistics, hot spots and map keep their level.

    Examples
    --------
    >>> old = [{"key": k, "label": "", "coverage": "full"} for k in "abcd"]
    >>> [level.key for level in levels_from_json(old) if level.default]
    ['c']
    """
    raw = json.loads(text) if isinstance(text, str) else text
    legacy = not any("default" in d for d in raw)
    chosen = min(2, len(raw) - 1) if legacy else None
    return tuple(Level(d["key"], d["label"], "", "code", coverage=d["coverage"],
                       default=d.get("default", i == chosen))
                 for i, d in enumerate(raw))  # fmt: skip
