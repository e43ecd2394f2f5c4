"""How sure a metric is: bootstrap intervals over customers, p-values and Holm's adjustment.

A table's metric is a mean over customers (or, for f1_micro, a ratio of sums over customers),
so its uncertainty comes from which customers happened to be in the data. The bootstrap draws
the customers again with replacement, ``resamples`` times, and recomputes the metric; the 2.5th
and 97.5th percentiles of those values are its 95% interval (percentile bootstrap).

Models are compared on the *same* resamples (a paired bootstrap): the interval of the
difference of two models' means comes from the per-resample differences, so the customer-to-
customer variation both models share cancels. The paired bootstrap is used rather than a
Wilcoxon signed-rank test because it tests the quantity the table shows (the difference of the
means), copes with the many customers whose metric is the same under both models (ties at
zero, which Wilcoxon drops), and gives an interval, not only a p-value. Its two-sided p-value is
twice the smaller share of resampled differences on either side of zero; with several models
compared against one reference, the p-values are Holm-adjusted before the verdict, and each
difference's interval is widened to the level Holm tested it at (``holm_levels``), so that an
interval clear of zero and a significant verdict always go together.

Resamples are drawn as counts (how often each customer is drawn) a block at a time, and every
mean of every model and metric is one matrix product with those counts: no Python loop runs per
resample or per customer.
"""

from __future__ import annotations

import numpy as np

CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 1000
BLOCK_CELLS = 1 << 23  # resample counts held at once (resamples x customers)
VERDICTS = ("better", "worse", "no significant difference")


def resampled_sums(values: np.ndarray, resamples: int, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(sums, counts) of each column of ``values`` (customers x columns; NaN: undefined for
    that customer) over ``resamples`` bootstrap resamples of the customers: two (resamples x
    columns) arrays. The same seed and number of customers give the same resamples, whatever
    the columns, so columns resampled in separate calls stay paired."""
    values = np.asarray(values, dtype=np.float64)
    n, columns = values.shape
    defined = ~np.isnan(values)
    filled = np.where(defined, values, 0.0)
    rng = np.random.default_rng(seed)
    block = max(1, BLOCK_CELLS // max(n, 1))
    sums = np.empty((resamples, columns))
    counts = np.empty((resamples, columns))
    for lo in range(0, resamples, block):
        size = min(block, resamples - lo)
        picks = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        drawn = np.bincount(picks.ravel(), minlength=size * n).reshape(size, n)
        drawn = drawn.astype(np.float64)
        sums[lo:lo + size] = drawn @ filled
        counts[lo:lo + size] = drawn @ defined
    return sums, counts


def means(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The mean of each column over its defined customers, per resample, from
    ``resampled_sums`` (NaN where a resample holds no defined customer)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def interval(resampled: np.ndarray, confidence: float = CONFIDENCE) -> np.ndarray:
    """The percentile interval of each column of resampled statistics: (columns x 2)."""
    tail = (1 - confidence) / 2 * 100
    return np.nanpercentile(resampled, [tail, 100 - tail], axis=0).T


def p_value(differences: np.ndarray) -> float:
    """Two-sided bootstrap p-value of a difference being zero."""
    differences = differences[~np.isnan(differences)]
    if len(differences) == 0:
        return 1.0
    below, above = np.mean(differences <= 0), np.mean(differences >= 0)
    return float(min(1.0, 2 * min(below, above)))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of several p-values (same order as given)."""
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(len(p_values))
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def holm_levels(p_values: list[float], level: float = 1 - CONFIDENCE) -> list[float]:
    """The error level Holm's procedure tests each p-value at (same order as given): the k-th
    smallest at ``level / (m - k)`` until the first one it keeps, and every later one at that
    one's level. An interval of confidence 1 - this level clears zero exactly when the Holm
    verdict is significant, so the table's interval and verdict never disagree."""
    order = np.argsort(p_values, kind="stable")
    levels = np.empty(len(p_values))
    current, stopped = level, False
    for rank, index in enumerate(order):
        if not stopped:
            current = level / (len(p_values) - rank)
            stopped = p_values[index] >= current
        levels[index] = current
    return levels.tolist()


def verdict(difference: float, adjusted_p: float, level: float = 1 - CONFIDENCE) -> str:
    if adjusted_p < level and difference > 0:
        return VERDICTS[0]
    if adjusted_p < level and difference < 0:
        return VERDICTS[1]
    return VERDICTS[2]
