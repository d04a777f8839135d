"""Patrol check-ins (巡查签到): a grid worker's "I am here now", made on the phone.

A check-in is a moment and a place: the phone makes its id (a UUID), so the
offline queue can send it again and again and it is stored once. The same id
sent again with the same content answers the stored check-in (``created`` is
False); with other content, or by another worker, it is refused with
:class:`CheckinConflictError` (HTTP 409): an id names one check-in for ever.

Positions are kept in WGS-84 (converted from the ``crs`` the phone sent, which
is kept beside them), with the grid of the finest full level they fall in; a
check-in without a position (no fix indoors) is kept with none.

Examples
--------
>>> import tempfile
>>> from datetime import UTC, datetime
>>> from geogrid import Hierarchy
>>> from geogrid.storage import open_store
>>> store = open_store(f"sqlite:///{tempfile.mkdtemp()}/g.db")
>>> _ = store.import_generation(Hierarchy.from_manifest("data/boundaries/sample.toml"),
...                             "2026", activate=True)
>>> checkins = Checkins(store.db, store.clock, store.hierarchy)  # store.checkins is one
>>> at = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
>>> record, created = checkins.add("c-1", lon=120.655, lat=28.01, at=at, actor="zhang.san")
>>> created, record.grid_code
(True, '330399003001005003')
>>> checkins.add("c-1", lon=120.655, lat=28.01, at=at, actor="zhang.san")[1]
False
>>> checkins.add("c-1", lon=120.656, lat=28.01, at=at, actor="zhang.san")
Traceback (most recent call last):
...
geogrid.storage.checkins.CheckinConflictError: id c-1: already used by a check-in that says something else (at 2026-11-23T01:30:00+00:00, 120.655, 28.01); make a new id for a new check-in
"""  # noqa: E501

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from geogrid.access.principals import Principal, principal_of
from geogrid.crs import to_wgs84
from geogrid.errors import CRSError, GeogridError, InputError
from geogrid.storage.loop import LoopConflictError
from geogrid.storage.rows import PermissionDeniedError, aware_utc, crs_name

#: What a phone-made id may look like: a UUID, or any short token of these characters.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
MAX_NOTE = 500
#: How far ahead of the server's clock a phone's clock may run.
CLOCK_SKEW = timedelta(minutes=15)
COLUMNS = ("id", "worker", "at", "lon", "lat", "crs", "grid_code", "note", "received_at")

Actor = Principal | str


class CheckinConflictError(LoopConflictError):
    """An id already names another check-in (other content, or another worker's): HTTP 409."""


