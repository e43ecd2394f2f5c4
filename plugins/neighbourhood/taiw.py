"""TAIW, Time-Aware Item Weighting (Romanov, Lashinin, Ananyeva, Kolesnikov, RecSys 2023).

Paper: "Time-Aware Item Weighting for the Next Basket Recommendations", doi 10.1145/3604915.3608859.
Authors' code: github.com/alexeyromanov-hse/time_aware_item_weighting (``nbr/model/slrc.py``,
``repurchasemodule.py``, ``nbrknn.py``; the model is assembled in
``notebooks/testing_taiw.ipynb``).

The method. A customer's score for a product at the time t of their next basket is a
self-exciting (Hawkes) intensity: every past purchase of the product, Δ = t - t_j ago, adds a
kernel learned per product i,

    s(u, i) = a_i * sum_j [ (1 - p_i) Exp(Δ_j; b_i) + p_i N(Δ_j; m_i, d_i) ],
    Exp(Δ; b) = exp(-Δ / b) / b,   N(Δ; m, d) = exp(-(Δ - m)^2 / (2 d^2)) / (d sqrt(2 pi)),

an exponential decay of all past purchases plus a bump where the product's typical repurchase
interval m_i says it is due again. These per-customer vectors then enter a user-kNN step: the
k customers whose vectors are nearest in angle (cosine) are averaged and mixed in,

    score(u, i) = alpha * s(u, i) + (1 - alpha) * mean_{v in kNN(u)} s(v, i).

Time is in days (a customer's day of each order is the running sum of ``days_since_prior``) or
in orders (the order's rank 0, 1, 2, ...). ``time_unit="auto"`` (the default) fits both where
the data has days and keeps the one with the better ndcg@10 on the validation targets. On
Complete Journey, whose visits are irregular, order positions win (validation ndcg@10 0.1835
against 0.1666 in days; test 0.1795 against 0.1586); on the Instacart sample days do (0.4520
against 0.4390).

The kernel is a closed-form fit (EM on each product's repurchase intervals, shrunk towards the
population's), not the authors' SGD on a BPR loss; there is no matrix factorisation (as in their
TAIWI); the time of prediction is estimated; by default the neighbour mean scores only products
the customer has not bought. What differs from the authors' code, and why: docs/models.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field
from scipy import sparse
from scipy.special import expit

from basketcli.data.basket_data import BasketData
from basketcli.protocol import FitContext, FitReport, ModelConfig, search
from basketcli_models.neighbourhood.core import NeighbourhoodModel, csr_arrays, csr_from
from basketcli_models.neighbourhood.tifuknn import TifuKNN, TifuKNNConfig
from basketcli_models.topfreq import popularity

if TYPE_CHECKING:
    from basketcli.data.split import EvalSet

HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)
# Floors of the kernel's widths, in time units: intervals are whole days or whole orders, so a
# narrower bump or a faster decay would only fit rounding.
MIN_SPREAD = 0.5
MIN_DECAY = 0.5
MIN_SHARE = 1e-4  # keeps both mixture components alive (EM cannot revive a zero weight)
FILL_SCALE = 1e-6  # the popularity fill's height, relative to each row's smallest score
LINE_CHUNK = 1 << 22  # lines per chunk when evaluating the kernel (bounds temporary memory)
Unit = Literal["days", "orders"]


class TAIWConfig(ModelConfig):
    time_unit: Literal["auto", "days", "orders"] = Field(
        "auto", description="time between purchases in days or in orders; auto fits both and "
        "keeps the better on the validation targets. Data without days is timed in orders",
        json_schema_extra=search(choices=["auto", "days", "orders"]))
    k: int = Field(199, ge=1, description="nearest customers averaged (authors' Dunnhumby value)",
                   json_schema_extra=search(10, 400, log=True))
    alpha: float = Field(
        0.9, ge=0, le=1, description="weight of the customer's own timing scores against the "
        "neighbour mean", json_schema_extra=search(0.0, 1.0))
    neighbours_for: Literal["unbought", "all"] = Field(
        "unbought", description="products the neighbour mean scores: those the customer has not "
        "bought, or all (the authors' mixing)",
        json_schema_extra=search(choices=["unbought", "all"]))
    prior_strength: float = Field(
        10.0, gt=0, description="pseudo-intervals (and pseudo-purchases) of the population's fit "
        "added to each product's", json_schema_extra=search(1.0, 300.0, log=True))
    em_iterations: int = Field(30, ge=1, description="EM iterations of the interval mixtures")
    batch_size: int = Field(1024, ge=1, description="customers per neighbour-search batch")
    exact_pool: int = Field(
        10_000, ge=1, description="pools of at most this many customers are searched "
        "exhaustively; larger ones through clusters (approximate, far faster; see tifuknn)")
    candidates: int = Field(
        3072, ge=1, description="customers each customer is compared with in a clustered search")
    embed_dims: int = Field(
        64, ge=1, description="most popular products whose weights place customers in clusters")


# --- time ----------------------------------------------------------------------------------------
def time_units(histories: BasketData, wanted: str) -> list[Unit]:
    """The units to fit: orders alone without days, else the one asked for (auto: both)."""
    if histories.days_since_prior is None:
        return ["orders"]
    return ["days", "orders"] if wanted == "auto" else [wanted]


def order_times(histories: BasketData, unit: Unit, mean_gap: float) -> np.ndarray:
    """Time of every order, from the customer's first (0): days, or order ranks.

    Histories without days scored by a model fitted on days take ranks times the population's
    mean gap; a model fitted on ranks ignores days. An unknown gap (NaN after the first order)
    counts as the mean gap.
    """
    rank = histories.order_rank().astype(np.float64)
    if unit == "orders":
        return rank
    if histories.days_since_prior is None:
        return rank * mean_gap
    gaps = histories.days_since_prior.astype(np.float64)
    gaps[rank == 0] = 0.0
    gaps[np.isnan(gaps)] = mean_gap
    running = np.cumsum(gaps)
    counts = histories.orders_per_user()
    first = np.minimum(histories.user_offsets[:-1], max(histories.n_orders - 1, 0))
    return running - np.repeat(running[first], counts)


def population_mean_gap(histories: BasketData, unit: Unit) -> float:
    """Mean time between a customer's consecutive orders (1 for order ranks)."""
    if unit == "orders":
        return 1.0
    gaps = histories.days_since_prior[histories.order_rank() > 0]
    gaps = gaps[np.isfinite(gaps)]
    return float(gaps.mean()) if len(gaps) and gaps.mean() > 0 else 1.0


