"""Actions and roles: what each kind of person on the platform may do.

An **action** is one thing a route or a command does (``report.close``); a
**role** is the set of actions that one job needs, as the practice divides the
work: the command centre (指挥中心) registers, dispatches, verifies and closes;
departments (职能部门) and grid workers (网格员) handle and report back; planners
redraw; machines (the 12345 hotline, the residents' mini-program) only create.

Examples
--------
>>> "report.close" in ROLES["commander"], "report.close" in ROLES["grid_worker"]
(True, False)
>>> action_of_transition("feedback", "verified")
'report.verify'
"""

from __future__ import annotations

from types import MappingProxyType

from geogrid.errors import InputError
from geogrid.workflow import (
    CLOSED,
    DISPATCHED,
    FEEDBACK,
    IN_PROGRESS,
    RECEIVED,
    REGISTERED,
    VERIFIED,
)

#: Every action, with a line of help. ``public`` is what everyone may do, signed in
#: or not: the sign-in page, static files and the API documents.
ACTIONS: MappingProxyType[str, str] = MappingProxyType(
    {
        "public": "sign-in page, static files, API documents",
        "lookup": "find the grids of a point",
        "grid.read": "grid boundaries, levels and generations",
        "service.list": "the report categories (Open311 services)",
        "aggregate.read": "counts per grid, heat maps, hot spots, risk colours (no single report)",
        "report.read": "single reports in scope, with their history (contact details masked)",
        "report.contact": "reporters' contact details in full",
        "report.create": "report a matter (intake)",
        "report.register": "登记: register a received report",
        "report.dispatch": "分拨: dispatch a registered report",
        "report.handle": "处置: start handling a dispatched report",
        "report.feedback": "反馈: report back that the matter is handled",
        "report.verify": "核查: pass the feedback, or return it for rework",
        "report.close": "结案: close a verified report",
        "report.reject": "不予受理: close a report early, with a note",
        "report.escalate": "hand overdue reports up a level",
        "ticket": "residents' page: report a matter, follow it and rate it by its ticket number",
        "stats.read": "assessment statistics (考核) of grids, workers and departments",
        "track.create": "store patrol tracks (a grid worker: only their own)",
        "track.read": "read one's own patrol tracks and compliance",
        "track.read_all": "read every worker's patrol tracks in scope",
        "route.read": "read planned patrol routes",
        "route.write": "plan and store patrol routes",
        "hazard.read": "risk sources and their scores",
        "generation.import": "import boundary sets",
        "generation.activate": "make a boundary set current",
        "draft.read": "see boundary drafts, their metrics, comparisons and impact",
        "draft.edit": "create, edit, propose and submit boundary drafts (the redraw studio)",
        "draft.approve": "approve a submitted draft, or send it back",
        "draft.publish": "publish an approved draft as the new generation, or roll back",
        "user.manage": "add, disable and give tokens to accounts",
        "audit.read": "read the audit trail (the whole district's: administrators only)",
    }
)

_READ = {"public", "lookup", "grid.read", "service.list", "aggregate.read", "ticket"}
_HANDLE = {"report.read", "report.contact", "report.handle", "report.feedback"}

#: Each role's actions. ``admin`` may do everything.
ROLES: MappingProxyType[str, frozenset[str]] = MappingProxyType({
    "admin": frozenset(ACTIONS),
    "commander": frozenset(_READ | _HANDLE | {
        "report.create", "report.register", "report.dispatch", "report.verify",
        "report.close", "report.reject", "report.escalate", "track.create", "track.read",
        "track.read_all", "route.read", "route.write", "hazard.read", "draft.read",
        "draft.approve", "draft.publish", "stats.read"}),
    "department": frozenset(_READ | _HANDLE | {"route.read", "hazard.read"}),
    "grid_worker": frozenset(_READ | _HANDLE | {
        "report.create", "track.create", "track.read", "route.read", "hazard.read"}),
    "planner": frozenset(_READ | {"hazard.read", "route.read", "generation.import",
                                  "draft.read", "draft.edit"}),
    "viewer": frozenset(_READ | {"report.read", "route.read", "hazard.read", "draft.read",
                                 "stats.read"}),
    "intake": frozenset({"public", "lookup", "service.list", "report.create", "ticket"}),
})  # fmt: skip

