"""Domain errors mapped to HTTP in one place; every error body is JSON."""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from geogrid.errors import CRSError, GeogridError, InputError


def init_app(app: Flask) -> None:
    """Register the handlers that turn exceptions into JSON error bodies."""
    app.register_error_handler(GeogridError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)


def _domain_error(exc: GeogridError):
    status = 400 if isinstance(exc, InputError | CRSError) else 422
    return jsonify(error={"type": type(exc).__name__, "message": str(exc)}), status


def _http_error(exc: HTTPException):
    body = {"type": exc.name.replace(" ", ""), "message": exc.description}
    return jsonify(error=body), exc.code
