"""`basket models`: list installed models and their hyperparameters."""

from __future__ import annotations

from typing import Annotated

import typer

from basketcli.cli.options import JsonOpt, complete_model
from basketcli.cli.ui import console, emit_json, show, warn


def models_command(
    pattern: Annotated[str, typer.Argument(help="only names matching this glob")] = "*",
    params: Annotated[str | None, typer.Option(
        "--params", help="show the hyperparameters of this model",
        autocompletion=complete_model)] = None,
    check: Annotated[bool, typer.Option(
        "--check",
        help="import every listed model to tell whether it loads (the listing "
        "alone reads installed metadata and sources only)")] = False,
    json_out: JsonOpt = False,
) -> None:
    """List the installed models (built-in and plugins), or one model's hyperparameters."""
    from basketcli import registry
    from basketcli.render import models_table, params_report

    for problem in registry.problems():
        warn(problem)
    if params is None:
        listing = registry.describe_models(pattern, check=check)
        if json_out:
            emit_json({"models": listing})
            return
        console.print(models_table(listing))
        return
    from basketcli.settings import describe_params

    cls = registry.get_model_class(params)
    rows = describe_params(cls.Config, cls.search_space())
    if json_out:
        emit_json({"model": params, "params": rows})
        return
    show(params_report(params, rows, console.width))
