"""Grid scopes and people over the API, on SQLite and on PostGIS.

The tiny district: streets "1" and "2", four grids each (101…104, 201…204);
:func:`~tests.web.conftest.sample_reports` puts two reports in 101, one in 204 and
one outside every grid. A commander is scoped to street 1, a grid worker to 101.
Tests share one app per backend: each adds its own reports and reads only those
it knows, or what no test changes (the grids, the sample reports' places).
"""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import SOUTH, STEP, WEST
from tests.web.conftest import anonymous, token_for

IN_101 = {"lon": WEST + 0.004, "lat": SOUTH + 0.004}
IN_204 = {"lon": WEST + 3.5 * STEP, "lat": SOUTH + 1.5 * STEP}
CONTACT = {"name": "张三", "phone": "13800001234", "email": "zhang@example.cn",
           "device_id": "IMEI-861234"}  # fmt: skip
MASKED = {"name": "张*", "phone": "138****1234", "email": "z***@example.cn",
          "device": "****1234"}  # fmt: skip
WHOLE = {"name": "张三", "phone": "13800001234", "email": "zhang@example.cn",
         "device": "IMEI-861234"}  # fmt: skip


def client_of(app, token: str):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture(scope="module")
def people(each_store_app):
    """Clients of the admin, a street-1 commander, a grid-101 worker and a viewer."""
    app = each_store_app
    return {
        "admin": app.test_client(),
        "commander": client_of(app, token_for(app, "li.commander", "commander", ["1"])),
        "worker": client_of(app, token_for(app, "zhang.worker", "grid_worker", ["101"])),
        "viewer": client_of(app, token_for(app, "wang.viewer", "viewer")),
        "anonymous": anonymous(app),
    }


