"""Options shared by several commands, each declared once.

Options that belong together come as a group: ``@data_options`` gives a command the nine data
options and hands it one validated DataSpec (its ``spec`` parameter); ``@settings_options``
gives it --set and --config and hands it the model settings (``settings``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from basketcli.data.source import DataSpec

DATA_PANEL = "Data"
SETTINGS_PANEL = "Model settings"

# name -> (annotation, default) of each data option, in the order --help lists them.
DATA_OPTIONS: dict[str, tuple[Any, Any]] = {
    "data": (Annotated[str, typer.Option(
        "--data", help="'sample' (bundled Instacart slice), 'completejourney' (Dunnhumby's, "
        "with the extra basket\\[completejourney]), an Instacart folder, or a .csv/.parquet file",
        rich_help_panel=DATA_PANEL)], "sample"),
    "catalog": (Annotated[Path | None, typer.Option(
        "--catalog", help="products.csv with product names (default: $BASKET_CATALOG)",
        rich_help_panel=DATA_PANEL)], None),
    "min_item_count": (Annotated[int, typer.Option(
        "--min-item-count", min=1, help="drop products in fewer baskets than this",
        rich_help_panel=DATA_PANEL)], 1),
    "top_items": (Annotated[int | None, typer.Option(
        "--top-items", min=1, help="keep only the N most frequent products (the report used "
        "145)", rich_help_panel=DATA_PANEL)], None),
    "min_orders": (Annotated[int, typer.Option(
        "--min-orders", min=1, help="drop customers with fewer orders than this, before the "
        "split (the field's convention; the split itself needs 3)", rich_help_panel=DATA_PANEL)],
        4),
    "user_col": (Annotated[str, typer.Option(
        "--user-col", help="customer column of a long-format file",
        rich_help_panel=DATA_PANEL)], "user_id"),
    "item_col": (Annotated[str, typer.Option(
        "--item-col", help="product column of a long-format file",
        rich_help_panel=DATA_PANEL)], "product_id"),
    "order_col": (Annotated[str | None, typer.Option(
        "--order-col", help="order column (order_number, or order_id with --time-col)",
        rich_help_panel=DATA_PANEL)], None),
    "time_col": (Annotated[str | None, typer.Option(
        "--time-col", help="timestamp column of a long-format file",
        rich_help_panel=DATA_PANEL)], None),
    "max_memory": (Annotated[str | None, typer.Option(
        "--max-memory", help="memory data loading may use, e.g. 6G or 512M (checked before "
        "reading; default: $BASKET_MAX_MEMORY, else the memory available)",
        rich_help_panel=DATA_PANEL)], None),
    "strict": (Annotated[bool, typer.Option(
        "--strict", help="refuse data that must be changed to be read (order numbers used "
        "twice, repeated lines, empty orders, blank ids, customers under --min-orders) instead "
        "of a warning that counts them", rich_help_panel=DATA_PANEL)], False),
}

SETTINGS_OPTIONS: dict[str, tuple[Any, Any]] = {
    "set_": (Annotated[list[str] | None, typer.Option(
        "--set", help="model setting key=value (repeatable; a list setting takes a,b or a JSON "
        "list; see 'basket models --params NAME')", rich_help_panel=SETTINGS_PANEL)], None),
    "config": (Annotated[Path | None, typer.Option(
        "--config", help="JSON or TOML file of model settings (--set wins over it)",
        rich_help_panel=SETTINGS_PANEL)], None),
}

CatalogOpt = DATA_OPTIONS["catalog"][0]
def complete_model(incomplete: str) -> list[str]:
    """Shell completion of a model name (reads entry points only; imports no model)."""
    from basketcli import registry

    return [name for name in registry.list_models() if name.startswith(incomplete)]


def complete_models(incomplete: str) -> list[str]:
    """Shell completion of the last name of a comma-separated --models list."""
    head, _, last = incomplete.rpartition(",")
    return [f"{head}," * bool(head) + name for name in complete_model(last)]


ModelOpt = Annotated[str, typer.Option(
    "--model", help="registered model name (see 'basket models')",
    autocompletion=complete_model)]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
FORMATS = ("table", "json", "csv", "markdown")
FormatOpt = Annotated[str, typer.Option(
    "--format", help="table (fitted to the terminal's width), json, csv or markdown (one row "
    "per result, for reports)")]
MetricsOpt = Annotated[str | None, typer.Option(
    "--metrics", help="metrics the table shows: a comma-separated list or 'all' (default: the "
    "headline set; json and csv always hold every metric)")]
BootstrapOpt = Annotated[int, typer.Option(
    "--bootstrap", min=0, help="resamples of the customers for 95% intervals (seeded: a "
    "rerun prints the same intervals); 0 turns them off")]
PerCustomerOpt = Annotated[Path | None, typer.Option(
    "--per-customer", help="also write every customer's metrics, one row per customer and "
    "model, to this .csv or .parquet file")]
ForceOpt = Annotated[bool, typer.Option("--force",
    help="replace what --out already holds")]
ResumeOpt = Annotated[bool, typer.Option(
    "--resume",
    help="continue the interrupted run or grid in --out (finished work is kept)")]
ThresholdOpt = Annotated[float | None, typer.Option(
    "--threshold", min=0.0, max=1.0, help="probability threshold for f1_micro/f1_macro "
    "(default: each model's own, as configured; 0.5 for models without one)")]
SizingOpt = Annotated[str | None, typer.Option(
    "--sizing", help="basket size rule for basket_f1: top-k[:K], threshold[:T] or expected-f1 "
    "(default: each model's own)")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda (torch models)")]
BudgetOpt = Annotated[str | None, typer.Option(
    "--budget", help="time to search each model's settings, such as 90s, 10m or 1h30m (with "
    "--trials: whichever comes first)")]
TrialsOpt = Annotated[int | None, typer.Option(
    "--trials", min=1, help="trials to run for each model")]
PatienceOpt = Annotated[int, typer.Option(
    "--patience", min=1, help="stop a model's search after this many finished trials without "
    "a better one (cheap models settle long before the budget ends)")]


def option_group(options: dict[str, tuple[Any, Any]], combine: Callable[..., Any], into: str):
    """A decorator giving a command ``options`` (name -> (annotation, default)); the command
    receives ``combine(**their values)`` as its parameter ``into`` instead."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(command)
        parameters = [_evaluated(p, command.__globals__)
                      for name, p in own.parameters.items() if name != into]
        parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                         annotation=annotation)
                       for name, (annotation, default) in options.items()]

        @functools.wraps(command)
        def combined(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in options}
            return command(*args, **{into: combine(**values)}, **kwargs)

        # Typer reads the parameters from the signature and their types from the annotations.
        combined.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
        combined.__annotations__ = {p.name: p.annotation for p in parameters}
        return combined

    return decorate


