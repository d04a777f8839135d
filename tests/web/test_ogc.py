"""OGC API – Features at /ogc: the routes with the test client, then real clients over HTTP.

The tiny district has streets "1", "2" and grids "101"…"204" (0.01° squares,
"101" the south-west one); the sample reports are r-1 and r-2 in grid 101, r-3
in grid 204, r-4 half a degree west of everything. Tests that only read share
one app holding both (``reader``, ``sample``): importing the district costs
most of a second per app. Tests that change something get a fresh app.

GDAL's ``ogrinfo`` (OAPIF driver) and OWSLib read every collection from the
app served over HTTP. Without ``ogrinfo`` those tests skip on a developer's
machine and fail under CI (``CI=true``), like the PostGIS tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from geogrid.reports import NewReport
from tests.conftest import SOUTH, STEP, WEST
from tests.web.conftest import auth_header, sample_reports, tiny_app
from web.ogc import CONFORMANCE, GEOJSON, OPENAPI

GRIDS = ["101", "102", "103", "104", "201", "202", "203", "204"]
COUNTS = {"street": 2, "grid": 8, "reports": 4}


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory):
    """One app over the tiny district and the sample reports, for tests that only read."""
    folder = tmp_path_factory.mktemp("ogc")
    return tiny_app(folder)


@pytest.fixture(scope="module")
def sample(shared_app):
    """The shared app's store, with :func:`sample_reports` in it."""
    from web.state import store

    with shared_app.app_context():
        store().add_reports(sample_reports(), actor="test")
        return store()


@pytest.fixture(scope="module")
def reader(shared_app, sample):
    """A test client of the shared app; its store holds the sample reports."""
    return shared_app.test_client()


def _items(client, collection: str = "grid", **params):
    response = client.get(f"/ogc/collections/{collection}/items", query_string=params)
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == GEOJSON
    return response.get_json()


def _ids(body: dict) -> list:
    return [feature["id"] for feature in body["features"]]


def _external_ids(body: dict) -> list[str]:
    return sorted(feature["properties"]["external_id"] for feature in body["features"])


def _link(body: dict, rel: str) -> dict | None:
    return next((link for link in body["links"] if link["rel"] == rel), None)


def _follow(client, link: dict) -> dict:
    parts = urlsplit(link["href"])
    response = client.get(parts.path, query_string=parts.query)
    assert response.status_code == 200
    return response.get_json()


# --- landing page, conformance, collections --------------------------------------------------


@pytest.mark.parametrize("path", ["/ogc", "/ogc/", "/ogc/?f=json"])
def test_landing_page(reader, path):
    response = reader.get(path)
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["title"] == "geogrid 网格 — 小区 Tiny district" and body["description"]
    links = {link["rel"]: link for link in body["links"]}
    assert links["service-desc"]["type"] == OPENAPI
    assert links["service-desc"]["href"].endswith("/ogc/api")
    assert links["conformance"]["href"].endswith("/ogc/conformance")
    assert links["data"]["href"].endswith("/ogc/collections")
    assert all(link["type"] for link in body["links"])


def test_conformance(reader):
    body = reader.get("/ogc/conformance").get_json()
    assert body["conformsTo"] == [
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    ]


def test_collections_are_the_levels_then_reports(reader):
    body = reader.get("/ogc/collections").get_json()
    assert [c["id"] for c in body["collections"]] == ["street", "grid", "reports"]
    assert [c["title"] for c in body["collections"]] == ["街道 street", "网格 grid", "事件 reports"]
    assert _link(body, "self")["href"].endswith("/ogc/collections")
    for collection in body["collections"]:
        assert collection["itemType"] == "feature"
        assert collection["extent"]["spatial"]["crs"].endswith("/OGC/1.3/CRS84")
        items = _link(collection, "items")
        assert items["type"] == GEOJSON
        assert items["href"].endswith(f"/ogc/collections/{collection['id']}/items")


def test_level_collection_extent_is_its_grids(reader):
    body = reader.get("/ogc/collections/grid").get_json()
    assert body["extent"]["spatial"]["bbox"] == [[WEST, SOUTH, WEST + 4 * STEP, SOUTH + 2 * STEP]]
    assert "temporal" not in body["extent"]
    assert _link(body, "self")["href"].endswith("/ogc/collections/grid")


