"""UP-CF@r (Faggioli, Polato, Aiolli, UMAP 2020): recency-aware user-based collaborative filtering.

Faggioli G., Polato M., Aiolli F. "Recency Aware Collaborative Filtering for Next Basket
Recommendation". UMAP '20, 80-87. https://doi.org/10.1145/3340631.3394850

The scoring is Cornac's (``cornac.models.UPCF``, 3.0.1, which calls similaripy):

- Recency profile (the "user-wise popularity"). Of customer v's last r baskets, the share that
  hold product i: ``pi_v(i) = |{b in last r baskets of v : i in b}| / min(r, n_v)``.
- Purchase vectors. A pool customer's vector counts the baskets (whole history) that hold each
  product, ``x_v(i)``; the customer being scored is a 0/1 vector ``y_u`` of the products in
  their history (Cornac stacks the query as a binary row on top of the training counts).
- Asymmetric cosine with asymmetry alpha (similaripy's ``asymmetric_cosine``):
  ``s(u, v) = (y_u . x_v) / (|y_u|^(2 alpha) |x_v|^(2 (1 - alpha)))``; alpha = 0.5 is the
  cosine, alpha -> 0 asks how much of v's purchases u covers. The customer is one of the rows
  the similarity is taken over, so ``s(u, u) = 1`` takes part like any other row.
- Neighbourhood and locality. The ``k`` rows of highest similarity (similaripy's default
  k = 100; ``u`` itself counts as one of them, unless k others score above 1), each weighted
  by ``s(u, v)^q``: ``score(u, i) = sum_{v in N_k(u)} s(u, v)^q pi_v(i)``. A large q leaves
  little but the closest customers, and u's own profile (weight 1) carries the repeat signal.

Where and why it differs from Cornac, how the defaults were chosen and how a large pool is
searched (champion lists, Manning et al., Introduction to Information Retrieval, 7.1.3: an
approximation): docs/models.md. A pool of at most ``exact_pool`` customers is searched
exhaustively, and the scores then equal Cornac's up to float32 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field
from scipy import sparse

from basketcli.data.basket_data import BasketData, ranges
from basketcli.protocol import FitContext, FitReport, ModelConfig, search
from basketcli_models.neighbourhood.core import (
    NeighbourhoodModel,
    csr_arrays,
    csr_from,
    unchanged_pool_rows,
)


class UPCFConfig(ModelConfig):
    recency: int = Field(
        10, ge=1, description="r: a customer's profile is read from their last r baskets",
        json_schema_extra=search(1, 100, log=True),
    )
    asymmetry: float = Field(
        0.5, ge=0.0, le=1.0, description="alpha of the asymmetric cosine (0.5: the cosine)",
        json_schema_extra=search(0.0, 1.0),
    )
    locality: float = Field(
        10.0, ge=1.0, description="q: similarities are raised to this power (higher: only the "
        "closest customers count)", json_schema_extra=search(1.0, 100.0, log=True),
    )
    neighbours: int = Field(
        100, ge=1, description="k: most similar customers summed (the customer included)",
        json_schema_extra=search(10, 1000, log=True),
    )
    batch_size: int = Field(512, ge=1, description="customers per neighbour-search batch")
    exact_pool: int = Field(
        10_000, ge=1, description="pools of at most this many customers are searched "
        "exhaustively; larger ones through champion lists (approximate, far faster)",
    )
    champions: int = Field(
        100, ge=1, description="large pools: the pool customers listed for each product (those "
        "to whom it weighs most)",
    )
    candidates: int = Field(
        300, ge=1, description="large pools: the best champion-list candidates of a customer "
        "whose similarity is computed exactly",
    )


# --- customer vectors -------------------------------------------------------------------------
def basket_counts(histories: BasketData) -> sparse.csr_matrix:
    """x_v: (customers x products) number of the customer's baskets holding each product."""
    return histories.user_item_counts().astype(np.float32)


def presence(counts: sparse.csr_matrix) -> sparse.csr_matrix:
    """y_u: the products a customer bought at least once, as 0/1."""
    out = counts.copy()
    out.data = np.ones_like(out.data)
    return out


