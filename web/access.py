"""Who is asking, and may they: authentication, the action each route declares, browser safety.

Every request is authenticated first, in this order: an API token
(``Authorization: Bearer TOKEN``, or Open311's ``api_key``), then a page session
(signed cookie, Flask-Login), else the anonymous visitor, who may do what the
``ANONYMOUS_ACTIONS`` setting lists. Then the action the route declares with
:func:`requires` is checked against the principal's role; a route that declares
nothing is refused (fail closed), and a test walks ``app.url_map`` so none ships
without one. Objects out of the principal's grid scope answer 404 in the routes.

Browser safety, on every response or every change:

- a session-authenticated change needs the CSRF token (Flask-WTF), sent by the
  pages as the ``X-CSRFToken`` header or a ``csrf_token`` form field;
- a change whose ``Origin`` is another site is refused, whoever sends it;
- the ``Host`` must be one of ``ALLOWED_HOSTS`` (no DNS rebinding);
- CSP (scripts only from the app, with a per-response nonce for inline ones; tiles
  from the configured server), ``X-Content-Type-Options``, ``frame-ancestors
  'none'``, ``Referrer-Policy``.

Examples
--------
>>> from web import create_app
>>> app = create_app({"TESTING": True})
>>> app.test_client().get("/api/levels").status_code  # grid.read: anonymous by default
200
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit

import folium
import pandas as pd
from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import Forbidden, Unauthorized
from werkzeug.middleware.proxy_fix import ProxyFix

from geogrid import Hierarchy
from geogrid.access import ANONYMOUS, Principal, check_action
from geogrid.storage import AuthenticationError, NotFoundError
from web.state import hierarchy, store

View = TypeVar("View", bound=Callable[..., Any])

#: Endpoints not written in this app that need a declaration all the same.
FOREIGN_ENDPOINTS = {"static": "public"}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], storage_uri="memory://")
login_manager = LoginManager()


def requires(action: str) -> Callable[[View], View]:
    """Declare the action a route needs; put it right under the route's decorator.

    Examples
    --------
    >>> @requires("report.read")
    ... def view(): ...
    >>> view.required_action
    'report.read'
    """
    check_action(action)

    def declare(view: View) -> View:
        view.required_action = action  # type: ignore[attr-defined]
        return view

    return declare


def limited(limit: Callable[[], str], **options: Any) -> Callable[[View], View]:
    """A rate limit on a route (Flask-Limiter's ``limit``), checked when the route runs."""
    return limiter.limit(limit, **options)


def _is_limiters(hook) -> bool:
    return getattr(hook, "func", None) is getattr(Limiter, "_Limiter__inject_headers", None)


def _only_when_limited(hook):
    """Flask-Limiter's after-request hook (limit headers, deductions), for limited routes only."""

    def run(response):
        view = current_app.view_functions.get(request.endpoint or "")
        return hook(response) if hasattr(view, LIMITED_MARK) else response

    return run


#: The attribute Flask-Limiter's decorator leaves on a view it limits.
LIMITED_MARK = "__wrapper-limiter-instance"


def required_action(app: Flask, endpoint: str | None) -> str | None:
    """The action an endpoint declared; None when it declared none."""
    if endpoint is None:
        return None
    if endpoint in FOREIGN_ENDPOINTS:
        return FOREIGN_ENDPOINTS[endpoint]
    return getattr(app.view_functions.get(endpoint), "required_action", None)


def principal() -> Principal:
    """The principal of the current request (authenticated before the route runs)."""
    return g.get("principal") or ANONYMOUS


def visible_codes(h: Hierarchy | None = None) -> frozenset[str] | None:
    """The codes of the grids (every level) the principal may see; None: every grid.

    ``h`` is a generation's boundaries, by default the active ones.
    """
    scope = principal().scope
    return None if scope is None else (h or hierarchy()).covered(scope)


def only_visible(frame: pd.DataFrame, h: Hierarchy | None = None) -> pd.DataFrame:
    """The rows of ``frame`` (a ``code`` per grid) the principal may see."""
    codes = visible_codes(h)
    return frame if codes is None else frame[frame["code"].isin(codes)]


def visible_grid(code: str, h: Hierarchy | None = None) -> str:
    """``code`` if the principal may see that grid; else 404, as for one that does not exist."""
    codes = visible_codes(h)
    if codes is not None and code not in codes:
        raise NotFoundError(f"grid {code} does not exist in this generation")
    return code


def init_app(app: Flask) -> None:
    """Authentication, the action check, CSRF, rate limits and the security headers."""
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # checked for sessions only
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session
    app.config["TRUSTED_HOSTS"] = app.config["ALLOWED_HOSTS"] or None
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = app.config["SECURE_COOKIES"]
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=app.config["SESSION_HOURS"])
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False  # a session ends SESSION_HOURS after sign-in
    app.config["RATELIMIT_STORAGE_URI"] = app.config["RATE_LIMIT_STORAGE"]
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    app.session_interface = StoreKeyedSessions()
    if app.config["PROXIES"]:  # the client's address and scheme as the proxies saw them
        hops = app.config["PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.user_loader(_load_session_user)
    _only_the_hooks_needed(app)
    app.extensions["geogrid.anonymous"] = frozenset(app.config["ANONYMOUS_ACTIONS"]) | {"public"}
    app.before_request(_authenticate_and_authorise)
    app.after_request(_page_headers)
    app.wsgi_app = SecurityHeaders(app.wsgi_app)


def _only_the_hooks_needed(app: Flask) -> None:
    """Keep the extensions' per-request hooks to the requests that need them.

    A lookup is a fraction of a millisecond of work; the extensions' hooks on
    every request would add a third to it (measured in bench/bench_web.py).
    """
    # A route's own limit is checked by Flask-Limiter's decorator when the view runs;
    # its app-wide check is for default limits, which geogrid has none of.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    after = app.after_request_funcs[None]
    after[:] = [_only_when_limited(f) if _is_limiters(f) else f for f in after]
    # Sessions never use Flask-Login's "remember me" cookie, whose hook runs on every answer.
    after.remove(login_manager._update_remember_cookie)


# --- authentication ----------------------------------------------------------------------------


class SessionUser(UserMixin):
    """A page session's user, as Flask-Login wants it."""

    def __init__(self, who: Principal, session_id: str) -> None:
        self.principal = who
        self.session_id = session_id

    def get_id(self) -> str:
        return self.session_id


class StoreKeyedSessions(SecureCookieSessionInterface):
    """Session cookies signed with the store's shared key unless ``SECRET_KEY`` is set.

    Every worker and every server on one store signs with the same key, so a
    session started on one is valid on all; the key is made once, at random.
    """

    def save_session(self, app: Flask, session, response) -> None:
        if not session and not session.modified:
            return  # nothing to keep and no cookie to remove: skip the cookie's settings
        super().save_session(app, session, response)

    def open_session(self, app: Flask, request):
        # First of all, on every request: the CSRF tokens are signed with the key too.
        if not app.secret_key:
            app.secret_key = app.config["SECRET_KEY"] or store().accounts.shared_secret("session")
        if app.config["SESSION_COOKIE_NAME"] not in request.cookies:
            return self.session_class()  # no cookie, nothing to verify: skip the signer
        return super().open_session(app, request)


def _load_session_user(session_id: str) -> SessionUser | None:
    who = store().accounts.principal_of_session(session_id)
    return SessionUser(who, session_id) if who else None


def _authenticate() -> Principal:
    client, request_id = request.remote_addr, _request_id()
    token = _bearer_token()
    if token is not None:
        try:
            return store().accounts.principal_of_token(token, client=client,
                                                       request_id=request_id)  # fmt: skip
        except AuthenticationError as exc:
            raise Unauthorized(str(exc)) from None
    # Without a session cookie there is no session user: skip Flask-Login's lookup.
    has_cookie = current_app.config["SESSION_COOKIE_NAME"] in request.cookies
    if has_cookie and current_user.is_authenticated:
        return current_user.principal.in_request(client, request_id)
    return Principal("anonymous", None, via="anonymous", client=client, request_id=request_id,
                     extra_actions=current_app.extensions["geogrid.anonymous"])  # fmt: skip


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization: use 'Bearer TOKEN'")
        return token.strip()
    if request.blueprint == "open311":  # GeoReport v2 sends the key as a parameter
        key = request.args.get("api_key") or _form_value("api_key")
        return key or None
    return None


def _form_value(name: str) -> str | None:
    if request.method in UNSAFE_METHODS and request.mimetype in (
        "application/x-www-form-urlencoded", "multipart/form-data"):  # fmt: skip
        return request.form.get(name)
    if request.method in UNSAFE_METHODS and request.is_json:
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # nested too deep: the route's own parsing names the problem
            body = None
        value = body.get(name) if isinstance(body, dict) else None
        return value if isinstance(value, str) else None
    return None


def _request_id() -> str:
    """A new id for this request: made here, so no client can make its events collide."""
    request.environ["geogrid.request_id"] = made = secrets.token_hex(16)
    return made


# --- authorisation -----------------------------------------------------------------------------


def _authenticate_and_authorise() -> None:
    action = required_action(current_app, request.endpoint)
    if request.endpoint is None:  # no such route: let routing answer 404/405
        return
    if action is None:
        raise Forbidden(f"route {request.endpoint} declares no action; refused")
    _refuse_foreign_origin()
    g.principal = who = _authenticate()
    if who.via == "session" and request.method in UNSAFE_METHODS:
        csrf.protect()
    if not who.may(action):
        if who.via == "anonymous" and (request.blueprint == "pages"
                                       or request.endpoint == "phone.page"):  # fmt: skip
            abort(redirect(url_for("accounts.login_page", next=request.full_path.rstrip("?"),
                                   lang=request.args.get("lang") or None)))  # fmt: skip
        if who.via == "anonymous":
            raise Unauthorized(f"sign in, or send 'Authorization: Bearer TOKEN': {action} "
                               "needs an account")  # fmt: skip
        raise Forbidden(f"{who.name} ({who.role}) may not {action}")


def _refuse_foreign_origin() -> None:
    """A change sent from another site's page is refused (the browser names the page)."""
    origin = request.headers.get("Origin")
    if request.method not in UNSAFE_METHODS or not origin:
        return
    if origin == "null" or urlsplit(origin).netloc != request.host:
        raise Forbidden(f"Origin {origin}: changes are accepted from this site's pages only")


# --- response headers --------------------------------------------------------------------------


def csp_nonce() -> str:
    """This response's nonce for inline scripts (added to every ``<script`` of a page)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


#: Sent with every response (routes never set them themselves). Data responses get
#: the strictest policy; pages replace it with theirs (:func:`_page_headers`).
SECURITY_HEADERS = [("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                    ("Referrer-Policy", "same-origin"),
                    ("Cross-Origin-Opener-Policy", "same-origin")]  # fmt: skip
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"


class SecurityHeaders:
    """WSGI middleware adding :data:`SECURITY_HEADERS`, a CSP and the request id.

    It works on the raw header list, which costs a lookup far less than Werkzeug's
    header object does, and it covers every answer, errors of the server included.
    """

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        def with_headers(status, headers, exc_info=None):
            names = {name.lower() for name, _ in headers}
            headers.extend(SECURITY_HEADERS)
            if "content-security-policy" not in names:
                headers.append(("Content-Security-Policy", DATA_POLICY))
            if "geogrid.request_id" in environ:
                headers.append(("X-Request-Id", environ["geogrid.request_id"]))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, with_headers)


def _page_headers(response):
    """A page's own CSP, with this response's nonce on each of its scripts."""
    if response.mimetype == "text/html" and not response.direct_passthrough:
        nonce = csp_nonce()
        tagged = f'<script nonce="{nonce}"'.encode()
        response.set_data(response.get_data().replace(b"<script", tagged))
        response.headers["Content-Security-Policy"] = _page_policy(nonce)
    return response


def _page_policy(nonce: str) -> str:
    tiles = tile_origin(current_app.config["TILES"])
    images = " ".join(filter(None, ("'self'", "data:", "blob:", tiles)))
    return (f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
            f"style-src 'self' 'unsafe-inline'; img-src {images}; connect-src 'self'; "
            "font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
            "frame-ancestors 'none'")  # fmt: skip


@lru_cache(maxsize=8)
def tile_origin(tiles: str) -> str | None:
    """The CSP source of the base map's tile server; None for none.

    A folium tile name is resolved as folium resolves it for the map.

    Examples
    --------
    >>> tile_origin("https://{s}.tile.example.cn/{z}/{x}/{y}.png")
    'https://*.tile.example.cn'
    >>> tile_origin("OpenStreetMap"), tile_origin("none")
    ('https://tile.openstreetmap.org', None)
    """
    if tiles.lower() == "none":
        return None
    if "://" not in tiles:
        with warnings.catch_warnings():  # providers' notes (API keys) are the map's to show
            warnings.simplefilter("ignore")
            try:
                tiles = folium.TileLayer(tiles).tiles
            except ValueError:  # folium refuses an unknown name too: no tiles to allow
                return None
    parts = urlsplit(tiles.replace("{s}", "*").replace("{S}", "*"))
    return f"{parts.scheme}://{parts.netloc}"
