"""The predicted basket: a sizing rule applied to each customer's scores.

``expected-f1`` keeps the prefix of the ranking that maximises expected F1 under independent
probabilities, computed exactly with the O(n^2) dynamic program of Ye et al. 2012, "Optimizing
F-measures: a tale of two approaches".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from basketcli.errors import ConfigError
from basketcli.evaluation.metrics import top_k
from basketcli.sizing import SizingRule

# Float64 cells of the dynamic program's table per chunk of customers (about 32 MiB).
_DP_CELLS_PER_CHUNK = 1 << 22


@dataclass(frozen=True, eq=False)
class Restriction:
    """What may be recommended: never the ``excluded`` products (delisted, out of stock);
    with ``only="new"`` only products the customer never bought (a discovery shelf), with
    ``only="repeat"`` only products they did. The same for every model, in `predict` as in
    `evaluate`, so that what a restriction costs can be measured."""

    excluded: np.ndarray | None = None  # (I,) bool: never recommended
    only: Literal["new", "repeat"] | None = None

    def allowed(self, bought: np.ndarray) -> np.ndarray:
        """(n, I) bool: what each customer may be recommended (``bought``: their history)."""
        allowed = ~bought if self.only == "new" else bought.copy() if self.only else \
            np.ones(bought.shape, dtype=bool)
        if self.excluded is not None:
            allowed &= ~self.excluded[None, :]
        return allowed

    def describe(self) -> str:
        parts = [{"new": "only products new to each customer",
                  "repeat": "only products each customer bought before"}[self.only]] \
            if self.only else []
        if self.excluded is not None and self.excluded.any():
            parts.append(f"{int(self.excluded.sum()):,} products excluded")
        return "; ".join(parts)


def restricted(scores: np.ndarray, allowed: np.ndarray, probabilities: bool
               ) -> tuple[np.ndarray, np.ndarray]:
    """(scores to rank by, scores to size baskets by) with what may not be recommended
    pushed below everything: -inf to rank; 0 to size probabilities (sizing rules need them in
    [0, 1]). Callers drop the picks that are not allowed."""
    ranking = np.where(allowed, scores, np.float32(-np.inf))
    return ranking, np.where(allowed, scores, np.float32(0.0)) if probabilities else ranking


def check_probabilities(scores: np.ndarray) -> None:
    # min and max are NaN when any score is, and NaN fails both comparisons.
    if scores.size and not (scores.min() >= 0 and scores.max() <= 1):
        raise ConfigError(
            "sizing by probability needs scores in [0, 1]; this model gives scores outside it "
            "(use --sizing top-k)"
        )


def select_basket(scores: np.ndarray, rule: SizingRule) -> np.ndarray:
    """(n, I) bool mask of the products each predicted basket holds."""
    n, n_items = scores.shape
    mask = np.zeros((n, n_items), dtype=bool)
    if rule.kind == "top-k":
        np.put_along_axis(mask, top_k(scores, rule.k), True, axis=1)
        return mask
    check_probabilities(scores)
    if rule.kind == "threshold":
        return scores >= rule.threshold
    if n == 0 or n_items == 0:
        return mask
    ranked = top_k(scores, rule.max_candidates)
    probs = np.take_along_axis(scores, ranked, axis=1)
    sizes, _ = expected_f1_sizes(probs, rule.none_option)
    keep = np.arange(ranked.shape[1])[None, :] < sizes[:, None]
    np.put_along_axis(mask, ranked, keep, axis=1)
    return mask


def expected_f1_sizes(
    sorted_probs: np.ndarray, none_option: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Best basket size per customer and whether to add 'None', from sorted probabilities.

    Without the None option the basket holds at least one product (a target basket is never
    empty). With it, the best of "top k" (k >= 1) and "top k plus None" (k >= 0) wins; a
    basket of only None holds no product. Ties go to the smaller basket.
    """
    plain, with_none = expected_f1_curve(sorted_probs, none_option)
    best_plain = np.argmax(plain[:, 1:], axis=1) + 1
    if with_none is None:
        return best_plain, np.zeros(len(best_plain), dtype=bool)
    best_none = np.argmax(with_none, axis=1)
    rows = np.arange(len(best_plain))
    use_none = with_none[rows, best_none] > plain[rows, best_plain]
    return np.where(use_none, best_none, best_plain), use_none


