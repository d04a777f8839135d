"""Gi* finds planted clusters; PAI scores hot-spot maps; bad input is refused."""

from __future__ import annotations

from datetime import timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geogrid import Hierarchy
from geogrid.analysis.hotspots import evaluate_pai, flag_top, gi_star, hot_spots, pai
from geogrid.errors import InputError
from tests.analysis import AS_OF, random_points, reports, tiny_hierarchy
from tests.conftest import RENAMED_MANIFEST, write_tiny_district

SIDE = 10


def lattice(side: int = SIDE) -> gpd.GeoDataFrame:
    """side × side square cells of 0.01°, codes "r-c"."""
    cells = [(r, c) for r in range(side) for c in range(side)]
    return gpd.GeoDataFrame(
        {"code": [f"{r}-{c}" for r, c in cells], "name": [f"格{r}{c}" for r, c in cells]},
        geometry=[box(120 + c / 100, 28 + r / 100, 120 + (c + 1) / 100, 28 + (r + 1) / 100)
                  for r, c in cells], crs=4326,
    )  # fmt: skip


def planted(hot_block=range(6, 9), cold_block=range(0, 3), seed=7) -> np.ndarray:
    """Poisson counts around 10, a 3 × 3 block at 40 (hot) and one at 0 (cold)."""
    rng = np.random.default_rng(seed)
    values = rng.poisson(10, SIDE * SIDE).astype(float)
    for r in range(SIDE):
        for c in range(SIDE):
            if r in hot_block and c in hot_block:
                values[r * SIDE + c] = 40
            if r in cold_block and c in cold_block:
                values[r * SIDE + c] = 0
    return values


def test_gi_star_finds_a_planted_hot_spot_and_a_cold_spot():
    spots = gi_star(lattice(), planted()).set_index("code")
    assert spots.loc["7-7", "spot"] == "hot" and spots.loc["7-7", "confidence"] == 99
    assert spots.loc["1-1", "spot"] == "cold" and spots.loc["1-1", "confidence"] >= 95
    assert spots.loc["7-7", "label_zh"] == "热点（99%置信）"
    assert spots.loc["1-1", "label_en"].startswith("cold spot, ")
    assert spots.loc["7-7", "neighbours"] == 8 and spots.loc["0-0", "neighbours"] == 3
    hot = set(spots.index[spots["spot"] == "hot"])
    assert {"6-6", "7-7", "8-8", "6-8"} <= hot
    assert not hot & {"1-1", "3-3", "0-9", "9-0"}
    assert spots.loc["7-7", "z"] > 2.576 and spots.loc["7-7", "p"] < 0.01


def test_gi_star_with_permutations_agrees_on_the_core():
    spots = gi_star(lattice(), planted(), permutations=199).set_index("code")
    assert spots.loc["7-7", "spot"] == "hot" and spots.loc["7-7", "p"] <= 0.02


def test_random_values_have_few_spots_and_flat_values_none():
    values = np.random.default_rng(11).poisson(10, SIDE * SIDE)
    spots = gi_star(lattice(), values)
    assert (spots["spot"] != "none").mean() < 0.2
    flat = gi_star(lattice(), np.full(SIDE * SIDE, 4.0))
    assert set(flat["spot"]) == {"none"} and flat["z"].isna().all()


def test_an_island_is_never_a_spot():
    cells = lattice(4)
    island = gpd.GeoDataFrame({"code": ["far"], "name": ["远"]},
                              geometry=[box(121, 29, 121.01, 29.01)], crs=4326)  # fmt: skip
    grids = pd.concat([cells, island], ignore_index=True)
    values = np.ones(len(grids))
    values[-1] = 500
    spots = gi_star(grids, values).set_index("code")
    assert spots.loc["far", "neighbours"] == 0 and spots.loc["far", "spot"] == "none"


@pytest.mark.parametrize(
    ("values", "message"),
    [([1, 2], "values: needs one value per grid"),
     ([-1] * SIDE * SIDE, "values: must be finite and ≥ 0"),
     ([float("nan")] * SIDE * SIDE, "values: must be finite and ≥ 0")],
)  # fmt: skip
def test_bad_gi_star_input_names_the_field(values, message):
    with pytest.raises(InputError, match=message):
        gi_star(lattice(), values)
    with pytest.raises(InputError, match="grids: Gi\\* needs at least 3 grids"):
        gi_star(lattice().head(2), [1, 2])


