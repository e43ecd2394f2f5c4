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
    from basketcli import registry
    from basketcli.errors import BasketError
    from basketcli.render import new_table
    from basketcli.settings import describe_params

    with cli_errors():
        for problem in registry.problems():
            warn(problem)
        if params is not None:
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
            return
        listing = []
        for name in registry.list_models(pattern):
            entry = registry.get_entry(name)
            try:
                cls = registry.get_model_class(name)
                status, summary = "available", cls.summary()
            except BasketError as exc:
                status, summary = "unavailable", exc.message
            listing.append({
                "name": name, "summary": summary, "distribution": entry.distribution,
                "version": entry.version, "status": status,
            })
        if json_out:
            emit_json({"models": listing})
            return
        table = new_table("installed models")
        for col in ("name", "summary", "distribution", "version", "status"):
            table.add_column(col)
        for row in listing:
            style = None if row["status"] == "available" else "red"
            table.add_row(*(str(row[c]) for c in ("name", "summary", "distribution", "version",
                                                  "status")), style=style)
        console.print(table)
