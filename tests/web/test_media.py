"""Photos over HTTP, on SQLite and PostGIS: upload, serve to those who may see the report, Open311.

The app of each backend is made once per module (tests add their own reports), with
its media folder in the test's temporary folder and a low ``MEDIA_MAX_BYTES``.
"""

from __future__ import annotations

import io
import os
from contextlib import ExitStack

import pytest
from flask import g
from PIL import Image
from werkzeug.datastructures import FileStorage

from geogrid.access import Principal
from geogrid.reports import NewReport
from tests.conftest import SOUTH, STEP, WEST
from tests.storage.conftest import fresh_postgis
from tests.web.conftest import anonymous, tiny_app, token_for
from web.media import add_ticket_photo
from web.state import store as app_store

MAX_BYTES = 300_000
IN_101 = (WEST + 0.005, SOUTH + 0.005)
IN_204 = (WEST + 3.5 * STEP, SOUTH + 1.5 * STEP)


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def media_app(request, tmp_path_factory):
    """The app over the tiny district on each backend, with tokens of a few roles in ``TOKENS``."""
    folder = tmp_path_factory.mktemp(request.param)
    settings = {"MEDIA_FOLDER": str(folder / "media"), "MEDIA_MAX_BYTES": MAX_BYTES}
    with ExitStack() as stack:
        if request.param == "postgis":
            settings["STORE"] = stack.enter_context(
                fresh_postgis(request.getfixturevalue("postgis_template")))  # fmt: skip
        app = tiny_app(folder, **settings)
        app.config["TOKENS"] = {
            "worker_1": token_for(app, "worker.one", "grid_worker", ["1"]),
            "worker_2": token_for(app, "worker.two", "grid_worker", ["2"]),
            "viewer_1": token_for(app, "viewer.one", "viewer", ["1"]),
            "viewer_2": token_for(app, "viewer.two", "viewer", ["2"]),
        }
        yield app
        with app.app_context():
            app_store().close()


@pytest.fixture
def client(media_app):
    return media_app.test_client()


def as_(app, who: str):
    """A test client sending the token of ``who`` (a key of ``TOKENS``)."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {app.config['TOKENS'][who]}"
    return client


def new_report(app, place=IN_101) -> int:
    with app.app_context():
        [added] = app_store().add_reports([NewReport("city.rubbish", *place)], actor="test")
    return added.id


def jpeg(color="orange", size=(640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def noise(side: int = 600) -> bytes:
    """A JPEG of random pixels, which do not compress: 600 px are over ``MAX_BYTES``."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "JPEG", quality=95)
    return out.getvalue()


def upload(client, report_id: int, data: bytes, name="IMG_1.jpg", mimetype="image/jpeg",
           **form):  # fmt: skip
    files = {"photo": (io.BytesIO(data), name, mimetype)}
    return client.post(f"/api/reports/{report_id}/media", data={**files, **form},
                       content_type="multipart/form-data")  # fmt: skip


def message(response) -> str:
    return response.get_json()["error"]["message"]


# --- upload and serve ----------------------------------------------------------------------------


def test_upload_then_serve_the_photo_and_its_thumbnail(client, media_app):
    report = new_report(media_app)
    created = upload(client, report, jpeg())
    assert created.status_code == 201
    body = created.get_json()
    assert set(body) == {"id", "stage", "url", "thumb_url", "width", "height", "bytes",
                         "created_at"}  # fmt: skip
    assert body["stage"] == "report" and (body["width"], body["height"]) == (640, 480)
    assert body["url"] == f"/api/media/{body['id']}"

    photo = client.get(body["url"])
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    assert len(photo.data) == body["bytes"]
    assert photo.headers["Cache-Control"].startswith("private")
    assert photo.headers["X-Content-Type-Options"] == "nosniff"
    thumb = client.get(body["thumb_url"])
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.data)).size == (320, 240)

    again = upload(client, report, jpeg())  # the phone sends it again
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]


def test_a_png_is_served_as_png(client, media_app):
    out = io.BytesIO()
    Image.new("RGBA", (50, 40), (255, 0, 0, 128)).save(out, "PNG")
    created = upload(client, new_report(media_app), out.getvalue(), "a.png", "image/png")
    assert created.status_code == 201
    assert client.get(created.get_json()["url"]).mimetype == "image/png"


def test_who_may_upload_and_see_photos(media_app):
    report = new_report(media_app)  # in street 1
    assert upload(as_(media_app, "worker_2"), report, jpeg()).status_code == 404  # out of scope
    assert upload(as_(media_app, "viewer_1"), report, jpeg()).status_code == 403  # reads only
    refused = upload(anonymous(media_app), report, jpeg())
    assert refused.status_code == 401
    created = upload(as_(media_app, "worker_1"), report, jpeg())
    assert created.status_code == 201
    url = created.get_json()["url"]

    assert as_(media_app, "viewer_1").get(url).status_code == 200
    for outsider in ("viewer_2", "worker_2"):
        for path in (url, url + "/thumb"):
            hidden = as_(media_app, outsider).get(path)
            assert hidden.status_code == 404, (outsider, path)
            assert "does not exist" in message(hidden)
    assert anonymous(media_app).get(url).status_code == 401
    assert media_app.test_client().get("/api/media/999999").status_code == 404


def test_feedback_photos_need_feedback_rights_and_the_assignment(media_app):
    report = new_report(media_app)
    worker = as_(media_app, "worker_1")
    refused = upload(worker, report, jpeg(), stage="feedback")
    assert refused.status_code == 403 and "only its assignee" in message(refused)
    assert upload(as_(media_app, "viewer_1"), report, jpeg(), stage="feedback").status_code == 403
    created = upload(media_app.test_client(), report, jpeg(), stage="feedback")
    assert created.status_code == 201 and created.get_json()["stage"] == "feedback"


