"""One exception tree for everything geogrid refuses.

Every user mistake (a missing file, an unknown CRS, a bad column) raises a
:class:`GeogridError` subclass whose message names the file, level and field,
so the command line and the web app can show it without a traceback.
"""

from __future__ import annotations


class GeogridError(Exception):
    """Base of every error geogrid raises on purpose."""


class ManifestError(GeogridError):
    """The boundaries manifest is malformed or names something that does not exist."""


class LayerError(GeogridError):
    """A boundary or point layer cannot be read or holds unusable data."""


class CRSError(GeogridError):
    """A coordinate reference system is unknown or cannot be used here."""


class NotFoundError(GeogridError):
    """A grid, report or generation that does not exist."""


class InputError(GeogridError):
    """Caller-supplied values (arrays, columns, options) are unusable."""


class ConfigError(GeogridError):
    """The category file (categories, deadlines, working calendar) is malformed."""
