"""The packages form floors: each imports only itself and the floors below it, and no module
import cycle exists anywhere (function-level imports included).

    mipsvm  <-  contracts, minidnn  <-  converter  <-  challenger (daemons)  <-  optimist (app)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# package -> the packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "mipsvm": set(),
    "contracts": {"mipsvm"},
    "minidnn": {"mipsvm"},
    "converter": {"minidnn", "mipsvm"},
    "challenger": {"converter", "minidnn", "contracts", "mipsvm"},
    "optimist": {"challenger", "converter", "minidnn", "contracts", "mipsvm"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found = {}
    for package in ALLOWED:
        for path in sorted((REPO / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imported_modules(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """Every project module `path` imports, at any depth of its code (lazy imports count)."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {t for t in targets if t in known and t != name}


def import_graph() -> dict[str, set[str]]:
    known = project_modules()
    return {name: imported_modules(path, name, known) for name, path in known.items()}


def test_every_package_is_found() -> None:
    packages = {name.split(".")[0] for name in project_modules()}
    assert packages == set(ALLOWED)


def test_no_import_from_a_higher_floor() -> None:
    back_edges = [
        f"{src} imports {dst}"
        for src, dsts in import_graph().items()
        for dst in sorted(dsts)
        if dst.split(".")[0] != src.split(".")[0] and dst.split(".")[0] not in ALLOWED[src.split(".")[0]]
    ]
    assert back_edges == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles() -> None:
    graph = import_graph()
    # a package's __init__ re-exporting its submodules is not a cycle of code
    for name in graph:
        graph[name] = {d for d in graph[name] if not name.startswith(d + ".")}
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


@pytest.mark.parametrize("graph, cyclic", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
])
def test_cycle_finder(graph: dict[str, set[str]], cyclic: bool) -> None:
    assert (find_cycle(graph) is not None) == cyclic
