"""The house rules that code can check: dependencies point one way (DESIGN.md §4)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_LIBRARY = {"flask", "werkzeug", "web", "granian"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "geogrid").rglob("*.py")), ids=str)
def test_library_never_imports_the_web(path):
    assert not imported_modules(path) & FORBIDDEN_IN_LIBRARY


def test_the_check_itself_sees_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import flask\nfrom web.api import x\n")
    assert {"flask", "web"} <= imported_modules(module)
