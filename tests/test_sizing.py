"""Basket sizing: top-k, threshold and expected-F1 (Ye et al.'s dynamic program vs brute force)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basketcli import registry
from basketcli.errors import ConfigError
from basketcli.evaluation import selection
from basketcli.evaluation.selection import (
    check_probabilities,
    expected_f1_curve,
    expected_f1_sizes,
    select_basket,
)
from basketcli.sizing import SizingRule, parse_sizing
from basketcli_models.topfreq import GTopFreq


# --- brute force: every outcome of independent purchases, every subset as a prediction ---------
def outcomes(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(2^n, n) bool outcomes and their probabilities."""
    n = len(probs)
    bought = np.array(list(itertools.product([False, True], repeat=n)), dtype=bool).reshape(-1, n)
    weight = np.where(bought, probs, 1 - probs).prod(axis=1)
    return bought, weight


def brute_expected_f1(probs: np.ndarray, chosen: np.ndarray, with_none: bool = False) -> float:
    """E[F1] of predicting ``chosen`` (plus the None token); an empty truth is {None}."""
    bought, weight = outcomes(probs)
    hits = (bought & chosen).sum(axis=1) + (with_none & ~bought.any(axis=1))
    n_true = np.maximum(bought.sum(axis=1), 1)  # nothing bought: the truth is {None}
    n_pred = chosen.sum() + with_none
    return float((weight * 2 * hits / (n_pred + n_true)).sum())


probabilities = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=7)


@settings(max_examples=60, deadline=None)
@given(probabilities)
def test_dynamic_program_matches_brute_force_for_every_prefix(values):
    probs = np.sort(np.array(values))[::-1]
    plain, with_none = expected_f1_curve(probs[None, :], none_option=True)
    for k in range(len(probs) + 1):
        prefix = np.arange(len(probs)) < k
        assert plain[0, k] == pytest.approx(brute_expected_f1(probs, prefix), abs=1e-9)
        assert with_none[0, k] == pytest.approx(
            brute_expected_f1(probs, prefix, with_none=True), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(probabilities, st.booleans())
def test_chosen_size_is_the_best_of_all_subsets(values, none_option):
    probs = np.array(values)  # unsorted: select_basket must rank them itself
    n = len(probs)
    best = max(
        brute_expected_f1(probs, np.isin(np.arange(n), subset), with_none)
        for size in range(n + 1)
        for subset in itertools.combinations(range(n), size)
        for with_none in ((False, True) if none_option else (False,))
        if size > 0 or with_none
    )
    rule = SizingRule(kind="expected-f1", none_option=none_option)
    mask = select_basket(probs[None, :], rule)[0]
    order = np.argsort(-probs, kind="stable")
    sizes, use_none = expected_f1_sizes(probs[order][None, :], none_option)
    assert mask.sum() == sizes[0]
    assert brute_expected_f1(probs, mask, bool(use_none[0])) == pytest.approx(best, abs=1e-9)


def test_hand_examples():
    # One coin flip: predicting it is right half the time; F1 = 1 then, 0 otherwise.
    plain, _ = expected_f1_curve(np.array([[0.5]]))
    assert plain[0].tolist() == pytest.approx([0.0, 0.5])
    # Two sure products and a hopeless one: the basket is exactly the sure ones.
    assert select_basket(np.array([[1.0, 0.0, 1.0]]), SizingRule(kind="expected-f1")).tolist() \
        == [[True, False, True]]
    # One likely product among unlikely ones: E[F1] of the top 1 = 0.9 * 2 / (1 + 1) when the
    # others are never bought.
    plain, _ = expected_f1_curve(np.array([[0.9, 0.0, 0.0]]))
    assert plain[0, 1] == pytest.approx(0.9)
    assert plain[0, 2] == pytest.approx(0.9 * 2 / 3)
    # Many middling products: the expected-F1 basket is larger than the 0.5 threshold's (empty).
    scores = np.array([[0.4, 0.35, 0.3, 0.3, 0.05, 0.01]])
    assert select_basket(scores, SizingRule(kind="threshold")).sum() == 0
    assert select_basket(scores, SizingRule(kind="expected-f1")).sum() == 4


def test_none_option_predicts_none_when_nothing_is_likely():
    scores = np.array([[0.05, 0.04, 0.01]])
    sizes, use_none = expected_f1_sizes(scores, none_option=True)
    assert sizes.tolist() == [0] and use_none.tolist() == [True]
    assert not select_basket(scores, SizingRule(kind="expected-f1", none_option=True)).any()
    # Without the option the basket is never empty (with low odds, more products pay off).
    plain_basket = select_basket(scores, SizingRule(kind="expected-f1"))[0]
    assert plain_basket[0] and plain_basket.sum() >= 1


def test_top_k_and_threshold_rules():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [0.2, 0.2, 0.8, 0.1]])
    assert select_basket(scores, SizingRule(kind="top-k", k=2)).tolist() == [
        [False, True, False, True], [True, False, True, False]]  # tie goes to the lower index
    assert select_basket(scores, SizingRule(kind="threshold", threshold=0.5)).tolist() == [
        [False, True, True, True], [False, False, True, False]]
    # top-k does not need probabilities
    assert select_basket(scores * 10, SizingRule(kind="top-k", k=1)).sum() == 2


