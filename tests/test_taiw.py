"""TAIW: the timing terms by hand (days and order positions), the interval fit, the neighbour
mixing, and the model contract."""

from __future__ import annotations

from dataclasses import replace
from math import exp, pi, sqrt

import numpy as np
import pytest

from basketcli.data.basket_data import BasketData, from_baskets
from basketcli.protocol import FitContext
from basketcli.testing import check_model, contract_data
from basketcli_models.neighbourhood.taiw import (
    MIN_SPREAD,
    TAIW,
    IntervalMixture,
    TAIWConfig,
    fit_interval_mixtures,
    fit_mixtures,
    next_order_times,
    order_times,
    population_mean_gap,
    repurchase_intervals,
    timing_vectors,
)

NAN = float("nan")
# Products 10, 20, 30, 40 are vocabulary indices 0, 1, 2, 3.
HAND_BASKETS = {
    1: [[10, 20], [10], [10, 30]],  # days 0, 7, 14: mean gap 7, next order on day 21
    2: [[20], [20, 30], [40]],  # days 0, 3, 8: mean gap 4, next order on day 12
    3: [[30, 40]],  # one order: the population's mean gap, (7 + 7 + 3 + 5) / 4 = 5.5
}
HAND_GAPS = [NAN, 7, 7, NAN, 3, 5, NAN]


def hand_data(days: bool) -> BasketData:
    data = from_baskets(HAND_BASKETS)
    gaps = np.array(HAND_GAPS, dtype=np.float32) if days else None
    return replace(data, days_since_prior=gaps)


# A hand-set kernel per product: decay b, due m, spread d, share p, rate a.
HAND_MIXTURE = IntervalMixture(
    decay=np.array([10.0, 4.0, 2.0, 1.0]), due=np.array([7.0, 3.0, 5.0, 6.0]),
    spread=np.array([2.0, 1.0, 1.0, 3.0]), share=np.array([0.5, 0.25, 0.5, 0.1]),
    rate=np.array([0.6, 0.5, 0.4, 0.3]))


def kernel(elapsed: float, product: int) -> float:
    """a [(1 - p) exp(-Δ/b) / b + p exp(-(Δ - m)^2 / (2 d^2)) / (d sqrt(2 pi))]."""
    b, m, d, p, a = (float(getattr(HAND_MIXTURE, f)[product])
                     for f in ("decay", "due", "spread", "share", "rate"))
    return a * ((1 - p) * exp(-elapsed / b) / b
                + p * exp(-0.5 * ((elapsed - m) / d) ** 2) / (d * sqrt(2 * pi)))


# --- time --------------------------------------------------------------------------------------
def test_times_are_running_days_or_order_positions():
    days, ranks = hand_data(days=True), hand_data(days=False)
    assert order_times(days, "days", 5.5).tolist() == [0, 7, 14, 0, 3, 8, 0]
    assert order_times(ranks, "orders", 1.0).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert population_mean_gap(days, "days") == 5.5
    assert population_mean_gap(ranks, "orders") == 1.0
    times = order_times(days, "days", 5.5)
    assert next_order_times(days, times, 5.5).tolist() == [21, 12, 5.5]
    times = order_times(ranks, "orders", 1.0)
    assert next_order_times(ranks, times, 1.0).tolist() == [3, 3, 1]
    # Fitted on days, scored without them: positions times the mean gap.
    assert order_times(ranks, "days", 5.5).tolist() == [0, 5.5, 11, 0, 5.5, 11, 0]


