"""`basket new-plugin NAME`: a new model plugin package, copied from the plugin template.

The template is examples/plugin-template, a working plugin (model ``remix``, distribution
``basket-remix``, module ``basket_remix``, class ``Remix``). Its names are replaced whole, so the
copy installs, passes its tests and runs in every command before its author changes a line.
"""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from basketcli.artifacts import atomic_folder
from basketcli.errors import BasketError, ConfigError

TEMPLATE_MODEL = "remix"
NAME_RULE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
MAX_NAME_LENGTH = 20
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", "build", "dist", ".venv"}
TEMPLATE_ONLY = re.compile(r"<!-- template-only -->.*?<!-- /template-only -->\n", re.DOTALL)
GENERATED_NOTE = (
    "Made with `basket new-plugin`: replace the model in `{module}.py` with yours and keep "
    "the tests green.\n"
)


@dataclass(frozen=True)
class PluginNames:
    """Every spelling of a plugin's name the package uses."""

    model: str  # entry point and BasketModel.name: mymodel
    module: str  # import name: basket_mymodel
    distribution: str  # pip name and folder: basket-mymodel
    class_name: str  # MyModel (its config class is MyModelConfig)

    @classmethod
    def for_model(cls, model: str) -> PluginNames:
        return cls(
            model=model,
            module=f"basket_{model}",
            distribution=f"basket-{model.replace('_', '-')}",
            class_name="".join(part.capitalize() for part in model.split("_")),
        )


def template_dir() -> Path:
    """examples/plugin-template of the basket checkout this module was imported from."""
    path = Path(__file__).resolve().parents[2] / "examples" / "plugin-template"
    if not (path / "pyproject.toml").is_file():
        raise BasketError(
            f"the plugin template is not at {path}; it ships with basket's source checkout, "
            "so install basket from there (pip install -e .)"
        )
    return path


def validate_name(name: str, template: Path) -> PluginNames:
    """The names for ``name``, or a one-line ConfigError saying what a name may be."""
    if not NAME_RULE.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise ConfigError(
            f"NAME {name!r}: use lowercase letters, digits and single underscores, starting "
            f"with a letter, at most {MAX_NAME_LENGTH} characters (e.g. mymodel or my_model)"
        )
    names = PluginNames.for_model(name)
    taken = _module_level_names(template / f"basket_{TEMPLATE_MODEL}.py")
    for spelling in (names.class_name, f"{names.class_name}Config"):
        if spelling in taken:
            raise ConfigError(
                f"NAME {name!r}: its class {spelling} would shadow {spelling} in the template "
                "module; choose another name"
            )
    from basketcli import registry

    entry = registry.entries().get(name)
    if entry is not None:
        raise ConfigError(
            f"NAME {name!r}: a model of that name is already installed (from "
            f"{entry.distribution}); choose another name"
        )
    return names


def _module_level_names(module: Path) -> set[str]:
    """Names the template module imports or defines, other than the model's own classes."""
    names: set[str] = set()
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
    template = PluginNames.for_model(TEMPLATE_MODEL)
    return names - {template.class_name, f"{template.class_name}Config"}


def renamer(names: PluginNames):
    """A function replacing every spelling of the template's names with the new ones."""
    template = PluginNames.for_model(TEMPLATE_MODEL)
    table = {
        template.module: names.module,
        template.distribution: names.distribution,
        template.class_name: names.class_name,
        template.model: names.model,
    }
    pattern = re.compile("|".join(re.escape(old) for old in table))  # longest spellings first
    return lambda text: pattern.sub(lambda match: table[match.group(0)], text)


def template_files(template: Path) -> list[Path]:
    """The template's files (relative), without caches and build output."""
    files = []
    for path in sorted(template.rglob("*")):
        relative = path.relative_to(template)
        skipped = any(p in SKIPPED_PARTS or p.endswith(".egg-info") for p in relative.parts)
        if path.is_file() and not skipped and path.suffix not in {".pyc", ".pyo"}:
            files.append(relative)
    return files


def create_plugin(name: str, directory: Path) -> tuple[Path, PluginNames, list[Path]]:
    """Write ``directory/basket-NAME`` from the template; nothing is written on any error."""
    template = template_dir()
    names = validate_name(name, template)
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--dir {directory}: not a folder")
    target = directory / names.distribution
    if target.exists():
        raise ConfigError(f"{target}: already exists; choose another --dir or NAME (nothing "
                          "was overwritten)")
    rename = renamer(names)
    written = []
    with atomic_folder(target) as staging:  # the whole package appears at once
        for relative in template_files(template):
            out = staging / rename(relative.as_posix())
            out.parent.mkdir(parents=True, exist_ok=True)
            text = rename((template / relative).read_text(encoding="utf-8"))
            if relative.name == "README.md":
                text = TEMPLATE_ONLY.sub(GENERATED_NOTE.format(module=names.module), text)
            out.write_text(text, encoding="utf-8")
            shutil.copymode(template / relative, out)
            written.append(out.relative_to(staging))
    return target, names, written
