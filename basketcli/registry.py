"""Entry-point plugin registry (group ``basketcli.models``).

Listing reads entry-point metadata only and imports no model module. Built-in models are
registered in pyproject.toml exactly as a third party registers theirs.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from basketcli.errors import PluginLoadError, UnknownModelError

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


def _allowed_distributions() -> set[str] | None:
    """None: every distribution; otherwise the third-party ones BASKET_LOAD_PLUGINS names."""
    value = os.environ.get(LOAD_PLUGINS_ENV)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


@lru_cache(maxsize=1)
def _entry_point_models() -> tuple[dict[str, ModelEntry], tuple[str, ...]]:
    allowed = _allowed_distributions()
    found: dict[str, ModelEntry] = {}
    problems: list[str] = []
    for ep in entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "unknown"
        version = ep.dist.version if ep.dist is not None else "unknown"
        if dist != BUILTIN_DISTRIBUTION and allowed is not None and dist not in allowed:
            continue
        if ep.name in found:
            problems.append(
                f"model {ep.name!r} is claimed by {found[ep.name].distribution} and {dist}; "
                f"keeping {found[ep.name].distribution}"
            )
            continue
        found[ep.name] = ModelEntry(ep.name, ep.value, dist, version)
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
    """Register a model class in this process (tests, notebooks)."""
    model_name = name or cls.name
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


@lru_cache(maxsize=None)
def _load_class(target: str, name: str) -> type:
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except ImportError as exc:
        raise PluginLoadError(
            f"model {name!r} is unavailable: {exc} (install the missing package)"
        ) from None
    except Exception as exc:  # a broken plugin must never crash the host
        raise PluginLoadError(f"model {name!r} failed to load: {type(exc).__name__}: {exc}") from None
    return obj


def get_model_class(name: str) -> type:
    entry = get_entry(name)
    return entry.cls if entry.cls is not None else _load_class(entry.target, name)
