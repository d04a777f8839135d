"""Helpers shared by the workflow, category and deadline tests."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from geogrid.categories import CategoryTree
from geogrid.deadlines import WorkingCalendar

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
