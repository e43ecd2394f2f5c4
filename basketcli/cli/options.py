"""Options shared by several commands, each declared once.

The data options come as one group: ``@data_options`` gives a command every one of them and
hands the command a validated DataSpec (its ``spec`` parameter) instead of nine values.
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

# name -> (annotation, default) of each data option, in the order --help lists them.
DATA_OPTIONS: dict[str, tuple[Any, Any]] = {
    "data": (Annotated[str, typer.Option(
        "--data", help="'sample' (bundled Instacart slice), an Instacart folder, or a "
        ".csv/.parquet file", rich_help_panel=DATA_PANEL)], "sample"),
    "catalog": (Annotated[Path | None, typer.Option(
        "--catalog", help="products.csv with product names (default: $BASKET_CATALOG)",
        rich_help_panel=DATA_PANEL)], None),
    "min_item_count": (Annotated[int, typer.Option(
        "--min-item-count", min=1, help="drop products in fewer baskets than this",
        rich_help_panel=DATA_PANEL)], 1),
    "top_items": (Annotated[int | None, typer.Option(
        "--top-items", min=1, help="keep only the N most frequent products (the report used "
        "145)", rich_help_panel=DATA_PANEL)], None),
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
}

CatalogOpt = DATA_OPTIONS["catalog"][0]
ModelOpt = Annotated[str, typer.Option(
    "--model", help="registered model name (see 'basket models')")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="model setting key=value (repeatable; see 'basket models --params NAME')")]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="JSON or TOML file of model settings (--set wins over it)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
ForceOpt = Annotated[bool, typer.Option("--force", help="replace what --out already holds")]
ResumeOpt = Annotated[bool, typer.Option(
    "--resume", help="continue the interrupted run or grid in --out (finished work is kept)")]
ThresholdOpt = Annotated[float, typer.Option(
    "--threshold", min=0.0, max=1.0, help="probability threshold for f1_micro/f1_macro")]
SizingOpt = Annotated[str | None, typer.Option(
    "--sizing", help="basket size rule for basket_f1: top-k[:K], threshold[:T] or expected-f1 "
    "(default: each model's own)")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda (torch models)")]


def data_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` the shared data options; it receives them as one DataSpec, ``spec``."""
    own = inspect.signature(command)
    # The command's own annotations are text (postponed evaluation); its ``spec`` is replaced.
    parameters = [p.replace(annotation=eval(p.annotation, command.__globals__))  # noqa: S307
                  if isinstance(p.annotation, str) else p
                  for name, p in own.parameters.items() if name != "spec"]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                     annotation=annotation)
                   for name, (annotation, default) in DATA_OPTIONS.items()]

    @functools.wraps(command)
    def with_spec(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in DATA_OPTIONS}
        return command(*args, spec=data_spec(**values), **kwargs)

    # Typer reads the parameters from the signature and their types from the annotations.
    with_spec.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_spec.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_spec


def data_spec(
    data: str = "sample", catalog: Path | None = None, min_item_count: int = 1,
    top_items: int | None = None, user_col: str = "user_id", item_col: str = "product_id",
    order_col: str | None = None, time_col: str | None = None, max_memory: str | None = None,
) -> DataSpec:
    from basketcli.data.budget import parse_memory
    from basketcli.data.source import DataSpec

    source = data if data == "sample" else str(Path(data).expanduser().resolve())
    return DataSpec(
        source=source, catalog=str(catalog.expanduser().resolve()) if catalog else None,
        min_item_count=min_item_count, top_items=top_items, user_col=user_col,
        item_col=item_col, order_col=order_col, time_col=time_col,
        max_memory=parse_memory(max_memory),
    )


def model_settings(sets: list[str] | None, config: Path | None) -> dict[str, Any]:
    from basketcli.settings import parse_assignments, read_config_file

    values = read_config_file(config) if config else {}
    values.update(parse_assignments(sets or []))
    return values
