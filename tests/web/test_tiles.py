"""GET /tiles/<level>/<z>/<x>/<y>.mvt over SQLite and PostGIS: features, scope, caching, errors.

The tiny district: streets "1" and "2", four grids each (101…104, 201…204).
"""

from __future__ import annotations

import re

import pytest

from geogrid import Hierarchy
from tests.conftest import SOUTH, WEST
from tests.geogrid.test_tiles import DISTRICT_TILE, decoded, tile_at
from tests.web.conftest import anonymous, tiny_app, token_for
from tests.web.test_scope import client_of

MVT = "application/vnd.mapbox-vector-tile"


def url(level: str, tile=DISTRICT_TILE) -> str:
    return f"/tiles/{level}/{tile.z}/{tile.x}/{tile.y}.mvt"


@pytest.fixture(scope="module")
def people(each_store_app):
    app = each_store_app
    return {
        "admin": app.test_client(),
        "commander": client_of(app, token_for(app, "tile.commander", "commander", ["1"])),
        "worker": client_of(app, token_for(app, "tile.worker", "grid_worker", ["101"])),
        "anonymous": anonymous(app),
    }


def codes(response, level: str) -> set[str]:
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:300]
    return set(decoded(response.data, level)) if response.status_code == 200 else set()


def test_a_tile_holds_the_level_s_grids_and_is_revalidated_by_its_etag(people):
    response = people["admin"].get(url("grid"))
    assert response.status_code == 200 and response.mimetype == MVT
    assert codes(response, "grid") == {"101", "102", "103", "104", "201", "202", "203", "204"}
    assert response.headers["Cache-Control"] == "private, no-cache"
    again = people["admin"].get(url("grid"), headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_a_weak_etag_as_a_gzipping_proxy_sends_it_back_still_revalidates(people):
    etag = people["admin"].get(url("grid")).headers["ETag"]
    again = people["admin"].get(url("grid"), headers={"If-None-Match": f"W/{etag}"})
    assert again.status_code == 304 and again.data == b""


def test_a_tile_away_from_the_district_is_empty(people):
    assert people["admin"].get(url("grid", tile_at(WEST - 1, SOUTH, 12))).status_code == 204


def test_a_scoped_principal_gets_the_grids_of_its_scope_only(people):
    assert codes(people["commander"].get(url("grid")), "grid") == {"101", "102", "103", "104"}
    assert codes(people["commander"].get(url("street")), "street") == {"1"}
    assert codes(people["worker"].get(url("grid")), "grid") == {"101"}
    assert people["worker"].get(url("street")).status_code == 204
    etags = {who: people[who].get(url("grid")).headers["ETag"] for who in ("admin", "worker")}
    assert etags["admin"] != etags["worker"]


def test_visitors_get_tiles_as_they_get_the_level_geojson(people):
    assert codes(people["anonymous"].get(url("street")), "street") == {"1", "2"}


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [("/tiles/ward/12/0/0.mvt", 404, "unknown level 'ward'; levels are street, grid"),
     ("/tiles/grid/3/8/0.mvt", 400, "tile 3/8/0: x must be from 0 to 7 at zoom 3"),
     (f"/tiles/grid/25/0/{2**70}.mvt", 400, "tile 25/0/1180591620717411303424: zoom must be"),
     ("/tiles/grid/2/0/99999999999999999999999.mvt", 400, "tile 2/0/99999999999999999999999: y")],
)  # fmt: skip
def test_an_unknown_level_or_a_tile_that_does_not_exist_is_refused_naming_it(
    people, path, status, message
):
    response = people["admin"].get(path)
    assert response.status_code == status
    assert response.get_json()["error"]["message"].startswith(message)


#: Path parts no tile has: negative, beyond any integer a store keeps, not numbers; levels
#: with quotes and SQL.
ODD_TILES = ["grid/-1/0/0", "grid/2/-1/0", "grid/2/0/-3", f"grid/{10**30}/0/0",
             f"grid/2/{10**30}/0", f"grid/2/0/{10**30}", "grid/z/0/0", "grid/2/1.5/0",
             "grid/2/0/0x1", "grid/%201/0/0", "grid'/2/0/0", "grid%22/2/0/0",
             "grid';DROP TABLE grids;--/2/0/0", "1%20OR%201=1/2/0/0"]  # fmt: skip


