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
    "f1_micro",
    "f1_macro",
    "basket_f1",
)
# What a table shows by default, in this order.
HEADLINE_KEYS: tuple[str, ...] = (
    "recall@10", "ndcg@10", "phr@10", "precision@10", "recall@20", "ndcg@20",
    "recall@10_repeat", "recall@10_explore", "f1_micro", "basket_f1",
)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores per row, best first; ties go to the lower index."""
    n_items = scores.shape[1]
    k = min(k, n_items)
    if k == n_items:
        part = np.broadcast_to(np.arange(n_items), scores.shape)
    else:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -values), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ranking_metrics(
    ranked: np.ndarray, target: np.ndarray, history: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Per-user ranking metrics.

    ranked: (n, >= max K) item indices, best first. target: (n, I) bool, the true basket.
    history: (n, I) bool, items the user bought before (for the repeat/explore split).
    Repeat (explore) recall is NaN for users whose target holds no repeat (new) item; such
    users are left out of its average.
    """
    hits = np.take_along_axis(target, ranked, axis=1)
    n_true = target.sum(axis=1).astype(np.float64)
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
        for name, seen in (("repeat", True), ("explore", False)):
            wanted = target & (history == seen)
            n_wanted = wanted.sum(axis=1).astype(np.float64)
            n_hit = (top & (ranked_history == seen)).sum(axis=1)
            out[f"recall@{SPLIT_K}_{name}"] = np.where(
                n_wanted > 0, n_hit / np.maximum(n_wanted, 1.0), np.nan
            )
    return out


def set_f1(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-user F1 between a predicted basket and the true one (both (n, I) bool)."""
    tp = (predicted & target).sum(axis=1).astype(np.float64)
    denom = predicted.sum(axis=1) + target.sum(axis=1)
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


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

    def add(self, predicted: np.ndarray, target: np.ndarray) -> None:
        self.tp += (predicted & target).sum(axis=0)
        self.fp += (predicted & ~target).sum(axis=0)
        self.fn += (~predicted & target).sum(axis=0)

    def f1_micro(self) -> float:
        tp, fp, fn = self.tp.sum(), self.fp.sum(), self.fn.sum()
        return float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else 0.0

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

    def result(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, parts in self.per_user.items():
            values = np.concatenate(parts)
            defined = values[~np.isnan(values)]
            out[key] = float(defined.mean()) if len(defined) else 0.0
        out["f1_micro"] = self.counts.f1_micro()
        out["f1_macro"] = self.counts.f1_macro()
        return {key: out[key] for key in METRIC_KEYS if key in out}
