"""Stack: settings that cannot work are refused in one line, the combiner is used only when it
beats the best base model on held-out validation customers, and otherwise the stack scores
exactly like that base model."""

from __future__ import annotations

import numpy as np
import pytest

from basketcli.data.basket_data import BasketData, from_baskets
from basketcli.data.source import DataSpec
from basketcli.data.split import leave_last_out
from basketcli.errors import ConfigError, UnknownModelError
from basketcli.evaluation.metrics import ranking_metrics, top_k
from basketcli.protocol import FitContext
from basketcli.registry import create_model
from basketcli_models import stack as stack_module

N_PRODUCTS = 60
POPULAR = 15  # the target holds a customer's own products among the 15 most popular


def planted_data(n_customers: int = 500, seed: int = 0) -> BasketData:
    """A signal neither base model has alone: each customer's next basket is the products of
    their own set that are among the most popular overall. P-TopFreq knows the own set (its
    frequencies are noise), G-TopFreq knows popularity; only their combination finds both."""
    rng = np.random.default_rng(seed)
    weight = 1.0 / np.arange(1, N_PRODUCTS + 1)
    weight /= weight.sum()
    baskets: dict[int, list[list[int]]] = {}
    for customer in range(n_customers):
        own = rng.choice(N_PRODUCTS, size=12, replace=False, p=weight)
        history = [[int(p) for p in own if rng.random() < 0.5] or [int(own[0])]
                   for _ in range(5)]
        target = [int(p) for p in own if p < POPULAR] or [int(own[0])]
        baskets[customer] = history + [target, target]  # validation and test targets alike
    return from_baskets(baskets)


def fitted_stack(models: list[str], data: BasketData) -> tuple[object, dict]:
    split = leave_last_out(data)
    model = create_model("stack", {"models": models, "rounds": 60, "candidates": 12})
    report = model.fit(split.train, split.valid, FitContext())
    return model, report.info


def ndcg(scores: np.ndarray, target: BasketData) -> float:
    truth = np.zeros(scores.shape, dtype=bool)
    truth[target.line_user(), target.items] = True
    return float(ranking_metrics(top_k(scores, 10), truth)["ndcg@10"].mean())


@pytest.mark.parametrize("models, message", [
    (["stack"], "cannot stack itself"),
    (["ptopfreq", "ptopfreq"], "named twice"),
    ([], "at least 1"),
])
def test_settings_that_cannot_work_are_refused(models, message):
    with pytest.raises(ConfigError, match=message) as caught:
        create_model("stack", {"models": models})
    assert "\n" not in caught.value.message


def test_an_unknown_base_model_is_named_before_anything_is_fitted():
    split = leave_last_out(planted_data(40))
    model = create_model("stack", {"models": ["ptopfreq", "no-such-model"]})
    with pytest.raises(UnknownModelError, match="no-such-model"):
        model.fit(split.train, split.valid, FitContext())


def test_base_settings_for_a_model_it_does_not_stack_are_refused():
    split = leave_last_out(planted_data(40))
    model = create_model("stack", {"models": ["ptopfreq"],
                                   "base_settings": {"gtopfreq": {}}})
    with pytest.raises(ConfigError, match="gtopfreq"):
        model.fit(split.train, split.valid, FitContext())


def test_the_combiner_finds_what_neither_base_model_has_alone():
    data = planted_data()
    model, info = fitted_stack(["ptopfreq", "gtopfreq"], data)
    assert info["uses"] == "combiner"
    assert info["combiner_valid_ndcg@10"] > max(info["base_valid_ndcg@10"].values()) + 0.05
    test = leave_last_out(data).test
    model.prepare_scoring(test.history)
    stacked = ndcg(model.score(test.history), test.target)
    for name in ("ptopfreq", "gtopfreq"):
        base = create_model(name)
        base.fit(test.history, None, FitContext())
        assert stacked > ndcg(base.score(test.history), test.target) + 0.05, name


def test_it_falls_back_to_the_best_base_model_when_the_combiner_is_no_better(monkeypatch):
    data = planted_data(200)
    noise = np.random.default_rng(1)
    # A combiner whose every prediction is noise cannot beat a base model on held-out customers.
    monkeypatch.setattr(stack_module, "_predict",
                        lambda booster, features: noise.random(len(features)))
    model, info = fitted_stack(["ptopfreq", "gtopfreq"], data)
    best = max(info["base_valid_ndcg@10"], key=info["base_valid_ndcg@10"].get)
    assert info["uses"] == best == "gtopfreq"  # the better of the two, not the first named
    assert model.combiner is None and model.stands_for() == "gtopfreq"
    split = leave_last_out(data)
    base = create_model(best)  # the base model as it runs on its own
    base.fit(split.train, split.valid, FitContext())
    base.prepare_scoring(split.test.history)
    model.prepare_scoring(split.test.history)
    np.testing.assert_array_equal(model.score(split.test.history),
                                  base.score(split.test.history))


def test_a_saved_stack_scores_as_it_did(tmp_path):
    data = planted_data(200)
    model, info = fitted_stack(["ptopfreq", "gtopfreq"], data)
    history = leave_last_out(data).valid.history
    model.save(tmp_path)
    loaded = type(model).load(tmp_path, model.config)
    np.testing.assert_allclose(loaded.score(history), model.score(history), rtol=1e-6)


def test_a_table_says_which_model_a_stack_stands_for(monkeypatch, tmp_path):
    from conftest import write_long_csv

    from basketcli.render import model_label
    from basketcli.workflows.evaluate import compare

    noise = np.random.default_rng(1)
    monkeypatch.setattr(stack_module, "_predict",
                        lambda booster, features: noise.random(len(features)))
    path = write_long_csv(planted_data(120), tmp_path / "planted.csv")
    result = compare(["stack"], DataSpec(source=str(path)), reference=False, bootstrap=0,
                     seeds=1)
    [row] = result.models
    assert row.stands_for in ("ptopfreq", "gtopfreq", "tifuknn", "upcf", "taiw", "xgboost")
    assert model_label(row) == f"stack (= {row.stands_for})"
    assert result.records()[0]["stands_for"] == row.stands_for
