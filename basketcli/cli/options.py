"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DataOpt = Annotated[str, typer.Option(
    "--data",
    help="'sample' (bundled Instacart slice), an Instacart folder, or a .csv/.parquet file",
    rich_help_panel="Data")]
CatalogOpt = Annotated[Path | None, typer.Option(
    "--catalog", help="products.csv with product names (default: $BASKET_CATALOG)",
    rich_help_panel="Data")]
MinItemCountOpt = Annotated[int, typer.Option(
    "--min-item-count", min=1, help="drop products in fewer baskets than this",
    rich_help_panel="Data")]
TopItemsOpt = Annotated[int | None, typer.Option(
    "--top-items", min=1, help="keep only the N most frequent products (the report used 145)",
    rich_help_panel="Data")]
UserColOpt = Annotated[str, typer.Option(
    "--user-col", help="customer column of a long-format file", rich_help_panel="Data")]
ItemColOpt = Annotated[str, typer.Option(
    "--item-col", help="product column of a long-format file", rich_help_panel="Data")]
OrderColOpt = Annotated[str | None, typer.Option(
    "--order-col", help="order column (order_number, or order_id with --time-col)",
    rich_help_panel="Data")]
TimeColOpt = Annotated[str | None, typer.Option(
    "--time-col", help="timestamp column of a long-format file", rich_help_panel="Data")]
MaxMemoryOpt = Annotated[str | None, typer.Option(
    "--max-memory", help="memory data loading may use, e.g. 6G or 512M (checked before reading; "
    "default: $BASKET_MAX_MEMORY, else the memory available)", rich_help_panel="Data")]

SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="model setting key=value (repeatable; see 'basket models --params NAME')")]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="JSON or TOML file of model settings (--set wins over it)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
ThresholdOpt = Annotated[float, typer.Option(
    "--threshold", min=0.0, max=1.0, help="probability threshold for f1_micro/f1_macro")]
SizingOpt = Annotated[str | None, typer.Option(
    "--sizing", help="basket size rule for basket_f1: top-k[:K], threshold[:T] or expected-f1 "
    "(default: each model's own)")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda (torch models)")]


def data_spec(
    data: str, catalog: Path | None, min_item_count: int, top_items: int | None,
    user_col: str = "user_id", item_col: str = "product_id", order_col: str | None = None,
    time_col: str | None = None, max_memory: str | None = None,
):
    from basketcli.data.budget import parse_memory
    from basketcli.data.source import DataSpec

    source = data if data == "sample" else str(Path(data).expanduser().resolve())
    return DataSpec(
        source=source, catalog=str(catalog.expanduser().resolve()) if catalog else None,
        min_item_count=min_item_count, top_items=top_items, user_col=user_col,
        item_col=item_col, order_col=order_col, time_col=time_col,
        max_memory=parse_memory(max_memory),
    )


def model_settings(sets: list[str] | None, config: Path | None) -> dict:
    from basketcli.settings import parse_assignments, read_config_file

    values = read_config_file(config) if config else {}
    values.update(parse_assignments(sets or []))
    return values