def recency_profiles(histories: BasketData, recency: int) -> sparse.csr_matrix:
    """pi_v: share of the customer's last ``recency`` baskets holding each product (float32)."""
    per_user = histories.orders_per_user()
    from_end = np.repeat(per_user, per_user) - histories.order_rank()  # 1: the last basket
    counts = histories.user_item_counts(order_weights=(from_end <= recency).astype(np.float32))
    counts.eliminate_zeros()
    # Count / window in float64, then float32: Cornac's rounding of the same ratio.
    window = np.maximum(np.minimum(per_user, recency), 1).astype(np.float64)
    counts.data = (counts.data / np.repeat(window, np.diff(counts.indptr))).astype(np.float32)
    return counts


def _row_sums(matrix: sparse.csr_matrix, squared: bool = False) -> np.ndarray:
    """Sum (of squares) of each row's entries, float64."""
    data = matrix.data.astype(np.float64)
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return np.bincount(rows, weights=data * data if squared else data, minlength=matrix.shape[0])


@dataclass
class Pool:
    """The customers neighbours come from: purchase counts, recency profiles, popularity."""

    counts: sparse.csr_matrix  # x_v, float32
    profiles: sparse.csr_matrix  # pi_v, float32
    user_ids: np.ndarray
    popularity: np.ndarray  # baskets holding each product, for the fill

    def norm_powers(self, asymmetry: float) -> np.ndarray:
        """|x_v|^(2 (1 - alpha)), float32 (0 for an empty vector: never a neighbour)."""
        return np.power(_row_sums(self.counts, squared=True), 1.0 - asymmetry).astype(np.float32)

    @property
    def size(self) -> int:
        return self.counts.shape[0]


def query_norm_powers(query_presence: sparse.csr_matrix, asymmetry: float) -> np.ndarray:
    """|y_u|^(2 alpha) = (number of distinct products)^alpha, float32."""
    return np.power(np.diff(query_presence.indptr).astype(np.float64), asymmetry).astype(
        np.float32)


def similarity_block(query_presence: sparse.csr_matrix, query_norms: np.ndarray,
                     pool_counts: sparse.csr_matrix, pool_norms: np.ndarray) -> np.ndarray:
    """Dense (queries x pool rows) asymmetric cosine, float32; 0 where nothing is shared."""
    dots = (query_presence @ pool_counts.T).toarray()
    denominator = query_norms[:, None] * pool_norms[None, :]
    np.divide(dots, denominator, out=dots, where=dots > 0)
    return dots


