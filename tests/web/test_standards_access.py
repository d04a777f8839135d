"""Who may use the standards' endpoints (Open311, OGC API), and what they never show.

Open311 ``POST requests`` needs ``report.create`` (``api_key`` is a token), ``GET``
needs ``report.read`` and answers in the reader's scope; OGC API serves the grids
to everyone, scoped readers their grids only, and the reports to ``report.read``.
A reporter's contact details are stored apart and are never in either.

The tiny district has streets "1" and "2" and grids "101"…"204"; the sample
reports are r-1 and r-2 in grid 101, r-3 in grid 204, r-4 outside every grid.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from geogrid.access import Contact
from geogrid.reports import ReportQuery
from tests.conftest import SOUTH, WEST
from tests.web.conftest import anonymous, tiny_app, token_for
from web.state import store as app_store

BASE = "/open311/v2"
#: A point in grid 101 (street 1), in WGS-84.
LON, LAT = WEST + 0.005, SOUTH + 0.005
CONTACT_FORM = {"first_name": "三", "last_name": "张", "phone": "13800001234",
                "email": "zhang@example.cn", "device_id": "IMEI-861234",
                "account_id": "acct-4242"}  # fmt: skip
#: The contact details, whole and masked: none may appear in Open311 or OGC replies.
CONTACT_TRACES = ("张三", "张*", "13800001234", "138****1234", "zhang@example.cn",
                  "z***@example.cn", "IMEI-861234", "****1234", "acct-4242", "****4242",
                  "contact")  # fmt: skip


def a_request(**changes) -> dict:
    fields = {"service_code": "city.rubbish", "lat": str(LAT), "long": str(LON),
              "description": "楼下垃圾堆放三天了"}  # fmt: skip
    return {**fields, **changes}


def open311_error(response, status: int) -> str:
    """The description of an Open311 error reply (JSON or XML), checking status and shape."""
    assert response.status_code == status, response.get_data(as_text=True)
    if response.mimetype == "text/xml":
        root = ET.fromstring(response.data)
        assert root.tag == "errors" and root[0].findtext("code") == str(status)
        return root[0].findtext("description")
    [error] = response.get_json()
    assert error["code"] == status
    return error["description"]


def stored_count(app) -> int:
    with app.app_context():
        return app_store().find_reports(ReportQuery(limit=1)).total


@pytest.fixture(scope="module")
def tokens(each_store_app):
    """Tokens of the accounts these tests read and write as, one set per store."""
    roles = {"intake.app": ("intake", None), "viewer": ("viewer", None),
             "viewer.street2": ("viewer", ["2"]), "commander": ("commander", None),
             "commander.street1": ("commander", ["1"]),
             "viewer.grid101": ("viewer", ["101"])}  # fmt: skip
    return {name: token_for(each_store_app, name, role, scope)
            for name, (role, scope) in roles.items()}  # fmt: skip


def client_as(app, tokens, name: str | None):
    """A test client of ``name``'s account; None: anonymous."""
    client = anonymous(app)
    if name is not None:
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {tokens[name]}"
    return client


def sample_id(app, external_id: str) -> int:
    with app.app_context():
        page = app_store().find_reports(ReportQuery(limit=100))
    return next(r.id for r in page.items if r.external_id == external_id)


# --- Open311 POST: api_key -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_open311_post_without_a_key_is_refused_in_the_open311_shape(each_store_app, fmt):
    before = stored_count(each_store_app)
    refused = anonymous(each_store_app).post(f"{BASE}/requests.{fmt}", data=a_request())
    assert "report.create" in open311_error(refused, 401)
    assert stored_count(each_store_app) == before


def test_open311_post_with_a_key_that_is_no_token_is_401(each_store_app):
    refused = anonymous(each_store_app).post(f"{BASE}/requests.json",
                                             data=a_request(api_key="not-a-token"))  # fmt: skip
    open311_error(refused, 401)


def test_open311_post_by_an_account_that_may_not_report_is_403(each_store_app, tokens):
    refused = anonymous(each_store_app).post(f"{BASE}/requests.json",
                                             data=a_request(api_key=tokens["viewer"]))  # fmt: skip
    assert "report.create" in open311_error(refused, 403)


@pytest.mark.parametrize("where", ["form", "query", "json"])
def test_open311_post_with_an_intake_key_names_its_account(each_store_app, tokens, where):
    client, key = anonymous(each_store_app), tokens["intake.app"]
    fields = a_request(external_id=f"key-in-{where}")
    if where == "form":
        created = client.post(f"{BASE}/requests.json", data={**fields, "api_key": key})
    elif where == "query":
        created = client.post(f"{BASE}/requests.json?api_key={key}", data=fields)
    else:
        created = client.post(f"{BASE}/requests.json", json={**fields, "api_key": key})
    assert created.status_code == 201, created.get_data(as_text=True)
    with each_store_app.app_context():
        report = app_store().get_report(int(created.get_json()[0]["service_request_id"]))
    assert [entry.actor for entry in report.history] == ["intake.app"]


