"""Assessment statistics (考核): every column against counts made by hand, on SQLite and PostGIS.

The district is the tiny one under other level keys (township, zone), so nothing
may assume the sample district's. Reports go round the loop with
``store.transition`` at fixed times: the store's clock is moved by hand.

The scenario, in November 2026 (local days, Asia/Shanghai), ``now`` 5 December:

====  ====  ============================================================================
id    zone  story
====  ====  ============================================================================
A     101   received 2 Nov, dispatched to w1 (deadline +48 h), closed +24 h, rated 5
B     101   received 2 Nov, to w1 (deadline +48 h), returned once, closed +72 h (late), rated 3
C     102   received 2 Nov, to w2 (deadline +24 h), escalated at +30 h, closed +40 h
D     201   received 2 Nov, to the department (deadline +10 h), still open: overdue now
E     101   received 25 Oct (before), to w1 (deadline 10 Nov), closed 2 Nov +5 h (on time)
F     101   received 20 Nov, to w1, closed 3 Dec (after the period)
G     202   received 2 Nov, closed at once +1 h (不予受理)
====  ====  ============================================================================

Patrols: w1 walks zone 101 three times on 2 and 3 November (met); nobody else.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from geogrid.errors import InputError
from geogrid.patrol.records import Track
from geogrid.stats import COLUMNS, assessment, local_period, records, weekly
from geogrid.storage import open_store
from tests.conftest import RENAMED_MANIFEST, SOUTH, STEP, WEST, write_tiny_district
from tests.storage.conftest import fresh_postgis, postgis_template  # noqa: F401 (fixture)

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 on 2 November in Shanghai
NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
SINCE, UNTIL = local_period(T0.date().replace(day=1), T0.date().replace(day=30), "Asia/Shanghai")
HOUR = timedelta(hours=1)
#: A point inside each zone of the tiny district (zones are STEP degrees square).
POINTS = {"101": (0.5, 0.5), "102": (0.5, 1.5), "201": (2.5, 0.5), "202": (2.5, 1.5)}


class MovingClock:
    """A clock the test sets by hand."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def loop(request, tmp_path_factory):
    """(store, ids by letter) with the scenario stored, on each backend."""
    folder = tmp_path_factory.mktemp(request.param)
    manifest = write_tiny_district(folder / "district", RENAMED_MANIFEST)
    if request.param == "sqlite":
        store = _scenario(f"sqlite:///{folder / 'stats.db'}", manifest)
        yield store
        store.close()
        return
    with fresh_postgis(request.getfixturevalue("postgis_template")) as url:
        store = _scenario(url, manifest)
        yield store
        store.close()


