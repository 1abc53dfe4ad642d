"""The shape of the code, read from its source with ``ast``: no import circles among the
project's modules, no module past ~400 lines, no module using another module's private
(``_name``) members; and the readable network never imports the fast path."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "cli", "gui", "tests", "scripts")
MAX_LINES = 400

# Known exceptions, each with its reason and owner; remove an entry when its cause is fixed
# (the tests below also fail when an entry no longer applies, so the list stays true).
KNOWN_CYCLES: set[frozenset[str]] = set()
KNOWN_LONG: set[str] = set()
KNOWN_PRIVATE_USE: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, tuple[Path, ast.Module]]:
    found = {}
    paths = [ROOT / "main.py", *(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))]
    for path in paths:
        if path.exists():
            found[_module_name(path)] = (path, ast.parse(path.read_text(encoding="utf-8")))
    return found


def _is_package(name: str) -> bool:
    return _modules()[name][0].name == "__init__.py"


def _imported(name: str, tree: ast.Module) -> set[str]:
    """Project modules ``name`` imports (``from pkg import mod`` counts as pkg.mod),
    TYPE_CHECKING imports included: a circle of type hints is a circle of concepts."""
    modules = _modules()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if _is_package(name) else base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    return {m for m in found if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    return {name: _imported(name, tree) for name, (_, tree) in _modules().items()}


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in graph[todo.pop()] - seen:
            seen.add(w)
            todo.append(w)
    return seen


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined_names(tree: ast.Module) -> set[str]:
    """Every name a module defines: functions, classes, assigned names and attributes,
    arguments."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def _private_uses() -> set[tuple[str, str]]:
    """(module, name) for each private name a module imports from, or reads as an attribute
    of, something another project module defines, and does not define itself."""
    modules = _modules()
    defined = {name: _defined_names(tree) for name, (_, tree) in modules.items()}
    project_private = {n for names in defined.values() for n in names if _private(n)}
    uses = set()
    for name, (_, tree) in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                uses.update((name, a.name) for a in node.names
                            if _private(a.name) and (node.level or
                                                     (node.module or "").split(".")[0]
                                                     in (*PACKAGES, "main")))
            elif (isinstance(node, ast.Attribute) and _private(node.attr)
                  and node.attr in project_private and node.attr not in defined[name]):
                uses.add((name, node.attr))
    return uses


def test_the_walk_sees_the_whole_project():
    modules = _modules()
    assert {"engine.model", "engine.layers.conv", "engine.fast.fused", "cli.train",
            "gui.app", "main", "tests.test_structure"} <= set(modules)
    assert "engine.layers.conv" in _graph()["engine.fast.conv_winograd"]


def test_the_cycle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [frozenset({"a", "b", "c"})]


def test_no_import_cycles_among_project_modules():
    cycles = set(_cycles(_graph()))
    assert cycles - KNOWN_CYCLES == set()
    assert KNOWN_CYCLES - cycles == set(), "a known cycle is gone: remove it from KNOWN_CYCLES"


def test_no_module_is_longer_than_400_lines():
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines())
               for name, (path, _) in _modules().items()}
    long = {name for name, n in lengths.items() if n > MAX_LINES}
    assert long - KNOWN_LONG == set(), {name: lengths[name] for name in long - KNOWN_LONG}
    assert KNOWN_LONG - long == set(), "a long module got shorter: remove it from KNOWN_LONG"


def test_no_module_uses_another_modules_private_members():
    uses = _private_uses()
    assert uses - KNOWN_PRIVATE_USE == set()
    assert KNOWN_PRIVATE_USE - uses == set(), "remove the fixed entry from KNOWN_PRIVATE_USE"


@pytest.mark.parametrize("readable", ["engine.model", "engine.spec", "engine.layers",
                                      "engine.layers.conv", "engine.training.trainer"])
def test_the_readable_network_does_not_import_the_fast_path(readable):
    reached = _reachable(_graph(), readable)
    assert not {m for m in reached if m.startswith("engine.fast")}, readable
