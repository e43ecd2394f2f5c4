"""Models compared on the same customers: every model's metrics over the same bootstrap
resamples, their 95% intervals, and each model's paired difference from the best reference
with Holm-adjusted verdicts (``bootstrap`` says why a paired bootstrap). It returns values; the
workflows put them into their results."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from basketcli.evaluation import bootstrap
from basketcli.evaluation.metrics import f1_from_counts

COUNT_KEYS = ("_tp", "_fp", "_fn")  # f1_micro's per-customer counts


class Versus(BaseModel):
    """A model against the run's reference on one metric (difference = model - reference)."""

    reference: str
    difference: float
    low: float  # the paired bootstrap interval of the difference, at ``confidence``
    high: float
    confidence: float = 0.95  # 0.95 split by Holm over the models compared (holm_levels)
    p_value: float  # Holm-adjusted over the models compared with this reference
    verdict: str  # better, worse or no significant difference


def resample(per_user: list[dict[str, np.ndarray]], keys: list[str], resamples: int,
             seed: int) -> list[dict[str, np.ndarray]]:
    """Each model's metrics ``keys``, and f1_micro from its per-customer counts, over the same
    ``resamples`` draws of the customers: one (resamples,) array per model and metric, paired
    across models. ``per_user``: each model's per-customer metrics (NaN: undefined)."""
    columns = [*keys, *COUNT_KEYS]
    matrix = np.column_stack([values[k] for values in per_user for k in columns])
    sums, counts = bootstrap.resampled_sums(matrix, resamples, seed)
    width = len(columns)
    resampled = []
    for i in range(len(per_user)):
        part_sums = sums[:, i * width:(i + 1) * width]
        means = bootstrap.means(part_sums, counts[:, i * width:(i + 1) * width])
        values = {k: means[:, j] for j, k in enumerate(keys)}
        tp, fp, fn = (part_sums[:, len(keys) + j] for j in range(len(COUNT_KEYS)))
        values["f1_micro"] = f1_from_counts(tp, fp, fn)
        resampled.append(values)
    return resampled


def intervals(resampled: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """The 95% percentile interval of each of one model's resampled metrics."""
    bounds = bootstrap.interval(np.column_stack(list(resampled.values())))
    return {k: (float(lo), float(hi)) for k, (lo, hi) in zip(resampled, bounds, strict=True)}


def against_best(key: str, observed: list[dict[str, float]],
                 resampled: list[dict[str, np.ndarray]], candidates: list[int],
                 names: list[str]) -> dict[int, Versus]:
    """Every model against the best of ``candidates`` (indices) on ``key``: paired differences
    of the resampled means, Holm-adjusted over the models compared, each difference's interval
    at the level Holm tested it at. ``observed``: each model's metrics on all customers."""
    if not candidates or key not in observed[0]:
        return {}
    ref = max(candidates, key=lambda i: observed[i][key])
    others = [i for i in range(len(observed)) if i != ref]
    differences = [resampled[i][key] - resampled[ref][key] for i in others]
    p_values = [bootstrap.p_value(d) for d in differences]
    adjusted, levels = bootstrap.holm(p_values), bootstrap.holm_levels(p_values)
    compared = {}
    for i, diff, p, level in zip(others, differences, adjusted, levels, strict=True):
        difference = observed[i][key] - observed[ref][key]
        low, high = bootstrap.interval(diff[:, None], confidence=1 - level)[0]
        compared[i] = Versus(
            reference=names[ref], difference=difference, low=float(low), high=float(high),
            confidence=1 - level, p_value=p, verdict=bootstrap.verdict(difference, p))
    return compared