def _scenario(url: str, manifest):
    from geogrid import Hierarchy
    from geogrid.reports import NewReport

    clock = MovingClock(T0 - timedelta(days=8))
    store = open_store(url, clock=clock)
    store.import_generation(Hierarchy.from_manifest(manifest), "2026", activate=True)
    for name, role, scope, shown in (("chief", "commander", None, "指挥长"),
                                     ("w1", "grid_worker", ["101"], "王一"),
                                     ("w2", "grid_worker", ["102"], "王二"),
                                     ("w3", "grid_worker", ["201"], "王三"),
                                     ("roads", "department", None, "市政")):  # fmt: skip
        store.accounts.add_user(name, role, scope, display_name=shown, actor="test")
    who = {u.name: u.principal("test") for u in store.accounts.users()}

    def report(zone: str, key: str) -> int:
        dx, dy = POINTS[zone]
        new = NewReport("dispute.neighbour", WEST + dx * STEP, SOUTH + dy * STEP,
                        external_id=key, description=key)  # fmt: skip
        return store.add_report(new, actor="test").id

    def dispatch(report_id: int, assignee: str, deadline: datetime) -> None:
        store.transition(report_id, "registered", actor=who["chief"])
        store.transition(report_id, "dispatched", actor=who["chief"], assignee=assignee,
                         deadline=deadline)  # fmt: skip

    def close(report_id: int, assignee: str, returns: int = 0) -> None:
        store.transition(report_id, "in_progress", actor=who[assignee])
        store.transition(report_id, "feedback", actor=who[assignee], note="done")
        for _ in range(returns):
            store.transition(report_id, "in_progress", actor=who["chief"], note="redo")
            store.transition(report_id, "feedback", actor=who[assignee], note="redone")
        store.transition(report_id, "verified", actor=who["chief"])
        store.transition(report_id, "closed", actor=who["chief"])

    ids = {}
    ids["E"] = report("101", "E")  # 25 Oct
    dispatch(ids["E"], "w1", datetime(2026, 11, 10, tzinfo=UTC))
    clock.at = T0
    for key, zone in (("A", "101"), ("B", "101"), ("C", "102"), ("D", "201"), ("G", "202")):
        ids[key] = report(zone, key)
    dispatch(ids["A"], "w1", T0 + 48 * HOUR)
    dispatch(ids["B"], "w1", T0 + 48 * HOUR)
    dispatch(ids["C"], "w2", T0 + 24 * HOUR)
    dispatch(ids["D"], "roads", T0 + 10 * HOUR)
    clock.at = T0 + HOUR
    store.transition(ids["G"], "closed", actor=who["chief"], note="重复 duplicate")
    clock.at = T0 + 5 * HOUR
    close(ids["E"], "w1")
    clock.at = T0 + 24 * HOUR
    close(ids["A"], "w1")
    clock.at = T0 + 30 * HOUR
    escalated = store.escalate_overdue(clock.at)
    assert {r.id for r in escalated} == {ids["C"], ids["D"]}
    clock.at = T0 + 40 * HOUR
    close(ids["C"], "w2")
    clock.at = T0 + 72 * HOUR
    close(ids["B"], "w1", returns=1)
    for key, score in (("A", 5), ("B", 3)):
        store.rate(store.get_report(ids[key]).ticket, score, actor="resident")
    clock.at = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    ids["F"] = report("101", "F")
    dispatch(ids["F"], "w1", clock.at + 48 * HOUR)
    clock.at = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    close(ids["F"], "w1")
    store.add_tracks(_patrols("w1", "101", [2, 3]), actor="test")
    clock.at = NOW
    store.ids = ids
    return store


def _patrols(worker: str, zone: str, days: list[int]) -> list[Track]:
    """Three 10-minute walks of ~550 m inside ``zone`` on each November day of ``days``."""
    dx, dy = POINTS[zone]
    tracks = []
    for day in days:
        for hour in (0, 3, 6):  # 08:00, 11:00, 14:00 in Shanghai: three patrols
            start = np.datetime64(f"2026-11-{day:02d}T{hour:02d}:00")
            times = start + np.arange(11) * np.timedelta64(60, "s")
            lon = np.full(11, WEST + (dx - 0.25) * STEP) + np.linspace(0, 0.5 * STEP, 11)
            lat = np.full(11, SOUTH + dy * STEP)
            tracks.append(Track(f"{day}-{hour}", worker, times.astype("datetime64[ns]"), lon, lat))
    return tracks


def _row(table: pd.DataFrame, code: str) -> dict:
    return records(table[table["code"] == code])[0]


def test_columns_start_as_promised(loop):
    table = assessment(loop, "zone", SINCE, UNTIL, NOW)
    assert list(table.columns) == list(COLUMNS)
    assert list(table.columns[:9]) == ["code", "name", "received", "closed", "closure_rate",
                                       "on_time_rate", "overdue", "escalated",
                                       "mean_hours_to_close"]  # fmt: skip
    assert table["code"].tolist() == ["101", "102", "103", "104", "201", "202", "203", "204"]


def test_zone_101_counted_by_hand(loop):
    row = _row(assessment(loop, "zone", SINCE, UNTIL, NOW), "101")
    # received A, B, F (E before the period); closed in it A, B, E; of the received, A and B
    assert (row["received"], row["closed"], row["closed_of_received"]) == (3, 3, 2)
    assert row["closure_rate"] == pytest.approx(2 / 3, abs=1e-4)
    # on time: A (24 h of 48), E (before 10 Nov); B late (72 h of 48)
    assert (row["on_time"], row["on_time_rate"]) == (2, pytest.approx(2 / 3, abs=1e-4))
    assert (row["overdue"], row["escalated"], row["returned"]) == (0, 0, 1)
    hours = [24, 72, 8 * 24 + 5]  # A, B, E (received 25 Oct 10:00, closed 2 Nov 15:00)
    assert row["mean_hours_to_close"] == pytest.approx(np.mean(hours), abs=0.01)
    assert row["p90_hours_to_close"] == pytest.approx(72 + 0.8 * (197 - 72), abs=0.01)
    assert (row["rated"], row["satisfaction"], row["satisfied_rate"]) == (2, 4.0, 0.5)
    # met on 2 and 3 November, of the 30 days of the period (all ended by 5 December)
    assert (row["patrol_days"], row["patrol_days_met"]) == (30, 2)
    assert row["patrol_compliance"] == pytest.approx(2 / 30, abs=1e-4)
    assert row["name"] == "第1网格"


