"""The import graph runs downwards only: cli -> workflows -> runs -> toolkit <- plugins.

Every import statement counts, at module level or inside a function (a deferred import is
still a dependency). docs/architecture.md describes the layers.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("basketcli", "plugins")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imports(path: Path, known: set[str]) -> set[str]:
    """The project's modules that ``path`` imports (``from a import b`` counts a.b when it is
    a module, else a)."""
    found = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                     for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found - {module_name(path)}


GRAPH = {name: imports(path, set(modules())) for name, path in modules().items()}


def layer(module: str) -> str:
    if module.startswith("plugins"):
        return "plugins"
    for prefix, name in (("basketcli.cli", "cli"), ("basketcli.workflows", "workflows"),
                         ("basketcli.runs", "runs")):
        if module == prefix or module.startswith(f"{prefix}."):
            return name
    return "toolkit"


# What each layer may import, besides itself.
ALLOWED = {
    "cli": {"workflows", "runs", "toolkit"},
    "workflows": {"runs", "toolkit"},
    "runs": {"toolkit"},
    "toolkit": set(),
    "plugins": {"toolkit"},
}


def wrong_imports(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Module -> the imports its layer may not make."""
    found = {}
    for module, targets in graph.items():
        mine = layer(module)
        wrong = sorted(t for t in targets if layer(t) != mine and layer(t) not in ALLOWED[mine])
        if wrong:
            found[module] = wrong
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of imports (a -> b -> ... -> a), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_graph_is_read():
    assert len(GRAPH) > 40
    assert "basketcli.runs" in GRAPH["basketcli.workflows.train"]
    assert "basketcli.engine.trainer" in GRAPH["plugins.neural.model"]  # a deferred import


def test_imports_run_downwards():
    assert wrong_imports(GRAPH) == {}


def test_no_module_imports_itself_through_others():
    """No cycle of any length (two modules importing each other is the shortest)."""
    assert find_cycle(GRAPH) is None


def test_the_checks_catch_what_they_forbid():
    planted = {
        "basketcli.metrics": {"basketcli.cli.ui"},  # the toolkit importing the CLI
        "plugins.mine": {"basketcli.workflows.train", "basketcli.protocol"},
        "basketcli.runs": {"basketcli.workflows.grid"},
        "basketcli.cli.app": {"basketcli.workflows.train"},  # allowed
    }
    assert wrong_imports(planted) == {
        "basketcli.metrics": ["basketcli.cli.ui"],
        "plugins.mine": ["basketcli.workflows.train"],
        "basketcli.runs": ["basketcli.workflows.grid"],
    }
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_docs_architecture_names_every_module():
    # One sentence per module: a module the page does not name is one a reader cannot place.
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    unnamed = sorted(name for name, path in modules().items()
                     if path.name != "__init__.py" and not re_word(path.stem).search(text))
    assert not unnamed, f"docs/architecture.md does not name: {', '.join(unnamed)}"


def re_word(stem: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){re.escape(stem)}(?![\w])")
