"""`basket embed`: product embeddings learnt from the training baskets, written as an EV file."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from basketcli.artifacts import now_iso
from basketcli.data.ev_file import EV_FORMAT, EV_VERSION, EmbeddingFile, nearest, read_ev, write_ev
from basketcli.data.ids import find, is_text
from basketcli.data.prepare import Dataset, load_dataset
from basketcli.data.source import DataSpec
from basketcli.engine.autoencoder import EmbedSettings, cooccurrence_inputs, train_autoencoder
from basketcli.errors import ArtifactError, ConfigError, DataError
from basketcli.protocol import FitContext
from basketcli.workflows.steps import prepare


class Neighbour(BaseModel):
    product_id: int | str
    name: str | None = None
    similarity: float


class EmbedResult(BaseModel):
    out: str
    products: int
    dim: int
    context_columns: int | None = None
    catalog_columns: int | None = None  # aisle + department columns (0: no catalog)
    catalog: str | None = None  # the catalog whose aisles and departments the vectors learnt
    epochs: int | None = None
    loss: float | None = None
    losses: list[float] = []
    seconds: float
    fingerprint: str
    query: str | None = None
    query_id: int | str | None = None
    query_name: str | None = None
    neighbors: list[Neighbour] = []


def embed(
    spec: DataSpec, out: Path, settings: EmbedSettings | None = None, *,
    neighbors: str | None = None, n_neighbors: int = 10, ctx: FitContext | None = None,
    force: bool = False,
) -> EmbedResult:
    """Train product embeddings on the training baskets of ``spec`` and write the EV file
    (an existing file only with ``force``)."""
    settings = settings or EmbedSettings()
    ctx = ctx or FitContext()
    started = time.perf_counter()
    out = Path(out)
    if out.is_dir() or (out.exists() and not force):
        what = "is a folder" if out.is_dir() else "already exists"
        raise ArtifactError(f"--out {out}: {what}; choose another file or pass --force")
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
        "catalog": dataset.catalog.source if dataset.catalog else None,
    }
    ev = EmbeddingFile(dataset.data.item_ids, codes, metadata)
    write_ev(out, ev)
    result = EmbedResult(
        out=str(out), products=len(codes), dim=settings.dim, context_columns=n_context,
        catalog_columns=n_catalog, epochs=settings.epochs, loss=losses[-1], losses=losses,
        seconds=time.perf_counter() - started, fingerprint=dataset.fingerprint,
        catalog=metadata["catalog"],
    )
    if query_id is not None:
        _add_neighbours(result, ev, dataset, neighbors, query_id, n_neighbors)
    return result


def query_ev(path: Path, spec: DataSpec, neighbors: str, n_neighbors: int = 10) -> EmbedResult:
    """The products nearest to ``neighbors`` in an existing EV file (no training); names from
    the data's catalog."""
    started = time.perf_counter()
    ev = read_ev(Path(path))
    dataset = load_dataset(spec)
    query_id = resolve_product(neighbors, dataset)
    if not find(np.sort(ev.product_ids), [query_id])[1][0]:
        raise DataError(f"--neighbors {neighbors!r}: product {query_id} has no vector in {path} "
                        "(made from other data?); rebuild it with 'basket embed'")
    result = EmbedResult(out=str(path), products=len(ev.product_ids), dim=ev.dim,
                         seconds=time.perf_counter() - started,
                         fingerprint=str(ev.metadata.get("fingerprint", "")),
                         catalog=ev.metadata.get("catalog"))
    _add_neighbours(result, ev, dataset, neighbors, query_id, n_neighbors)
    return result


def _add_neighbours(result: EmbedResult, ev: EmbeddingFile, dataset: Dataset, query: str,
                    query_id: int | str, n_neighbors: int) -> None:
    names = dataset.catalog.name_of if dataset.catalog else (lambda pid: None)
    result.query, result.query_id, result.query_name = query, query_id, names(query_id)
    result.neighbors = [Neighbour(product_id=pid, name=names(pid), similarity=sim)
                        for pid, sim in nearest(ev, query_id, n_neighbors)]


def resolve_product(query: str, dataset: Dataset) -> int | str:
    """A product id (a text id exactly as written) or name (case-insensitive, via the
    catalog) -> a product id in the data."""
    text = query.strip()
    catalog = dataset.catalog
    item_ids = dataset.data.item_ids
    if is_text(item_ids) and find(item_ids, [query])[1][0]:
        product_id: int | str = query
    elif text.isdigit() and not is_text(item_ids):
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
    if not find(item_ids, [product_id])[1][0]:
        raise DataError(
            f"--neighbors {query!r}: product {product_id} is never bought in "
            f"{dataset.spec.describe()}; choose a product from the data"
        )
    return product_id
