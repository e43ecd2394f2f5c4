"""The `basket` command line. Commands are thin: parse, call basketcli.workflows, render.

Every module named ``*_cmd`` in this package attaches its commands to the Typer app when it is
imported. Importing this package is light: ``app`` (the Typer app with every command) is built
on first use, and ``main`` answers the commands people run to look around (``basket``,
``--help``, ``--version``, ``models``) without Typer (basketcli.cli.fastpath).
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
    """The console script: the fast path when it knows the command, else the Typer app."""
    from basketcli.cli import fastpath

    code = fastpath.run(sys.argv[1:] if args is None else list(args))
    if code is not None:
        raise SystemExit(code)
    _typer_app()(args=args)
