"""Frequency baselines: the reference points every table shows.

G-TopFreq ranks by global popularity, P-TopFreq by the customer's own purchase frequency
(ties by recency, the rest filled by popularity), GP-TopFreq by a popularity-smoothed estimate
of the share of the customer's baskets that hold each product.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from basketcli.data.basket_data import BasketData
from basketcli.protocol import BasketModel, FitContext, FitReport, ModelConfig, search


def popularity(histories: BasketData) -> np.ndarray:
    """Number of history baskets (all customers) that contain each product."""
    return histories.item_basket_counts().astype(np.float64)


def popularity_tiebreak(pop: np.ndarray) -> np.ndarray:
    """Popularity squeezed into [0, 0.5): orders never-bought products below any bought one."""
    return 0.5 * pop / (pop.max() + 1.0) if len(pop) else pop


class _PopularityModel(BasketModel):
    """Shared state: product popularity, refreshed from the histories about to be scored."""

    reference = True

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

    def explain(self, histories: BasketData, rows: np.ndarray, items: np.ndarray,
                name_of) -> list[str | None]:
        """A product the customer never bought is there for its popularity."""
        bought = set(zip(histories.line_user().tolist(), histories.items.tolist(), strict=True))
        share = self.popularity / max(self.n_baskets, 1)
        return [None if (r, i) in bought else f"new to you; popular: in {share[i]:.1%} of all "
                "baskets" for r, i in zip(rows.tolist(), items.tolist(), strict=True)]

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
        # A customer's bought products in the order (count, most recent purchase, popularity),
        # scored 1, 2, 3, ... from the last: whole numbers, exact in float32 however long the
        # history. Products never bought score below 0.5 by popularity alone.
        tiebreak = popularity_tiebreak(self.popularity)
        users, items, counts, last = histories.user_item_last()
        order = np.lexsort((self.popularity[items], last, counts, users))
        starts = np.searchsorted(users[order], users[order])  # users ascend after the sort
        rank = np.empty(len(order), dtype=np.float64)
        rank[order] = np.arange(len(order)) - starts + 1.0
        scores = np.empty((histories.n_users, histories.n_items), dtype=np.float32)
        scores[:] = tiebreak.astype(np.float32)
        scores[users, items] = rank.astype(np.float32)
        return scores


class GPTopFreqConfig(ModelConfig):
    prior_strength: float = Field(
        1.0, ge=0.0, description="pseudo-baskets of global popularity mixed into each customer",
        json_schema_extra=search(0.01, 100.0, log=True),
    )


class GPTopFreq(_PopularityModel):
    """Smoothed personal frequency: share of the customer's baskets, shrunk to popularity."""

    name = "gptopfreq"
    Config = GPTopFreqConfig
    gives_probabilities = True

    def score(self, histories: BasketData) -> np.ndarray:
        users, items, counts, last = histories.user_item_last()
        n_orders = histories.orders_per_user()[:, None].astype(np.float64)
        base_rate = np.clip(self.popularity / max(self.n_baskets, 1), 0.0, 1.0)
        strength = self.config.prior_strength
        # The dense part (popularity shrunk by each customer's basket count), then the bought
        # pairs: the same float64 operations, cell by cell, as a dense computation.
        share = strength * base_rate[None, :] / (n_orders + strength)
        prior = strength * base_rate[items]
        rows = n_orders[users, 0]
        bought = (counts + prior) / (rows + strength)
        # A tiny recency term breaks ties in favour of the latest purchase.
        bought += 1e-6 * last / (rows + 1.0)
        share[users, items] = bought
        np.clip(share, 0.0, 1.0, out=share)
        return share.astype(np.float32)