@pytest.mark.parametrize("path", ODD_TILES)
def test_a_tile_path_no_tile_has_is_refused_never_a_500(people, path):
    assert people["admin"].get(f"/tiles/{path}.mvt").status_code in (400, 404)


def test_a_tile_below_the_zoom_its_level_is_drawn_from_is_empty(each_store_app, people):
    each_store_app.config["LEVEL_MIN_ZOOM"] = {"grid": 15}
    near_101 = (WEST + 0.001, SOUTH + 0.001)
    try:
        # The map at zoom 15 shows tiles of zoom 14 (they are drawn at 512 px).
        assert people["admin"].get(url("grid", tile_at(*near_101, 13))).status_code == 204
        assert "101" in codes(people["admin"].get(url("grid", tile_at(*near_101, 14))), "grid")
    finally:
        each_store_app.config["LEVEL_MIN_ZOOM"] = {}


def test_a_new_generation_gets_new_tiles_at_once(tmp_path, tiny_manifest):
    app = tiny_app(tmp_path, tiny_manifest)
    client = app.test_client()
    first = client.get(url("grid"))
    from web.state import store

    with app.app_context():
        hierarchy = Hierarchy.from_manifest(tiny_manifest)
        frames = {key: hierarchy.grids(key).copy() for key in hierarchy.levels}
        frames["grid"].loc[frames["grid"]["code"] == "204", "name"] = "新第4网格"
        levels = [hierarchy.level(key) for key in hierarchy.levels]
        store().import_generation(Hierarchy(levels, frames), "renamed", activate=True)
    again = client.get(url("grid"), headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200
    assert decoded(again.data, "grid")["204"]["properties"]["name"] == "新第4网格"


# --- the commander's map: which levels come as tiles ------------------------------------------


def settings_in(html: str) -> str:
    return re.search(r"window\.GEOGRID = (\{.*?\});", html).group(1)


def test_the_map_draws_levels_over_the_threshold_from_tiles(tmp_path, tiny_manifest):
    app = tiny_app(tmp_path, tiny_manifest, TILED_LEVEL_GRIDS=4, LEVEL_MIN_ZOOM={"grid": 13})
    html = app.test_client().get("/").get_data(as_text=True)
    assert "vendor/protomaps-leaflet/protomaps-leaflet.js" in html
    assert '"tiledLevels": {"grid": {"url": "/tiles/grid/{z}/{x}/{y}.mvt", "minZoom": 13, ' \
           '"depth": 1}}' in settings_in(html)  # fmt: skip
    assert html.count("/tiles/grid/{z}/{x}/{y}.mvt") == 2  # the level's layer, and the settings


def test_a_zoom_for_a_level_the_generation_lacks_is_ignored_with_one_warning(
    tmp_path, tiny_manifest, caplog
):
    # A newly activated generation may rename the levels LEVEL_MIN_ZOOM names.
    app = tiny_app(tmp_path, tiny_manifest, TILED_LEVEL_GRIDS=4,
                   LEVEL_MIN_ZOOM={"ward": 3, "grid": 13})  # fmt: skip
    client = app.test_client()
    with caplog.at_level("WARNING", logger=app.logger.name):
        html = client.get("/").get_data(as_text=True)
        assert '"minZoom": 13' in settings_in(html)
        assert codes(client.get(url("grid")), "grid")
        assert client.get(url("street")).status_code in (200, 204)
    warnings = [r.getMessage() for r in caplog.records if "LEVEL_MIN_ZOOM" in r.getMessage()]
    assert warnings == ["LEVEL_MIN_ZOOM: ignored ward, no such level; levels are street, grid"]


def test_a_small_district_s_map_loads_no_tile_plugin(client):
    html = client.get("/").get_data(as_text=True)
    assert "protomaps" not in html and '"tiledLevels": {}' in settings_in(html)


@pytest.mark.parametrize("raw", ["%ED%A0%80", "%FF", "%C3", "a%00b", "x" * 5000])
def test_a_level_no_store_keeps_is_an_unknown_level_never_a_500(people, raw):
    response = people["admin"].get(f"/tiles/{raw}/12/0/0.mvt")
    assert response.status_code == 404
    assert response.get_json()["error"]["message"].startswith("unknown level ")
