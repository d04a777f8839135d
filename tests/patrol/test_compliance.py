"""Compliance: distinct patrols per grid and day against 一日三巡."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from geogrid import Hierarchy
from geogrid.errors import InputError
from geogrid.patrol.compliance import (
    COLOURS,
    PatrolRule,
    compliance_layer,
    compliance_summary,
    compliance_table,
    count_patrols,
    never_visited,
)
from geogrid.patrol.gpx import parse_gpx
from geogrid.patrol.tracks import grid_visits
from tests.conftest import write_tiny_district
from tests.patrol import AROUND_101, gpx_text, walk_points

#: A walk around grid 102 (north of 101), 20 m inside.
AROUND_102 = [(lon, lat + 0.01) for lon, lat in AROUND_101]
#: A short cut across the south-west corner of grid 103: about 30 m and half a minute inside.
CORNER_103 = [(120.0098, 28.0003), (120.0103, 28.0003)]
DAY = "2026-11-23"


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    return Hierarchy.from_manifest(write_tiny_district(tmp_path_factory.mktemp("district")))


def visits_of(district, walks: list[tuple[str, list, str]]) -> pd.DataFrame:
    """Visits of tracks given as (worker, corners, local start time)."""
    frames = []
    for number, (worker, corners, start) in enumerate(walks):
        gpx = gpx_text([(f"t{number}", walk_points(corners, f"{DAY}T{start}+08:00"))], worker)
        frames.append(grid_visits(parse_gpx(gpx)[0], district))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def a_day(district):
    """一日三巡 of grid 101 by three workers, a second pass within the hour, one of 102."""
    return visits_of(
        district,
        [
            ("张三", AROUND_101, "08:00"),
            ("张三", AROUND_101, "09:40"),  # 46 min after: one patrol
            ("李四", AROUND_101, "14:00"),
            ("王五", AROUND_101, "20:00"),
            ("张三", AROUND_102, "10:00"),
            ("李四", CORNER_103, "15:00"),
        ],
    )


def test_three_patrols_make_the_day_and_repeats_within_the_hour_count_once(a_day, district):
    patrols = count_patrols(a_day)
    per_grid = patrols.groupby("code").size().to_dict()
    assert per_grid == {"101": 3, "102": 1}  # the corner of 103 is not a patrol
    zhang = patrols[(patrols["code"] == "101") & (patrols["worker"] == "张三")].iloc[0]
    assert zhang["passes"] == 2
    codes = district.grids("grid")["code"]
    table = compliance_table(patrols, codes, DAY, DAY)
    status = table.set_index("code")["status"].to_dict()
    assert status == {
        "101": "met",
        "102": "short",
        "103": "missed",
        "104": "missed",
        "201": "missed",
        "202": "missed",
        "203": "missed",
        "204": "missed",
    }
    assert table.set_index("code").loc["102", "shortfall"] == 2
    assert table.set_index("code").loc["101", "colour"] == COLOURS["met"]


def test_the_requirement_and_thresholds_are_configurable(a_day):
    rule = PatrolRule(required_per_day=1, merge_minutes=30, min_minutes=0.1, min_length_m=10)
    patrols = count_patrols(a_day, rule)
    assert patrols.groupby("code").size().to_dict() == {"101": 4, "102": 1, "103": 1}
    table = compliance_table(patrols, ["101", "102", "103"], DAY, DAY, rule)
    assert set(table["status"]) == {"met"}


def test_a_period_summary_names_grids_never_visited(a_day, district):
    patrols = count_patrols(a_day)
    codes = district.grids("grid")["code"]
    table = compliance_table(patrols, codes, date(2026, 11, 23), date(2026, 11, 24))
    assert len(table) == 8 * 2
    summary = compliance_summary(table).set_index("code")
    assert summary.loc["101", ["days", "days_met", "status"]].tolist() == [2, 1, "partly"]
    assert summary.loc["102", "status"] == "short"
    assert summary.loc["204", ["status", "label"]].tolist() == ["never", "从未巡查"]
    assert never_visited(table) == ["103", "104", "201", "202", "203", "204"]
    layer = compliance_layer(compliance_summary(table), district.grids("grid"))
    assert len(layer) == 8 and layer.crs.to_epsg() == 4326
    assert layer.set_index("code").loc["204", "colour"] == COLOURS["never"]
    assert list(compliance_summary(table)["code"])[-1] == "101"  # worst first, best last


def test_days_are_local_china_time(district):
    late = visits_of(district, [("张三", AROUND_101, "23:30")])  # 15:30 UTC the same day
    patrols = count_patrols(late)
    assert patrols["day"].tolist() == [date(2026, 11, 23)]


def test_no_visits_and_bad_rules_are_handled(district):
    empty = count_patrols(
        pd.DataFrame(columns=["worker", "code", "start", "end", "seconds", "length_m"])
    )
    table = compliance_table(empty, ["101"], DAY, DAY)
    assert table["status"].tolist() == ["missed"]
    with pytest.raises(InputError, match="required_per_day"):
        PatrolRule(required_per_day=0)
    with pytest.raises(InputError, match="timezone"):
        PatrolRule(timezone="Mars/Olympus")
    with pytest.raises(InputError, match=r"until .* is before since"):
        compliance_table(empty, ["101"], "2026-11-24", DAY)
    with pytest.raises(InputError, match="missing column"):
        count_patrols(pd.DataFrame({"code": ["101"]}))
