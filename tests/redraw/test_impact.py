"""The impact of a redraw on a store, on both backends (the district of tests/storage/test_drafts).

Township "1" is redrawn: cell 10102 moves from zone 101 to zone 102, so zones 101
and 102 are retired for 103 and 104 and the township's four cells are renumbered.
"""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import pytest
from shapely.geometry import LineString, Point

from geogrid.access import Principal
from geogrid.clock import fixed_clock
from geogrid.hazards import Hazard
from geogrid.patrol.records import PatrolRoute
from geogrid.redraw.apply import apply_plans
from geogrid.redraw.impact import impact
from geogrid.redraw.units import units_of
from geogrid.reports import NewReport
from geogrid.storage import open_store
from tests.storage.conftest import (  # noqa: F401 (fixtures, used by name)
    postgis_template,
    postgis_url,
    store_url,
)
from tests.storage.test_drafts import MOVED, NOW, SOUTH, WEST, district, in_cell

COMMANDER = Principal("li.si", "commander", via="token")


@pytest.fixture
def store(store_url):  # noqa: F811
    opened = open_store(store_url, clock=fixed_clock(NOW))
    opened.import_generation(district(), "2026 版", activate=True, actor="cli:root")
    yield opened
    opened.close()


def the_redraw(store):
    hierarchy = store.hierarchy()
    return units_of(hierarchy, "zone", "1"), apply_plans(hierarchy, "zone", {"1": MOVED})


def report(code: str) -> NewReport:
    return NewReport("dispute.neighbour", *in_cell(code))


def test_what_a_redraw_would_touch(store):
    cells = ("10101", "10101", "10101", "10102", "20101")
    ids = [r.id for r in store.add_reports([report(c) for c in cells])]
    store.transition(ids[0], "closed", actor=COMMANDER, note="重复")
    store.transition(ids[1], "registered", actor=COMMANDER)
    checkpoints = [{"name": "东门", "lon": in_cell("10102")[0], "lat": SOUTH + 0.002},
                   {"name": "西门", "lon": in_cell("10101")[0], "lat": SOUTH + 0.002}]  # fmt: skip
    west = LineString([in_cell("10101"), in_cell("10102")])
    across = LineString([in_cell("20101"), (WEST + 0.015, SOUTH + 0.005)])  # into zone 102
    east = LineString([in_cell("20201"), in_cell("20202")])
    for grid, line, extra in (("101", west, {"checkpoints": checkpoints}), ("201", across, {}),
                              ("202", east, {})):  # fmt: skip
        store.add_patrol_route(PatrolRoute(grid, "morning", line, name=f"{grid}早巡",
                                           attributes=extra))  # fmt: skip
    for name, code in (("加油站", "10102"), ("仓库", "20101")):
        store.add_hazard(Hazard(name, "safety.hazmat", Point(in_cell(code)), "lec",
                                {"L": 3, "E": 6, "C": 15}))  # fmt: skip
    for name, scope in (("a.b", ["101"]), ("c.d", ["10102"]), ("e.f", ["2"]), ("g.h", None)):
        store.accounts.add_user(name, "grid_worker", scope, actor="cli:root")

    units, redraw = the_redraw(store)
    later = NOW + timedelta(days=60)  # every open report is overdue by then
    found = impact(store, units, redraw, now=later).to_dict()

    assert found["moves"] == [
        {"old_grid": "101", "new_grid": "103", "units": 1, "households": 100, "buildings": 0},
        {"old_grid": "101", "new_grid": "104", "units": 1, "households": 100, "buildings": 0},
        {"old_grid": "102", "new_grid": "104", "units": 2, "households": 200, "buildings": 0},
    ]
    assert found["totals"] == {"units": 4, "households": 400, "buildings": 0}
    assert found["reports"] == {"total": 3, "by_status": {"received": 2, "registered": 1},
                                "overdue": 3, "in_moved_units": 3}  # fmt: skip
    routes = {r["grid_code"]: r for r in found["routes"]}
    assert sorted(routes) == ["101", "201"]
    assert routes["101"]["reasons"][0] == "grid 101 is retired"
    assert routes["101"]["checkpoints"] == [
        {"name": "东门", "old": "101", "new": "104"},
        {"name": "西门", "old": "101", "new": "103"},
    ]
    assert routes["201"]["reasons"] == ["crosses grids that change"]
    assert [(h["name"], h["codes"]) for h in found["hazards"]] == [
        ("加油站", {"zone": {"old": "101", "new": "104"}, "cell": {"old": "10102", "new": "10402"}})
    ]  # fmt: skip
    assert [(u["name"], u["codes"], u["changes"]) for u in found["users"]] == [
        ("a.b", {"101": None}, {"101": "retired"}),
        ("c.d", {"10102": "10402"}, {"10102": "renumbered"}),
    ]
    assert found["codes"]["zone"] == {"retired": ["101", "102"], "created": ["103", "104"],
                                      "reshaped": [], "renumbered": {}}  # fmt: skip
    assert found["codes"]["cell"]["renumbered"]["10102"] == "10402"


def test_an_unchanged_redraw_touches_nothing(store):
    store.add_reports([report("10101")])
    hierarchy = store.hierarchy()
    units = units_of(hierarchy, "zone", "1")
    same = apply_plans(hierarchy, "zone", {"1": dict(zip(units.codes, units.current, strict=True))})
    found = impact(store, units, same, now=NOW)
    assert found.moves == [] and found.reports["total"] == 0 and found.routes == []
    assert found.codes["zone"]["retired"] == []


def test_counting_a_parents_open_reports_is_fast(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'many.db'}", clock=fixed_clock(NOW))
    store.import_generation(district(), "2026 版", activate=True)
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(WEST, WEST + 0.02, 20_000), rng.uniform(SOUTH, SOUTH + 0.01, 20_000)
    store.add_reports([NewReport("dispute.neighbour", float(x), float(y))
                       for x, y in zip(lon, lat, strict=True)])  # fmt: skip
    units, redraw = the_redraw(store)
    store.optimize()  # as after any bulk import
    start = time.perf_counter()
    found = impact(store, units, redraw, now=NOW)
    assert time.perf_counter() - start < 1.0
    assert found.reports["total"] == 20_000
    store.close()
