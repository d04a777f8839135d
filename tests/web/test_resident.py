"""The residents' page and its API: report a matter, follow it by ticket, rate it once closed.

Everything runs as an anonymous visitor, on SQLite and on PostGIS (one app per
backend for the module: each test makes its own reports). The public view of a
report must hold no person: neither the reporter's contact details nor the names
of the staff who handled it, nor their notes to one another.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from geogrid.reports import TICKET_PATTERN
from tests.web.conftest import anonymous, fresh_postgis, tiny_app
from web.resident import TEXTS

ROOT = Path(__file__).resolve().parents[2]
IN_101 = {"lon": 120.005, "lat": 28.005}
BODY = {"category": "city.rubbish", **IN_101, "description": "小区门口垃圾堆放三天没人清理"}
CONTACT = {"name": "张三丰", "phone": "13800001234"}
COMMANDER, WORKER = "li.commander", "zhang.worker"
INTERNAL = "内部：请尽快派人处理"
CLOSING = "垃圾已清运，感谢反映"
#: Rate limits high enough that no test of the module reaches them (the rate-limit test sets
#: its own), and what visitors may do said outright (the default is tested on its own).
LIMITS = {"RESIDENT_RATE_LIMIT": "1000 per minute", "TICKET_LOOKUP_RATE_LIMIT": "1000 per minute",
          "RESIDENT_PHOTO_RATE_LIMIT": "1000 per minute",
          "ANONYMOUS_ACTIONS": ["lookup", "grid.read", "service.list", "ticket"]}  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def resident_app(request, tmp_path_factory):
    """The app over the tiny district with a grid worker to dispatch to, per backend."""
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        yield _with_worker(tiny_app(folder, **LIMITS))
        return
    with fresh_postgis(request.getfixturevalue("postgis_template")) as url:
        app = _with_worker(tiny_app(folder, STORE=url, **LIMITS))
        yield app
        with app.app_context():
            from web.state import store

            store().close()


def _with_worker(app):
    from web.state import store

    with app.app_context():
        store().accounts.add_user(WORKER, "grid_worker", None, display_name="张网格",
                                  actor="test")  # fmt: skip
    return app


@pytest.fixture
def visitor(resident_app):
    return anonymous(resident_app)


def _store(app):
    from web.state import store

    with app.app_context():
        return store()


def report(visitor, **changes) -> dict:
    """A new report sent by the visitor; its answer's body."""
    response = visitor.post("/api/public/reports", json={**BODY, **changes})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def close(app, ticket: str, note: str = CLOSING) -> None:
    """Take the report round the whole loop to closed, as the staff would."""
    store = _store(app)
    report_id = store.report_by_ticket(ticket).id
    store.transition(report_id, "registered", actor=COMMANDER)
    store.transition(report_id, "dispatched", actor=COMMANDER, assignee=WORKER, note=INTERNAL)
    store.transition(report_id, "in_progress", actor=WORKER)
    store.transition(report_id, "feedback", actor=WORKER, note="已联系环卫 13912345678")
    store.transition(report_id, "verified", actor=COMMANDER, note="现场核实")
    store.transition(report_id, "closed", actor=COMMANDER, note=note)


def error_message(response) -> str:
    return response.get_json()["error"]["message"]


# --- reporting ---------------------------------------------------------------------------------


def test_a_visitor_reports_a_matter_and_gets_a_ticket(resident_app, visitor):
    answer = report(visitor, contact=CONTACT)
    assert TICKET_PATTERN.match(answer["ticket"])
    assert answer["status"] == "received"
    assert answer["received_at"].startswith("2026-12-06T02:00")
    assert answer["deadline"] > answer["received_at"]
    assert answer["url"] == f"/r?ticket={answer['ticket']}"
    stored = _store(resident_app).report_by_ticket(answer["ticket"])
    assert (stored.source, stored.category, stored.codes["grid"]) == ("resident", "city.rubbish",
                                                                      "101")  # fmt: skip
    assert stored.contact.name == "张三丰" and stored.contact.phone == "13800001234"
    assert stored.history[0].actor == "anonymous"  # who stored it: never a name the client sends


