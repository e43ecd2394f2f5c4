"""Gradient-boosted trees over (customer, product) candidates, as the Instacart competition was won.

Candidates are the products of each customer's history (plus, optionally, popular products they
never bought); each candidate row carries the features of ``features``. Training rows come
from several past target orders per customer (each with the features of the history before
it). By default XGBoost (``rank:pairwise``, ``hist``) learns to order each customer's
candidates (one query group per customer and target) and stops early on the validation
targets' ndcg@10; a logistic fit of the margins on the validation rows (Platt scaling) turns
them into probabilities. With ``objective=binary`` it learns whether each candidate is in the
target basket (log-loss), as before. Either way scores are probabilities, so basket sizing by
expected F1 (the default) works on them.

Why ranking: recall@10 and ndcg@10 are computed per customer, so only the order within a
customer matters; log-loss also spends trees on telling customers apart. Validation on both
bundled data sets (recall@10 / ndcg@10): Instacart sample 0.3944 / 0.4830 (binary) against
0.3972 / 0.4868 (rank:pairwise); Complete Journey 0.1705 / 0.1926 against 0.1780 / 0.2049.

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
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from basketcli.artifacts import load_bundle, save_bundle
from basketcli.data.basket_data import BasketData
from basketcli.errors import ArtifactError, ConfigError
from basketcli.protocol import BasketModel, FitContext, FitReport, ModelConfig, search
from basketcli.registry import create_model
from basketcli.sizing import SizingRule, parse_sizing
from basketcli_models.xgboost.dask import NO_ROWS, Boosted, boost_on_dask
from basketcli_models.xgboost.features import (
    FEATURE_NAMES,
    FEATURE_SET_VERSION,
    ProductStats,
    build_candidates,
    item_attributes,
    labels,
    training_levels,
)
from basketcli_models.xgboost.neighbour_scores import (
    NeighbourCells,
    check_models,
    fit_models,
    score_cells,
)
from basketcli_models.xgboost.neighbour_scores import feature_names as neighbour_features

MODEL_FILE = "model.ubj"  # XGBoost's own UBJSON format: data only, never code
FILLER_SCALE = 1e-6  # non-candidates score FILLER_SCALE x basket share
TOP_FEATURES = 20
# train_targets="auto": AUTO_TARGETS levels (better validation recall and ndcg on both bundled
# data sets than 3 or 10) unless they would build more than TRAIN_ROW_BUDGET rows. A level adds
# about one row per (customer, product) pair of the training histories; at the full Instacart
# size (13.4 M pairs) six levels built 61 M rows and passed 10 GiB on 2 cores (bench/xgboost_fit).
AUTO_TARGETS = 6
TRAIN_ROW_BUDGET = 30_000_000


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
                              "product, binary objective only (1 keeps probabilities calibrated "
                              "for expected-F1 sizing)")
    objective: Literal["binary", "rank:ndcg", "rank:pairwise"] = Field(
        "rank:pairwise", description="what the trees learn: the order of each customer's "
        "candidates (rank:pairwise, the default: the better validation recall and ndcg on both "
        "bundled data sets; rank:ndcg, LambdaMART) or whether each candidate is bought (binary, "
        "log-loss); ranking scores become probabilities through a logistic fit on the "
        "validation rows", json_schema_extra=search(choices=["binary", "rank:ndcg",
                                                              "rank:pairwise"]))
    early_stopping_rounds: int = Field(30, ge=0, description="stop after this many rounds "
                                       "without a better validation metric (log-loss; ndcg@10 "
                                       "for a ranking objective; 0: never)")
    explore_candidates: int = Field(
        0, ge=0, description="also score this many products the customer never bought: those "
        "the first of `neighbours` scores best (the most popular without neighbours)",
        json_schema_extra=search(choices=[0, 10, 30]))
    exclude_features: list[str] = Field(
        [], description="candidate features left out, for ablations or a feature that means "
        f"nothing on your data: any of {', '.join(FEATURE_NAMES)}")
    neighbours: list[str] = Field(
        [], description="registered models (such as tifuknn, upcf, taiw) whose scores of each "
        "candidate are features: what customers like this one buy; fitted on the histories "
        "of every training level and of the customers scored")
    train_targets: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto", description=f"past target orders per customer that training rows are built "
        f"from; auto: {AUTO_TARGETS} (better validation than 3 or 10 on both bundled data "
        f"sets), fewer where they would build over {TRAIN_ROW_BUDGET // 1_000_000} M rows (a "
        "target adds about one row per customer x product pair of the history)",
        json_schema_extra=search(1, 12))
    chunk_customers: int = Field(20_000, ge=1, description="customers whose candidate rows are "
                                 "built at once (memory against speed)")
    n_threads: int | None = Field(None, ge=1, description="XGBoost threads (default: the "
                                  "framework's thread count)")
    sizing: SizingRule = Field(SizingRule(kind="expected-f1"), description="basket sizing rule: "
                               "expected-f1[:CAP][:none], top-k[:K] or threshold[:T]")
    threshold: float = Field(0.5, ge=0, le=1, description="probability cut for f1_micro/f1_macro")

    @model_validator(mode="after")
    def _pos_weight_needs_binary(self) -> XGBoostConfig:
        if self.pos_weight != 1.0 and self.objective != "binary":
            raise ValueError(f"pos_weight weighs purchases of the binary objective only; set "
                             f"objective=binary to use it (objective is {self.objective})")
        return self

    @field_validator("exclude_features")
    @classmethod
    def _known_features(cls, names: list[str]) -> list[str]:
        unknown = [name for name in names if name not in FEATURE_NAMES]
        if unknown:
            raise ValueError(f"unknown feature {unknown[0]!r}; the candidate features are "
                             f"{', '.join(FEATURE_NAMES)}")
        if set(names) >= set(FEATURE_NAMES):
            raise ValueError("leaves no candidate feature; exclude fewer")
        return names

    @field_validator("sizing", mode="before")
    @classmethod
    def _parse_sizing(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_sizing(value)
            except ConfigError as exc:
                raise ValueError(exc.message.removeprefix("--sizing ")) from None
        return value


def candidate_features(config: XGBoostConfig) -> tuple[str, ...]:
    """The candidate features the model uses: all but ``exclude_features``."""
    return tuple(name for name in FEATURE_NAMES if name not in config.exclude_features)


def feature_names(config: XGBoostConfig) -> list[str]:
    """The model's features: the candidate features, then the neighbour models' scores."""
    return [*candidate_features(config), *neighbour_features(config.neighbours)]


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
        self.calibration: tuple[float, float] | None = None  # ranking margins -> probabilities
        self.neighbour_models: list[BasketModel] = []  # fitted on the training customers
        self.scoring_neighbours: list[BasketModel] | None = None  # on the customers scored

    # --- training -----------------------------------------------------------------------------
    def fit(self, train: BasketData, valid, ctx: FitContext) -> FitReport:
        cfg = self.config
        check_models(cfg.neighbours, self.name)
        self.aisle, self.department = item_attributes(ctx.catalog, train.item_ids)
        self.fit_stats = ProductStats.from_histories(train)
        self.scoring_stats = None
        # Each level: the histories before one past target order, its targets, and the
        # population statistics of those histories.
        self.features = feature_names(cfg)
        targets = planned_targets(train, cfg.train_targets)
        levels = [(hist, target, ProductStats.from_histories(hist),
                   self._neighbour_cells(fit_models(cfg.neighbours, hist, ctx), hist))
                  for hist, target in training_levels(train, targets)]
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
        self.calibration = None
        if cfg.objective != "binary":
            self.calibration = self._calibrate(valid_level or levels)
        metric = self._eval_metric()
        values = log.get("valid", {}).get(metric, [])
        ctx.log(f"xgboost: {boosted.train_rows} training rows, best round {best + 1} of {rounds}"
                + (f", {boosted.workers} Dask workers" if boosted.workers else ""))
        return FitReport(
            info={
                "train_targets": len(levels), "train_rows": int(boosted.train_rows),
                "train_positive_rate": float(boosted.positive_rate),
                "valid_rows": int(boosted.valid_rows),
                "rounds": int(rounds), "best_round": best + 1,
                f"best_valid_{metric}": float(values[best]) if values else None,
                **({"calibration": list(self.calibration)} if self.calibration else {}),
                "feature_set_version": FEATURE_SET_VERSION, "features": list(self.features),
                **({"dask_workers": boosted.workers} if boosted.workers else {}),
            },
            history=[{"round": i + 1, f"valid_{metric}": float(v)} for i, v in enumerate(values)],
        )

    def _eval_metric(self) -> str:
        """What early stopping watches: the objective's own measure."""
        return "logloss" if self.config.objective == "binary" else "ndcg@10"

    def _calibrate(self, levels: list) -> tuple[float, float]:
        """Slope and intercept that turn ranking margins into probabilities (Platt scaling),
        fitted on the rows of ``levels``: the validation rows when there are any."""
        margins, bought = [], []
        for features, label, _ in self._labelled_batches(levels):
            margins.append(self.booster.inplace_predict(features, predict_type="margin",
                                                        validate_features=False))
            bought.append(label)
        return logistic_fit(np.concatenate(margins), np.concatenate(bought))

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
        """(features, labels, query groups) of ``chunk_customers`` customers at a time (and at
        least ``parts`` chunks per level). A query group is one customer at one level, numbered
        in the order of the rows, as ranking objectives need.

        Features only depend on the customer's own history and the level's population
        statistics, so building them per chunk gives the same rows as all at once.
        """
        first_group = 0
        for hist, target, stats, cells in levels:
            chunk = max(1, min(self.config.chunk_customers, -(-hist.n_users // parts)))
            for lo in range(0, hist.n_users, chunk):
                users = np.arange(lo, min(lo + chunk, hist.n_users))
                part = hist.select_users(users) if len(users) < hist.n_users else hist
                rows = self._rows(part, stats, cells, users)
                if len(rows):
                    goal = target.select_users(users) if part is not hist else target
                    yield rows.features, labels(rows, goal), first_group + lo + rows.user
            first_group += hist.n_users

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
                                    cfg.explore_candidates, names=candidate_features(cfg))
        users = np.arange(hist.n_users) if users is None else users
        # The population's explore pairs of these customers, in the part's own indices.
        local = np.full(users.max(initial=-1) + 1, -1, dtype=np.int64)
        local[users] = np.arange(len(users))
        inside = cells.explore_user <= users.max(initial=-1)
        inside[inside] = local[cells.explore_user[inside]] >= 0
        extra = (local[cells.explore_user[inside]], cells.explore_item[inside])
        rows = build_candidates(hist, stats, self.aisle, self.department, 0, extra,
                                names=candidate_features(cfg))
        scores = cells.lookup(users[rows.user], rows.item, hist.n_items)
        return replace(rows, features=np.hstack([rows.features, scores]))

    def _params(self, threads: int | None) -> dict[str, Any]:
        cfg = self.config
        return {
            "objective": "binary:logistic" if cfg.objective == "binary" else cfg.objective,
            "tree_method": "hist", "eval_metric": self._eval_metric(),
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
            if self.calibration is None:
                probs = self.booster.inplace_predict(rows.features, validate_features=False)
            else:
                from scipy.special import expit

                slope, intercept = self.calibration
                margins = self.booster.inplace_predict(rows.features, predict_type="margin",
                                                       validate_features=False)
                probs = expit(slope * margins.astype(np.float64) + intercept)
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
                                "features": list(self.features),
                                "calibration": list(self.calibration or []) or None},
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
        calibration = bundle.meta.get("calibration")
        if config.objective != "binary":
            if not (isinstance(calibration, list) and len(calibration) == 2
                    and all(isinstance(v, (int, float)) for v in calibration)):
                raise ArtifactError(f"{directory}: a ranking model without its probability "
                                    "calibration; train the model again")
            model.calibration = (float(calibration[0]), float(calibration[1]))
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


def planned_targets(train: BasketData, wanted: int | str) -> int:
    """Training levels for ``train_targets``: an explicit number as given; "auto" as many as
    AUTO_TARGETS and TRAIN_ROW_BUDGET allow (at least one)."""
    if wanted != "auto":
        return int(wanted)
    pairs = train.user_item_counts().nnz
    return max(1, min(AUTO_TARGETS, TRAIN_ROW_BUDGET // max(pairs, 1)))


def logistic_fit(x: np.ndarray, y: np.ndarray, steps: int = 50) -> tuple[float, float]:
    """(slope, intercept) of the logistic regression of 0/1 ``y`` on ``x`` (Newton's method;
    a tiny ridge keeps it finite when ``x`` separates ``y``)."""
    from scipy.special import expit

    x, y = x.astype(np.float64), y.astype(np.float64)
    share = float(np.clip(y.mean(), 1e-6, 1 - 1e-6)) if len(y) else 0.5
    weights = np.array([0.0, np.log(share / (1 - share))])
    design = np.stack([x, np.ones_like(x)], axis=1)
    ridge = 1e-6 * max(len(y), 1) * np.eye(2)
    for _ in range(steps):
        p = expit(design @ weights)
        gradient = design.T @ (p - y) + ridge @ weights
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + ridge
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(weights[0]), float(weights[1])


def _xgboost():
    """The xgboost library, imported on first use (OMP_WAIT_POLICY: see basketcli)."""
    import xgboost

    return xgboost


def _batch_iterator(make_batches, names: list[str]):
    """An xgboost DataIter over ``make_batches()`` (features, labels, query groups);
    restartable."""
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
            features, label, group = batch
            input_data(data=features, label=label, qid=group, feature_names=list(names))
            return True

        def reset(self) -> None:
            self._batches = None

    return RowBatches()


def _progress_callback(task):
    """An xgboost TrainingCallback advancing ``task`` once per boosting round."""
    xgboost = _xgboost()

    class RoundProgress(xgboost.callback.TrainingCallback):
        def after_iteration(self, model, epoch: int, evals_log) -> bool:
            task.advance(1, **{f"valid_{metric}": float(values[-1])
                               for metric, values in evals_log.get("valid", {}).items()})
            return False  # never stops training itself

    return RoundProgress()
