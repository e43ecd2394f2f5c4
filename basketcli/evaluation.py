"""Scoring a model on an evaluation set in batches of users and computing every metric."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from basketcli.data.basket_data import BasketData
from basketcli.data.split import EvalSet
from basketcli.errors import ConfigError, PluginLoadError
from basketcli.metrics import K_VALUES, MetricAccumulator, ranking_metrics, set_f1, top_k
from basketcli.protocol import BasketModel, ProgressFactory, silent_progress
from basketcli.sizing import SizingRule, select_basket

DEFAULT_THRESHOLD = 0.5
RANKING_BASKET = SizingRule(kind="top-k", k=10)


@dataclass(frozen=True)
class Variant:
    """Post-hoc settings evaluated on the same scores without re-scoring."""

    threshold: float = DEFAULT_THRESHOLD
    sizing: SizingRule | None = None  # None: the model's own rule


@dataclass
class Evaluation:
    metrics: dict[str, float]
    variant: Variant
    sizing_label: str
    score_seconds: float
    n_users: int


def presence_mask(data: BasketData) -> np.ndarray:
    """(users x items) bool: the items in any of each user's orders."""
    mask = np.zeros((data.n_users, data.n_items), dtype=bool)
    mask[data.line_user(), data.items] = True
    return mask


def scored_batches(
    model: BasketModel, eval_set: EvalSet, batch_size: int = 512,
    progress: ProgressFactory = silent_progress,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (scores, target mask, history mask) for consecutive batches of users."""
    n_users = eval_set.n_users
    model.prepare_scoring(eval_set.history)
    with progress(f"scoring {model.name}", n_users) as task:
        for start in range(0, n_users, batch_size):
            users = np.arange(start, min(start + batch_size, n_users))
            history = eval_set.history.select_users(users)
            scores = np.asarray(model.score(history), dtype=np.float32)
            expected = (len(users), eval_set.history.n_items)
            if scores.shape != expected:
                raise PluginLoadError(
                    f"model {model.name} returned scores of shape {scores.shape}, "
                    f"expected {expected}"
                )
            if not np.isfinite(scores).all():
                raise PluginLoadError(f"model {model.name} returned NaN or infinite scores")
            yield scores, presence_mask(eval_set.target.select_users(users)), presence_mask(history)
            task.advance(len(users))


def evaluate_model(
    model: BasketModel, eval_set: EvalSet, variants: Sequence[Variant] = (Variant(),),
    batch_size: int = 512, progress: ProgressFactory = silent_progress,
) -> list[Evaluation]:
    """Every metric of ``model`` on ``eval_set``, once per post-hoc variant."""
    rules = [v.sizing or model.default_sizing() for v in variants]
    for rule in rules:
        if rule.needs_probabilities and not model.gives_probabilities:
            raise ConfigError(
                f"model {model.name} ranks but gives no probabilities: use --sizing top-k"
            )
    n_items = eval_set.history.n_items
    ranking = MetricAccumulator(n_items)
    per_variant = [MetricAccumulator(n_items) for _ in variants]
    started = time.perf_counter()
    for scores, target, history in scored_batches(model, eval_set, batch_size, progress):
        ranked = top_k(scores, max(K_VALUES))
        ranking.add_per_user(ranking_metrics(ranked, target, history))
        for variant, rule, acc in zip(variants, rules, per_variant, strict=True):
            # Products above the threshold for probabilistic models; a ranker's top 10 otherwise.
            predicted = (
                scores >= variant.threshold if model.gives_probabilities
                else _basket(scores, ranked, RANKING_BASKET)
            )
            acc.counts.add(predicted, target)
            acc.add_per_user({"basket_f1": set_f1(_basket(scores, ranked, rule), target)})
    seconds = time.perf_counter() - started
    shared = ranking.result()
    results = []
    for variant, rule, acc in zip(variants, rules, per_variant, strict=True):
        metrics = {**shared, **acc.result()}
        ordered = {k: metrics[k] for k in _ordered_keys(metrics)}
        results.append(Evaluation(ordered, variant, rule.label(), seconds, eval_set.n_users))
    return results


def _basket(scores: np.ndarray, ranked: np.ndarray, rule: SizingRule) -> np.ndarray:
    """The predicted basket; a top-k rule reuses the ranking already computed for the metrics."""
    if rule.kind == "top-k" and rule.k <= ranked.shape[1]:
        mask = np.zeros(scores.shape, dtype=bool)
        np.put_along_axis(mask, ranked[:, : rule.k], True, axis=1)
        return mask
    return select_basket(scores, rule)


def _ordered_keys(metrics: dict[str, float]) -> list[str]:
    from basketcli.metrics import METRIC_KEYS

    return [k for k in METRIC_KEYS if k in metrics]