def new_report(client, place=IN_101, **fields) -> dict:
    """A new report (admin) at ``place``; its stored form."""
    body = {"category": "city.rubbish", **place, "external_id": uuid.uuid4().hex, **fields}
    response = client.post("/api/reports", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def sample_id(client, external_id: str) -> int:
    items = client.get("/api/reports?limit=1000").get_json()["items"]
    return next(r["id"] for r in items if r["external_id"] == external_id)


# --- out of scope: 404, as if it did not exist ------------------------------------------------


def test_a_report_out_of_scope_answers_as_a_missing_one(people):
    in_204 = sample_id(people["admin"], "r-3")
    out = people["worker"].get(f"/api/reports/{in_204}")
    missing = people["worker"].get("/api/reports/99999999")
    assert out.status_code == missing.status_code == 404
    assert out.get_json()["error"]["message"] == f"report {in_204} does not exist"
    assert missing.get_json()["error"]["type"] == out.get_json()["error"]["type"]
    assert people["commander"].get(f"/api/reports/{in_204}").status_code == 404
    in_101 = sample_id(people["admin"], "r-1")
    assert people["worker"].get(f"/api/reports/{in_101}").status_code == 200
    assert people["commander"].get(f"/api/reports/{in_101}").status_code == 200


@pytest.mark.parametrize("path", ["/api/grids/{}", "/api/grids/{}/children", "/api/stats/{}"])
def test_a_grid_out_of_scope_answers_as_a_missing_one(people, path):
    worker, commander = people["worker"], people["commander"]
    for code in ("204", "2", "1"):  # another street's grid, another street, its own street
        out = worker.get(path.format(code))
        assert out.status_code == 404, (code, out.get_json())
        assert (
            out.get_json()["error"]["message"] == f"grid {code} does not exist in this generation"
        )
    assert worker.get(path.format("101")).status_code == 200
    assert commander.get(path.format("1")).status_code == 200
    assert commander.get(path.format("201")).status_code == 404


# --- lists and counts --------------------------------------------------------------------------


def codes_of(response) -> set[str]:
    return {f["properties"]["code"] for f in response.get_json()["features"]}


def test_grid_layers_hold_the_scope_and_below(people):
    worker, commander, admin = people["worker"], people["commander"], people["admin"]
    assert codes_of(worker.get("/api/levels/grid/grids")) == {"101"}
    assert codes_of(worker.get("/api/levels/street/grids")) == set()
    assert codes_of(commander.get("/api/levels/grid/grids")) == {"101", "102", "103", "104"}
    assert codes_of(commander.get("/api/levels/street/grids")) == {"1"}
    assert len(codes_of(admin.get("/api/levels/grid/grids"))) == 8  # the cache keeps scopes apart
    assert codes_of(worker.get("/api/grids?level=grid")) == {"101"}
    assert codes_of(commander.get("/api/grids/1/children")) == {"101", "102", "103", "104"}


def test_report_lists_hold_only_the_scope(people):
    admin, worker, commander = people["admin"], people["worker"], people["commander"]
    in_101 = admin.get("/api/reports?grid=101&limit=1000").get_json()
    in_1 = admin.get("/api/reports?grid=1&limit=1000").get_json()
    listed = worker.get("/api/reports?limit=1000").get_json()
    assert listed["total"] == in_101["total"] >= 2
    assert {r["codes"]["grid"] for r in listed["items"]} == {"101"}
    assert commander.get("/api/reports?limit=1").get_json()["total"] == in_1["total"]
    points = worker.get("/api/reports.geojson?limit=1000").get_json()
    assert points["numberMatched"] == in_101["total"]
    assert {f["properties"]["codes"]["grid"] for f in points["features"]} == {"101"}
    assert worker.get("/api/reports?grid=204").get_json()["total"] == 0


def test_counts_of_a_scoped_principal_hold_its_scope_others_the_district(people):
    admin, worker = people["admin"], people["worker"]
    in_101 = admin.get("/api/reports?grid=101").get_json()["total"]
    stats = worker.get("/api/stats?level=grid").get_json()["grids"]
    assert [(g["code"], g["total"]) for g in stats] == [("101", in_101)]
    district = {g["code"] for g in people["anonymous"].get("/api/stats?level=grid")
                .get_json()["grids"]}  # fmt: skip
    assert {"101", "204"} <= district  # aggregates are public, district-wide
    bbox = f"{WEST},{SOUTH},{WEST + 4 * STEP},{SOUTH + 2 * STEP}"
    heat = worker.get(f"/api/heat?bbox={bbox}&size=16").get_json()
    assert sum(p[2] for p in heat["points"]) == in_101
    assert (
        sum(p[2] for p in admin.get(f"/api/heat?bbox={bbox}&size=16").get_json()["points"]) > in_101
    )


# --- contact details ---------------------------------------------------------------------------


def test_contacts_are_whole_masked_or_absent_by_role(people):
    stored = new_report(people["admin"], contact=CONTACT)
    assert stored["contact"] == WHOLE
    url = f"/api/reports/{stored['id']}"
    assert people["commander"].get(url).get_json()["contact"] == WHOLE
    assert people["worker"].get(url).get_json()["contact"] == WHOLE
    assert people["viewer"].get(url).get_json()["contact"] == MASKED
    listed = people["viewer"].get("/api/reports?limit=1000").get_json()["items"]
    assert next(r for r in listed if r["id"] == stored["id"])["contact"] == MASKED
    plain = new_report(people["admin"])
    assert "contact" not in people["viewer"].get(f"/api/reports/{plain['id']}").get_json()
    assert "contact" not in plain


def test_the_old_reporter_field_is_the_contacts_name(people):
    stored = new_report(people["admin"], reporter="李四")
    assert stored["contact"] == {"name": "李四"}
    assert "reporter" not in stored


@pytest.mark.parametrize(("contact", "field"), [
    ({"phone": 13800001234}, "contact.phone"),
    ({"email": "x" * 201}, "contact.email"),
    ({"device_id": ["a"]}, "contact.device_id"),
    ({"address": "幸福路"}, "contact: unknown field address"),
    ("张三", "contact: must be an object"),
])  # fmt: skip
def test_a_bad_contact_is_refused_naming_the_field(people, contact, field):
    body = {"category": "city.rubbish", **IN_101, "contact": contact}
    refused = people["admin"].post("/api/reports", json=body)
    assert refused.status_code == 400 and field in refused.get_json()["error"]["message"]


# --- who did it --------------------------------------------------------------------------------


def test_history_names_the_tokens_user_never_a_name_the_client_sends(people):
    commander = people["commander"]
    body = {"category": "city.rubbish", **IN_101, "external_id": uuid.uuid4().hex}
    stored = commander.post("/api/reports", json=body, headers={"X-Actor": "forged"}).get_json()
    url = f"/api/reports/{stored['id']}/transitions"
    moved = commander.post(url, json={"status": "registered", "actor": "forged", "note": "登记"},
                           headers={"X-Actor": "forged too"})  # fmt: skip
    assert moved.status_code == 200
    history = people["admin"].get(f"/api/reports/{stored['id']}").get_json()["history"]
    assert [entry["actor"] for entry in history] == ["li.commander", "li.commander"]
    assert "forged" not in str(history)


def test_a_step_on_a_status_that_moved_on_is_409(people):
    stored = new_report(people["admin"])
    url = f"/api/reports/{stored['id']}/transitions"
    stale = people["commander"].post(url, json={"status": "registered", "expected": "dispatched"})
    assert stale.status_code == 409 and "reload" in stale.get_json()["error"]["message"]
    fresh = people["commander"].post(url, json={"status": "registered", "expected": "received"})
    assert fresh.status_code == 200 and fresh.get_json()["status"] == "registered"
    again = people["commander"].post(url, json={"status": "dispatched", "expected": "received"})
    assert again.status_code == 409


def test_a_role_that_may_not_take_the_step_is_403(people):
    stored = new_report(people["admin"])
    url = f"/api/reports/{stored['id']}/transitions"
    assert people["viewer"].post(url, json={"status": "registered"}).status_code == 403
    assert people["worker"].post(url, json={"status": "registered"}).status_code == 403
    out = new_report(people["admin"], IN_204)
    outside = f"/api/reports/{out['id']}/transitions"
    assert people["commander"].post(outside, json={"status": "registered"}).status_code == 404
    assert people["admin"].get(f"/api/reports/{stored['id']}").get_json()["status"] == "received"


def test_anonymous_visitors_may_not_read_reports(people):
    anonymous_client = people["anonymous"]
    assert anonymous_client.get("/api/reports").status_code == 401
    assert anonymous_client.get("/api/reports.geojson").status_code == 401
    assert anonymous_client.get("/api/reports/1").status_code == 401
    assert anonymous_client.post("/api/reports", json={"category": "city.rubbish",
                                                      **IN_101}).status_code == 401  # fmt: skip


# --- anonymous intake --------------------------------------------------------------------------


def test_anonymous_intake_is_rate_limited_per_address_signed_in_is_not(tmp_path):
    from tests.web.conftest import tiny_app

    actions = ["lookup", "grid.read", "service.list", "aggregate.read", "report.create"]
    app = tiny_app(tmp_path, ANONYMOUS_ACTIONS=actions, ANONYMOUS_INTAKE_RATE_LIMIT="2 per minute")
    visitor, admin = anonymous(app), app.test_client()
    body = {"category": "city.rubbish", **IN_101, "contact": {"phone": "13800001234"}}
    answers = [visitor.post("/api/reports", json=body).status_code for _ in range(3)]
    assert answers == [201, 201, 429]
    assert all(admin.post("/api/reports", json=body).status_code == 201 for _ in range(3))
    stored = admin.get("/api/reports?limit=1").get_json()["items"][0]
    assert stored["contact"] == {"phone": "13800001234"}