def test_reports_collection_extent_is_the_reports(reader, sample):
    body = reader.get("/ogc/collections/reports").get_json()
    # r-4, outside every grid, half a degree west; r-3 the north-east one, in grid 204.
    assert body["extent"]["spatial"]["bbox"] == [[WEST - 0.5, SOUTH, WEST + 3.5 * STEP,
                                                  SOUTH + 1.5 * STEP]]  # fmt: skip
    first = sample.find_reports().items[-1].received_at
    start, end = body["extent"]["temporal"]["interval"][0]
    assert start == first.isoformat().replace("+00:00", "Z") and end is None


def test_reports_collection_without_reports_spans_the_district(client):
    extent = client.get("/ogc/collections/reports").get_json()["extent"]
    assert extent["spatial"]["bbox"] == [[WEST, SOUTH, WEST + 4 * STEP, SOUTH + 2 * STEP]]
    assert "temporal" not in extent


# --- items ----------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["street", "grid"])
def test_level_items(reader, level):
    body = _items(reader, level)
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == body["numberReturned"] == COUNTS[level]
    assert body["timeStamp"].endswith("Z")
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "Polygon"
    assert feature["properties"]["level"] == level and feature["properties"]["households"]
    assert _link(body, "self")["type"] == GEOJSON
    assert _link(body, "collection")["href"].endswith(f"/ogc/collections/{level}")
    assert _link(body, "next") is None and _link(body, "prev") is None


def test_default_limit_is_ten(client, store):
    more = [NewReport("city.rubbish", WEST + 0.001 * i, SOUTH + 0.001, external_id=f"x-{i}")
            for i in range(1, 13)]  # fmt: skip
    store.add_reports(more, actor="test")
    body = _items(client, "reports")
    assert body["numberReturned"] == 10 and body["numberMatched"] == 12
    assert parse_qs(urlsplit(_link(body, "next")["href"]).query)["limit"] == ["10"]


def test_paging_follows_next_links_with_the_same_parameters(reader):
    body = _items(reader, "grid", limit=3, bbox="119,27,121,29", f="json")
    seen, pages = _ids(body), 1
    assert body["numberMatched"] == 8 and body["numberReturned"] == 3
    while _link(body, "next"):
        query = parse_qs(urlsplit(_link(body, "next")["href"]).query)
        assert query["bbox"] == ["119,27,121,29"] and query["f"] == ["json"]
        body = _follow(reader, _link(body, "next"))
        seen += _ids(body)
        pages += 1
    assert seen == GRIDS and pages == 3
    assert parse_qs(urlsplit(_link(body, "prev")["href"]).query)["offset"] == ["3"]


def test_limit_above_the_maximum_is_lowered_to_it(client, app):
    app.config["PAGE_LIMIT"] = 5
    body = _items(client, "grid", limit=1000)
    assert body["numberReturned"] == 5 and body["numberMatched"] == 8
    assert parse_qs(urlsplit(_link(body, "next")["href"]).query)["limit"] == ["5"]


def test_a_huge_limit_is_lowered_too(reader):
    assert _items(reader, "grid", limit="9" * 25)["numberReturned"] == 8


def test_offset_past_the_end_is_an_empty_page(reader):
    body = _items(reader, "grid", offset=100)
    assert body["features"] == [] and body["numberMatched"] == 8
    assert _link(body, "next") is None and _link(body, "prev") is not None


def test_bbox_selects_grids_that_intersect_it(reader):
    inside_101 = f"{WEST + 0.002},{SOUTH + 0.002},{WEST + 0.003},{SOUTH + 0.003}"
    assert _ids(_items(reader, "grid", bbox=inside_101)) == ["101"]
    assert _ids(_items(reader, "street", bbox=inside_101)) == ["1"]
    # Grid 101's own outline touches its three neighbours: edges count as intersecting.
    outline_101 = f"{WEST},{SOUTH},{WEST + STEP},{SOUTH + STEP}"
    assert _ids(_items(reader, "grid", bbox=outline_101)) == ["101", "102", "103", "104"]
    assert _items(reader, "grid", bbox="0,0,1,1")["numberMatched"] == 0


def test_bbox_with_six_numbers_ignores_heights(reader):
    bbox = f"{WEST + 0.002},{SOUTH + 0.002},-100,{WEST + 0.003},{SOUTH + 0.003},100"
    assert _ids(_items(reader, "grid", bbox=bbox)) == ["101"]


def test_bbox_across_the_antimeridian(reader, sample):
    assert _ids(_items(reader, "grid", bbox=f"170,27,{WEST + 0.005},29")) == ["101", "102"]
    assert _external_ids(_items(reader, "reports", bbox="170,27,119.9,29")) == ["r-4"]