# --- personal data (F2) ----------------------------------------------------------------------


def test_contact_details_are_stored_apart_and_never_served(each_store_app, tokens):
    """F2: name, phone, e-mail, device and account ids go to the Contact, nowhere else."""
    form = a_request(**CONTACT_FORM, api_key=tokens["intake.app"], external_id="f2")
    created = anonymous(each_store_app).post(f"{BASE}/requests.json", data=form)
    assert created.status_code == 201
    report_id = int(created.get_json()[0]["service_request_id"])
    with each_store_app.app_context():
        report = app_store().get_report(report_id)
    assert report.contact == Contact(name="张三", phone="13800001234", email="zhang@example.cn",
                                     device="IMEI-861234", account="acct-4242")  # fmt: skip
    assert report.history[0].actor == "intake.app"
    stored = json.dumps(report.to_dict(), ensure_ascii=False)
    assert not [trace for trace in CONTACT_TRACES if trace in stored]

    paths = [f"{BASE}/requests.json", f"{BASE}/requests.xml",
             f"{BASE}/requests/{report_id}.json", f"{BASE}/requests/{report_id}.xml",
             f"{BASE}/requests.json?service_request_id={report_id}",
             "/ogc/collections/reports/items?limit=100",
             f"/ogc/collections/reports/items/{report_id}"]  # fmt: skip
    for name in (None, "viewer", "commander", "commander.street1"):
        client = client_as(each_store_app, tokens, name)
        for path in paths:
            reply = client.get(path)
            assert reply.status_code == (401 if name is None else 200), (name, path)
            text = reply.get_data(as_text=True)
            assert str(report_id) in text or name is None, (name, path)
            assert not [trace for trace in CONTACT_TRACES if trace in text], (name, path)


# --- Open311 GET: report.read and scope -------------------------------------------------------


@pytest.mark.parametrize("path", ["requests.json", "requests.xml", "requests/1.json"])
def test_open311_get_requests_is_not_anonymous(each_store_app, path):
    assert "report.read" in open311_error(anonymous(each_store_app).get(f"{BASE}/{path}"), 401)


def test_open311_services_stay_open_to_everyone(each_store_app):
    assert anonymous(each_store_app).get(f"{BASE}/services.json").status_code == 200


def test_open311_get_shows_only_the_readers_scope(each_store_app, tokens):
    in_101, in_204 = sample_id(each_store_app, "r-1"), sample_id(each_store_app, "r-3")
    street2 = client_as(each_store_app, tokens, "viewer.street2")
    listed = street2.get(f"{BASE}/requests.json?page_size=100")
    agencies = {entry["agency_responsible"] for entry in listed.get_json()}
    assert agencies == {"网格 204"}
    assert listed.headers["X-Total-Count"] == str(len(listed.get_json()))
    by_ids = street2.get(f"{BASE}/requests.json?service_request_id={in_101},{in_204}")
    assert [e["service_request_id"] for e in by_ids.get_json()] == [str(in_204)]
    assert "does not exist" in open311_error(street2.get(f"{BASE}/requests/{in_101}.json"), 404)
    assert "does not exist" in open311_error(street2.get(f"{BASE}/requests/{in_101}.xml"), 404)
    assert street2.get(f"{BASE}/requests/{in_204}.json").status_code == 200
    everyone = client_as(each_store_app, tokens, "viewer")
    both = everyone.get(f"{BASE}/requests.json?service_request_id={in_101},{in_204}")
    assert len(both.get_json()) == 2


# --- OGC API: grids open, scoped; reports need report.read ----------------------------------


def test_ogc_hides_reports_from_those_who_may_not_read_them(each_store_app, tokens):
    visitor = anonymous(each_store_app)
    listed = visitor.get("/ogc/collections").get_json()["collections"]
    assert [c["id"] for c in listed] == ["street", "grid"]
    document = visitor.get("/ogc/api").get_json()
    assert document["components"]["parameters"]["collectionId"]["schema"]["enum"] == [
        "street", "grid"]  # fmt: skip
    for path in ("/ogc/collections/reports", "/ogc/collections/reports/items",
                 "/ogc/collections/reports/items/1"):  # fmt: skip
        assert visitor.get(path).status_code == 401, path
    assert visitor.get("/ogc/collections/grid/items").get_json()["numberMatched"] == 8
    viewer = client_as(each_store_app, tokens, "viewer")
    listed = viewer.get("/ogc/collections").get_json()["collections"]
    assert [c["id"] for c in listed] == ["street", "grid", "reports"]


