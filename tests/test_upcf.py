"""UP-CF@r: scores computed by hand from the paper's (and Cornac's) formulas, the customer never
its own neighbour, the recency window, the large-pool search, the contract, and Cornac's
numbers on the bundled sample."""

from __future__ import annotations

import numpy as np
import pytest

from basketcli.data.basket_data import BasketData, from_baskets
from basketcli.protocol import FitContext
from basketcli.testing import check_model, contract_data
from basketcli_models.neighbourhood.upcf import (
    UPCF,
    UPCFConfig,
    basket_counts,
    neighbour_weights,
    presence,
    ragged_top,
    recency_profiles,
)

# Products 10, 20, 30, 40, 50 are vocabulary indices 0-4; baskets in time order.
PRODUCTS = np.array([10, 20, 30, 40, 50])
HAND_BASKETS = {
    1: [[10, 20], [10, 30], [10]],  # x = (3, 1, 1, 0, 0), |x|^2 = 11, 3 products
    2: [[10, 20], [20, 40]],  # x = (1, 2, 0, 1, 0), |x|^2 = 6, 3 products
    3: [[30, 50], [30]],  # x = (0, 0, 2, 0, 1), |x|^2 = 5, 2 products
}
# pi with r = 2: the share of the last two baskets holding each product.
PROFILE = {
    1: np.array([1.0, 0.0, 0.5, 0.0, 0.0]),  # [10, 30], [10]
    2: np.array([0.5, 1.0, 0.0, 0.5, 0.0]),  # [10, 20], [20, 40]
    3: np.array([0.0, 0.0, 1.0, 0.0, 0.5]),  # [30, 50], [30]
}


def asym_cosine(dot: float, n_products: int, squared_norm: float, alpha: float) -> float:
    """(y_u . x_v) / (|y_u|^(2 alpha) |x_v|^(2 (1 - alpha))), y_u 0/1 so |y_u|^2 = n."""
    return dot / (n_products ** alpha * squared_norm ** (1 - alpha))


# alpha = 0.25. u = 1: y = {10, 20, 30}, so y . x_2 = 1 + 2 and y . x_3 = 2. u = 2: y =
# {10, 20, 40}, y . x_1 = 3 + 1. u = 3: y = {30, 50}, y . x_1 = 1. Customers 2 and 3 share nothing.
S_12 = asym_cosine(3, 3, 6, 0.25)
S_13 = asym_cosine(2, 3, 5, 0.25)
S_21 = asym_cosine(4, 3, 11, 0.25)
S_31 = asym_cosine(1, 2, 11, 0.25)


def hand_data(baskets: dict[int, list[list[int]]] = HAND_BASKETS) -> BasketData:
    return from_baskets(baskets, item_ids=PRODUCTS)


def prepared(histories: BasketData, **settings) -> UPCF:
    model = UPCF(UPCFConfig(**settings))
    model.fit(histories, None, FitContext())
    model.prepare_scoring(histories)
    return model


def evidence_and_fill(scores: np.ndarray, expected: np.ndarray) -> None:
    """Products with evidence score as expected; the others below all of them, by popularity."""
    has = expected > 0
    np.testing.assert_allclose(scores[has], expected[has], rtol=1e-6)
    assert (scores[~has] >= 0).all() and (scores[~has] < expected[has].min()).all()


# --- by hand ----------------------------------------------------------------------------------
def test_recency_profiles_by_hand():
    data = hand_data()
    np.testing.assert_allclose(recency_profiles(data, 2).toarray(), np.stack(
        [PROFILE[1], PROFILE[2], PROFILE[3]]))
    # r = 1: the last basket only; r past the history: every basket, over n (not r).
    np.testing.assert_allclose(recency_profiles(data, 1).toarray()[0], [1, 0, 0, 0, 0])
    np.testing.assert_allclose(recency_profiles(data, 5).toarray()[0], [1, 1 / 3, 1 / 3, 0, 0])
    np.testing.assert_allclose(recency_profiles(data, 5).toarray()[1], [0.5, 1, 0, 0.5, 0])


def test_scores_by_hand():
    data = hand_data()
    scores = prepared(data, recency=2, asymmetry=0.25, locality=1).score(data)
    # score(u) = pi_u (similarity 1 to itself) + sum over the other customers of s(u, v) pi_v.
    evidence_and_fill(scores[0], PROFILE[1] + S_12 * PROFILE[2] + S_13 * PROFILE[3])
    evidence_and_fill(scores[1], PROFILE[2] + S_21 * PROFILE[1])
    evidence_and_fill(scores[2], PROFILE[3] + S_31 * PROFILE[1])
    # Ranking of customer 1: 10 (1 + S_12 / 2), 30 (1/2 + S_13), 20 (S_12), 40, then 50.
    assert S_12 > S_13 and 0.5 + S_13 > S_12
    assert PRODUCTS[np.argsort(-scores[0], kind="stable")].tolist() == [10, 30, 20, 40, 50]
    # Customer 3 has no evidence for 20 (bought in 3 baskets) or 40 (1): popularity orders them.
    assert scores[2, 1] > scores[2, 3] > 0


