"""Frequency baselines: the reference points every table shows.

G-TopFreq ranks by global popularity, P-TopFreq by the customer's own purchase frequency
(ties by recency, the rest filled by popularity), GP-TopFreq by a popularity-smoothed estimate
of the share of the customer's baskets that hold each product.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from basketcli.data.basket_data import BasketData
from basketcli.protocol import BasketModel, FitContext, FitReport, ModelConfig


def popularity(histories: BasketData) -> np.ndarray:
    """Number of history baskets (all customers) that contain each product."""
    return histories.item_basket_counts().astype(np.float64)


def popularity_tiebreak(pop: np.ndarray) -> np.ndarray:
    """Popularity squeezed into [0, 0.5): orders never-bought products below any bought one."""
    return 0.5 * pop / (pop.max() + 1.0) if len(pop) else pop


def last_purchase_rank(histories: BasketData):
    """Sparse (users x items): 1-based index of the user's most recent order holding the item."""
    from scipy import sparse

    rank = (histories.order_rank() + 1).astype(np.float64)[histories.line_order()]
    coo = sparse.coo_matrix(
        (rank, (histories.line_user(), histories.items)),
        shape=(histories.n_users, histories.n_items),
    )
    # Max over duplicates: keep the latest order per (user, item).
    order = np.lexsort((coo.data, coo.col, coo.row))
    row, col, data = coo.row[order], coo.col[order], coo.data[order]
    last = np.ones(len(row), dtype=bool)
    last[:-1] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
    return sparse.csr_matrix((data[last], (row[last], col[last])), shape=coo.shape)


class _PopularityModel(BasketModel):
    """Shared state: product popularity, refreshed from the histories about to be scored."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__(config)
        self.popularity = np.zeros(0)
        self.n_baskets = 0

    def _count(self, histories: BasketData) -> None:
        self.popularity = popularity(histories)
        self.n_baskets = histories.n_orders

    def fit(self, train: BasketData, valid, ctx: FitContext) -> FitReport:
        self._count(train)
        return FitReport(info={"products_seen": int((self.popularity > 0).sum())})

    def prepare_scoring(self, histories: BasketData) -> None:
        # Popularity counts the histories of the split being scored (all customers).
        self._count(histories)

    def state(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity, "n_baskets": np.array(self.n_baskets)}

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.popularity = arrays["popularity"].astype(np.float64)
        self.n_baskets = int(arrays["n_baskets"])


class GTopFreq(_PopularityModel):
    """Global popularity: the products most customers buy, the same for everyone."""

    name = "gtopfreq"

    def score(self, histories: BasketData) -> np.ndarray:
        row = self.popularity[: histories.n_items].astype(np.float32)
        return np.broadcast_to(row, (histories.n_users, histories.n_items)).copy()


class PTopFreq(_PopularityModel):
    """Personal top frequency: the customer's own most bought products, ties by recency."""

    name = "ptopfreq"

    def score(self, histories: BasketData) -> np.ndarray:
        counts = histories.user_item_counts().toarray()
        last = last_purchase_rank(histories).toarray()
        n_orders = histories.orders_per_user()[:, None].astype(np.float64)
        # count + recency in (0, 1): a tie in count goes to the more recent purchase; products
        # never bought score below 0.5 by popularity alone.
        recency = np.where(counts > 0, last / (n_orders + 1.0), 0.0)
        scores = counts + recency + popularity_tiebreak(self.popularity)[None, :]
        return scores.astype(np.float32)


class GPTopFreqConfig(ModelConfig):
    prior_strength: float = Field(
        1.0, ge=0.0, description="pseudo-baskets of global popularity mixed into each customer"
    )


class GPTopFreq(_PopularityModel):
    """Smoothed personal frequency: share of the customer's baskets, shrunk to popularity."""

    name = "gptopfreq"
    Config = GPTopFreqConfig
    gives_probabilities = True

    def score(self, histories: BasketData) -> np.ndarray:
        counts = histories.user_item_counts().toarray()
        n_orders = histories.orders_per_user()[:, None].astype(np.float64)
        base_rate = np.clip(self.popularity / max(self.n_baskets, 1), 0.0, 1.0)
        strength = self.config.prior_strength
        share = (counts + strength * base_rate[None, :]) / (n_orders + strength)
        # A tiny recency term breaks ties in favour of the latest purchase.
        last = last_purchase_rank(histories).toarray()
        share += 1e-6 * last / (n_orders + 1.0)
        return np.clip(share, 0.0, 1.0).astype(np.float32)