@dataclass(frozen=True)
class Checkin:
    """One stored check-in; ``lon``/``lat`` in WGS-84, ``crs`` the one the phone sent."""

    id: str
    worker: str
    at: datetime
    lon: float | None
    lat: float | None
    crs: str | None
    grid_code: str | None
    note: str
    received_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (times as ISO 8601).

        Examples
        --------
        >>> from datetime import UTC, datetime
        >>> t = datetime(2026, 11, 23, tzinfo=UTC)
        >>> Checkin("c-1", "w", t, 120.0, 28.0, "WGS-84", None, "", t).to_dict()["at"]
        '2026-11-23T00:00:00+00:00'
        """
        values = asdict(self)
        values["at"], values["received_at"] = self.at.isoformat(), self.received_at.isoformat()
        return values


class Checkins:
    """The check-ins of a store; reached as ``store.checkins``.

    ``hierarchy`` gives the active boundaries (the store's cached ones), to find
    the grid a check-in falls in; without it no grid is recorded.
    """

    def __init__(self, db, clock, hierarchy: Callable | None = None) -> None:
        self.db = db
        self.clock = clock
        self._hierarchy = hierarchy

    def add(
        self, checkin_id: str, *, lon: float | None, lat: float | None, crs: str = "WGS-84",
        at: datetime, note: str = "", actor: Actor,
    ) -> tuple[Checkin, bool]:  # fmt: skip
        """Store a check-in by the phone's id: (the stored one, whether it is new).

        Needs ``track.create``; the worker is the principal, never a name sent.
        """
        who = principal_of(actor)
        if not who.may("track.create"):
            raise PermissionDeniedError(f"{who.name} ({who.role}) may not check in (track.create)")
        now = self.clock()
        row = self._row(checkin_id, lon, lat, crs, at, note, now)
        row["worker"] = who.name
        with self.db.transaction() as tx:
            names, marks = ", ".join(COLUMNS), ", ".join("?" * len(COLUMNS))
            created = self.db.execute_count(
                tx, f"INSERT INTO patrol_checkins ({names}) VALUES ({marks})"
                " ON CONFLICT (id) DO NOTHING", [self._encoded(row, c) for c in COLUMNS],
            ) == 1  # fmt: skip
            (stored,) = self.db.rows(tx, f"SELECT {names} FROM patrol_checkins WHERE id = ?",
                                     [row["id"]])  # fmt: skip
        record = self._record(stored)
        if not created and not _same(record, row):
            raise CheckinConflictError(_conflict(record, who))
        return record, created

    def list(
        self, since: datetime, until: datetime, worker: str | None = None,
        codes: Iterable[str] | None = None,
    ) -> list[Checkin]:  # fmt: skip
        """Check-ins at ``since`` or later and before ``until``, in time order.

        ``worker``: one worker's only; ``codes``: only those in these grids (a
        scope's covered codes; check-ins without a grid are then left out).
        """
        since, until = aware_utc(since, "since"), aware_utc(until, "until")
        if until < since:
            raise InputError(f"until ({until.isoformat()}) is before since ({since.isoformat()})")
        query = f"SELECT {', '.join(COLUMNS)} FROM patrol_checkins WHERE at >= ? AND at < ?"
        params: list = [self.db.encode_time(since), self.db.encode_time(until)]
        if worker is not None:
            query, params = query + " AND worker = ?", [*params, worker]
        with self.db.transaction(write=False) as tx:
            rows = self.db.rows(tx, query + " ORDER BY at, id", params)
        found = [self._record(row) for row in rows]
        if codes is not None:
            allowed = set(codes)
            found = [c for c in found if c.grid_code in allowed]
        return found

    # --- helpers -------------------------------------------------------------------------

    def _row(self, checkin_id, lon, lat, crs, at, note, now: datetime) -> dict[str, Any]:
        """The checked values of a new check-in, its position in WGS-84 and its grid."""
        at = aware_utc(at, "at")
        if at > now + CLOCK_SKEW:
            raise InputError(f"at: {at.isoformat()} is in the future (the server's time is "
                             f"{now.isoformat()}); check the phone's clock")  # fmt: skip
        lon, lat, crs = _position(lon, lat, crs)
        return {"id": check_id(checkin_id), "at": at, "lon": lon, "lat": lat, "crs": crs,
                "grid_code": self._grid(lon, lat), "note": _note(note),
                "received_at": now}  # fmt: skip

    def _grid(self, lon: float | None, lat: float | None) -> str | None:
        """The grid of the finest full level the point falls in (or is within tolerance of).

        A partial level (buildings) is left out: a check-in on the street is in no building.
        """
        if lon is None or self._hierarchy is None:
            return None
        try:
            h = self._hierarchy()
        except GeogridError:  # no active generation yet: kept without a grid
            return None
        codes = h.lookup(lon, lat)["codes"]
        full = [key for key in h.levels if h.level(key).coverage == "full"]
        return next((codes[key] for key in reversed(full) if codes.get(key)), None)

    def _encoded(self, row: dict, column: str) -> Any:
        value = row[column]
        return self.db.encode_time(value) if isinstance(value, datetime) else value

    def _record(self, row: dict) -> Checkin:
        values = dict(row)
        values["at"] = self.db.decode_time(values["at"])
        values["received_at"] = self.db.decode_time(values["received_at"])
        values["note"] = values["note"] or ""
        return Checkin(**values)


def check_id(value: Any, field: str = "id") -> str:
    """A phone-made id, or an error naming ``field``.

    Examples
    --------
    >>> check_id("0f8c2c3e-4c1a-4d0e-9a55-3b1f2a7e9d10")
    '0f8c2c3e-4c1a-4d0e-9a55-3b1f2a7e9d10'
    >>> check_id("a b")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: id: 'a b' is not an id (letters, digits, . _ : -, at most 100)
    """
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        shown = value if isinstance(value, str) and len(value) <= 120 else type(value).__name__
        raise InputError(f"{field}: {shown!r} is not an id (letters, digits, . _ : -, at most 100)")
    return value


def _position(lon: Any, lat: Any, crs: Any) -> tuple[float | None, float | None, str | None]:
    """(lon, lat) in WGS-84 and the name of the system they came in; all None without one."""
    if lon is None and lat is None:
        return None, None, None
    for name, value, limit in (("lon", lon, 180), ("lat", lat, 90)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{name}: must be a number (degrees), got {type(value).__name__}")
        if not (-limit <= value <= limit and math.isfinite(value)):  # no float() of a huge int
            shown = value if isinstance(value, float) or abs(value) < 10**20 else "a huge number"
            raise InputError(f"{name}: {shown} is out of range (-{limit} to {limit})")
    if not isinstance(crs, str):
        raise InputError("crs: must be text, e.g. WGS-84")
    try:
        name = crs_name(crs)
    except CRSError as exc:
        raise InputError(f"crs: {exc}") from None
    x, y = to_wgs84([float(lon)], [float(lat)], name)
    return float(x[0]), float(y[0]), name


def _note(note: Any) -> str:
    if note is None:
        return ""
    if not isinstance(note, str):
        raise InputError(f"note: must be text, got {type(note).__name__}")
    if len(note) > MAX_NOTE:
        raise InputError(f"note: {len(note)} characters; at most {MAX_NOTE}")
    if "\x00" in note:
        raise InputError("note: holds a NUL character (\\u0000), which no store keeps")
    try:
        note.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"note: holds half a UTF-16 surrogate pair (at {exc.start})") from None
    return note


def _same(record: Checkin, row: dict) -> bool:
    """Whether a stored check-in says what ``row`` says (a resend, not a new one)."""
    return (record.worker, record.at, record.lon, record.lat, record.crs, record.note) == (
        row["worker"], row["at"], row["lon"], row["lat"], row["crs"], row["note"])  # fmt: skip


def _conflict(record: Checkin, who: Principal) -> str:
    if record.worker != who.name:  # another's: say nothing of what it holds
        return f"id {record.id}: already used by another check-in; make a new id"
    place = "" if record.lon is None else f", {record.lon:g}, {record.lat:g}"
    return (f"id {record.id}: already used by a check-in that says something else "
            f"(at {record.at.isoformat()}{place}); make a new id for a new check-in")  # fmt: skip
