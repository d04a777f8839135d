"""The category tree: what a report is about, in Chinese and English, with its deadline.

Loaded from TOML (``data/categories.toml`` by default) together with the
district's working calendar; see :class:`CategoryTree`.

Examples
--------
>>> tree = CategoryTree.default()
>>> str(tree.deadline_for("dispute.neighbour"))
'5 working_days'
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from geogrid.deadlines import DeadlineRule, WorkingCalendar
from geogrid.errors import ConfigError, InputError
from geogrid.tomlfile import read_toml, refuse_unknown_keys


class UnknownCategoryError(InputError):
    """A report names a category that the category tree does not define."""


# ---------------------------------------------------------------------------
# Category tree
# ---------------------------------------------------------------------------

_CODE_SEGMENT = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = {"timezone", "calendar", "category"}
_CALENDAR_KEYS = {"workdays", "hours", "holidays", "extra_workdays"}
_CATEGORY_KEYS = {"code", "parent", "zh", "en", "deadline", "escalate"}
DEFAULT_CATEGORIES = Path(__file__).resolve().parents[1] / "data" / "categories.toml"


@dataclass(frozen=True)
class Category:
    """One report category: an ASCII ``code`` such as ``"dispute.neighbour"`` and its names.

    ``deadline`` is the category's own deadline string, None to inherit the
    parent's (use :meth:`CategoryTree.deadline_for` for the effective rule).
    ``escalate`` says whether an overdue report moves one level up the grid
    hierarchy.

    Examples
    --------
    >>> Category("fire.lane", "消防通道堵塞", "Blocked fire lane", parent="fire").escalate
    True
    """

    code: str
    zh: str
    en: str
    parent: str | None = None
    deadline: str | None = None
    escalate: bool = True


class CategoryTree:
    """The configured report categories, their deadlines and the working calendar.

    A child's code is its parent's code, a dot and an ASCII segment
    (``"dispute"`` → ``"dispute.neighbour"``), and a parent is defined before
    its children, so the tree has no cycles. A category without a deadline takes
    its parent's; every top-level category needs one.

    Parameters
    ----------
    categories
        Categories, parents first.
    calendar
        The working calendar that counts working hours and days (default:
        Monday to Friday, 08:30–12:00 and 13:30–17:30, Asia/Shanghai, no holidays).
    source
        Where the categories come from, for error messages (the file name).

    Examples
    --------
    >>> tree = CategoryTree.default()
    >>> [c.code for c in tree.roots()]
    ['dispute', 'safety', 'public_order', 'fire', 'city']
    >>> tree.get("fire.lane").zh, str(tree.deadline_for("fire.lane"))
    ('消防通道堵塞', '24 hours')
    """

    def __init__(
        self,
        categories: Iterable[Category],
        calendar: WorkingCalendar | None = None,
        source: str = "categories",
    ) -> None:
        self.source = source
        self.calendar = WorkingCalendar() if calendar is None else calendar
        self._categories: dict[str, Category] = {}
        self._children: dict[str | None, list[Category]] = {None: []}
        self._rules: dict[str, DeadlineRule] = {}
        for category in categories:
            self._add(category)
        if not self._categories:
            raise ConfigError(f"{source}: defines no category; add at least one [[category]]")

    @classmethod
    def load(cls, path: str | Path) -> CategoryTree:
        """Read a category file; every problem names the file, the category and the key.

        Examples
        --------
        >>> len(CategoryTree.load("data/categories.toml").roots())
        5
        """
        path = Path(path)
        raw = _read_toml(path)
        _refuse_unknown_keys(raw, _TOP_KEYS, f"{path}")
        calendar = _parse_calendar(path, raw)
        tables = raw.get("category", [])
        if not isinstance(tables, list):
            raise ConfigError(f"{path}: 'category' must be an array of tables, [[category]]")
        categories = [_parse_category(path, i, table) for i, table in enumerate(tables, 1)]
        return cls(_inherit_escalate(categories, tables), calendar, source=str(path))

    @classmethod
    def default(cls) -> CategoryTree:
        """The packaged default tree, ``data/categories.toml``.

        Examples
        --------
        >>> CategoryTree.default().calendar.timezone
        'Asia/Shanghai'
        """
        return cls.load(DEFAULT_CATEGORIES)

    def __iter__(self) -> Iterator[Category]:
        return iter(self._categories.values())

    def __len__(self) -> int:
        return len(self._categories)

    def __contains__(self, code: object) -> bool:
        return code in self._categories

    def check(self, code: str) -> str:
        """Return ``code`` if it is defined, else raise :class:`UnknownCategoryError`.

        The message suggests close codes, also when given a Chinese or English name.

        Examples
        --------
        >>> tree = CategoryTree.default()
        >>> tree.check("dispute.neighbor")
        Traceback (most recent call last):
        ...
        geogrid.categories.UnknownCategoryError: unknown category 'dispute.neighbor'; did you mean 'dispute.neighbour'?
        """  # noqa: E501
        if code not in self._categories:
            raise UnknownCategoryError(self._unknown_message(code))
        return code

    def get(self, code: str) -> Category:
        """The category with this code (:class:`UnknownCategoryError` if none)."""
        return self._categories[self.check(code)]

    def roots(self) -> tuple[Category, ...]:
        """The top-level categories, in file order."""
        return tuple(self._children[None])

    def children(self, code: str) -> tuple[Category, ...]:
        """The direct children of ``code``, in file order."""
        return tuple(self._children[self.check(code)])

    def descendants(self, code: str) -> tuple[Category, ...]:
        """``code`` itself and everything below it, parents before children.

        Examples
        --------
        >>> [c.code for c in CategoryTree.default().descendants("public_order.fraud")]
        ['public_order.fraud', 'public_order.fraud.telecom']
        """
        found = [self.get(code)]
        for child in self._children[code]:
            found.extend(self.descendants(child.code))
        return tuple(found)

    def deadline_for(self, code: str) -> DeadlineRule:
        """The deadline of ``code``: its own, else the nearest ancestor's."""
        return self._rules[self.check(code)]

    def deadline(self, code: str, received_at: datetime) -> datetime:
        """When a report of category ``code`` received at ``received_at`` is due (UTC).

        Examples
        --------
        >>> from zoneinfo import ZoneInfo
        >>> tree = CategoryTree.default()
        >>> at = datetime(2026, 9, 30, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        >>> tree.deadline("dispute.neighbour", at).isoformat()  # 国庆: Oct 1–7 off, Oct 10 on
        '2026-10-13T09:30:00+00:00'
        """
        return self.calendar.deadline(received_at, self.deadline_for(code))

    def to_dict(self) -> dict[str, Any]:
        """The tree as plain data for an API: nested categories with effective deadlines.

        Examples
        --------
        >>> node = CategoryTree.default().to_dict()["categories"][0]
        >>> node["code"], node["zh"], node["en"], node["deadline"], len(node["children"])
        ('dispute', '矛盾纠纷', 'Disputes', '5 working_days', 5)
        """
        return {
            "timezone": self.calendar.timezone,
            "categories": [self._node(c) for c in self.roots()],
        }

    def _node(self, category: Category) -> dict[str, Any]:
        return {
            "code": category.code,
            "zh": category.zh,
            "en": category.en,
            "deadline": str(self._rules[category.code]),
            "escalate": category.escalate,
            "children": [self._node(c) for c in self._children[category.code]],
        }

    def _add(self, category: Category) -> None:
        where = f"{self.source}: category {category.code!r}"
        if category.code in self._categories:
            raise ConfigError(f"{where}: 'code' is defined twice")
        _check_code(category, where, self._categories)
        self._rules[category.code] = self._own_or_inherited_rule(category, where)
        self._categories[category.code] = category
        self._children[category.code] = []
        self._children[category.parent].append(category)

    def _own_or_inherited_rule(self, category: Category, where: str) -> DeadlineRule:
        if category.deadline is not None:
            try:
                return DeadlineRule.parse(category.deadline)
            except InputError as exc:
                raise ConfigError(f"{where}: bad 'deadline': {exc}") from None
        if category.parent is None:
            raise ConfigError(
                f"{where}: 'deadline' is required on a top-level category "
                '(its children inherit it), e.g. deadline = "5 working_days"'
            )
        return self._rules[category.parent]

    def _unknown_message(self, code: Any) -> str:
        # People also type the Chinese or English name, or only the last segment.
        names: dict[str, str] = {}
        for c in reversed(self._categories.values()):  # reversed: parents win ties
            names |= {c.code.rpartition(".")[2]: c.code, c.zh: c.code, c.en.lower(): c.code}
        names |= {c: c for c in self._categories}
        codes = _closest(str(code).lower(), names)
        if codes:
            return f"unknown category {code!r}; did you mean {' or '.join(map(repr, codes))}?"
        roots = ", ".join(c.code for c in self.roots())
        return f"unknown category {code!r}; top-level categories: {roots}"


