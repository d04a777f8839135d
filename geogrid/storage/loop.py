"""The closed loop's bookkeeping beside the reports: checks, warnings, work queues, notices.

The store moves reports along the loop (:meth:`geogrid.storage.Store.transition`);
this module holds what those moves need besides the status:

- the checks of what a client sends with a step (a dispatch's deadline, the id a
  phone gave an action made offline, a resident's rating);
- **预警**: when a report becomes nearly overdue, a share of the way from the time
  its deadline was set to the deadline (:func:`warn_time`);
- the **work queue** (待办) filters, :class:`QueueQuery`;
- **notifications**: rows for the in-app list and the webhook, written once each
  (their ``dedupe_key`` is unique), in the transaction of the change they announce.

Examples
--------
>>> from datetime import UTC, datetime
>>> start, deadline = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 6, tzinfo=UTC)
>>> warn_time(start, deadline, 0.8).isoformat()
'2026-12-05T00:00:00+00:00'
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geogrid.errors import GeogridError, InputError

MAX_CLIENT_ID = 100
MAX_RATING_NOTE = 500
#: The share of the way to the deadline at which a report warns, unless the store says otherwise.
DEFAULT_WARNING_SHARE = 0.8
#: What a notification announces.
NOTICE_KINDS = ("dispatched", "returned", "nearly_overdue", "overdue", "escalated")
NOTICE_COLUMNS = ("at", "kind", "report_id", "recipient", "dedupe_key", "payload")
#: The statuses the work queue's ``warning`` filter knows.
WARNINGS = ("overdue", "nearly")


class LoopConflictError(GeogridError):
    """A step that cannot be taken twice was asked again (a second rating, a reused id)."""


@dataclass(frozen=True)
class QueueQuery:
    """Filters of a work queue (待办); every one is optional, results are paged.

    ``mine`` (the default) lists what waits for this principal's action (the
    command centre: to register, dispatch, verify and close; a department or grid
    worker: what is dispatched to them); ``mine=False`` every open report in
    scope. ``warning`` keeps only ``"overdue"`` or ``"nearly"`` overdue reports.
    """

    status: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    grid: str | None = None
    source: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    warning: str | None = None
    mine: bool = True
    now: datetime | None = None
    limit: int = 50
    offset: int = 0


def warn_time(start: datetime, deadline: datetime | None, share: float) -> datetime | None:
    """When a report whose deadline was set at ``start`` becomes nearly overdue.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> warn_time(datetime(2026, 12, 1, tzinfo=UTC), None, 0.8) is None
    True
    """
    if deadline is None:
        return None
    if deadline <= start:
        return deadline
    return start + (deadline - start) * share


def check_share(share: Any) -> float:
    """The warning share if it is a number above 0 and at most 1.

    Examples
    --------
    >>> check_share(0.8)
    0.8
    >>> check_share(1.5)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: warning_share: must be above 0 and at most 1, got 1.5
    """
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise InputError(f"warning_share: must be above 0 and at most 1, got {share!r}")
    return float(share)


def check_client_id(value: Any) -> str | None:
    """The id a phone gave an action (None: no id), or an error naming ``client_id``.

    Examples
    --------
    >>> check_client_id(" 5b0c6f1e-3a7d-4b2a-9a51-0d6c1e2f3a4b ")
    '5b0c6f1e-3a7d-4b2a-9a51-0d6c1e2f3a4b'
    >>> check_client_id(12)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: client_id: must be text of 1 to 100 characters, got 12
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_CLIENT_ID:
        shown = value[:40] if isinstance(value, str) else value
        raise InputError(
            f"client_id: must be text of 1 to {MAX_CLIENT_ID} characters, got {shown!r}"
        )
    return value.strip()


def check_deadline(value: Any, now: datetime) -> datetime | None:
    """A dispatch's deadline if it is an aware time after ``now`` (None: keep the current one).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> now = datetime(2026, 12, 6, 9, tzinfo=UTC)
    >>> check_deadline(datetime(2026, 12, 5, tzinfo=UTC), now)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: deadline: 2026-12-05T00:00:00+00:00 is in the past (now 2026-12-06T09:00:00+00:00)
    """  # noqa: E501
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InputError(f"deadline: a time with its zone, e.g. 2026-12-08T17:30+08:00; "
                         f"got {value!r}")  # fmt: skip
    if value <= now:
        raise InputError(f"deadline: {value.isoformat()} is in the past (now {now.isoformat()})")
    return value


def check_rating(score: Any, note: Any) -> tuple[int, str]:
    """A resident's rating: a whole score 1–5 and a note of at most 500 characters.

    Examples
    --------
    >>> check_rating(5, "很快就处理好了")
    (5, '很快就处理好了')
    >>> check_rating(6, "")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: score: must be a whole number from 1 (very dissatisfied) to 5 (very satisfied), got 6
    """  # noqa: E501
    if isinstance(score, float) and math.isfinite(score) and score.is_integer():
        score = int(score)
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise InputError("score: must be a whole number from 1 (very dissatisfied) to 5 "
                         f"(very satisfied), got {score!r}")  # fmt: skip
    note = "" if note is None else note
    if not isinstance(note, str) or len(note) > MAX_RATING_NOTE:
        raise InputError(f"note: must be text of at most {MAX_RATING_NOTE} characters")
    return score, note.strip()


def check_warning(value: Any) -> str | None:
    """The queue's ``warning`` filter: ``overdue``, ``nearly`` or None."""
    if value in (None, ""):
        return None
    if value not in WARNINGS:
        raise InputError(f"warning: {value!r} is not one of {', '.join(WARNINGS)}")
    return value


def notice(at: datetime, kind: str, report: dict, recipient: str | None, key: str,
           **details: Any) -> dict:  # fmt: skip
    """A notification row; ``key`` makes it unique (``kind:report:…``), so it is written once.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> row = notice(datetime(2026, 12, 6, tzinfo=UTC), "dispatched", {"id": 7, "category":
    ...              "fire"}, "gw.101", "dispatched:7:1", assignee="gw.101")
    >>> row["dedupe_key"], json.loads(row["payload"])["report"]["category"]
    ('dispatched:7:1', 'fire')
    """
    payload = {"kind": kind, "at": at.isoformat(), "recipient": recipient,
               "report": {k: _plain(v) for k, v in report.items()}, **details}  # fmt: skip
    return {"at": at, "kind": kind, "report_id": report["id"], "recipient": recipient,
            "dedupe_key": key, "payload": json.dumps(payload, ensure_ascii=False)}  # fmt: skip


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def insert_notices(db, tx, rows: list[dict]) -> None:
    """Write notifications in the caller's transaction; one already written is skipped."""
    if not rows:
        return
    marks = ", ".join("?" * len(NOTICE_COLUMNS))
    encoded = [tuple(db.encode_time(r[c]) if c == "at" else r[c] for c in NOTICE_COLUMNS)
               for r in rows]  # fmt: skip
    db.executemany(tx, f"INSERT INTO notifications ({', '.join(NOTICE_COLUMNS)}) VALUES "
                       f"({marks}) ON CONFLICT (dedupe_key) DO NOTHING", encoded)  # fmt: skip
