"""Gradient-boosted trees over (customer, product) candidates, as the Instacart competition was won.

Candidates are the products of each customer's history (plus, optionally, popular products they
never bought); each candidate row carries the features of ``plugins.features``. Training rows
come from several past target orders per customer (each with the features of the history
before it); XGBoost (``binary:logistic``, ``hist``) learns whether the candidate is in the
target basket and stops early on the validation targets. Scores are probabilities, so basket
sizing by expected F1 (the default) works on them.

Scores of products that are not candidates: 1e-6 x the product's share of baskets. That keeps
them inside [0, 1] and below any candidate's model probability in practice, so a top-k list of a
customer with few candidates is filled by popularity, and expected-F1 sizing all but ignores
them.

This module imports neither xgboost nor pandas at import time (``basket models`` stays light);
``import xgboost`` inside ``_xgboost`` is absolute, so it finds the library, not this module.
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
from basketcli.errors import ArtifactError, ConfigError
from basketcli.protocol import BasketModel, FitContext, FitReport, ModelConfig, search
from basketcli.registry import create_model
from basketcli.sizing import SizingRule, parse_sizing
from plugins.features import (
    FEATURE_NAMES,
    FEATURE_SET_VERSION,
    ProductStats,
    build_candidates,
    item_attributes,
    labels,
    training_levels,
)
from plugins.neighbours import NeighbourCells, fit_models, score_cells
from plugins.neighbours import feature_names as neighbour_features
from plugins.xgboost_dask import NO_ROWS, Boosted, boost_on_dask

MODEL_FILE = "model.ubj"  # XGBoost's own UBJSON format: data only, never code
FILLER_SCALE = 1e-6  # non-candidates score FILLER_SCALE x basket share
TOP_FEATURES = 20


class XGBoostConfig(ModelConfig):
    n_estimators: int = Field(600, ge=1, description="most boosting rounds (early stopping "
                              "usually ends sooner)")
    learning_rate: float = Field(0.05, gt=0, le=1, description="eta: shrinkage of each tree",
                                 json_schema_extra=search(0.01, 0.3, log=True))
    max_depth: int = Field(6, ge=1, le=32, description="deepest split of a tree",
                           json_schema_extra=search(3, 10))
    min_child_weight: float = Field(5.0, ge=0, description="least hessian sum in a leaf",
                                    json_schema_extra=search(1.0, 50.0, log=True))
    subsample: float = Field(0.8, gt=0, le=1, description="share of rows each tree sees",
                             json_schema_extra=search(0.5, 1.0))
    colsample_bytree: float = Field(0.8, gt=0, le=1, description="share of features each tree "
                                    "sees", json_schema_extra=search(0.5, 1.0))
    reg_lambda: float = Field(1.0, ge=0, description="L2 penalty on leaf weights",
                              json_schema_extra=search(0.1, 10.0, log=True))
    pos_weight: float = Field(1.0, gt=0, description="scale_pos_weight: weight of a purchased "
                              "product (1 keeps probabilities calibrated for expected-F1 sizing)")
    early_stopping_rounds: int = Field(30, ge=0, description="stop after this many rounds "
                                       "without a better validation log-loss (0: never)")
    explore_candidates: int = Field(
        0, ge=0, description="also score this many products the customer never bought: those "
        "the first of `neighbours` scores best (the most popular without neighbours)",
        json_schema_extra=search(choices=[0, 10, 30]))
    neighbours: list[str] = Field(
        [], description="registered models (such as tifuknn, upcf, taiw) whose scores of each "
        "candidate are features: what customers like this one buy; fitted on the histories "
        "of every training level and of the customers scored")
    train_targets: int = Field(6, ge=1, description="past target orders per customer that "
                               "training rows are built from (6: the better validation recall "
                               "and ndcg on both bundled data sets than 3, 10)",
                               json_schema_extra=search(1, 12))
    chunk_customers: int = Field(20_000, ge=1, description="customers whose candidate rows are "
                                 "built at once (memory against speed)")
    n_threads: int | None = Field(None, ge=1, description="XGBoost threads (default: the "
                                  "framework's thread count)")
    sizing: SizingRule = Field(SizingRule(kind="expected-f1"), description="basket sizing rule: "
                               "expected-f1[:CAP][:none], top-k[:K] or threshold[:T]")
    threshold: float = Field(0.5, ge=0, le=1, description="probability cut for f1_micro/f1_macro")

    @field_validator("sizing", mode="before")
    @classmethod
    def _parse_sizing(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_sizing(value)
            except ConfigError as exc:
                raise ValueError(exc.message.removeprefix("--sizing ")) from None
        return value


def feature_names(config: XGBoostConfig) -> list[str]:
    """The model's features: the candidate features, then the neighbour models' scores."""
    return [*FEATURE_NAMES, *neighbour_features(config.neighbours)]


class XGBoostModel(BasketModel):
    """Gradient-boosted trees on customer x product features (Instacart-winning recipe)."""

    name = "xgboost"
    Config = XGBoostConfig
    gives_probabilities = True
    trains_on_dask = True  # fit honours FitContext.dask_scheduler

    def __init__(self, config: XGBoostConfig | None = None) -> None:
        super().__init__(config)
        self.booster = None  # xgboost.Booster once fitted or loaded
        self.fit_stats: ProductStats | None = None  # population statistics of the training data
        self.scoring_stats: ProductStats | None = None  # refreshed by prepare_scoring
        self.aisle = np.zeros(0, dtype=np.int64)
        self.department = np.zeros(0, dtype=np.int64)
        self.features = feature_names(self.config)
        self.neighbour_models: list[BasketModel] = []  # fitted on the training customers
        self.scoring_neighbours: list[BasketModel] | None = None  # on the customers scored

    # --- training -----------------------------------------------------------------------------
    def fit(self, train: BasketData, valid, ctx: FitContext) -> FitReport:
        cfg = self.config
        self.aisle, self.department = item_attributes(ctx.catalog, train.item_ids)
        self.fit_stats = ProductStats.from_histories(train)
        self.scoring_stats = None
        # Each level: the histories before one past target order, its targets, and the
        # population statistics of those histories.
        self.features = feature_names(cfg)
        levels = [(hist, target, ProductStats.from_histories(hist),
                   self._neighbour_cells(fit_models(cfg.neighbours, hist, ctx), hist))
                  for hist, target in training_levels(train, cfg.train_targets)]
        if not levels:
            raise ConfigError(NO_ROWS)
        # Kept to score customers that come without their population (basket predict).
        self.neighbour_models = fit_models(cfg.neighbours, train, ctx)
        self.scoring_neighbours = None
        valid_level = []
        if valid is not None and valid.n_users and valid.history.n_lines:
            valid_level = [(valid.history, valid.target,
                            ProductStats.from_histories(valid.history),
                            self._neighbour_cells(self.neighbour_models, valid.history))]
        if ctx.dask_scheduler:
            boosted = boost_on_dask(
                ctx.dask_scheduler, self._params(cfg.n_threads),  # None: workers' own threads
                lambda parts: self._labelled_batches(levels, parts),
                (lambda parts: self._labelled_batches(valid_level, parts)) if valid_level
                else None, list(self.features), cfg.n_estimators,
                cfg.early_stopping_rounds or None, ctx.progress)
        else:
            boosted = self._boost(ctx, levels, valid_level)
        booster, log = boosted.booster, boosted.log
        rounds = booster.num_boosted_rounds()
        best = int(getattr(booster, "best_iteration", rounds - 1)) if valid_level else rounds - 1
        self.booster = booster[: best + 1]  # keep only the trees up to the best round
        losses = log.get("valid", {}).get("logloss", [])
        ctx.log(f"xgboost: {boosted.train_rows} training rows, best round {best + 1} of {rounds}"
                + (f", {boosted.workers} Dask workers" if boosted.workers else ""))
        return FitReport(
            info={
                "train_rows": int(boosted.train_rows),
                "train_positive_rate": float(boosted.positive_rate),
                "valid_rows": int(boosted.valid_rows),
                "rounds": int(rounds), "best_round": best + 1,
                "best_valid_logloss": float(losses[best]) if losses else None,
                "feature_set_version": FEATURE_SET_VERSION, "features": list(self.features),
                **({"dask_workers": boosted.workers} if boosted.workers else {}),
            },
            history=[{"round": i + 1, "valid_logloss": float(v)} for i, v in enumerate(losses)],
        )

    def _boost(self, ctx: FitContext, levels: list, valid_level: list) -> Boosted:
        """Boost on this machine; rows stream into XGBoost's quantised matrix in batches of
        customers, so the float feature matrix of all training rows never exists at once."""
        xgboost = _xgboost()
        cfg = self.config
        threads = cfg.n_threads or ctx.n_threads
        dtrain = xgboost.QuantileDMatrix(self._row_iterator(levels), nthread=threads)
        evals = []
        if valid_level:
            evals = [(xgboost.QuantileDMatrix(self._row_iterator(valid_level), ref=dtrain,
                                              nthread=threads), "valid")]
        log: dict[str, dict[str, list[float]]] = {}
        with ctx.progress("boosting rounds", cfg.n_estimators) as task:
            booster = xgboost.train(
                self._params(threads), dtrain, num_boost_round=cfg.n_estimators, evals=evals,
                evals_result=log, verbose_eval=False,
                early_stopping_rounds=(cfg.early_stopping_rounds or None) if evals else None,
                callbacks=[_progress_callback(task)],
            )
        return Boosted(booster, log, dtrain.num_row(), float(dtrain.get_label().mean()),
                        evals[0][0].num_row() if evals else 0)

    def _row_iterator(self, levels: list[tuple[BasketData, BasketData, ProductStats]]):
        """An xgboost DataIter over labelled rows, ``chunk_customers`` customers at a time."""
        return _batch_iterator(lambda: self._labelled_batches(levels), self.features)

    def _labelled_batches(self, levels: list[tuple[BasketData, BasketData, ProductStats]],
                          parts: int = 1):
        """(features, labels) of ``chunk_customers`` customers at a time (and at least
        ``parts`` chunks per level).

        Features only depend on the customer's own history and the level's population
        statistics, so building them per chunk gives the same rows as all at once.
        """
        for hist, target, stats, cells in levels:
            chunk = max(1, min(self.config.chunk_customers, -(-hist.n_users // parts)))
            for lo in range(0, hist.n_users, chunk):
                users = np.arange(lo, min(lo + chunk, hist.n_users))
                part = hist.select_users(users) if len(users) < hist.n_users else hist
                rows = self._rows(part, stats, cells, users)
                if len(rows):
                    goal = target.select_users(users) if part is not hist else target
                    yield rows.features, labels(rows, goal)

    def _neighbour_cells(self, models: list[BasketModel], hist: BasketData
                         ) -> NeighbourCells | None:
        return score_cells(models, hist, self.config.explore_candidates) if models else None

    def _rows(self, hist: BasketData, stats: ProductStats, cells: NeighbourCells | None,
              users: np.ndarray | None = None):
        """Candidate rows of ``hist``, whose customers are ``users`` of the population that
        ``cells`` scored (all of them when None)."""
        cfg = self.config
        if cells is None:
            return build_candidates(hist, stats, self.aisle, self.department,
                                    cfg.explore_candidates)
        users = np.arange(hist.n_users) if users is None else users
        # The population's explore pairs of these customers, in the part's own indices.
        local = np.full(users.max(initial=-1) + 1, -1, dtype=np.int64)
        local[users] = np.arange(len(users))
        inside = cells.explore_user <= users.max(initial=-1)
        inside[inside] = local[cells.explore_user[inside]] >= 0
        extra = (local[cells.explore_user[inside]], cells.explore_item[inside])
        rows = build_candidates(hist, stats, self.aisle, self.department, 0, extra)
        scores = cells.lookup(users[rows.user], rows.item, hist.n_items)
        return replace(rows, features=np.hstack([rows.features, scores]))

    def _params(self, threads: int | None) -> dict[str, Any]:
        cfg = self.config
        return {
            "objective": "binary:logistic", "tree_method": "hist", "eval_metric": "logloss",
            "eta": cfg.learning_rate, "max_depth": cfg.max_depth,
            "min_child_weight": cfg.min_child_weight, "subsample": cfg.subsample,
            "colsample_bytree": cfg.colsample_bytree, "lambda": cfg.reg_lambda,
            "scale_pos_weight": cfg.pos_weight, "seed": cfg.seed, "verbosity": 0,
            **({"nthread": threads} if threads else {}),
        }

    # --- scoring ------------------------------------------------------------------------------
    def prepare_scoring(self, histories: BasketData) -> None:
        # Product statistics describe the population whose histories are being scored, as they
        # described each training target's population.
        self.scoring_stats = ProductStats.from_histories(histories)
        ctx = FitContext(catalog=None, n_threads=self.config.n_threads or FitContext().n_threads)
        self.scoring_neighbours = fit_models(self.config.neighbours, histories, ctx)

    def score(self, histories: BasketData) -> np.ndarray:
        if self.booster is None or self.fit_stats is None:
            raise ConfigError("xgboost: score called before fit or load")
        stats = self.scoring_stats or self.fit_stats
        if len(stats.basket_share) != histories.n_items:
            stats = self.fit_stats
        filler = np.clip(FILLER_SCALE * stats.basket_share, 0.0, FILLER_SCALE).astype(np.float32)
        out = np.broadcast_to(filler, (histories.n_users, histories.n_items)).copy()
        models = self.scoring_neighbours if self.scoring_neighbours is not None \
            else self.neighbour_models
        rows = self._rows(histories, stats, self._neighbour_cells(models, histories))
        if len(rows):
            probs = self.booster.inplace_predict(rows.features, validate_features=False)
            out[rows.user, rows.item] = np.clip(probs, 0.0, 1.0)
        return out

    def feature_importance(self) -> dict[str, float]:
        """The top features by total gain, largest first."""
        if self.booster is None:
            return {}
        gains = self.booster.get_score(importance_type="total_gain")
        ranked = sorted(gains.items(), key=lambda kv: kv[1], reverse=True)[:TOP_FEATURES]
        return {name: float(gain) for name, gain in ranked}

    # --- persistence --------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        # Besides the booster: product statistics and catalog codes scoring needs.
        # The neighbour models fitted on the training customers come along (as arrays), for
        # customers scored without their population.
        neighbours = {f"nb{i}_{key}": value for i, model in enumerate(self.neighbour_models)
                      for key, value in model.state().items()}
        save_bundle(directory, {"feature_set_version": FEATURE_SET_VERSION,
                                "features": list(self.features)},
                    {**self.fit_stats.arrays(), "aisle": self.aisle,
                     "department": self.department, **neighbours},
                    {MODEL_FILE: bytes(self.booster.save_raw("ubj"))})

    @classmethod
    def load(cls, directory: Path, config: XGBoostConfig) -> XGBoostModel:
        xgboost = _xgboost()
        # The bundle checks the booster's bytes first: XGBoost aborts the process on some
        # malformed models.
        bundle = load_bundle(directory)
        version, features = bundle.meta.get("feature_set_version"), bundle.meta.get("features")
        expected = feature_names(config)
        if version != FEATURE_SET_VERSION or features != expected:
            raise ArtifactError(
                f"{directory}: trained with feature set {version!r} "
                f"({len(features) if isinstance(features, list) else '?'} features), but this "
                f"xgboost plugin computes feature set {FEATURE_SET_VERSION} "
                f"({len(expected)} features); train the model again"
            )
        model_path = directory / MODEL_FILE
        booster = xgboost.Booster()
        try:
            booster.load_model(bytearray(bundle.blobs[MODEL_FILE]))
        except KeyError:
            raise ArtifactError(f"{model_path}: missing from the bundle; train the model again"
                                ) from None
        except xgboost.core.XGBoostError as exc:
            first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else "unreadable"
            raise ArtifactError(
                f"{model_path}: corrupt XGBoost model ({first}); train the model again"
            ) from None
        if list(booster.feature_names or []) != expected:
            raise ArtifactError(
                f"{model_path}: the model's features differ from this plugin's; train it again"
            )
        model = cls(config)
        model.features = expected
        try:
            model.fit_stats = ProductStats.from_arrays(bundle.arrays)
            model.aisle, model.department = bundle.arrays["aisle"], bundle.arrays["department"]
            model.neighbour_models = []
            for i, name in enumerate(config.neighbours):
                neighbour = create_model(name)
                prefix = f"nb{i}_"
                neighbour.set_state({k[len(prefix):]: v for k, v in bundle.arrays.items()
                                     if k.startswith(prefix)})
                model.neighbour_models.append(neighbour)
        except KeyError as exc:
            raise ArtifactError(f"{directory}: the bundle lacks array {exc}; train the model again"
                                ) from None
        booster.set_param({"nthread": config.n_threads or max(1, os.cpu_count() or 1)})
        model.booster = booster
        return model


def _xgboost():
    """The xgboost library, imported on first use (OMP_WAIT_POLICY: see basketcli)."""
    import xgboost

    return xgboost


def _batch_iterator(make_batches, names: list[str]):
    """An xgboost DataIter over ``make_batches()`` (features, labels); restartable."""
    xgboost = _xgboost()

    class RowBatches(xgboost.DataIter):
        def __init__(self) -> None:
            self._batches = None
            super().__init__(release_data=True)

        def next(self, input_data) -> bool:
            if self._batches is None:
                self._batches = make_batches()
            batch = next(self._batches, None)
            if batch is None:
                return False
            features, label = batch
            input_data(data=features, label=label, feature_names=list(names))
            return True

        def reset(self) -> None:
            self._batches = None

    return RowBatches()


def _progress_callback(task):
    """An xgboost TrainingCallback advancing ``task`` once per boosting round."""
    xgboost = _xgboost()

    class RoundProgress(xgboost.callback.TrainingCallback):
        def after_iteration(self, model, epoch: int, evals_log) -> bool:
            losses = evals_log.get("valid", {}).get("logloss")
            if losses:
                task.advance(1, valid_logloss=float(losses[-1]))
            else:
                task.advance(1)
            return False  # never stops training itself

    return RoundProgress()
