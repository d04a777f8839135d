"""The closed loop (闭环流转): report statuses, the steps between them, sources, escalation.

Pure Python with no database, so the storage layer and the web app share one
set of rules:

- **statuses** and the transitions between them: 受理 received → 登记 registered →
  分拨 dispatched → 处置 in progress → 反馈 feedback → 核查 verified → 结案 closed,
  plus rework (feedback → in progress, 核查不通过) and closing an invalid or
  duplicate report early (不予受理, which needs a note): :func:`check_transition`;
- **sources** of reports (网格员, 居民, 12345 热线 …): :func:`check_source`;
- **escalation** of an overdue report one level up the grid hierarchy:
  :func:`escalation_target`.

The category tree lives in :mod:`geogrid.categories`, deadlines and the working
calendar in :mod:`geogrid.deadlines`.

Examples
--------
>>> check_transition(RECEIVED, REGISTERED)
>>> allowed_next(FEEDBACK)
('in_progress', 'verified')
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from types import MappingProxyType
from typing import Any

from geogrid.errors import GeogridError, InputError


class IllegalTransitionError(GeogridError):
    """A report cannot move from its current status to the one asked for."""


# ---------------------------------------------------------------------------
# Statuses and transitions
# ---------------------------------------------------------------------------

RECEIVED = "received"
REGISTERED = "registered"
DISPATCHED = "dispatched"
IN_PROGRESS = "in_progress"
FEEDBACK = "feedback"
VERIFIED = "verified"
CLOSED = "closed"

#: The closed loop, in order.
STATUSES = (RECEIVED, REGISTERED, DISPATCHED, IN_PROGRESS, FEEDBACK, VERIFIED, CLOSED)

#: Display names of each status: (Chinese, English).
STATUS_LABELS: dict[str, tuple[str, str]] = {
    RECEIVED: ("受理", "Received"),
    REGISTERED: ("登记", "Registered"),
    DISPATCHED: ("分拨", "Dispatched"),
    IN_PROGRESS: ("处置", "In progress"),
    FEEDBACK: ("反馈", "Feedback"),
    VERIFIED: ("核查", "Verified"),
    CLOSED: ("结案", "Closed"),
}

#: Statuses of reports still being worked on (every status but closed).
OPEN_STATUSES = STATUSES[:-1]

#: Allowed next statuses of each status, in loop order. A status never moves to
#: itself: a repeated "dispatch" is a re-dispatch, recorded as an event, not a move.
TRANSITIONS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        RECEIVED: (REGISTERED, CLOSED),
        REGISTERED: (DISPATCHED, CLOSED),
        DISPATCHED: (IN_PROGRESS,),
        IN_PROGRESS: (FEEDBACK,),
        # 核查不通过，返回处置: the checker sends the work back for rework.
        FEEDBACK: (IN_PROGRESS, VERIFIED),
        VERIFIED: (CLOSED,),
        CLOSED: (),
    }
)

#: Moves that need a note: closing before dispatch is 不予受理 (an invalid or
#: duplicate report), and the reporter is owed the reason.
NOTE_REQUIRED = frozenset({(RECEIVED, CLOSED), (REGISTERED, CLOSED)})


def check_status(status: str) -> str:
    """Return ``status`` if it is a known status, else raise :class:`InputError`.

    Examples
    --------
    >>> check_status("dispatched")
    'dispatched'
    >>> check_status("closd")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: unknown status 'closd'; did you mean 'closed'? valid statuses: received, registered, dispatched, in_progress, feedback, verified, closed
    """  # noqa: E501
    if status not in STATUS_LABELS:
        raise InputError(_unknown_name_message("status", "statuses", status, STATUSES))
    return status


def allowed_next(status: str) -> tuple[str, ...]:
    """The statuses a report at ``status`` may move to, in loop order.

    Examples
    --------
    >>> allowed_next("received")
    ('registered', 'closed')
    >>> allowed_next("closed")
    ()
    """
    return TRANSITIONS[check_status(status)]


def check_transition(current: str, target: str, note: str | None = None) -> None:
    """Refuse a status change that the closed loop does not allow.

    Parameters
    ----------
    current, target
        Status names (see :data:`STATUSES`).
    note
        Free text kept with the change; required (non-blank) when closing a
        report from received or registered (不予受理: invalid or duplicate).

    Raises
    ------
    InputError
        ``current`` or ``target`` is not a status, or ``note`` is not text.
    IllegalTransitionError
        The move is not in :data:`TRANSITIONS`, or it needs a note and has none;
        the message names both statuses and lists the allowed next ones.

    Examples
    --------
    >>> check_transition("feedback", "in_progress")   # 核查不通过, rework
    >>> check_transition("received", "closed", note="重复上报, 见 #1024")
    >>> check_transition("dispatched", "closed")
    Traceback (most recent call last):
    ...
    geogrid.workflow.IllegalTransitionError: cannot move a report from 分拨 Dispatched (dispatched) to 结案 Closed (closed); allowed next: 处置 In progress (in_progress)
    """  # noqa: E501
    next_statuses = allowed_next(current)
    check_status(target)
    if note is not None and not isinstance(note, str):
        raise InputError(f"a transition note must be text, got {type(note).__name__}")
    move = f"from {_describe(current)} to {_describe(target)}"
    if target not in next_statuses:
        raise IllegalTransitionError(
            f"cannot move a report {move}; {_allowed_text(current, next_statuses)}"
        )
    if (current, target) in NOTE_REQUIRED and not (note and note.strip()):
        raise IllegalTransitionError(
            f"moving a report {move} needs a note saying why it is not accepted "
            "(不予受理: invalid or duplicate report)"
        )


def _describe(status: str) -> str:
    zh, en = STATUS_LABELS[status]
    return f"{zh} {en} ({status})"


def _allowed_text(current: str, next_statuses: tuple[str, ...]) -> str:
    if not next_statuses:
        return f"{_describe(current)} is final: no status may follow it"
    names = [
        _describe(s) + (" with a note" if (current, s) in NOTE_REQUIRED else "")
        for s in next_statuses
    ]
    return "allowed next: " + ", ".join(names)


# ---------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------

#: Where a report comes from: (Chinese, English).
SOURCES: dict[str, tuple[str, str]] = {
    "grid_worker": ("网格员", "Grid worker"),
    "resident": ("居民", "Resident"),
    "hotline": ("12345热线", "12345 hotline"),
    "sensor": ("感知设备", "Sensor"),
    "patrol": ("巡查", "Patrol"),
    "other": ("其他", "Other"),
}


def check_source(name: str) -> str:
    """Return ``name`` if it is a known report source, else raise :class:`InputError`.

    Examples
    --------
    >>> check_source("hotline")
    'hotline'
    >>> check_source("12345")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: unknown source '12345'; valid sources: grid_worker, resident, hotline, sensor, patrol, other
    """  # noqa: E501
    if name not in SOURCES:
        raise InputError(_unknown_name_message("source", "sources", name, SOURCES))
    return name


def _unknown_name_message(kind: str, kinds: str, name: Any, valid: Iterable[str]) -> str:
    valid = list(valid)
    close = difflib.get_close_matches(str(name), valid, n=3)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ";"
    return f"unknown {kind} {name!r}{hint} valid {kinds}: {', '.join(valid)}"


# ---------------------------------------------------------------------------
# Escalation
# ---------------------------------------------------------------------------


def escalation_target(levels: Sequence[str], current_level: str) -> str | None:
    """The level an overdue report escalates to: the parent of its handling level.

    "小事不出社，大事不出街": a report is handled at the lowest level that can
    handle it, and goes one level up only when it is overdue or beyond that
    level — never straight to the top. ``levels`` are the hierarchy's level
    keys, top first (as :attr:`geogrid.Hierarchy.levels`); the top level has
    nowhere to escalate to and gives None.

    Examples
    --------
    >>> levels = ["street", "community", "grid", "microgrid"]
    >>> escalation_target(levels, "grid")
    'community'
    >>> escalation_target(levels, "street") is None
    True
    """
    levels = list(levels)
    if current_level not in levels:
        raise InputError(_unknown_name_message("level", "levels", current_level, levels))
    index = levels.index(current_level)
    return levels[index - 1] if index > 0 else None
