"""Open311 GeoReport v2 at /open311/v2: services, posting requests, reading them back."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from geogrid.access import Contact
from geogrid.crs import wgs84_to_bd09, wgs84_to_gcj02
from geogrid.reports import ReportQuery
from tests.conftest import SOUTH, STEP, WEST
from tests.web.conftest import NOW, auth_header, tiny_app, token_for
from web.state import store as app_store

BASE = "/open311/v2"
#: A point in grid 101 (street 1), in WGS-84.
LON, LAT = WEST + 0.005, SOUTH + 0.005


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory):
    """One app for the tests that only read or are refused, set up once: they store nothing."""
    folder = tmp_path_factory.mktemp("open311")
    app = tiny_app(folder)
    with app.app_context():
        app_store()
    return app


@pytest.fixture
def shared_client(shared_app):
    return shared_app.test_client()


@pytest.fixture
def shared_store(shared_app):
    with shared_app.app_context():
        return app_store()


def post(client, fmt: str = "json", **fields):
    """POST a form-encoded service request, as Open311 clients do."""
    return client.post(f"{BASE}/requests.{fmt}", data=fields)


def a_request(**changes) -> dict:
    fields = {"service_code": "city.rubbish", "lat": str(LAT), "long": str(LON),
              "description": "楼下垃圾堆放三天了"}  # fmt: skip
    return {**fields, **changes}


def error_of(response) -> str:
    """The description of a JSON Open311 error reply, checking its shape on the way."""
    body = response.get_json()
    assert isinstance(body, list) and len(body) == 1, body
    assert body[0]["code"] == response.status_code
    return body[0]["description"]


def stored(store) -> int:
    return store.find_reports(ReportQuery()).total


def requests_list(client, query: str = "") -> list[dict]:
    response = client.get(f"{BASE}/requests.json?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# --- services ------------------------------------------------------------------------------


def test_services_list_every_category(shared_client, shared_store):
    services = shared_client.get(f"{BASE}/services.json").get_json()
    assert [s["service_code"] for s in services] == [c.code for c in shared_store.categories]
    neighbour = next(s for s in services if s["service_code"] == "dispute.neighbour")
    assert neighbour == {
        "service_code": "dispute.neighbour",
        "service_name": "邻里纠纷 Neighbour dispute",
        "description": "矛盾纠纷 › 邻里纠纷 (Disputes › Neighbour dispute); "
        "办结时限 deadline: 5 working_days",
        "metadata": False,
        "type": "realtime",
        "keywords": "邻里纠纷,Neighbour dispute,矛盾纠纷,Disputes",
        "group": "矛盾纠纷",
    }
    telecom = next(s for s in services if s["service_code"] == "public_order.fraud.telecom")
    assert telecom["group"] == "治安"


def test_services_in_xml(shared_client):
    response = shared_client.get(f"{BASE}/services.xml")
    assert response.status_code == 200 and response.mimetype == "text/xml"
    assert response.data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(response.data)
    assert root.tag == "services" and len(root) == 27
    fire = next(s for s in root if s.findtext("service_code") == "fire")
    assert fire.findtext("service_name") == "消防 Fire safety"
    assert fire.findtext("metadata") == "false" and fire.findtext("group") == "消防"


def test_service_definition(shared_client):
    response = shared_client.get(f"{BASE}/services/fire.lane.json")
    assert response.get_json() == {"service_code": "fire.lane", "attributes": []}
    root = ET.fromstring(shared_client.get(f"{BASE}/services/fire.lane.xml").data)
    assert root.tag == "service_definition" and root.findtext("service_code") == "fire.lane"
    assert root.find("attributes") is not None and len(root.find("attributes")) == 0


def test_unknown_service_definition_is_404(shared_client):
    response = shared_client.get(f"{BASE}/services/fire.lake.json")
    assert response.status_code == 404 and "fire.lake" in error_of(response)
    xml = shared_client.get(f"{BASE}/services/fire.lake.xml")
    assert xml.status_code == 404 and ET.fromstring(xml.data).findtext("error/code") == "404"


@pytest.mark.parametrize(
    "path", ["services.csv", "services/fire.html", "requests.geojson", "requests/1.txt"]
)
def test_unsupported_format_is_404(shared_client, path):
    response = shared_client.get(f"{BASE}/{path}")
    assert response.status_code == 404 and "use .json or .xml" in error_of(response)


def test_unknown_resource_is_an_open311_404(shared_client):
    response = shared_client.get(f"{BASE}/services")
    assert response.status_code == 404 and "services.json" in error_of(response)


# --- the Open311 client flow ---------------------------------------------------------------


def test_client_flow_post_then_read_back(client, store):
    created = post(client, **a_request(address_string="幸福路 1 号", first_name="三",
                                       last_name="张", phone="13800000000",
                                       media_url="https://img.example.cn/1.jpg"))  # fmt: skip
    assert created.status_code == 201
    [reply] = created.get_json()
    assert set(reply) == {"service_request_id", "service_notice", "account_id"}
    assert reply["account_id"] is None
    assert reply["service_notice"].startswith("已受理 Received; 由网格 101 办理，")

    one = client.get(f"{BASE}/requests/{reply['service_request_id']}.json")
    assert one.status_code == 200
    [entry] = one.get_json()
    assert entry["service_request_id"] == reply["service_request_id"]
    assert entry["status"] == "open" and entry["status_notes"] == "受理 Received"
    assert entry["service_code"] == "city.rubbish"
    assert entry["service_name"] == "垃圾堆放 Rubbish dumping"
    assert entry["description"] == "楼下垃圾堆放三天了"
    assert entry["agency_responsible"] == "网格 101"
    assert entry["address"] == "幸福路 1 号"
    assert entry["media_url"] == "https://img.example.cn/1.jpg"
    assert (entry["lat"], entry["long"]) == (pytest.approx(LAT), pytest.approx(LON))
    assert entry["address_id"] is None and entry["zipcode"] is None
    requested = datetime.fromisoformat(entry["requested_datetime"])
    assert entry["requested_datetime"].endswith("+08:00")
    assert requested == NOW
    assert datetime.fromisoformat(entry["expected_datetime"]) > requested
    assert entry["updated_datetime"] == entry["requested_datetime"]

    assert requests_list(client) == [entry]
    report = store.get_report(int(reply["service_request_id"]))
    assert report.source == "resident" and report.codes == {"street": "1", "grid": "101"}
    assert report.history[0].actor == "test.admin"  # the account, never the reporter
    assert report.contact == Contact(name="张三", phone="13800000000")
    assert "张三" not in report.description and "13800000000" not in json.dumps(entry)


def test_client_flow_over_real_http(app, live_server):
    key = token_for(app, "miniprogram", "intake")
    form = urllib.parse.urlencode(a_request(email="li@example.cn", api_key=key)).encode()
    posted = urllib.request.Request(
        f"{live_server}{BASE}/requests.json",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(posted, timeout=10) as response:
        assert response.status == 201
        assert response.headers["Content-Type"].startswith("application/json")
        [reply] = json.load(response)
    request_id = reply["service_request_id"]
    one = urllib.request.Request(f"{live_server}{BASE}/requests/{request_id}.json",
                                 headers=auth_header(app))  # fmt: skip
    with urllib.request.urlopen(one) as response:
        [entry] = json.load(response)
    assert entry["service_code"] == "city.rubbish" and entry["agency_responsible"] == "网格 101"
    listing = urllib.request.Request(
        f"{live_server}{BASE}/requests.xml?service_code=city&status=open&api_key={key}"
    )
    with pytest.raises(urllib.error.HTTPError) as intake_may_not_read:
        urllib.request.urlopen(listing)
    with intake_may_not_read.value as error:
        assert error.code == 403 and ET.fromstring(error.read()).tag == "errors"
    listing.headers.update(auth_header(app))
    listing.full_url = listing.full_url.split("&api_key=")[0]
    with urllib.request.urlopen(listing) as response:
        assert response.headers["X-Total-Count"] == "1"
        root = ET.fromstring(response.read())
    assert [r.findtext("service_request_id") for r in root] == [request_id]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(posted.full_url, data=f"service_code=fire&api_key={key}".encode(),
                               timeout=10)  # fmt: skip
    with refused.value as error:
        assert error.code == 400 and "lat/long" in json.load(error)[0]["description"]


def test_client_flow_in_xml(client):
    created = post(client, "xml", **a_request())
    assert created.status_code == 201 and created.mimetype == "text/xml"
    root = ET.fromstring(created.data)
    assert root.tag == "service_requests" and root[0].tag == "request"
    request_id = root.findtext("request/service_request_id")
    assert root.findtext("request/account_id") == ""
    one = ET.fromstring(client.get(f"{BASE}/requests/{request_id}.xml").data)
    assert one.findtext("request/status") == "open"
    assert one.findtext("request/address") == "" and one.findtext("request/lat") == str(LAT)


def test_a_json_body_is_accepted_too(client):
    body = {"service_code": "fire.lane", "lat": LAT, "long": LON, "account_id": 42}
    created = client.post(f"{BASE}/requests.json", json=body)
    assert created.status_code == 201
    [entry] = requests_list(client)
    assert entry["service_code"] == "fire.lane"
    assert entry["service_request_id"] == created.get_json()[0]["service_request_id"]


@pytest.mark.parametrize("crs, convert", [("GCJ-02", wgs84_to_gcj02), ("BD-09", wgs84_to_bd09)])
def test_chinese_map_coordinates_land_in_the_right_grid(client, store, crs, convert):
    # Just west of the edge between grids 202 and 204: read as WGS-84, the shifted
    # coordinates would land in the wrong grid or outside the district.
    lon, lat = WEST + 3 * STEP - 0.001, SOUTH + 1.5 * STEP
    shifted_lon, shifted_lat = (float(v[0]) for v in convert([lon], [lat]))
    assert shifted_lon > WEST + 3 * STEP
    created = post(client, **a_request(lat=repr(shifted_lat), long=repr(shifted_lon), crs=crs))
    assert created.status_code == 201, created.get_data(as_text=True)
    [entry] = requests_list(client)
    assert entry["agency_responsible"] == "网格 202"
    assert entry["lat"] == pytest.approx(lat, abs=1e-7)
    assert entry["long"] == pytest.approx(lon, abs=1e-7)
    report = store.get_report(int(entry["service_request_id"]))
    assert report.received_crs == crs and report.received_lon == shifted_lon


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"service_code": None}, "service_code: required"),
        ({"service_code": "city.rubish"}, "service_code: unknown category 'city.rubish'"),
        ({"lat": None, "long": None, "address_string": "幸福路 1 号"}, "address_string"),
        ({"lat": None, "long": None}, "lat/long: required"),
        ({"long": None}, "long: required"),
        ({"lat": "二十八"}, "lat: must be a number"),
        ({"lat": "95"}, "lat: 95.0 is out of range"),
        ({"long": "-200.5"}, "long: -200.5 is out of range"),
        ({"long": "nan"}, "long: must be a finite number"),
        ({"crs": "EPSG:4549"}, "crs: 'EPSG:4549' is not supported"),
        ({"crs": "Mars-2000"}, "crs: 'Mars-2000' is not supported"),
        ({"media_url": "file:///etc/passwd"}, "media_url: must be an http(s) URL"),
        ({"description": "很长" * 2001}, "description: must be at most 4000"),
        ({"phone": "1" * 201}, "phone: must be at most 200"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_stores_nothing(
    shared_client, shared_store, changes, field
):
    fields = {k: v for k, v in a_request(**changes).items() if v is not None}
    response = post(shared_client, **fields)
    assert response.status_code == 400
    assert field in error_of(response)
    assert stored(shared_store) == 0


@pytest.mark.parametrize("body", [[1, 2], "service_code=fire", {"service_code": ["fire"]}])
def test_a_bad_json_body_is_400(shared_client, shared_store, body):
    response = shared_client.post(f"{BASE}/requests.json", json=body)
    assert response.status_code == 400 and stored(shared_store) == 0


def test_a_bad_request_in_xml_gets_an_xml_error(shared_client, shared_store):
    response = post(shared_client, "xml", **a_request(lat="north"))
    root = ET.fromstring(response.data)
    assert response.status_code == 400 and root.tag == "errors"
    assert root.findtext("error/code") == "400"
    assert root.findtext("error/description").startswith("lat: must be a number")
    assert stored(shared_store) == 0


def test_a_body_over_the_limit_is_413_in_open311_shape(app, client, store):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = post(client, **a_request(description="长" * 1000))
    assert response.status_code == 413 and error_of(response)
    assert stored(store) == 0


def test_external_id_makes_a_resend_idempotent(client, store):
    first = post(client, **a_request(external_id="app-7f3a"))
    again = post(client, **a_request(external_id="app-7f3a"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()[0]["service_request_id"] == again.get_json()[0]["service_request_id"]
    other = post(client, **a_request(external_id="app-7f3a", description="另一件事"))
    assert other.status_code == 409 and "app-7f3a" in error_of(other)
    assert stored(store) == 1


# --- GET requests: filters, pages and 404s -------------------------------------------------


def _ids(entries: list[dict]) -> list[str]:
    return [entry["service_request_id"] for entry in entries]


def test_list_shows_every_request_of_the_last_90_days_newest_first(client, filled):
    entries = requests_list(client)
    assert len(entries) == 4
    assert _ids(entries) == sorted(_ids(entries), key=int, reverse=True)
    outside = next(e for e in entries if e["service_code"] == "public_order.theft")
    assert outside["agency_responsible"] is None and "指挥中心" in outside["service_notice"]


@pytest.mark.parametrize(
    "query, codes",
    [
        ("service_code=fire.lane", {"fire.lane"}),
        ("service_code=dispute,city", {"dispute.neighbour", "city.rubbish"}),
        ("service_code=fire&service_code=public_order", {"fire.lane", "public_order.theft"}),
        ("service_code=safety", set()),
    ],
)
def test_filter_by_service_code(client, filled, query, codes):
    assert {e["service_code"] for e in requests_list(client, query)} == codes


def test_unknown_service_code_filter_is_400(shared_client):
    response = shared_client.get(f"{BASE}/requests.json?service_code=fire,fires")
    assert response.status_code == 400 and "service_code: unknown category 'fires'" in error_of(
        response
    )


def test_filter_by_open_and_closed(client, filled):
    theft = next(r for r in filled.find_reports().items if r.category == "public_order.theft")
    filled.transition(theft.id, "closed", actor="x", note="重复上报")
    [closed] = requests_list(client, "status=closed")
    assert closed["service_request_id"] == str(theft.id)
    assert closed["status"] == "closed" and closed["status_notes"] == "结案 Closed: 重复上报"
    assert closed["service_notice"].startswith("已结案")
    opened = requests_list(client, "status=open")
    assert len(opened) == 3 and {e["status"] for e in opened} == {"open"}
    assert len(requests_list(client, "status=open,closed")) == 4
    response = client.get(f"{BASE}/requests.json?status=pending")
    assert response.status_code == 400 and "status: 'pending'" in error_of(response)


def test_status_notes_show_the_exact_step_and_the_latest_note(client, filled):
    report = filled.find_reports().items[0]
    filled.transition(report.id, "registered", actor="指挥中心", note="已登记")
    filled.transition(report.id, "dispatched", actor="指挥中心")
    [entry] = client.get(f"{BASE}/requests/{report.id}.json").get_json()
    assert entry["status"] == "open" and entry["status_notes"] == "分拨 Dispatched: 已登记"
    assert entry["updated_datetime"] >= entry["requested_datetime"]


def _w3c(moment: datetime) -> str:
    return urllib.parse.quote(moment.isoformat(timespec="seconds"))


def test_filter_by_dates(client, filled):
    now = NOW
    today = NOW.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    hour = timedelta(hours=1)
    assert len(requests_list(client, f"start_date={_w3c(now - hour)}")) == 4
    assert len(requests_list(client, f"start_date={_w3c(now + hour)}")) == 0
    assert len(requests_list(client, f"end_date={_w3c(now - hour)}")) == 0
    window = f"start_date={_w3c(now - hour)}&end_date={_w3c(now + hour)}"
    assert len(requests_list(client, window)) == 4
    assert len(requests_list(client, f"start_date={today}&end_date={today}")) == 4
    assert len(requests_list(client, "start_date=2025-01-01&end_date=2025-03-31")) == 0
    unescaped = (now - hour).astimezone(ZoneInfo("Asia/Shanghai")).isoformat(timespec="seconds")
    assert "+08:00" in unescaped and len(requests_list(client, f"start_date={unescaped}")) == 4


@pytest.mark.parametrize(
    "query, message",
    [
        ("start_date=2026-03-01T08:00:00", "start_date: '2026-03-01T08:00:00' needs a time zone"),
        ("end_date=yesterday", "end_date: 'yesterday' is not a W3C datetime"),
        ("start_date=2026-02-30", "start_date: '2026-02-30' is not a W3C datetime"),
        ("start_date=2025-01-01&end_date=2025-06-01", "may span at most 90 days"),
        ("start_date=2026-03-02&end_date=2026-02-01", "end_date: must be after start_date"),
        ("page=0", "page: must be a whole number from 1"),
        ("page_size=1001", "page_size: must be a whole number from 1 to 1000"),
        ("page_size=ten", "page_size: must be a whole number"),
    ],
)
def test_bad_filters_are_400_naming_the_field(shared_client, query, message):
    response = shared_client.get(f"{BASE}/requests.json?{query}")
    assert response.status_code == 400 and message in error_of(response)


def test_pages(client, filled):
    everything = _ids(requests_list(client))
    first = client.get(f"{BASE}/requests.json?page_size=3")
    assert first.headers["X-Total-Count"] == "4"
    second = requests_list(client, "page_size=3&page=2")
    assert _ids(first.get_json()) + _ids(second) == everything
    assert requests_list(client, "page_size=3&page=3") == []


def test_filter_by_ids_ignores_the_other_filters(client, filled):
    first, second = _ids(requests_list(client))[:2]
    query = f"service_request_id={second},{first},999999,SR-1&status=closed&service_code=fire"
    assert _ids(requests_list(client, query)) == [second, first]


def test_unknown_request_is_404(shared_client):
    for request_id in ("999999", "SR-1", "99999999999999999999999"):
        response = shared_client.get(f"{BASE}/requests/{request_id}.json")
        assert response.status_code == 404 and request_id in error_of(response)


@pytest.mark.parametrize("moment", ["2026-03-01 08:00:00", "2026-03-01t08:00", "2026-03-01x08:00"])
def test_a_w3c_time_without_its_zone_is_refused_whatever_its_separator(shared_client, moment):
    response = shared_client.get(f"{BASE}/requests.json?start_date={moment}")
    assert response.status_code == 400 and "needs a time zone" in error_of(response)
