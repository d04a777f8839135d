"""The store and the boundaries the app serves, opened once per app on first use.

If the store has no active generation yet, the ``MANIFEST`` boundaries are
imported and activated, so a new installation serves its district at once.
"""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app

from geogrid import Hierarchy
from geogrid.clock import Clock, parse_clock
from geogrid.storage import Store, open_store

_setup_lock = threading.Lock()


def store() -> Store:
    """The app's :class:`~geogrid.storage.Store`, set up on first call."""
    app = current_app._get_current_object()
    opened = app.extensions.get("geogrid.store")
    if opened is None:
        with _setup_lock:
            opened = app.extensions.get("geogrid.store") or _open(app)
            app.extensions["geogrid.store"] = opened
    return opened


def hierarchy() -> Hierarchy:
    """The active generation's boundaries, ready to assign."""
    return store().hierarchy()


def clock() -> Clock:
    """The app's clock (the ``CLOCK`` setting): where every route reads "now"."""
    app = current_app._get_current_object()
    if "geogrid.clock" not in app.extensions:
        app.extensions["geogrid.clock"] = parse_clock(app.config["CLOCK"])
    return app.extensions["geogrid.clock"]


def now() -> datetime:
    """The current time by the app's clock, aware, in UTC."""
    return clock()()


def zone() -> ZoneInfo:
    """The district's time zone (its working calendar's): typed times without an offset."""
    return store().calendar.zone


def _open(app: Flask) -> Store:
    opened = open_store(app.config["STORE"], clock=clock(),
                        warning_share=app.config["WARNING_SHARE"],
                        media_folder=app.config["MEDIA_FOLDER"] or None,
                        index_folder=app.config["INDEX_FOLDER"] or None)  # fmt: skip
    opened.accounts.token_cache_s = app.config["TOKEN_CACHE_SECONDS"]
    if opened.active_generation() is None:
        app.extensions["geogrid.new_store"] = True  # set up now: nothing was stored before
        district = Hierarchy.from_manifest(app.config["MANIFEST"])
        opened.import_generation(district, district.name or "boundaries", activate=True,
                                 actor="setup")  # fmt: skip
    return opened