def test_locality_and_neighbour_count_by_hand():
    data = hand_data()
    # k = 2 rows: the customer itself and the most similar other one (2 for customer 1, as
    # S_12 > S_13); q = 3 raises the similarity to the third power.
    scores = prepared(data, recency=2, asymmetry=0.25, locality=3, neighbours=2).score(data)
    evidence_and_fill(scores[0], PROFILE[1] + S_12 ** 3 * PROFILE[2])
    evidence_and_fill(scores[2], PROFILE[3] + S_31 ** 3 * PROFILE[1])


def test_the_customer_gives_way_to_k_customers_more_similar_than_itself():
    # alpha = 1: s(u, v) = y_u . x_v / n_u, which passes 1: s(2, 1) = (3 + 1) / 3. With k = 1
    # the single row kept is customer 1, not customer 2 itself (as in Cornac's top-k). A row
    # whose best similarity passes 1 is divided by it (the same ranking, no overflow).
    data = hand_data()
    s_21 = asym_cosine(4, 3, 11, 1.0)
    assert s_21 > 1
    alone = prepared(data, recency=2, asymmetry=1.0, locality=2, neighbours=1).score(data)
    evidence_and_fill(alone[1], PROFILE[1])
    both = prepared(data, recency=2, asymmetry=1.0, locality=2, neighbours=2).score(data)
    evidence_and_fill(both[1], (PROFILE[2] + s_21 ** 2 * PROFILE[1]) / s_21 ** 2)
    # s(2, 1) = (60 + 60) / 3 = 40, and 40^100 overflows float32: the scores stay finite.
    heavy = hand_data({1: [[10, 20]] * 60, 2: [[10, 20, 30]]})
    assert np.isfinite(prepared(heavy, asymmetry=1.0, locality=100).score(heavy)).all()


def test_neighbour_weights_keep_the_customer_unless_k_others_beat_it():
    values = np.array([[0.9, 0.5], [1.5, 1.2], [0.5, 0.0], [2.0, 0.5]], dtype=np.float32)
    weights, own = neighbour_weights(values, np.array([True, True, False, True]), k=2,
                                     locality=2)
    assert own.tolist() == [1.0, 0.0, 0.0, 0.25]  # row 3 has no history: no own profile
    # Rows 2 and 4 pass 1: divided by their best, 1.5 and 2.
    expected = [[0.81, 0.0], [1.0, 0.64], [0.25, 0.0], [1.0, 0.0]]
    np.testing.assert_allclose(weights, expected, rtol=1e-6)


def test_the_customer_is_never_their_own_neighbour():
    # Customer 9 bought exactly what customer 1 bought: 9 is 1's nearest neighbour, while the
    # pool row of customer 1 (the same history, the same id) never is.
    data = hand_data({**HAND_BASKETS, 9: HAND_BASKETS[1]})
    model = prepared(data, recency=2, asymmetry=0.25, locality=1)
    columns, values = model.neighbours(presence(basket_counts(data)), data.user_ids)
    for row in range(data.n_users):
        found = columns[row][values[row] > 0]
        assert data.user_ids[row] not in data.user_ids[found].tolist()
    assert data.user_ids[columns[0, 0]] == 9
    np.testing.assert_allclose(values[0, 0], asym_cosine(3 + 1 + 1, 3, 11, 0.25), rtol=1e-6)
    scores = model.score(data)
    expected = PROFILE[1] + values[0, 0] * PROFILE[1] + S_12 * PROFILE[2] + S_13 * PROFILE[3]
    evidence_and_fill(scores[0], expected)


def test_recency_limits_the_profile_to_the_last_baskets():
    # One customer, no neighbours: the scores are the customer's own profile. Product 20 was
    # bought only in the first basket: outside a window of 2, inside a window of 3.
    data = hand_data({1: HAND_BASKETS[1]})
    two = prepared(data, recency=2).score(data)[0]
    evidence_and_fill(two, PROFILE[1])
    assert two[1] < two[2]
    three = prepared(data, recency=3).score(data)[0]
    evidence_and_fill(three, np.array([1.0, 1 / 3, 1 / 3, 0.0, 0.0]))
    # The similarity still reads the whole history: 20 (first basket only) is in y_u.
    assert presence(basket_counts(data)).toarray()[0].tolist() == [1, 1, 1, 0, 0]


