"""Who may do what over HTTP: every route declares its action, each role gets what its policy says.

The matrix runs on SQLite and PostGIS (one app per backend for the module); the
attacks of the security review (F1 closing reports anonymously, F3 forged actors,
F9 cross-site writes and DNS rebinding, F14 headers) are each tried and refused.
"""

from __future__ import annotations

import re

import pytest

from geogrid.access import ROLES
from geogrid.storage.audit import AuditQuery
from tests.web.conftest import anonymous, token_for
from web.access import required_action

#: A value for each placeholder of a rule: real where it matters, absent where 404 is fine.
PLACEHOLDERS = {
    "code": "101",
    "media_id": "999999",
    "ticket": "7K3M-Q9XD-2PHT",
    "key": "grid",
    "report_id": "999999",
    "collection_id": "grid",
    "feature_id": "101",
    "request_id": "999999",
    "fmt": "json",
    "anything": "nothing-here",
    "service_code": "city.rubbish",
    "filename": "geogrid.css",
    "draft_id": "999999",
    "generation_id": "999999",
    "level": "grid",
    "z": "0",
    "x": "0",
    "y": "0",
}
#: Endpoints the matrix leaves to their own tests (a refused sign-in answers 401 by design).
OWN_TESTS = {"accounts.login"}
PASSWORD = "a long enough passphrase"


def _path(rule) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: PLACEHOLDERS[m.group(1)], rule.rule)