def test_candidate_cap_limits_the_basket():
    scores = np.full((2, 50), 0.99)
    mask = select_basket(scores, SizingRule(kind="expected-f1", max_candidates=7))
    assert mask.sum(axis=1).tolist() == [7, 7]


def test_chunks_give_the_same_answer(monkeypatch):
    rng = np.random.default_rng(3)
    probs = np.sort(rng.random((37, 12)) ** 3, axis=1)[:, ::-1]
    whole, whole_none = expected_f1_curve(probs, none_option=True)
    monkeypatch.setattr(selection, "_DP_CELLS_PER_CHUNK", 13 * 13 * 5)  # chunks of 5 customers
    chunked, chunked_none = expected_f1_curve(probs, none_option=True)
    np.testing.assert_allclose(chunked, whole)
    np.testing.assert_allclose(chunked_none, whole_none)


def test_empty_batches():
    assert select_basket(np.zeros((0, 5)), SizingRule(kind="expected-f1")).shape == (0, 5)


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan])
@pytest.mark.parametrize("rule", ["expected-f1", "threshold:0.5"])
def test_probabilities_outside_unit_interval_are_refused(bad, rule):
    scores = np.array([[0.2, bad, 0.3]])
    with pytest.raises(ConfigError) as info:
        select_basket(scores, parse_sizing(rule))
    assert "[0, 1]" in info.value.message and "\n" not in info.value.message
    with pytest.raises(ConfigError):
        check_probabilities(scores)


@pytest.mark.parametrize(("text", "rule"), [
    ("expected-f1", SizingRule(kind="expected-f1")),
    ("Expected-F1:150", SizingRule(kind="expected-f1", max_candidates=150)),
    ("expected-f1:none", SizingRule(kind="expected-f1", none_option=True)),
    ("expected-f1:50:none", SizingRule(kind="expected-f1", max_candidates=50, none_option=True)),
    ("top-k:5", SizingRule(kind="top-k", k=5)),
    ("threshold:0.3", SizingRule(kind="threshold", threshold=0.3)),
])
def test_parse_sizing_and_round_trip(text, rule):
    assert parse_sizing(text) == rule
    assert parse_sizing(rule.spec()) == rule


@pytest.mark.parametrize("text", ["expected-f1:abc", "expected-f1:0", "top-k:0", "threshold:2",
                                  "biggest"])
def test_bad_sizing_text_is_one_line_config_error(text):
    with pytest.raises(ConfigError) as info:
        parse_sizing(text)
    assert "\n" not in info.value.message


class OverconfidentModel(GTopFreq):
    """Claims probabilities but returns raw popularity counts (outside [0, 1])."""

    name = "overconfident"
    gives_probabilities = True


def test_cli_refuses_scores_outside_unit_interval(invoke, tiny_csv):
    registry.register(OverconfidentModel)
    result = invoke("evaluate", "--model", "overconfident", "--data", tiny_csv,
                    "--sizing", "expected-f1")
    assert result.exit_code == 2
    assert "[0, 1]" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
