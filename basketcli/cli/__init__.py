"""The `basket` command line. Commands are thin: parse, call basketcli.workflows, render.

Every module named ``*_cmd`` in this package attaches its commands to the app on import.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module

from basketcli.cli.app import app

for _module in pkgutil.iter_modules(__path__):
    if _module.name.endswith("_cmd"):
        import_module(f"{__name__}.{_module.name}")


def main() -> None:
    app()