def test_escalated_late_and_overdue_zones(loop):
    table = assessment(loop, "zone", SINCE, UNTIL, NOW)
    c, d, g = _row(table, "102"), _row(table, "201"), _row(table, "202")
    # C closed before its new deadline, but it was escalated: not on time
    assert (c["received"], c["closed"], c["escalated"], c["on_time_rate"]) == (1, 1, 1, 0.0)
    assert c["mean_hours_to_close"] == c["p90_hours_to_close"] == 40.0
    # D is still open, past its deadline
    assert (d["received"], d["closed"], d["overdue"], d["closure_rate"]) == (1, 0, 1, 0.0)
    assert d["on_time_rate"] is None and d["mean_hours_to_close"] is None
    assert (g["closed"], g["on_time_rate"], g["mean_hours_to_close"]) == (1, 1.0, 1.0)
    empty = _row(table, "103")
    assert (empty["received"], empty["closure_rate"], empty["satisfaction"]) == (0, None, None)
    assert empty["patrol_compliance"] == 0.0


def test_township_sums_its_zones(loop):
    table = assessment(loop, "township", SINCE, UNTIL, NOW)
    one = _row(table, "1")
    assert (one["received"], one["closed"], one["escalated"], one["returned"]) == (4, 4, 1, 1)
    assert one["on_time_rate"] == pytest.approx(2 / 4)
    hours = [24, 72, 197, 40]
    assert one["p90_hours_to_close"] == pytest.approx(np.percentile(hours, 90), abs=0.01)
    assert (one["patrol_days"], one["patrol_days_met"]) == (4 * 30, 2)
    two = _row(table, "2")
    assert (two["received"], two["closed"], two["overdue"]) == (2, 1, 1)


def test_people(loop):
    workers = assessment(loop, None, SINCE, UNTIL, NOW, by="worker")
    assert workers["code"].tolist() == ["w1", "w2", "w3"]
    w1 = _row(workers, "w1")
    assert w1["name"] == "王一"
    # dispatched in the period A, B, F (E in October); closed in it A, B, E
    assert (w1["received"], w1["closed"], w1["closed_of_received"]) == (3, 3, 2)
    assert (w1["patrol_days"], w1["patrol_days_met"]) == (30, 2)
    w2 = _row(workers, "w2")
    assert (w2["received"], w2["escalated"], w2["patrol_days_met"]) == (1, 1, 0)
    departments = assessment(loop, None, SINCE, UNTIL, NOW, by="department")
    roads = _row(departments, "roads")
    assert (roads["received"], roads["overdue"], roads["patrol_compliance"]) == (1, 1, None)


def test_scope_keeps_its_units_and_reports(loop):
    table = assessment(loop, "zone", SINCE, UNTIL, NOW, scope=["2"])
    assert table["code"].tolist() == ["201", "202", "203", "204"]
    workers = assessment(loop, None, SINCE, UNTIL, NOW, by="worker", scope=["2"], patrol=False)
    assert workers["code"].tolist() == ["w3"]  # w1 and w2 work outside street 2
    assert workers["received"].sum() == 0


def test_no_patrol_leaves_patrol_columns_empty(loop):
    table = assessment(loop, "zone", SINCE, UNTIL, NOW, patrol=False)
    assert table["patrol_compliance"].isna().all()


def test_weekly_trend(loop):
    trend = weekly(loop, SINCE, UNTIL)
    assert len(trend) == 5  # 30 days: four weeks and two days
    assert trend["received"].sum() == 6  # A, B, C, D, F, G (E came in October)
    assert trend["closed"].sum() == 5  # A, B, C, E, G (F closed in December)
    assert trend.loc[0, "received"] == 5  # 2 November is in the first week


def test_bad_input(loop):
    with pytest.raises(InputError, match="level: 'grid' is not one of township, zone"):
        assessment(loop, "grid", SINCE, UNTIL, NOW)
    with pytest.raises(InputError, match=r"until .* must be after since"):
        assessment(loop, "zone", UNTIL, SINCE, NOW)
    with pytest.raises(InputError, match="by: 'street'"):
        assessment(loop, "zone", SINCE, UNTIL, NOW, by="street")
