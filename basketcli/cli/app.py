"""The Typer application: every command registered in one place, errors rendered in one place.

Command modules import nothing heavy at module level (numpy, pandas, torch, xgboost, the
plugins load inside the commands), so `basket --help` stays fast without any cache.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from basketcli import __version__
from basketcli.cli import (
    compare_cmd,
    data_cmd,
    embed_cmd,
    evaluate_cmd,
    grid_cmd,
    models_cmd,
    new_plugin_cmd,
    predict_cmd,
    train_cmd,
    tune_cmd,
)
from basketcli.cli.ui import DEBUG, report_error
from basketcli.errors import BasketError


class BasketGroup(TyperGroup):
    """The root command group: every command runs inside its ``invoke``, so a BasketError
    becomes one line on stderr and exit code 2 (Ctrl-C: 130) for the console script and for
    Typer's CliRunner alike."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (BasketError, KeyboardInterrupt) as exc:
            raise typer.Exit(report_error(exc)) from None


app = typer.Typer(
    name="basket",
    cls=BasketGroup,
    help="Predict a customer's next grocery order: prepare data, train, compare and serve "
    "next-basket models, and add your own as plugins.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.command("compare")(compare_cmd.compare_command)
app.command("embed")(embed_cmd.embed_command)
app.command("evaluate")(evaluate_cmd.evaluate_command)
app.command("grid")(grid_cmd.grid_command)
app.command("models")(models_cmd.models_command)
app.command("new-plugin")(new_plugin_cmd.new_plugin_command)
app.command("predict")(predict_cmd.predict_command)
app.command("train")(train_cmd.train_command)
app.command("tune")(tune_cmd.tune_command)

data_app = typer.Typer(help="Inspect and prepare data sets.", no_args_is_help=True)
data_app.command("info")(data_cmd.info_command)
data_app.command("synth")(data_cmd.synth_command)
app.add_typer(data_app, name="data")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"basket {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    # metavar="": a flag takes no value (Typer would show <bool>)
    debug: Annotated[bool, typer.Option(
        "--debug", metavar="", help="show tracebacks of errors")] = False,
    version: Annotated[bool, typer.Option(
        "--version", metavar="", callback=_version, is_eager=True,
        help="print the version and exit")] = False,
) -> None:
    DEBUG["enabled"] = debug


def main(args: list[str] | None = None) -> None:
    """The console script (``args``: instead of the command line's)."""
    app(args=args)
