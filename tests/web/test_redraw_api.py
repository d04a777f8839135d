"""The redraw studio's JSON API (web/redraw.py) on SQLite and PostGIS.

The district is not the sample: levels "zone → ward → block" with codes like
"Z1-W1-B01", so nothing assumes the sample's keys. Zone Z1 (8 × 4 blocks) holds ward
Z1-W1 (the west half, 700 households: over the 300–500 band) and Z1-W2 (400); zone Z2
(4 × 4 blocks) holds one ward of 400. Drafts redraw the wards of a zone (level "ward",
parent "Z1"): the units are blocks.

Most tests share one app per backend and make their own drafts; publishing changes
the active generation, so those tests get a fresh app each.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from tests.storage.conftest import fresh_postgis
from tests.web.conftest import anonymous, tiny_app, token_for

CELL = 0.002
WEST, SOUTH = 121.0, 30.0
MANIFEST = """\
name = "格子区 Lattice district"
crs = "EPSG:4326"
[[level]]
key = "zone"
label = "片区"
path = "zones.geojson"
code = "code"
name = "name"
attributes = ["households", "population"]
[[level]]
key = "ward"
label = "网格"
path = "wards.geojson"
code = "code"
name = "name"
parent = "parent"
attributes = ["households", "population"]
[[level]]
key = "block"
label = "单元"
path = "blocks.geojson"
code = "code"
name = "name"
parent = "parent"
attributes = ["households", "population"]
"""
#: (zone, ward, first column, columns, households of each block)
WARDS = [("Z1", "Z1-W1", 0, 4, 45), ("Z1", "Z1-W2", 4, 4, 25), ("Z2", "Z2-W1", 8, 4, 25)]
ROWS = 4


def lattice_frames() -> dict[str, gpd.GeoDataFrame]:
    """Zones, wards and blocks of the lattice district (see the module docstring)."""
    blocks, wards = [], []
    for zone, ward, first, columns, households in WARDS:
        number = 0
        for col in range(first, first + columns):
            for row in range(ROWS):
                number += 1
                # Ward Z1-W1's four southern blocks are a little smaller: 700 in all.
                value = households - 5 if ward == "Z1-W1" and row == 0 else households
                blocks.append({"code": f"{ward}-B{number:02d}", "name": f"{ward} 第{number}块",
                               "parent": ward, "households": value, "population": 3 * value,
                               "geometry": _cell(col, row, 1, 1)})  # fmt: skip
        total = sum(b["households"] for b in blocks if b["parent"] == ward)
        shape = _cell(first, 0, columns, ROWS)
        wards.append({"code": ward, "name": f"{ward} 网格", "parent": zone, "households": total,
                      "population": 3 * total, "geometry": shape})  # fmt: skip
    zones = []
    for zone, first, columns in (("Z1", 0, 8), ("Z2", 8, 4)):
        total = sum(w["households"] for w in wards if w["parent"] == zone)
        shape = _cell(first, 0, columns, ROWS)
        zones.append({"code": zone, "name": f"{zone} 片区", "households": total,
                      "population": 3 * total, "geometry": shape})  # fmt: skip
    return {name: gpd.GeoDataFrame(rows, crs=4326)
            for name, rows in (("zones", zones), ("wards", wards), ("blocks", blocks))}  # fmt: skip


def _cell(col: int, row: int, columns: int, rows: int):
    return box(WEST + col * CELL, SOUTH + row * CELL, WEST + (col + columns) * CELL,
               SOUTH + (row + rows) * CELL)  # fmt: skip


def write_lattice_district(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in lattice_frames().items():
        frame.to_file(folder / f"{name}.geojson")
    path = folder / "district.toml"
    path.write_text(MANIFEST, encoding="utf-8")
    return path


def studio_app(folder: Path, **config):
    """The app over the lattice district, on SQLite unless ``STORE`` says otherwise."""
    return tiny_app(folder, write_lattice_district(folder / "district"), **config)


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def studio(request, tmp_path_factory):
    """One app per backend for the module; tests make their own drafts."""
    folder = tmp_path_factory.mktemp(f"studio-{request.param}")
    if request.param == "sqlite":
        yield studio_app(folder)
        return
    with fresh_postgis(request.getfixturevalue("postgis_template")) as url:
        app = studio_app(folder, STORE=url)
        yield app
        _close(app)


@pytest.fixture(params=["sqlite", "postgis"])
def fresh_studio(request, tmp_path):
    """A new app per test (publishing changes the active generation)."""
    if request.param == "sqlite":
        yield studio_app(tmp_path)
        return
    with fresh_postgis(request.getfixturevalue("postgis_template")) as url:
        app = studio_app(tmp_path, STORE=url)
        yield app
        _close(app)


def _close(app) -> None:
    from web.state import store

    with app.app_context():
        store().close()


_people: dict[tuple[int, str], object] = {}


def client_of(app, role: str, scope: list[str] | None = None):
    """A client with the token of an account of ``role`` (and ``scope``), made once per app."""
    key = (id(app), f"{role}:{scope}")
    if key not in _people:
        name = f"{role}.{len(_people)}"
        _people[key] = token_for(app, name, role, scope)
    client = anonymous(app)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {_people[key]}"
    return client


def new_draft(client, parent: str = "Z1", **fields) -> dict:
    body = {"name": "草稿", "level": "ward", "parent": parent, **fields}
    response = client.post("/api/redraw/drafts", json=body)
    assert response.status_code == 201, response.json
    return response.json["draft"]


def edit(client, draft: dict, expect: int = 200, **body) -> dict:
    """One edit at the draft's version; the draft's version follows a success."""
    response = client.post(f"/api/redraw/drafts/{draft['id']}/edit",
                           json={"version": draft["version"], **body})  # fmt: skip
    assert response.status_code == expect, response.json
    if expect == 200:
        draft["version"] = response.json["version"]
    return response.json


def step(client, draft: dict, name: str, expect: int = 200) -> dict:
    response = client.post(f"/api/redraw/drafts/{draft['id']}/{name}",
                           json={"version": draft["version"]})  # fmt: skip
    assert response.status_code == expect, response.json
    if expect == 200:
        draft["version"] = response.json["version"]
    return response.json


def read(client, draft: dict) -> dict:
    response = client.get(f"/api/redraw/drafts/{draft['id']}")
    assert response.status_code == 200, response.json
    return response.json


def W1(number: int) -> str:
    return f"Z1-W1-B{number:02d}"


def W2(number: int) -> str:
    return f"Z1-W2-B{number:02d}"


def message(response) -> str:
    return response.json["error"]["message"]


# --- parents and drafts ------------------------------------------------------------------------


def test_parents_are_those_in_scope_with_their_units(studio):
    everyone = client_of(studio, "planner").get("/api/redraw/parents?level=ward").json
    assert everyone["parents"] == [
        {"code": "Z1", "name": "Z1 片区", "grids": 2, "units": 32},
        {"code": "Z2", "name": "Z2 片区", "grids": 1, "units": 16},
    ]
    scoped = client_of(studio, "planner", ["Z2"]).get("/api/redraw/parents?level=ward").json
    assert [p["code"] for p in scoped["parents"]] == ["Z2"]
    top = client_of(studio, "planner").get("/api/redraw/parents?level=zone").json
    assert top["parents"] == [{"code": "", "name": "格子区 Lattice district", "grids": 2,
                               "units": 3}]  # fmt: skip
    refused = client_of(studio, "planner").get("/api/redraw/parents?level=block")
    assert refused.status_code == 400 and "'level'" in message(refused)


def test_a_new_draft_starts_from_the_current_grids(studio):
    planner = client_of(studio, "planner")
    draft = new_draft(planner, name="2027 调整")
    assert (draft["status"], draft["version"], draft["unit_level"]) == ("draft", 1, "block")
    body = read(planner, draft)
    assert len(body["units"]["features"]) == 32 and len(body["assignment"]) == 32
    assert [g["key"] for g in body["grids"]] == ["Z1-W1", "Z1-W2"]
    assert body["metrics"]["grids"]["Z1-W1"]["weight"] == 700
    summary = body["metrics"]["summary"]
    assert (summary["grids"], summary["in_band"], summary["over"], summary["total"]) == (
        2, 1, 1, 1100)  # fmt: skip
    assert any("700" in w["message"] for w in body["warnings"])
    assert len(body["gate"]) == 1 and "700" in body["gate"][0]
    feature = body["units"]["features"][0]
    assert set(feature["properties"]) >= {"code", "households", "current", "point"}
    listed = planner.get("/api/redraw/drafts?level=ward&parent=Z1").json["drafts"]
    assert draft["id"] in [d["id"] for d in listed]


def test_drafts_out_of_scope_do_not_exist(studio):
    theirs = new_draft(client_of(studio, "planner"), parent="Z1")
    scoped = client_of(studio, "planner", ["Z2"])
    assert scoped.get(f"/api/redraw/drafts/{theirs['id']}").status_code == 404
    assert theirs["id"] not in [d["id"] for d in scoped.get("/api/redraw/drafts").json["drafts"]]
    refused = scoped.post("/api/redraw/drafts", json={"name": "x", "level": "ward",
                                                      "parent": "Z1"})  # fmt: skip
    assert refused.status_code == 404
    assert scoped.post(f"/api/redraw/drafts/{theirs['id']}/edit",
                       json={"version": 1, "op": "undo"}).status_code == 404  # fmt: skip
    new_draft(scoped, parent="Z2")  # its own zone is fine


def test_viewers_read_but_do_not_edit(studio):
    draft = new_draft(client_of(studio, "planner"))
    viewer = client_of(studio, "viewer")
    assert viewer.get(f"/api/redraw/drafts/{draft['id']}").status_code == 200
    assert viewer.post(f"/api/redraw/drafts/{draft['id']}/edit",
                       json={"version": 1, "op": "undo"}).status_code == 403  # fmt: skip
    assert viewer.post("/api/redraw/drafts", json={"name": "x", "level": "ward",
                                                   "parent": "Z1"}).status_code == 403  # fmt: skip


# --- edits -------------------------------------------------------------------------------------


def test_a_stroke_answers_with_what_changed_only(studio):
    planner = client_of(studio, "planner")
    draft = new_draft(planner)
    done = edit(planner, draft, op="move", units=[W1(13), W1(14), W1(15), W1(16)], grid="Z1-W2")
    assert done["version"] == 2
    assert done["changed"] == dict.fromkeys([W1(13), W1(14), W1(15), W1(16)], "Z1-W2")
    assert set(done["metrics"]["grids"]) == {"Z1-W1", "Z1-W2"}
    assert done["metrics"]["grids"]["Z1-W1"]["weight"] == 525  # B13 has 40, the others 45
    assert done["metrics"]["grids"]["Z1-W2"]["weight"] == 575
    assert done["metrics"]["summary"]["over"] == 2
    assert done["history"]["can_undo"] and not done["history"]["can_redo"]
    assert read(planner, draft)["assignment"][W1(13)] == "Z1-W2"  # stored


def test_new_grid_merge_split_rename_lock_exclusive(studio):
    planner = client_of(studio, "planner")
    draft = new_draft(planner)
    made = edit(planner, draft, op="new_grid", units=[W1(1), W1(2), W1(3), W1(4)], name="新一")
    assert made["grid"] == "new-1" and set(made["changed"].values()) == {"new-1"}
    assert {"key": "new-1", "name": "新一", "locked": False, "exclusive": False} in made["grids"]
    merged = edit(planner, draft, op="merge", grids=["Z1-W1", "new-1"])
    assert [g["key"] for g in merged["grids"]] == ["Z1-W1", "Z1-W2"]
    split = edit(planner, draft, op="split", grid="Z1-W1", k=2, seed=1)
    assert split["parts"][0] == "Z1-W1" and len(split["parts"]) == 2
    assert all(m["pieces"] == 1 for m in split["metrics"]["grids"].values())
    renamed = edit(planner, draft, op="rename", grid="Z1-W2", name="东网格")
    assert {g["key"]: g["name"] for g in renamed["grids"]}["Z1-W2"] == "东网格"
    locked = edit(planner, draft, op="lock", grid="Z1-W2")
    assert {g["key"]: g["locked"] for g in locked["grids"]}["Z1-W2"] is True
    refused = edit(planner, draft, 400, op="move", units=[W2(1)], grid="Z1-W1")
    assert "Z1-W2" in refused["error"]["message"] and "locked" in refused["error"]["message"]
    edit(planner, draft, op="unlock", grid="Z1-W2")
    special = edit(planner, draft, op="exclusive", grid="Z1-W2", exclusive=True)
    assert special["metrics"]["grids"]["Z1-W2"]["band"] == "exempt"
    assert read(planner, draft)["draft"]["version"] == draft["version"]


def test_split_along_a_line(studio):
    planner = client_of(studio, "planner")
    draft = new_draft(planner)
    middle = WEST + 2 * CELL  # between the ward's second and third columns
    done = edit(planner, draft, op="split_line", grid="Z1-W1",
                line=[[middle, SOUTH - CELL], [middle, SOUTH + 5 * CELL]])  # fmt: skip
    assert len(done["changed"]) == 8 and done["parts"] == ["Z1-W1", "new-1"]


def test_undo_and_redo_work_across_requests(studio):
    planner = client_of(studio, "planner")
    draft = new_draft(planner)
    edit(planner, draft, op="move", units=[W1(13)], grid="Z1-W2")
    edit(planner, draft, op="move", units=[W1(14)], grid="Z1-W2")
    undone = edit(planner, draft, op="undo")
    assert undone["changed"] == {W1(14): "Z1-W1"} and undone["history"]["can_redo"]
    undone = edit(planner, draft, op="undo")
    assert undone["changed"] == {W1(13): "Z1-W1"} and not undone["history"]["can_undo"]
    nothing = edit(planner, draft, op="undo")
    assert nothing["changed"] == {} and nothing["note"]
    redone = edit(planner, draft, op="redo")
    assert redone["changed"] == {W1(13): "Z1-W2"}


def test_fixes_repair_only_what_is_wrong(studio):
    planner = client_of(studio, "planner")
    draft = new_draft(planner)
    edit(planner, draft, op="move", units=[W1(1)], grid="Z1-W2")  # a stray piece of W2
    pieces = read(planner, draft)["metrics"]["grids"]["Z1-W2"]["pieces"]
    fixed = edit(planner, draft, op="fix_contiguity")
    assert pieces == 2 and fixed["changed"] == {W1(1): "Z1-W1"} and fixed["fixed"] == 1
    edit(planner, draft, op="new_grid", units=[W1(13), W1(14), W1(15), W1(16)])  # 175: under
    edit(planner, draft, op="lock", grid="Z1-W2")
    balanced = edit(planner, draft, op="fix_balance", seed=0)
    summary = balanced["metrics"]["summary"]
    assert summary["in_band"] == 3 and summary["non_contiguous"] == 0
    assert balanced["gate"] == [] and balanced["fixed"] > 0
    assert not any(unit.startswith("Z1-W2") for unit in balanced["changed"])  # locked


def test_a_stale_version_is_refused_and_nothing_is_written(studio):
    first, second = client_of(studio, "planner"), client_of(studio, "admin")
    draft = new_draft(first)
    stale = dict(draft)
    edit(first, draft, op="move", units=[W1(13)], grid="Z1-W2")
    refused = edit(second, stale, 409, op="move", units=[W1(14)], grid="Z1-W2")
    assert refused["error"]["type"] == "DraftConflictError"
    assert "version 2" in refused["error"]["message"]
    body = read(first, draft)
    assert body["draft"]["version"] == 2 and body["assignment"][W1(14)] == "Z1-W1"
    late = first.post(f"/api/redraw/drafts/{draft['id']}/submit", json={"version": 1})
    assert late.status_code == 409


def test_propose_keeps_what_it_can_and_meets_the_band(studio):
    planner = client_of(studio, "planner")
    draft = new_draft(planner)
    done = planner.post(f"/api/redraw/drafts/{draft['id']}/propose",
                        json={"version": 1, "keep_current": True, "seed": 3}).json  # fmt: skip
    proposal = done["proposal"]
    assert proposal["in_band"] == proposal["grids"] == proposal["contiguous"] == 3
    assert 0.5 < proposal["kept_share"] < 1
    assert done["metrics"]["summary"]["in_band"] == 3 and done["gate"] == []
    draft["version"] = done["version"]
    undone = edit(planner, draft, op="undo")  # the whole proposal is one step
    assert read(planner, draft)["metrics"]["summary"]["grids"] == 2 and undone["changed"]


def test_an_infeasible_band_says_why(studio):
    planner = client_of(studio, "planner")
    draft = new_draft(planner, band=[600, 650])
    response = planner.post(f"/api/redraw/drafts/{draft['id']}/propose",
                            json={"version": 1, "keep_current": False})  # fmt: skip
    assert response.status_code == 400
    assert response.json["error"]["type"] == "InfeasibleBandError"
    assert "1100" in message(response)


def test_compare_with_the_base_another_draft_and_a_generation(studio):
    planner = client_of(studio, "planner")
    draft = new_draft(planner)
    edit(planner, draft, op="move", units=[W1(13), W1(14)], grid="Z1-W2")
    base = planner.get(f"/api/redraw/drafts/{draft['id']}/compare?with=base").json
    assert base["units_moved"] == 2 and base["weight_moved"] == 85
    assert {u["unit"]: (u["there"], u["here"]) for u in base["units"]} == {
        W1(13): ("Z1-W1", "Z1-W2"), W1(14): ("Z1-W1", "Z1-W2")}  # fmt: skip
    grids = {g["grid"]: g for g in base["grids"]}
    assert grids["Z1-W2"]["weight_delta"] == 85 and grids["Z1-W1"]["weight_delta"] == -85
    overlap = {o["grid"]: o["predecessors"] for o in base["overlaps"]}
    assert {p["code"] for p in overlap["Z1-W2"]} == {"Z1-W1", "Z1-W2"}
    other = new_draft(planner)
    with_draft = planner.get(f"/api/redraw/drafts/{draft['id']}/compare?with=draft:{other['id']}")
    assert with_draft.json["units_moved"] == 2
    with_generation = planner.get(f"/api/redraw/drafts/{draft['id']}/compare?with=generation:1")
    assert with_generation.json["units_moved"] == 2
    elsewhere = new_draft(planner, parent="Z2")
    refused = planner.get(f"/api/redraw/drafts/{draft['id']}/compare?with=draft:{elsewhere['id']}")
    assert refused.status_code == 400 and "with:" in message(refused)
    bad = planner.get(f"/api/redraw/drafts/{draft['id']}/compare?with=yesterday")
    assert bad.status_code == 400 and "with:" in message(bad)


def test_impact_counts_households_moved_and_codes(studio):
    planner = client_of(studio, "planner")
    draft = new_draft(planner)
    edit(planner, draft, op="new_grid", units=[W1(13), W1(14), W1(15), W1(16)])
    found = planner.get(f"/api/redraw/drafts/{draft['id']}/impact").json
    figures = {f["key"]: f["value"] for f in found["figures"]}
    assert figures["units"] == 4 and figures["households"] == 175
    assert found["impact"]["codes"]["ward"]["created"] and found["tables"]


def test_import_a_csv_and_export_every_format(studio):
    planner = client_of(studio, "planner")
    draft = new_draft(planner)
    csv = f"unit_code,grid,grid_name\n{W1(13)},Z1-W2,东\n{W1(14)},fresh,新格\n".encode()
    response = planner.post(f"/api/redraw/drafts/{draft['id']}/import?version=1", data=csv,
                            content_type="text/csv")  # fmt: skip
    assert response.status_code == 200, response.json
    assert response.json["changed"] == {W1(13): "Z1-W2", W1(14): "new-1"}
    assert {g["key"]: g["name"] for g in response.json["grids"]}["new-1"] == "新格"
    draft["version"] = response.json["version"]
    bad = planner.post(f"/api/redraw/drafts/{draft['id']}/import?version={draft['version']}",
                       data=b"unit_code,grid\nZ2-W1-B01,Z1-W1\n",
                       content_type="text/csv")  # fmt: skip
    assert bad.status_code == 400 and "Z2-W1-B01" in message(bad)
    path = f"/api/redraw/drafts/{draft['id']}/export"
    text = planner.get(f"{path}.csv").get_data(as_text=True)
    assert f"{W1(14)},new-1,新格" in text
    grids = json.loads(planner.get(f"{path}.geojson").data)
    assert len(grids["features"]) == 3
    assert planner.get(f"{path}.gpkg").data[:15] == b"SQLite format 3"
    names = zipfile.ZipFile(io.BytesIO(planner.get(f"{path}.shp.zip").data)).namelist()
    assert "grids.shp" in names
    pdf = planner.get(f"{path}.pdf")
    assert pdf.status_code == 200 and pdf.data[:5] == b"%PDF-"
    assert planner.get(f"{path}.docx").status_code == 404


def test_branches_are_scenarios_of_the_same_parent(studio):
    planner = client_of(studio, "planner")
    draft = new_draft(planner)
    edit(planner, draft, op="move", units=[W1(13)], grid="Z1-W2")
    response = planner.post(f"/api/redraw/drafts/{draft['id']}/branch", json={"name": "方案二"})
    assert response.status_code == 201
    branch = response.json["draft"]
    assert (branch["branched_from"], branch["version"]) == (draft["id"], 1)
    assert read(planner, branch)["assignment"][W1(13)] == "Z1-W2"


# --- bad input: a clear 4xx naming the field, never a 500 --------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"op": "move", "units": ["Z2-W1-B01"], "grid": "Z1-W1"}, "Z2-W1-B01"),
        ({"op": "move", "units": ["nowhere"], "grid": "Z1-W1"}, "units"),
        ({"op": "move", "units": "Z1-W1-B01", "grid": "Z1-W1"}, "units"),
        ({"op": "move", "units": [W1(1)], "grid": "Z9"}, "grid"),
        ({"op": "paint"}, "op"),
        ({"op": "merge", "grids": ["Z1-W1"]}, "grids"),
        ({"op": "split", "grid": "Z1-W1", "k": 99}, "k"),
        ({"op": "split", "grid": "Z1-W1", "k": "two"}, "k"),
        ({"op": "split_line", "grid": "Z1-W1", "line": [[1, 2]]}, "line"),
        ({"op": "split_line", "grid": "Z1-W1", "line": "north"}, "line"),
        ({"op": "rename", "grid": "Z1-W1", "name": " "}, "name"),
        ({"op": "exclusive", "grid": "Z1-W1", "exclusive": "yes"}, "exclusive"),
        ({"op": "undo", "colour": "red"}, "colour"),
    ],
)
def test_bad_edits_name_their_field(studio, body, field):
    planner = client_of(studio, "planner")
    draft = new_draft(planner)
    refused = edit(planner, draft, 400, **body)
    assert field in refused["error"]["message"]
    assert read(planner, draft)["draft"]["version"] == 1  # nothing written


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"weight": "voters"}, "weight"),
        ({"band": [500, 300]}, "band"),
        ({"band": "wide"}, "band"),
        ({"parent": "Z1-W1"}, "parent"),
        ({"level": "floor"}, "level"),
        ({"name": ""}, "name"),
        ({"numbering": "random"}, "numbering"),
    ],
)
def test_bad_drafts_name_their_field(studio, body, field):
    response = client_of(studio, "planner").post(
        "/api/redraw/drafts", json={"name": "x", "level": "ward", "parent": "Z1", **body}
    )
    assert response.status_code == 400, response.json
    assert field in message(response)


def test_a_change_without_the_version_is_refused(studio):
    planner = client_of(studio, "admin")
    draft = new_draft(planner)
    for path, body in (("edit", {"op": "undo"}), ("propose", {}), ("submit", {}),
                       ("publish", {"version": "1"})):  # fmt: skip
        response = planner.post(f"/api/redraw/drafts/{draft['id']}/{path}", json=body)
        assert response.status_code == 400 and "version" in message(response)
    response = planner.post(f"/api/redraw/drafts/{draft['id']}/import", data=b"unit_code,grid\n",
                            content_type="text/csv")  # fmt: skip
    assert response.status_code == 400 and "version" in message(response)


def test_hostile_bodies_never_answer_500(studio):
    planner = client_of(studio, "planner")
    draft = new_draft(planner)
    bodies = [None, [], "x", 1, {"version": None}, {"version": True, "op": "undo"},
              {"version": 1, "op": None}, {"version": 1, "op": "move", "units": [None]},
              {"version": 1, "op": "new_grid", "units": [1]},
              {"version": 1, "op": "split_line", "grid": "Z1-W1", "line": [[True, 1], [2, 3]]},
              {"version": 1, "op": "split_line", "grid": "Z1-W1", "line": [[1e400, 1], [2, 3]]},
              {"version": 2**70, "op": "undo"}]  # fmt: skip
    for body in bodies:
        response = planner.post(f"/api/redraw/drafts/{draft['id']}/edit", json=body)
        assert 400 <= response.status_code < 500, (body, response.status_code)
    for query in ("with=draft:x", "with=generation:999", "with=draft:999999"):
        response = planner.get(f"/api/redraw/drafts/{draft['id']}/compare?{query}")
        assert 400 <= response.status_code < 500, query


# --- review and publishing ---------------------------------------------------------------------


def test_submit_approve_publish_by_the_right_roles(fresh_studio):
    app = fresh_studio
    planner, commander = client_of(app, "planner"), client_of(app, "commander")
    draft = new_draft(planner)
    proposed = planner.post(f"/api/redraw/drafts/{draft['id']}/propose",
                            json={"version": 1, "keep_current": True}).json  # fmt: skip
    draft["version"] = proposed["version"]
    step(commander, draft, "submit", 403)
    step(planner, draft, "submit")
    assert step(planner, draft, "approve", 403)["error"]["type"] == "Forbidden"
    step(commander, draft, "approve")
    step(planner, draft, "publish", 403)
    assert edit(planner, draft, 409, op="undo")["error"]["type"] == "DraftStateError"
    published = step(commander, draft, "publish")
    generation = published["published_generation"]
    assert published["draft"]["status"] == "published" and published["codes"]["ward"]["created"]
    active = [g for g in planner.get("/api/generations").json["generations"] if g["active"]]
    assert [g["id"] for g in active] == [generation]
    wards = planner.get("/api/grids?level=ward").json["features"]
    assert len([w for w in wards if w["properties"]["parent"] == "Z1"]) == 3
    crosswalk = planner.get(f"/api/redraw/generations/{generation}/codes.csv")
    lines = crosswalk.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == "level,old_code,new_code,change"
    created = [line for line in lines if line.startswith("ward,,") and line.endswith(",created")]
    assert len(created) == published["codes"]["ward"]["created"] > 0
    assert planner.get(f"/api/redraw/generations/{published['previous']}/codes.csv"
                       ).status_code == 404  # fmt: skip


def test_a_draft_is_sent_back_and_edited_again(fresh_studio):
    planner, commander = client_of(fresh_studio, "planner"), client_of(fresh_studio, "commander")
    draft = new_draft(planner)
    step(planner, draft, "submit")
    sent_back = step(commander, draft, "withdraw")
    assert sent_back["draft"]["status"] == "draft"
    edit(planner, draft, op="move", units=[W1(13)], grid="Z1-W2")
    step(client_of(fresh_studio, "viewer"), draft, "withdraw", 403)


def test_publishing_refuses_the_gate_and_a_stale_base(fresh_studio):
    planner, commander = client_of(fresh_studio, "planner"), client_of(fresh_studio, "commander")
    over = new_draft(planner)  # Z1-W1 keeps its 700 households: out of band
    step(planner, over, "submit")
    step(commander, over, "approve")
    refused = step(commander, over, "publish", 400)
    assert "draft" in refused["error"]["message"] and "700" in refused["error"]["message"]
    first, second = new_draft(planner), new_draft(planner)
    for draft in (first, second):
        proposed = planner.post(f"/api/redraw/drafts/{draft['id']}/propose",
                                json={"version": 1, "keep_current": True}).json  # fmt: skip
        draft["version"] = proposed["version"]
        step(planner, draft, "submit")
        step(commander, draft, "approve")
    step(commander, first, "publish")
    assert read(planner, second)["draft"]["stale"] is True
    stale = step(commander, second, "publish", 409)
    assert stale["error"]["type"] == "DraftStateError" and "generation" in stale["error"]["message"]


def test_an_empty_grid_is_in_the_gate_as_the_library_says(studio):
    from geogrid.redraw.plan import Plan
    from geogrid.redraw.units import units_of
    from web.state import store

    planner = client_of(studio, "planner")
    draft = new_draft(planner)
    edit(planner, draft, op="move", units=[W1(1)], grid="Z1-W2")  # W2 in pieces too
    done = edit(planner, draft, op="new_grid")
    assert any("new-1" in problem for problem in done["gate"])
    with studio.app_context():
        plan = Plan(units_of(store().hierarchy(), "ward", "Z1"), read(planner, draft)["assignment"])
    plan.new_grid()
    assert done["gate"] == plan.gate() and len(done["gate"]) == 3


# --- the page --------------------------------------------------------------------------------


def test_the_page_speaks_chinese_first_under_the_page_policy(studio):
    planner = client_of(studio, "planner")
    response = planner.get("/redraw")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and '<html lang="zh-CN">' in html
    assert "网格调整" in html and "vendor/leaflet/leaflet.js" in html
    nonce = response.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert html.count("<script") == html.count(f'<script nonce="{nonce}"') == 3
    assert 'id="rd-create"' in html  # a planner may make drafts
    english = planner.get("/redraw?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english and "Redraw studio" in english
    viewer = client_of(studio, "viewer").get("/redraw").get_data(as_text=True)
    assert 'id="rd-create"' not in viewer
    visitor = anonymous(studio).get("/redraw?draft=1")
    assert visitor.status_code == 302 and "/login?next=" in visitor.headers["Location"]


# --- speed and the served demo -------------------------------------------------------------------


def test_units_are_built_once_per_parent(studio, monkeypatch):
    import web.redraw

    built = []
    real = web.redraw.units_of
    monkeypatch.setattr(web.redraw, "units_of", lambda *a, **k: built.append(a) or real(*a, **k))
    planner = client_of(studio, "planner")
    draft = new_draft(planner, parent="Z2")
    read(planner, draft)
    edit(planner, draft, op="move", units=["Z2-W1-B01"], grid="Z2-W1")
    read(planner, new_draft(planner, parent="Z2"))
    assert len(built) <= 1  # none when an earlier test built them already


def test_the_demo_draft_is_made_on_a_new_store_only(tmp_path):
    from web import create_app
    from web.redraw import create_demo_draft
    from web.state import store

    survey = tmp_path / "survey.csv"
    rows = [f"Z1-W1-B{n:02d},80,240,{'甲' if n < 3 else ''}" for n in range(1, 17)]
    survey.write_text("code,households,population,compound\n" + "\n".join(rows) + "\n")
    setting = f"Z1:{survey}:2027 年度网格调整"
    app = studio_app(tmp_path, DEMO_DRAFT=setting)  # sets its store up: a new one
    draft = create_demo_draft(app)
    assert (draft.name, draft.level, draft.parent_code) == ("2027 年度网格调整", "ward", "Z1")
    body = read(client_of(app, "planner"), {"id": draft.id})
    assert body["metrics"]["grids"]["Z1-W1"]["weight"] == 16 * 80
    assert body["draft"]["survey"] is True
    again = create_app({"TESTING": True, "STORE": app.config["STORE"], "TILES": "none",
                        "MANIFEST": app.config["MANIFEST"], "DEMO_DRAFT": setting})  # fmt: skip
    with again.app_context():
        store().hierarchy()  # the same store, set up before
    assert create_demo_draft(again) is None
    assert create_demo_draft(studio_app(tmp_path / "other", DEMO_DRAFT="")) is None
