"""The statistics page and its API: who may see them, the JSON, the Excel and CSV files."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from tests.web.conftest import anonymous, sample_reports, token_for


@pytest.fixture
def stats_app(app):
    from web.state import store

    with app.app_context():
        store().add_reports(sample_reports(), actor="test")
    return app


def _as(app, role: str, scope=None):
    client = app.test_client()
    token = token_for(app, f"stats.{role}.{len(scope or [])}", role, scope)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def test_page_for_commander_in_both_languages(stats_app):
    client = _as(stats_app, "commander")
    page = client.get("/stats")
    assert page.status_code == 200 and "考核统计" in page.text
    assert "vendor/chartjs/chart.umd.min.js" in page.text and "stats.js" in page.text
    assert "nonce-" in page.headers["Content-Security-Policy"]
    assert "Assessment statistics" in client.get("/stats?lang=en").text
    assert client.get("/static/vendor/chartjs/chart.umd.min.js").status_code == 200


@pytest.mark.parametrize("role", ["grid_worker", "department", "planner"])
def test_page_and_api_refused_to_other_roles(stats_app, role):
    client = _as(stats_app, role)
    assert client.get("/stats").status_code == 403
    assert client.get("/api/stats/assessment").status_code == 403


def test_anonymous_is_sent_to_sign_in_or_refused(stats_app):
    client = anonymous(stats_app)
    assert client.get("/stats").status_code in (302, 401)
    assert client.get("/api/stats/assessment").status_code == 401


def test_api_json_counts_the_reports_received_today(stats_app):
    body = _as(stats_app, "viewer").get("/api/stats/assessment?level=grid").get_json()
    assert body["columns"][:4] == ["code", "name", "received", "closed"]
    received = {r["code"]: r["received"] for r in body["rows"]}
    assert received == {"101": 2, "102": 0, "103": 0, "104": 0, "201": 0, "202": 0, "203": 0,
                        "204": 1}  # fmt: skip
    assert body["since"].startswith("2026-11-07") and body["until"].startswith("2026-12-07")
    assert sum(w["received"] for w in body["trend"]) == 4  # one report lies outside every grid
    assert body["labels"]["closure_rate"] == ["结案率", "Closure rate"]


def test_api_by_level_and_scope(stats_app):
    streets = _as(stats_app, "commander").get("/api/stats/assessment?level=street&patrol=0")
    assert [r["received"] for r in streets.get_json()["rows"]] == [2, 1]
    scoped = _as(stats_app, "commander", ["2"]).get("/api/stats/assessment?level=grid")
    assert [r["code"] for r in scoped.get_json()["rows"]] == ["201", "202", "203", "204"]


def test_excel_and_csv(stats_app):
    client = _as(stats_app, "commander")
    xlsx = client.get("/api/stats/assessment.xlsx?level=street&since=2026-12-01&until=2026-12-06")
    assert xlsx.status_code == 200
    assert xlsx.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "assessment-street-2026-12-01-2026-12-06.xlsx" in xlsx.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.data)).worksheets[0]
    assert [c.value for c in sheet[3]][:3] == ["1", "东街道", 2]
    csv = client.get("/api/stats/assessment.csv?level=street")
    assert csv.mimetype == "text/csv" and csv.data.startswith(b"\xef\xbb\xbfcode,name,received")


@pytest.mark.parametrize(("query", "named"), [
    ("level=town", "'level' must be one of street, grid"),
    ("by=team", "'by' must be one of grid, worker, department"),
    ("since=yesterday", "since"),
    ("since=2026-12-01&until=2026-11-01", "'until' (2026-11-02) must be after 'since'"),
    ("since=2024-01-01&until=2026-01-01", "at most 367 days"),
    ("patrol=maybe", "'patrol' must be true or false"),
])  # fmt: skip
def test_bad_input_names_the_parameter(stats_app, query, named):
    answer = _as(stats_app, "commander").get(f"/api/stats/assessment?{query}")
    assert answer.status_code in (400, 422)
    assert named in answer.get_json()["error"]["message"]


def test_people(stats_app):
    from web.state import store

    with stats_app.app_context():
        store().accounts.add_user("w1", "grid_worker", ["101"], display_name="王一", actor="test")
    body = _as(stats_app, "commander").get("/api/stats/assessment?by=worker").get_json()
    assert [(r["code"], r["name"], r["received"]) for r in body["rows"]] == [("w1", "王一", 0)]