def _requests(app):
    """One representative request per rule and method: (endpoint, method, path)."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if rule.endpoint not in OWN_TESTS:
                yield rule.endpoint, method, _path(rule)


def _call(client, method: str, path: str):
    if method == "GET":
        return client.get(path)
    # A minimal body: enough to reach the route, never enough to change anything.
    return client.open(path, method=method, json={})


_tokens: dict[int, dict[str, str]] = {}


def role_tokens(app) -> dict[str, str]:
    """An unscoped account and token per role on ``app``, made once."""
    if id(app) not in _tokens:
        _tokens[id(app)] = {role: token_for(app, f"matrix.{role}", role) for role in ROLES}
    return _tokens[id(app)]


#: The policy, written out: what each route must declare. A route added or changed
#: without a line here fails, so a declaration is never checked only against itself.
POLICY = {
    "accounts.audit_events": "audit.read", "accounts.audit_page": "audit.read",
    "accounts.login": "public", "accounts.login_page": "public", "accounts.logout": "public",
    "accounts.me": "public",
    "analysis.heat_png": "aggregate.read", "analysis.hexagon_counts": "aggregate.read",
    "analysis.hexagon_time_slices": "aggregate.read", "analysis.hot_spot_table": "aggregate.read",
    "analysis.pai_table": "aggregate.read", "analysis.risk_colours": "aggregate.read",
    "api.categories": "service.list", "api.children": "grid.read",
    "api.create_reports": "report.create", "api.generations": "grid.read",
    "api.get_report": "report.read", "api.grid": "grid.read", "api.grid_stats": "aggregate.read",
    "api.grids": "grid.read", "api.heat": "aggregate.read", "api.level_grids": "grid.read",
    "api.levels": "grid.read", "api.list_reports": "report.read",
    "api.list_reports_geojson": "report.read", "api.lookup": "lookup", "api.openapi": "public",
    "api.stats": "aggregate.read",
    # The store checks the step's own action (report.register, report.close …) as well.
    "api.transition": "report.read",
    "ogc.api_document": "public", "ogc.collection": "grid.read", "ogc.collections": "grid.read",
    "ogc.conformance": "public", "ogc.item": "grid.read", "ogc.items": "grid.read",
    "ogc.landing": "public",
    "open311.create_request": "report.create", "open311.list_requests": "report.read",
    "open311.one_request": "report.read", "open311.openapi": "public",
    "open311.service_definition": "service.list", "open311.services": "service.list",
    "open311.unknown_resource": "public",
    "pages.commander": "report.read", "pages.grid": "report.read",
    "pages.redraw": "draft.read",
    "patrol.compliance": "track.read", "patrol.create_route": "route.write",
    "patrol.plan": "route.read", "patrol.routes": "route.read",
    "patrol.stored_compliance": "track.read", "patrol.stored_tracks": "track.read",
    "patrol.tracks": "track.create",
    "redraw.approve_draft": "draft.approve", "redraw.branch_draft": "draft.edit",
    "redraw.compare_draft": "draft.read", "redraw.create_draft": "draft.edit",
    "redraw.edit_draft": "draft.edit", "redraw.export_draft": "draft.read",
    "redraw.crosswalk": "draft.read",
    "redraw.get_draft": "draft.read", "redraw.impact_draft": "draft.read",
    "redraw.import_csv": "draft.edit", "redraw.list_drafts": "draft.read",
    "redraw.parents": "draft.read", "redraw.propose_draft": "draft.edit",
    "redraw.publish_draft": "draft.publish", "redraw.submit_draft": "draft.edit",
    # The store lets the planner (draft.edit) or the approver (draft.approve) withdraw.
    "redraw.withdraw_draft": "draft.read",
    "static": "public",
    "media.photo": "report.read", "media.thumb": "report.read", "media.upload": "report.read",
    "phone.checkins": "track.read", "phone.create_checkin": "track.create",
    "phone.manifest": "public", "phone.page": "report.read", "phone.service_worker": "public",
    "pages.work": "report.read", "pages.work_report": "report.read",
    "resident.page": "ticket", "resident.create_report": "ticket",
    "resident.ticket_status": "ticket", "resident.rate": "ticket", "resident.add_photo": "ticket",
    "pages.stats": "stats.read", "stats.assessment_csv": "stats.read",
    "stats.assessment_json": "stats.read", "stats.assessment_xlsx": "stats.read",
    "work.queue": "report.read", "work.assignees": "report.dispatch",
    "work.inbox": "report.read", "work.inbox_read": "report.read",
    "tiles.level_tile": "grid.read",
}  # fmt: skip


def test_every_route_declares_its_action(each_store_app):
    undeclared = [rule.rule for rule in each_store_app.url_map.iter_rules()
                  if required_action(each_store_app, rule.endpoint) is None]  # fmt: skip
    assert undeclared == []


def test_each_route_declares_what_the_policy_says(each_store_app):
    declared = {rule.endpoint: required_action(each_store_app, rule.endpoint)
                for rule in each_store_app.url_map.iter_rules()}  # fmt: skip
    assert declared == POLICY


@pytest.mark.parametrize("role", [*ROLES, None], ids=[*ROLES, "anonymous"])
def test_each_role_gets_what_its_policy_says(each_store_app, role):
    app = each_store_app
    client = anonymous(app)
    if role is None:
        actions = set(app.config["ANONYMOUS_ACTIONS"]) | {"public"}
    else:
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {role_tokens(app)[role]}"
        actions = ROLES[role]
    wrong = []
    for endpoint, method, path in _requests(app):
        action = required_action(app, endpoint)
        status = _call(client, method, path).status_code
        if action in actions:
            expected_ok = status not in (401, 403)
        elif role is None and (endpoint.startswith("pages.") or endpoint == "phone.page"):
            expected_ok = status == 302  # a page sends visitors to the sign-in page
        else:
            expected_ok = status == (401 if role is None else 403)
        if not expected_ok:
            wrong.append(f"{method} {path} ({action}): {status}")
    assert wrong == []


# --- F1: the closed loop is for those whose role takes the step ---------------------------------


def _a_received_report(app):
    from web.state import store

    with app.app_context():
        return next(r for r in store().find_reports().items if r.status == "received")


def _report(app, report_id):
    from web.state import store

    with app.app_context():
        return store().get_report(report_id)


#: A transition body as the security review's F1 sent it: a forged actor and note.
BODY = {"status": "closed", "actor": "街道书记 王主任", "note": "不予受理"}


def _client_of(app, role):
    client = anonymous(app)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {role_tokens(app)[role]}"
    return client


def test_anonymous_visitors_cannot_move_a_report(each_store_app):
    report = _a_received_report(each_store_app)
    path = f"/api/reports/{report.id}/transitions"
    assert anonymous(each_store_app).post(path, json=BODY).status_code == 401
    after = _report(each_store_app, report.id)
    assert (after.status, len(after.history)) == ("received", len(report.history))


def test_a_viewer_cannot_move_a_report(each_store_app):
    report = _a_received_report(each_store_app)
    path = f"/api/reports/{report.id}/transitions"
    response = _client_of(each_store_app, "viewer").post(path, json=BODY)
    after = _report(each_store_app, report.id)
    assert (response.status_code, after.status) == (403, "received")


# --- F3 and the audit trail: who acted is the token's user, never a name the client sends ---------


def _events(app, **query):
    from web.state import store

    with app.app_context():
        return store().audit.events(AuditQuery(**query))


def _request_id(n: int) -> str:
    return f"test-request-{n:04d}"


def test_a_transition_names_the_token_user_whatever_the_client_says(each_store_app):
    app = each_store_app
    report = _a_received_report(app)
    headers = {"X-Actor": "市长", "X-Request-Id": _request_id(1)}
    response = _client_of(app, "commander").post(
        f"/api/reports/{report.id}/transitions", json={**BODY, "status": "registered"},
        headers=headers)  # fmt: skip
    assert response.status_code == 200
    # The request id is the server's own: a client cannot make its events collide.
    made_here = response.headers["X-Request-Id"]
    assert made_here != _request_id(1)
    assert _report(app, report.id).history[-1].actor == "matrix.commander"
    (event,) = _events(app, object_type="report", object_id=str(report.id), action="report.")[:1]
    assert (event.principal, event.client, event.request_id) == (
        "matrix.commander", "127.0.0.1", made_here)  # fmt: skip


def test_intake_names_the_token_user_not_the_reporter_field(each_store_app):
    app = each_store_app
    from tests.conftest import SOUTH, WEST

    body = {"category": "city.rubbish", "lon": WEST + 0.005, "lat": SOUTH + 0.005,
            "reporter": "市长 (spoofed)", "external_id": "f3-intake"}  # fmt: skip
    response = _client_of(app, "intake").post(
        "/api/reports", json=body, headers={"X-Actor": "市长", "X-Request-Id": _request_id(2)}
    )
    # the reporter field is either refused (400) or ignored: never the recorded actor
    if response.status_code == 400:
        return
    assert response.status_code == 201
    events = _events(app, action="report.create", limit=1)
    assert (events[0].principal, events[0].request_id) == (
        "matrix.intake", response.headers["X-Request-Id"])  # fmt: skip


def test_stored_tracks_and_routes_name_the_token_user(each_store_app):
    from tests.web.test_limits import gpx, line

    app = each_store_app
    worker = _client_of(app, "commander")
    headers = {"X-Actor": "张三", "X-Request-Id": _request_id(3)}
    tracks = worker.post("/api/patrol/tracks?store=true", data=gpx(1), headers=headers)
    route = {"grid": "101", "shift": "day", "name": "r", "geometry": line(3)}
    routes = worker.post("/api/patrol/routes", json=route, headers=headers)
    assert (tracks.status_code, routes.status_code) == (201, 201)
    ids = {tracks.headers["X-Request-Id"], routes.headers["X-Request-Id"]}
    by_request = [e for e in _events(app, limit=50) if e.request_id in ids]
    assert {e.object_type for e in by_request} >= {"track", "route"}
    assert {e.principal for e in by_request} == {"matrix.commander"}


# --- F9: cross-site writes and DNS rebinding --------------------------------------------------


def test_a_change_from_another_site_is_refused_and_nothing_is_stored(each_store_app):
    app = each_store_app
    before = len(_events(app, limit=10_000))
    body = {"category": "city.rubbish", "lon": 120.0, "lat": 28.0}
    response = _client_of(app, "commander").post(
        "/api/reports", json=body, headers={"Origin": "http://evil.example"}
    )
    evil = {"Origin": "http://evil.example"}
    form = anonymous(app).post("/open311/v2/requests.json", headers=evil,
                               data={"service_code": "city.rubbish", "lat": 28})  # fmt: skip
    assert (response.status_code, form.status_code) == (403, 403)
    assert response.get_json()["error"]["type"] == "Forbidden"
    assert len(_events(app, limit=10_000)) == before


def test_a_host_not_allowed_is_refused(each_store_app):
    response = anonymous(each_store_app).get("/ogc/", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert b"evil.example" not in response.data or response.is_json


# --- headers on every response -----------------------------------------------------------------


def test_json_and_html_responses_carry_the_security_headers(each_store_app):
    client = _client_of(each_store_app, "commander")
    for response in (client.get("/api/levels"), client.get("/"), client.get("/login")):
        assert response.status_code == 200
        headers = response.headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-Id"])


def test_every_script_of_a_page_carries_the_nonce_of_its_policy(each_store_app):
    response = _client_of(each_store_app, "commander").get("/?lang=en")
    (nonce,) = re.findall(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    scripts = re.findall(rb"<script[^>]*>", response.data)
    assert scripts and all(f'nonce="{nonce}"'.encode() in tag for tag in scripts)


# --- sessions, CSRF, sign-in throttling, tokens that no longer work -----------------------------


@pytest.fixture
def clock():
    """A clock the test moves: ``clock.now[0] += timedelta(...)``."""
    from tests.web.conftest import NOW

    now = [NOW]

    def read():
        return now[0]

    read.now = now
    return read


@pytest.fixture
def people_app(tmp_path, tiny_manifest, clock):
    from tests.web.conftest import tiny_app
    from web.state import store

    app = tiny_app(tmp_path, tiny_manifest, CLOCK=clock, LOGIN_RATE_LIMIT="3 per minute")
    with app.app_context():
        store().accounts.add_user("li.si", "commander", password=PASSWORD, actor="test")
    return app


def _visitor(app, address: str):
    client = anonymous(app)
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _csrf_of(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def _sign_in(client, password=PASSWORD, csrf=True):
    token = _csrf_of(client.get("/login").data) if csrf else ""
    form = {"name": "li.si", "password": password, "csrf_token": token}
    return client.post("/login", data=form)


def test_a_session_change_needs_the_csrf_token(people_app):
    client = _visitor(people_app, "10.0.0.1")
    assert _sign_in(client).status_code == 302
    body = {"category": "city.rubbish", "lon": 120.0, "lat": 28.0}
    refused = client.post("/api/reports", json=body)
    assert refused.status_code == 400 and refused.is_json
    token = client.get("/api/me").get_json()["csrf_token"]
    accepted = client.post("/api/reports", json={}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 400  # the empty body, past the CSRF check
    assert "csrf" not in accepted.get_json()["error"]["message"].lower()


def test_signing_in_needs_the_csrf_token_of_the_sign_in_page(people_app):
    client = _visitor(people_app, "10.0.0.2")
    assert _sign_in(client, csrf=False).status_code == 400
    assert client.get("/api/me").get_json()["via"] == "anonymous"


def test_failed_sign_ins_are_throttled_and_each_is_audited_with_the_address(people_app):
    client = _visitor(people_app, "10.0.0.3")
    statuses = [_sign_in(client, password="not the password").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert _sign_in(client).status_code == 429  # even the right password waits
    refused = _events(people_app, action="login.refused")
    assert len(refused) >= 3
    assert {e.client for e in refused} == {"10.0.0.3"}
    assert all(e.object_id == "li.si" for e in refused)


def test_the_throttled_answer_is_json(people_app):
    client = _visitor(people_app, "10.0.0.4")
    for _ in range(3):
        _sign_in(client, password="not the password")
    response = client.post("/login", data={"name": "li.si", "password": "x"})
    assert response.status_code == 429 and response.is_json


def _with_token(app, token):
    client = anonymous(app)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def _token_of(app, name="li.si", days=1):
    from web.state import store

    with app.app_context():
        return store().accounts.issue_token(name, days=days, actor="test")


def test_an_expired_token_is_refused(people_app, clock):
    from datetime import timedelta

    token, _ = _token_of(people_app)
    assert _with_token(people_app, token).get("/api/reports").status_code == 200
    clock.now[0] += timedelta(days=1, seconds=1)
    response = _with_token(people_app, token).get("/api/reports")
    assert response.status_code == 401 and "Bearer" in response.headers["WWW-Authenticate"]


def test_revoked_tokens_and_tokens_of_disabled_users_are_refused(people_app):
    from web.state import store

    token, info = _token_of(people_app)
    other, _ = _token_of(people_app)
    with people_app.app_context():
        store().accounts.revoke_token(info.id, actor="test")
        store().accounts.disable_user("li.si", actor="test")
    assert _with_token(people_app, token).get("/api/reports").status_code == 401
    assert _with_token(people_app, other).get("/api/reports").status_code == 401
    assert [e.action for e in _events(people_app, object_type="user", object_id="li.si",
                                      limit=1)] == ["user.disable"]  # fmt: skip


def test_a_disabled_user_cannot_sign_in_and_the_refusal_is_audited(people_app):
    from web.state import store

    with people_app.app_context():
        store().accounts.disable_user("li.si", actor="test")
    assert _sign_in(_visitor(people_app, "10.0.0.5")).status_code == 401
    (event,) = _events(people_app, action="login.refused", limit=1)
    assert (event.client, event.after) == ("10.0.0.5", {"reason": "disabled"})


def test_a_session_of_a_user_disabled_meanwhile_stops_working(people_app):
    from web.state import store

    client = _visitor(people_app, "10.0.0.6")
    assert _sign_in(client).status_code == 302
    assert client.get("/api/reports").status_code == 200
    with people_app.app_context():
        store().accounts.disable_user("li.si", actor="test")
    assert client.get("/api/reports").status_code == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [(("li.si", "viewer"), "exists already"), (("wang.wu", "mayor"), "is not one of"),
     (("wang.wu", "viewer", ["999"]), "does not exist")],
)  # fmt: skip
def test_bad_accounts_are_refused_clearly_and_nothing_changes(people_app, args, message):
    from geogrid.errors import GeogridError
    from web.state import store

    with people_app.app_context():
        before = [(u.name, u.role) for u in store().accounts.users()], len(_events(people_app))
        with pytest.raises(GeogridError, match=message):
            store().accounts.add_user(*args, actor="test")
        after = [(u.name, u.role) for u in store().accounts.users()], len(_events(people_app))
    assert after == before


def test_signing_out_ends_every_copy_of_the_session(people_app):
    client = _visitor(people_app, "10.0.0.8")
    assert _sign_in(client).status_code == 302
    copied = client.get_cookie("session").value
    token = client.get("/api/me").get_json()["csrf_token"]
    assert client.post("/logout", headers={"X-CSRFToken": token}).status_code == 302
    replay = _visitor(people_app, "10.0.0.9")
    replay.set_cookie("session", copied)
    assert replay.get("/api/reports").status_code == 401
    assert replay.get("/api/me").get_json()["via"] == "anonymous"


def test_a_new_password_ends_the_sessions_of_the_old_one(people_app):
    from web.state import store

    client = _visitor(people_app, "10.0.0.10")
    assert _sign_in(client).status_code == 302
    with people_app.app_context():
        store().accounts.set_password("li.si", "another long passphrase", actor="test")
    assert client.get("/api/reports").status_code == 401


def test_a_session_ends_session_hours_after_signing_in(people_app, clock):
    client = _visitor(people_app, "10.0.0.11")
    assert _sign_in(client).status_code == 302
    cookie = client.get_cookie("session")
    assert cookie.expires is not None  # a lasting cookie, with its end


def test_failed_sign_ins_are_limited_per_account_across_addresses(people_app):
    for number in range(3):  # LOGIN_RATE_LIMIT is 3 per minute here
        assert _sign_in(_visitor(people_app, f"10.1.0.{number}"), "wrong").status_code == 401
    assert _sign_in(_visitor(people_app, "10.1.0.99"), "wrong").status_code == 429
