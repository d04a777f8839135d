"""The four-colour rules on hand-made cases: hazards, pressure, parents, reasons, trend."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from geogrid.analysis.events import as_of_moment
from geogrid.analysis.risk import (
    RiskColour,
    RiskRules,
    colour_grids,
    hazard_colour,
    hazard_colours,
)
from geogrid.errors import InputError
from tests.analysis import (
    AS_OF,
    CHINA_TIME,
    ORANGE_LEC,
    RED_LEC,
    YELLOW_MATRIX,
    centre,
    hazards,
    reports,
    tiny_hierarchy,
)
from tests.conftest import SOUTH, STEP, WEST

# ~50 m west of the edge between grid 101 and grid 103 (0.01° of longitude ≈ 980 m here).
NEAR_EDGE = (WEST + STEP - 0.0005, SOUTH + 0.005)


def colours(result, level: str = "grid") -> dict[str, str]:
    frame = result[level]
    return dict(zip(frame["code"], frame["colour"], strict=True))


def row(result, code: str, level: str = "grid") -> pd.Series:
    frame = result[level]
    return frame[frame["code"] == code].iloc[0]


@pytest.fixture(scope="module")
def district():
    return tiny_hierarchy()


# --- hazards to colours -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "score", "colour"),
    [("lec", 69.9, "blue"), ("lec", 70, "yellow"), ("lec", 159, "yellow"), ("lec", 160, "orange"),
     ("lec", 319, "orange"), ("lec", 320, "red"), ("lec", 10_000, "red"),
     ("matrix", 3, "blue"), ("matrix", 4, "yellow"), ("matrix", 9, "yellow"),
     ("matrix", 10, "orange"), ("matrix", 16, "orange"), ("matrix", 20, "red"),
     ("matrix", 25, "red")],
)  # fmt: skip
def test_default_thresholds_follow_the_design(method, score, colour):
    assert hazard_colour(method, score).key == colour


def test_thresholds_are_configuration():
    rules = RiskRules(lec_thresholds=(50, 100, 250), matrix_thresholds=(2, 5, 12))
    assert hazard_colour("lec", 270).key == "orange"
    assert hazard_colour("lec", 270, rules).key == "red"
    assert hazard_colour("matrix", 12, rules).key == "red"


def test_hazard_colours_from_scores():
    frame = hazards(
        ("a", 120.0, 28.0, "lec", RED_LEC, 0),
        ("b", 120.0, 28.0, "lec", ORANGE_LEC, 0),
        ("c", 120.0, 28.0, "matrix", YELLOW_MATRIX, 0),
        ("d", 120.0, 28.0, "matrix", {"L": 1, "S": 2}, 0),
    )
    assert [RiskColour(c).key for c in hazard_colours(frame)] == ["red", "orange", "yellow", "blue"]


@pytest.mark.parametrize(
    ("method", "scores", "message"),
    [("lec", {"L": 4, "E": 6, "C": 15}, r"hazards\[0\].scores.L: 4 is not on the LEC scale"),
     ("matrix", {"L": 6, "S": 1}, r"scores.L: 6 is not on the matrix scale 1–5"),
     ("matrix", {"L": 2}, r"scores: needs exactly L, S"),
     ("fmea", {"L": 2, "S": 2}, r"method: 'fmea' is not one of lec, matrix")],
)  # fmt: skip
def test_bad_scores_and_methods_name_the_field(method, scores, message):
    with pytest.raises(InputError, match=message):
        hazard_colours(hazards(("x", 120.0, 28.0, method, scores, 0)))


def test_bare_scores_outside_the_scales_are_refused():
    with pytest.raises(InputError, match="score: 30 is outside the risk-matrix range"):
        hazard_colour("matrix", 30)
    with pytest.raises(InputError, match="method: 'hazop'"):
        hazard_colour("hazop", 30)
    frame = pd.DataFrame({"method": ["lec"], "score": [20_000]})
    with pytest.raises(InputError, match="score: 20000 is outside the LEC range"):
        hazard_colours(frame)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("window_days", 0, "window_days: the time window must be at least 1 day"),
     ("lec_thresholds", (70, 320, 160), "lec_thresholds: must be positive and strictly"),
     ("matrix_thresholds", (4, 10), "matrix_thresholds: needs 3 numbers"),
     ("pressure", "zscore", "pressure: 'zscore' is not one of distribution, rate"),
     ("parent_rule", "mean", "parent_rule: 'mean' is not one of worst_child, own"),
     ("top_percent", (0,), "top_percent: each must be between 0 and 100"),
     ("min_events", 0, "min_events: must be a whole number"),
     ("categories", "dispute", "categories: must be a tuple")],
)  # fmt: skip
def test_bad_rules_name_the_field(field, value, message):
    with pytest.raises(InputError, match=message):
        RiskRules(**{field: value})


# --- grids to colours ---------------------------------------------------------------


def test_no_reports_and_no_hazards_give_an_all_blue_map(district):
    result = colour_grids(district, None, None, AS_OF)
    assert set(result) == {"street", "grid"}
    for frame in result.values():
        assert set(frame["colour"]) == {"blue"}
        assert set(frame["trend"]) == {"steady"}
        assert frame.crs.to_epsg() == 4326
    assert row(result, "101")["reasons"] == "无隐患，无重点事件 / no hazards, no reported events"
    empty = colour_grids(district, hazards(), reports({}), AS_OF)
    assert set(empty["grid"]["colour"]) == {"blue"}


def test_a_red_hazard_in_a_grid_makes_it_red_and_its_parent_red(district):
    lon, lat = centre("101")
    result = colour_grids(district, hazards(("加油站", lon, lat, "lec", RED_LEC, 0)), None, AS_OF)
    assert colours(result) == {
        "101": "red",
        "102": "blue",
        "103": "blue",
        "104": "blue",
        "201": "blue",
        "202": "blue",
        "203": "blue",
        "204": "blue",
    }
    assert colours(result, "street") == {"1": "red", "2": "blue"}
    first = row(result, "101")
    assert first["hazards"] == 1 and first["hazard_colour"] == "red"
    assert first["colour_zh"] == "红" and first["grade_zh"] == "重大"
    assert first["reasons_zh"] == "1处重大隐患：加油站"
    assert first["reasons_en"] == "1 red hazard: 加油站"
    assert first["reasons"].startswith("1处重大隐患")


def test_the_worst_hazard_wins_and_reasons_count_every_colour(district):
    lon, lat = centre("203")
    frame = hazards(("仓库", lon, lat, "matrix", YELLOW_MATRIX, 0),
                    ("液化气站", lon, lat, "lec", ORANGE_LEC, 0),
                    ("配电房", lon, lat, "matrix", {"L": 1, "S": 1}, 0))  # fmt: skip
    result = colour_grids(district, frame, None, AS_OF)
    assert row(result, "203")["colour"] == "orange"
    assert row(result, "203")["reasons_zh"] == (
        "1处较大隐患：液化气站；1处一般隐患：仓库；1处低风险隐患"
    )


def test_a_hazard_on_a_shared_edge_touches_both_grids(district):
    on_edge = (WEST + STEP, SOUTH + 0.005)  # between 101 and 103
    result = colour_grids(district, hazards(("桥", *on_edge, "lec", RED_LEC, 0)), None, AS_OF)
    assert {c for c, v in colours(result).items() if v == "red"} == {"101", "103"}


def test_an_influence_radius_makes_a_zone_in_metres(district):
    point_only = hazards(("加油站", *NEAR_EDGE, "lec", RED_LEC, 0))
    zone = hazards(("加油站", *NEAR_EDGE, "lec", RED_LEC, 100))
    short = hazards(("加油站", *NEAR_EDGE, "lec", RED_LEC, 40))
    assert colours(colour_grids(district, point_only, None, AS_OF))["103"] == "blue"
    assert colours(colour_grids(district, zone, None, AS_OF))["103"] == "red"
    assert colours(colour_grids(district, short, None, AS_OF))["103"] == "blue"


def test_thresholds_move_grid_colours(district):
    frame = hazards(("液化气站", *centre("104"), "lec", ORANGE_LEC, 0))
    assert colours(colour_grids(district, frame, None, AS_OF))["104"] == "orange"
    stricter = RiskRules(lec_thresholds=(70, 160, 250))
    assert colours(colour_grids(district, frame, None, AS_OF, stricter))["104"] == "red"


def test_hazards_recorded_after_the_date_do_not_count(district):
    frame = hazards(("加油站", *centre("101"), "lec", RED_LEC, 0))
    frame["created_at"] = pd.Timestamp(AS_OF + timedelta(days=2))
    assert colours(colour_grids(district, frame, None, AS_OF))["101"] == "blue"
    assert colours(colour_grids(district, frame, None, AS_OF + timedelta(days=3)))["101"] == "red"


def test_event_pressure_in_the_top_share_raises_one_step(district):
    points = reports({"202": 12, "101": 1})
    result = colour_grids(district, None, points, AS_OF, RiskRules(top_percent=(20.0,)))
    assert colours(result)["202"] == "yellow" and colours(result)["101"] == "blue"
    hot = row(result, "202")
    assert hot["events"] == 12 and hot["pressure"] == 3.0 and hot["raised"] == 1
    assert hot["top_percent"] == 12.5
    assert hot["reasons_zh"] == (
        "30天内重点事件12起（矛盾纠纷12），每百户3.0起，居全区网格前20%，升一级；前30天0起；"
        "较前30天由蓝升为黄"
    )
    assert hot["reasons_en"] == (
        "12 reports in 30 days (disputes 12), 3.0 per 100 households, top 20 % of the grid "
        "level: raised 1 step; 0 in the 30 days before; up from blue in the 30 days before"
    )
    assert colours(result, "street") == {"1": "blue", "2": "yellow"}


def test_pressure_raises_a_hazard_colour_and_stops_at_red(district):
    frame = hazards(("液化气站", *centre("202"), "lec", ORANGE_LEC, 0),
                    ("加油站", *centre("101"), "lec", RED_LEC, 0))  # fmt: skip
    points = reports({"202": 12, "101": 20})
    result = colour_grids(district, frame, points, AS_OF, RiskRules(top_percent=(30.0,)))
    assert colours(result)["202"] == "red" and colours(result)["101"] == "red"


def test_fixed_rates_instead_of_the_distribution(district):
    points = reports({"201": 8, "202": 21})
    rules = RiskRules(pressure="rate", rate_thresholds=(2.0, 5.0))
    result = colour_grids(district, None, points, AS_OF, rules)
    assert colours(result)["201"] == "yellow"  # 2 per 100 households
    assert colours(result)["202"] == "orange"  # 5.25 per 100 households
    assert "达到每百户5起，升两级" in row(result, "202")["reasons_zh"]


def test_too_few_reports_never_raise(district):
    points = reports({"202": 2})
    rules = RiskRules(top_percent=(20.0,))
    assert colours(colour_grids(district, None, points, AS_OF, rules))["202"] == "blue"
    lenient = RiskRules(top_percent=(20.0,), min_events=2)
    assert colours(colour_grids(district, None, points, AS_OF, lenient))["202"] == "yellow"


def test_only_the_chosen_categories_and_window_count(district):
    rules = RiskRules(top_percent=(20.0,))
    city = reports({"202": 12}, category="city.rubbish")
    assert colours(colour_grids(district, None, city, AS_OF, rules))["202"] == "blue"
    everything = RiskRules(top_percent=(20.0,), categories=())
    assert colours(colour_grids(district, None, city, AS_OF, everything))["202"] == "yellow"
    old = reports({"202": 12}, days_ago=31)
    result = colour_grids(district, None, old, AS_OF, rules)
    assert row(result, "202")["events"] == 0 and row(result, "202")["events_prev"] == 12


def test_trend_against_the_previous_window(district):
    rules = RiskRules(top_percent=(20.0,))
    points = pd.concat([reports({"202": 12}, days_ago=40), reports({"103": 5})])
    result = colour_grids(district, None, points, AS_OF, rules)
    falling, rising = row(result, "202"), row(result, "103")
    assert (falling["colour"], falling["colour_prev"], falling["trend"]) == ("blue", "yellow",
                                                                             "down")  # fmt: skip
    assert falling["reasons_zh"] == "30天内无重点事件（前30天12起）；较前30天由黄降为蓝"
    assert (rising["colour"], rising["trend"]) == ("yellow", "up")
    assert rising["reasons_en"].endswith("up from blue in the 30 days before")


def test_a_parent_takes_its_worst_child_or_its_own_colour(district):
    points = reports({"202": 12})
    worst_child = colour_grids(district, None, points, AS_OF, RiskRules(top_percent=(20.0,)))
    assert colours(worst_child, "street")["2"] == "yellow"
    street = row(worst_child, "2", "street")
    assert street["reasons_zh"].startswith("30天内重点事件12起")
    assert "下级“第2网格”为黄色（一般）" in street["reasons_zh"]
    assert "grid 第2网格 is yellow" in street["reasons_en"]
    own = colour_grids(district, None, points, AS_OF,
                       RiskRules(top_percent=(20.0,), parent_rule="own"))  # fmt: skip
    assert colours(own, "street")["2"] == "blue"


def test_given_grid_codes_are_used_as_they_are(district):
    points = reports({"202": 12}).assign(street_code="1", grid_code="104")
    result = colour_grids(district, None, points, AS_OF, RiskRules(top_percent=(20.0,)))
    assert colours(result)["104"] == "yellow" and colours(result)["202"] == "blue"


def test_as_of_a_date_means_the_end_of_that_day_in_china():
    zone = CHINA_TIME  # the district's, from its working calendar
    assert as_of_moment(date(2026, 11, 23), zone) == datetime(2026, 11, 24, tzinfo=CHINA_TIME)
    assert as_of_moment("2026-11-23T10:00:00", zone).tzinfo is not None
    with pytest.raises(InputError, match="date: '23/11/2026' is not YYYY-MM-DD"):
        as_of_moment("23/11/2026", zone)


def test_bad_points_and_hazards_name_the_problem(district):
    with pytest.raises(InputError, match="points: missing column category"):
        colour_grids(district, None, reports({"101": 1}).drop(columns="category"), AS_OF)
    naive = reports({"101": 1}).assign(time=datetime(2026, 11, 20))
    with pytest.raises(InputError, match=r"points\.time: needs times with a time zone"):
        colour_grids(district, None, naive, AS_OF)
    frame = hazards(("x", *centre("101"), "lec", RED_LEC, 0)).set_crs(None, allow_override=True)
    with pytest.raises(InputError, match="hazards: the GeoDataFrame needs a CRS"):
        colour_grids(district, frame, None, AS_OF)
    with pytest.raises(InputError, match="radius_m: must be between 0 and 50000"):
        colour_grids(district, hazards(("x", *centre("101"), "lec", RED_LEC, -5)), None, AS_OF)
