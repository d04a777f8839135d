"""Every setting of the web app, declared once with its default and a line of help.

Each is read from the environment with the ``GEOGRID_`` prefix, e.g.
``GEOGRID_MANIFEST=/srv/district/boundaries.toml``. The README's settings table
is checked against this list by the tests.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from geogrid.access import ANONYMOUS_MAY
from geogrid.clock import Clock, parse_clock
from geogrid.errors import InputError

PREFIX = "GEOGRID_"


@dataclass(frozen=True)
class Setting:
    """One setting: its name (without prefix), default, help line and parser."""

    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str


def _flag(text: str) -> bool:
    """Parse a yes/no setting."""
    if text.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if text.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(text)


_flag.__name__ = "yes/no flag"


def _clock(text: str) -> Clock:
    """Parse the clock setting: empty, or a start time with its zone."""
    try:
        return parse_clock(text)
    except InputError:
        raise ValueError(text) from None


_clock.__name__ = "ISO 8601 time with its zone, e.g. 2026-11-20T09:00+08:00"


def _names(text: str) -> list[str]:
    """Parse a list of names separated by commas or spaces."""
    return [name for name in re.split(r"[,\s]+", text) if name]


_names.__name__ = "list of names separated by commas"


def _anonymous_actions(text: str) -> list[str]:
    """Parse the actions anonymous visitors may take (a subset of the safe ones)."""
    actions = _names(text)
    if not set(actions) <= ANONYMOUS_MAY:
        raise ValueError(text)
    return actions


_anonymous_actions.__name__ = (
    "list of actions from: lookup, grid.read, service.list, "
    "aggregate.read, report.create, report.read, route.read, hazard.read"
)


def _days(text: str) -> int:
    """Parse a number of days, at least one."""
    days = int(text)
    if days < 1:
        raise ValueError(text)
    return days


_days.__name__ = "whole number of days (1 or more)"


def _positive(text: str) -> int:
    """Parse a whole number, at least one."""
    number = int(text)
    if number < 1:
        raise ValueError(text)
    return number


_positive.__name__ = "whole number (1 or more)"


def _share(text: str) -> float:
    """Parse a share above 0 and at most 1."""
    share = float(text)
    if not 0 < share <= 1:
        raise ValueError(text)
    return share


_share.__name__ = "number above 0 and at most 1, e.g. 0.8"


def _level_zooms(text: str) -> dict[str, int]:
    """Parse level=zoom pairs separated by commas, e.g. ``grid=14,building=16``."""
    zooms = {}
    for pair in _names(text):
        key, _, zoom = pair.partition("=")
        if not key or not 0 <= int(zoom) <= 24:
            raise ValueError(text)
        zooms[key] = int(zoom)
    return zooms


_level_zooms.__name__ = "list of level=zoom pairs separated by commas (zoom 0 to 24)"

#: Host names the app answers to by default: this machine only.
LOCAL_HOSTS = ["localhost", "127.0.0.1", "::1"]

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "STORE",
        "sqlite:///instance/geogrid.db",
        "store URL: sqlite:///file.db (embedded) or postgresql://… (PostGIS)",
    ),
    Setting(
        "MANIFEST",
        "data/boundaries/sample.toml",
        "boundaries imported and activated when the store has no active generation",
    ),
    Setting(
        "SAMPLE_REPORTS",
        False,
        "load the sample district's history into an empty store: reports along the closed "
        "loop, grid workers, departments, patrol tracks (SAMPLE_HISTORY_DAYS)",
        _flag,
    ),
    Setting("HOST", "127.0.0.1", "address the server listens on"),
    Setting("PORT", 8000, "port the server listens on", int),
    Setting("WORKERS", 0, "server worker processes; 0: one per CPU core", int),
    Setting(
        "INDEX_FOLDER",
        "",
        "folder where processes share the point index of each generation (numpy files that "
        "every worker maps; built once); empty: each process builds its own, and `python -m web` "
        "uses geogrid-index-UID in the system temp folder ('off': not even there)",
    ),
    Setting(
        "THREADS",
        8,
        "threads per worker process: cheap requests take turns on one, costly ones (analysis, "
        "patrol) on the others, one computing at a time; 1: costly ones hold up cheap ones",
        int,
    ),
    Setting(
        "TILES",
        "OpenStreetMap",
        "base map: a folium tile name, a tile URL template (an intranet tile server), or 'none'",
    ),
    Setting("TILES_ATTRIBUTION", "", "attribution shown for a tile URL template"),
    Setting(
        "MAX_DISTANCE_M", 50.0, "a point this close to a grid is assigned to it as 'nearest'", float
    ),
    Setting(
        "PATROL_NETWORK",
        "",
        "road network for patrol planning (.osm, .graphml, GeoJSON/GeoPackage lines); "
        "empty: the roads stored with the active generation",
    ),
    Setting("MAX_BODY_BYTES", 5_000_000, "largest request body accepted (larger: 413)", int),
    Setting("PAGE_LIMIT", 1000, "most items one page of a listing may hold", int),
    Setting(
        "CLOCK",
        "",
        "the app's clock: empty for the system's, or an ISO 8601 time with its zone at which "
        "it starts and runs on (training, demonstrations, tests)",
        _clock,
    ),
    Setting(
        "PATROL_MAX_DAYS",
        7,
        "most days of stored patrol tracks one request reads; the map shows a longer period's last",
        _days,
    ),
    Setting(
        "MAX_UPLOAD_TRACKS",
        100,
        "most GPX tracks one upload may hold (more: 413); `geogrid patrol import` takes any number",
        int,
    ),
    Setting(
        "MAX_UPLOAD_POINTS", 50_000, "most GPX track points one upload may hold (more: 413)", int
    ),
    Setting(
        "MAX_PLAN_STREETS",
        400,
        "most streets one street-coverage patrol plan may walk (more: 422)",
        int,
    ),
    Setting(
        "MAX_PLAN_PLACES",
        500,
        "most places one priority patrol plan may visit (sent: 413; from the store: 422)",
        int,
    ),
    Setting(
        "MAX_ROUTE_POINTS", 10_000, "most points one stored patrol route may have (more: 413)", int
    ),
    Setting(
        "MAX_PAGE_POINTS",
        100_000,
        "most line points one page of patrol routes holds; a longer page ends early (next link)",
        int,
    ),
    Setting(
        "MAX_RASTER_CELLS",
        4_194_304,
        "most cells one analysis raster may have: heat.png width × height, PAI's density grid "
        "(more: 422)",
        int,
    ),
    Setting(
        "MAX_HEXAGONS",
        20_000,
        "most H3 hexagons the view of a hexagon count may hold at its resolution (more: 422)",
        int,
    ),
    Setting(
        "ANONYMOUS_ACTIONS",
        ["lookup", "grid.read", "service.list", "aggregate.read", "ticket"],
        "what visitors who have not signed in may do; never single reports' contacts, tracks, "
        "accounts or the audit trail",
        _anonymous_actions,
    ),
    Setting(
        "ALLOWED_HOSTS",
        LOCAL_HOSTS,
        "host names the app answers to (others: 400); add the name users type when serving "
        "a network",
        _names,
    ),
    Setting(
        "SECRET_KEY",
        "",
        "key that signs page sessions; empty: a random key kept in the store, shared by every "
        "worker and server on it",
    ),
    Setting(
        "TOKEN_CACHE_SECONDS",
        2.0,
        "seconds a worker trusts an API token it has checked; a token revoked or a user "
        "disabled elsewhere may work that long (0: ask the store on every request)",
        float,
    ),
    Setting("SESSION_HOURS", 12, "a page session ends this many hours after signing in", _positive),
    Setting(
        "PROXIES",
        0,
        "reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host to trust "
        "(client addresses in the audit trail and rate limits come from them)",
        int,
    ),
    Setting("SECURE_COOKIES", False, "send the session cookie over HTTPS only", _flag),
    Setting(
        "RATE_LIMIT_STORAGE",
        "memory://",
        "where rate-limit counts live: memory:// (per worker) or e.g. redis://host:6379",
    ),
    Setting(
        "LOGIN_RATE_LIMIT",
        "10 per minute; 50 per hour",
        "failed sign-ins allowed per client address (then 429)",
    ),
    Setting(
        "ANONYMOUS_INTAKE_RATE_LIMIT",
        "20 per minute; 200 per day",
        "reports a client address may send without signing in, when anonymous intake is on",
    ),
    Setting(
        "DEMO_ACCOUNTS",
        True,
        "on a store it sets up itself (a new one), `python -m web` makes one account per role "
        "with a random password and prints them once (off, or any other store: make accounts "
        "with `geogrid users add`)",
        _flag,
    ),
    Setting(
        "DEMO_DRAFT",
        "",
        "on a store it sets up itself, `python -m web` makes one redraw draft: "
        "PARENT:SURVEY_CSV[:NAME] (the grids inside PARENT regrouped, the units' figures "
        "from the survey); empty: none",
    ),
    Setting(
        "WARNING_SHARE",
        0.8,
        "预警: a report is nearly overdue this share of the way from the time its deadline was "
        "set to the deadline (applies to deadlines set from then on)",
        _share,
    ),
    Setting(
        "WEBHOOK_URL",
        "",
        "where each notice (dispatched, returned, nearly overdue, overdue, escalated) is POSTed "
        "as JSON, for the office's messaging; empty: none",
    ),
    Setting("WEBHOOK_RETRIES", 5, "tries of a webhook post before it is given up", _positive),
    Setting(
        "NOTICE_SECONDS",
        60,
        "each server worker looks for reports become nearly overdue or overdue, and posts "
        "undelivered notices to the webhook, this often",
        _positive,
    ),
    Setting(
        "MEDIA_FOLDER",
        "",
        "folder of the reports' photos; empty: `media` beside a SQLite store, else instance/media "
        "(several servers on one PostGIS need one shared folder)",
    ),
    Setting("MEDIA_MAX_BYTES", 8_000_000, "largest photo accepted, in bytes (more: 413)", int),
    Setting(
        "MEDIA_MAX_PIXELS", 40_000_000, "largest photo accepted, in pixels (more: refused)", int
    ),
    Setting(
        "SAMPLE_HISTORY_DAYS",
        90,
        "with SAMPLE_REPORTS, days of history the sample district's reports and patrols cover",
        _days,
    ),
    Setting(
        "RESIDENT_RATE_LIMIT",
        "10 per minute; 50 per day",
        "reports and ratings a client address may send from the residents' page without signing in",
    ),
    Setting(
        "TICKET_LOOKUP_RATE_LIMIT",
        "60 per minute",
        "ticket look-ups a client address may make without signing in",
    ),
    Setting(
        "RESIDENT_PHOTO_RATE_LIMIT",
        "60 per minute; 300 per day",
        "photos a client address may add by ticket without signing in",
    ),
    Setting(
        "MAX_ANALYSIS_GRIDS",
        2_500,
        "most grids the level of a hot-spot or PAI analysis may have (more: 422)",
        int,
    ),
    Setting(
        "TILED_LEVEL_GRIDS",
        1000,
        "a level with more grids than this is drawn from vector tiles (/tiles/LEVEL/z/x/y.mvt), "
        "not loaded as one GeoJSON document",
        int,
    ),
    Setting(
        "LEVEL_MIN_ZOOM",
        {},
        "map zoom from which each level is drawn, e.g. grid=14,building=16; a level not named: "
        "the zoom at which its average grid is 20 px across",
        _level_zooms,
    ),
)


def settings_from_environ(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Defaults overridden by ``GEOGRID_*`` variables, parsed to their types.

    Examples
    --------
    >>> settings_from_environ({"GEOGRID_PORT": "9000"})["PORT"]
    9000
    """
    environ = os.environ if environ is None else environ
    values = {}
    for setting in SETTINGS:
        raw = environ.get(PREFIX + setting.name)
        try:
            values[setting.name] = setting.default if raw is None else setting.parse(raw)
        except ValueError:
            raise ValueError(
                f"{PREFIX}{setting.name}={raw!r}: {setting.help}; "
                f"expected a {setting.parse.__name__}"
            ) from None
    return values
