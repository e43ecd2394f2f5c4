"""`basket embed`: train product embeddings (denoising autoencoder) and write an EV file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from basketcli.cli.options import DeviceOpt, ForceOpt, JsonOpt, data_options
from basketcli.cli.ui import console, emit_json, note, progress_bars

if TYPE_CHECKING:
    from basketcli.data.source import DataSpec


@data_options
def embed_command(
    out: Annotated[Path | None, typer.Option(
        "--out", help="EV file to write (.npz); an existing one only with --force")] = None,
    ev: Annotated[Path | None, typer.Option(
        "--ev", help="query this existing EV file with --neighbors instead of training")] = None,
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
    force: ForceOpt = False, device: DeviceOpt = "auto", json_out: JsonOpt = False,
    *, spec: DataSpec,
) -> None:
    """Learn a vector per product from the training baskets; use it with
    --set embeddings=FILE when training cnngru or attngru.

    With a catalog (--catalog, or the data's own) the vectors also learn each product's aisle
    and department, so they differ from the same data's vectors without one; the EV file
    records the catalog. --ev FILE --neighbors NAME looks an existing file up instead.
    """
    from basketcli.errors import ConfigError
    from basketcli.protocol import FitContext
    from basketcli.render import neighbours_table
    from basketcli.workflows.embed import EmbedSettings, embed, query_ev

    if ev is not None:
        if neighbors is None or out is not None:
            raise ConfigError("--ev FILE goes with --neighbors NAME (and no --out)")
        result = query_ev(ev, spec, neighbors, n_neighbors)
        if json_out:
            emit_json(result.model_dump())
        else:
            console.print(neighbours_table(result))
        return
    if out is None:
        raise ConfigError("give --out FILE (the EV file to write), or --ev FILE --neighbors NAME")
    settings = EmbedSettings(dim=dim, epochs=epochs, context=context, seed=seed)
    with progress_bars(bars=not json_out) as progress:
        ctx = FitContext(progress=progress, device=device, log=note)
        result = embed(spec, out, settings, neighbors=neighbors, n_neighbors=n_neighbors,
                       ctx=ctx, force=force)
    if json_out:
        emit_json(result.model_dump())
        return
    console.print(
        f"wrote {result.out}: {result.products} products x {result.dim} dims, "
        f"reconstruction loss {result.loss:.4f} ({result.seconds:.1f} s)", highlight=False,
    )
    if result.query_id is not None:
        console.print(neighbours_table(result))
