"""TIFU-KNN's clustered neighbour search (pools larger than exact_pool)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_tiny_data

from basketcli.data.basket_data import from_baskets
from basketcli.data.split import leave_last_out
from basketcli.protocol import FitContext
from basketcli_models.neighbourhood.tifuknn import TifuKNN, TifuKNNConfig, user_vectors


@pytest.fixture(scope="module")
def histories():
    return leave_last_out(make_tiny_data(n_users=120, n_items=60, seed=4)).test.history


def prepared(histories, **config):
    model = TifuKNN(TifuKNNConfig(**config))
    model.fit(histories, None, FitContext())
    model.prepare_scoring(histories)
    return model


def test_all_candidates_give_the_exact_scores(histories):
    exact = prepared(histories, k=10).score(histories)
    clustered = prepared(histories, k=10, exact_pool=1, candidates=10_000)
    assert clustered.clustered
    assert np.array_equal(clustered.score(histories), exact)


def test_clustered_neighbours_are_close_and_never_the_customer(histories):
    exact = prepared(histories, k=10)
    clustered = prepared(histories, k=10, exact_pool=1, candidates=40, embed_dims=8)
    vectors = user_vectors(histories, clustered.config).astype(np.float32)
    found = clustered.neighbours(vectors, histories.user_ids)
    assert found.shape == (histories.n_users, 10)
    assert (found != np.arange(histories.n_users)[:, None]).all()
    truth = exact.neighbours(vectors, histories.user_ids)

    def mean_distance(nbrs):
        dense = vectors.toarray()
        return np.mean([((dense[nbrs[u]] - dense[u]) ** 2).sum(1).mean()
                        for u in range(len(nbrs))])

    assert mean_distance(found) <= 1.25 * mean_distance(truth)


def test_clustered_scores_do_not_depend_on_the_batch(histories):
    model = prepared(histories, k=10, exact_pool=1, candidates=40, embed_dims=8)
    full = model.score(histories)
    users = np.arange(histories.n_users)[::-3]
    assert np.array_equal(model.score(histories.select_users(users)), full[users])


def test_a_changed_history_is_searched_again(histories):
    model = prepared(histories, k=10, exact_pool=1, candidates=40, embed_dims=8)
    vectors = user_vectors(histories, model.config).astype(np.float32)
    rows = model._pool_rows(vectors, histories.user_ids)
    assert np.array_equal(rows, np.arange(histories.n_users))  # unchanged: the pool's table
    baskets = histories.product_ids_of(0)
    changed = from_baskets({int(histories.user_ids[0]): baskets[:2]},
                           item_ids=histories.item_ids)
    newcomer = from_baskets({-1: baskets}, item_ids=histories.item_ids)
    for query, own_row in ((changed, 0), (newcomer, None)):
        query_vectors = user_vectors(query, model.config).astype(np.float32)
        assert model._pool_rows(query_vectors, query.user_ids).tolist() == [-1]
        found = model.neighbours(query_vectors, query.user_ids)
        assert found.shape == (1, 10) and len(set(found[0].tolist())) == 10
        assert own_row not in found[0].tolist()
    # The newcomer bought what customer 0 bought: customer 0 is its nearest neighbour.
    assert int(found[0, np.argmin(((vectors[found[0]].toarray()
                                   - query_vectors.toarray()) ** 2).sum(1))]) == 0


def test_the_index_is_seeded(histories):
    a = prepared(histories, k=5, exact_pool=1, candidates=30, embed_dims=8, seed=1)
    b = prepared(histories, k=5, exact_pool=1, candidates=30, embed_dims=8, seed=1)
    assert np.array_equal(a.score(histories), b.score(histories))
