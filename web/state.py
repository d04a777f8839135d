"""The hierarchy the app serves, loaded once per app on first use (not at import)."""

from __future__ import annotations

from flask import current_app

from geogrid import Hierarchy


def hierarchy() -> Hierarchy:
    """The app's :class:`~geogrid.Hierarchy`, loaded from ``MANIFEST`` on first call."""
    loaded = current_app.extensions.get("geogrid.hierarchy")
    if loaded is None:
        loaded = Hierarchy.from_manifest(current_app.config["MANIFEST"])
        current_app.extensions["geogrid.hierarchy"] = loaded
    return loaded
