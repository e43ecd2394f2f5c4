"""TIFU-KNN (Hu et al., SIGIR 2020): temporal item-frequency user vectors plus nearest neighbours.

A customer's baskets are split into at most m groups in time order. Within a group, a basket
j places from the group's end is weighted r_b**j; group i places from the last is weighted
r_g**i; both levels are averaged. The prediction mixes the customer's own vector with the mean
vector of their k nearest customers (Euclidean distance): alpha * own + (1 - alpha) * neighbours.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from basketcli.data.basket_data import BasketData
from basketcli.protocol import BasketModel, FitContext, FitReport, ModelConfig


class TifuKNNConfig(ModelConfig):
    k: int = Field(300, ge=1, description="nearest neighbours averaged")
    within_decay: float = Field(0.9, gt=0, le=1, description="r_b: decay of baskets within a group")
    group_decay: float = Field(0.7, gt=0, le=1, description="r_g: decay of groups")
    groups: int = Field(7, ge=1, description="m: number of groups a history is split into")
    alpha: float = Field(0.9, ge=0, le=1, description="weight of the customer's own vector")
    batch_size: int = Field(1024, ge=1, description="customers per neighbour-search batch")


def order_weights(histories: BasketData, groups: int, within_decay: float, group_decay: float) -> np.ndarray:
    """Weight of every order in its user's TIFU vector (vectorised over all orders)."""
    n = np.repeat(histories.orders_per_user(), histories.orders_per_user()).astype(np.int64)
    rank = histories.order_rank()
    m = np.minimum(groups, n)
    group = (rank * m) // np.maximum(n, 1)  # 0 = oldest group; later groups are no smaller
    # Group sizes and each order's position inside its group, from the (user, group) key.
    key = histories.order_user() * np.int64(groups) + group
    _, start, size = np.unique(key, return_index=True, return_counts=True)
    first = np.repeat(start, size)
    group_size = np.repeat(size, size)
    from_group_end = (first + group_size - 1) - np.arange(len(key))
    from_last_group = m - 1 - group
    return (
        within_decay ** from_group_end / group_size * group_decay ** from_last_group / m
    ).astype(np.float64)


def user_vectors(histories: BasketData, cfg: TifuKNNConfig):
    weights = order_weights(histories, cfg.groups, cfg.within_decay, cfg.group_decay)
    return histories.user_item_counts(order_weights=weights)


class TifuKNN(BasketModel):
    """TIFU-KNN: time-decayed repeat frequencies blended with the k nearest customers."""

    name = "tifuknn"
    Config = TifuKNNConfig

    def __init__(self, config: TifuKNNConfig | None = None) -> None:
        super().__init__(config)
        self.pool = None  # (P x I) sparse user vectors the neighbours come from
        self.pool_user_ids = np.zeros(0, dtype=np.int64)
        self.popularity = np.zeros(0)

    def _set_pool(self, histories: BasketData) -> None:
        self.pool = user_vectors(histories, self.config).astype(np.float32)
        self.pool_user_ids = histories.user_ids.copy()
        self.pool_sq_norms = np.asarray(self.pool.multiply(self.pool).sum(axis=1)).ravel()
        self.popularity = histories.item_basket_counts().astype(np.float64)

    def fit(self, train: BasketData, valid, ctx: FitContext) -> FitReport:
        self._set_pool(train)
        return FitReport(info={"pool_users": int(self.pool.shape[0])})

    def prepare_scoring(self, histories: BasketData) -> None:
        # Neighbours come from the population's histories as known at scoring time.
        self._set_pool(histories)

    def neighbours(self, query, query_user_ids: np.ndarray) -> np.ndarray:
        """(b x k') pool indices of each query's nearest customers, never the customer itself."""
        k = min(self.config.k, self.pool.shape[0] - 1) if self.pool.shape[0] > 1 else 0
        if k <= 0:
            return np.zeros((query.shape[0], 0), dtype=np.int64)
        q_sq = np.asarray(query.multiply(query).sum(axis=1)).ravel()
        dist = q_sq[:, None] + self.pool_sq_norms[None, :] - 2.0 * (query @ self.pool.T).toarray()
        same = query_user_ids[:, None] == self.pool_user_ids[None, :]
        dist[same] = np.inf
        return np.argpartition(dist, k - 1, axis=1)[:, :k]

    def score(self, histories: BasketData) -> np.ndarray:
        from scipy import sparse

        cfg = self.config
        own = user_vectors(histories, cfg).astype(np.float32)
        out = np.empty((histories.n_users, histories.n_items), dtype=np.float32)
        tiebreak = 1e-9 * self.popularity / max(self.popularity.max(initial=0.0), 1.0)
        for lo in range(0, histories.n_users, cfg.batch_size):
            hi = min(lo + cfg.batch_size, histories.n_users)
            query = own[lo:hi]
            result = cfg.alpha * query.toarray()
            nbrs = self.neighbours(query, histories.user_ids[lo:hi])
            if nbrs.shape[1] and cfg.alpha < 1:
                rows = np.repeat(np.arange(hi - lo), nbrs.shape[1])
                select = sparse.csr_matrix(
                    (np.full(rows.size, 1.0 / nbrs.shape[1], dtype=np.float32),
                     (rows, nbrs.ravel())),
                    shape=(hi - lo, self.pool.shape[0]),
                )
                result += (1 - cfg.alpha) * (select @ self.pool).toarray()
            out[lo:hi] = result + tiebreak[None, :]
        return out

    def state(self) -> dict[str, np.ndarray]:
        pool = self.pool.tocsr()
        return {
            "pool_data": pool.data, "pool_indices": pool.indices, "pool_indptr": pool.indptr,
            "pool_shape": np.array(pool.shape), "pool_user_ids": self.pool_user_ids,
            "popularity": self.popularity,
        }

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        from scipy import sparse

        self.pool = sparse.csr_matrix(
            (arrays["pool_data"], arrays["pool_indices"], arrays["pool_indptr"]),
            shape=tuple(arrays["pool_shape"]),
        )
        self.pool_user_ids = arrays["pool_user_ids"]
        self.pool_sq_norms = np.asarray(self.pool.multiply(self.pool).sum(axis=1)).ravel()
        self.popularity = arrays["popularity"]
