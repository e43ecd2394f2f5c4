"""`basket models`: list installed models and their hyperparameters."""

from __future__ import annotations

from typing import Annotated

import typer

from basketcli.cli.app import app
from basketcli.cli.options import JsonOpt
from basketcli.cli.ui import cli_errors, console, emit_json, warn


@app.command("models")
def models_command(
    pattern: Annotated[str, typer.Argument(help="only names matching this glob")] = "*",
    params: Annotated[str | None, typer.Option(
        "--params", help="show the hyperparameters of this model")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List the installed models (built-in and plugins), or one model's hyperparameters."""
    from basketcli.cli.listing import show_models

    with cli_errors():
        if params is None:
            show_models(pattern, json_out)
            return
        from basketcli import registry
        from basketcli.render import new_table
        from basketcli.settings import describe_params

        for problem in registry.problems():
            warn(problem)
        rows = describe_params(registry.get_model_class(params).Config)
        if json_out:
            emit_json({"model": params, "params": rows})
            return
        table = new_table(f"{params} hyperparameters (set with --set key=value)")
        for col in ("name", "type", "default", "description"):
            table.add_column(col)
        for row in rows:
            table.add_row(row["name"], row["type"], row["default"], row["description"])
        console.print(table)
