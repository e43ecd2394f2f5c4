"""The Typer application: every command registered in one place, errors rendered in one place.

Command modules import nothing heavy at module level (numpy, pandas, torch, xgboost, the
plugins load inside the commands), so `basket --help` stays fast without any cache.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

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
from basketcli.cli.ui import DEBUG, command_output, report_error
from basketcli.errors import BasketError


def _flags_without_value(params: list[Any]) -> list[Any]:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # a flag takes no value (Typer would show <bool>)
    return params


class BasketCommand(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_value(super().get_params(ctx))


class BasketGroup(TyperGroup):
    """The root command group: every command runs inside its ``invoke``, so a BasketError
    becomes one line on stderr and exit code 2 (Ctrl-C: 130) for the console script and for
    Typer's CliRunner alike."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (BasketError, KeyboardInterrupt) as exc:
            raise typer.Exit(report_error(exc)) from None

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_value(super().get_params(ctx))


app = typer.Typer(
    name="basket",
    cls=BasketGroup,
    help="Predict a customer's next grocery order: prepare data, train, compare and serve "
    "next-basket models, and add your own as plugins.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _flowing(doc: str | None) -> str:
    """A docstring as help text: its paragraphs re-flowed to the terminal's width (Typer's
    Rich help keeps the line breaks of a paragraph, which break lines mid-sentence)."""
    return "\n\n".join(" ".join(paragraph.split())
                       for paragraph in inspect.cleandoc(doc or "").split("\n\n"))


def _register(group: typer.Typer, name: str, command: Any) -> None:
    group.command(name, cls=BasketCommand, help=_flowing(command.__doc__))(command)


_register(app, "compare", compare_cmd.compare_command)
_register(app, "embed", embed_cmd.embed_command)
_register(app, "evaluate", evaluate_cmd.evaluate_command)
_register(app, "grid", grid_cmd.grid_command)
_register(app, "models", models_cmd.models_command)
_register(app, "new-plugin", new_plugin_cmd.new_plugin_command)
_register(app, "predict", predict_cmd.predict_command)
_register(app, "train", train_cmd.train_command)
_register(app, "tune", tune_cmd.tune_command)

data_app = typer.Typer(cls=BasketGroup, help="Inspect and prepare data sets.", no_args_is_help=True)
_register(data_app, "info", data_cmd.info_command)
_register(data_app, "synth", data_cmd.synth_command)
app.add_typer(data_app, name="data")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"basket {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option(
        "--debug", help="show tracebacks of errors")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", envvar="BASKET_QUIET",
        help="print only errors on stderr: no progress, warnings or notes (results still go "
        "to stdout, files are still written); or set BASKET_QUIET=1")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="print the version and exit")] = False,
) -> None:
    DEBUG["enabled"] = debug
    ctx.with_resource(command_output(quiet))  # until the command ends, error or not


def main(args: list[str] | None = None) -> None:
    """The console script (``args``: instead of the command line's)."""
    app(args=args)
