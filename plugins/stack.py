"""Stack: other models' scores combined by a small learned ranker (stacked generalisation).

The base models (registered names, default settings unless ``base_settings`` says otherwise)
are fitted on the training baskets and score the validation histories; a combiner (gradient-
boosted trees, shallow) learns from those scores which of each customer's candidates land in the
validation target. The candidates are every base model's best ``candidates`` products per
customer; a candidate's features are, per base model, its score, its score over the customer's
best and its rank. The test target is never read: to score, the base models are fitted again on
the histories being scored (``prepare_scoring``: for the test split, every basket but the last)
and the combiner is applied to their scores.

The combiner must earn its place: the validation customers are cut in two halves; a combiner
fitted on one half is compared on the other with the best base model (ndcg@10, both ways). If it
is not better on average, the stack falls back to the best base model's own scores.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from basketcli.artifacts import load_bundle, save_bundle
from basketcli.data.basket_data import BasketData
from basketcli.data.split import EvalSet
from basketcli.errors import ArtifactError, ConfigError
from basketcli.evaluation.metrics import ranking_metrics, top_k
from basketcli.protocol import BasketModel, FitContext, FitReport, ModelConfig, search
from basketcli.registry import create_model, get_model_class
from basketcli_models.submodels import fit_submodels

COMBINER_FILE = "combiner.ubj"
BLOCK = 256  # customers scored at once
FOLDS = 2


class StackConfig(ModelConfig):
    models: list[str] = Field(
        ["xgboost", "tifuknn", "upcf", "taiw"], min_length=1,
        description="registered models whose scores are combined")
    base_settings: dict[str, dict[str, Any]] = Field(
        {}, description="settings of base models by name, e.g. {\"xgboost\": {\"max_depth\": 4}}")
    candidates: int = Field(30, ge=1, le=500, description="each base model's best products "
                            "per customer that the combiner ranks",
                            json_schema_extra=search(10, 100, log=True))
    rounds: int = Field(300, ge=1, description="most boosting rounds of the combiner")
    max_depth: int = Field(3, ge=1, le=10, description="deepest split of a combiner tree",
                           json_schema_extra=search(2, 6))
    learning_rate: float = Field(0.05, gt=0, le=1, description="shrinkage of the combiner",
                                 json_schema_extra=search(0.01, 0.3, log=True))

    @field_validator("models")
    @classmethod
    def _no_repeats(cls, names: list[str]) -> list[str]:
        if "stack" in names:
            raise ValueError("a stack cannot stack itself")
        if len(set(names)) < len(names):
            raise ValueError("a model is named twice")
        return names


class Stack(BasketModel):
    """Stack: other models' scores combined by boosted trees, or its best base alone when they do not beat it on validation."""  # noqa: E501

    def stands_for(self) -> str | None:
        return self.config.models[self.fallback] if self.bases and self.combiner is None \
            else None

    name = "stack"
    Config = StackConfig

    def __init__(self, config: StackConfig | None = None) -> None:
        super().__init__(config)
        self.bases: list[BasketModel] = []  # fitted on the training baskets
        self.scoring_bases: list[BasketModel] | None = None  # on the histories being scored
        self.combiner: Any = None  # xgboost.Booster, or None: the fallback
        self.fallback = 0  # the best base model (index), used when the combiner is not better
        self.catalog = None

    # --- fit -----------------------------------------------------------------------------------
    def fit(self, train: BasketData, valid: EvalSet | None, ctx: FitContext) -> FitReport:
        cfg = self.config
        if valid is None or not valid.n_users:
            raise ConfigError("stack: the combiner learns from the validation targets; give "
                              "data with a validation target per customer")
        self._check_models()
        self.catalog = ctx.catalog
        self.bases = self._fitted(train, valid, ctx)
        rows = self._candidates(self.bases, valid.history)
        labels = _labels(rows, valid.target)
        # A fixed half of the customers each, by their place in id order: the same halves
        # whatever kind the ids are (integers, text).
        fold = np.arange(valid.history.n_users) % FOLDS
        gains, base_gains = [], []
        for held in range(FOLDS):
            inside = fold[rows.user] != held
            booster = self._boost(rows.features[inside], labels[inside])
            out = ~inside
            gains.append(_ndcg(rows, out, _predict(booster, rows.features[out]), valid.target))
            base_gains.append([_ndcg(rows, out, rows.features[out, 3 * m], valid.target)
                               for m in range(len(self.bases))])
        base_mean = np.mean(base_gains, axis=0)
        self.fallback = int(np.argmax(base_mean))
        combined = float(np.mean(gains))
        self.combiner = self._boost(rows.features, labels) if combined > base_mean.max() else None
        ctx.log(f"stack: combiner ndcg@10 {combined:.4f} on held-out validation customers, "
                f"best base ({cfg.models[self.fallback]}) {base_mean.max():.4f}: "
                + ("combining" if self.combiner is not None else "falling back to it"))
        return FitReport(info={
            "combiner_valid_ndcg@10": combined,
            "base_valid_ndcg@10": dict(zip(cfg.models, base_mean.tolist(), strict=True)),
            "uses": "combiner" if self.combiner is not None else cfg.models[self.fallback],
            "rows": int(len(labels)), "positives": int(labels.sum()),
        })

    def _check_models(self) -> None:
        for name in self.config.models:
            get_model_class(name)  # an unknown or broken model: one line, before any fit
        unknown = set(self.config.base_settings) - set(self.config.models)
        if unknown:
            raise ConfigError(f"stack: base_settings names {', '.join(sorted(unknown))}, "
                              "which models does not list")

    def _fitted(self, histories: BasketData, valid: EvalSet | None,
                ctx: FitContext) -> list[BasketModel]:
        models = [(name, self.config.base_settings.get(name)) for name in self.config.models]
        return fit_submodels(models, histories, valid, replace(ctx, catalog=self.catalog))

    def _boost(self, features: np.ndarray, labels: np.ndarray) -> Any:
        import xgboost

        cfg = self.config
        params = {"objective": "binary:logistic", "eta": cfg.learning_rate,
                  "max_depth": cfg.max_depth, "subsample": 0.8, "min_child_weight": 5,
                  "seed": cfg.seed, "verbosity": 0, "nthread": os.cpu_count() or 1}
        return xgboost.train(params, xgboost.DMatrix(features, label=labels),
                             num_boost_round=cfg.rounds)

    # --- candidates and their features ---------------------------------------------------------
    def _candidates(self, bases: list[BasketModel], histories: BasketData) -> _Rows:
        """Every base model's best products of each customer, with each model's score, score
        over the customer's best, and rank (candidates + 1 when not in its list)."""
        cfg = self.config
        users, items, blocks = [], [], []
        for lo in range(0, histories.n_users, BLOCK):
            block = histories.select_users(np.arange(lo, min(lo + BLOCK, histories.n_users)))
            scores = [np.asarray(m.score(block), dtype=np.float32) for m in bases]
            n = min(cfg.candidates, block.n_items)
            ranked = [top_k(s, n) for s in scores]
            chosen = np.zeros((block.n_users, block.n_items), dtype=bool)
            for r in ranked:
                np.put_along_axis(chosen, r, True, axis=1)
            rows, cols = np.nonzero(chosen)
            columns = []
            for s, r in zip(scores, ranked, strict=True):
                best = s.max(axis=1, keepdims=True)
                rank = np.full(s.shape, n + 1, dtype=np.float32)
                np.put_along_axis(rank, r, np.arange(1, n + 1, dtype=np.float32)[None, :],
                                  axis=1)
                relative = np.divide(s, best, out=np.zeros_like(s), where=best > 0)
                columns += [s[rows, cols], relative[rows, cols], rank[rows, cols]]
            users.append(rows + lo)
            items.append(cols)
            blocks.append(np.column_stack(columns))
        return _Rows(np.concatenate(users), np.concatenate(items), np.concatenate(blocks))

    # --- score ---------------------------------------------------------------------------------
    def prepare_scoring(self, histories: BasketData) -> None:
        if self.combiner is None:
            # Falling back, the stack is its best base model, scored as that model scores.
            self.bases[self.fallback].prepare_scoring(histories)
            return
        # The base models learn again from the histories being scored (for the test split:
        # every basket but the last), as they learnt from the training baskets before the
        # validation target that the combiner was fitted on; each history's last basket is
        # their validation target (early stopping), as the validation target was then.
        self.scoring_bases = self._fitted(histories, _last_basket_held_out(histories),
                                          FitContext())

    def score(self, histories: BasketData) -> np.ndarray:
        if not self.bases:
            raise ArtifactError("stack: score called before fit or load")
        bases = self.scoring_bases or self.bases
        if self.combiner is None:
            return np.asarray(bases[self.fallback].score(histories), dtype=np.float32)
        rows = self._candidates(bases, histories)
        # Candidates above every other product, ranked by the combiner; the rest in the best
        # base model's order, far below.
        fallback = np.asarray(bases[self.fallback].score(histories), dtype=np.float32)
        low, high = fallback.min(), fallback.max()
        out = (fallback - low) / max(float(high - low), 1e-12) * np.float32(1e-3)
        out[rows.user, rows.item] = 1.0 + _predict(self.combiner, rows.features)
        return out.astype(np.float32)

    # --- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory = Path(directory)
        for i, base in enumerate(self.bases):
            folder = directory / f"base{i}-{self.config.models[i]}"
            folder.mkdir(parents=True, exist_ok=True)
            base.save(folder)
        blobs = {COMBINER_FILE: bytes(self.combiner.save_raw("ubj"))} if self.combiner else {}
        save_bundle(directory, {"fallback": self.fallback, "models": self.config.models},
                    None, blobs)

    @classmethod
    def load(cls, directory: Path, config: StackConfig) -> Stack:
        import xgboost

        directory = Path(directory)
        bundle = load_bundle(directory)
        if bundle.meta.get("models") != config.models:
            raise ArtifactError(f"{directory}: stacks other models than its config names; "
                                "train the model again")
        model = cls(config)
        model.fallback = int(bundle.meta.get("fallback", 0))
        for i, name in enumerate(config.models):
            base_cls = get_model_class(name)
            base_config = create_model(name, config.base_settings.get(name)).config
            model.bases.append(base_cls.load(directory / f"base{i}-{name}", base_config))
        if COMBINER_FILE in bundle.blobs:
            model.combiner = xgboost.Booster()
            model.combiner.load_model(bytearray(bundle.blobs[COMBINER_FILE]))
        return model


