"""Scoring a model on an evaluation set in batches of users and computing every metric.

Under ``basket train --distributed`` every rank can score its own share of the users
(``across_ranks``): the shares' tallies are exchanged and every rank computes the same metrics,
equal to those of one process scoring them all (shares are whole batches, in order).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from basketcli.data.split import EvalSet
from basketcli.engine import ranks
from basketcli.errors import ConfigError, ModelError
from basketcli.evaluation.metrics import (
    K_VALUES,
    METRIC_KEYS,
    MetricAccumulator,
    ranking_metrics,
    set_f1,
    top_k,
)
from basketcli.evaluation.selection import Restriction, restricted, select_basket
from basketcli.protocol import BasketModel, ProgressFactory, silent_progress
from basketcli.sizing import SizingRule

DEFAULT_THRESHOLD = 0.5
RANKING_BASKET = SizingRule(kind="top-k", k=10)


@dataclass(frozen=True)
class Variant:
    """Post-hoc settings evaluated on the same scores without re-scoring."""

    threshold: float | None = None  # None: the model's own (its config's), else 0.5
    sizing: SizingRule | None = None  # None: the model's own rule


def threshold_of(variant: Variant, model: BasketModel) -> float | None:
    """The probability threshold f1_micro/f1_macro use for ``model`` (None for a ranker,
    whose predicted basket is its top 10)."""
    if not model.gives_probabilities:
        return None
    if variant.threshold is not None:
        return variant.threshold
    return float(getattr(model.config, "threshold", DEFAULT_THRESHOLD))


@dataclass
class Evaluation:
    metrics: dict[str, float]
    variant: Variant
    sizing_label: str
    score_seconds: float
    n_users: int
    # Each per-customer metric (NaN where undefined), and f1_micro's per-customer counts
    # (_tp, _fp, _fn), for intervals and paired comparisons (basketcli.evaluation.bootstrap).
    per_user: dict[str, np.ndarray]


def scored_batches(
    model: BasketModel, eval_set: EvalSet, batch_size: int = 512,
    progress: ProgressFactory = silent_progress, share: range | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (scores, target mask, history mask) for consecutive batches of users (of the
    users in ``share`` only, when given)."""
    share = range(eval_set.n_users) if share is None else share
    model.prepare_scoring(eval_set.history)
    with progress(f"scoring {model.name}", len(share)) as task:
        for start in range(share.start, share.stop, batch_size):
            users = np.arange(start, min(start + batch_size, share.stop))
            history = eval_set.history.select_users(users)
            scores = np.asarray(model.score(history), dtype=np.float32)
            expected = (len(users), eval_set.history.n_items)
            if scores.shape != expected:
                raise ModelError(
                    f"model {model.name} returned scores of shape {scores.shape}, "
                    f"expected {expected}"
                )
            if not np.isfinite(scores).all():
                raise ModelError(f"model {model.name} returned NaN or infinite scores")
            yield scores, eval_set.target.select_users(users).bought_mask(), history.bought_mask()
            task.advance(len(users))


def evaluate_model(
    model: BasketModel, eval_set: EvalSet, variants: Sequence[Variant] = (Variant(),),
    batch_size: int = 512, progress: ProgressFactory = silent_progress,
    across_ranks: bool = False, restriction: Restriction | None = None,
) -> list[Evaluation]:
    """Every metric of ``model`` on ``eval_set``, once per post-hoc variant; of what it may
    recommend under ``restriction`` (None: anything).

    With ``across_ranks`` inside a process group, every rank must call it (with the same
    model weights): each scores its share of the users and all return the same metrics.
    """
    rules = [v.sizing or model.default_sizing() for v in variants]
    for rule in rules:
        if rule.needs_probabilities and not model.gives_probabilities:
            raise ConfigError(
                f"model {model.name} ranks but gives no probabilities: use --sizing top-k"
            )
    started = time.perf_counter()
    if across_ranks and ranks.active():
        group = ranks.Ranks(enabled=True)
        share = rank_share(eval_set.n_users, batch_size, group.rank, group.size)
        tallies = ranks.gather_from_all(
            lambda: _tally(model, eval_set, variants, rules, batch_size, progress, share,
                           restriction))
        tally = tallies[0]
        for other in tallies[1:]:
            tally.absorb(other)
    else:
        tally = _tally(model, eval_set, variants, rules, batch_size, progress,
                       restriction=restriction)
    seconds = time.perf_counter() - started
    shared = tally.ranking.result()
    results = []
    for variant, rule, acc in zip(variants, rules, tally.variants, strict=True):
        metrics = {**shared, **acc.result()}
        ordered = {k: metrics[k] for k in METRIC_KEYS if k in metrics}
        per_user = {**tally.ranking.values(), **acc.values()}
        results.append(Evaluation(ordered, variant, rule.label(), seconds, eval_set.n_users,
                                  per_user))
    return results