def next_order_times(histories: BasketData, times: np.ndarray, mean_gap: float) -> np.ndarray:
    """Each customer's expected time of the next order: last order + their mean gap."""
    counts = histories.orders_per_user()
    has_orders = counts > 0
    last = np.where(has_orders, histories.user_offsets[1:] - 1, 0)
    first = np.where(has_orders, histories.user_offsets[:-1], 0)
    t_last = np.where(has_orders, times[last] if len(times) else 0.0, 0.0)
    span = t_last - np.where(has_orders, times[first] if len(times) else 0.0, 0.0)
    own_gap = span / np.maximum(counts - 1, 1)
    return t_last + np.where(counts > 1, own_gap, mean_gap)


# --- per-product interval distributions ----------------------------------------------------------
@dataclass(frozen=True)
class IntervalMixture:
    """Per product: interval ~ (1 - share) Exp(mean=decay) + share N(due, spread), and the
    product's repurchase rate (the kernel's scale)."""

    decay: np.ndarray
    due: np.ndarray
    spread: np.ndarray
    share: np.ndarray
    rate: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"timing_{name}": getattr(self, name)
                for name in ("decay", "due", "spread", "share", "rate")}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> IntervalMixture:
        return cls(**{name: np.asarray(arrays[f"timing_{name}"], dtype=np.float64)
                      for name in ("decay", "due", "spread", "share", "rate")})


