"""Hostile input gets a 4xx that names the field, stores nothing, and never a 500.

Every case here once answered 500 (security review, F13), on every route that
takes that kind of input. Each runs over SQLite and over PostGIS.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest

from geogrid.reports import ReportQuery

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
    gpx = b'<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"></gpx>'
    response = client.post("/api/patrol/compliance?since=0001-01-01", data=gpx,
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
