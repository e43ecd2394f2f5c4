"""`basket embed`: train product embeddings (denoising autoencoder) and write an EV file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from basketcli.cli.app import app
from basketcli.cli.options import (
    CatalogOpt,
    DataOpt,
    DeviceOpt,
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
from basketcli.cli.ui import cli_errors, console, emit_json, err_console, progress_bars


@app.command("embed")
def embed_command(
    out: Annotated[Path, typer.Option("--out", help="EV file to write (.npz)")],
    dim: Annotated[int, typer.Option(
        "--dim", min=1, max=1024, help="size of a product vector")] = 64,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="passes over the products")] = 10,
    context: Annotated[int, typer.Option(
        "--context", min=1, help="most frequent products the co-occurrence rows use")] = 4096,
    neighbors: Annotated[str | None, typer.Option(
        "--neighbors", help="print the products nearest to this one (name or product id)")] = None,
    n_neighbors: Annotated[int, typer.Option(
        "--n-neighbors", min=1, help="how many neighbours to print")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 0,
    data: DataOpt = "sample", catalog: CatalogOpt = None, min_item_count: MinItemCountOpt = 1,
    top_items: TopItemsOpt = None, user_col: UserColOpt = "user_id",
    item_col: ItemColOpt = "product_id", order_col: OrderColOpt = None, time_col: TimeColOpt = None,
    max_memory: MaxMemoryOpt = None,
    device: DeviceOpt = "auto", json_out: JsonOpt = False,
) -> None:
    """Learn a vector per product from the training baskets; use it with
    --set embeddings=FILE when training cnngru or attngru."""
    from basketcli.embedding import EmbedSettings, embed
    from basketcli.protocol import FitContext
    from basketcli.render import fmt, new_table

    with cli_errors():
        spec = data_spec(data, catalog, min_item_count, top_items, user_col, item_col,
                         order_col, time_col, max_memory)
        settings = EmbedSettings(dim=dim, epochs=epochs, context=context, seed=seed)
        with progress_bars(not json_out) as progress:
            ctx = FitContext(progress=progress, device=device)
            if not json_out:
                ctx.log = lambda line: err_console.print(line, highlight=False)
            result = embed(spec, out, settings, neighbors=neighbors, n_neighbors=n_neighbors,
                           ctx=ctx)
    if json_out:
        emit_json(result.model_dump())
        return
    console.print(
        f"wrote {result.out}: {result.products} products x {result.dim} dims, "
        f"reconstruction loss {result.loss:.4f} ({result.seconds:.1f} s)", highlight=False,
    )
    if result.query_id is not None:
        label = result.query_name or str(result.query_id)
        table = new_table(f"nearest to {label} (cosine)")
        for column in ("product_id", "name", "similarity"):
            table.add_column(column, justify="right" if column != "name" else "left")
        for n in result.neighbors:
            table.add_row(str(n.product_id), n.name or "-", fmt(n.similarity))
        console.print(table)
