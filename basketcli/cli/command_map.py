"""Which ``*_cmd`` modules define each top-level command, so that `basket predict ...` imports
only basketcli.cli.predict_cmd and Typer builds only that command instead of all of them (the
last rows of bench/startup.py show the difference).

The map is read from the app once every command module is imported (explicit command names
only), and kept in the startup cache with the files of every module loaded then and the
modification time of this package's folder (a command module added, removed or edited makes it
stale). When the map is missing or stale, or the arguments are anything but ``[--debug] WORD
...``, every command module is imported as before.
"""

from __future__ import annotations

import sys
from typing import Any

from basketcli.cli import startup_cache
from basketcli.cli.fastpath import fast_start_enabled

CACHE_FILE = "cli-commands"
PACKAGE = "basketcli.cli"
ROOT_FLAGS = ("--debug",)  # root options that take no value and print nothing


def command_word(args: list[str]) -> str | None:
    """The command of ``[--debug] WORD ...``; None for any other shape (the root's help, ...)."""
    for arg in args:
        if not arg.startswith("-"):
            return arg
        if arg not in ROOT_FLAGS:
            return None
    return None


def modules_for(args: list[str]) -> list[str] | None:
    """The command modules the command in ``args`` needs, or None: import them all."""
    if not fast_start_enabled():
        return None
    word = command_word(args)
    if word is None:
        return None
    document = startup_cache.read(CACHE_FILE)
    if document is None or document.get("key") != startup_cache.cli_key():
        return None
    try:
        modules = document["commands"].get(word)
        if not startup_cache.unchanged(document["files"]) or not isinstance(modules, list):
            return None
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return [m for m in modules if isinstance(m, str) and m.startswith(f"{PACKAGE}.")] or None


def command_modules(app: Any) -> dict[str, list[str]]:
    """{top-level command: the *_cmd modules defining it or its subcommands}, for the commands
    whose every part has an explicit name and lives in a *_cmd module of this package."""
    found: dict[str, list[str]] = {}
    for info in app.registered_commands:
        modules = _modules([info])
        if info.name and modules is not None:
            found[info.name] = modules
    for group in app.registered_groups:
        sub = group.typer_instance
        if not group.name or sub is None or sub.registered_groups:
            continue
        parts = list(sub.registered_commands)
        if sub.registered_callback is not None:
            parts.append(sub.registered_callback)
        modules = _modules(parts)
        if modules is not None and all(info.name for info in sub.registered_commands):
            found[group.name] = modules
    return found


def _modules(infos: list[Any]) -> list[str] | None:
    modules = set()
    for info in infos:
        module = getattr(info.callback, "__module__", "")
        if module == f"{PACKAGE}.app":
            continue
        if not (module.startswith(f"{PACKAGE}.") and module.endswith("_cmd")):
            return None
        modules.add(module)
    return sorted(modules)


def remember(app: Any) -> None:
    """Cache the map of the fully imported app, unless the cached one is still valid."""
    if not fast_start_enabled():
        return
    key = startup_cache.cli_key()
    document = startup_cache.read(CACHE_FILE)
    try:
        if document and document.get("key") == key and startup_cache.unchanged(
                document["files"]):
            return
    except (AttributeError, KeyError, TypeError, ValueError):
        pass
    startup_cache.write(CACHE_FILE, {"key": key, "files": startup_cache.loaded_source_files(),
                                     "commands": command_modules(app)})


def import_commands(modules: list[str]) -> Any:
    """The Typer app with only ``modules``' commands attached (in the usual, sorted, order)."""
    from importlib import import_module

    from basketcli.cli.app import app

    for module in sorted(modules):
        if module not in sys.modules:
            import_module(module)
    return app