def top_k_columns(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(columns, values) of each row's k largest similarities, values in descending order."""
    k = min(k, sims.shape[1])
    if k == 0:
        empty = np.zeros((sims.shape[0], 0))
        return empty.astype(np.int64), empty.astype(np.float32)
    columns = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(sims, columns, axis=1)
    # Descending by similarity, then by column: the same choice for the same row every time.
    order = np.lexsort((columns, -values), axis=1)
    return np.take_along_axis(columns, order, 1), np.take_along_axis(values, order, 1)


# --- large pools: champion lists -----------------------------------------------------------
def ragged_top(rows: np.ndarray, values: np.ndarray, n_rows: int,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k largest positive values among entries grouped by ``rows`` (ascending).

    Returns (positions, rank): the chosen entries, row by row and best first (equal values in
    entry order), and each one's place in its row. A histogram of the values (8 bins per
    octave) first drops the entries that k others in the same row beat by a whole bin, so that
    only about k entries a row are sorted.
    """
    keep = np.flatnonzero(values > 0)
    keep = keep[_under_row_cut(rows[keep], values[keep], n_rows, k)]
    order = np.lexsort((keep, -values[keep], rows[keep]))
    chosen = keep[order]
    first = np.searchsorted(rows[chosen], np.arange(n_rows))
    rank = np.arange(len(chosen)) - first[rows[chosen]]
    top = rank < k
    return chosen[top], rank[top]


def _under_row_cut(rows: np.ndarray, values: np.ndarray, n_rows: int, k: int,
                   n_levels: int = 128) -> np.ndarray:
    """Entries with fewer than k entries of their row in strictly higher histogram bins (a
    superset of each row's k best: an entry of a higher bin is strictly larger)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    # A positive float32's bits, read as an integer, grow with its value: the exponent and
    # three mantissa bits make 8 bins an octave, without a logarithm.
    bins = np.ascontiguousarray(values, dtype=np.float32).view(np.int32) >> 20
    level = np.minimum(bins.max() - bins, n_levels - 1).astype(np.int64)  # 0: the top bin
    per_bin = np.bincount(rows * n_levels + level, minlength=n_rows * n_levels)
    per_bin = per_bin.reshape(n_rows, n_levels)
    higher = np.cumsum(per_bin, axis=1) - per_bin
    return higher[rows, level] < k


class ChampionLists:
    """For every product, the pool customers to whom it weighs most in a similarity.

    A pool customer's term for product i in ``s(u, v)`` is ``x_v(i) / |x_v|^(2 (1 - alpha))``
    for any customer u who bought i. Product i's champion list keeps the ``champions`` pool
    customers with the largest such terms (a champion list, Manning et al., Introduction to
    Information Retrieval, 7.1.3); summing a customer's lists over their products gives a
    partial similarity whose best ``candidates`` pool customers are then compared exactly.
    """

    def __init__(self, counts: sparse.csr_matrix, pool_norms: np.ndarray, champions: int) -> None:
        terms = counts.copy()
        lengths = np.diff(terms.indptr)
        terms.data = terms.data / np.repeat(np.where(pool_norms > 0, pool_norms, 1), lengths)
        by_product = terms.tocsc()
        product = np.repeat(np.arange(by_product.shape[1]), np.diff(by_product.indptr))
        kept, _ = ragged_top(product, by_product.data, by_product.shape[1], champions)
        is_kept = np.zeros(by_product.nnz, dtype=bool)
        is_kept[kept] = True
        by_product.data = np.where(is_kept, by_product.data, 0).astype(np.float32)
        by_product.eliminate_zeros()
        # (products x pool) CSR, the right operand of a product: converted once, not per batch.
        self.lists = by_product.T.tocsr()

    def candidates(self, query_presence: sparse.csr_matrix,
                   n_candidates: int) -> tuple[np.ndarray, np.ndarray]:
        """(query row, pool row) pairs: each query's best pool customers by partial similarity."""
        partial = (query_presence @ self.lists).tocsr()
        rows = np.repeat(np.arange(partial.shape[0]), np.diff(partial.indptr))
        chosen, _ = ragged_top(rows, partial.data, partial.shape[0], n_candidates)
        rows, columns = rows[chosen], partial.indices[chosen].astype(np.int64)
        order = np.lexsort((columns, rows))  # pool rows ascending: ties go by pool row
        return rows[order], columns[order]


def pair_similarities(query_presence: sparse.csr_matrix, query_norms: np.ndarray,
                      rows: np.ndarray, columns: np.ndarray, pool_counts: sparse.csr_matrix,
                      pool_norms: np.ndarray) -> np.ndarray:
    """Exact asymmetric cosine of each (query row, pool row) pair, float32.

    Each pool customer's products are looked up in a dense 0/1 table of the queries' products:
    the dot product of a pair costs the pool customer's number of products.
    """
    n_items = query_presence.shape[1]
    bought = np.zeros(query_presence.shape[0] * n_items, dtype=bool)
    query_rows = np.repeat(np.arange(query_presence.shape[0]), np.diff(query_presence.indptr))
    bought[query_rows * n_items + query_presence.indices] = True
    lengths = np.diff(pool_counts.indptr)[columns]
    at = ranges(pool_counts.indptr[columns], lengths)
    pair = np.repeat(np.arange(len(rows)), lengths)
    hit = bought[rows[pair] * n_items + pool_counts.indices[at]]
    dots = np.bincount(pair[hit], weights=pool_counts.data[at[hit]], minlength=len(rows))
    return (dots.astype(np.float32) / (query_norms[rows] * pool_norms[columns])).astype(
        np.float32)


# --- the model --------------------------------------------------------------------------------
class UPCF(NeighbourhoodModel):
    """UP-CF@r: customers with similar purchases (asymmetric cosine), recent baskets weighted."""

    name = "upcf"
    Config = UPCFConfig

    def __init__(self, config: UPCFConfig | None = None) -> None:
        super().__init__(config)
        self.pool: Pool | None = None
        self._reset_search()

    def _reset_search(self) -> None:
        self._pool_presence: sparse.csr_matrix | None = None
        self._pool_norms: np.ndarray | None = None
        self._champions: ChampionLists | None = None
        # The pool's own neighbours (large pools): (P x k) pool rows and similarities.
        self._pool_neighbours: tuple[np.ndarray, np.ndarray] | None = None
        self._id_order: np.ndarray | None = None

    def set_pool(self, histories: BasketData) -> None:
        self.pool = Pool(
            counts=basket_counts(histories),
            profiles=recency_profiles(histories, self.config.recency),
            user_ids=histories.user_ids.copy(),
            popularity=histories.item_basket_counts().astype(np.float64),
        )
        self._reset_search()

    def fit(self, train: BasketData, valid, ctx: FitContext) -> FitReport:
        self.set_pool(train)
        return FitReport(info={"pool_users": self.pool.size, "exhaustive": not self.large_pool})

    @property
    def large_pool(self) -> bool:
        return self.pool is not None and self.pool.size > self.config.exact_pool

    def _search_state(self) -> tuple[sparse.csr_matrix, np.ndarray]:
        if self._pool_presence is None:
            self._pool_presence = presence(self.pool.counts)
            self._pool_norms = self.pool.norm_powers(self.config.asymmetry)
        return self._pool_presence, self._pool_norms

    # --- neighbour search --------------------------------------------------------------------
    def neighbours(self, query_presence: sparse.csr_matrix,
                   query_user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(b x k) pool rows and similarities of each query's k most similar pool customers
        (never one with the query's customer id), best first; similarity 0 pads a short row."""
        if not self.large_pool:
            _, pool_norms = self._search_state()
            sims = similarity_block(query_presence,
                                    query_norm_powers(query_presence, self.config.asymmetry),
                                    self.pool.counts, pool_norms)
            sims[query_user_ids[:, None] == self.pool.user_ids[None, :]] = 0.0
            return top_k_columns(sims, self.config.neighbours)
        return self._large_pool_neighbours(query_presence, query_user_ids)

    def _large_pool_neighbours(self, query_presence: sparse.csr_matrix,
                               query_user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pool customers whose purchases are unchanged take the neighbours found for the whole
        pool at once; the others are searched here."""
        pool_presence, _ = self._search_state()
        if self._pool_neighbours is None:
            self._pool_neighbours = self._search(pool_presence, self.pool.user_ids)
        rows = self._pool_rows(query_presence, query_user_ids)
        known = rows >= 0
        k = self._pool_neighbours[0].shape[1]
        columns = np.zeros((len(rows), k), dtype=np.int64)
        values = np.zeros((len(rows), k), dtype=np.float32)
        columns[known] = self._pool_neighbours[0][rows[known]]
        values[known] = self._pool_neighbours[1][rows[known]]
        if not known.all():
            others = np.flatnonzero(~known)
            columns[others], values[others] = self._search(query_presence[others],
                                                           query_user_ids[others])
        return columns, values

    def _search(self, query_presence: sparse.csr_matrix,
                user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Champion-list candidates, compared exactly, a batch of queries at a time."""
        cfg = self.config
        _, pool_norms = self._search_state()
        if self._champions is None:
            self._champions = ChampionLists(self.pool.counts, pool_norms, cfg.champions)
        k = min(cfg.neighbours, self.pool.size)
        columns = np.zeros((len(user_ids), k), dtype=np.int32)
        values = np.zeros((len(user_ids), k), dtype=np.float32)
        query_norms = query_norm_powers(query_presence, cfg.asymmetry)
        for lo in range(0, len(user_ids), cfg.batch_size):
            hi = min(lo + cfg.batch_size, len(user_ids))
            batch = query_presence[lo:hi]
            rows, cand = self._champions.candidates(batch, max(cfg.candidates, k))
            sims = pair_similarities(batch, query_norms[lo:hi], rows, cand, self.pool.counts,
                                     pool_norms)
            sims[user_ids[lo:hi][rows] == self.pool.user_ids[cand]] = 0.0
            chosen, rank = ragged_top(rows, sims, hi - lo, k)
            columns[lo + rows[chosen], rank] = cand[chosen]
            values[lo + rows[chosen], rank] = sims[chosen]
        return columns, values

    def _pool_rows(self, query_presence: sparse.csr_matrix,
                   query_user_ids: np.ndarray) -> np.ndarray:
        """Pool row of each query whose purchased products equal that pool customer's, else -1."""
        if self._id_order is None:
            self._id_order = np.argsort(self.pool.user_ids, kind="stable")
        pool_presence, _ = self._search_state()
        return unchanged_pool_rows(query_presence, query_user_ids, pool_presence,
                                   self.pool.user_ids, self._id_order, compare_values=False)

    # --- scoring -----------------------------------------------------------------------------
    def score(self, histories: BasketData) -> np.ndarray:
        cfg = self.config
        query_presence = presence(basket_counts(histories))
        own_profiles = recency_profiles(histories, cfg.recency)
        popularity = self.pool.popularity
        share = (popularity / (popularity.max(initial=0.0) + 1.0)).astype(np.float32)
        out = np.empty((histories.n_users, histories.n_items), dtype=np.float32)
        for lo in range(0, histories.n_users, cfg.batch_size):
            hi = min(lo + cfg.batch_size, histories.n_users)
            columns, values = self.neighbours(query_presence[lo:hi], histories.user_ids[lo:hi])
            has_history = np.diff(query_presence.indptr)[lo:hi] > 0
            weights, self_weight = neighbour_weights(values, has_history, cfg.neighbours,
                                                      cfg.locality)
            evidence = self._collaborative(columns, weights, self_weight, own_profiles[lo:hi])
            fill_below(evidence, share, out=out[lo:hi])
        return out

    def _collaborative(self, columns: np.ndarray, weights: np.ndarray, self_weight: np.ndarray,
                       own_profiles: sparse.csr_matrix) -> sparse.csr_matrix:
        """sum_v s(u, v)^q pi_v, the customer's own profile included, (b x products) float32."""
        n, k = columns.shape
        mixing = sparse.csr_matrix(
            (weights.ravel(), columns.ravel(), np.arange(0, n * k + 1, k)),
            shape=(n, self.pool.size))
        mixing.eliminate_zeros()
        own = own_profiles.copy()
        own.data = own.data * np.repeat(self_weight, np.diff(own.indptr))
        evidence = sparse.csr_matrix(mixing @ self.pool.profiles + own, dtype=np.float32)
        evidence.eliminate_zeros()
        return evidence

    # --- persistence -------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        pool = self.pool
        return {
            **csr_arrays("counts", pool.counts), **csr_arrays("profiles", pool.profiles),
            "user_ids": pool.user_ids, "popularity": pool.popularity,
        }

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.pool = Pool(
            counts=csr_from("counts", arrays), profiles=csr_from("profiles", arrays),
            user_ids=arrays["user_ids"], popularity=arrays["popularity"].astype(np.float64),
        )
        self._reset_search()


def fill_below(evidence: sparse.csr_matrix, share: np.ndarray, out: np.ndarray) -> None:
    """Dense scores into ``out``: the evidence, and elsewhere the popularity ``share`` (in
    [0, 1)) times half the row's lowest evidence, so that any evidence outranks none."""
    lowest = np.ones(evidence.shape[0], dtype=np.float32)
    filled = np.diff(evidence.indptr) > 0
    if filled.any():
        lowest[filled] = np.minimum.reduceat(evidence.data, evidence.indptr[:-1][filled])
    np.multiply((0.5 * lowest)[:, None], share[None, :], out=out)
    rows = np.repeat(np.arange(evidence.shape[0]), np.diff(evidence.indptr))
    out[rows, evidence.indices] = evidence.data


def neighbour_weights(values: np.ndarray, has_history: np.ndarray, k: int,
                      locality: float) -> tuple[np.ndarray, np.ndarray]:
    """s^q of the pool neighbours kept and of the customer itself (similarity 1).

    ``values``: each query's best pool similarities, descending. The customer is one of the k
    rows, as in Cornac's similarity matrix: when k pool customers were found, it takes the k-th
    place from the k-th best of them, unless all k score above 1. A row whose best similarity
    passes 1 (alpha > 0 with repeated purchases) is divided by it before the power, so that no
    weight overflows: the row's ranking is the same.
    """
    full = values.shape[1] >= k
    outranked = values[:, k - 1] > 1.0 if full else np.zeros(len(values), dtype=bool)
    keeps_self = has_history & ~outranked
    best = values[:, 0] if values.shape[1] else np.zeros(len(values), dtype=np.float32)
    scale = np.maximum(best, np.float32(1.0))
    power = np.float32(locality)
    weights = np.power(values / scale[:, None], power, dtype=np.float32)
    if full:
        weights[keeps_self, k - 1] = 0.0
    own = np.where(keeps_self, np.power(np.float32(1.0) / scale, power), 0.0)
    return weights, own.astype(np.float32)