# --- the timing term by hand -------------------------------------------------------------------
def test_timing_scores_with_days_by_hand():
    scores = timing_vectors(hand_data(days=True), HAND_MIXTURE, "days", 5.5).toarray()
    # Customer 1 bought product 10 on days 0, 7, 14 and is due on day 21: Δ = 21, 14, 7, so
    # 0.6 [0.5 (e^-2.1 + e^-1.4 + e^-0.7) / 10 + 0.5 (e^-24.5 + e^-6.125 + 1) / (2 sqrt(2 pi))]
    # = 0.025969 + 0.059972.
    assert scores[0, 0] == pytest.approx(0.0859414, rel=1e-5)
    expected = np.array([
        [sum(kernel(t, 0) for t in (21, 14, 7)), kernel(21, 1), kernel(7, 2), 0.0],
        [0.0, kernel(12, 1) + kernel(9, 1), kernel(9, 2), kernel(4, 3)],
        [0.0, 0.0, kernel(5.5, 2), kernel(5.5, 3)],
    ])
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_timing_scores_with_order_positions_by_hand():
    scores = timing_vectors(hand_data(days=False), HAND_MIXTURE, "orders", 1.0).toarray()
    # Next order is position 3 for customers 1 and 2 and position 1 for customer 3.
    assert scores[0, 0] == pytest.approx(0.0853243, rel=1e-5)
    expected = np.array([
        [sum(kernel(t, 0) for t in (3, 2, 1)), kernel(3, 1), kernel(1, 2), 0.0],
        [0.0, kernel(3, 1) + kernel(2, 1), kernel(2, 2), kernel(1, 3)],
        [0.0, 0.0, kernel(1, 2), kernel(1, 3)],
    ])
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


# --- the interval fit --------------------------------------------------------------------------
@pytest.mark.parametrize("days", [True, False])
def test_intervals_and_repurchase_rates_by_hand(days):
    data = hand_data(days)
    unit = "days" if days else "orders"
    gap = population_mean_gap(data, unit)
    products, intervals, opportunities = repurchase_intervals(data, order_times(data, unit, gap))
    assert products.tolist() == [0, 0, 1]  # 10 twice (customer 1), 20 once (customer 2)
    assert intervals.tolist() == ([7, 7, 3] if days else [1, 1, 1])
    # Purchases outside the customer's last order: 10 x2, 20 x3, 30 x1, 40 none.
    assert opportunities.tolist() == [2, 3, 1, 0]
    mixture, population = fit_interval_mixtures(data, unit, gap, strength=10.0, iterations=5)
    # Population rate (3 + 1) / (6 + 2) = 0.5; each product's: (repeats + 10 x 0.5) / (opp. + 10).
    assert population["rate"] == 0.5
    np.testing.assert_allclose(mixture.rate, [7 / 12, 6 / 13, 5 / 11, 5 / 10])


def test_constant_intervals_give_a_sharp_bump_where_due():
    x = np.array([7.0, 3.0])
    weight = np.array([100.0, 100.0])
    group = np.array([0, 1])
    start = np.array([5.0, 5.0, 2.0, 0.5])
    decay, due, spread, share = fit_mixtures(x, weight, group, 3, start, 0.0, 30)
    assert due[:2] == pytest.approx([7.0, 3.0])
    assert spread[:2].tolist() == [MIN_SPREAD, MIN_SPREAD]
    assert (share[:2] > 0.99).all()
    # Group 2 has no interval and, with no prior strength, keeps the starting values.
    assert [decay[2], due[2], spread[2], share[2]] == start.tolist()


def test_a_product_without_repurchases_takes_the_population_shape():
    mixture, population = fit_interval_mixtures(hand_data(days=True), "days", 5.5, 10.0, 30)
    # Products 30 and 40 were never bought twice: exactly the population's mixture.
    for name in ("decay", "due", "spread", "share"):
        values = getattr(mixture, name)
        assert values[2] == values[3] == pytest.approx(population[name])


# --- the neighbour term ------------------------------------------------------------------------
FOUR_BASKETS = {**HAND_BASKETS, 4: [[10, 40], [30, 40], [40]]}


def fitted(baskets: dict, days: bool = True, **settings) -> tuple[TAIW, BasketData]:
    data = from_baskets(baskets, item_ids=np.array([10, 20, 30, 40]))
    if days:
        gaps = np.where(data.order_rank() == 0, np.nan, 4.0 + data.order_rank()).astype(np.float32)
        data = replace(data, days_since_prior=gaps)
    model = TAIW(TAIWConfig(**settings))
    model.fit(data, None, FitContext())
    model.prepare_scoring(data)
    return model, data


