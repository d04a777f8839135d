"""Domain errors mapped to HTTP in one place; every error body is JSON.

The body names the problem: ``{"error": {"type": "InputError", "message":
"lat: 95.0 is out of range (-90 to 90)"}}``.
"""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from geogrid.errors import CRSError, GeogridError, InputError
from geogrid.media import PhotoTooLargeError
from geogrid.patrol.network import NoRoadNetworkError
from geogrid.storage import (
    AuthenticationError,
    DuplicateReportError,
    DuplicateUserError,
    NotFoundError,
    PermissionDeniedError,
    SchemaVersionError,
    StaleStatusError,
    StoreUnavailableError,
    TopologyRefusedError,
)
from geogrid.storage.drafts import DraftConflictError, DraftStateError
from geogrid.storage.loop import LoopConflictError
from geogrid.workflow import IllegalTransitionError
from web.lanes import BusyError
from web.limits import TooCostlyError, TooLargeError

#: Most specific first: the first class an error is an instance of decides.
STATUS_OF_ERROR: tuple[tuple[type[GeogridError], int], ...] = (
    (TooLargeError, 413),
    (PhotoTooLargeError, 413),
    (TooCostlyError, 422),
    (BusyError, 503),
    (NotFoundError, 404),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (DuplicateUserError, 409),
    (DraftConflictError, 409),  # someone else saved the draft first: reload it
    (DraftStateError, 409),  # not in a state for the step, or its base is no longer active
    (StaleStatusError, 409),
    (LoopConflictError, 409),  # a second rating, or a phone's action id used for another
    (DuplicateReportError, 409),
    (IllegalTransitionError, 409),
    (TopologyRefusedError, 422),
    (StoreUnavailableError, 503),
    (SchemaVersionError, 503),  # the store needs `geogrid db upgrade` first
    (NoRoadNetworkError, 422),  # the district has no roads to plan on: not a server fault
    (InputError, 400),
    (CRSError, 400),
    (GeogridError, 400),
)


def init_app(app: Flask) -> None:
    """Register the handlers that turn exceptions into JSON error bodies."""
    app.register_error_handler(GeogridError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)


def http_status(exc: GeogridError) -> int:
    """The HTTP status a domain error answers with.

    Examples
    --------
    >>> http_status(NotFoundError("report 5 does not exist"))
    404
    """
    return next(status for kind, status in STATUS_OF_ERROR if isinstance(exc, kind))


def error_body(kind: str, message: str) -> dict:
    """The JSON body of every error the app sends."""
    return {"error": {"type": kind, "message": message}}


def _domain_error(exc: GeogridError):
    response = jsonify(error_body(type(exc).__name__, str(exc)))
    if getattr(exc, "retry_after_s", None):  # a busy worker says when to come back
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response, http_status(exc)


def _http_error(exc: HTTPException):
    if exc.response is not None:  # a ready answer (the sign-in redirect of a page)
        return exc.response
    response = jsonify(error_body(exc.name.replace(" ", ""), exc.description))
    if exc.code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="geogrid"'
    return response, exc.code