def expected_f1_curve(
    sorted_probs: np.ndarray, none_option: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Exact expected F1 of predicting the top k products, for every k = 0..n.

    ``sorted_probs``: (B, n) independent purchase probabilities, each row sorted descending.
    Returns (B, n + 1) expected F1 of the top-k basket and, with ``none_option``, (B, n + 1)
    expected F1 of the top k plus the 'None' token (which is right when nothing is bought).
    An empty prediction scores 0, as in ``metrics.set_f1``.

    Ye et al.'s dynamic program: C[k][j] = P(j of the first k products are bought), built
    forward; S_k[i] = E[1 / (i + Z_k)] with Z_k the purchases after position k, built
    backward; then E[F1(k)] = sum_j 2 j C[k][j] S_k[k + j]. Vectorised over customers; the
    only Python loops run over basket positions. Customers are processed in chunks so the
    (n + 1)^2 table per customer stays within a fixed memory budget.
    """
    probs = np.asarray(sorted_probs, dtype=np.float64)
    n_rows, n = probs.shape
    plain = np.zeros((n_rows, n + 1))
    with_none = np.zeros((n_rows, n + 1)) if none_option else None
    chunk = max(1, _DP_CELLS_PER_CHUNK // ((n + 1) * (n + 1)))
    for lo in range(0, n_rows, chunk):
        hi = min(lo + chunk, n_rows)
        _expected_f1_chunk(probs[lo:hi], plain[lo:hi],
                           None if with_none is None else with_none[lo:hi])
    return plain, with_none


def _expected_f1_chunk(p: np.ndarray, plain: np.ndarray, with_none: np.ndarray | None) -> None:
    rows, n = p.shape
    # Forward: counts[k, :, j] = P(exactly j purchases among the first k products).
    counts = np.zeros((n + 1, rows, n + 1))
    counts[0, :, 0] = 1.0
    for k in range(1, n + 1):
        pk = p[:, k - 1 : k]
        counts[k, :, : k + 1] = counts[k - 1, :, : k + 1] * (1.0 - pk)
        counts[k, :, 1 : k + 1] += counts[k - 1, :, :k] * pk
    p_nothing = counts[n, :, 0]  # P(no candidate is bought): the 'None' truth
    # Backward: inverse[:, i] = E[1 / (i + purchases after position k)], starting at k = n.
    width = 2 * n + 2
    index = np.arange(width, dtype=np.float64)
    inverse = np.broadcast_to(np.divide(1.0, index, out=np.zeros(width), where=index > 0),
                              (rows, width)).copy()
    twice_j = 2.0 * np.arange(n + 1)
    for k in range(n, -1, -1):
        weighted = counts[k, :, : k + 1] * twice_j[: k + 1]  # 2 j P(j hits in the top k)
        plain[:, k] = np.einsum("rj,rj->r", weighted, inverse[:, k : 2 * k + 1])
        if with_none is not None:
            # One more predicted item (the None token); it scores when nothing is bought.
            with_none[:, k] = (np.einsum("rj,rj->r", weighted, inverse[:, k + 1 : 2 * k + 2])
                               + 2.0 * p_nothing / (k + 2))
        if k > 0:
            # Only indices up to 2k are read from here on.
            pk = p[:, k - 1 : k]
            head, tail = inverse[:, : 2 * k], inverse[:, 1 : 2 * k + 1]
            inverse[:, : 2 * k] = head + pk * (tail - head)
