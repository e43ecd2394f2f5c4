"""`basket data ...`: inspect data sets."""

from __future__ import annotations

from basketcli.cli.app import data_app
from basketcli.cli.options import (
    CatalogOpt,
    DataOpt,
    ItemColOpt,
    JsonOpt,
    MaxMemoryOpt,
    MinItemCountOpt,
    OrderColOpt,
    TimeColOpt,
    TopItemsOpt,
    UserColOpt,
    data_spec,
)
from basketcli.cli.ui import cli_errors, console, emit_json


@data_app.command("info")
def info_command(
    data: DataOpt = "sample", catalog: CatalogOpt = None, min_item_count: MinItemCountOpt = 1,
    top_items: TopItemsOpt = None, user_col: UserColOpt = "user_id",
    item_col: ItemColOpt = "product_id", order_col: OrderColOpt = None, time_col: TimeColOpt = None,
    max_memory: MaxMemoryOpt = None, json_out: JsonOpt = False,
) -> None:
    """Users, orders, products, basket sizes, orders per user and the repeat ratio."""
    from basketcli.data.info import data_stats
    from basketcli.data.prepare import load_dataset
    from basketcli.render import fmt, new_table

    with cli_errors():
        spec = data_spec(data, catalog, min_item_count, top_items, user_col, item_col,
                         order_col, time_col, max_memory)
        dataset = load_dataset(spec)
        stats = {"source": spec.describe(), "fingerprint": dataset.fingerprint,
                 **data_stats(dataset.data)}
        if json_out:
            emit_json(stats)
            return
        scalars = {k: v for k, v in stats.items() if not isinstance(v, dict)}
        table = new_table(f"data: {spec.describe()}")
        table.add_column("field")
        table.add_column("value", justify="right")
        for key, value in scalars.items():
            table.add_row(key, fmt(value))
        console.print(table)
        dists = {k: v for k, v in stats.items() if isinstance(v, dict)}
        table = new_table("distributions")
        table.add_column("quantity")
        for col in ("mean", "min", "p10", "median", "p90", "max"):
            table.add_column(col, justify="right")
        for key, dist in dists.items():
            table.add_row(key, *(f"{dist[c]:.2f}" for c in ("mean", "min", "p10", "median",
                                                            "p90", "max")))
        console.print(table)
