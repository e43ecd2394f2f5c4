"""TIFU-KNN (Hu et al., SIGIR 2020): temporal item-frequency user vectors plus nearest neighbours.

A customer's baskets are split into at most m groups in time order. Within a group, a basket
j places from the group's end is weighted r_b**j; group i places from the last is weighted
r_g**i; both levels are averaged. The prediction mixes the customer's own vector with the mean
vector of their k nearest customers (Euclidean distance): alpha * own + (1 - alpha) * neighbours.

Neighbour search: exhaustive for a pool of at most ``exact_pool`` customers, a batch at a time;
a larger pool is searched through k-means clusters of the customers' weights on the
``embed_dims`` most popular products (an inverted-file index, as in FAISS's IVF), each customer
compared exactly with the ``candidates`` customers of the clusters nearest to its own: an
approximation (docs/models.md, bench/baselines.py).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from basketcli.data.basket_data import BasketData
from basketcli.protocol import FitContext, FitReport, ModelConfig, search
from basketcli_models.neighbourhood.core import (
    NeighbourhoodModel,
    csr_arrays,
    csr_from,
    unchanged_pool_rows,
)


class TifuKNNConfig(ModelConfig):
    k: int = Field(300, ge=1, description="nearest neighbours averaged",
                   json_schema_extra=search(10, 1000, log=True))
    within_decay: float = Field(0.9, gt=0, le=1, description="r_b: decay of baskets within a "
                                "group", json_schema_extra=search(0.1, 1.0))
    group_decay: float = Field(0.7, gt=0, le=1, description="r_g: decay of groups",
                               json_schema_extra=search(0.1, 1.0))
    groups: int = Field(7, ge=1, description="m: number of groups a history is split into",
                        json_schema_extra=search(1, 20))
    alpha: float = Field(0.9, ge=0, le=1, description="weight of the customer's own vector",
                         json_schema_extra=search(0.0, 1.0))
    batch_size: int = Field(1024, ge=1, description="customers per neighbour-search batch")
    exact_pool: int = Field(
        10_000, ge=1, description="pools of at most this many customers are searched "
        "exhaustively; larger ones through clusters (approximate, far faster)",
    )
    candidates: int = Field(
        3072, ge=1, description="customers each customer is compared with in a clustered search",
    )
    embed_dims: int = Field(
        64, ge=1, description="most popular products whose weights place customers in clusters",
    )


def order_weights(
    histories: BasketData, groups: int, within_decay: float, group_decay: float
) -> np.ndarray:
    """Weight of every order in its user's TIFU vector (vectorised over all orders)."""
    n = np.repeat(histories.orders_per_user(), histories.orders_per_user()).astype(np.int64)
    rank = histories.order_rank()
    m = np.minimum(groups, n)
    group = (rank * m) // np.maximum(n, 1)  # 0 = oldest group; later groups are no smaller
    # Group sizes and each order's position inside its group, from the (user, group) key,
    # which is already sorted (users in order, groups growing with the rank): runs, not a sort.
    key = histories.order_user() * np.int64(groups) + group
    boundary = np.ones(len(key), dtype=bool)
    boundary[1:] = key[1:] != key[:-1]
    start = np.flatnonzero(boundary)
    size = np.diff(np.append(start, len(key)))
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


def _row_sq_norms(matrix) -> np.ndarray:
    return np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel()