def test_bbox_across_the_antimeridian_pages_both_halves(reader, sample):
    bbox = f"{WEST + 0.02},27,{WEST + 0.01},29"  # r-3 east of 120.02; r-1, r-2, r-4 west of 120.01
    first = _items(reader, "reports", bbox=bbox, limit=3)
    second = _follow(reader, _link(first, "next"))
    assert first["numberMatched"] == second["numberMatched"] == 4
    ids = _ids(first) + _ids(second)
    assert len(ids) == len(set(ids)) == 4


def test_reports_items(reader, sample):
    body = _items(reader, "reports")
    assert body["numberMatched"] == 4 and _external_ids(body) == ["r-1", "r-2", "r-3", "r-4"]
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "Point" and "history" not in feature["properties"]
    street_1 = f"{WEST},{SOUTH},{WEST + 2 * STEP},{SOUTH + 2 * STEP}"
    assert _external_ids(_items(reader, "reports", bbox=street_1)) == ["r-1", "r-2"]


def test_reports_paging(reader, sample):
    first = _items(reader, "reports", limit=3)
    second = _follow(reader, _link(first, "next"))
    assert first["numberReturned"] == 3 and second["numberReturned"] == 1
    assert sorted(_ids(first) + _ids(second)) == [1, 2, 3, 4]
    assert _link(second, "next") is None


def test_datetime_filters_reports_by_received_time(reader, sample):
    received = sample.find_reports().items[0].received_at
    moment = received.isoformat().replace("+00:00", "Z")
    before = (received - timedelta(seconds=1)).isoformat()
    after = (received + timedelta(seconds=1)).isoformat()
    for matching in (moment, f"{before}/{after}", f"../{moment}", f"{moment}/..", f"/{after}"):
        assert _items(reader, "reports", datetime=matching)["numberMatched"] == 4, matching
    for missing in (before, f"../{before}", f"{after}/..", f"{after}/"):
        assert _items(reader, "reports", datetime=missing)["numberMatched"] == 0, missing


def test_datetime_with_an_offset_and_an_unencoded_plus(reader, sample):
    received = sample.find_reports().items[0].received_at
    in_china = received.astimezone(ZoneInfo("Asia/Shanghai")).isoformat()
    assert in_china.endswith("+08:00")
    assert _items(reader, "reports", datetime=in_china)["numberMatched"] == 4
    url = f"/ogc/collections/reports/items?datetime={in_china}"  # '+' arrives as a space
    assert reader.get(url).get_json()["numberMatched"] == 4


def test_datetime_matches_every_grid_since_grids_have_no_time(reader):
    body = _items(reader, "grid", datetime="2000-01-01T00:00:00Z/2000-01-02T00:00:00Z")
    assert body["numberMatched"] == 8


# --- single features ------------------------------------------------------------------------


def test_single_grid(reader):
    response = reader.get("/ogc/collections/grid/items/101?f=json")
    assert response.status_code == 200 and response.mimetype == GEOJSON
    feature = response.get_json()
    assert feature["type"] == "Feature" and feature["id"] == "101"
    assert feature["properties"]["name"] == "第1网格" and feature["properties"]["parent"] == "1"
    assert _link(feature, "self")["href"].endswith("/ogc/collections/grid/items/101")
    assert _link(feature, "collection")["href"].endswith("/ogc/collections/grid")


def test_single_report(reader, sample):
    report_id = sample.find_reports().items[0].id
    feature = reader.get(f"/ogc/collections/reports/items/{report_id}").get_json()
    assert feature["id"] == report_id and feature["geometry"]["type"] == "Point"
    assert feature["properties"]["external_id"] == "r-4"


