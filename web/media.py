"""Photos of reports at /api: upload one, and serve it to those who may see its report.

==========================================  ============  =====================================
route                                       action        what
==========================================  ============  =====================================
``POST /api/reports/<id>/media``            report.read   a photo (multipart field ``photo``;
                                                          ``stage`` report or feedback) → 201
                                                          with it, 200 if it was there already
``GET  /api/media/<id>``                    report.read   the photo
``GET  /api/media/<id>/thumb``              report.read   its thumbnail (JPEG, ≤ 320 px)
==========================================  ============  =====================================

Uploading a photo of the report (stage ``report``) needs ``report.create`` too, and
a feedback photo (proof of the work) ``report.feedback``; a department or grid
worker adds feedback photos only to reports dispatched to them. A report or photo
out of the reader's scope answers 404, as one that does not exist.

The photo is checked, decoded, turned upright and stripped of its EXIF (phones
write where they stood) before it is stored (:mod:`geogrid.media`); the stored
bytes are served ``Cache-Control: private`` with their exact type and
``X-Content-Type-Options: nosniff`` (on every response: :mod:`web.access`).
Limits: ``MEDIA_MAX_BYTES`` per photo (413 over it), ``MEDIA_MAX_PIXELS`` per
image, :data:`~geogrid.storage.media.MAX_PER_STAGE` photos per report and stage.

Residents add photos by ticket through the residents' page
(``POST /api/public/tickets/<ticket>/media`` in :mod:`web.resident`), which calls
:func:`add_ticket_photo`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, current_app, jsonify, request, send_file, url_for
from werkzeug.datastructures import FileStorage

from geogrid.errors import InputError, NotFoundError
from geogrid.reports import Report
from geogrid.storage.media import MediaRecord, check_stage
from geogrid.storage.rows import PermissionDeniedError
from web.access import principal, requires
from web.limits import TooLargeError
from web.settings import PREFIX
from web.state import store

blueprint = Blueprint("media", __name__)

#: What each stage of photo needs besides reading the report.
STAGE_ACTION = {"report": "report.create", "feedback": "report.feedback"}
#: Routes whose body is one photo: theirs may be up to ``MEDIA_MAX_BYTES`` plus the framing.
PHOTO_ENDPOINTS = frozenset({"media.upload", "resident.add_photo"})
FORM_OVERHEAD = 64 * 1024
#: A served photo may be kept by the reader's browser, never by a shared cache.
CACHE_CONTROL = "private, max-age=86400"


@blueprint.post("/reports/<int:report_id>/media")
@requires("report.read")
def upload(report_id: int):
    """Add a photo to a report in scope: 201 with it, 200 if the same photo was there already."""
    who = principal()
    _report_in_scope(report_id)
    file, stage = _photo_file(), check_stage(request.form.get("stage") or "report")
    if not who.may(STAGE_ACTION[stage]):
        raise PermissionDeniedError(f"{who.name} ({who.role}) may not add {stage} photos "
                                    f"({STAGE_ACTION[stage]})")  # fmt: skip
    record = _add(report_id, file, stage, who)
    return jsonify(media_json(record)), 201 if record.created else 200


@blueprint.get("/media/<int:media_id>")
@requires("report.read")
def photo(media_id: int):
    """The stored photo, to a reader whose scope covers its report."""
    return _served(_visible(media_id), thumb=False)


@blueprint.get("/media/<int:media_id>/thumb")
@requires("report.read")
def thumb(media_id: int):
    """The photo's thumbnail (JPEG, longest side 320 px)."""
    return _served(_visible(media_id), thumb=True)


# --- for other modules -------------------------------------------------------------------------


def media_json(record: MediaRecord, external: bool = False) -> dict[str, Any]:
    """A photo as report JSON lists it: ``{id, stage, url, thumb_url, width, height, bytes,
    created_at}``; ``external``: absolute URLs (for Open311).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from web import create_app
    >>> record = MediaRecord(7, 5, "report", "ab" * 32, "image/jpeg", 1234, 640, 480,
    ...                      "ab/x.jpg", "ab/x.thumb.jpg", None,
    ...                      datetime(2026, 11, 23, tzinfo=UTC), "zhang.san")
    >>> with create_app({"TESTING": True}).test_request_context():
    ...     body = media_json(record)
    >>> body["url"], body["thumb_url"], body["width"]
    ('/api/media/7', '/api/media/7/thumb', 640)
    """
    return {
        "id": record.id,
        "stage": record.stage,
        "url": url_for("media.photo", media_id=record.id, _external=external),
        "thumb_url": url_for("media.thumb", media_id=record.id, _external=external),
        "width": record.width,
        "height": record.height,
        "bytes": record.bytes,
        "created_at": record.created_at.isoformat(),
    }