def test_hot_spots_of_reports_per_grid():
    spots = hot_spots(tiny_hierarchy(), reports({"101": 40, "102": 35, "103": 30}), "grid")
    assert list(spots["code"]) == ["101", "102", "103", "104", "201", "202", "203", "204"]
    assert spots.set_index("code").loc["101", "value"] == 40
    assert spots["z"].idxmax() in (0, 1, 2, 3)


# --- PAI ------------------------------------------------------------------------------


def test_pai_is_the_hit_rate_over_the_area_share():
    assert pai(30, 100, 5, 100) == 6.0
    assert pai(5, 100, 5, 100) == 1.0  # chance
    with pytest.raises(InputError, match="events: no events in the test window"):
        pai(0, 0, 5, 100)
    with pytest.raises(InputError, match="flagged_area"):
        pai(1, 10, 0, 100)
    with pytest.raises(InputError, match="hits: must be between 0 and the events"):
        pai(11, 10, 5, 100)


def test_flag_top_takes_the_fewest_units_that_reach_the_share():
    assert flag_top([3, 1, 2], [1, 1, 1], 0.5).tolist() == [True, False, True]
    assert flag_top([3, 1, 2], [10, 1, 1], 0.05).tolist() == [True, False, False]
    assert flag_top([0, 0, 0], [1, 1, 1], 0.3).tolist() == [True, False, False]


def test_a_perfect_map_scores_the_inverse_of_its_area_share():
    district = tiny_hierarchy()
    train = reports({"101": 20}, days_ago=40)
    test = reports({"101": 10}, days_ago=5)
    points = pd.concat([train, test], ignore_index=True)
    table = evaluate_pai(district, points, (AS_OF - timedelta(days=60), AS_OF - timedelta(days=30)),
                         (AS_OF - timedelta(days=30), AS_OF), top_percent=10)  # fmt: skip
    rows = table.set_index("method")
    assert list(table["method"]) == ["kde", "gi_star", "counts"]
    assert rows.loc["counts", "hits"] == 10 and rows.loc["counts", "area_percent"] == pytest.approx(
        12.5, abs=0.01
    )
    assert rows.loc["counts", "pai"] == pytest.approx(8.0, rel=1e-3)
    assert rows.loc["kde", "hits"] == 10
    assert rows.loc["kde", "pai"] == pytest.approx(100 / rows.loc["kde", "area_percent"], rel=1e-3)
    assert 9.5 <= rows.loc["kde", "area_percent"] <= 10.5
    assert (table["events"] == 10).all()


def test_pai_of_a_map_with_no_skill_is_about_one():
    district = tiny_hierarchy()
    points = random_points(4000, (120.0, 28.0, 120.04, 28.02), days=60)
    table = evaluate_pai(district, points, (AS_OF - timedelta(days=60), AS_OF - timedelta(days=30)),
                         (AS_OF - timedelta(days=30), AS_OF), top_percent=25)  # fmt: skip
    assert table["pai"].between(0.7, 1.3).all()


def test_pai_refuses_an_empty_test_window_and_bad_options():
    district = tiny_hierarchy()
    points = reports({"101": 5}, days_ago=40)
    train = (AS_OF - timedelta(days=60), AS_OF - timedelta(days=30))
    test = (AS_OF - timedelta(days=30), AS_OF)
    with pytest.raises(InputError, match="test: no reports in the test window"):
        evaluate_pai(district, points, train, test)
    with pytest.raises(InputError, match="until: the time window is empty"):
        evaluate_pai(district, points, train, (AS_OF, AS_OF))
    with pytest.raises(InputError, match="top_percent: must be between 0 and 100"):
        evaluate_pai(district, points, train, test, top_percent=0)
    with pytest.raises(InputError, match="level: 'x' is not one of street, grid"):
        evaluate_pai(district, points, train, test, level="x")


def test_without_a_level_the_districts_default_level_is_counted(tmp_path):
    district = Hierarchy.from_manifest(write_tiny_district(tmp_path, RENAMED_MANIFEST))
    assert list(hot_spots(district, None)["code"]) == list(district.grids("zone")["code"])
