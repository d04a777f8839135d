"""The report workflow: the closed loop, sources, the category tree and deadlines."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import product
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geogrid.errors import GeogridError, InputError
from geogrid.workflow import (
    CLOSED,
    DISPATCHED,
    FEEDBACK,
    IN_PROGRESS,
    OPEN_STATUSES,
    RECEIVED,
    REGISTERED,
    SOURCES,
    STATUS_LABELS,
    STATUSES,
    VERIFIED,
    Category,
    CategoryTree,
    ConfigError,
    DeadlineRule,
    IllegalTransitionError,
    UnknownCategoryError,
    WorkingCalendar,
    allowed_next,
    check_source,
    check_status,
    check_transition,
    escalation_target,
    is_overdue,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    """A Shanghai wall-clock time: local(2026, 3, 6, 17, 30)."""
    return datetime(*args, tzinfo=SHANGHAI)


@cache
def default_tree() -> CategoryTree:
    return CategoryTree.default()


def calendar() -> WorkingCalendar:
    """The default calendar, with the 2026 holidays and 调休 days."""
    return default_tree().calendar


# --------------------------------------------------------------------- statuses

#: The closed loop written out again by hand, so the table in the code is checked.
ALLOWED = {
    (RECEIVED, REGISTERED),
    (RECEIVED, CLOSED),
    (REGISTERED, DISPATCHED),
    (REGISTERED, CLOSED),
    (DISPATCHED, IN_PROGRESS),
    (IN_PROGRESS, FEEDBACK),
    (FEEDBACK, VERIFIED),
    (FEEDBACK, IN_PROGRESS),
    (VERIFIED, CLOSED),
}


def test_statuses_are_the_closed_loop_in_order():
    assert STATUSES == (
        "received",
        "registered",
        "dispatched",
        "in_progress",
        "feedback",
        "verified",
        "closed",
    )
    assert STATUSES[:-1] == OPEN_STATUSES
    assert list(STATUS_LABELS) == list(STATUSES)
    assert STATUS_LABELS[DISPATCHED] == ("分拨", "Dispatched")


@pytest.mark.parametrize("current, target", list(product(STATUSES, STATUSES)))
def test_every_pair_of_statuses_against_the_table(current, target):
    if (current, target) in ALLOWED:
        check_transition(current, target, note="已核实")
        assert target in allowed_next(current)
    else:
        with pytest.raises(IllegalTransitionError) as info:
            check_transition(current, target, note="已核实")
        for status in (current, target):
            zh, en = STATUS_LABELS[status]
            assert f"{zh} {en} ({status})" in str(info.value)
        assert target not in allowed_next(current)


def test_allowed_next_follows_loop_order():
    assert allowed_next(FEEDBACK) == (IN_PROGRESS, VERIFIED)
    assert allowed_next(CLOSED) == ()


def test_refusal_lists_the_allowed_next_statuses():
    with pytest.raises(IllegalTransitionError, match=re.escape("处置 In progress (in_progress)")):
        check_transition(DISPATCHED, DISPATCHED)
    with pytest.raises(IllegalTransitionError, match=r"allowed next: .*结案 Closed.* with a note"):
        check_transition(RECEIVED, VERIFIED)
    with pytest.raises(IllegalTransitionError, match="final"):
        check_transition(CLOSED, IN_PROGRESS)


@pytest.mark.parametrize("current", [RECEIVED, REGISTERED])
@pytest.mark.parametrize("note", [None, "", "   "])
def test_closing_before_dispatch_needs_a_note(current, note):
    with pytest.raises(IllegalTransitionError, match="不予受理") as info:
        check_transition(current, CLOSED, note)
    assert current in str(info.value) and "结案 Closed (closed)" in str(info.value)
    check_transition(current, CLOSED, "重复上报，已并入 #1024")


def test_normal_moves_need_no_note():
    check_transition(VERIFIED, CLOSED)
    check_transition(FEEDBACK, IN_PROGRESS)


def test_unknown_status_names_it_and_lists_the_valid_ones():
    with pytest.raises(InputError, match=r"unknown status 'done'.*received, registered") as info:
        check_transition("done", CLOSED)
    assert not isinstance(info.value, IllegalTransitionError)
    with pytest.raises(InputError, match="did you mean 'dispatched'"):
        check_transition(REGISTERED, "dispached")
    with pytest.raises(InputError, match="'verifed'"):
        allowed_next("verifed")
    assert check_status(VERIFIED) == VERIFIED


def test_a_note_must_be_text():
    with pytest.raises(InputError, match="note must be text"):
        check_transition(RECEIVED, CLOSED, note=42)


# ---------------------------------------------------------------------- sources


def test_sources():
    assert check_source("grid_worker") == "grid_worker"
    assert SOURCES["hotline"] == ("12345热线", "12345 hotline")
    with pytest.raises(InputError, match="unknown source 'residnet'; did you mean 'resident'"):
        check_source("residnet")
    with pytest.raises(InputError, match="valid sources: grid_worker, resident, hotline"):
        check_source("wechat")


# ------------------------------------------------------------------- categories


def test_default_tree_has_the_five_roots_and_their_children():
    tree = default_tree()
    assert [c.zh for c in tree.roots()] == ["矛盾纠纷", "安全隐患", "治安", "消防", "市容环境"]
    children = {c.code: [child.zh for child in tree.children(c.code)] for c in tree.roots()}
    assert children["dispute"] == ["邻里纠纷", "家庭纠纷", "物业纠纷", "劳资纠纷", "土地纠纷"]
    assert children["fire"] == ["消防通道堵塞", "电动车违规充电", "消防设施损坏"]
    assert "井盖缺失" in children["city"] and "黄赌毒" in children["public_order"]
    assert all(re.fullmatch(r"[a-z_.]+", c.code) and c.zh and c.en for c in tree)


def test_children_inherit_deadlines():
    tree = default_tree()
    assert tree.get("dispute.neighbour").deadline is None
    assert str(tree.deadline_for("dispute.neighbour")) == "5 working_days"
    assert str(tree.deadline_for("dispute.family")) == "3 working_days"
    assert str(tree.deadline_for("fire.lane")) == "24 hours"
    assert str(tree.deadline_for("public_order.fraud")) == "24 hours"
    assert str(tree.deadline_for("public_order.fraud.telecom")) == "4 hours"


def test_descendants_iteration_and_to_dict():
    tree = default_tree()
    codes = [c.code for c in tree.descendants("public_order")]
    assert codes[0] == "public_order" and "public_order.fraud.telecom" in codes
    assert len(tree) == len(list(tree)) and "fire.ebike" in tree
    fire = tree.to_dict()["categories"][3]
    assert (fire["code"], fire["zh"], fire["en"]) == ("fire", "消防", "Fire safety")
    assert fire["children"][0] == {
        "code": "fire.lane",
        "zh": "消防通道堵塞",
        "en": "Blocked fire lane",
        "deadline": "24 hours",
        "escalate": True,
        "children": [],
    }


def test_default_tree_is_found_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert len(CategoryTree.default().roots()) == 5


def test_unknown_category_suggests_close_codes():
    tree = default_tree()
    suggestion = re.escape("'fire.lanes'; did you mean 'fire.lane'?")
    with pytest.raises(UnknownCategoryError, match=suggestion):
        tree.get("fire.lanes")
    with pytest.raises(InputError, match=re.escape("did you mean 'dispute.neighbour'")):
        tree.check("邻里")
    with pytest.raises(UnknownCategoryError, match="top-level categories: dispute, safety"):
        tree.children("zzz")


def test_default_calendar_knows_the_2026_holidays():
    cal = calendar()
    assert cal.timezone == "Asia/Shanghai" and cal.workdays == (1, 2, 3, 4, 5)
    assert len(cal.holidays) == 33  # 3 + 9 + 3 + 5 + 3 + 3 + 7 days off
    assert all(day.isoweekday() >= 6 for day in cal.extra_workdays)
    assert not cal.is_working_day(date(2026, 2, 17))  # 春节
    assert cal.is_working_day(date(2026, 2, 14))  # 调休 Saturday
    assert cal.is_working_day(local(2026, 9, 20, 10))  # 调休 Sunday, as a datetime


CATEGORY_FIRE = """
[[category]]
code = "fire"
zh = "消防"
en = "Fire safety"
deadline = "24 hours"
"""

LANE = """
[[category]]
code = "fire.lane"
parent = "fire"
zh = "消防通道堵塞"
en = "Blocked fire lane"
"""

BROKEN_FILES = {
    "unknown key": (LANE + 'deadlne = "4 hours"\n', ["category 'fire.lane'", "'deadlne'"]),
    "missing zh": (LANE.replace('zh = "消防通道堵塞"\n', ""), ["category 'fire.lane'", "'zh'"]),
    "empty en": (LANE.replace("Blocked fire lane", " "), ["category 'fire.lane'", "'en'"]),
    "bad deadline": (LANE + 'deadline = "2 weeks"\n', ["'fire.lane'", "'deadline'", "2 weeks"]),
    "zero deadline": (LANE + 'deadline = "0 hours"\n', ["'fire.lane'", "'deadline'", "0 hours"]),
    "deadline not text": (LANE + "deadline = 4\n", ["'fire.lane'", "'deadline'"]),
    "escalate not bool": (LANE + 'escalate = "no"\n', ["'fire.lane'", "'escalate'"]),
    "unknown parent": (LANE.replace('parent = "fire"', 'parent = "fir"'), ["'fire.lane'", "'fir'"]),
    "code not under parent": (LANE.replace('"fire.lane"', '"lane"'), ["'lane'", "'code'"]),
    "dotted root": (LANE.replace('parent = "fire"\n', ""), ["'fire.lane'", "'parent'"]),
    "not a slug": (LANE.replace('"fire.lane"', '"fire.Lane"'), ["'fire.Lane'", "'code'"]),
    "duplicate": (LANE + LANE, ["category 'fire.lane'", "'code'", "twice"]),
    "no code": (LANE.replace('code = "fire.lane"\n', ""), ["category #2", "'code'"]),
    "root without deadline": (
        '[[category]]\ncode = "city"\nzh = "市容"\nen = "City"\n',
        ["category 'city'", "'deadline'"],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_FILES))
def test_malformed_category_names_file_category_and_key(tmp_path, case):
    text, fragments = BROKEN_FILES[case]
    path = tmp_path / "categories.toml"
    path.write_text(CATEGORY_FIRE + text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        CategoryTree.load(path)
    for fragment in [str(path), *fragments]:
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"


def test_parent_must_be_defined_before_its_children(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(LANE + CATEGORY_FIRE, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'fire\.lane'.*'parent' = 'fire' is not a category"):
        CategoryTree.load(path)


BROKEN_CALENDARS = {
    "bad hours": ('[calendar]\nhours = ["8:30-12"]\n', ["'hours'", "8:30-12"]),
    "overlap": ('[calendar]\nhours = ["08:00-12:00", "11:00-17:00"]\n', ["'hours'", "overlap"]),
    "hours not a list": ('[calendar]\nhours = "08:00-12:00"\n', ["'hours'"]),
    "bad workdays": ("[calendar]\nworkdays = [0, 1]\n", ["'workdays'"]),
    "bad date": ('[calendar]\nholidays = ["2026-02-30"]\n', ["'holidays'", "2026-02-30"]),
    "both lists": (
        "[calendar]\nholidays = [2026-10-10]\nextra_workdays = [2026-10-10]\n",
        ["'extra_workdays'", "'holidays'", "2026-10-10"],
    ),
    "unknown calendar key": ("[calendar]\nholiday = []\n", ["[calendar]", "'holiday'"]),
    "bad timezone": ('timezone = "Asia/Beijing"\n', ["'timezone'", "Asia/Beijing"]),
    "unknown top key": ('categories = "x"\n', ["'categories'"]),
    "not toml": ("[[category]\n", ["not valid TOML"]),
}


@pytest.mark.parametrize("case", list(BROKEN_CALENDARS))
def test_malformed_calendar_names_file_and_key(tmp_path, case):
    text, fragments = BROKEN_CALENDARS[case]
    path = tmp_path / "categories.toml"
    path.write_text(text + CATEGORY_FIRE, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        CategoryTree.load(path)
    for fragment in [str(path), *fragments]:
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"


def test_missing_file_and_empty_tree(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        CategoryTree.load(tmp_path / "nope.toml")
    (tmp_path / "empty.toml").write_text('timezone = "Asia/Shanghai"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="no category"):
        CategoryTree.load(tmp_path / "empty.toml")


def test_escalate_is_inherited_unless_a_child_says_otherwise(tmp_path):
    path = tmp_path / "c.toml"
    own = LANE.replace("fire.lane", "fire.own") + "escalate = true\n"
    path.write_text(CATEGORY_FIRE + "escalate = false\n" + LANE + own, encoding="utf-8")
    tree = CategoryTree.load(path)
    assert [c.escalate for c in tree] == [False, False, True]


def test_a_tree_can_be_built_in_code():
    tree = CategoryTree([Category("other", "其他", "Other", deadline="3 days")])
    assert tree.deadline("other", local(2026, 3, 6, 9)) == local(2026, 3, 9, 9)


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


# ------------------------------------------------------------------- escalation


def test_escalation_goes_one_level_up_and_stops_at_the_top():
    levels = ["street", "community", "grid", "microgrid", "building"]
    assert escalation_target(levels, "building") == "microgrid"
    assert escalation_target(levels, "community") == "street"
    assert escalation_target(levels, "street") is None
    with pytest.raises(InputError, match="unknown level 'gird'; did you mean 'grid'"):
        escalation_target(levels, "gird")
    assert "小事不出社，大事不出街" in escalation_target.__doc__


def test_errors_belong_to_the_geogrid_tree():
    assert issubclass(IllegalTransitionError, GeogridError)
    assert issubclass(ConfigError, GeogridError)
    assert issubclass(UnknownCategoryError, InputError)
    assert Path(default_tree().source).name == "categories.toml"