@pytest.mark.parametrize("days", [True, False])
def test_neighbours_score_only_products_not_bought(days):
    model, data = fitted(FOUR_BASKETS, days, k=3, alpha=0.6)
    model.popularity = np.zeros(data.n_items)  # no popularity fill: the terms alone
    own = model.timing(data).toarray()
    scores = model.score(data)
    bought = own > 0
    for user in range(data.n_users):
        others = np.delete(np.arange(data.n_users), user)  # k = 3: everyone else, never self
        assert model.neighbours(model.timing(data)[user], data.user_ids[user:user + 1]
                                ).tolist() == [others.tolist()]
        expected = np.where(bought[user], 0.6 * own[user], 0.4 * own[others].mean(axis=0))
        np.testing.assert_allclose(scores[user], expected, rtol=1e-5, atol=1e-9)


def test_mixing_over_all_products_as_the_authors():
    model, data = fitted(FOUR_BASKETS, k=3, alpha=0.6, neighbours_for="all")
    model.popularity = np.zeros(data.n_items)
    own = model.timing(data).toarray()
    scores = model.score(data)
    for user in range(data.n_users):
        others = np.delete(np.arange(data.n_users), user)
        np.testing.assert_allclose(
            scores[user], 0.6 * own[user] + 0.4 * own[others].mean(axis=0), rtol=1e-5)


def test_a_customer_is_never_their_own_neighbour():
    # Customers 1 and 2 have the same history: each is the other's nearest, never their own.
    twins = {1: [[10, 20], [10, 30]], 2: [[10, 20], [10, 30]], 3: [[40], [30, 40]]}
    model, data = fitted(twins, k=1)
    found = model.neighbours(model.timing(data), data.user_ids)
    assert found[:, 0].tolist()[:2] == [1, 0]
    assert found[2, 0] != 2


def test_the_popularity_fill_orders_what_has_no_score():
    model, data = fitted(FOUR_BASKETS, k=1, alpha=1.0)
    own = model.timing(data).toarray()
    scores = model.score(data)
    # Customer 3 bought 30 and 40 only. 10 (in 4 baskets) and 20 (in 3) get a fill ordered by
    # popularity, below both bought products, whose scores it barely moves.
    assert 0 < scores[2, 1] < scores[2, 0] < scores[2, 2:].min()
    np.testing.assert_allclose(scores[2, 2:], own[2, 2:], rtol=1e-5)


def test_neither_alpha_extreme_breaks_the_scores():
    for alpha in (0.0, 1.0):
        model, data = fitted(FOUR_BASKETS, k=2, alpha=alpha)
        scores = model.score(data)
        assert np.isfinite(scores).all() and (scores > 0).all()


# --- the contract ------------------------------------------------------------------------------
def test_contract_with_days():
    check_model("taiw", k=10)


def test_contract_without_days():
    check_model("taiw", data=replace(contract_data(), days_since_prior=None), k=10)


def test_contract_with_the_clustered_search():
    check_model("taiw", k=5, exact_pool=1, candidates=8, embed_dims=4)


# --- the time unit -----------------------------------------------------------------------------
def test_auto_unit_is_the_one_with_the_better_validation_ndcg():
    from basketcli.data.split import leave_last_out

    split = leave_last_out(contract_data())
    lines: list[str] = []
    auto = TAIW(TAIWConfig(k=10))
    info = auto.fit(split.train, split.valid, FitContext(log=lines.append)).info
    by_unit = info["valid_ndcg@10_by_unit"]
    assert set(by_unit) == {"days", "orders"} and lines and lines[0].startswith("taiw: ")
    assert auto.unit == info["time_unit"] == max(("days", "orders"), key=by_unit.__getitem__)
    # The kept model is exactly the one fitted in that unit alone (no validation needed).
    alone = TAIW(TAIWConfig(k=10, time_unit=auto.unit))
    assert alone.fit(split.train, split.valid, FitContext()).info["valid_ndcg@10_by_unit"] == {}
    for model in (auto, alone):
        model.prepare_scoring(split.test.history)
    np.testing.assert_array_equal(auto.score(split.test.history),
                                  alone.score(split.test.history))


@pytest.mark.parametrize("wanted", ["auto", "days", "orders"])
def test_data_without_days_is_timed_in_orders(wanted):
    model, _ = fitted(FOUR_BASKETS, days=False, k=2, time_unit=wanted)
    assert model.unit == "orders"
    with_days, _ = fitted(FOUR_BASKETS, days=True, k=2, time_unit=wanted)
    assert with_days.unit == ("days" if wanted == "auto" else wanted)  # no validation: days
