import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basketcli.evaluation.metrics import METRIC_KEYS, ProductCounts, ranking_metrics, set_f1, top_k


def masks(n_items, rows):
    m = np.zeros((len(rows), n_items), dtype=bool)
    for i, r in enumerate(rows):
        m[i, r] = True
    return m


def test_hand_computed_example():
    # 25 items; target {0, 1, 2}; ranking puts item 0 first and item 2 at rank 12.
    ranking = np.array([[0, *range(3, 13), 2, *range(13, 21)]])
    target = masks(25, [[0, 1, 2]])
    out = ranking_metrics(ranking, target)
    assert out["recall@10"][0] == pytest.approx(1 / 3)
    assert out["precision@10"][0] == pytest.approx(0.1)
    assert out["recall@20"][0] == pytest.approx(2 / 3)
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert out["ndcg@10"][0] == pytest.approx(1 / ideal)
    assert out["ndcg@20"][0] == pytest.approx((1 + 1 / np.log2(13)) / ideal)
    assert out["phr@10"][0] == 1.0
    assert out["f1@10"][0] == pytest.approx(2 * (1 / 3) * 0.1 / (1 / 3 + 0.1))


def test_repeat_explore_split():
    ranking = np.array([list(range(20))])
    target = masks(30, [[0, 25, 26]])
    history = masks(30, [[0, 1, 25]])
    out = ranking_metrics(ranking, target, history)
    assert out["recall@10_repeat"][0] == pytest.approx(0.5)  # 0 hit, 25 missed
    assert out["recall@10_explore"][0] == 0.0  # 26 missed


def test_explore_undefined_when_no_new_items():
    out = ranking_metrics(np.array([list(range(20))]), masks(25, [[1]]), masks(25, [[1]]))
    assert np.isnan(out["recall@10_explore"][0])


def test_f1_micro_macro():
    counts = ProductCounts(3)
    counts.add(masks(3, [[0, 1], [0]]), masks(3, [[0], [0, 2]]))
    # tp: item0=2; fp: item1=1; fn: item2=1
    assert counts.f1_micro() == pytest.approx(4 / (4 + 1 + 1))
    assert counts.f1_macro() == pytest.approx((1.0 + 0.0 + 0.0) / 3)


