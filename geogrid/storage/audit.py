"""The audit trail: one append-only event per change, written in the change's transaction.

Every change the store makes (a report received, each step of the closed loop,
an escalation, a track or route stored, boundaries imported or activated, an
account or token changed, a sign-in refused) leaves an event naming the
authenticated principal, the time, the action, the object, what it was before
and after, and the client address and request id it came from. The database
refuses to update or delete events (triggers), so the trail cannot be tidied.

Examples
--------
>>> import tempfile
>>> from geogrid.storage import open_store
>>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db")
>>> _ = store.accounts.add_user("li.si", "viewer", actor="cli:root")
>>> [(e.principal, e.action, e.object_id) for e in store.audit.events()]
[('cli:root', 'user.create', 'li.si')]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geogrid.access.principals import Principal, principal_of
from geogrid.errors import InputError

AUDIT_COLUMNS = ("at", "principal", "role", "via", "action", "object_type", "object_id",
                 "before", "after", "client", "request_id")  # fmt: skip
#: The most events one listing returns.
MAX_EVENTS = 10_000


@dataclass(frozen=True)
class AuditEvent:
    """One recorded change."""

    id: int
    at: datetime
    principal: str
    role: str | None
    via: str | None
    action: str
    object_type: str | None
    object_id: str | None
    before: Any
    after: Any
    client: str | None
    request_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}


@dataclass(frozen=True)
class AuditQuery:
    """Filters of :meth:`AuditLog.events`; every one optional, newest events first."""

    since: datetime | None = None
    until: datetime | None = None
    principal: str | None = None
    action: str | None = None  # an action, or a prefix ending in "." ("report.")
    object_type: str | None = None
    object_id: str | None = None
    limit: int = 100
    offset: int = 0


def audit_row(actor: Principal | str, at: datetime, action: str, object_type: str | None = None,
              object_id: Any = None, before: Any = None, after: Any = None) -> dict:  # fmt: skip
    """An event as a row to insert, for :func:`insert_events`."""
    who = principal_of(actor)
    return {"at": at, "principal": who.name, "role": who.role, "via": who.via, "action": action,
            "object_type": object_type, "object_id": None if object_id is None else str(object_id),
            "before": _json(before), "after": _json(after), "client": who.client,
            "request_id": who.request_id}  # fmt: skip


def insert_events(db, tx, rows: Sequence[dict]) -> None:
    """Append events inside the caller's transaction (the change and its event commit together)."""
    if rows:
        encoded = [tuple(db.encode_time(r[c]) if c == "at" else r[c] for c in AUDIT_COLUMNS)
                   for r in rows]  # fmt: skip
        marks = ", ".join("?" * len(AUDIT_COLUMNS))
        db.executemany(tx, f"INSERT INTO audit_events ({', '.join(AUDIT_COLUMNS)}) "
                           f"VALUES ({marks})", encoded)  # fmt: skip


class AuditLog:
    """Reading the trail (writing happens inside each change)."""

    def __init__(self, db) -> None:
        self.db = db

    def events(self, query: AuditQuery | None = None) -> list[AuditEvent]:
        """Events matching every filter of ``query``, newest first."""
        query = query or AuditQuery()
        if not 1 <= query.limit <= MAX_EVENTS:
            raise InputError(f"limit: must be 1 to {MAX_EVENTS}, got {query.limit}")
        if query.offset < 0:
            raise InputError(f"offset: must be 0 or more, got {query.offset}")
        where, params = self._where(query)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self.db.transaction(write=False) as tx:
            rows = self.db.rows(tx, f"SELECT id, {', '.join(AUDIT_COLUMNS)} FROM audit_events"
                                    f"{clause} ORDER BY id DESC LIMIT ? OFFSET ?",
                                [*params, query.limit, query.offset])  # fmt: skip
        return [self._event(row) for row in rows]

    def _where(self, query: AuditQuery) -> tuple[list[str], list]:
        where, params = [], []
        for column, value, op in (("at", query.since, ">="), ("at", query.until, "<")):
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(self.db.encode_time(value))
        for column in ("principal", "object_type", "object_id"):
            if (value := getattr(query, column)) is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if query.action:
            if query.action.endswith("."):
                where.append("action LIKE ?")
                params.append(query.action.replace("%", "").replace("_", "\\_") + "%")
                where[-1] += " ESCAPE '\\'"
            else:
                where.append("action = ?")
                params.append(query.action)
        return where, params

    def _event(self, row: dict) -> AuditEvent:
        row = dict(row)
        row["at"] = self.db.decode_time(row["at"])
        for column in ("before", "after"):
            value = row[column]
            row[column] = json.loads(value) if isinstance(value, str) else value
        return AuditEvent(**row)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)