#: What an operator may let anonymous visitors do: never contacts, tracks, accounts or the
#: audit trail (the ``ANONYMOUS_ACTIONS`` setting of the app picks among these).
ANONYMOUS_MAY = frozenset(
    {
        "lookup",
        "grid.read",
        "service.list",
        "aggregate.read",
        "report.create",
        "report.read",
        "route.read",
        "hazard.read",
        "ticket",
    }
)

#: Role names as the pages show them: (Chinese, English).
ROLE_LABELS: MappingProxyType[str, tuple[str, str]] = MappingProxyType({
    "admin": ("系统管理员", "Administrator"), "commander": ("指挥中心", "Command centre"),
    "department": ("职能部门", "Department"), "grid_worker": ("网格员", "Grid worker"),
    "planner": ("网格规划", "Planner"), "viewer": ("查看", "Viewer"),
    "intake": ("接入系统", "Intake system"),
})  # fmt: skip

_TRANSITION_ACTIONS = {
    (RECEIVED, REGISTERED): "report.register",
    (REGISTERED, DISPATCHED): "report.dispatch",
    (DISPATCHED, IN_PROGRESS): "report.handle",
    (IN_PROGRESS, FEEDBACK): "report.feedback",
    (FEEDBACK, IN_PROGRESS): "report.verify",  # 核查不通过: returned for rework
    (FEEDBACK, VERIFIED): "report.verify",
    (VERIFIED, CLOSED): "report.close",
    (RECEIVED, CLOSED): "report.reject",
    (REGISTERED, CLOSED): "report.reject",
}


#: Roles that handle reports dispatched to them (分拨对象): departments and grid workers.
HANDLER_ROLES = ("department", "grid_worker")


def action_of_transition(from_status: str, to_status: str) -> str | None:
    """The action a step of the closed loop needs; None for a step the loop does not have."""
    return _TRANSITION_ACTIONS.get((from_status, to_status))


def steps_allowed(role: str | None, status: str) -> tuple[str, ...]:
    """The statuses a report at ``status`` may be moved to by ``role`` (the loop's order).

    Examples
    --------
    >>> steps_allowed("commander", "feedback"), steps_allowed("grid_worker", "dispatched")
    (('in_progress', 'verified'), ('in_progress',))
    """
    actions = ROLES.get(role or "", frozenset())
    return tuple(to for (start, to), action in _TRANSITION_ACTIONS.items()
                 if start == status and action in actions)  # fmt: skip


def statuses_to_act_on(role: str | None) -> tuple[str, ...]:
    """The statuses in which a report waits for ``role``: its work queue (待办).

    Examples
    --------
    >>> statuses_to_act_on("commander")
    ('received', 'registered', 'feedback', 'verified')
    >>> statuses_to_act_on("department")
    ('dispatched', 'in_progress')
    """
    actions, handling = ROLES.get(role or "", frozenset()), {"report.handle", "report.feedback"}
    # Departments and grid workers handle; the command centre registers, dispatches,
    # verifies and closes (it may handle too, but that is not what waits for it).
    actions = actions & handling if role in HANDLER_ROLES else actions - handling
    waiting = {start for (start, _), action in _TRANSITION_ACTIONS.items() if action in actions}
    return tuple(s for s in (RECEIVED, REGISTERED, DISPATCHED, IN_PROGRESS, FEEDBACK, VERIFIED)
                 if s in waiting)  # fmt: skip


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`; else an error that lists them.

    Examples
    --------
    >>> check_role("viewer")
    'viewer'
    >>> check_role("mayor")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: role: 'mayor' is not one of admin, commander, department, grid_worker, planner, viewer, intake
    """  # noqa: E501
    if role not in ROLES:
        raise InputError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    return role


def check_action(action: str) -> str:
    """``action`` if it is one of :data:`ACTIONS`; a misspelt declaration fails loudly."""
    if action not in ACTIONS:
        raise InputError(f"action: {action!r} is not one of {', '.join(ACTIONS)}")
    return action
