"""`basket data ...`: inspect data sets and write synthetic ones."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from basketcli.cli.options import ForceOpt, JsonOpt, data_options
from basketcli.cli.ui import console, emit_json, show

if TYPE_CHECKING:
    from basketcli.data.source import DataSpec


@data_options
def info_command(*, spec: DataSpec, json_out: JsonOpt = False) -> None:
    """Users, orders, products, basket sizes, orders per user and the repeat ratio."""
    from basketcli.render import distributions_table, field_table
    from basketcli.workflows.data import info

    stats = info(spec)
    if json_out:
        emit_json(stats)
        return
    scalars = {k: v for k, v in stats.items() if not isinstance(v, dict)}
    show([field_table(f"data: {spec.describe()}", scalars),
          *distributions_table({k: v for k, v in stats.items() if isinstance(v, dict)},
                               console.width)])


def synth_command(
    out: Annotated[Path, typer.Option("--out", help="folder to write (created)")],
    users: Annotated[int, typer.Option(
        "--users", min=1, help="customers (the full Instacart size is 206209)")] = 10_000,
    products: Annotated[int, typer.Option(
        "--products", min=2, help="products in the catalog (Instacart: 49688)")] = 49_688,
    seed: Annotated[int, typer.Option("--seed", help="same seed and sizes, same files")] = 0,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Synthetic Instacart-shaped data: orders.csv, order_products__prior/train.csv, products.csv.

    Zipf-like product popularity, favourite products bought again and again (about 60 % repeat
    purchases), 4-100 orders per customer, baskets of about 10 products, 0-30 days between
    orders. Load it with --data OUT; `basket data info --data OUT` shows its statistics.
    """
    from basketcli.render import field_table
    from basketcli.workflows.data import synth

    payload = synth(out, users, products, seed, force=force)
    if json_out:
        emit_json(payload)
        return
    fields = {k: v for k, v in payload.items() if k != "out"}
    show([field_table(f"synthetic data: {payload['out']}", fields, digits=2),
          f"next: basket data info --data {payload['out']}"])
