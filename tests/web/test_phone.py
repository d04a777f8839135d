"""The phone page's routes (web/phone.py) and patrol check-ins (geogrid/storage/checkins.py).

Check-ins run on SQLite and PostGIS (one app per backend for the module, so every
test makes its own ids); the page, its manifest and its service worker on SQLite.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from datetime import timedelta

import pytest
from PIL import Image

from tests.conftest import SOUTH, STEP, WEST
from tests.web.conftest import NOW, anonymous, token_for
from web.phone_texts import TEXTS

IN_101 = {"lon": WEST + 0.005, "lat": SOUTH + 0.005}
IN_204 = {"lon": WEST + 3.5 * STEP, "lat": SOUTH + 1.5 * STEP}
AT = (NOW - timedelta(minutes=30)).isoformat()
TODAY = "since=2026-12-06&until=2026-12-06"


def new_id() -> str:
    return str(uuid.uuid4())


_clients: dict[tuple[int, str], object] = {}


def as_role(app, role: str, scope: list[str] | None = None, name: str | None = None):
    """A client with a token of a new account of ``role`` (made once per app and name)."""
    name = name or f"phone.{role}.{'-'.join(scope or ['all'])}"
    if (id(app), name) not in _clients:
        client = anonymous(app)
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token_for(app, name, role, scope)}"
        _clients[id(app), name] = client
    return _clients[id(app), name]


def checkin(client, **fields):
    body = {"id": new_id(), **IN_101, "crs": "WGS-84", "at": AT, "note": "", **fields}
    return client.post("/api/patrol/checkins", json=body), body


def stored_checkins(app, checkin_id: str) -> int:
    from web.state import store

    with app.app_context(), store().db.transaction(write=False) as tx:
        rows = store().db.rows(tx, "SELECT COUNT(*) AS n FROM patrol_checkins WHERE id = ?",
                               [checkin_id])  # fmt: skip
    return rows[0]["n"]


def message(response) -> str:
    return response.get_json()["error"]["message"]


def names(text: str, field: str) -> bool:
    """Whether an error message first names ``field``: ``field:``, ``body.field:``, 'field'."""
    head = text.split(":")[0]
    return head == field or head.endswith(f".{field}") or text.startswith(f"'{field}'")


# --- check-ins ---------------------------------------------------------------------------------


def test_a_checkin_is_stored_once_by_the_id_the_phone_made(each_store_app):
    worker = as_role(each_store_app, "grid_worker", ["101"])
    first, body = checkin(worker, note="早巡 东门")
    assert first.status_code == 201
    stored = first.get_json()
    assert stored["worker"] == "phone.grid_worker.101" and stored["grid_code"] == "101"
    assert stored["note"] == "早巡 东门" and stored["received_at"] == NOW.isoformat()
    again = worker.post("/api/patrol/checkins", json=body)
    assert again.status_code == 200 and again.get_json() == stored
    assert stored_checkins(each_store_app, body["id"]) == 1


def test_the_same_id_with_other_content_is_refused_and_nothing_changes(each_store_app):
    worker = as_role(each_store_app, "grid_worker", ["101"])
    first, body = checkin(worker)
    assert first.status_code == 201
    for change in ({"lon": IN_101["lon"] + 0.001}, {"note": "另一次"},
                   {"at": (NOW - timedelta(minutes=5)).isoformat()}):  # fmt: skip
        response = worker.post("/api/patrol/checkins", json={**body, **change})
        assert response.status_code == 409
        assert message(response).startswith(f"id {body['id']}: already used")
    assert worker.post("/api/patrol/checkins", json=body).get_json() == first.get_json()


def test_another_workers_id_is_refused_without_saying_what_it_holds(each_store_app):
    first, body = checkin(as_role(each_store_app, "grid_worker", ["101"]), note="秘密")
    assert first.status_code == 201
    other = as_role(each_store_app, "grid_worker", ["101"], name="phone.other.worker")
    response = other.post("/api/patrol/checkins", json=body)
    assert response.status_code == 409
    assert "秘密" not in message(response) and "already used by another" in message(response)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"lon": 200}, "lon"), ({"lat": -91}, "lat"), ({"lat": "28.0"}, "lat"),
     ({"lon": True}, "lon"), ({"lat": None}, "lat"), ({"lon": 10**400}, "lon"),
     ({"id": "a b"}, "id"), ({"id": "x" * 101}, "id"), ({"id": None}, "id"), ({"id": 7}, "id"),
     ({"at": None}, "at"), ({"at": "yesterday"}, "at"), ({"at": "2026-12-06T09:00:00"}, None),
     ({"at": (NOW + timedelta(hours=1)).isoformat()}, "at"), ({"at": "0001-01-01"}, "at"),
     ({"crs": "mars"}, "crs"), ({"crs": 4326}, "crs"), ({"note": "n" * 501}, "note"),
     ({"note": 5}, "note"), ({"note": "a\x00b"}, "note"), ({"worker": "li.si"}, "body")],
)  # fmt: skip
def test_bad_checkins_are_refused_naming_the_field(each_store_app, change, field):
    worker = as_role(each_store_app, "grid_worker", ["101"])
    response, body = checkin(worker, **change)
    if field is None:  # a local time without an offset is read in the district's zone
        assert response.status_code == 201
        assert response.get_json()["at"] == "2026-12-06T01:00:00+00:00"
        return
    assert response.status_code == 400, response.get_json()
    assert names(message(response), field), message(response)
    if isinstance(body.get("id"), str) and len(body["id"]) <= 100:
        assert stored_checkins(each_store_app, body["id"]) == 0


def test_a_checkin_may_come_without_a_position(each_store_app):
    response, _ = checkin(as_role(each_store_app, "grid_worker", ["101"]), lon=None, lat=None)
    assert response.status_code == 201
    assert {k: response.get_json()[k] for k in ("lon", "lat", "crs", "grid_code")} == dict.fromkeys(
        ("lon", "lat", "crs", "grid_code"))  # fmt: skip


def test_a_gcj02_position_is_kept_in_wgs84_with_its_grid(each_store_app):
    from geogrid.crs import from_wgs84

    lon, lat = from_wgs84([IN_101["lon"]], [IN_101["lat"]], "GCJ-02")
    response, _ = checkin(as_role(each_store_app, "grid_worker", ["101"]), lon=float(lon[0]),
                          lat=float(lat[0]), crs="gcj02")  # fmt: skip
    stored = response.get_json()
    assert stored["crs"] == "GCJ-02" and stored["grid_code"] == "101"
    assert abs(stored["lon"] - IN_101["lon"]) < 1e-6 and abs(stored["lat"] - IN_101["lat"]) < 1e-6


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("department", 403),
                                              ("planner", 403), ("intake", 403)])  # fmt: skip
def test_only_those_who_patrol_check_in(each_store_app, role, status):
    response, body = checkin(as_role(each_store_app, role))
    assert response.status_code == status
    assert "track.create" in message(response)
    assert stored_checkins(each_store_app, body["id"]) == 0
    assert checkin(anonymous(each_store_app))[0].status_code == 401


def test_workers_read_their_own_checkins_and_commanders_those_in_scope(each_store_app):
    app = each_store_app
    mine = as_role(app, "grid_worker", None, name="phone.reader.one")
    theirs = as_role(app, "grid_worker", None, name="phone.reader.two")
    in_101 = checkin(mine)[0].get_json()["id"]
    in_204 = checkin(theirs, **IN_204)[0].get_json()["id"]
    ids = lambda client, query="": [  # noqa: E731
        c["id"] for c in client.get(f"/api/patrol/checkins?{TODAY}{query}").get_json()["checkins"]
    ]
    assert in_101 in ids(mine) and in_204 not in ids(mine)
    assert in_204 in ids(theirs) and in_101 not in ids(theirs)
    refused = mine.get(f"/api/patrol/checkins?{TODAY}&worker=phone.reader.two")
    assert refused.status_code == 403
    commander = as_role(app, "commander")
    assert {in_101, in_204} <= set(ids(commander))
    assert ids(commander, "&worker=phone.reader.two") == [in_204]
    street_1 = as_role(app, "commander", ["1"])
    assert in_101 in ids(street_1) and in_204 not in ids(street_1)
    assert as_role(app, "department").get(f"/api/patrol/checkins?{TODAY}").status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [("", "since"), ("since=2026-12-06", "until"), ("since=2026-12-06&until=2026-12-05", "until"),
     ("since=2026-01-01&until=2026-12-06", "since/until"), ("since=x&until=2026-12-06", "since")],
)  # fmt: skip
def test_reading_checkins_needs_a_period(app, query, field):
    worker = as_role(app, "grid_worker")
    response = worker.get(f"/api/patrol/checkins?{query}")
    assert response.status_code == 400
    assert field in message(response).split(":")[0]


# --- the page, its manifest and its service worker ------------------------------------------


def test_the_page_is_a_signed_in_workers(app):
    worker = as_role(app, "grid_worker", ["101"])
    page = worker.get("/m/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "我的任务" in html and "待发送" in html
    config = json.loads(re.search(r'id="ph-config">(.*?)</script>', html).group(1))
    assert config["user"]["name"] == "phone.grid_worker.101" and config["csrfToken"]
    english = worker.get("/m/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english and "My tasks" in english
    assert worker.get("/m").status_code in (301, 308)  # the page lives under its worker's scope
    assert anonymous(app).get("/m/").status_code in (302, 401)
    assert as_role(app, "intake").get("/m/").status_code == 403


def test_the_manifest_makes_the_page_installable(app):
    response = anonymous(app).get("/m/manifest.webmanifest")
    assert response.status_code == 200 and response.mimetype == "application/manifest+json"
    manifest = json.loads(response.get_data(as_text=True))
    assert manifest["name"] == "网格员" and manifest["display"] == "standalone"
    assert manifest["start_url"] == "/m/" and manifest["scope"] == "/m/"
    sizes = set()
    for icon in manifest["icons"]:
        picture = anonymous(app).get(icon["src"])
        assert picture.status_code == 200 and picture.mimetype == "image/png"
        with Image.open(io.BytesIO(picture.data)) as image:
            assert f"{image.width}x{image.height}" == icon["sizes"]
        sizes.add(icon["sizes"])
    assert sizes == {"192x192", "512x512"}


def test_the_service_worker_is_served_from_the_pages_folder_with_its_shell(app):
    response = anonymous(app).get("/m/sw.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    assert "connect-src" not in response.headers["Content-Security-Policy"]  # 'self' by default
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    script = response.get_data(as_text=True)
    config = json.loads(re.search(r"const CONFIG = (\{.*?\});", script).group(1))
    assert config["page"] == "/m/" and "__" not in script
    worker = as_role(app, "grid_worker", ["101"])
    for url in config["files"] + config["pages"]:
        assert worker.get(url).status_code == 200, url
    page = worker.get("/m/").get_data(as_text=True)
    assert all(url in page for url in config["files"] if "phone." in url)  # the same versions


def test_both_languages_have_every_word_the_script_uses():
    assert set(TEXTS["zh"]) == set(TEXTS["en"])
    from web.phone import STATIC

    script = (STATIC / "phone.js").read_text(encoding="utf-8")
    assert set(re.findall(r"\bt\.(\w+)", script)) <= set(TEXTS["zh"])
