"""`basket data synth`: write a synthetic Instacart-layout folder of any size."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from basketcli.cli.app import data_app
from basketcli.cli.options import JsonOpt
from basketcli.cli.ui import cli_errors, console, emit_json


@data_app.command("synth")
def synth_command(
    out: Annotated[Path, typer.Option("--out", help="folder to write (created)")],
    users: Annotated[int, typer.Option(
        "--users", min=1, help="customers (the full Instacart size is 206209)")] = 10_000,
    products: Annotated[int, typer.Option(
        "--products", min=2, help="products in the catalog (Instacart: 49688)")] = 49_688,
    seed: Annotated[int, typer.Option("--seed", help="same seed and sizes, same files")] = 0,
    force: Annotated[bool, typer.Option("--force", help="replace a non-empty --out")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Synthetic Instacart-shaped data: orders.csv, order_products__prior/train.csv, products.csv.

    Zipf-like product popularity, favourite products bought again and again (about 60 % repeat
    purchases), 4-100 orders per customer, baskets of about 10 products, 0-30 days between
    orders. Load it with --data OUT; `basket data info --data OUT` shows its statistics.
    """
    from basketcli.data.synth import synthesize

    with cli_errors():
        started = time.perf_counter()
        summary = synthesize(out, users, products, seed, force=force)
        payload = {**asdict(summary), "seconds": round(time.perf_counter() - started, 2)}
    if json_out:
        emit_json(payload)
        return
    from basketcli.render import fmt, new_table

    table = new_table(f"synthetic data: {summary.out}")
    table.add_column("field")
    table.add_column("value", justify="right")
    for key, value in payload.items():
        if key != "out":
            table.add_row(key, fmt(value, 2))
    console.print(table)
    console.print(f"next: basket data info --data {summary.out}", highlight=False)