def photos_json(report_id: int) -> list[dict[str, Any]]:
    """A report's photos as :func:`media_json` gives each, oldest first."""
    return [media_json(r) for r in store().media.of_report(report_id)]


def first_photo_urls(report_ids: list[int]) -> dict[int, str]:
    """Report id → the absolute URL of its first photo, for the reports that have one."""
    found = store().media.of_reports(report_ids)
    return {report_id: media_json(records[0], external=True)["url"]
            for report_id, records in found.items() if records}  # fmt: skip


def add_ticket_photo(ticket: str, file: FileStorage) -> dict[str, Any]:
    """Add a resident's photo (stage ``report``) to the report a ticket number names.

    For the residents' page's route, which declares ``ticket``. The ticket is what
    entitles the sender, so the report need not be in a signed-in sender's scope;
    the sender is recorded all the same. Refused: an unknown ticket (404), a closed
    report or one with six photos of the report already (409), a file that is not
    an acceptable photo (400) or too large (413).
    """
    report = store().report_by_ticket(ticket)
    sender = replace(principal(), scope=None)
    record = _add(report.id, file, "report", sender)
    return {**media_json(record), "created": record.created}


def allow_photo_bodies() -> None:
    """Let a photo upload's body be as large as ``MEDIA_MAX_BYTES`` and the form's framing.

    The app's first before-request hook: it must run before any hook reads the body
    (:func:`web.params.check_utf8` reads the form) and before :mod:`web.lanes`
    checks its size against ``request.max_content_length``. Other requests keep
    ``MAX_BODY_BYTES``.
    """
    if request.endpoint in PHOTO_ENDPOINTS:
        config = current_app.config
        request.max_content_length = max(config["MAX_CONTENT_LENGTH"] or 0,
                                         config["MEDIA_MAX_BYTES"] + FORM_OVERHEAD)  # fmt: skip


# --- helpers -----------------------------------------------------------------------------------


def _report_in_scope(report_id: int) -> Report:
    report = store().get_report(report_id)
    if not principal().covers(report.codes.values()):
        raise NotFoundError(f"report {report_id} does not exist")
    return report


def _photo_file() -> FileStorage:
    file = request.files.get("photo")
    if file is None:
        raise InputError("photo: attach an image file as the multipart/form-data field 'photo'")
    return file


def _add(report_id: int, file: FileStorage, stage: str, who) -> MediaRecord:
    config = current_app.config
    return store().media.add(
        report_id, _read(file, config["MEDIA_MAX_BYTES"]), stage=stage, actor=who,
        original_name=file.filename, content_type=file.mimetype,
        max_bytes=config["MEDIA_MAX_BYTES"], max_pixels=config["MEDIA_MAX_PIXELS"],
    )  # fmt: skip


def _read(file: FileStorage, limit: int) -> bytes:
    """The file's bytes, reading no more than one byte past the limit."""
    data = file.stream.read(limit + 1)
    if len(data) > limit:
        raise TooLargeError(f"photo: more than {limit:,} bytes; at most {limit:,} "
                            f"({PREFIX}MEDIA_MAX_BYTES)")  # fmt: skip
    return data


def _visible(media_id: int) -> MediaRecord:
    """The photo, if the reader's scope covers its report; else it "does not exist"."""
    record = store().media.get(media_id)
    report = store().get_report(record.report_id)
    if not principal().covers(report.codes.values()):
        raise NotFoundError(f"media {media_id} does not exist")
    return record


def _served(record: MediaRecord, thumb: bool):
    path = store().media.path_of(record, thumb=thumb)
    if not path.is_file():
        raise NotFoundError(f"media {record.id}: its file is missing from the media folder")
    response = send_file(path, mimetype="image/jpeg" if thumb else record.content_type,
                         conditional=True, etag=True, max_age=86400)  # fmt: skip
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response