def _closest(word: str, names: dict[str, str]) -> list[str]:
    """Codes whose names are within 0.1 of the best match of ``word`` (ratio ≥ 0.6)."""
    scores: dict[str, float] = {}
    for name, code in names.items():
        ratio = difflib.SequenceMatcher(None, word, name).ratio()
        scores[code] = max(scores.get(code, 0.0), ratio)
    best = max(scores.values(), default=0.0)
    ranked = sorted(scores, key=lambda code: -scores[code])
    return [code for code in ranked if scores[code] >= max(0.6, best - 0.1)][:3]


def _check_code(category: Category, where: str, earlier: dict[str, Category]) -> None:
    code, parent = category.code, category.parent
    if not isinstance(code, str) or not all(map(_CODE_SEGMENT.match, code.split("."))):
        raise ConfigError(
            f"{where}: 'code' must be dot-separated ASCII segments such as 'dispute.neighbour'"
        )
    if parent is None:
        if "." in code:
            raise ConfigError(f"{where}: 'parent' is missing; the code says it has one")
        return
    if parent not in earlier:
        raise ConfigError(
            f"{where}: 'parent' = {parent!r} is not a category defined before this one"
        )
    if code.rpartition(".")[0] != parent:
        raise ConfigError(f"{where}: 'code' must be the parent's code and one more segment")


