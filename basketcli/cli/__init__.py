"""The `basket` command line. Commands are thin: parse, call basketcli.workflows, render.

Every module named ``*_cmd`` in this package attaches its commands to the Typer app when it is
imported. Importing this package is light: ``app`` (the Typer app with every command) is built
on first use. ``main`` answers the commands people run to look around (``basket``, ``--help``,
``--version``, ``models``) without Typer (basketcli.cli.fastpath), and for any other command
imports only the module that defines it when it knows which (basketcli.cli.command_map).
"""

from __future__ import annotations

import sys
import types
from functools import cache
from importlib import import_module
from typing import Any


@cache
def _typer_app() -> Any:
    import pkgutil

    from basketcli.cli.app import app

    for module in pkgutil.iter_modules(__path__):
        if module.name.endswith("_cmd"):
            import_module(f"{__name__}.{module.name}")
    return app


class _CliPackage(types.ModuleType):
    """``basketcli.cli.app`` names the Typer app (as it always has), built on first access."""

    @property
    def app(self) -> Any:
        return _typer_app()

    @app.setter
    def app(self, module: Any) -> None:
        # Importing the submodule basketcli.cli.app binds it here; the name stays the Typer app.
        pass


sys.modules[__name__].__class__ = _CliPackage


def main(args: list[str] | None = None) -> None:
    """The console script: the fast path when it knows the command, else the Typer app with
    the command's own module (basketcli.cli.command_map), else with every command."""
    from basketcli.cli import command_map, fastpath

    argv = sys.argv[1:] if args is None else list(args)
    code = fastpath.run(argv)
    if code is not None:
        raise SystemExit(code)
    modules = command_map.modules_for(argv)
    if modules is not None:
        app = command_map.import_commands(modules)
    else:
        app = _typer_app()
        command_map.remember(app)
    app(args=args)
