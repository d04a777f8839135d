"""Signing in and out, who am I, and the audit trail (pages in Chinese first, ``?lang=en``).

======================  ===========================================================
route                   what
======================  ===========================================================
``GET  /login``         the sign-in page
``POST /login``         sign in (name, password, CSRF token); failed attempts are
                        rate-limited per client address and recorded in the audit trail
``POST /logout``        sign out
``GET  /api/me``        the principal of this request: name, role, scope, actions
``GET  /api/audit``     audit events, newest first (``audit.read``)
``GET  /admin/audit``   the same as a page
======================  ===========================================================
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template_string,
    request,
    session,
    url_for,
)
from flask_login import login_user, logout_user
from flask_wtf.csrf import generate_csrf

from geogrid.access import ROLE_LABELS
from geogrid.moments import parse_moment
from geogrid.storage import AuthenticationError
from geogrid.storage.audit import AuditQuery
from web import params
from web.access import SessionUser, csrf, limited, principal, requires
from web.state import store, zone
from web.texts import language

blueprint = Blueprint("accounts", __name__)

WORDS = {
    "zh": {"title": "登录 网格化服务管理", "name": "用户名", "password": "密码", "submit": "登录",
           "refused": "用户名或密码错误，或账号已停用", "audit": "审计日志", "at": "时间",
           "who": "操作人", "action": "操作", "object": "对象", "client": "来源地址",
           "change": "变更", "other": "English", "logout": "退出"},
    "en": {"title": "Sign in · grid governance", "name": "Name", "password": "Password",
           "submit": "Sign in", "refused": "Wrong name or password, or the account is disabled",
           "audit": "Audit trail", "at": "Time", "who": "Who", "action": "Action",
           "object": "Object", "client": "Client", "change": "Change", "other": "中文",
           "logout": "Sign out"},
}  # fmt: skip

LOGIN_PAGE = """<!doctype html><html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}"><head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t.title }}</title><link rel="stylesheet" href="{{ css }}"></head>
<body class="geogrid-login"><form method="post" action="{{ action }}" class="geogrid-box">
<h2>{{ t.title }}</h2>
{% if refused %}<p class="error" role="alert">{{ t.refused }}</p>{% endif %}
<input type="hidden" name="csrf_token" value="{{ csrf }}">
<input type="hidden" name="next" value="{{ next }}">
<label>{{ t.name }} <input name="name" autocomplete="username" required autofocus></label>
<label>{{ t.password }} <input name="password" type="password"
  autocomplete="current-password" required></label>