@dataclass
class _Tally:
    """What scoring some of the users adds up to: the ranking metrics and, per variant, the
    basket metrics. Tallies of consecutive shares of the users add up to the whole set's."""

    ranking: MetricAccumulator
    variants: list[MetricAccumulator]

    def absorb(self, later: _Tally) -> None:
        """Add the tally of the users that come after this one's."""
        self.ranking.absorb(later.ranking)
        for mine, theirs in zip(self.variants, later.variants, strict=True):
            mine.absorb(theirs)


def _tally(
    model: BasketModel, eval_set: EvalSet, variants: Sequence[Variant],
    rules: Sequence[SizingRule], batch_size: int, progress: ProgressFactory,
    share: range | None = None, restriction: Restriction | None = None,
) -> _Tally:
    n_items = eval_set.history.n_items
    tally = _Tally(MetricAccumulator(n_items), [MetricAccumulator(n_items) for _ in variants])
    batches = scored_batches(model, eval_set, batch_size, progress, share)
    for scores, target, history in batches:
        allowed = restriction.allowed(history) if restriction is not None else None
        ranking = scores
        if allowed is not None:
            ranking, scores = restricted(scores, allowed, model.gives_probabilities)
        ranked = top_k(ranking, max(K_VALUES))
        tally.ranking.add_per_user(ranking_metrics(ranked, target, history, allowed))
        for variant, rule, acc in zip(variants, rules, tally.variants, strict=True):
            # Products above the threshold for probabilistic models; a ranker's top 10 otherwise.
            cut = threshold_of(variant, model)
            predicted = (scores >= cut if cut is not None
                         else _basket(scores, ranked, RANKING_BASKET))
            basket = _basket(scores, ranked, rule)
            if allowed is not None:
                predicted, basket = predicted & allowed, basket & allowed
            acc.add_per_user({**acc.counts.add(predicted, target),
                              "basket_f1": set_f1(basket, target)})
    return tally


def target_repeat_share(eval_set: EvalSet) -> float:
    """The share of each customer's target products bought before, averaged over customers
    (the "repeat ratio" of the targets: 1.0 means nothing new is ever bought)."""
    history, target = eval_set.history, eval_set.target
    n_items = history.n_items
    seen = np.unique(history.line_user().astype(np.int64) * n_items + history.items)
    wanted = target.line_user().astype(np.int64) * n_items + target.items
    repeat = np.isin(wanted, seen, assume_unique=False).astype(np.float64)
    users = target.line_user()
    sizes = np.bincount(users, minlength=target.n_users)
    shares = np.bincount(users, weights=repeat, minlength=target.n_users) / np.maximum(sizes, 1)
    return float(shares[sizes > 0].mean()) if (sizes > 0).any() else 0.0


def rank_share(n_users: int, batch_size: int, rank: int, size: int) -> range:
    """The users one of ``size`` ranks scores: a run of whole batches (the same batches one
    process would score, so the scores are the same), as even as batches allow."""
    batches = -(-n_users // batch_size)
    first, last = (batches * r // size for r in (rank, rank + 1))
    return range(min(first * batch_size, n_users), min(last * batch_size, n_users))


def _basket(scores: np.ndarray, ranked: np.ndarray, rule: SizingRule) -> np.ndarray:
    """The predicted basket; a top-k rule reuses the ranking already computed for the metrics."""
    if rule.kind == "top-k" and rule.k <= ranked.shape[1]:
        mask = np.zeros(scores.shape, dtype=bool)
        np.put_along_axis(mask, ranked[:, : rule.k], True, axis=1)
        return mask
    return select_basket(scores, rule)

