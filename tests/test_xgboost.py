"""The xgboost plugin: candidates and features, fit/score/save/load, bad run directories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line_error

from basketcli.artifacts import BUNDLE_FILE
from basketcli.data.basket_data import BasketData, from_baskets
from basketcli.data.split import leave_last_out
from basketcli.errors import ArtifactError, ConfigError
from basketcli.protocol import FitContext
from basketcli.sizing import SizingRule
from basketcli_models.xgboost.features import (
    FEATURE_NAMES,
    FEATURES,
    MISSING,
    ProductStats,
    build_candidates,
    item_attributes,
    labels,
    training_levels,
)
from basketcli_models.xgboost.model import MODEL_FILE, XGBoostModel, logistic_fit, planned_targets

FAST = {"n_estimators": 25, "max_depth": 3, "learning_rate": 0.3, "n_threads": 1}
ROOT = Path(__file__).resolve().parents[1]


def features_of(data: BasketData, explore: int = 0):
    aisle, department = item_attributes(None, data.item_ids)
    rows = build_candidates(data, ProductStats.from_histories(data), aisle, department, explore)
    return rows, dict(zip(FEATURE_NAMES, rows.features.T, strict=True))


def row_of(rows, user: int, product_index: int) -> int:
    return int(np.flatnonzero((rows.user == user) & (rows.item == product_index))[0])


# --- features ------------------------------------------------------------------------------------
def test_every_feature_is_documented_in_one_line():
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
    assert all(text and "\n" not in text for text in FEATURES.values())


def test_hand_computed_features():
    # Customer 0: product 1 in orders 0, 2, 3 (of 4); product 2 only in order 0.
    data = from_baskets({7: [[1, 2], [3], [1, 3], [1]], 8: [[2], [2, 4]]})
    rows, f = features_of(data)
    pairs = zip(rows.user.tolist(), data.item_ids[rows.item].tolist(), strict=True)
    assert sorted(pairs) == [
        (0, 1), (0, 2), (0, 3), (1, 2), (1, 4)]
    one, two = row_of(rows, 0, 0), row_of(rows, 0, 1)
    assert f["up_orders"][one] == 3 and f["up_order_share"][one] == pytest.approx(0.75)
    assert f["up_orders_since_last"][one] == 0 and f["up_streak"][one] == 2
    assert f["up_orders_since_last"][two] == 3 and f["up_streak"][two] == 1
    assert f["up_decayed_count"][one] == pytest.approx(1 + 0.8 + 0.8**3)
    assert f["up_mean_gap"][one] == pytest.approx(1.5) and f["up_mean_gap"][two] == MISSING
    assert f["up_recent_share"][two] == pytest.approx(1 / 4)  # 4 orders < the window of 5
    assert f["u_orders"][one] == 4 and f["u_distinct_products"][one] == 3
    assert f["u_mean_basket"][one] == pytest.approx(6 / 4)
    # Product 2: 3 baskets of 6 hold it; one of its 3 purchases is a repeat (customer 8).
    assert f["p_basket_share"][two] == pytest.approx(3 / 6)
    assert f["p_reorder_rate"][two] == pytest.approx(1 / 3)
    assert f["p_repeat_buyer_share"][two] == pytest.approx(1 / 2)
    # No days, cart positions or catalog in this data: those features are missing, not made up.
    assert (f["up_days_since_last"] == MISSING).all() and (f["aisle"] == MISSING).all()
    assert not np.isnan(rows.features).any()


def test_days_since_last_and_catalog_features(invented_catalog):
    from dataclasses import replace

    from basketcli.data.catalog import read_catalog

    # Products 196 (Fizzy Cola) and 13176 (Banana Bunch): different aisles of the test catalog.
    data = from_baskets({1: [[196, 13176], [196], [13176]]})
    data = replace(data, days_since_prior=np.array([np.nan, 10.0, 4.0], dtype=np.float32))
    catalog = read_catalog(invented_catalog)
    aisle, department = item_attributes(catalog, data.item_ids)
    rows = build_candidates(data, ProductStats.from_histories(data), aisle, department)
    f = dict(zip(FEATURE_NAMES, rows.features.T, strict=True))
    soda = row_of(rows, 0, 0)
    assert f["up_days_since_last"][soda] == pytest.approx(4.0)
    assert f["u_mean_days"][soda] == pytest.approx(7.0)
    assert f["aisle"][soda] == catalog.attribute_codes(np.array([196]), "aisle")[0]
    assert f["ua_order_share"][soda] == pytest.approx(2 / 3)


def test_explore_candidates_are_popular_products_never_bought():
    data = from_baskets({1: [[1], [1]], 2: [[2, 3], [2, 3]], 3: [[2], [3], [2]]})
    rows, f = features_of(data, explore=2)
    bought_by_first = set(data.item_ids[rows.item[rows.user == 0]].tolist())
    assert bought_by_first == {1, 2, 3}  # 2 and 3 are the most popular
    explore = row_of(rows, 0, 1)
    assert f["up_orders"][explore] == 0 and f["up_orders_since_last"][explore] == MISSING
    keys = rows.user * data.n_items + rows.item
    assert (np.diff(keys) > 0).all()  # sorted, no duplicate (customer, product)


def test_training_levels_use_only_training_orders(tiny_data):
    split = leave_last_out(tiny_data)
    levels = list(training_levels(split.train, 3))
    assert len(levels) == 3
    counts = split.train.orders_per_user()
    for level, (hist, target) in enumerate(levels, start=1):
        assert (hist.orders_per_user() == np.maximum(counts - level, 0)).all()
        assert (target.orders_per_user() == (counts >= level)).all()
        # Each target is the training order `level` places from the end, never a later one.
        for user in range(3):
            expected = split.train.baskets_of(user)[-level]
            assert target.baskets_of(user)[0].tolist() == expected.tolist()
    rows, _ = features_of(levels[0][0])
    assert labels(rows, levels[0][1]).sum() > 0


# --- the model -----------------------------------------------------------------------------------
class RecordingProgress:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None]] = []
        self.steps = 0

    def __call__(self, description, total=None):
        self.calls.append((description, total))
        return self

    def advance(self, steps=1, **info):
        self.steps += steps

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


@pytest.fixture
def fitted(tiny_data):
    split = leave_last_out(tiny_data)
    progress = RecordingProgress()
    model = XGBoostModel(XGBoostModel.Config(**FAST))
    report = model.fit(split.train, split.valid, FitContext(progress=progress, n_threads=1))
    return model, split, report, progress


def test_fit_scores_probabilities_and_reports(fitted):
    model, split, report, progress = fitted
    assert progress.calls == [("boosting rounds", FAST["n_estimators"])]
    assert 1 <= progress.steps <= FAST["n_estimators"]
    assert report.info["features"] == list(FEATURE_NAMES)
    assert report.info["train_rows"] > 0 and report.info["valid_rows"] > 0
    assert len(report.history) == report.info["rounds"]
    model.prepare_scoring(split.test.history)
    scores = model.score(split.test.history)
    assert scores.shape == (split.test.n_users, split.test.history.n_items)
    assert scores.dtype == np.float32 and scores.min() >= 0 and scores.max() <= 1
    # Bought products (candidates) get model probabilities; the rest a tiny popularity filler.
    bought = split.test.history.user_item_counts().toarray() > 0
    assert scores[bought].min() > 1e-6 >= scores[~bought].max()
    assert model.default_sizing() == SizingRule(kind="expected-f1")


def test_feature_importance_ranks_known_features(fitted):
    importance = fitted[0].feature_importance()
    assert importance and set(importance) <= set(FEATURE_NAMES)
    gains = list(importance.values())
    assert gains == sorted(gains, reverse=True) and gains[0] > 0


def test_save_load_round_trip_gives_identical_scores(fitted, tmp_path):
    model, split, _, _ = fitted
    model.save(tmp_path)
    assert (tmp_path / MODEL_FILE).is_file() and not list(tmp_path.glob("*.pkl"))
    loaded = XGBoostModel.load(tmp_path, model.config)
    for m in (model, loaded):
        m.prepare_scoring(split.test.history)
    np.testing.assert_array_equal(model.score(split.test.history), loaded.score(split.test.history))
    # Without prepare_scoring the statistics saved at fit time are used.
    fresh = XGBoostModel.load(tmp_path, model.config)
    assert fresh.score(split.test.history.select_users(np.arange(3))).shape[0] == 3


def test_same_seed_same_scores(tiny_data):
    split = leave_last_out(tiny_data)

    def fit_and_score(seed: int) -> np.ndarray:
        model = XGBoostModel(XGBoostModel.Config(**FAST, seed=seed, subsample=0.7))
        model.fit(split.train, split.valid, FitContext(n_threads=1))
        return model.score(split.test.history)

    first = fit_and_score(1)
    np.testing.assert_array_equal(first, fit_and_score(1))
    assert not np.array_equal(first, fit_and_score(2))


def test_fit_without_validation_runs_all_rounds(tiny_data):
    split = leave_last_out(tiny_data)
    model = XGBoostModel(XGBoostModel.Config(**FAST))
    report = model.fit(split.train, None, FitContext(n_threads=1))
    assert report.info["rounds"] == FAST["n_estimators"] and report.info["valid_rows"] == 0


def test_too_little_history_is_a_config_error():
    data = from_baskets({1: [[1], [2], [3]], 2: [[1], [2], [3]]})  # one training order each
    split = leave_last_out(data)
    with pytest.raises(ConfigError, match="no training rows"):
        XGBoostModel(XGBoostModel.Config(**FAST)).fit(split.train, split.valid, FitContext())


def test_config_parses_sizing_text_and_forbids_unknown_keys():
    cfg = XGBoostModel.Config(sizing="top-k:5")
    assert cfg.sizing == SizingRule(kind="top-k", k=5)
    assert XGBoostModel.Config.model_validate(cfg.model_dump(mode="json")) == cfg
    with pytest.raises(ValueError, match="choose one of"):
        XGBoostModel.Config(sizing="biggest")
    with pytest.raises(ValueError):
        XGBoostModel.Config(n_trees=3)


def test_module_imports_without_xgboost_or_pandas():
    code = ("import sys, basketcli_models.xgboost.model, basketcli_models.xgboost.features; "
            "print(sorted(m for m in ('xgboost', 'pandas', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


# --- run directories through the CLI -------------------------------------------------------------
@pytest.fixture
def run_dir(invoke, tiny_csv, tmp_path) -> Path:
    out = tmp_path / "run"
    sets = [arg for key, value in FAST.items() for arg in ("--set", f"{key}={value}")]
    result = invoke("train", "--model", "xgboost", "--data", tiny_csv, "--out", out, *sets)
    assert result.exit_code == 0, result.output
    info = json.loads((out / "basket.json").read_text())
    assert info["fit"]["features"] == list(FEATURE_NAMES)
    return out


def test_evaluate_run_with_importance(invoke, run_dir):
    result = invoke("evaluate", run_dir, "--importance", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["models"][0]["sizing"] == "expected-f1"
    assert set(payload["importance"]) <= set(FEATURE_NAMES)


def corrupt_truncated(run: Path) -> None:
    model = run / MODEL_FILE
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])


def corrupt_empty(run: Path) -> None:
    (run / MODEL_FILE).write_bytes(b"")  # xgboost itself would abort the process on this


def corrupt_altered(run: Path) -> None:
    model = run / MODEL_FILE
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    model.write_bytes(bytes(data))


def corrupt_features(run: Path) -> None:
    bundle = json.loads((run / BUNDLE_FILE).read_text())
    bundle["meta"]["features"] = bundle["meta"]["features"][:-1]
    bundle["meta"]["feature_set_version"] = 0
    (run / BUNDLE_FILE).write_text(json.dumps(bundle))


def remove_bundle(run: Path) -> None:
    (run / BUNDLE_FILE).unlink()


@pytest.mark.parametrize(("damage", "words"), [
    (corrupt_truncated, "(truncated or altered)"),
    (corrupt_empty, "0 bytes where"),
    (corrupt_altered, "contents differ from what was saved"),
    (corrupt_features, "feature set 0"),
    (remove_bundle, "model.json: missing"),
])
def test_damaged_run_is_one_line_exit_2(invoke, run_dir, damage, words):
    damage(run_dir)
    result = invoke("evaluate", run_dir)
    assert result.exit_code == 2, result.output
    assert words in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_damaged_run_raises_artifact_error(run_dir):
    corrupt_truncated(run_dir)
    config = XGBoostModel.Config(**FAST)
    with pytest.raises(ArtifactError, match="train the model again"):
        XGBoostModel.load(run_dir, config)


def test_sizing_setting_from_the_command_line(invoke, tiny_csv):
    sets = [arg for key, value in FAST.items() for arg in ("--set", f"{key}={value}")]
    result = invoke("evaluate", "--model", "xgboost", "--data", tiny_csv, *sets,
                    "--set", "sizing=top-k:5", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["models"][0]["sizing"] == "top-5"
    bad = invoke("evaluate", "--model", "xgboost", "--data", tiny_csv, "--set", "sizing=biggest")
    assert bad.exit_code == 2 and "sizing" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_rows_built_in_chunks_give_the_same_model(tiny_data):
    split = leave_last_out(tiny_data)
    scores = []
    for chunk in (7, 20_000):  # 30 customers: five batches per level, or one
        model = XGBoostModel(XGBoostModel.Config(**FAST, chunk_customers=chunk))
        report = model.fit(split.train, split.valid, FitContext(n_threads=1))
        scores.append(model.score(split.test.history))
    assert report.info["train_rows"] > 0
    np.testing.assert_array_equal(scores[0], scores[1])


# --- ranking objectives --------------------------------------------------------------------------
def test_logistic_fit_recovers_a_known_slope_and_intercept():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200_000)
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-(1.5 * x - 2.0)))).astype(np.float32)
    slope, intercept = logistic_fit(x, y)
    assert slope == pytest.approx(1.5, abs=0.05) and intercept == pytest.approx(-2.0, abs=0.05)


def test_logistic_fit_stays_finite_when_the_margin_separates_the_labels():
    slope, intercept = logistic_fit(np.array([-1.0, -0.5, 0.5, 1.0]), np.array([0, 0, 1, 1.0]))
    assert np.isfinite([slope, intercept]).all() and slope > 0


@pytest.mark.parametrize("objective", ["rank:ndcg", "rank:pairwise"])
def test_ranking_objective_scores_calibrated_probabilities(tiny_data, tmp_path, objective):
    split = leave_last_out(tiny_data)
    model = XGBoostModel(XGBoostModel.Config(**FAST, objective=objective))
    report = model.fit(split.train, split.valid, FitContext(n_threads=1))
    assert report.info["best_valid_ndcg@10"] > 0 and report.info["calibration"][0] > 0
    assert set(report.history[0]) == {"round", "valid_ndcg@10"}
    # Calibrated on the validation rows: their mean probability is their share of purchases.
    history = split.valid.history
    rows = build_candidates(history, ProductStats.from_histories(history),
                            model.aisle, model.department)
    model.prepare_scoring(history)
    probs = model.score(history)[rows.user, rows.item]
    assert probs.min() >= 0 and probs.max() <= 1
    assert probs.mean() == pytest.approx(labels(rows, split.valid.target).mean(), rel=1e-3)
    model.save(tmp_path)
    loaded = XGBoostModel.load(tmp_path, model.config)
    loaded.prepare_scoring(history)
    np.testing.assert_array_equal(model.score(history), loaded.score(history))


def test_a_ranking_config_refuses_a_model_saved_without_calibration(tiny_data, tmp_path):
    split = leave_last_out(tiny_data)
    model = XGBoostModel(XGBoostModel.Config(**FAST, objective="binary"))
    model.fit(split.train, split.valid, FitContext(n_threads=1))
    model.save(tmp_path)
    ranking = model.config.model_copy(update={"objective": "rank:ndcg"})
    with pytest.raises(ArtifactError, match="without its probability calibration"):
        XGBoostModel.load(tmp_path, ranking)


def test_auto_train_targets_keep_the_rows_within_the_budget(tiny_data, monkeypatch):
    import basketcli_models.xgboost.model as plugin

    split = leave_last_out(tiny_data)
    pairs = split.train.user_item_counts().nnz
    assert planned_targets(split.train, 3) == 3
    assert planned_targets(split.train, "auto") == plugin.AUTO_TARGETS
    monkeypatch.setattr(plugin, "TRAIN_ROW_BUDGET", 2 * pairs + 1)
    assert planned_targets(split.train, "auto") == 2
    monkeypatch.setattr(plugin, "TRAIN_ROW_BUDGET", pairs // 2)
    assert planned_targets(split.train, "auto") == 1  # never none
    report = XGBoostModel(XGBoostModel.Config(**FAST)).fit(split.train, split.valid,
                                                          FitContext(n_threads=1))
    assert report.info["train_targets"] == 1


def test_pos_weight_with_a_ranking_objective_is_one_line_exit_2(invoke, tmp_path):
    r = invoke("train", "--model", "xgboost", "--set", "pos_weight=5", "--out", tmp_path / "run")
    assert one_line_error(r) == ("error: settings for model xgboost: pos_weight weighs purchases "
                                 "of the binary objective only; set objective=binary to use it "
                                 "(objective is rank:pairwise)")
    assert not (tmp_path / "run").exists()
    XGBoostModel.Config(pos_weight=5, objective="binary")  # valid where it means something


@pytest.mark.parametrize("neighbour", ["cnngru", "xgboost", "stack"])
def test_neighbours_kept_only_as_arrays_are_refused_before_any_fit(invoke, tiny_csv, tmp_path,
                                                                    neighbour):
    # Such a neighbour once trained for the whole fit and then failed to save (a traceback).
    r = invoke("train", "--model", "xgboost", "--data", tiny_csv,
               "--set", f'neighbours=["{neighbour}"]', "--out", tmp_path / "run")
    assert one_line_error(r) == (f"error: xgboost: neighbours cannot use {neighbour}: only models "
                                 "whose fit is kept as arrays (such as tifuknn, upcf, taiw) can")
    assert not (tmp_path / "run").exists()


# --- excluded features ---------------------------------------------------------------------------
def test_excluded_features_leave_the_rows_the_model_and_the_bundle(tiny_data, tmp_path):
    left_out = ["up_mean_gap", "p_basket_share"]
    kept = tuple(name for name in FEATURE_NAMES if name not in left_out)
    _, full = features_of(tiny_data)
    aisle, department = item_attributes(None, tiny_data.item_ids)
    fewer = build_candidates(tiny_data, ProductStats.from_histories(tiny_data), aisle,
                             department, names=kept)
    np.testing.assert_array_equal(fewer.features, np.stack([full[n] for n in kept], axis=1))

    split = leave_last_out(tiny_data)
    config = XGBoostModel.Config(**FAST, exclude_features=left_out)
    model = XGBoostModel(config)
    report = model.fit(split.train, split.valid, FitContext(n_threads=1))
    assert report.info["features"] == list(kept)
    assert not set(model.feature_importance()) & set(left_out)
    model.save(tmp_path)
    loaded = XGBoostModel.load(tmp_path, config)
    np.testing.assert_array_equal(model.score(split.test.history),
                                  loaded.score(split.test.history))
    with pytest.raises(ArtifactError, match="train the model again"):
        XGBoostModel.load(tmp_path, XGBoostModel.Config(**FAST))  # expects every feature


@pytest.mark.parametrize(("excluded", "words"), [
    ('["up_orders", "up_nonsense"]', ("unknown feature 'up_nonsense'", "up_order_share")),
    (json.dumps(list(FEATURE_NAMES)), ("leaves no candidate feature",)),
])
def test_bad_excluded_features_are_one_line_exit_2(invoke, tiny_csv, tmp_path, excluded, words):
    r = invoke("train", "--model", "xgboost", "--data", tiny_csv,
               "--set", f"exclude_features={excluded}", "--out", tmp_path / "run")
    one_line_error(r, "exclude_features=", "for model xgboost", *words)
    assert not (tmp_path / "run").exists()