<button type="submit">{{ t.submit }}</button>
<p><a href="{{ other }}">{{ t.other }}</a></p></form></body></html>"""

AUDIT_PAGE = """<!doctype html><html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}"><head>
<meta charset="utf-8"><title>{{ t.audit }}</title><link rel="stylesheet" href="{{ css }}">
</head><body class="geogrid-audit"><h2>{{ t.audit }}</h2><table>
<tr><th>{{ t.at }}</th><th>{{ t.who }}</th><th>{{ t.action }}</th><th>{{ t.object }}</th>
<th>{{ t.client }}</th><th>{{ t.change }}</th></tr>
{% for e in events %}<tr><td>{{ e.at }}</td><td>{{ e.principal }}</td><td>{{ e.action }}</td>
<td>{{ e.object }}</td><td>{{ e.client }}</td><td><code>{{ e.change }}</code></td></tr>
{% endfor %}</table></body></html>"""


@blueprint.get("/login")
@requires("public")
def login_page():
    """The sign-in page."""
    return _login_page(refused=False)


@blueprint.post("/login")
@requires("public")
@limited(lambda: current_app.config["LOGIN_RATE_LIMIT"],
               deduct_when=lambda response: response.status_code == 401)  # fmt: skip
@limited(lambda: current_app.config["LOGIN_RATE_LIMIT"], key_func=lambda: "account:"
               + request.form.get("name", "")[:64],
               deduct_when=lambda response: response.status_code == 401)  # fmt: skip
def login():
    """Sign in with name and password; back to the page asked for, or the map.

    Failed attempts are limited per client address and, so that many addresses
    cannot share out the guessing, per account name too. The form carries the
    CSRF token of the sign-in page: without it another site
    could sign a browser in to an account of its choosing (login CSRF).
    """
    csrf.protect()
    who = principal()
    try:
        signed_in = store().accounts.sign_in(
            request.form.get("name", ""),
            request.form.get("password", ""),
            client=who.client,
            request_id=who.request_id,
        )
    except AuthenticationError:
        return _login_page(refused=True), 401
    login_user(SessionUser(signed_in, store().accounts.session_id(signed_in)))
    session.permanent = True  # ends SESSION_HOURS after signing in
    # A grid worker lands on the phone page; a role that may not see the map (a
    # machine's account) on who it is.
    home = ("phone.page" if signed_in.role == "grid_worker"
            else "pages.commander" if signed_in.may("report.read") else "accounts.me")  # fmt: skip
    return redirect(_local_path(request.form.get("next")) or url_for(home))


@blueprint.post("/logout")
@requires("public")
def logout():
    """Sign out on every device (older copies of the session cookie stop working too)."""
    who = principal()
    if who.via == "session":
        store().accounts.end_sessions(who.name, actor=who)
    logout_user()
    return redirect(url_for("accounts.login_page"))


@blueprint.get("/api/me")
@requires("public")
def me():
    """Who the request is authenticated as, and what it may do."""
    who = principal()
    zh, en = ROLE_LABELS.get(who.role or "", ("访客", "Visitor"))
    return jsonify({"name": who.name, "display_name": who.display_name or who.name,
                    "role": who.role, "role_label": {"zh": zh, "en": en},
                    "scope": list(who.scope) if who.scope is not None else None,
                    "via": who.via, "actions": sorted(who.actions),
                    "csrf_token": generate_csrf() if who.via == "session" else None})  # fmt: skip


@blueprint.get("/api/audit")
@requires("audit.read")
def audit_events():
    """Audit events, newest first: ``since``, ``until``, ``principal``, ``action``,
    ``object_type``, ``object_id``, ``limit`` (≤ 1000), ``offset``."""
    return jsonify([event.to_dict() for event in store().audit.events(_audit_query())])


@blueprint.get("/admin/audit")
@requires("audit.read")
def audit_page():
    """The audit trail as a table, with the same filters as ``/api/audit``."""
    here = zone()
    rows = [{"at": f"{e.at.astimezone(here):%Y-%m-%d %H:%M:%S}", "principal": e.principal,
             "action": e.action, "client": e.client or "",
             "object": f"{e.object_type}:{e.object_id}" if e.object_type else "",
             "change": "" if e.after is None else e.after}
            for e in store().audit.events(_audit_query())]  # fmt: skip
    lang = language()
    return render_template_string(AUDIT_PAGE, t=WORDS[lang], lang=lang, events=rows,
                                  css=url_for("static", filename="geogrid.css"))  # fmt: skip


def _audit_query() -> AuditQuery:
    args, here = request.args, zone()
    since, until = args.get("since"), args.get("until")
    return AuditQuery(
        since=parse_moment(since, "since", here) if since else None,
        until=parse_moment(until, "until", here, whole_day=True) if until else None,
        principal=args.get("principal") or None, action=args.get("action") or None,
        object_type=args.get("object_type") or None, object_id=args.get("object_id") or None,
        limit=params.integer("limit", 100, 1, 1000),
        offset=params.integer("offset", 0, 0, 10**9))  # fmt: skip


def _login_page(refused: bool) -> str:
    lang = language()
    other = url_for("accounts.login_page", lang="en" if lang == "zh" else "zh",
                    next=request.values.get("next", ""))  # fmt: skip
    return render_template_string(
        LOGIN_PAGE, t=WORDS[lang], lang=lang, refused=refused, csrf=generate_csrf(),
        next=_local_path(request.values.get("next")) or "", other=other,
        action=url_for("accounts.login", lang=lang),
        css=url_for("static", filename="geogrid.css"))  # fmt: skip


def _local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site (never an open redirect to another)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
