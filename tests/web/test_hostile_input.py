"""Hostile input gets a 4xx that names the field, stores nothing, and never a 500.

Every case here once answered 500 (security review, F13), on every route that
takes that kind of input. Each runs over SQLite and over PostGIS.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest

from geogrid.reports import ReportQuery

EMPTY_GPX = b'<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"></gpx>'

#: Times at the ends of Python's calendar, where time-zone arithmetic overflows.
EXTREME_TIMES = ["0001-01-01", "9999-12-31", "0001-01-01T00:00:00+14:00",
                 "9999-12-31T23:59:59.999999-14:00"]  # fmt: skip
#: Every query parameter that takes a time, with the name its error must give.
TIME_PARAMETERS = [
    ("/api/reports?since={}", "since"),
    ("/api/reports?until={}", "until"),
    ("/api/reports.geojson?since={}", "since"),
    ("/api/stats?until={}", "until"),
    ("/api/stats/101?since={}", "since"),
    ("/api/heat?until={}", "until"),
    ("/api/analysis/hexagons?since={}", "since"),
    ("/api/analysis/hotspots?until={}", "until"),
    ("/api/analysis/heat.png?since={}", "since"),
    ("/api/analysis/hexagons/slices?until={}", "until"),
    ("/api/analysis/pai?train_since={}", "train_since"),
    ("/api/analysis/pai?test_until={}", "test_until"),
    ("/api/analysis/risk?date={}", "date"),
    ("/api/patrol/tracks?since={}&until=2026-11-23", "since"),
    ("/api/patrol/compliance?since=2026-11-23&until={}", "until"),
    ("/open311/v2/requests.json?start_date={}", "start_date"),
    ("/open311/v2/requests.xml?end_date={}", "end_date"),
    ("/ogc/collections/reports/items?datetime={}", "datetime"),
    ("/ogc/collections/reports/items?datetime=../{}", "datetime"),
]


@pytest.fixture(scope="module")
def client(each_store_app):
    return each_store_app.test_client()


def stored(app) -> int:
    from web.state import store

    with app.app_context():
        return store().find_reports(ReportQuery(limit=1)).total


def error_message(response) -> str:
    """The message of a 4xx in whichever shape the route answers: /api, OGC or Open311."""
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:300]
    if response.mimetype == "text/xml":
        return ET.fromstring(response.data).findtext("error/description")
    body = response.get_json()
    return body[0]["description"] if isinstance(body, list) else body["error"]["message"]


@pytest.mark.parametrize("moment", EXTREME_TIMES)
@pytest.mark.parametrize(("url", "field"), TIME_PARAMETERS)
def test_times_at_the_ends_of_the_calendar_are_refused_naming_the_field(client, url, field, moment):
    response = client.get(url.format(quote(moment)))
    assert response.status_code == 400
    assert error_message(response).startswith(f"{field}: ")


def test_gpx_compliance_refuses_a_day_at_the_end_of_the_calendar(client):
    response = client.post("/api/patrol/compliance?since=0001-01-01", data=EMPTY_GPX,
                           content_type="application/gpx+xml")  # fmt: skip
    assert response.status_code == 400
    assert error_message(response).startswith("since: ")


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00", "9999-12-31T23:59:59-14:00"])
@pytest.mark.parametrize(
    ("body", "field"),
    [({"category": "fire", "lon": 120.005, "lat": 28.005}, "body.reported_at"),
     ({"reports": [{"category": "fire", "lon": 120.005, "lat": 28.005}]},
      "reports[0].reported_at")],
)  # fmt: skip
def test_a_report_time_at_the_end_of_the_calendar_is_refused_and_nothing_stored(
    client, each_store_app, body, field, moment
):
    before = stored(each_store_app)
    if "reports" in body:
        body = {"reports": [{**body["reports"][0], "reported_at": moment}]}
    else:
        body = {**body, "reported_at": moment}
    response = client.post("/api/reports", json=body)
    assert error_message(response).startswith(f"{field}: ")
    assert stored(each_store_app) == before


# --- JSON bodies: lone surrogates, deep nesting, bytes that are not UTF-8 ---------------------

IN_101 = {"lon": 120.005, "lat": 28.005}
REPORT = {"category": "fire", **IN_101}
OPEN311 = {"service_code": "fire", "lat": 28.005, "long": 120.005}
LINE = {"type": "LineString", "coordinates": [[120.001, 28.001], [120.002, 28.002]]}
ROUTE = {"grid": "101", "shift": "day", "geometry": LINE}
DEEP = ["[" * 50_000 + "]" * 50_000, '{"a":' * 50_000 + "1" + "}" * 50_000,
        '{"category": ' + "[" * 50_000 + "]" * 50_000 + "}", "[" * 1000 + "]" * 1000]  # fmt: skip
#: Every route that reads a JSON body, with a body it would take.
JSON_ROUTES = {
    "/api/reports": REPORT,
    "/api/reports/1/transitions": {"status": "registered", "actor": "网格员"},
    "/api/patrol/plan": {"start": IN_101, "grids": ["101"]},
    "/api/patrol/routes": ROUTE,
    "/open311/v2/requests.json": OPEN311,
    "/open311/v2/requests.xml": OPEN311,
    "/api/inbox/read": {"ids": [1]},
    "/api/patrol/checkins": {
        "id": "c-1",
        "lon": 120.005,
        "lat": 28.005,
        "at": "2026-12-06T09:00:00+08:00",
    },
    # The residents' page: the body is read and refused before any ticket is looked up.
    "/api/public/reports": {"category": "city.rubbish", **IN_101, "description": "垃圾堆放"},
    "/api/public/tickets/7K3M-Q9XD-2PHT/rating": {"score": 5},
    # The redraw studio's: draft 1 does not exist, so nothing could be stored; the body
    # is read (and refused) before the draft is looked up.
    "/api/redraw/drafts": {"name": "草稿", "level": "grid", "parent": "1"},
    **{
        f"/api/redraw/drafts/1/{step}": {"version": 1}
        for step in ("edit", "propose", "branch", "submit", "approve", "withdraw", "publish")
    },
}
#: A lone surrogate in a JSON string (json.dumps writes it as an escape, "\\ud800"),
#: and the field the error must name.
SURROGATES = [
    ("/api/reports", {**REPORT, "description": "\ud800"}, "description"),
    ("/api/reports", {**REPORT, "reporter": "x\udfff"}, "reporter"),
    ("/api/reports", {**REPORT, "\ud800": 1}, "body"),
    ("/api/reports", {"reports": [{**REPORT, "external_id": "\udc00\ud800"}]},
     "reports[0].external_id"),
    ("/api/reports", "\ud800", "body"),
    ("/api/reports/1/transitions", {"status": "registered", "actor": "\ud800"}, "actor"),
    ("/api/patrol/plan", {"start": IN_101, "grids": ["\ud800"]}, "grids[0]"),
    ("/api/patrol/routes", {**ROUTE, "name": "\ud800"}, "name"),
    ("/open311/v2/requests.json", {**OPEN311, "description": "\ud800"}, "description"),
    ("/open311/v2/requests.xml", {**OPEN311, "service_code": "\ud800"}, "service_code"),
    ("/api/patrol/checkins", {"id": "c-2", "at": "2026-12-06T09:00:00+08:00", "note": "\ud800"},
     "note"),
    ("/api/public/reports", {"category": "city.rubbish", **IN_101, "description": "\ud800"},
     "description"),
    ("/api/reports/1/transitions", {"status": "dispatched", "assignee": "\ud800"}, "assignee"),
]  # fmt: skip
#: A NUL character, which PostgreSQL cannot keep in text, and the field the error must name.
NULS = [
    ("/api/reports", {**REPORT, "description": "a\x00b"}, "description"),
    ("/api/reports", {**REPORT, "external_id": "\x00"}, "external_id"),
    ("/api/reports/1/transitions", {"status": "registered", "actor": "x", "note": "\x00"},
     "note"),
    ("/api/patrol/routes", {**ROUTE, "grid": "10\x001"}, "grid"),
    ("/open311/v2/requests.json", {**OPEN311, "first_name": "\x00"}, "first_name"),
    ("/api/patrol/checkins", {"id": "c-3", "at": "2026-12-06T09:00:00+08:00", "note": "a\x00b"},
     "note"),
    ("/api/public/tickets/7K3M-Q9XD-2PHT/rating", {"score": 5, "note": "a\x00b"}, "note"),
    ("/api/reports/1/transitions", {"status": "dispatched", "client_id": "\x00"}, "client_id"),
]  # fmt: skip
#: Integers too large for a float, and the field the error must name.
HUGE_NUMBERS = [
    ("/api/reports", {**REPORT, "lon": 10**400}, "lon"),
    ("/api/reports", {"reports": [{**REPORT, "lat": -(10**400)}]}, "lat"),
    ("/api/patrol/plan", {"start": {**IN_101, "lon": 10**400}}, "start.lon"),
    ("/api/patrol/plan", {"start": IN_101, "max_length_m": 10**400}, "max_length_m"),
    ("/api/patrol/routes", {**ROUTE, "geometry": {**LINE, "coordinates": [[10**400, 28],
                                                                         [120, 28]]}},
     "geometry"),
    ("/open311/v2/requests.json", {**OPEN311, "lat": 10**400}, "lat"),
    ("/open311/v2/requests.json", {**OPEN311, "external_id": 10**400}, "external_id"),
    ("/api/patrol/checkins", {"id": "c-4", "at": "2026-12-06T09:00:00+08:00", "lon": 10**400,
                              "lat": 28.0}, "lon"),
    ("/api/inbox/read", {"ids": [10**400]}, "ids"),
]  # fmt: skip


def first_report(app) -> dict:
    from web.state import store

    with app.app_context():
        return store().get_report(1).to_dict()


def test_every_route_that_reads_json_is_listed(each_store_app):
    from web.openapi import openapi_document

    documented = {path.replace("{report_id}", "1").replace("{draft_id}", "1")
                  .replace("{ticket}", "7K3M-Q9XD-2PHT")
                  for path, item in openapi_document()["paths"].items()
                  for operation in item.values()
                  if "application/json" in operation.get("requestBody", {}).get("content", ())
                  }  # fmt: skip
    open311 = {"/open311/v2/requests.json", "/open311/v2/requests.xml"}
    assert documented | open311 == set(JSON_ROUTES)


@pytest.mark.parametrize("body", DEEP, ids=["array", "object", "in a field", "1000 deep"])
@pytest.mark.parametrize("url", JSON_ROUTES)
def test_deeply_nested_json_is_refused_on_every_json_route(client, each_store_app, url, body):
    before, report = stored(each_store_app), first_report(each_store_app)
    response = client.post(url, data=body, content_type="application/json")
    assert error_message(response).startswith("body: ")
    assert "nested deeper than" in error_message(response)
    assert (stored(each_store_app), first_report(each_store_app)) == (before, report)


@pytest.mark.parametrize(("url", "body", "field"), SURROGATES + NULS + HUGE_NUMBERS)
def test_text_or_numbers_no_store_keeps_in_json_are_refused_naming_the_field(
    client, each_store_app, url, body, field
):
    before, report = stored(each_store_app), first_report(each_store_app)
    response = client.post(url, data=json.dumps(body), content_type="application/json")
    named = error_message(response).split(": ")[0]
    assert named == field or named.endswith(f".{field}"), error_message(response)
    assert (stored(each_store_app), first_report(each_store_app)) == (before, report)


@pytest.mark.parametrize("url", JSON_ROUTES)
def test_a_json_body_that_is_not_utf8_is_refused(client, each_store_app, url):
    before = stored(each_store_app)
    body = json.dumps(JSON_ROUTES[url])[:-1].encode() + b', "note": "\xed\xa0\x80"}'  # a surrogate
    response = client.post(url, data=body, content_type="application/json")
    assert error_message(response).startswith("body: ")
    assert stored(each_store_app) == before


# --- query strings and forms: bytes that are not UTF-8 ---------------------------------------

#: An encoded surrogate, a stray byte, a cut character, a NUL.
UNSTORABLE = ["%ED%A0%80", "%FF", "%C3", "a%00b"]
QUERIES = [
    ("/api/reports?grid={}", "grid"),
    ("/api/grids?level={}", "level"),
    ("/api/lookup?lon=120.005&lat=28.005&crs={}", "crs"),
    ("/api/analysis/hotspots?category={}", "category"),
    ("/api/patrol/tracks?since=2026-11-23&until=2026-11-23&worker={}", "worker"),
    ("/open311/v2/requests.json?service_code={}", "service_code"),
    ("/ogc/collections/reports/items?f={}", "f"),
    ("/?lang={}", "lang"),
]


@pytest.mark.parametrize("raw", UNSTORABLE)
@pytest.mark.parametrize(("url", "field"), QUERIES)
def test_a_query_parameter_no_store_keeps_is_refused_naming_it(client, url, field, raw):
    assert error_message(client.get(url.format(raw))).startswith(f"{field}: ")


@pytest.mark.parametrize("raw", UNSTORABLE)
def test_an_open311_form_field_no_store_keeps_is_refused_and_nothing_stored(
    client, each_store_app, raw
):
    before = stored(each_store_app)
    form = f"service_code=fire&lat=28.005&long=120.005&description={raw}"
    response = client.post("/open311/v2/requests.json", data=form,
                           content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert error_message(response).startswith("description: ")
    assert stored(each_store_app) == before


def test_an_open311_multipart_field_with_a_nul_is_refused_and_nothing_stored(
    client, each_store_app
):
    before = stored(each_store_app)
    form = {**OPEN311, "description": "a\x00b"}
    response = client.post("/open311/v2/requests.json", data=form,
                           content_type="multipart/form-data")  # fmt: skip
    assert error_message(response).startswith("description: ")
    assert stored(each_store_app) == before


# --- ids no store can hold -------------------------------------------------------------------

#: Both stores keep ids as 64-bit signed integers: 2⁶³ - 1 is the largest.
HUGE_IDS = [2**63 - 1, 2**63, 2**64, 10**30]
ID_ROUTES = ["/api/reports/{}", "/api/reports/{}/transitions", "/open311/v2/requests/{}.json",
             "/open311/v2/requests/{}.xml", "/ogc/collections/reports/items/{}"]  # fmt: skip


@pytest.mark.parametrize("report_id", HUGE_IDS)
@pytest.mark.parametrize("url", ID_ROUTES)
def test_an_id_beyond_64_bits_is_an_unknown_report(client, each_store_app, url, report_id):
    before = stored(each_store_app)
    if url.endswith("transitions"):
        response = client.post(url.format(report_id), json={"status": "closed", "actor": "x"})
    else:
        response = client.get(url.format(report_id))
    assert response.status_code == 404
    assert "does not exist" in error_message(response)
    assert stored(each_store_app) == before


@pytest.mark.parametrize("report_id", HUGE_IDS)
def test_open311_lists_no_request_for_an_id_beyond_64_bits(client, report_id):
    response = client.get(f"/open311/v2/requests.json?service_request_id={report_id},1")
    assert response.status_code == 200
    assert [r["service_request_id"] for r in response.get_json()] == ["1"]


@pytest.mark.parametrize(
    ("url", "body", "content_type"),
    [("/api/reports", json.dumps(REPORT), "application/json"),
     ("/api/patrol/tracks?store=true", EMPTY_GPX, "application/gpx+xml")],
)  # fmt: skip
def test_an_actor_header_with_a_nul_is_refused_and_nothing_stored(
    client, each_store_app, url, body, content_type
):
    before = stored(each_store_app)
    response = client.post(url, data=body, content_type=content_type,
                           headers={"X-Actor": "a\x00b"})  # fmt: skip
    assert error_message(response).startswith("X-Actor: ")
    assert stored(each_store_app) == before
