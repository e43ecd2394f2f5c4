"""All evaluation metrics, vectorised over users; one definition each.

Per-user metrics are computed on batches of users and averaged at the end, so scoring never
needs a dense users x products matrix of the whole data set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

K_VALUES = (10, 20)
RANKING_METRICS = ("recall", "precision", "f1", "ndcg", "phr")
SPLIT_K = 10  # recall split into repeat and explore items at this cut-off

METRIC_KEYS: tuple[str, ...] = (
    *(f"{m}@{k}" for k in K_VALUES for m in RANKING_METRICS),
    f"recall@{SPLIT_K}_repeat",
    f"recall@{SPLIT_K}_explore",
    f"repeat_share@{SPLIT_K}",
    "f1_micro",
    "f1_macro",
    "basket_f1",
)
# What a table shows by default, in this order.
HEADLINE_KEYS: tuple[str, ...] = (
    "recall@10", "ndcg@10", "phr@10", "precision@10", "recall@20", "ndcg@20",
    "recall@10_repeat", "recall@10_explore", "repeat_share@10", "f1_micro", "basket_f1",
)
# The metrics a comparison tests against the reference (paired bootstrap).
COMPARED_KEYS: tuple[str, ...] = ("recall@10", "ndcg@10")
# The metrics a grid's rows show first, in this order (the original report's).
GRID_KEYS: tuple[str, ...] = ("f1_micro", "precision@10", "recall@10", "ndcg@10")


def top_k(scores: np.ndarray, k: int, group: int = 64) -> np.ndarray:
    """Indices of the k highest scores per row, best first; equal scores in column order, also
    at the k-th place (NaN ranks last).

    Found by sorting a few candidates per row rather than partitioning every row: the columns
    are cut into blocks of ``group`` columns ``n_blocks`` apart (block b holds b, b + n_blocks,
    ...), whose maxima are elementwise maxima of contiguous slices. A row's k-th largest block
    maximum is at most its k-th best score, so the columns scoring at least that hold the k
    best and every score equal to the k-th best. Rows the candidates do not settle (NaN, an
    infinite cut, many equal scores) and small catalogs take ``_top_k_by_partition``.
    """
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)  # negated below: unsigned integers would wrap
    n, n_items = scores.shape
    k = min(k, n_items)
    n_blocks = n_items // group
    if n == 0 or k == 0 or k * 4 > n_blocks:
        return _top_k_by_partition(scores, k)
    maxima = scores[:, : n_blocks * group].reshape(n, group, n_blocks).max(axis=1)
    cut = -np.partition(-maxima, k - 1, axis=1)[:, k - 1]
    rows, columns = np.divmod(np.flatnonzero(scores >= cut[:, None]), n_items)
    unsettled = (np.isnan(maxima).any(axis=1) | ~np.isfinite(cut)
                 | (np.bincount(rows, minlength=n) > 8 * k + group))
    if unsettled.any():
        rows, columns = rows[~unsettled[rows]], columns[~unsettled[rows]]
    best = np.empty((n, k), dtype=np.int64)
    best[~unsettled] = _best_first(scores, rows, columns, k)
    if unsettled.any():
        best[unsettled] = _top_k_by_partition(scores[unsettled], k)
    return best


def _top_k_by_partition(scores: np.ndarray, k: int) -> np.ndarray:
    """``top_k`` from each row's k-th best score (a partition of the whole row): the scores
    above it, then the first columns equal to it. Rows with NaN are sorted whole."""
    n, n_items = scores.shape
    if n == 0 or k == 0:
        return np.empty((n, k), dtype=np.int64)
    with_nan = np.isnan(scores).any(axis=1)
    clean = scores[~with_nan] if with_nan.any() else scores
    kth = np.partition(clean, n_items - k, axis=1)[:, n_items - k, None]
    above_rows, above_columns = np.divmod(np.flatnonzero(clean > kth), n_items)
    equal_rows, equal_columns = np.divmod(np.flatnonzero(clean == kth), n_items)
    # Of the scores equal to the k-th, the first ones (column order) make up the k.
    still = k - np.bincount(above_rows, minlength=len(clean))
    rank = np.arange(len(equal_rows)) - np.searchsorted(equal_rows, equal_rows)
    wanted = rank < still[equal_rows]
    rows = np.concatenate([above_rows, equal_rows[wanted]])
    columns = np.concatenate([above_columns, equal_columns[wanted]])
    best = np.empty((n, k), dtype=np.int64)
    best[~with_nan] = _best_first(clean, rows, columns, k)
    if with_nan.any():
        best[with_nan] = np.argsort(-scores[with_nan], axis=1, kind="stable")[:, :k]
    return best


def _best_first(scores: np.ndarray, rows: np.ndarray, columns: np.ndarray, k: int
                ) -> np.ndarray:
    """The first k of each row's candidate (rows, columns), best first and equal scores in
    column order; rows ascending, every row holding at least k candidates."""
    order = np.lexsort((columns, -scores[rows, columns], rows))
    rows, columns = rows[order], columns[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)  # place within the row
    return columns[rank < k].reshape(-1, k)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ranking_metrics(
    ranked: np.ndarray, target: np.ndarray, history: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-user ranking metrics.

    ranked: (n, >= max K) item indices, best first. target: (n, I) bool, the true basket.
    history: (n, I) bool, items the user bought before (for the repeat/explore split).
    Repeat (explore) recall is NaN for users whose target holds no repeat (new) item; such
    users are left out of its average. ``repeat_share@10`` is the share of the top 10 that the
    user bought before (1.0: the model only repeats). Recall@K divides by the size of the
    target, as the field does: a perfect ranking of a 15-product basket has recall@10 2/3.
    allowed: (n, I) bool, what may be recommended (a restriction): a ranked product outside
    it is no recommendation, never a hit and not in repeat_share's top 10; the recall still
    divides by the whole target.
    """
    reachable = target if allowed is None else target & allowed
    hits = np.take_along_axis(reachable, ranked, axis=1)
    n_true = true_counts(target, 1).astype(np.float64)
    safe_true = np.maximum(n_true, 1.0)
    out: dict[str, np.ndarray] = {}
    for k in K_VALUES:
        top = hits[:, :k]
        n_hit = top.sum(axis=1).astype(np.float64)
        recall = n_hit / safe_true
        precision = n_hit / k
        denom = recall + precision
        out[f"recall@{k}"] = recall
        out[f"precision@{k}"] = precision
        out[f"f1@{k}"] = np.divide(2 * recall * precision, denom, out=np.zeros_like(denom),
                                   where=denom > 0)
        discounts = _discounts(k)
        dcg = top @ discounts[: top.shape[1]]
        ideal = np.cumsum(discounts)[np.minimum(n_true, k).astype(int) - 1]
        out[f"ndcg@{k}"] = np.where(n_true > 0, dcg / ideal, 0.0)
        out[f"phr@{k}"] = (n_hit > 0).astype(np.float64)
    if history is not None:
        ranked_history = np.take_along_axis(history, ranked[:, :SPLIT_K], axis=1)
        top = hits[:, :SPLIT_K]
        n_repeat = true_counts(target & history, 1).astype(np.float64)
        for name, seen, n_wanted in (("repeat", True, n_repeat),
                                     ("explore", False, n_true - n_repeat)):
            n_hit = (top & (ranked_history == seen)).sum(axis=1)
            out[f"recall@{SPLIT_K}_{name}"] = np.where(
                n_wanted > 0, n_hit / np.maximum(n_wanted, 1.0), np.nan
            )
        if allowed is None:
            out[f"repeat_share@{SPLIT_K}"] = ranked_history.mean(axis=1)
        else:
            shown = np.take_along_axis(allowed, ranked[:, :SPLIT_K], axis=1)
            out[f"repeat_share@{SPLIT_K}"] = ((ranked_history & shown).sum(axis=1)
                                              / np.maximum(shown.sum(axis=1), 1))
    return out


