"""The work pages (web/workpages.py): who may open them, what of the district they carry.

The queue (/work) and a report's page (/work/reports/<id>) are shells the
script fills from the API; these tests check the shells: the roles and scopes
that open them, the 404 page of a report out of scope, the data each page
starts from, both languages, and the commander map's link and 预警 words.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.web.conftest import anonymous, token_for
from web.work_texts import MAP_TEXTS, TEXTS

WORK_JS = Path(__file__).resolve().parents[2] / "web" / "static" / "work" / "work.js"


def signed_in(app, name: str, role: str, scope: list[str] | None = None):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token_for(app, name, role, scope)}"
    return client


def config_of(html: str) -> dict:
    """The page's window.WORK."""
    found = re.search(r"window\.WORK = (\{.*?\});</script>", html)
    assert found, "the page carries its settings"
    return json.loads(found.group(1))


def ids_by_code(filled) -> dict[str, int]:
    """The ids of the sample reports by the grid they lie in (first one per grid)."""
    found = {}
    for report in filled.find_reports().items:
        found.setdefault(report.codes.get("grid"), report.id)
    return found


@pytest.mark.parametrize("role", ["commander", "department", "grid_worker", "viewer"])
def test_the_roles_that_read_reports_open_the_queue(app, role):
    response = signed_in(app, f"wk.{role}", role).get("/work")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "<title>待办</title>" in html and 'id="wk-queue"' in html


@pytest.mark.parametrize("role", ["planner", "intake"])
def test_roles_without_reports_are_refused_the_work_pages(app, role, filled):
    client = signed_in(app, f"wk.{role}", role)
    report_id = filled.find_reports().items[0].id
    assert client.get("/work").status_code == 403
    assert client.get(f"/work/reports/{report_id}").status_code == 403


def test_visitors_are_sent_to_sign_in(app, filled):
    report_id = filled.find_reports().items[0].id
    for path in ("/work", f"/work/reports/{report_id}", "/work?lang=en"):
        response = anonymous(app).get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_report_out_of_scope_is_a_404_page(app, filled):
    ids = ids_by_code(filled)
    worker = signed_in(app, "zhang", "grid_worker", ["101"])
    assert worker.get(f"/work/reports/{ids['101']}").status_code == 200
    refused = worker.get(f"/work/reports/{ids['204']}")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 404 and refused.mimetype == "text/html"
    assert TEXTS["zh"]["notFound"] in html and 'href="/work"' in html
    missing = signed_in(app, "li.si", "commander").get("/work/reports/999999")
    assert missing.status_code == 404 and TEXTS["zh"]["notFound"] in missing.get_data(as_text=True)
    english = worker.get(f"/work/reports/{ids['204']}?lang=en")
    assert english.status_code == 404 and TEXTS["en"]["notFound"] in english.get_data(as_text=True)


def test_the_queue_carries_what_its_script_needs(app):
    html = signed_in(app, "zhang", "grid_worker", ["101"]).get("/work").get_data(as_text=True)
    config = config_of(html)
    assert config["csrfToken"] and config["api"] == "/api" and config["zone"] == "Asia/Shanghai"
    statuses = {s["key"]: s["name"] for s in config["statuses"]}
    assert statuses["received"] == "受理" and statuses["closed"] == "结案"
    assert config["me"]["name"] == "zhang" and "report.feedback" in config["me"]["may"]
    assert "report.dispatch" not in config["me"]["may"]
    # The grid filter names the grids in scope only: the worker's grid, not the street above.
    assert config["gridNames"] == {"101": "第1网格"}
    assert '<option value="101">' in html and '<option value="204">' not in html
    assert config["texts"] == TEXTS["zh"] and config["report"] is None
    assert 'src="/static/work/work.js"' in html and "zhang · 网格员" in html


def test_the_report_page_carries_its_grids_and_deadline_rule(app, filled):
    ids = ids_by_code(filled)
    html = signed_in(app, "li.si", "commander").get(f"/work/reports/{ids['101']}")
    config = config_of(html.get_data(as_text=True))
    report = config["report"]
    assert report["id"] == ids["101"] and report["mapGrid"] == "101"
    assert report["names"] == {"1": "东街道", "101": "第1网格"}
    assert [lv["key"] for lv in report["levels"]] == ["street", "grid"]
    assert report["categoryRule"]["unit"] in ("hours", "days", "working_hours", "working_days")
    assert config["steps"]["received"] == ["registered", "closed"]  # the commander's steps
    assert "leaflet.js" in html.get_data(as_text=True)


def test_the_pages_speak_english(app, filled):
    ids = ids_by_code(filled)
    client = signed_in(app, "wang", "commander")
    queue = client.get("/work?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in queue and "<title>Work queue</title>" in queue
    assert config_of(queue)["texts"] == TEXTS["en"]
    assert {s["name"] for s in config_of(queue)["statuses"]} >= {"Received", "Closed"}
    assert 'href="/work">中文</a>' in queue  # back to Chinese
    page = client.get(f"/work/reports/{ids['101']}?lang=en").get_data(as_text=True)
    assert config_of(page)["langQuery"] == "?lang=en" and "History" in page
    assert f'href="/work/reports/{ids["101"]}">中文</a>' in page


def test_the_pages_keep_to_the_content_security_policy(app, filled):
    ids = ids_by_code(filled)
    client = signed_in(app, "li.si", "commander")
    for path in ("/work", f"/work/reports/{ids['101']}", "/work/reports/999999"):
        response = client.get(path)
        html = response.get_data(as_text=True)
        nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
        scripts = re.findall(r"<script[^>]*>", html)
        assert scripts and all(f'nonce="{nonce.group(1)}"' in tag for tag in scripts)
        assert not re.search(r"\son[a-z]+=", html)  # no inline handlers: the CSP blocks them


def test_both_languages_have_every_word_the_script_uses():
    assert set(TEXTS["zh"]) == set(TEXTS["en"])
    assert set(MAP_TEXTS["zh"]) == set(MAP_TEXTS["en"])
    script = WORK_JS.read_text(encoding="utf-8")
    used = set(re.findall(r"\bt\.(\w+)", script))
    assert used and used <= set(TEXTS["zh"]), used - set(TEXTS["zh"])


def test_the_commander_map_links_to_the_queue_and_names_its_warnings(app):
    html = signed_in(app, "li.si", "commander").get("/").get_data(as_text=True)
    assert '"warnings": "预警"' in html and '"workQueue": "待办"' in html
    assert '"workPage": "/work"' in html
    english = signed_in(app, "wang", "commander").get("/?lang=en").get_data(as_text=True)
    assert '"workQueue": "Work queue"' in english