class ClusterIndex:
    """An inverted-file index over the pool: k-means clusters of popular-product embeddings."""

    def __init__(self, pool, n_candidates: int, embed_dims: int, seed: int) -> None:
        n_pool = pool.shape[0]
        degree = np.bincount(pool.indices, minlength=pool.shape[1])
        self.columns = np.argsort(-degree, kind="stable")[:embed_dims]
        embedded = self.embed(pool)
        rng = np.random.default_rng(seed)
        n_clusters = max(2, min(n_pool, int(round(2 * np.sqrt(n_pool)))))
        self.centroids = _kmeans(embedded, n_clusters, rng)
        self.cluster = self.assign(embedded)
        self.members = np.argsort(self.cluster, kind="stable")
        self.starts = np.searchsorted(self.cluster[self.members], np.arange(n_clusters + 1))
        self.n_candidates = n_candidates

    def embed(self, vectors) -> np.ndarray:
        return vectors[:, self.columns].toarray().astype(np.float32)

    def assign(self, embedded: np.ndarray) -> np.ndarray:
        """Nearest centroid of each row."""
        c_sq = (self.centroids * self.centroids).sum(axis=1)
        out = np.empty(len(embedded), dtype=np.int64)
        for lo in range(0, len(embedded), 8192):
            block = embedded[lo : lo + 8192]
            out[lo : lo + 8192] = (c_sq[None, :] - 2.0 * block @ self.centroids.T).argmin(axis=1)
        return out

    def candidates(self, cluster: int) -> np.ndarray:
        """Pool rows of the clusters nearest to ``cluster``'s centre, until enough customers."""
        centre = self.centroids[cluster]
        gaps = ((self.centroids - centre) ** 2).sum(axis=1)
        gaps[cluster] = -1.0  # its own cluster first
        order = np.argsort(gaps, kind="stable")
        sizes = np.diff(self.starts)[order]
        n_probe = int(np.searchsorted(np.cumsum(sizes), self.n_candidates)) + 1
        return np.concatenate([self.members[self.starts[c] : self.starts[c + 1]]
                               for c in order[:n_probe]])


def _kmeans(points: np.ndarray, n_clusters: int, rng: np.random.Generator,
            iterations: int = 10) -> np.ndarray:
    """Lloyd's k-means on a sample of at most 64 points per cluster (float32)."""
    n = len(points)
    sample = points[rng.choice(n, min(n, 64 * n_clusters), replace=False)]
    centroids = sample[rng.choice(len(sample), n_clusters, replace=False)].copy()
    s_sq = (sample * sample).sum(axis=1)
    for _ in range(iterations):
        c_sq = (centroids * centroids).sum(axis=1)
        nearest = (s_sq[:, None] + c_sq[None, :] - 2.0 * sample @ centroids.T).argmin(axis=1)
        counts = np.bincount(nearest, minlength=n_clusters)
        sums = np.zeros_like(centroids)
        np.add.at(sums, nearest, sample)
        filled = counts > 0  # an empty cluster keeps its centre
        centroids[filled] = sums[filled] / counts[filled, None]
    return centroids


