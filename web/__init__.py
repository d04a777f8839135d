"""The geogrid web app: map pages and a JSON/GeoJSON API over the geogrid library.

Examples
--------
>>> app = create_app({"TESTING": True})
>>> app.test_client().get("/api/levels").status_code
200
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from web import (
    access,
    accounts,
    analysis,
    api,
    errors,
    lanes,
    media,
    ogc,
    open311,
    pages,
    params,
    patrol,
    phone,
    redraw,
    resident,
    stats,
    tiles,
    work,
    workpages,
)
from web.settings import settings_from_environ


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory: settings from ``GEOGRID_*`` variables, then ``test_config``."""
    app = Flask(__name__)
    app.config.from_mapping(settings_from_environ())
    app.config["JSON_AS_ASCII"] = False
    if test_config:
        app.config.from_mapping(test_config)
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    app.before_request(media.allow_photo_bodies)  # first: before any hook reads the body
    app.json.ensure_ascii = False
    errors.init_app(app)
    params.init_app(app)
    access.init_app(app)
    lanes.init_app(app)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(accounts.blueprint)
    app.register_blueprint(api.blueprint, url_prefix="/api")
    app.register_blueprint(patrol.blueprint, url_prefix="/api/patrol")
    app.register_blueprint(analysis.blueprint, url_prefix="/api/analysis")
    app.register_blueprint(ogc.blueprint, url_prefix="/ogc")
    app.register_blueprint(open311.blueprint, url_prefix="/open311/v2")
    app.register_blueprint(redraw.blueprint)
    app.register_blueprint(work.blueprint, url_prefix="/api")
    app.register_blueprint(media.blueprint, url_prefix="/api")
    app.register_blueprint(workpages.blueprint)
    app.register_blueprint(phone.blueprint)
    app.register_blueprint(resident.blueprint)
    app.register_blueprint(stats.blueprint)
    app.register_blueprint(tiles.blueprint)
    return app