@pytest.mark.parametrize(
    "path",
    [
        "/ogc/collections/rooms",
        "/ogc/collections/rooms/items",
        "/ogc/collections/rooms/items/1",
        "/ogc/collections/grid/items/999",
        "/ogc/collections/street/items/101",
        "/ogc/collections/reports/items/999",
        "/ogc/collections/reports/items/r-1",
        "/ogc/collections/reports/items/99999999999999999999999",
        "/ogc/nothing",
    ],
)
def test_unknown_collection_or_feature_is_404_json(reader, path):
    response = reader.get(path)
    assert response.status_code == 404 and response.mimetype == "application/json"
    assert response.get_json()["error"]["message"]


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("bbox=120,28,121", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=120,28,121,nan", "bbox"),
        ("bbox=120,29,121,28", "bbox"),
        ("bbox=120,28,190,29", "bbox"),
        ("bbox=", "bbox"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("offset=10000000000000000", "offset"),
        ("datetime=yesterday", "datetime"),
        ("datetime=2026-03-01", "datetime"),
        ("datetime=2026-03-01T08:00:00", "datetime"),
        ("datetime=2026-13-01T08:00:00Z", "datetime"),
        ("datetime=2026-03-02T00:00:00Z/2026-03-01T00:00:00Z", "datetime"),
        ("datetime=../..", "datetime"),
        ("datetime=2026-03-01T00:00:00Z/2026-03-02T00:00:00Z/..", "datetime"),
        ("filter=code%3D'101'", "filter"),
        ("f=html", "f"),
        ("limit=2&limit=3", "limit"),
    ],
)
def test_bad_query_parameters_are_400(reader, query, named):
    for collection in ("grid", "reports"):
        response = reader.get(f"/ogc/collections/{collection}/items?{query}")
        assert response.status_code == 400, query
        assert named in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "path", ["/ogc/", "/ogc/conformance", "/ogc/api", "/ogc/collections", "/ogc/collections/grid",
             "/ogc/collections/grid/items/101"],
)  # fmt: skip
def test_every_route_refuses_unknown_parameters_and_formats(reader, path):
    assert reader.get(f"{path}?f=json").status_code == 200
    assert reader.get(f"{path}?limit=5").status_code == 400
    assert reader.get(f"{path}?f=xml").status_code == 400


# --- the OpenAPI document -------------------------------------------------------------------


def _document(reader) -> dict:
    response = reader.get("/ogc/api")
    assert response.status_code == 200 and response.content_type == OPENAPI
    return response.get_json()


def test_openapi_document_describes_the_api(reader, shared_app):
    doc = _document(reader)
    assert doc["openapi"].startswith("3.0.") and doc["info"]["title"] and doc["info"]["version"]
    assert doc["servers"][0]["url"].endswith("/ogc")
    assert set(doc["paths"]) == {"/", "/conformance", "/api", "/collections",
                                 "/collections/{collectionId}",
                                 "/collections/{collectionId}/items",
                                 "/collections/{collectionId}/items/{featureId}"}  # fmt: skip
    for path in doc["paths"].values():
        operation = path["get"]
        assert operation["operationId"] and {"200", "400"} <= set(operation["responses"])
    items = doc["paths"]["/collections/{collectionId}/items"]["get"]
    names = [p["$ref"].rsplit("/", 1)[1] for p in items["parameters"]]
    assert names == ["collectionId", "bbox", "datetime", "limit", "offset", "f"]
    parameters = doc["components"]["parameters"]
    assert parameters["collectionId"]["schema"]["enum"] == ["street", "grid", "reports"]
    maximum = shared_app.config["PAGE_LIMIT"]
    limit = {"type": "integer", "minimum": 1, "maximum": maximum, "default": 10}
    assert parameters["limit"]["schema"] == limit


def test_openapi_document_is_valid_openapi_30(reader):
    doc = _document(reader)
    try:
        from openapi_spec_validator import validate
    except ImportError:  # schemathesis checks it against the OpenAPI 3.0 JSON schema instead
        schemathesis.openapi.from_dict(doc).validate()
    else:
        validate(doc)


def test_responses_match_the_openapi_document(reader, sample):
    schema = schemathesis.openapi.from_dict(_document(reader))
    checked = {
        "/": "/ogc/", "/conformance": "/ogc/conformance", "/collections": "/ogc/collections",
        "/collections/{collectionId}": "/ogc/collections/reports",
        "/collections/{collectionId}/items": "/ogc/collections/grid/items?limit=2&offset=2",
        "/collections/{collectionId}/items/{featureId}": "/ogc/collections/reports/items/1",
    }  # fmt: skip
    for path, url in [*checked.items(), ("/collections/{collectionId}", "/ogc/collections/no")]:
        assert schema[path]["GET"].validate_response(reader.get(url)) is not False, url
    assert CONFORMANCE[0] in reader.get("/ogc/conformance").get_json()["conformsTo"]


def test_no_request_makes_the_ogc_api_fail(shared_app, sample):
    """Generated requests, valid and not: never a 500; codes, types and bodies as documented."""
    schema = schemathesis.openapi.from_wsgi("/ogc/api", shared_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6  # schemathesis leaves out the document's own path
    checks = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
              schemathesis.checks.content_type_conformance,
              schemathesis.checks.response_schema_conformance]  # fmt: skip
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def check(case):
            case.call_and_validate(checks=checks)

        check()


# --- real clients over HTTP -----------------------------------------------------------------