class TifuKNN(NeighbourhoodModel):
    """TIFU-KNN: time-decayed repeat frequencies blended with the k nearest customers."""

    name = "tifuknn"
    Config = TifuKNNConfig

    def __init__(self, config: TifuKNNConfig | None = None) -> None:
        super().__init__(config)
        self.pool = None  # (P x I) sparse user vectors the neighbours come from
        self.pool_user_ids = np.zeros(0, dtype=np.int64)
        self.popularity = np.zeros(0)
        self._reset_search()

    def _reset_search(self) -> None:
        self._index: ClusterIndex | None = None
        self._pool_neighbours: np.ndarray | None = None  # (P x k) for the pool's own customers
        self._id_order: np.ndarray | None = None  # pool rows sorted by customer id

    def set_pool(self, histories: BasketData) -> None:
        self.pool = user_vectors(histories, self.config).astype(np.float32)
        self.pool_user_ids = histories.user_ids.copy()
        self.pool_sq_norms = _row_sq_norms(self.pool)
        self.popularity = histories.item_basket_counts().astype(np.float64)
        self._reset_search()

    def fit(self, train: BasketData, valid, ctx: FitContext) -> FitReport:
        self.set_pool(train)
        return FitReport(info={"pool_users": int(self.pool.shape[0])})

    @property
    def clustered(self) -> bool:
        return self.pool is not None and self.pool.shape[0] > self.config.exact_pool

    def _k(self) -> int:
        return min(self.config.k, self.pool.shape[0] - 1) if self.pool.shape[0] > 1 else 0

    # --- neighbour search ----------------------------------------------------------------------
    def neighbours(self, query, query_user_ids: np.ndarray) -> np.ndarray:
        """(b x k') pool indices of each query's nearest customers, never the customer itself."""
        k = self._k()
        if k <= 0:
            return np.zeros((query.shape[0], 0), dtype=np.int64)
        if self.clustered:
            return self._clustered_neighbours(query, query_user_ids, k)
        q_sq = np.asarray(query.multiply(query).sum(axis=1)).ravel()
        dist = q_sq[:, None] + self.pool_sq_norms[None, :] - 2.0 * (query @ self.pool.T).toarray()
        same = query_user_ids[:, None] == self.pool_user_ids[None, :]
        dist[same] = np.inf
        return np.argpartition(dist, k - 1, axis=1)[:, :k]

    def _search_index(self) -> ClusterIndex:
        if self._index is None:
            # At least k + 1 candidates: the customer itself may be one of them.
            n_candidates = max(self.config.candidates, self.config.k + 1)
            self._index = ClusterIndex(self.pool.tocsr(), n_candidates, self.config.embed_dims,
                                       self.config.seed)
        return self._index

    def _clustered_neighbours(self, query, query_user_ids: np.ndarray, k: int) -> np.ndarray:
        """Pool customers whose vectors are unchanged take the neighbours found for the whole
        pool at once; the others are searched here, grouped by cluster."""
        index = self._search_index()
        if self._pool_neighbours is None:
            self._pool_neighbours = self._search(
                self.pool, self.pool_user_ids, index.cluster, np.arange(self.pool.shape[0]), k)
        out = np.empty((query.shape[0], k), dtype=np.int64)
        rows = self._pool_rows(query, query_user_ids)
        known = rows >= 0
        out[known] = self._pool_neighbours[rows[known]]
        if not known.all():
            others = np.flatnonzero(~known)
            subset = query[others]
            cluster = index.assign(index.embed(subset))
            out[others] = self._search(subset, query_user_ids[others], cluster,
                                       np.arange(len(others)), k)
        return out

    def _search(self, vectors, user_ids: np.ndarray, cluster: np.ndarray, rows: np.ndarray,
                k: int) -> np.ndarray:
        """Exact distances to each row's candidates, cluster group by cluster group."""
        index = self._search_index()
        vectors = vectors.tocsr()
        sq = _row_sq_norms(vectors)
        found = np.empty((len(rows), k), dtype=np.int32)
        order = np.argsort(cluster[rows], kind="stable")
        bounds = np.flatnonzero(np.diff(cluster[rows][order])) + 1
        for group in np.split(order, bounds):
            if len(group) == 0:
                continue
            members = rows[group]
            cand = index.candidates(int(cluster[members[0]]))
            dot = (vectors[members] @ self.pool[cand].T).toarray()
            dist = sq[members][:, None] + self.pool_sq_norms[cand][None, :] - 2.0 * dot
            dist[user_ids[members][:, None] == self.pool_user_ids[cand][None, :]] = np.inf
            # k <= pool - 1 and k + 1 <= candidates: every row has k finite distances.
            found[group] = cand[np.argpartition(dist, k - 1, axis=1)[:, :k]]
        return found

    def _pool_rows(self, query, query_user_ids: np.ndarray) -> np.ndarray:
        """Pool row of each query whose vector equals that pool customer's, else -1."""
        if self._id_order is None:
            self._id_order = np.argsort(self.pool_user_ids, kind="stable")
        return unchanged_pool_rows(query.tocsr(), query_user_ids, self.pool, self.pool_user_ids,
                                   self._id_order)

    # --- scoring -------------------------------------------------------------------------------
    def score(self, histories: BasketData) -> np.ndarray:
        cfg = self.config
        own = user_vectors(histories, cfg).astype(np.float32)
        tiebreak = 1e-9 * self.popularity / max(self.popularity.max(initial=0.0), 1.0)
        out = np.empty((histories.n_users, histories.n_items), dtype=np.float32)
        for lo in range(0, histories.n_users, cfg.batch_size):
            hi = min(lo + cfg.batch_size, histories.n_users)
            query = own[lo:hi]
            # alpha * own + (1 - alpha) * neighbour mean, in float32 (in place, one batch).
            mixed = np.zeros((hi - lo, histories.n_items), dtype=np.float32)
            nbrs = self.neighbours(query, histories.user_ids[lo:hi])
            if nbrs.shape[1] and cfg.alpha < 1:
                # Neighbour mean, one customer at a time: their k pool rows, transposed, times
                # 1/k. Neighbours in ascending order, float32: the additions of a sparse
                # (selection @ pool) product in the same order, without building its output.
                self._neighbour_means(np.sort(nbrs, axis=1), mixed)
                mixed *= np.float32(1 - cfg.alpha)
            coo = query.tocoo()
            mixed[coo.row, coo.col] += coo.data * np.float32(cfg.alpha)
            # The tie-break is added in float64, then rounded (row blocks stay in cache).
            for start in range(0, hi - lo, 64):
                block = slice(start, min(start + 64, hi - lo))
                np.add(mixed[block], tiebreak[None, :], out=out[lo + block.start:lo + block.stop],
                       casting="unsafe")
        return out

    def explain(self, histories: BasketData, rows: np.ndarray, items: np.ndarray,
                name_of) -> list[str | None]:
        """A product the customer never bought: how many of their nearest customers did."""
        own = user_vectors(histories, self.config).astype(np.float32)
        bought = np.asarray(own[rows, items]).ravel() > 0
        new = np.flatnonzero(~bought)
        reasons: list[str | None] = [None] * len(rows)
        if not len(new) or self.pool is None:
            return reasons
        users = np.unique(rows[new])
        nbrs = self.neighbours(own[users], histories.user_ids[users])
        if not nbrs.shape[1]:
            return reasons
        place = np.searchsorted(users, rows[new])
        # Each (customer, product): the product's weight in each neighbour's vector.
        weights = self.pool[nbrs[place].ravel(), np.repeat(items[new], nbrs.shape[1])]
        buyers = (np.asarray(weights).reshape(len(new), -1) > 0).sum(axis=1)
        for j, count in zip(new.tolist(), buyers.tolist(), strict=True):
            reasons[j] = (f"new to you; bought by {count} of your {nbrs.shape[1]} nearest "
                          "customers")
        return reasons

    def _neighbour_means(self, nbrs: np.ndarray, out: np.ndarray) -> None:
        """out[r] = mean of the pool rows nbrs[r] (sorted), as float32 column sums in row order.

        The rows of the whole batch are gathered at once; each customer's block, transposed,
        times 1/k is a sparse matrix-vector product written straight into its dense row.
        """
        from scipy import sparse

        k = nbrs.shape[1]
        weights = np.full(k, 1.0 / k, dtype=np.float32)
        gathered = self.pool[nbrs.ravel()]
        indptr = gathered.indptr
        for row in range(len(nbrs)):
            lo, hi = indptr[row * k], indptr[(row + 1) * k]
            block = sparse.csc_matrix(
                (gathered.data[lo:hi], gathered.indices[lo:hi],
                 indptr[row * k : (row + 1) * k + 1] - lo),
                shape=(out.shape[1], k), copy=False,
            )
            out[row] = block @ weights

    def state(self) -> dict[str, np.ndarray]:
        return {**csr_arrays("pool", self.pool), "pool_user_ids": self.pool_user_ids,
                "popularity": self.popularity}

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.pool = csr_from("pool", arrays)
        self.pool_user_ids = arrays["pool_user_ids"]
        self.pool_sq_norms = _row_sq_norms(self.pool)
        self.popularity = arrays["popularity"]
        self._reset_search()
