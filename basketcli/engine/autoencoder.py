"""The product autoencoder of `basket embed`: its inputs and its training.

Each product is described by its row of positive pointwise mutual information (PPMI) with the
most frequent products, counted over the training baskets only, plus one-hots of its aisle
and department when a catalog is known. A denoising autoencoder, trained with the shared
trainer, compresses the rows to ``dim`` numbers: the vectors of an EV file
(``basketcli.data.ev_file``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from basketcli.protocol import FitContext

if TYPE_CHECKING:
    from scipy import sparse

    from basketcli.data.basket_data import BasketData
    from basketcli.data.catalog import Catalog

CATALOG_WEIGHT = 0.35  # aisle + department one-hots together weigh about half a PPMI row
ROW_BLOCK = 4096  # products whose co-occurrence rows are computed at once
WEIGHT_DECAY = 1e-5  # of the autoencoder's weight matrices (AdamW)


# --- inputs: PPMI co-occurrence rows + catalog one-hots ----------------------------------------
def cooccurrence_inputs(
    train: BasketData, context: int, catalog: Catalog | None = None,
) -> tuple[sparse.csr_matrix, int, int]:
    """Sparse (I x D) autoencoder inputs; returns (inputs, context columns, catalog columns).

    PPMI is taken against the ``context`` most frequent products only, and computed a block of
    rows at a time, so a large catalog never needs an items x items matrix.
    """
    from scipy import sparse

    n_orders, n_items = train.n_orders, train.n_items
    baskets = sparse.csr_matrix(
        (np.ones(train.n_lines, dtype=np.float32), train.items, train.order_offsets),
        shape=(n_orders, n_items),
    )
    counts = train.item_basket_counts().astype(np.float64)
    by_frequency = np.lexsort((np.arange(n_items), -counts))
    context_items = by_frequency[: min(context, int((counts > 0).sum()))]
    with_context = baskets[:, context_items].tocsc()
    item_rows = baskets.T.tocsr()
    context_column = np.full(n_items, -1, dtype=np.int64)
    context_column[context_items] = np.arange(len(context_items))
    blocks = []
    for lo in range(0, n_items, ROW_BLOCK):
        hi = min(lo + ROW_BLOCK, n_items)
        block = (item_rows[lo:hi] @ with_context).tocoo()
        row_item = block.row + lo
        pmi = np.log(block.data * n_orders / (counts[row_item] * counts[context_items[block.col]]))
        keep = (pmi > 0) & (context_column[row_item] != block.col)  # no self co-occurrence
        blocks.append(sparse.csr_matrix(
            (pmi[keep].astype(np.float32), (block.row[keep], block.col[keep])),
            shape=(hi - lo, len(context_items)),
        ))
    ppmi = sparse.vstack(blocks).tocsr() if blocks else sparse.csr_matrix((0, len(context_items)))
    norms = np.sqrt(np.asarray(ppmi.multiply(ppmi).sum(axis=1)).ravel())
    ppmi = sparse.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ ppmi
    parts, n_catalog = [ppmi], 0
    if catalog is not None:
        for which in ("aisle", "department"):
            codes = catalog.attribute_codes(train.item_ids, which)
            known = codes >= 0
            if not known.any():
                continue
            _, column = np.unique(codes[known], return_inverse=True)
            width = int(column.max()) + 1
            parts.append(sparse.csr_matrix(
                (np.full(int(known.sum()), CATALOG_WEIGHT, dtype=np.float32),
                 (np.flatnonzero(known), column)), shape=(n_items, width),
            ))
            n_catalog += width
    return sparse.hstack(parts).tocsr().astype(np.float32), len(context_items), n_catalog


# --- the autoencoder ---------------------------------------------------------------------------
class EmbedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dim: int = Field(64, ge=1, le=1024, description="size of a product vector")
    epochs: int = Field(10, ge=1, le=10_000, description="passes over the products")
    context: int = Field(4096, ge=1, description="most frequent products the PPMI rows use")
    hidden: int = Field(256, ge=1, le=8192, description="width of the hidden layer")
    noise: float = Field(0.2, ge=0.0, lt=1.0, description="share of inputs zeroed (denoising)")
    lr: float = Field(1e-3, gt=0.0, description="learning rate (AdamW)")
    batch_size: int = Field(256, ge=1, description="products per step")
    seed: int = Field(0, description="random seed")


def train_autoencoder(
    inputs: sparse.csr_matrix, settings: EmbedSettings, ctx: FitContext,
) -> tuple[np.ndarray, list[float]]:
    """Fit the denoising autoencoder with the shared trainer; returns (I x dim) codes and the
    loss of every epoch.

    The loss is the squared reconstruction error per product (rows have unit scale). Input
    rows stay sparse through the first layer (a row has a few dozen non-zeros among thousands
    of columns); only the reconstruction is dense.
    """
    import torch
    from torch import nn

    from basketcli.engine.trainer import Trainer, TrainSettings, prepare_torch

    class Autoencoder(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.first = nn.Linear(width, settings.hidden)
            self.encoder = nn.Sequential(nn.ReLU(), nn.Linear(settings.hidden, settings.dim))
            self.decoder = nn.Sequential(nn.Linear(settings.dim, settings.hidden), nn.ReLU(),
                                         nn.Linear(settings.hidden, width))

        def encode(self, rows: np.ndarray, noise: float) -> tuple[torch.Tensor, Any]:
            batch = inputs[rows].tocoo()
            values = torch.from_numpy(batch.data)
            if noise > 0:
                values = values * (torch.rand(values.shape) >= noise)
            index = torch.from_numpy(np.vstack([batch.row, batch.col]).astype(np.int64))
            sparse_rows = torch.sparse_coo_tensor(index, values, batch.shape,
                                                  check_invariants=False).to(device)
            hidden = torch.sparse.mm(sparse_rows, self.first.weight.T) + self.first.bias
            return self.encoder(hidden), batch

    device = prepare_torch(ctx, settings.seed)
    net = Autoencoder(inputs.shape[1]).to(device)

    def batch_loss(rows: np.ndarray) -> torch.Tensor:
        codes, batch = net.encode(rows, settings.noise)
        clean = torch.from_numpy(batch.toarray()).to(device)
        return ((net.decoder(codes) - clean) ** 2).sum(dim=1).mean()

    train = TrainSettings(epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
                          weight_decay=WEIGHT_DECAY, scheduler="none", grad_clip=None,
                          seed=settings.seed)
    n_rows = inputs.shape[0]
    outcome = Trainer(net, train, ctx, device).fit(n_rows, batch_loss)
    codes = np.zeros((n_rows, settings.dim), dtype=np.float32)
    with torch.inference_mode():
        for lo in range(0, n_rows, 4096):
            rows = np.arange(lo, min(lo + 4096, n_rows))
            codes[rows] = net.encode(rows, 0.0)[0].float().cpu().numpy()
    losses = [row["train_loss"] for row in outcome.history]
    # Remove the direction every product shares, so cosine similarity compares what tells
    # products apart.
    return codes - codes.mean(axis=0, keepdims=True), losses
