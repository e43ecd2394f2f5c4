"""The Typer application; command modules attach themselves to it."""

from __future__ import annotations

from typing import Annotated

import typer

from basketcli import __version__
from basketcli.cli.ui import DEBUG

app = typer.Typer(
    name="basket",
    help="Predict a customer's next grocery order: prepare data, train, compare and serve "
    "next-basket models, and add your own as plugins.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
data_app = typer.Typer(help="Inspect and prepare data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"basket {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks of errors")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="print the version and exit")] = False,
) -> None:
    DEBUG["enabled"] = debug