def _read_toml(path: Path) -> dict[str, Any]:
    return read_toml(path, ConfigError, "category file")


def _refuse_unknown_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    refuse_unknown_keys(table, allowed, where, ConfigError)


def _parse_calendar(path: Path, raw: dict[str, Any]) -> WorkingCalendar:
    table = raw.get("calendar", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: 'calendar' must be a table, [calendar]")
    _refuse_unknown_keys(table, _CALENDAR_KEYS, f"{path}: [calendar]")
    try:
        zone = {"timezone": raw["timezone"]} if "timezone" in raw else {}  # else the default's
        return WorkingCalendar(**zone, **table)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _parse_category(path: Path, number: int, table: Any) -> Category:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: category #{number} must be a table, [[category]]")
    code = table.get("code")
    if not isinstance(code, str) or not code:
        raise ConfigError(f"{path}: category #{number}: 'code' is required, e.g. code = \"fire\"")
    where = f"{path}: category {code!r}"
    _refuse_unknown_keys(table, _CATEGORY_KEYS, where)
    for key, required in (("zh", True), ("en", True), ("parent", False), ("deadline", False)):
        _check_text(table, key, required, where)
    if not isinstance(table.get("escalate", True), bool):
        raise ConfigError(f"{where}: 'escalate' must be true or false, got {table['escalate']!r}")
    return Category(
        code,
        table["zh"],
        table["en"],
        table.get("parent"),
        table.get("deadline"),
        table.get("escalate", True),
    )


def _check_text(table: dict[str, Any], key: str, required: bool, where: str) -> None:
    value = table.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: '{key}' must be a non-empty string, got {value!r}")


def _inherit_escalate(categories: list[Category], tables: list[dict]) -> list[Category]:
    # A category without its own 'escalate' follows its parent, so turning
    # escalation off for a branch needs one line, not one per child.
    escalate: dict[str, bool] = {}
    result = []
    for category, table in zip(categories, tables, strict=True):
        if "escalate" not in table and category.parent in escalate:
            category = replace(category, escalate=escalate[category.parent])
        escalate[category.code] = category.escalate
        result.append(category)
    return result