def test_a_resend_with_the_same_client_id_answers_with_the_same_ticket(resident_app, visitor):
    body = {**BODY, "client_id": "0b8e7f52-5d7c-4b9e-9a51-6f0d6b2c1e3a"}
    first = visitor.post("/api/public/reports", json=body)
    again = visitor.post("/api/public/reports", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["ticket"] == again.get_json()["ticket"]
    stored = _store(resident_app).report_by_ticket(first.get_json()["ticket"])
    assert stored.external_id == "resident-web:0b8e7f52-5d7c-4b9e-9a51-6f0d6b2c1e3a"


def test_a_client_id_cannot_name_a_report_of_another_channel(resident_app, visitor):
    from geogrid.reports import NewReport

    _store(resident_app).add_reports([NewReport(**BODY, source="hotline",
                                                external_id="hotline-00000001")],
                                     actor="test")  # fmt: skip
    answer = visitor.post("/api/public/reports", json={**BODY, "client_id": "hotline-00000001"})
    assert answer.status_code == 201  # a new report of its own, not the hotline's
    stored = _store(resident_app).report_by_ticket(answer.get_json()["ticket"])
    assert stored.source == "resident"


# --- looking up --------------------------------------------------------------------------------


def test_a_lookup_shows_the_status_and_no_person(resident_app, visitor):
    ticket = report(visitor, contact=CONTACT)["ticket"]
    close(resident_app, ticket)
    response = visitor.get(f"/api/public/tickets/{ticket}")
    assert response.status_code == 200
    view = response.get_json()
    assert (view["ticket"], view["status"], view["outcome"]) == (ticket, "closed", "closed")
    assert view["status_label"] == {"zh": "结案", "en": "Closed"}
    assert view["category"]["code"] == "city.rubbish" and view["category"]["zh"]
    assert [s["status"] for s in view["timeline"]] == [
        "received",
        "registered",
        "dispatched",
        "in_progress",
        "feedback",
        "verified",
        "closed",
    ]
    assert view["timeline"][-1]["note"] == CLOSING
    assert [s.get("note") for s in view["timeline"][:-1]] == [None] * 6
    assert view["may_rate"] is True and view["rating"] is None
    text = json.dumps(view, ensure_ascii=False)
    for private in (
        "张三丰",
        "13800001234",
        "1380",
        COMMANDER,
        WORKER,
        "张网格",
        INTERNAL,
        "13912345678",
        "现场核实",
        "anonymous",
        "assignee",
        "contact",
        "handler",
    ):
        assert private not in text, private


def test_a_report_not_accepted_shows_why(resident_app, visitor):
    ticket = report(visitor)["ticket"]
    report_id = _store(resident_app).report_by_ticket(ticket).id
    reason = "重复上报，已合并处理"
    _store(resident_app).transition(report_id, "closed", actor=COMMANDER, note=reason)
    view = visitor.get(f"/api/public/tickets/{ticket}").get_json()
    assert view["outcome"] == "rejected"
    assert view["timeline"][-1] == {**view["timeline"][-1], "outcome": "rejected", "note": reason}


def test_a_ticket_is_found_however_it_is_typed(visitor):
    ticket = report(visitor)["ticket"]
    typed = ticket.replace("-", " ").lower()
    response = visitor.get(f"/api/public/tickets/{typed}")
    assert response.status_code == 200 and response.get_json()["ticket"] == ticket


@pytest.mark.parametrize("path", ["", "/rating", "/media"])
def test_an_unknown_ticket_is_not_found_and_a_malformed_one_is_named(visitor, path):
    method = visitor.get if path == "" else visitor.post
    options = {"json": {"score": 5}} if path == "/rating" else {}
    if path == "/media":
        options = {"data": {"photo": (io.BytesIO(png_bytes()), "a.png")}}
    unknown = method(f"/api/public/tickets/7K3M-Q9XD-2PHT{path}", **options)
    assert unknown.status_code == 404
    assert error_message(unknown) == "ticket: no report has number 7K3M-Q9XD-2PHT"
    if path == "/media":
        options = {"data": {"photo": (io.BytesIO(png_bytes()), "a.png")}}
    malformed = method(f"/api/public/tickets/7K3M-Q9XD-2PH0{path}", **options)
    assert malformed.status_code == 400
    assert error_message(malformed).startswith("ticket: '7K3M-Q9XD-2PH0' is not a ticket number")
    assert "7K3M-Q9XD-2PHT" in error_message(malformed)  # the format, by example


# --- rating ------------------------------------------------------------------------------------


def test_a_report_is_rated_once_and_only_when_closed(resident_app, visitor):
    ticket = report(visitor)["ticket"]
    early = visitor.post(f"/api/public/tickets/{ticket}/rating", json={"score": 5})
    assert early.status_code in (409, 422)
    assert "closed" in error_message(early)
    close(resident_app, ticket)
    rated = visitor.post(f"/api/public/tickets/{ticket}/rating",
                         json={"score": 4, "note": "处理及时"})  # fmt: skip
    assert rated.status_code == 200
    assert rated.get_json()["rating"]["score"] == 4 and rated.get_json()["may_rate"] is False
    stored = _store(resident_app).report_by_ticket(ticket)
    assert (stored.rating, stored.rating_note) == (4, "处理及时")
    again = visitor.post(f"/api/public/tickets/{ticket}/rating", json={"score": 1})
    assert again.status_code == 409 and "rated already" in error_message(again)
    assert _store(resident_app).report_by_ticket(ticket).rating == 4
    view = visitor.get(f"/api/public/tickets/{ticket}").get_json()
    assert view["rating"]["score"] == 4 and "rated" not in {s["status"] for s in view["timeline"]}


# --- bad input ---------------------------------------------------------------------------------

BAD_REPORTS = [
    ({"category": "no.such.thing"}, "category"),
    ({"category": 7}, "category"),
    ({"category": None}, "category"),
    ({"lat": 95}, "lat"),
    ({"lon": "east"}, "lon"),
    ({"lon": float("inf")}, "lon"),
    ({"description": "x" * 4001}, "description"),
    ({"description": "   "}, "description"),
    ({"crs": "EPSG:3857"}, "crs"),
    ({"contact": {"phone": "call me"}}, "contact.phone"),
    ({"contact": {"email": "a@b.cn"}}, "contact"),
    ({"contact": {"name": "x" * 201}}, "contact.name"),
    ({"contact": "张三"}, "contact"),
    ({"client_id": "x"}, "client_id"),
    ({"source": "hotline"}, "body"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field"), BAD_REPORTS, ids=[f for _, f in BAD_REPORTS])
def test_a_bad_report_is_refused_naming_the_field_and_nothing_is_stored(
    resident_app, visitor, change, field
):
    before = _count(resident_app)
    body = json.dumps({**BODY, **change}, allow_nan=True)
    response = visitor.post("/api/public/reports", data=body, content_type="application/json")
    assert 400 <= response.status_code < 500
    assert error_message(response).split(": ")[0] == field, error_message(response)
    assert _count(resident_app) == before


def _count(app) -> int:
    from geogrid.reports import ReportQuery

    return _store(app).find_reports(ReportQuery(limit=1)).total


@pytest.mark.parametrize(("body", "field"), [
    ({"score": 0}, "score"), ({"score": 6}, "score"), ({"score": "five"}, "score"),
    ({"score": True}, "score"), ({"score": 4.5}, "score"), ({}, "score"),
    ({"score": 5, "note": "x" * 501}, "note"), ({"score": 5, "name": "张三"}, "body"),
    ([5], "body"),
])  # fmt: skip
def test_a_bad_rating_is_refused_naming_the_field(resident_app, visitor, body, field):
    ticket = report(visitor)["ticket"]
    close(resident_app, ticket)
    response = visitor.post(f"/api/public/tickets/{ticket}/rating", json=body)
    assert 400 <= response.status_code < 500
    assert error_message(response).split(": ")[0] == field, error_message(response)
    assert _store(resident_app).report_by_ticket(ticket).rating is None


def test_a_photo_request_without_a_photo_is_refused(visitor):
    ticket = report(visitor)["ticket"]
    response = visitor.post(f"/api/public/tickets/{ticket}/media", data={})
    assert response.status_code == 400 and error_message(response).startswith("photo: ")


def test_a_resident_adds_photos_by_ticket(resident_app, visitor):
    ticket = report(visitor)["ticket"]
    path = f"/api/public/tickets/{ticket}/media"
    first = visitor.post(path, data={"photo": (io.BytesIO(png_bytes()), "门口.png")})
    assert first.status_code == 201, first.get_json()
    again = visitor.post(path, data={"photo": (io.BytesIO(png_bytes()), "门口.png")})
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    not_image = visitor.post(path, data={"photo": (io.BytesIO(b"%PDF-1.4 hello"), "a.png")})
    assert not_image.status_code == 400 and error_message(not_image).startswith("photo")
    report_id = _store(resident_app).report_by_ticket(ticket).id
    assert [m.stage for m in _store(resident_app).media.of_report(report_id)] == ["report"]


def png_bytes(size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 60, 40)).save(out, "PNG")
    return out.getvalue()


# --- rate limits -------------------------------------------------------------------------------


def _from(app, address: str):
    client = anonymous(app)
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_reports_and_lookups_are_rate_limited_per_address(tmp_path, tiny_manifest):
    app = tiny_app(
        tmp_path,
        tiny_manifest,
        **{
            **LIMITS,
            "RESIDENT_RATE_LIMIT": "2 per minute",
            "TICKET_LOOKUP_RATE_LIMIT": "3 per minute",
        },
    )
    visitor = _from(app, "10.9.0.1")
    answers = [visitor.post("/api/public/reports", json=BODY) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[-1].is_json
    assert _from(app, "10.9.0.2").post("/api/public/reports", json=BODY).status_code == 201
    ticket = answers[0].get_json()["ticket"]
    lookups = [visitor.get(f"/api/public/tickets/{ticket}").status_code for _ in range(4)]
    assert lookups == [200, 200, 200, 429]
    admin = app.test_client()  # signed in: not limited
    assert all(admin.post("/api/public/reports", json=BODY).status_code == 201 for _ in range(3))


# --- the page ----------------------------------------------------------------------------------


def test_the_page_is_chinese_first_and_english_on_request(resident_app, visitor):
    page = visitor.get("/r")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "居民随手拍" in html
    assert 'name="viewport"' in html
    assert "script-src 'self' 'nonce-" in page.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in page.headers  # a visitor gets no session
    config = json.loads(re.search(r"window.RESIDENT = (.*?);</script>", html).group(1))
    assert config["categories"][0]["children"] and config["maxPhotos"] == 6
    english = visitor.get("/r?lang=en&ticket=7K3M-Q9XD-2PHT").get_data(as_text=True)
    assert '<html lang="en">' in english and "Report a matter" in english
    assert '"ticket": "7K3M-Q9XD-2PHT"' in english
    for asset in ("/static/resident/resident.js", "/static/resident/resident.css"):
        assert asset in html and visitor.get(asset).status_code == 200


def test_visitors_may_report_follow_and_rate_by_default(tmp_path, tiny_manifest):
    visitor = anonymous(tiny_app(tmp_path, tiny_manifest))  # the settings' defaults
    assert visitor.get("/r").status_code == 200
    answer = visitor.post("/api/public/reports", json=BODY)
    assert answer.status_code == 201
    assert visitor.get(f"/api/public/tickets/{answer.get_json()['ticket']}").status_code == 200


def test_both_languages_have_every_word():
    assert set(TEXTS["zh"]) == set(TEXTS["en"])
    script = (ROOT / "web" / "static" / "resident" / "resident.js").read_text(encoding="utf-8")
    used = set(re.findall(r"\bt\.(\w+)", script)) | set(re.findall(r'words\("(\w+)"', script))
    assert used <= set(TEXTS["zh"]), used - set(TEXTS["zh"])
