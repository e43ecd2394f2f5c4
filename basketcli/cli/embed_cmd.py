"""`basket embed`: train product embeddings (denoising autoencoder) and write an EV file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from basketcli.cli.options import DeviceOpt, JsonOpt, data_options
from basketcli.cli.ui import console, emit_json, err_console, progress_bars

if TYPE_CHECKING:
    from basketcli.data.source import DataSpec


@data_options
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
    device: DeviceOpt = "auto", json_out: JsonOpt = False, *, spec: DataSpec,
) -> None:
    """Learn a vector per product from the training baskets; use it with
    --set embeddings=FILE when training cnngru or attngru."""
    from basketcli.embedding import EmbedSettings
    from basketcli.protocol import FitContext
    from basketcli.render import neighbours_table
    from basketcli.workflows.embed import embed

    settings = EmbedSettings(dim=dim, epochs=epochs, context=context, seed=seed)
    with progress_bars(not json_out) as progress:
        ctx = FitContext(progress=progress, device=device)
        if not json_out:
            ctx.log = lambda line: err_console.print(line, highlight=False, markup=False)
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
        console.print(neighbours_table(result))