@pytest.fixture
def ogrinfo():
    """Run GDAL's ``ogrinfo -ro`` and return its output; checked before the server starts."""
    program = shutil.which("ogrinfo")
    if program is None:
        reason = "GDAL's ogrinfo is not installed (Debian: gdal-bin)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"ogrinfo is required under CI: {reason}")
        pytest.skip(reason)
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": "10", "NO_PROXY": "127.0.0.1,localhost",
           "no_proxy": "127.0.0.1,localhost"}  # fmt: skip

    def run(*args: str, headers: dict[str, str] | None = None) -> str:
        sent = "\r\n".join(f"{name}: {value}" for name, value in (headers or {}).items())
        done = subprocess.run([program, "-ro", *args], capture_output=True, text=True,
                              env={**env, "GDAL_HTTP_HEADERS": sent} if sent else env,
                              timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


def test_ogrinfo_lists_every_collection(ogrinfo, app, live_server, filled):
    anonymous = ogrinfo("-so", f"OAPIF:{live_server}/ogc")
    listing = ogrinfo("-so", f"OAPIF:{live_server}/ogc", headers=auth_header(app))
    for seen in (anonymous, listing):
        assert "1: street (title: 街道 street) (Polygon)" in seen
        assert "2: grid (title: 网格 grid) (Polygon)" in seen
    assert "3: reports (title: 事件 reports) (Point)" in listing
    assert "reports" not in anonymous  # report.read is not anonymous by default


@pytest.mark.parametrize("collection", ["street", "grid", "reports"])
def test_ogrinfo_reads_every_collection(ogrinfo, app, live_server, filled, collection):
    # The grids are read anonymously, as GIS clients do; the reports with a token.
    headers = auth_header(app) if collection == "reports" else None
    summary = ogrinfo("-so", f"OAPIF:{live_server}/ogc", collection, headers=headers)
    assert f"Feature Count: {COUNTS[collection]}" in summary
    if collection == "reports":  # the reports' box, read from the collection's extent
        assert "Extent: (119.500000, 28.000000) - (120.035000, 28.015000)" in summary
    # Pages of 3 make GDAL follow the next links.
    features = ogrinfo("-al", "-q", "-oo", "PAGE_SIZE=3", f"OAPIF:{live_server}/ogc", collection,
                       headers=headers)  # fmt: skip
    assert features.count(f"OGRFeature({collection}):") == COUNTS[collection]
    if collection == "grid":
        assert all(f"code (String) = {code}\n" in features for code in GRIDS)
    if collection == "reports":
        assert (
            "description (String) = 楼上漏水" in features and "POINT (120.005 28.005)" in features
        )


def test_ogrinfo_spatial_filter_is_sent_as_bbox(ogrinfo, app, live_server, filled):
    spat = [str(v) for v in (WEST + 0.001, SOUTH + 0.001, WEST + 0.009, SOUTH + 0.009)]
    features = ogrinfo("-al", "-q", "-spat", *spat, f"OAPIF:{live_server}/ogc", "reports",
                       headers=auth_header(app))  # fmt: skip
    assert features.count("OGRFeature(reports):") == 2


def test_owslib_reads_the_grids_anonymously(live_server, filled, monkeypatch):
    from owslib.ogcapi.features import Features

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    api = Features(f"{live_server}/ogc")
    assert api.feature_collections() == ["street", "grid"]
    assert api.collection_items("grid", limit=3)["numberMatched"] == COUNTS["grid"]


def test_owslib_reads_every_collection(app, live_server, filled, monkeypatch):
    from owslib.ogcapi.features import Features

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    api = Features(f"{live_server}/ogc", headers=auth_header(app))
    assert api.conformance()["conformsTo"] == list(CONFORMANCE)
    assert api.feature_collections() == ["street", "grid", "reports"]
    assert set(api.api()["paths"]) >= {"/collections/{collectionId}/items"}
    for collection in api.collections()["collections"]:
        assert api.collection(collection["id"])["title"] == collection["title"]
        page = api.collection_items(collection["id"], limit=3)
        assert page["numberMatched"] == COUNTS[collection["id"]]
        assert page["numberReturned"] == min(3, COUNTS[collection["id"]])
    in_101 = api.collection_items("reports", bbox=[WEST, SOUTH, WEST + STEP, SOUTH + STEP],
                                  datetime_="2000-01-01T00:00:00Z/..")  # fmt: skip
    assert _external_ids(in_101) == ["r-1", "r-2"]
    assert api.collection_item("grid", "204")["properties"]["parent"] == "2"
