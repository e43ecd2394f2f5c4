"""`basket embed`: product embeddings learnt from the training baskets, written as an EV file."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from basketcli.artifacts import now_iso
from basketcli.data.prepare import Dataset
from basketcli.data.source import DataSpec
from basketcli.embedding import (
    EV_FORMAT,
    EV_VERSION,
    EmbeddingFile,
    EmbedSettings,
    cooccurrence_inputs,
    nearest,
    train_autoencoder,
    write_ev,
)
from basketcli.errors import ConfigError, DataError
from basketcli.protocol import FitContext
from basketcli.runs import prepare


class Neighbour(BaseModel):
    product_id: int
    name: str | None = None
    similarity: float


class EmbedResult(BaseModel):
    out: str
    products: int
    dim: int
    context_columns: int
    catalog_columns: int
    epochs: int
    loss: float
    losses: list[float]
    seconds: float
    fingerprint: str
    query: str | None = None
    query_id: int | None = None
    query_name: str | None = None
    neighbors: list[Neighbour] = []


def embed(
    spec: DataSpec, out: Path, settings: EmbedSettings | None = None, *,
    neighbors: str | None = None, n_neighbors: int = 10, ctx: FitContext | None = None,
) -> EmbedResult:
    """Train product embeddings on the training baskets of ``spec`` and write the EV file."""
    settings = settings or EmbedSettings()
    ctx = ctx or FitContext()
    started = time.perf_counter()
    dataset, split = prepare(spec)
    query_id = resolve_product(neighbors, dataset) if neighbors is not None else None
    inputs, n_context, n_catalog = cooccurrence_inputs(split.train, settings.context,
                                                       dataset.catalog)
    codes, losses = train_autoencoder(inputs, settings, ctx)
    metadata = {
        "format": EV_FORMAT, "version": EV_VERSION, "fingerprint": dataset.fingerprint,
        "data": dataset.spec.describe(), "dim": settings.dim, "loss": losses[-1],
        "losses": losses, "settings": settings.model_dump(), "context_columns": n_context,
        "catalog_columns": n_catalog, "created": now_iso(),
    }
    ev = EmbeddingFile(dataset.data.item_ids, codes, metadata)
    write_ev(out, ev)
    result = EmbedResult(
        out=str(out), products=len(codes), dim=settings.dim, context_columns=n_context,
        catalog_columns=n_catalog, epochs=settings.epochs, loss=losses[-1], losses=losses,
        seconds=time.perf_counter() - started, fingerprint=dataset.fingerprint,
    )
    if query_id is not None:
        names = dataset.catalog.name_of if dataset.catalog else (lambda pid: None)
        result.query, result.query_id, result.query_name = neighbors, query_id, names(query_id)
        result.neighbors = [Neighbour(product_id=pid, name=names(pid), similarity=sim)
                            for pid, sim in nearest(ev, query_id, n_neighbors)]
    return result


def resolve_product(query: str, dataset: Dataset) -> int:
    """A product id or name (case-insensitive, via the catalog) -> a product id in the data."""
    text = query.strip()
    catalog = dataset.catalog
    if text.isdigit():
        product_id = int(text)
    elif catalog is None:
        raise ConfigError(
            f"--neighbors {query!r}: product names need a catalog; pass --catalog "
            "products.csv, or give a product id"
        )
    else:
        found = catalog.id_of(text)
        if found is None:
            close = catalog.closest_names(text)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else (
                "give its exact name or its product id")
            raise ConfigError(f"--neighbors {query!r}: no such product in {catalog.source}; {hint}")
        product_id = found
    item_ids = dataset.data.item_ids
    pos = int(np.searchsorted(item_ids, product_id))
    if pos >= len(item_ids) or item_ids[pos] != product_id:
        raise DataError(
            f"--neighbors {query!r}: product {product_id} is never bought in "
            f"{dataset.spec.describe()}; choose a product from the data"
        )
    return product_id
