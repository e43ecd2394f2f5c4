"""`basket new-plugin NAME`: write a new model plugin package from the template."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from basketcli.cli.options import JsonOpt
from basketcli.cli.ui import console, emit_json


def new_plugin_command(
    name: Annotated[str, typer.Argument(help="model name: lowercase letters, digits, underscores")],
    directory: Annotated[Path, typer.Option(
        "--dir", help="folder to create the package in (it becomes DIR/basket-NAME)")] = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Write a new model plugin package from the template; its tests pass as written."""
    from basketcli.workflows.new_plugin import create_plugin

    target, names, files = create_plugin(name, directory)
    if json_out:
        emit_json({"path": str(target), "files": [f.as_posix() for f in files],
                   **names.__dict__})
        return
    console.print(f"created [bold]{target}[/] (model [bold]{names.model}[/], class "
                  f"{names.class_name}, distribution {names.distribution})", highlight=False)
    for file in files:
        console.print(f"  {file.as_posix()}", highlight=False)
    console.print("next:", highlight=False)
    for step in (f"cd {target}", "pip install -e .", "python -m pytest -q",
                 f"basket compare --models ptopfreq,{names.model}"):
        console.print(f"  {step}", highlight=False)
