"""Reports (事件/上报): what comes in, what is stored, and how they are queried.

A :class:`NewReport` is what an intake channel sends: a category, a location in
the coordinate system the phone used, a time and a source. :func:`check_report`
refuses bad input with an error that names the field, before anything is
stored. A stored :class:`Report` carries the WGS-84 point, the grid at every
level and the generation it was assigned under, the workflow status, who
handles it until when, and its full history.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pyproj

from geogrid.access.personal import Contact, check_contact
from geogrid.categories import CategoryTree
from geogrid.crs import normalize_crs, to_wgs84
from geogrid.errors import CRSError, GeogridError, InputError
from geogrid.moments import check_year
from geogrid.workflow import CLOSED, check_source

MAX_DESCRIPTION = 4000
MAX_EXTERNAL_ID = 200
#: Ticket numbers: 12 symbols without look-alikes (no 0/O, 1/I/L), shown in groups of 4.
TICKET_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
TICKET_PATTERN = re.compile(
    r"^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}(-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}){2}$"
)


@dataclass(frozen=True, slots=True)
class NewReport:
    """A report as an intake channel sends it.

    Examples
    --------
    >>> r = NewReport(category="dispute.neighbour", lon=120.65, lat=28.01, crs="GCJ-02",
    ...               source="resident", external_id="mp-0001")
    >>> r.crs
    'GCJ-02'
    """

    category: str
    lon: float
    lat: float
    crs: str = "WGS-84"
    source: str = "grid_worker"
    reported_at: datetime | None = None
    description: str = ""
    external_id: str | None = None
    contact: Contact | None = None  # the reporter's, kept apart and shown masked

    def content_key(self) -> str:
        """A digest of what the report says, to tell a resend from a conflicting report.

        Examples
        --------
        >>> a = NewReport("fire", 120.6, 28.0, external_id="x")
        >>> a.content_key() == NewReport("fire", 120.6, 28.0, external_id="x").content_key()
        True
        """
        when = self.reported_at.astimezone(UTC).isoformat() if self.reported_at else ""
        content = (
            self.category,
            repr(float(self.lon)),
            repr(float(self.lat)),
            str(_crs(self.crs)),
            self.source,
            when,
            self.description,
        )
        return hashlib.blake2b("\x1f".join(content).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class HistoryEntry:
    """One step in a report's life: who did what, when, with a note and details."""

    at: datetime
    actor: str
    action: str  # received, transition, escalated, reassigned
    from_status: str | None = None
    to_status: str | None = None
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """A stored report."""

    id: int
    external_id: str | None
    source: str
    category: str
    description: str
    reported_at: datetime
    received_at: datetime
    received_lon: float
    received_lat: float
    received_crs: str
    lon: float
    lat: float
    generation_id: int | None
    codes: dict[str, str | None]
    assignment: str  # assigned, nearest, unassigned
    distance_m: float | None
    status: str
    handler_level: str | None
    handler_code: str | None
    deadline: datetime | None
    updated_at: datetime
    history: tuple[HistoryEntry, ...] = ()
    contact: Contact | None = None
    ticket: str | None = None  # what the reporter follows it by
    assignee: str | None = None  # the account it is dispatched to
    assigned_at: datetime | None = None
    warn_at: datetime | None = None  # 预警: nearly overdue from then on
    closed_at: datetime | None = None
    escalations: int = 0
    returns: int = 0  # returned for rework (核查不通过)
    rating: int | None = None  # residents' satisfaction, 1–5
    rating_note: str = ""
    rated_at: datetime | None = None

    def warning(self, now: datetime) -> str | None:
        """``"overdue"`` past the deadline, ``"nearly"`` past the warning time, else None.

        Examples
        --------
        >>> at = datetime(2026, 12, 1, tzinfo=UTC)
        >>> r = Report(1, None, "resident", "fire", "", at, at, 120.0, 28.0, "WGS-84", 120.0,
        ...            28.0, 1, {}, "inside", 0.0, "received", None, None,
        ...            at.replace(day=3), at, warn_at=at.replace(day=2))
        >>> [r.warning(at.replace(day=d)) for d in (1, 2, 4)]
        [None, 'nearly', 'overdue']
        """
        if self.status == CLOSED:
            return None
        if self.deadline is not None and now > self.deadline:
            return "overdue"
        if self.warn_at is not None and now >= self.warn_at:
            return "nearly"
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: times in ISO 8601 UTC, history included, never the contact.

        Whoever serves a report decides whether its reporter's contact details go
        with it, whole or masked (see :mod:`geogrid.access.personal`).
        """
        out = {k: v for k, v in self.__dict__.items() if k not in ("history", "contact")}
        for key in ("reported_at", "received_at", "deadline", "updated_at", "assigned_at",
                    "warn_at", "closed_at", "rated_at"):  # fmt: skip
            out[key] = out[key].isoformat() if out[key] else None
        out["history"] = [{**entry.__dict__, "at": entry.at.isoformat()} for entry in self.history]
        return out


@dataclass(frozen=True)
class ReportQuery:
    """Filters for listing reports; every filter is optional, results are paged.

    ``grid`` is a grid code at any level: reports in that grid and all its
    descendants. ``bbox`` is (west, south, east, north) in WGS-84. ``status`` and
    ``category`` accept several values; ``category`` includes sub-categories.
    """

    grid: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    since: datetime | None = None
    until: datetime | None = None
    category: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    overdue_at: datetime | None = None
    limit: int = 100
    offset: int = 0
    #: Grid codes the reader may see (their reports and their descendants'); None: all.
    scope: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Page:
    """One page of reports and the number that match in all."""

    items: list[Report]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class ReportExtent:
    """Where and since when reports are stored: their WGS-84 box and first received time."""

    bbox: tuple[float, float, float, float]  # west, south, east, north
    first_received: datetime


def check_report(report: NewReport, categories: CategoryTree) -> tuple[float, float]:
    """Refuse a bad report with an error naming the field; return its WGS-84 lon/lat.

    Examples
    --------
    >>> tree = CategoryTree.default()
    >>> check_report(NewReport("dispute", 120.65, 28.01), tree)
    (120.65, 28.01)
    >>> check_report(NewReport("dispute", 120.65, 95.0), tree)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: lat: 95.0 is out of range (-90 to 90)
    """
    lon, lat = check_reports([report], categories)
    return float(lon[0]), float(lat[0])


def check_reports(
    reports: Sequence[NewReport], categories: CategoryTree
) -> tuple[np.ndarray, np.ndarray]:
    """Check a whole batch before anything is stored; return WGS-84 lon/lat arrays.

    The first bad report raises an error naming it (its number in the batch and
    its external id) and the field. Coordinates are converted per CRS at once.

    Examples
    --------
    >>> batch = [NewReport("fire", 120.6, 28.0), NewReport("fire", 120.6, 28.0, source="cat")]
    >>> check_reports(batch, CategoryTree.default())
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: report 2: unknown source 'cat'; ...
    """
    by_crs: dict[str, list[int]] = {}
    index = 0
    try:
        for index, report in enumerate(reports):
            _check_fields(report, categories)
            by_crs.setdefault(report.crs, []).append(index)
    except GeogridError:
        with _naming(reports, index):
            raise
    lon = np.empty(len(reports))
    lat = np.empty(len(reports))
    for crs, indices in by_crs.items():
        with _naming(reports, indices[0]):
            lon[indices], lat[indices] = _converted(reports, indices, crs)
    return lon, lat


@contextmanager
def _naming(reports: Sequence[NewReport], index: int) -> Iterator[None]:
    """Prefix an error with which report of the batch it is about."""
    try:
        yield
    except GeogridError as exc:
        external_id = reports[index].external_id
        where = f"report {index + 1}" if len(reports) > 1 else "report" if external_id else ""
        if external_id:
            where += f" (external_id {external_id})"
        raise type(exc)(f"{where}: {exc}" if where else str(exc)) from None


def _check_fields(report: NewReport, categories: CategoryTree) -> None:
    categories.check(report.category)
    check_source(report.source)
    for name in ("lon", "lat"):
        value = getattr(report, name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{name}: must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InputError(f"{name}: must be a finite number, got {value!r}")
    if isinstance(_crs(report.crs), str):  # lon/lat systems: check the numbers as given
        _check_range("lon", report.lon, 180)
        _check_range("lat", report.lat, 90)
    _check_text(report)
    if report.reported_at is not None and (
        not isinstance(report.reported_at, datetime) or report.reported_at.tzinfo is None
    ):
        raise InputError("reported_at: needs a time zone, e.g. 2026-11-23T09:30:00+08:00")
    if report.reported_at is not None:
        check_year(report.reported_at, "reported_at")


@lru_cache(maxsize=64)
def _crs(name: str) -> str | pyproj.CRS:
    try:
        return normalize_crs(name)
    except CRSError as exc:
        raise CRSError(f"crs: {exc}") from None


def _converted(reports, indices: list[int], crs: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([reports[i].lon for i in indices], dtype=float)
    y = np.array([reports[i].lat for i in indices], dtype=float)
    lon, lat = to_wgs84(x, y, _crs(crs))
    bad = ~((np.abs(lon) <= 180) & (np.abs(lat) <= 90))  # also NaN from a failed transform
    if bad.any():
        first = indices[int(np.argmax(bad))]
        with _naming(reports, first):
            raise InputError(
                f"lon/lat: ({reports[first].lon}, {reports[first].lat}) in {crs} "
                "is not a place on Earth"
            )
    return lon, lat


def _check_range(name: str, value: float, limit: float) -> None:
    if not -limit <= value <= limit:
        raise InputError(f"{name}: {value} is out of range ({-limit} to {limit})")


def _check_text(report: NewReport) -> None:
    if not isinstance(report.description, str) or len(report.description) > MAX_DESCRIPTION:
        raise InputError(f"description: must be text of at most {MAX_DESCRIPTION} characters")
    if report.external_id is not None and (
        not isinstance(report.external_id, str)
        or not report.external_id.strip()
        or len(report.external_id) > MAX_EXTERNAL_ID
    ):
        raise InputError(
            f"external_id: must be non-empty text of at most {MAX_EXTERNAL_ID} characters"
        )
    if report.contact is not None:
        if not isinstance(report.contact, Contact):
            raise InputError("contact: must be a Contact (name, phone, email, device, account)")
        check_contact(report.contact)


def new_ticket() -> str:
    """A new ticket number: 12 random symbols (31^12 ≈ 8 × 10^17, not guessable), by fours.

    Examples
    --------
    >>> bool(TICKET_PATTERN.match(new_ticket()))
    True
    """
    symbols = "".join(secrets.choice(TICKET_ALPHABET) for _ in range(12))
    return "-".join(symbols[i : i + 4] for i in (0, 4, 8))


def check_ticket(text: Any) -> str:
    """A ticket number as typed, normalised (upper case, dashes), or an error naming the format.

    Examples
    --------
    >>> check_ticket(" 7k3m q9xd 2pht ")
    '7K3M-Q9XD-2PHT'
    >>> check_ticket("12")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: ticket: '12' is not a ticket number (12 letters and digits, e.g. 7K3M-Q9XD-2PHT)
    """  # noqa: E501
    if isinstance(text, str):
        plain = re.sub(r"[\s-]", "", text.upper())
        ticket = "-".join(plain[i : i + 4] for i in (0, 4, 8)) if len(plain) == 12 else plain
        if TICKET_PATTERN.match(ticket):
            return ticket
    shown = text[:40] if isinstance(text, str) else text
    raise InputError(f"ticket: {shown!r} is not a ticket number (12 letters and digits, "
                     "e.g. 7K3M-Q9XD-2PHT)")  # fmt: skip
