"""The category tree: codes, names, deadlines and the category file's checks."""

from __future__ import annotations

import re
from datetime import date

import pytest

from geogrid.categories import Category, CategoryTree, UnknownCategoryError
from geogrid.errors import ConfigError, InputError
from tests.geogrid import calendar, default_tree, local

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
