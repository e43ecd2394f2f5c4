"""Named layers, and imports running downwards only (docs/architecture.md draws them):

    face        cli/, render, api (the Python face)
    workflows   workflows/ (the steps they share, run directories, one module per job)
    models      the built-in models (plugins/, installed as basketcli_models)
    evaluation  evaluation/ (metrics, baskets, scoring, bootstrap, comparison)
    engine      engine/ (torch training)
    contract    protocol, sizing, registry, testing
    data        data/
    ground      errors, artifacts, settings, reports

Every import statement counts, at module level or inside a function (a deferred import is
still a dependency). A layer imports only the layers ALLOWED names; no module imports itself
through others.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Repository folder -> installed package name.
PACKAGES = {"basketcli": "basketcli", "plugins": "basketcli_models"}
LAYERS = ("ground", "data", "contract", "engine", "evaluation", "models", "workflows", "face")
# The longest matching prefix names a module's layer.
PREFIXES = {
    "basketcli": "ground",
    "basketcli.errors": "ground", "basketcli.artifacts": "ground",
    "basketcli.settings": "ground", "basketcli.reports": "ground",
    "basketcli.data": "data",
    "basketcli.protocol": "contract", "basketcli.sizing": "contract",
    "basketcli.registry": "contract", "basketcli.testing": "contract",
    "basketcli.engine": "engine",
    "basketcli.evaluation": "evaluation",
    "basketcli_models": "models",
    "basketcli.workflows": "workflows",
    "basketcli.cli": "face", "basketcli.render": "face", "basketcli.api": "face",
}
# What each layer may import besides itself: the layers below it, except that the face
# reaches the engine and the models only through the workflows and the registry.
ALLOWED = {layer: set(LAYERS[:i]) for i, layer in enumerate(LAYERS)}
ALLOWED["workflows"] -= {"models"}  # models are found by name, never imported
ALLOWED["face"] -= {"engine", "models"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    parts[0] = PACKAGES[parts[0]]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for folder in PACKAGES for p in (ROOT / folder).rglob("*.py")}


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
    matches = [p for p in PREFIXES if module == p or module.startswith(f"{p}.")]
    return PREFIXES[max(matches, key=len)]


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
    assert len(GRAPH) > 60
    assert "basketcli.workflows.steps" in GRAPH["basketcli.workflows.train"]
    # a deferred import
    assert "basketcli.engine.trainer" in GRAPH["basketcli_models.neural.model"]
    assert {layer(m) for m in GRAPH} == set(LAYERS)


def test_imports_run_downwards():
    assert wrong_imports(GRAPH) == {}


def test_no_module_imports_itself_through_others():
    """No cycle of any length (two modules importing each other is the shortest)."""
    assert find_cycle(GRAPH) is None


def test_the_checks_catch_what_they_forbid():
    planted = {
        "basketcli.evaluation.metrics": {"basketcli.cli.ui"},  # the toolkit importing the face
        "basketcli_models.mine": {"basketcli.workflows.train", "basketcli.protocol"},
        "basketcli.workflows.grid": {"basketcli.render", "basketcli.reports"},
        "basketcli.workflows.steps": {"basketcli_models.topfreq"},  # a model by its module
        "basketcli.cli.train_cmd": {"basketcli.engine.distributed",
                                    "basketcli.workflows.train"},
        "basketcli.protocol": {"basketcli.evaluation.scoring", "basketcli.data.split"},
    }
    assert wrong_imports(planted) == {
        "basketcli.evaluation.metrics": ["basketcli.cli.ui"],
        "basketcli_models.mine": ["basketcli.workflows.train"],
        "basketcli.workflows.grid": ["basketcli.render"],
        "basketcli.workflows.steps": ["basketcli_models.topfreq"],
        "basketcli.cli.train_cmd": ["basketcli.engine.distributed"],
        "basketcli.protocol": ["basketcli.evaluation.scoring"],
    }
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_package_folder_is_installed():
    """pyproject.toml lists the packages (the models' folder installs under another name)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(project["tool"]["setuptools"]["packages"])
    folders = {module_name(p) for folder in PACKAGES for p in (ROOT / folder).rglob("__init__.py")}
    assert listed == folders


def test_docs_architecture_names_every_module_by_its_file():
    # A module the page does not name is one a reader cannot place. Paths, not words: "names"
    # is a common word, workflows/predict/names.py is not.
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    unnamed = sorted(str(path.relative_to(ROOT)) for path in modules().values()
                     if path.name != "__init__.py" and not mentions(text, path))
    assert not unnamed, f"docs/architecture.md does not name: {', '.join(unnamed)}"


def mentions(text: str, path: Path) -> bool:
    """Whether ``text`` names the file by its path inside its top folder (``cli/app.py``) or
    from the repository (``basketcli/cli/app.py``)."""
    inside = path.relative_to(ROOT / path.relative_to(ROOT).parts[0]).as_posix()
    return re.search(rf"(?<![\w/.]){re.escape(inside)}(?![\w])", text) is not None or \
        re.search(rf"(?<![\w/.]){re.escape(path.relative_to(ROOT).as_posix())}(?![\w])",
                  text) is not None