def test_ragged_top_keeps_each_rows_best_positive_values():
    rows = np.array([0, 0, 0, 0, 1, 1, 1, 3])
    values = np.array([1.0, 3.0, 0.0, 2.0, 5.0, 5.0, 4.0, 0.0], dtype=np.float32)
    chosen, rank = ragged_top(rows, values, n_rows=4, k=2)
    assert chosen.tolist() == [1, 3, 4, 5]  # equal values in entry order; zeros never
    assert rank.tolist() == [0, 1, 0, 1]


# --- the large-pool search ----------------------------------------------------------------
@pytest.fixture(scope="module")
def histories() -> BasketData:
    return contract_data(n_users=150, n_items=60, seed=3)


def test_a_large_pool_with_every_candidate_scores_exactly(histories):
    exact = prepared(histories, recency=3, neighbours=10)
    large = prepared(histories, recency=3, neighbours=10, exact_pool=1, champions=10_000,
                     candidates=10_000)
    assert large.large_pool and not exact.large_pool
    assert np.array_equal(large.score(histories), exact.score(histories))


def test_a_large_pool_finds_most_of_the_neighbours_and_never_the_customer(histories):
    settings = {"neighbours": 10, "asymmetry": 0.25, "locality": 5}
    exact = prepared(histories, **settings)
    large = prepared(histories, **settings, exact_pool=1, champions=10, candidates=40)
    query = presence(basket_counts(histories))
    found, found_values = large.neighbours(query, histories.user_ids)
    truth, truth_values = exact.neighbours(query, histories.user_ids)
    assert (histories.user_ids[found] != histories.user_ids[:, None]).all()
    # The search compares candidates exactly: what it finds is at most the true best, and
    # holds most of the weight s^q of the true neighbours.
    assert (found_values[:, 0] <= truth_values[:, 0] + 1e-6).all()
    share = (found_values.astype(np.float64) ** 5).sum() / (truth_values.astype(np.float64)
                                                             ** 5).sum()
    assert share > 0.8
    # The pool's customers reuse the neighbours found for the pool; a changed history and a
    # newcomer are searched at scoring time, and never meet themselves either.
    assert np.array_equal(large._pool_rows(query, histories.user_ids),
                          np.arange(histories.n_users))
    baskets = histories.product_ids_of(0)
    changed = from_baskets({int(histories.user_ids[0]): baskets[:2]}, item_ids=histories.item_ids)
    newcomer = from_baskets({-1: baskets}, item_ids=histories.item_ids)
    for other in (changed, newcomer):
        other_query = presence(basket_counts(other))
        assert large._pool_rows(other_query, other.user_ids).tolist() == [-1]
        columns, values = large.neighbours(other_query, other.user_ids)
        assert (values[0] > 0).sum() == 10
        assert int(other.user_ids[0]) not in histories.user_ids[columns[0]].tolist()


def test_large_pool_scores_do_not_depend_on_the_batch(histories):
    model = prepared(histories, neighbours=10, exact_pool=1, champions=8, candidates=30,
                     batch_size=7)
    full = model.score(histories)
    users = np.arange(histories.n_users)[::-3]
    assert np.array_equal(model.score(histories.select_users(users)), full[users])


# --- the contract and the protocol ----------------------------------------------------------
def test_contract():
    check_model("upcf")


def test_contract_with_a_large_pool():
    check_model("upcf", exact_pool=5, champions=3, candidates=6, neighbours=4)


def test_every_setting_a_search_tunes_is_declared():
    assert set(UPCF.search_space()) >= {"recency", "asymmetry", "locality", "neighbours"}
    assert UPCF.reference and not UPCF.gives_probabilities


def test_cornac_numbers_on_the_sample():
    """Cornac 3.0.1's UPCF(recency=5, asymmetry=0.25, locality=5) under basket's protocol:
    recall@10 0.3689, ndcg@10 0.4573 (similaripy's default k = 100 neighbours)."""
    from basketcli.data.source import DataSpec
    from basketcli.evaluation.scoring import evaluate_model
    from basketcli.workflows.steps import prepare

    _, split = prepare(DataSpec())
    model = UPCF(UPCFConfig(recency=5, asymmetry=0.25, locality=5, neighbours=100))
    model.fit(split.train, split.valid, FitContext())
    metrics = evaluate_model(model, split.test)[0].metrics
    assert abs(metrics["recall@10"] - 0.3689) <= 0.01
    assert abs(metrics["ndcg@10"] - 0.4573) <= 0.01