def test_ogc_grids_for_a_scoped_reader_are_those_it_covers(each_store_app, tokens):
    street2 = client_as(each_store_app, tokens, "viewer.street2")
    grids = street2.get("/ogc/collections/grid/items?limit=100").get_json()
    assert sorted(f["id"] for f in grids["features"]) == ["201", "202", "203", "204"]
    assert grids["numberMatched"] == grids["numberReturned"] == 4
    streets = street2.get("/ogc/collections/street/items").get_json()
    assert [f["id"] for f in streets["features"]] == ["2"]
    assert "the 4 grids" in street2.get("/ogc/collections/grid").get_json()["description"]
    assert street2.get("/ogc/collections/grid/items/101").status_code == 404
    assert street2.get("/ogc/collections/grid/items/204").status_code == 200
    grid101 = client_as(each_store_app, tokens, "viewer.grid101")
    assert grid101.get("/ogc/collections/street/items").get_json()["numberMatched"] == 0
    assert grid101.get("/ogc/collections/street").status_code == 200


def test_ogc_reports_for_a_scoped_reader_are_those_in_scope(each_store_app, tokens):
    in_101, in_204 = sample_id(each_store_app, "r-1"), sample_id(each_store_app, "r-3")
    street2 = client_as(each_store_app, tokens, "viewer.street2")
    page = street2.get("/ogc/collections/reports/items?limit=100").get_json()
    assert in_204 in [f["id"] for f in page["features"]]
    assert all(f["properties"]["codes"]["street"] == "2" for f in page["features"])
    assert page["numberMatched"] == page["numberReturned"]
    assert street2.get(f"/ogc/collections/reports/items/{in_101}").status_code == 404
    assert street2.get(f"/ogc/collections/reports/items/{in_204}").status_code == 200


# --- browser safety (F9) ---------------------------------------------------------------------


def test_open311_post_from_another_sites_page_is_refused(each_store_app, tokens):
    before = stored_count(each_store_app)
    refused = anonymous(each_store_app).post(
        f"{BASE}/requests.json", data=a_request(api_key=tokens["intake.app"]),
        headers={"Origin": "http://evil.example"},
    )  # fmt: skip
    assert "Origin" in open311_error(refused, 403)
    assert stored_count(each_store_app) == before


@pytest.mark.parametrize("path", [f"{BASE}/services.json", f"{BASE}/requests.json",
                                  "/ogc", "/ogc/collections", "/ogc/collections/grid/items",
                                  "/ogc/api"])  # fmt: skip
def test_another_host_is_refused_and_never_in_links(each_store_app, path):
    client = each_store_app.test_client()
    refused = client.get(path, headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert "is not trusted" in refused.get_data(as_text=True)
    assert "//evil.example" not in refused.get_data(as_text=True)  # no link to it
    served = client.get(path)
    assert served.status_code == 200 and "evil.example" not in served.get_data(as_text=True)


def test_ogc_links_use_the_allowed_host(each_store_app):
    body = each_store_app.test_client().get("/ogc/collections/grid/items?limit=2").get_json()
    assert {link["href"].split("/")[2] for link in body["links"]} == {"localhost"}


# --- anonymous intake, when allowed, is rate limited -----------------------------------------


def test_anonymous_intake_is_rate_limited_per_client_when_allowed(tmp_path, tiny_manifest):
    app = tiny_app(
        tmp_path,
        tiny_manifest,
        ANONYMOUS_INTAKE_RATE_LIMIT="2 per minute",
        ANONYMOUS_ACTIONS=["lookup", "grid.read", "service.list", "report.create"],
    )
    visitor = anonymous(app)
    for number in range(2):
        created = visitor.post(f"{BASE}/requests.json", data=a_request(external_id=f"a{number}"))
        assert created.status_code == 201
    with app.app_context():
        report = app_store().get_report(int(created.get_json()[0]["service_request_id"]))
    assert report.history[0].actor == "anonymous"
    refused = visitor.post(f"{BASE}/requests.xml", data=a_request(external_id="a2"))
    open311_error(refused, 429)
    key = token_for(app, "intake.app", "intake")
    for number in range(3):  # a signed-in intake system is not limited
        sent = visitor.post(f"{BASE}/requests.json",
                            data=a_request(api_key=key, external_id=f"k{number}"))  # fmt: skip
        assert sent.status_code == 201


def test_a_deeply_nested_json_post_without_a_key_is_refused_not_a_crash(each_store_app):
    deep = b"[" * 50_000 + b"]" * 50_000
    refused = anonymous(each_store_app).post(f"{BASE}/requests.json", data=deep,
                                             content_type="application/json")  # fmt: skip
    assert refused.status_code in (400, 401)