def set_f1(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-user F1 between a predicted basket and the true one (both (n, I) bool)."""
    tp = true_counts(predicted & target, 1).astype(np.float64)
    denom = true_counts(predicted, 1) + true_counts(target, 1)
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def true_counts(mask: np.ndarray, axis: int) -> np.ndarray:
    """True cells of a bool mask along ``axis`` (summing its bytes into int32 where they fit:
    about twice as fast as summing the bools)."""
    mask = np.asarray(mask, dtype=bool)  # the byte view below reads bools only
    wide = mask.shape[axis] >= 2**31
    return np.add.reduce(mask.view(np.uint8), axis=axis, dtype=np.int64 if wide else np.int32)


def f1_from_counts(tp: float | np.ndarray, fp: float | np.ndarray, fn: float | np.ndarray):
    """F1 of summed true positives, false positives and false negatives (0 where all are 0)."""
    tp, denom = np.asarray(tp, dtype=np.float64), np.asarray(2 * tp + fp + fn, dtype=np.float64)
    out = np.divide(2 * tp, denom, out=np.zeros_like(denom), where=denom > 0)
    return float(out) if out.ndim == 0 else out


@dataclass
class ProductCounts:
    """Per-product true/false positives and false negatives, summed over batches."""

    n_items: int
    tp: np.ndarray = field(init=False)
    fp: np.ndarray = field(init=False)
    fn: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.tp = np.zeros(self.n_items, dtype=np.int64)
        self.fp = np.zeros(self.n_items, dtype=np.int64)
        self.fn = np.zeros(self.n_items, dtype=np.int64)

    def add(self, predicted: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
        """Add a batch; returns its per-user counts (f1_micro is their ratio of sums)."""
        both = predicted & target
        tp = true_counts(both, 0)
        self.tp += tp
        self.fp += true_counts(predicted, 0) - tp
        self.fn += true_counts(target, 0) - tp
        user_tp = true_counts(both, 1)
        return {"_tp": user_tp, "_fp": true_counts(predicted, 1) - user_tp,
                "_fn": true_counts(target, 1) - user_tp}

    def absorb(self, other: ProductCounts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def f1_micro(self) -> float:
        return f1_from_counts(self.tp.sum(), self.fp.sum(), self.fn.sum())

    def f1_macro(self) -> float:
        """Mean F1 over products present in a target or a prediction (others are undefined)."""
        denom = 2 * self.tp + self.fp + self.fn
        present = denom > 0
        if not present.any():
            return 0.0
        return float(np.mean(2 * self.tp[present] / denom[present]))


class MetricAccumulator:
    """Collects per-user metrics and product counts over batches; ``result()`` averages them."""

    def __init__(self, n_items: int) -> None:
        self.per_user: dict[str, list[np.ndarray]] = {}
        self.counts = ProductCounts(n_items)

    def add_per_user(self, values: dict[str, np.ndarray]) -> None:
        for key, array in values.items():
            self.per_user.setdefault(key, []).append(np.asarray(array, dtype=np.float64))

    def absorb(self, later: MetricAccumulator) -> None:
        """Add another accumulator's users after this one's (shares of one evaluation set)."""
        for key, parts in later.per_user.items():
            self.per_user.setdefault(key, []).extend(parts)
        self.counts.absorb(later.counts)

    def values(self) -> dict[str, np.ndarray]:
        """Each per-user metric over every user added, in order (NaN: undefined for a user)."""
        return {key: np.concatenate(parts) for key, parts in self.per_user.items()}

    def result(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, values in self.values().items():
            if key.startswith("_"):
                continue  # per-user parts of a corpus-level metric (f1_micro's counts)
            defined = values[~np.isnan(values)]
            out[key] = float(defined.mean()) if len(defined) else 0.0
        out["f1_micro"] = self.counts.f1_micro()
        out["f1_macro"] = self.counts.f1_macro()
        return {key: out[key] for key in METRIC_KEYS if key in out}