def test_top_k_ties_go_to_lower_index():
    scores = np.array([[1.0, 3.0, 3.0, 0.0]], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [[1, 2, 0]]


def stable_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """top_k's definition: a stable sort of each whole row, best first (NaN last)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("values", ["distinct", "few", "halves"])
@pytest.mark.parametrize(("k", "columns"), [(1, 3000), (10, 3000), (11, 2817), (20, 49688),
                                            (40, 20000), (10, 500), (300, 3000), (5, 3)])
def test_top_k_is_a_stable_sort_of_each_row(k, columns, values):
    rng = np.random.default_rng(k + columns)
    if values == "distinct":
        scores = rng.permuted(np.tile(np.arange(columns, dtype=np.float32), (40, 1)), axis=1)
    elif values == "few":  # many scores equal to the k-th best
        scores = rng.integers(0, 30, (40, columns)).astype(np.float32)
    else:  # some rows settled by block maxima, others crowded with equal scores
        scores = rng.random((40, columns), dtype=np.float32)
        scores[::2] = np.round(scores[::2] * 4)
    assert np.array_equal(top_k(scores, k), stable_top_k(scores, k))


@pytest.mark.parametrize("fill", [0.0, np.nan, -np.inf, np.inf])
def test_top_k_with_equal_missing_or_infinite_scores(fill):
    scores = np.full((4, 5000), fill, dtype=np.float32)
    scores[:, [4000, 300, 200, 100]] = [1.0, 0.5, 0.5, 0.5]
    scores[3] = 0.25  # a row of equal scores
    assert np.array_equal(top_k(scores, 2), stable_top_k(scores, 2))
    if not np.isinf(fill):
        # Equal scores at the k-th place: the lowest column wins; NaN ranks last.
        assert top_k(scores, 2).tolist() == [[4000, 100]] * 3 + [[0, 1]]


@given(st.integers(1, 5), st.integers(1, 300), st.integers(1, 30), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_top_k_matches_a_stable_sort_on_random_scores(rows, columns, k, seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(-3, 4, (rows, columns)).astype(np.float64)
    scores[rng.random(scores.shape) < 0.05] = np.nan
    assert np.array_equal(top_k(scores, k, group=4), stable_top_k(scores, k))


@st.composite
def problems(draw):
    n_users = draw(st.integers(1, 6))
    n_items = draw(st.integers(20, 30))
    target = np.zeros((n_users, n_items), dtype=bool)
    for u in range(n_users):
        items = draw(st.lists(st.integers(0, n_items - 1), min_size=1, max_size=8, unique=True))
        target[u, items] = True
    scores = draw(st.lists(st.floats(0, 1), min_size=n_users * n_items, max_size=n_users * n_items))
    return target, np.array(scores, dtype=np.float32).reshape(n_users, n_items)


@settings(max_examples=60, deadline=None)
@given(problems())
def test_metrics_in_unit_interval_and_order_free(problem):
    target, scores = problem
    history = np.roll(target, 1, axis=1)
    out = ranking_metrics(top_k(scores, 20), target, history)
    for values in out.values():
        defined = values[~np.isnan(values)]
        assert ((defined >= 0) & (defined <= 1 + 1e-9)).all()
    perm = np.arange(len(target))[::-1]
    shuffled = ranking_metrics(top_k(scores[perm], 20), target[perm], history[perm])
    for key in out:
        if np.isnan(out[key]).all():
            continue
        assert np.nanmean(out[key]) == pytest.approx(np.nanmean(shuffled[key]), nan_ok=True)


@settings(max_examples=60, deadline=None)
@given(problems())
def test_perfect_prediction_scores_one(problem):
    target, _ = problem
    perfect = target.astype(np.float32)
    out = ranking_metrics(top_k(perfect, 20), target)
    sizes = target.sum(axis=1)
    assert np.allclose(out["ndcg@10"], 1.0)
    assert np.allclose(out["ndcg@20"], 1.0)
    assert np.allclose(out["recall@10"][sizes <= 10], 1.0)
    assert np.allclose(out["phr@10"], 1.0)
    assert np.allclose(set_f1(target, target), 1.0)


def test_every_metric_key_is_documented():
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "evaluation.md"
    readme = page.read_text(encoding="utf-8")
    assert len(set(METRIC_KEYS)) == len(METRIC_KEYS)
    for key in METRIC_KEYS:
        generic = re.sub(r"@\d+$", "@K", key)  # recall@10 is documented as recall@K
        assert f"`{key}`" in readme or f"`{generic}`" in readme, key


def test_a_miss_an_imperfect_basket_and_a_catalog_smaller_than_k_by_hand():
    # 3 products; user 0 buys {2}, the model ranks 0, 1, 2: no hit in the top 2, one in the top 3
    target = masks(3, [[2], [0, 1]])
    history = masks(3, [[0], [0]])
    ranked = top_k(np.array([[0.9, 0.5, 0.1], [0.9, 0.5, 0.1]]), 20)
    assert ranked.shape == (2, 3)  # fewer products than K: every product is ranked
    out = ranking_metrics(ranked, target, history)
    # precision@K divides by K even when the catalog is smaller: 1 hit / 10 and 2 hits / 10
    assert out["precision@10"].tolist() == pytest.approx([0.1, 0.2])
    assert out["recall@10"].tolist() == pytest.approx([1.0, 1.0])
    assert out["repeat_share@10"].tolist() == pytest.approx([1 / 3, 1 / 3])
    miss = ranking_metrics(np.array([[0, 1]]), masks(3, [[2]]))  # a list of 2 that misses
    assert miss["phr@10"].tolist() == [0.0] and miss["ndcg@10"].tolist() == [0.0]
    # basket F1 of {0, 1} against {1, 2}: precision 1/2, recall 1/2 -> F1 1/2
    assert set_f1(masks(3, [[0, 1]]), masks(3, [[1, 2]])).tolist() == pytest.approx([0.5])
    # recall@K divides by the target's size: a perfect ranking of 15 products has recall@10 2/3
    big = np.zeros((1, 20), dtype=bool)
    big[0, :15] = True
    perfect = ranking_metrics(np.arange(20)[None, :], big)
    assert perfect["recall@10"].tolist() == pytest.approx([10 / 15])