@pytest.mark.parametrize(
    ("data", "name", "mimetype", "form", "status", "expected"),
    [
        (b"not a photo at all", "a.jpg", "image/jpeg", {}, 400, "photo: not a JPEG, PNG or WebP"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "a.png", "image/png", {}, 400,
         "photo: not a readable PNG image"),
        (b"\x00\x00\x00\x18ftypheic" + bytes(40), "a.heic", "image/heic", {}, 400,
         "photo: HEIC/HEIF photos cannot be read here"),
        (jpeg(), "a.jpg", "image/jpeg", {"stage": "after"}, 400, "stage: must be report or"),
        (noise(), "big.jpg", "image/jpeg", {}, 413,
         f"photo: more than {MAX_BYTES:,} bytes; at most {MAX_BYTES:,} (GEOGRID_MEDIA_MAX_BYTES)"),
    ],
    ids=["text", "png-garbage", "heic", "stage", "too-large"],
)  # fmt: skip
def test_bad_uploads_are_refused_naming_the_field(client, media_app, data, name, mimetype,
                                                  form, status, expected):  # fmt: skip
    report = new_report(media_app)
    refused = upload(client, report, data, name, mimetype, **form)
    assert refused.status_code == status and message(refused).startswith(expected)
    with media_app.app_context():
        assert app_store().media.of_report(report) == []


def test_an_upload_without_the_photo_field_is_refused(client, media_app):
    report = new_report(media_app)
    refused = client.post(f"/api/reports/{report}/media", data={"stage": "report"},
                          content_type="multipart/form-data")  # fmt: skip
    assert refused.status_code == 400 and message(refused).startswith("photo: attach")
    assert upload(client, 987654, jpeg()).status_code == 404


# --- residents, by ticket ------------------------------------------------------------------------


def ticket_photo(app, ticket: str, data: bytes):
    """:func:`add_ticket_photo` as the residents' page's route calls it, for a visitor."""
    with app.test_request_context(method="POST"):
        g.principal = Principal("anonymous", None, via="anonymous",
                                extra_actions=frozenset({"ticket"}))  # fmt: skip
        return add_ticket_photo(ticket, FileStorage(io.BytesIO(data), "IMG.jpg",
                                                    content_type="image/jpeg"))  # fmt: skip


def test_a_resident_adds_photos_by_ticket_until_closed_and_at_most_six(media_app):
    from geogrid.storage.media import MediaConflictError

    report = new_report(media_app)
    with media_app.app_context():
        ticket = app_store().get_report(report).ticket
    colours = ["red", "green", "blue", "yellow", "purple", "white"]
    for colour in colours:
        added = ticket_photo(media_app, ticket, jpeg(colour))
        assert added["created"] and added["stage"] == "report"
    assert ticket_photo(media_app, ticket, jpeg("red"))["created"] is False  # a resend
    with pytest.raises(MediaConflictError, match="has 6 report photos already"):
        ticket_photo(media_app, ticket, jpeg("black"))

    closed = new_report(media_app)
    with media_app.app_context():
        app_store().transition(closed, "closed", actor="test", note="重复 duplicate")
        ticket = app_store().get_report(closed).ticket
    with pytest.raises(MediaConflictError, match="is closed"):
        ticket_photo(media_app, ticket, jpeg())


# --- Open311 media_url ---------------------------------------------------------------------------


def test_open311_media_url_is_the_first_photo(client, media_app):
    report = new_report(media_app)
    entry = client.get(f"/open311/v2/requests/{report}.json").get_json()[0]
    assert entry["media_url"] is None
    first = upload(client, report, jpeg("red")).get_json()
    upload(client, report, jpeg("blue"))
    [entry] = client.get(f"/open311/v2/requests/{report}.json").get_json()
    assert entry["media_url"] == f"http://localhost/api/media/{first['id']}"
    listed = client.get(f"/open311/v2/requests.json?service_request_id={report}").get_json()
    assert listed[0]["media_url"] == entry["media_url"]
    xml = client.get(f"/open311/v2/requests/{report}.xml").data.decode()
    assert f"<media_url>http://localhost/api/media/{first['id']}</media_url>" in xml


def test_a_posted_media_url_is_given_back_until_the_request_has_a_photo(client, media_app):
    posted = client.post("/open311/v2/requests.json", data={
        "service_code": "city.rubbish", "lat": str(IN_101[1]), "long": str(IN_101[0]),
        "description": "楼下垃圾", "media_url": "https://img.example.cn/2.jpg"})  # fmt: skip
    assert posted.status_code == 201
    request_id = posted.get_json()[0]["service_request_id"]
    [entry] = client.get(f"/open311/v2/requests/{request_id}.json").get_json()
    assert entry["media_url"] == "https://img.example.cn/2.jpg"  # never fetched
    assert entry["description"] == "楼下垃圾"


def test_a_photo_may_be_larger_than_other_request_bodies(tmp_path):
    app = tiny_app(tmp_path, MAX_BODY_BYTES=100_000, MEDIA_MAX_BYTES=MAX_BYTES,
                   MEDIA_FOLDER=str(tmp_path / "media"))  # fmt: skip
    client, photo = app.test_client(), noise(300)
    assert 100_000 < len(photo) < MAX_BYTES
    assert upload(client, new_report(app), photo).status_code == 201
    too_long = client.post("/api/reports", json={"description": "x" * 120_000})
    assert too_long.status_code == 413  # every other body keeps MAX_BODY_BYTES
