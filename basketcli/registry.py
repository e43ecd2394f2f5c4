"""Entry-point plugin registry (group ``basketcli.models``).

Listing reads entry-point metadata only and imports no model module. Built-in models are
registered in pyproject.toml exactly as a third party registers theirs.
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import importlib.util
import os
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from basketcli.errors import BasketError, PluginLoadError, UnknownModelError

GROUP = "basketcli.models"
LOAD_PLUGINS_ENV = "BASKET_LOAD_PLUGINS"
BUILTIN_DISTRIBUTION = "basket"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    target: str  # "module:Class"
    distribution: str
    version: str
    cls: type | None = None  # set for models registered in-process

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN_DISTRIBUTION


_in_process: dict[str, ModelEntry] = {}
_problems: list[str] = []


def normalize_distribution(name: str) -> str:
    """PEP 503 form, so BASKET_LOAD_PLUGINS=basket_remix matches basket-remix and Basket.Remix."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _allowed_distributions() -> set[str] | None:
    """None: every distribution; otherwise the third-party ones BASKET_LOAD_PLUGINS names.

    Built-in models always load: unset loads every plugin, "" none, "a,b" only a and b.
    """
    value = os.environ.get(LOAD_PLUGINS_ENV)
    if value is None:
        return None
    return {normalize_distribution(part.strip()) for part in value.split(",") if part.strip()}


@lru_cache(maxsize=1)
def _entry_point_models() -> tuple[dict[str, ModelEntry], tuple[str, ...]]:
    allowed = _allowed_distributions()
    found: dict[str, ModelEntry] = {}
    problems: list[str] = []
    seen_distributions: set[str] = set()
    for ep in entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "unknown"
        version = ep.dist.version if ep.dist is not None else "unknown"
        key = normalize_distribution(dist)
        seen_distributions.add(key)
        if key != BUILTIN_DISTRIBUTION and allowed is not None and key not in allowed:
            continue
        if ep.name in found:
            first = found[ep.name]
            if first.distribution == dist and first.target == ep.value:
                continue  # the same distribution seen twice on sys.path
            problems.append(
                f"model {ep.name!r} is claimed by {first.distribution} ({first.target}) and "
                f"{dist} ({ep.value}); keeping {first.distribution}, the first found"
            )
            continue
        found[ep.name] = ModelEntry(ep.name, ep.value, dist, version)
    for missing in sorted((allowed or set()) - seen_distributions):
        problems.append(
            f"{LOAD_PLUGINS_ENV} names {missing!r}, but no installed distribution of that name "
            "declares basket models"
        )
    return found, tuple(problems)


def refresh() -> None:
    """Forget what was discovered (after installing a plugin or changing the environment)."""
    _entry_point_models.cache_clear()
    _load_class.cache_clear()


def entries() -> dict[str, ModelEntry]:
    found, _ = _entry_point_models()
    merged = dict(found)
    merged.update(_in_process)
    return dict(sorted(merged.items()))


def problems() -> list[str]:
    """Warnings about the installed plugins (duplicate names), for the CLI to show."""
    return list(_entry_point_models()[1]) + list(_problems)


def register(cls: type, name: str | None = None, distribution: str = "in-process") -> None:
    """Register a model class in this process (tests, notebooks); it shadows an installed one."""
    model_name = name or getattr(cls, "name", None)
    if not isinstance(model_name, str) or not model_name:
        raise TypeError(f"{cls!r} has no `name`; pass register(cls, name=...)")
    target = f"{cls.__module__}:{cls.__qualname__}"
    _in_process[model_name] = ModelEntry(model_name, target, distribution, "0", cls)


def unregister(name: str) -> None:
    _in_process.pop(name, None)


def list_models(pattern: str = "*") -> list[str]:
    return [name for name in entries() if fnmatch.fnmatch(name, pattern)]


def get_entry(name: str) -> ModelEntry:
    known = entries()
    if name not in known:
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(known)}"
        raise UnknownModelError(f"unknown model {name!r}; {hint} (see 'basket models')")
    return known[name]


@cache
def _load_class(target: str, name: str, distribution: str) -> type:
    module_name, _, attr = target.partition(":")
    source = f"model {name!r} (from {distribution})"
    try:
        obj: Any = import_module(module_name)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
    except ModuleNotFoundError as exc:
        missing = exc.name or str(exc)
        if missing == module_name or module_name.startswith(f"{missing}."):
            raise PluginLoadError(_not_installed(name, module_name, distribution)) from None
        raise PluginLoadError(
            f"{source} is unavailable: it needs the package {missing!r}, which is not "
            "installed; install it"
        ) from None
    except ImportError as exc:
        raise PluginLoadError(f"{source} is unavailable: {exc}") from None
    except (Exception, SystemExit) as exc:  # a broken plugin must never crash the host
        raise PluginLoadError(
            f"{source} failed to load: {type(exc).__name__}: {exc}"
        ) from None
    from basketcli.protocol import BasketModel

    if not (isinstance(obj, type) and issubclass(obj, BasketModel)):
        raise PluginLoadError(
            f"{source} is unavailable: {target} is not a basketcli.protocol.BasketModel subclass"
        )
    return obj


def get_model_class(name: str) -> type:
    entry = get_entry(name)
    if entry.cls is not None:
        return entry.cls
    return _load_class(entry.target, name, entry.distribution)


def create_model(name: str, settings: dict[str, Any] | None = None) -> Any:
    """A model by registered name, its settings validated against its config: the one way to
    build a model from a name and settings (commands, tuning, and models built on others)."""
    from basketcli.settings import build_config

    cls = get_model_class(name)
    return cls(build_config(cls.Config, settings or {}, name))


def _not_installed(name: str, module: str, distribution: str) -> str:
    return (f"model {name!r} (from {distribution}) is unavailable: its module {module!r} is "
            f"not installed; reinstall {distribution}")


def describe_models(pattern: str = "*", check: bool = False) -> list[dict[str, str]]:
    """One row per model matching ``pattern``: name, summary, distribution, version, status.

    Without ``check`` no model is imported: the summary is the first line of the model
    class's docstring, read from its source file, and the status says whether that file is
    installed. With ``check`` every model is imported: available, or unavailable with the
    one-line reason in place of the summary.
    """
    rows = []
    for name in list_models(pattern):
        entry = get_entry(name)
        if check or entry.cls is not None:
            try:
                summary, status = get_model_class(name).summary(), "available"
            except BasketError as exc:
                summary, status = exc.message, "unavailable"
        else:
            summary, status = _summary_from_source(entry)
        rows.append({"name": name, "summary": summary, "distribution": entry.distribution,
                     "version": entry.version, "status": status})
    return rows


def _summary_from_source(entry: ModelEntry) -> tuple[str, str]:
    """(summary, status) of a model found without importing its module."""
    module, _, attr = entry.target.partition(":")
    try:
        spec = importlib.util.find_spec(module)  # imports the parent packages only
    except Exception:  # a parent package that fails to import, an invalid name
        spec = None
    if spec is None:
        return _not_installed(entry.name, module, entry.distribution), "unavailable"
    summary = ""
    if spec.origin and spec.origin.endswith(".py"):
        try:
            tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            tree = None
        class_name = attr.rpartition(".")[2]
        for node in tree.body if tree is not None else ():
            if isinstance(node, ast.ClassDef) and node.name == class_name:
                doc = ast.get_docstring(node) or ""
                summary = doc.strip().splitlines()[0] if doc.strip() else ""
    return summary, "installed"