def repurchase_intervals(
    histories: BasketData, times: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive repurchase intervals of every (customer, product): (product, interval) of
    each, and per product the purchases that could have been followed by another (those not in
    the customer's last order)."""
    line_order = histories.line_order()
    line_user = histories.order_user()[line_order]
    key = line_user * np.int64(histories.n_items) + histories.items
    # Stable: within a (customer, product) run, the lines stay in time order.
    order = np.argsort(key, kind="stable")
    key = key[order]
    line_time = times[line_order[order]]
    repeat = key[1:] == key[:-1]
    intervals = (line_time[1:] - line_time[:-1])[repeat]
    products = histories.items[order[1:][repeat]]
    last_order = histories.user_offsets[1:] - 1
    followable = line_order != last_order[line_user]
    opportunities = np.bincount(histories.items[followable], minlength=histories.n_items)
    return products.astype(np.int64), intervals, opportunities


def distinct_intervals(
    products: np.ndarray, intervals: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(product, interval, count) of each distinct pair: EM over them is exact and far shorter
    (intervals are whole days or orders, so most repeat)."""
    values, value_index = _value_index(intervals)
    key, counts = np.unique(products * np.int64(len(values)) + value_index, return_counts=True)
    return key // len(values), values[key % len(values)], counts.astype(np.float64)


def _value_index(intervals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values and each interval's index among them."""
    whole = intervals.astype(np.int64)
    if len(intervals) and whole.min() >= 0 and np.array_equal(whole, intervals):
        # Whole days or orders (the usual case): a value is its own index, no sort needed.
        return np.arange(whole.max() + 1, dtype=np.float64), whole
    values, index = np.unique(intervals, return_inverse=True)
    return values, index.astype(np.int64)


def _normal_share(x: np.ndarray, decay: np.ndarray, due: np.ndarray, spread: np.ndarray,
                  share: np.ndarray) -> np.ndarray:
    """E-step: the posterior weight of the normal component for each interval."""
    log_normal = np.log(share) - np.log(spread) - HALF_LOG_2PI - 0.5 * ((x - due) / spread) ** 2
    log_exponential = np.log1p(-share) - np.log(decay) - x / decay
    return expit(log_normal - log_exponential)


def fit_mixtures(
    x: np.ndarray, weight: np.ndarray, group: np.ndarray, n_groups: int, start: np.ndarray,
    strength: float, iterations: int,
) -> np.ndarray:
    """EM for an exponential + normal mixture per group, shrunk towards ``start``.

    ``start`` = (decay, due, spread, share) of the prior; each group's sums get ``strength``
    pseudo-intervals drawn from it (a MAP estimate; strength 0 is plain maximum likelihood).
    Returns a (4, n_groups) array of (decay, due, spread, share).
    """
    decay0, due0, spread0, share0 = start
    prior_normal, prior_exponential = strength * share0, strength * (1.0 - share0)
    params = np.repeat(np.asarray(start, dtype=np.float64)[:, None], n_groups, axis=1)
    total = np.bincount(group, weights=weight, minlength=n_groups)
    for _ in range(iterations):
        decay, due, spread, share = params
        normal = weight * _normal_share(x, decay[group], due[group], spread[group], share[group])
        exponential = weight - normal
        n_normal = np.bincount(group, weights=normal, minlength=n_groups)
        n_exponential = total - n_normal
        due = _ratio(np.bincount(group, weights=normal * x, minlength=n_groups)
                     + prior_normal * due0, n_normal + prior_normal, due0)
        squares = np.bincount(group, weights=normal * (x - due[group]) ** 2, minlength=n_groups)
        variance = _ratio(squares + prior_normal * (spread0**2 + (due0 - due) ** 2),
                          n_normal + prior_normal, spread0**2)
        decay = _ratio(np.bincount(group, weights=exponential * x, minlength=n_groups)
                       + prior_exponential * decay0, n_exponential + prior_exponential, decay0)
        share = _ratio(n_normal + prior_normal, total + strength, share0)
        params = np.stack([np.maximum(decay, MIN_DECAY), due,
                           np.maximum(np.sqrt(variance), MIN_SPREAD),
                           np.clip(share, MIN_SHARE, 1.0 - MIN_SHARE)])
    return params


def _ratio(numerator: np.ndarray, denominator: np.ndarray, empty: float) -> np.ndarray:
    """numerator / denominator, ``empty`` where nothing was counted."""
    positive = denominator > 1e-12
    return np.where(positive, numerator / np.where(positive, denominator, 1.0), empty)


def fit_interval_mixtures(
    histories: BasketData, unit: Unit, mean_gap: float, strength: float, iterations: int,
) -> tuple[IntervalMixture, dict[str, float]]:
    """Each product's repurchase-interval mixture and rate, from every customer's history."""
    times = order_times(histories, unit, mean_gap)
    products, intervals, opportunities = repurchase_intervals(histories, times)
    repeats = np.bincount(products, minlength=histories.n_items).astype(np.float64)
    rate0 = (repeats.sum() + 1.0) / (opportunities.sum() + 2.0)
    products, intervals, counts = distinct_intervals(products, intervals)
    # The population's mixture (over the distinct values alone), started from the intervals'
    # moments (from the mean gap when there is no repurchase at all).
    values, value_index = np.unique(intervals, return_inverse=True)
    value_counts = np.bincount(value_index, weights=counts, minlength=len(values))
    if len(values):
        mean = float(np.average(values, weights=value_counts))
        std = float(np.sqrt(np.average((values - mean) ** 2, weights=value_counts)))
    else:
        mean, std = mean_gap, mean_gap
    start = np.array([max(mean, MIN_DECAY), mean, max(std, MIN_SPREAD), 0.5])
    population = fit_mixtures(values, value_counts, np.zeros(len(values), dtype=np.int64), 1,
                              start, 0.0, iterations)[:, 0]
    per_product = fit_mixtures(intervals, counts, products, histories.n_items, population,
                               strength, iterations)
    rate = (repeats + strength * rate0) / (opportunities + strength)
    mixture = IntervalMixture(*per_product, rate=rate)
    summary = dict(zip(("decay", "due", "spread", "share"), population.tolist(), strict=True))
    return mixture, {**summary, "rate": float(rate0), "intervals": float(repeats.sum())}


# --- the customers' timing vectors ---------------------------------------------------------------
def timing_vectors(histories: BasketData, mixture: IntervalMixture, unit: Unit,
                   mean_gap: float) -> sparse.csr_matrix:
    """(customers x products) float32: the intensity s(u, i) at each customer's next order."""
    times = order_times(histories, unit, mean_gap)
    t_next = next_order_times(histories, times, mean_gap)
    line_order = histories.line_order()
    line_user = histories.order_user()[line_order]
    values = np.empty(histories.n_lines, dtype=np.float32)
    coefficients = _kernel_coefficients(mixture)
    for lo in range(0, histories.n_lines, LINE_CHUNK):
        hi = min(lo + LINE_CHUNK, histories.n_lines)
        elapsed = np.maximum(t_next[line_user[lo:hi]] - times[line_order[lo:hi]], 0.0)
        values[lo:hi] = _kernel(elapsed, histories.items[lo:hi], coefficients)
    # Lines are grouped by customer: CSR rows directly; duplicates (repurchases) are summed.
    matrix = sparse.csr_matrix((values, histories.items.copy(), histories.user_line_offsets()),
                               shape=(histories.n_users, histories.n_items))
    matrix.sum_duplicates()
    return matrix


def _kernel_coefficients(mixture: IntervalMixture) -> tuple[np.ndarray, ...]:
    """Per product: the terms of a * [(1-p) Exp(Δ; b) + p N(Δ; m, d)] that do not depend on Δ."""
    exponential = mixture.rate * (1.0 - mixture.share) / mixture.decay
    normal = mixture.rate * mixture.share * np.exp(-HALF_LOG_2PI) / mixture.spread
    return exponential, 1.0 / mixture.decay, normal, mixture.due, 1.0 / mixture.spread


def _kernel(elapsed: np.ndarray, items: np.ndarray, coefficients: tuple[np.ndarray, ...],
            ) -> np.ndarray:
    exponential, inverse_decay, normal, due, inverse_spread = (c[items] for c in coefficients)
    standardised = (elapsed - due) * inverse_spread
    return (exponential * np.exp(-elapsed * inverse_decay)
            + normal * np.exp(-0.5 * standardised * standardised))


def _row_min_positive(matrix: sparse.csr_matrix) -> np.ndarray:
    """Each row's smallest positive entry (inf where there is none)."""
    data = np.where(matrix.data > 0, matrix.data, np.inf)
    lengths = np.diff(matrix.indptr)
    smallest = np.full(matrix.shape[0], np.inf)
    rows = np.flatnonzero(lengths)
    if len(rows):
        # Segments start at the non-empty rows; the empty rows between add nothing to them.
        smallest[rows] = np.minimum.reduceat(data, matrix.indptr[rows])
    return smallest


def unit_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows scaled to unit length: Euclidean neighbours of these are the nearest in angle."""
    matrix = matrix.tocsr()
    # Row sums by scipy's per-row loop: the same bits for a row in any batch.
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1), dtype=np.float64).ravel())
    scale = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0).astype(np.float32)
    out = matrix.astype(np.float32, copy=True)
    out.data *= np.repeat(scale, np.diff(out.indptr))
    return out


# --- the model -----------------------------------------------------------------------------------
class TAIW(NeighbourhoodModel):
    """TAIW: per-product repurchase-timing intensities (decay + due bump) mixed with user-kNN."""

    name = "taiw"
    Config = TAIWConfig

    def __init__(self, config: TAIWConfig | None = None) -> None:
        super().__init__(config)
        self.unit: Unit = "orders"
        self.mean_gap = 1.0
        self.mixture: IntervalMixture | None = None
        self.pool: sparse.csr_matrix | None = None  # (P x I) timing vectors of the neighbours
        self.pool_user_ids = np.zeros(0, dtype=np.int64)
        self.popularity = np.zeros(0)
        self._searcher: TifuKNN | None = None

    # --- fitting ---------------------------------------------------------------------------------
    def fit(self, train: BasketData, valid: EvalSet | None, ctx: FitContext) -> FitReport:
        units = time_units(train, self.config.time_unit)
        validation: dict[str, float] = {}
        if len(units) == 1 or valid is None or not valid.n_users:
            population = self._fit_unit(train, units[0])  # no choice to make (or no targets)
        else:
            from basketcli.evaluation.scoring import evaluate_model

            for unit in units:
                population = self._fit_unit(train, unit)
                validation[unit] = evaluate_model(self, valid)[0].metrics["ndcg@10"]
            best = max(units, key=validation.__getitem__)  # ties: days, the paper's unit
            ctx.log(f"taiw: validation ndcg@10 {validation['days']:.4f} in days, "
                    f"{validation['orders']:.4f} in orders: {best}")
            if best == self.unit:  # the last fit won: keep it, pooling the training histories
                self.set_pool(train)
            else:
                population = self._fit_unit(train, best)
        return FitReport(info={"time_unit": self.unit, "mean_gap": self.mean_gap,
                               "population_intervals": population,
                               "valid_ndcg@10_by_unit": validation,
                               "pool_users": int(self.pool.shape[0])})

    def _fit_unit(self, train: BasketData, unit: Unit) -> dict[str, float]:
        cfg = self.config
        self.unit = unit
        self.mean_gap = population_mean_gap(train, unit)
        self.mixture, population = fit_interval_mixtures(
            train, unit, self.mean_gap, cfg.prior_strength, cfg.em_iterations)
        self.set_pool(train)
        return population

    def set_pool(self, histories: BasketData) -> None:
        # The product timings stay those fitted on the training histories.
        self.pool = self.timing(histories)
        self.pool_user_ids = histories.user_ids.copy()
        self.popularity = popularity(histories)
        self._searcher = None

    def timing(self, histories: BasketData) -> sparse.csr_matrix:
        """The customers' own timing scores s(u, i) (sparse: bought products only)."""
        return timing_vectors(histories, self.mixture, self.unit, self.mean_gap)

    def _search(self) -> TifuKNN:
        """TIFU-KNN's neighbour search over the pool's unit-length vectors (built once)."""
        if self._searcher is None:
            cfg = self.config
            searcher = TifuKNN(TifuKNNConfig(k=cfg.k, batch_size=cfg.batch_size,
                                             exact_pool=cfg.exact_pool, candidates=cfg.candidates,
                                             embed_dims=cfg.embed_dims, seed=cfg.seed))
            searcher.set_state({**csr_arrays("pool", unit_rows(self.pool)),
                                "pool_user_ids": self.pool_user_ids,
                                "popularity": self.popularity})
            self._searcher = searcher
        return self._searcher

    # --- scoring -------------------------------------------------------------------------------
    def score(self, histories: BasketData) -> np.ndarray:
        own = self.timing(histories)
        out = np.empty((histories.n_users, histories.n_items), dtype=np.float32)
        for lo in range(0, histories.n_users, self.config.batch_size):
            hi = min(lo + self.config.batch_size, histories.n_users)
            self._score_rows(own[lo:hi], histories.user_ids[lo:hi], out[lo:hi])
        return out

    def _score_rows(self, own: sparse.csr_matrix, user_ids: np.ndarray, out: np.ndarray) -> None:
        """out = alpha * own + (1 - alpha) * neighbour mean (on the products the customer has
        not bought, by default), then the popularity fill. ``out`` is a contiguous row block."""
        alpha = np.float32(self.config.alpha)
        own_part = own * alpha
        smallest = _row_min_positive(own_part)
        nbrs = self.neighbours(own, user_ids) if alpha < 1 else np.zeros((own.shape[0], 0))
        if nbrs.shape[1]:
            # Each customer's row holds their neighbours' pool rows back to back, weighted
            # (1 - alpha) / k; densifying sums the repeated products: the weighted mean.
            gathered = self.pool[nbrs.ravel()]
            weight = np.float32((1 - alpha) / nbrs.shape[1])
            neighbour_part = sparse.csr_matrix(
                (gathered.data * weight, gathered.indices, gathered.indptr[::nbrs.shape[1]]),
                shape=own.shape)
            neighbour_part.toarray(out=out)
            smallest = np.minimum(smallest, _row_min_positive(neighbour_part))
        else:
            out[:] = 0.0
        rows = np.repeat(np.arange(own.shape[0]), np.diff(own_part.indptr))
        if self.config.neighbours_for == "unbought":
            out[rows, own_part.indices] = own_part.data
        else:
            out[rows, own_part.indices] += own_part.data
        self._add_fill(out, smallest)

    def _add_fill(self, out: np.ndarray, smallest: np.ndarray) -> None:
        """Popularity fill, so that a top-k list is full and deterministic: FILL_SCALE x the
        row's smallest contribution x the product's popularity share. It orders the products
        without a score and breaks exact ties; scored products closer than a relative
        FILL_SCALE may swap, none drops below an unscored one."""
        smallest = np.where(np.isfinite(smallest), smallest, 1.0)
        fill = self.popularity[: out.shape[1]] / (self.popularity.max(initial=0.0) + 1.0)
        out += np.multiply.outer((FILL_SCALE * smallest).astype(np.float32),
                                 fill.astype(np.float32))

    def neighbours(self, own: sparse.csr_matrix, user_ids: np.ndarray) -> np.ndarray:
        """(customers x k) pool rows of each customer's nearest customers (by the angle between
        their timing vectors), sorted; never the customer themselves."""
        return np.sort(self._search().neighbours(unit_rows(own), user_ids), axis=1)

    # --- persistence -----------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        return {
            **self.mixture.arrays(),
            "unit_is_days": np.array(self.unit == "days"), "mean_gap": np.array(self.mean_gap),
            **csr_arrays("pool", self.pool), "pool_user_ids": self.pool_user_ids,
            "popularity": self.popularity,
        }

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.mixture = IntervalMixture.from_arrays(arrays)
        self.unit = "days" if bool(arrays["unit_is_days"]) else "orders"
        self.mean_gap = float(arrays["mean_gap"])
        self.pool = csr_from("pool", arrays)
        self.pool_user_ids = arrays["pool_user_ids"]
        self.popularity = arrays["popularity"].astype(np.float64)
        self._searcher = None