def _last_basket_held_out(histories: BasketData) -> EvalSet:
    counts = histories.orders_per_user()
    from_end = np.repeat(counts, counts) - histories.order_rank()  # 1: the latest
    return EvalSet(history=histories.select_orders(from_end > 1),
                   target=histories.select_orders(from_end == 1))


class _Rows:
    """Candidate rows: (customer, product) and their features, customers in order."""

    def __init__(self, user: np.ndarray, item: np.ndarray, features: np.ndarray) -> None:
        self.user, self.item, self.features = user, item, features.astype(np.float32)


def _labels(rows: _Rows, target: BasketData) -> np.ndarray:
    return target.bought_mask()[rows.user, rows.item].astype(np.float32)


def _predict(booster: Any, features: np.ndarray) -> np.ndarray:
    import xgboost

    return booster.predict(xgboost.DMatrix(features))


def _ndcg(rows: _Rows, mask: np.ndarray, values: np.ndarray, target: BasketData) -> float:
    """Mean ndcg@10 of the customers in ``mask``'s rows, ranking their candidates by
    ``values`` (the other products never reach their top 10)."""
    users = np.unique(rows.user[mask])
    if not len(users):
        return 0.0
    scores = np.full((len(users), target.n_items), -np.inf, dtype=np.float32)
    place = np.searchsorted(users, rows.user[mask])
    scores[place, rows.item[mask]] = values
    truth = target.select_users(users).bought_mask()
    return float(ranking_metrics(top_k(scores, 10), truth)["ndcg@10"].mean())