def _evaluated(parameter: inspect.Parameter, namespace: dict[str, Any]) -> inspect.Parameter:
    """The parameter with its annotation evaluated (command modules postpone evaluation).
    Names only imported for type checkers stay text: they are the parameters that another
    group replaces (``spec: DataSpec``)."""
    if not isinstance(parameter.annotation, str):
        return parameter
    try:
        return parameter.replace(annotation=eval(parameter.annotation, namespace))  # noqa: S307
    except NameError:
        return parameter


def data_spec(
    data: str = "sample", catalog: Path | None = None, min_item_count: int = 1,
    top_items: int | None = None, min_orders: int = 4, user_col: str = "user_id",
    item_col: str = "product_id",
    order_col: str | None = None, time_col: str | None = None, max_memory: str | None = None,
    strict: bool = False,
) -> DataSpec:
    from basketcli.data.budget import parse_memory
    from basketcli.data.source import BUNDLED, DataSpec

    source = data if data in BUNDLED else str(Path(data).expanduser().resolve())
    return DataSpec(
        source=source, catalog=str(catalog.expanduser().resolve()) if catalog else None,
        min_item_count=min_item_count, top_items=top_items, min_orders=min_orders,
        user_col=user_col,
        item_col=item_col, order_col=order_col, time_col=time_col,
        max_memory=parse_memory(max_memory), strict=strict,
    )


RESTRICTION_PANEL = "What may be recommended"
ExcludeOpt = Annotated[Path | None, typer.Option(
    "--exclude", help="never recommend the products this file lists (one name or id per line: "
    "delisted, out of stock)", rich_help_panel=RESTRICTION_PANEL)]
NewOnlyOpt = Annotated[bool, typer.Option(
    "--new-only", help="only products the customer never bought (a discovery shelf)",
    rich_help_panel=RESTRICTION_PANEL)]
RepeatOnlyOpt = Annotated[bool, typer.Option(
    "--repeat-only", help="only products the customer bought before",
    rich_help_panel=RESTRICTION_PANEL)]


def only_of(new_only: bool, repeat_only: bool) -> str | None:
    """"new", "repeat" or None from --new-only / --repeat-only (not both)."""
    from basketcli.errors import ConfigError

    if new_only and repeat_only:
        raise ConfigError("--new-only and --repeat-only: give one of them (together they leave "
                          "nothing to recommend)")
    return "new" if new_only else "repeat" if repeat_only else None


def output_format(fmt: str, json_out: bool) -> str:
    """The output format of --format, or json with --json."""
    from basketcli.errors import ConfigError

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return "json" if json_out else fmt


def metric_keys(text: str | None) -> tuple[str, ...] | None:
    """The metrics of --metrics (None: the default set)."""
    import difflib

    from basketcli.errors import ConfigError
    from basketcli.evaluation.metrics import METRIC_KEYS

    if text is None:
        return None
    if text.strip() == "all":
        return METRIC_KEYS
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    for key in keys:
        if key not in METRIC_KEYS:
            close = difflib.get_close_matches(key, METRIC_KEYS, n=2)
            hint = f"did you mean {' or '.join(close)}?" if close else "or 'all'"
            raise ConfigError(f"--metrics {key!r}: not a metric; {hint} (metrics: "
                              f"{', '.join(METRIC_KEYS)})")
    if not keys:
        raise ConfigError("--metrics: give at least one metric, or 'all'")
    return keys


def model_settings(set_: list[str] | None = None, config: Path | None = None) -> dict[str, Any]:
    """The settings of --config, updated by those of --set."""
    from basketcli.cli.parsing import parse_assignments, read_config_file

    values = read_config_file(config) if config else {}
    values.update(parse_assignments(set_ or []))
    return values


data_options = option_group(DATA_OPTIONS, data_spec, "spec")
settings_options = option_group(SETTINGS_OPTIONS, model_settings, "settings")
