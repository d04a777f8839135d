"""Deadlines in calendar and working time, and the working calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geogrid.deadlines import DeadlineRule, WorkingCalendar, is_overdue
from geogrid.errors import InputError
from tests.geogrid import SHANGHAI, calendar, default_tree, local

# -------------------------------------------------------------------- deadlines


@pytest.mark.parametrize(
    "text, amount, unit",
    [
        ("4 hours", 4, "hours"),
        ("1 hour", 1, "hours"),
        ("2 days", 2, "days"),
        (" 8 working_hours ", 8, "working_hours"),
        ("1 working_day", 1, "working_days"),
    ],
)
def test_deadline_rules_parse(text, amount, unit):
    assert DeadlineRule.parse(text) == DeadlineRule(amount, unit)


@pytest.mark.parametrize(
    "text", ["5", "five days", "5 weeks", "0 hours", "-1 hours", "1.5 hours", "5 workdays", None]
)
def test_bad_deadline_rules_are_refused(text):
    with pytest.raises(InputError, match="is not a deadline"):
        DeadlineRule.parse(text)


def test_plain_hours_run_across_midnight_and_come_back_in_utc():
    due = calendar().deadline(local(2026, 3, 9, 22, 0), "4 hours")
    assert due == local(2026, 3, 10, 2, 0) and due.tzinfo is UTC
    assert calendar().deadline(local(2026, 10, 1, 9), "2 days") == local(2026, 10, 3, 9)


def test_start_in_another_time_zone_is_the_same_instant():
    start = local(2026, 3, 6, 16, 30)
    rule = DeadlineRule.parse("3 working_hours")
    assert calendar().deadline(start.astimezone(UTC), rule) == calendar().deadline(start, rule)


@pytest.mark.parametrize(
    "start, hours, due",
    [
        # across the lunch break (12:00–13:30)
        (local(2026, 3, 9, 11, 0), 2, local(2026, 3, 9, 14, 30)),
        # received during lunch or before the office opens
        (local(2026, 3, 9, 12, 30), 1, local(2026, 3, 9, 14, 30)),
        (local(2026, 3, 9, 7, 0), 1, local(2026, 3, 9, 9, 30)),
        # ending exactly at the end of a period, not at the start of the next one
        (local(2026, 3, 9, 8, 30), 3, local(2026, 3, 9, 11, 30)),
        (local(2026, 3, 9, 9, 0), 3, local(2026, 3, 9, 12, 0)),
        # across a weekend: Friday 17:00 → Monday
        (local(2026, 3, 6, 17, 0), 2, local(2026, 3, 9, 10, 0)),
        # across 国庆节 (Oct 1–7) from the evening before
        (local(2026, 9, 30, 17, 0), 2, local(2026, 10, 8, 10, 0)),
        # a 调休 Saturday counts (Oct 10), as does a 调休 Sunday (Sep 20)
        (local(2026, 10, 9, 17, 0), 2, local(2026, 10, 10, 10, 0)),
        (local(2026, 9, 19, 10, 0), 1, local(2026, 9, 20, 9, 30)),
        # 调休 Saturday Feb 14, then 春节 until Feb 23
        (local(2026, 2, 14, 9, 0), 8, local(2026, 2, 24, 9, 30)),
    ],
)
def test_working_hours(start, hours, due):
    rule = DeadlineRule(hours, "working_hours")
    assert calendar().deadline(start, rule) == due
    assert calendar().working_time_between(start, due) == timedelta(hours=hours)


@pytest.mark.parametrize(
    "start, days, due",
    [
        # Friday evening and Friday morning alike: the day of receipt never counts
        (local(2026, 3, 6, 20, 0), 1, local(2026, 3, 9, 17, 30)),
        (local(2026, 3, 6, 9, 0), 1, local(2026, 3, 9, 17, 30)),
        (local(2026, 3, 6, 20, 0), 3, local(2026, 3, 11, 17, 30)),
        # received on a holiday (Oct 3): Oct 8 is the first working day, Oct 10 the third
        (local(2026, 10, 3, 10, 0), 1, local(2026, 10, 8, 17, 30)),
        (local(2026, 10, 3, 10, 0), 3, local(2026, 10, 10, 17, 30)),
        # Mid-Autumn then National Day: Sep 28, 29, 30, Oct 8, 9
        (local(2026, 9, 24, 10, 0), 5, local(2026, 10, 9, 17, 30)),
        # received on a 调休 Sunday, which is itself a working day but still not counted
        (local(2026, 9, 20, 10, 0), 1, local(2026, 9, 21, 17, 30)),
        # New Year's Eve: Jan 1–3 off, Sunday Jan 4 is a 调休 working day
        (local(2025, 12, 31, 10, 0), 1, local(2026, 1, 4, 17, 30)),
    ],
)
def test_working_days(start, days, due):
    assert calendar().deadline(start, DeadlineRule(days, "working_days")) == due


def test_category_deadline_uses_the_tree_calendar():
    tree = default_tree()
    at = local(2026, 9, 30, 17, 0)
    assert tree.deadline("city.rubbish", at) == local(2026, 10, 8, 17, 30)  # 8 working hours
    assert tree.deadline("fire.lane", at) == local(2026, 10, 1, 17, 0)  # 24 hours, holiday or not


@pytest.mark.parametrize("call", ["deadline", "between", "overdue", "working_day"])
def test_naive_datetimes_are_refused(call):
    naive = datetime(2026, 3, 9, 9, 0)
    aware = local(2026, 3, 9, 9, 0)
    calls = {
        "deadline": lambda: calendar().deadline(naive, "4 hours"),
        "between": lambda: calendar().working_time_between(aware, naive),
        "overdue": lambda: is_overdue(aware, naive),
        "working_day": lambda: calendar().is_working_day(naive),
    }
    with pytest.raises(InputError, match="naive datetime"):
        calls[call]()


def test_is_overdue_strictly_after_the_deadline():
    due = local(2026, 3, 9, 17, 30)
    assert not is_overdue(due, due)
    assert is_overdue(due, due + timedelta(microseconds=1))
    assert is_overdue(local(2020, 1, 1))  # default: now


def test_working_time_between_is_signed_and_skips_holidays():
    a, b = local(2026, 9, 30, 17, 0), local(2026, 10, 8, 9, 0)
    assert calendar().working_time_between(a, b) == timedelta(hours=1)
    assert calendar().working_time_between(b, a) == -timedelta(hours=1)
    assert calendar().working_time_between(local(2026, 10, 2), local(2026, 10, 6)) == timedelta(0)


def test_calendar_with_a_24_hour_shift():
    cal = WorkingCalendar(workdays=[1, 2, 3, 4, 5, 6, 7], hours=["00:00-24:00"])
    assert cal.deadline(local(2026, 3, 9, 22, 0), "4 working_hours") == local(2026, 3, 10, 2)
    assert cal.close_of_business(date(2026, 3, 9)) == local(2026, 3, 10, 0, 0)


# ------------------------------------------------------------ deadline properties

starts = st.datetimes(
    min_value=datetime(2025, 12, 20), max_value=datetime(2026, 12, 20), timezones=st.just(SHANGHAI)
)
hours = st.integers(min_value=1, max_value=120)


@settings(deadline=None)
@given(start=starts, n=hours)
def test_working_time_to_the_deadline_is_exactly_n_hours(start, n):
    due = calendar().deadline(start, DeadlineRule(n, "working_hours"))
    assert calendar().working_time_between(start, due) == timedelta(hours=n)
    assert calendar().is_working_day(due.astimezone(SHANGHAI) - timedelta(microseconds=1))


@settings(deadline=None)
@given(a=starts, b=starts, n=hours)
def test_working_hours_deadline_is_monotonic_in_start(a, b, n):
    early, late = sorted([a, b])
    rule = DeadlineRule(n, "working_hours")
    assert calendar().deadline(early, rule) <= calendar().deadline(late, rule)


@settings(deadline=None)
@given(start=starts, n=hours, more=st.integers(min_value=1, max_value=40))
def test_working_hours_deadline_is_increasing_in_n(start, n, more):
    shorter = calendar().deadline(start, DeadlineRule(n, "working_hours"))
    longer = calendar().deadline(start, DeadlineRule(n + more, "working_hours"))
    assert shorter < longer


@settings(deadline=None)
@given(start=starts, n=st.integers(min_value=1, max_value=30))
def test_working_days_end_at_close_of_business_of_the_nth_working_day(start, n):
    cal = calendar()
    due = cal.deadline(start, DeadlineRule(n, "working_days")).astimezone(SHANGHAI)
    assert due.time().isoformat() == "17:30:00" and cal.is_working_day(due.date())
    days = [start.date() + timedelta(days=i) for i in range(1, (due.date() - start.date()).days)]
    assert sum(map(cal.is_working_day, days)) == n - 1
