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


# --- the shape of the house (DESIGN.md §4) ---------------------------------------------

LIBRARY = ROOT / "geogrid"
#: A function-level import of the project's own code must say why on its line or the
#: line above: to break a named cycle, or to defer an optional, heavy dependency.
REASONS = ("cycle", "deferred", "optional")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path, package: str = "geogrid") -> list[tuple[ast.stmt, str, bool]]:
    """Each import of ``package``'s modules: (node, module, inside a function)."""
    known = {module_name(p) for p in (ROOT / package).rglob("*.py")}
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            targets = {_resolve(name, known) for name in _imported_names(child)} - {None}
            found.extend((child, target, in_function) for target in sorted(targets))
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _imported_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
    return []


def _resolve(name: str, known: set[str]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(package: str = "geogrid") -> dict[str, set[str]]:
    """Module → the project modules it imports (anywhere in it, functions included)."""
    graph = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        source = module_name(path)
        graph[source] = {target for _, target, _ in project_imports(path, package)} - {source}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles: strongly connected groups of more than one module."""
    import networkx as nx

    digraph = nx.DiGraph([(a, b) for a, targets in graph.items() for b in targets])
    return [sorted(group) for group in nx.strongly_connected_components(digraph) if len(group) > 1]


def test_no_import_cycles_inside_the_library():
    graph = import_graph()
    # A package's __init__ re-exports its modules; its modules importing the package
    # itself would be the cycle, and that is still caught (the edge goes both ways).
    assert cycles(graph) == []


def test_cycles_are_seen(tmp_path):
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_analysis_never_imports_storage():
    for module, targets in import_graph().items():
        if module.startswith("geogrid.analysis"):
            assert not {t for t in targets if t.startswith("geogrid.storage")}, module


@pytest.mark.parametrize("path", sorted((LIBRARY / "analysis").glob("*.py")), ids=str)
def test_analysis_takes_frames_not_a_store(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names = [a.arg for a in [*node.args.args, *node.args.kwonlyargs]]
            assert "store" not in names, f"{path.name}:{node.lineno} {node.name} takes a store"


def test_nothing_imports_the_command_line():
    for package in ("geogrid", "web"):
        for module, targets in import_graph(package).items():
            if not module.startswith("geogrid.cli"):
                cli = {t for t in targets if t.startswith("geogrid.cli")}
                assert not cli, f"{module} imports {cli}"
    for path in sorted((ROOT / "web").rglob("*.py")):
        assert not {t for _, t, _ in project_imports(path) if t.startswith("geogrid.cli")}, path


@pytest.mark.parametrize("package", ["geogrid", "web"])
def test_local_imports_of_the_project_say_why(package):
    unexplained = []
    for path in sorted((ROOT / package).rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node, target, in_function in project_imports(path, package):
            around = " ".join(lines[node.lineno - 2 : node.lineno]).lower()
            if in_function and not any(reason in around for reason in REASONS):
                unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {target}")
    assert unexplained == []
