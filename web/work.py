"""The closed loop's API for people at work: work queues, dispatch targets, the in-app list.

- ``GET /api/queue``: a work queue (待办), overdue and nearly overdue first;
- ``GET /api/reports/<id>/assignees``: who a report can be dispatched to;
- ``GET /api/inbox`` and ``POST /api/inbox/read``: the in-app list (提醒) of what was
  dispatched or returned to me and what is about to be late.

The steps themselves go through ``POST /api/reports/<id>/transitions`` (web/api.py).

Examples
--------
>>> from web import create_app
>>> app = create_app({"TESTING": True})
>>> app.test_client().get("/api/queue").status_code  # signed in only
401
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request, url_for

from geogrid.errors import InputError
from geogrid.storage.loop import QueueQuery
from web import params
from web.access import principal, requires
from web.geojson import report_properties
from web.state import now, store

blueprint = Blueprint("work", __name__)


def queue_query() -> QueueQuery:
    """The queue's filters from the query string (see :class:`QueueQuery`)."""
    limit = params.integer("limit", 50, 1, current_app.config["PAGE_LIMIT"])
    mine = request.args.get("mine", "true").lower()
    if mine not in ("true", "false", "1", "0"):
        raise InputError("query parameter 'mine' must be true or false")
    return QueueQuery(
        status=params.words("status"), category=params.words("category"),
        grid=request.args.get("grid") or None, source=params.words("source"),
        since=params.time("since"), until=params.time("until", whole_day=True),
        warning=request.args.get("warning") or None, mine=mine in ("true", "1"), now=now(),
        limit=limit, offset=params.integer("offset", 0, 0, 10_000_000),
    )  # fmt: skip


@blueprint.get("/queue")
@requires("report.read")
def queue():
    """My work queue: ``mine`` (default true), status, category, grid, source, since, until,
    warning (overdue|nearly), limit, offset; ``total`` stops counting at 10,000."""
    who = principal()
    page = store().queue(who, queue_query())
    body = {"total": page.total, "limit": page.limit, "offset": page.offset,
            "items": [report_properties(r, who) for r in page.items]}  # fmt: skip
    if page.offset + len(page.items) < page.total:
        body["next"] = url_for("work.queue", **{**request.args.to_dict(),
                                                "offset": page.offset + page.limit})  # fmt: skip
    return jsonify(body)


@blueprint.get("/reports/<int:report_id>/assignees")
@requires("report.dispatch")
def assignees(report_id: int):
    """Departments and grid workers a report can be dispatched to (its grid's workers first)."""
    return jsonify(assignees=store().assignees(report_id, actor=principal()))


@blueprint.get("/inbox")
@requires("report.read")
def inbox():
    """My notices, newest first: ``unread=true`` for the unread only; ``limit`` (≤ 200)."""
    notices = store().notifications(principal(), unread_only=params.flag("unread"),
                                    limit=params.integer("limit", 50, 1, 200))  # fmt: skip
    unread = sum(1 for n in notices if n["read_at"] is None)
    return jsonify(items=notices, unread=unread)


@blueprint.post("/inbox/read")
@requires("report.read")
def inbox_read():
    """Mark notices read: ``{"ids": [1, 2]}``; ids not mine are ignored."""
    body = params.json_body()
    ids = body.get("ids") if isinstance(body, dict) else None
    if (
        not isinstance(ids, list)
        or len(ids) > 1000
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        raise InputError("ids: a list of at most 1000 notice ids (whole numbers)")
    return jsonify(marked=store().mark_read(principal(), ids))
