"""The map pages and people: who may open them, who they name, what of the district they show."""

from __future__ import annotations

import re

from tests.web.conftest import anonymous, token_for


def signed_in(app, name: str, role: str, scope: list[str] | None):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token_for(app, name, role, scope)}"
    return client


def test_visitors_are_sent_to_sign_in(app):
    for path in ("/", "/grids/101", "/?lang=en"):
        response = anonymous(app).get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_map_names_the_user_and_signs_out_with_the_csrf_token(app):
    html = signed_in(app, "li.si", "commander", ["1"]).get("/").get_data(as_text=True)
    assert "li.si · 指挥中心" in html
    form = re.search(r"<form class='geogrid-user' method='post' action='/logout'>.*?</form>", html)
    assert form and "name='csrf_token'" in form.group()
    assert '"csrfToken": "' in html
    english = signed_in(app, "wang", "viewer", None).get("/?lang=en").get_data(as_text=True)
    assert "wang · Viewer" in english and "Sign out" in english


def test_a_scoped_map_opens_on_its_grids(app):
    html = signed_in(app, "zhang", "grid_worker", ["101"]).get("/").get_data(as_text=True)
    bounds = re.search(r"fitBounds\(\s*\[\[([\d.]+),\s*([\d.]+)\],\s*\[([\d.]+),\s*([\d.]+)\]",
                       html)  # fmt: skip
    assert bounds, "the map fits its first view"
    south, west, north, east = (float(v) for v in bounds.groups())
    assert (south, west) == (28.0, 120.0) and (north, east) == (28.01, 120.01)  # grid 101


def test_the_page_of_a_grid_out_of_scope_is_404(app):
    worker = signed_in(app, "zhang", "grid_worker", ["101"])
    assert worker.get("/grids/101").status_code == 200
    assert worker.get("/grids/204").status_code == 404
    assert worker.get("/grids/1").status_code == 404
    commander = signed_in(app, "li.si", "commander", ["1"])
    page = commander.get("/grids/1").get_data(as_text=True)
    assert "li.si · 指挥中心" in page and "第1网格" in page


def test_the_pages_keep_to_the_content_security_policy(client):
    response = client.get("/")
    html = response.get_data(as_text=True)
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all(f'nonce="{nonce}"' in tag for tag in scripts)
    assert not re.search(r"\son[a-z]+=", html)  # no inline handlers: the CSP would block them
