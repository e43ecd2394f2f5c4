"""`basket models`: list installed models and their hyperparameters."""

from __future__ import annotations

from typing import Annotated

import typer

from basketcli.cli.options import JsonOpt
from basketcli.cli.ui import console, emit_json, warn

COLUMNS = ("name", "summary", "distribution", "version", "status")


def models_command(
    pattern: Annotated[str, typer.Argument(help="only names matching this glob")] = "*",
    params: Annotated[str | None, typer.Option(
        "--params", help="show the hyperparameters of this model")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="import every listed model to tell whether it loads (the listing "
        "alone reads installed metadata and sources only)")] = False,
    json_out: JsonOpt = False,
) -> None:
    """List the installed models (built-in and plugins), or one model's hyperparameters."""
    from basketcli import registry
    from basketcli.render import new_table

    for problem in registry.problems():
        warn(problem)
    if params is None:
        listing = registry.describe_models(pattern, check=check)
        if json_out:
            emit_json({"models": listing})
            return
        table = new_table("installed models")
        for column in COLUMNS:
            table.add_column(column)
        for row in listing:
            style = "red" if row["status"] == "unavailable" else None
            table.add_row(*(str(row[c]) for c in COLUMNS), style=style)
        console.print(table)
        return
    from basketcli.settings import describe_params

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
