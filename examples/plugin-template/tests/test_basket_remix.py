"""basket's contract suite on this model, then tests of what is particular to it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
from basketcli import registry
from basketcli.data.basket_data import from_baskets
from basketcli.protocol import FitContext
from basketcli.testing import check_model
from scipy import sparse

from basket_remix import Remix, keep_top_per_row, new_product_lines

PROJECT = Path(__file__).resolve().parents[1]


def test_meets_the_basket_contract(tmp_path):
    check_model(Remix, work_dir=tmp_path)


def test_entry_point_names_the_class():
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    target = project["project"]["entry-points"]["basketcli.models"][Remix.name]
    assert target == f"{Remix.__module__}:{Remix.__qualname__}"


def test_meets_the_contract_by_name_once_installed(monkeypatch, tmp_path):
    monkeypatch.delenv("BASKET_LOAD_PLUGINS", raising=False)
    registry.refresh()
    if Remix.name not in registry.list_models():
        pytest.skip("not installed yet (pip install -e .); the test by class above ran")
    check_model(Remix.name, work_dir=tmp_path)


def fitted(baskets: dict[int, list[list[int]]], **settings) -> tuple[Remix, object]:
    data = from_baskets(baskets)
    model = Remix(Remix.Config(**settings))
    model.fit(data, None, FitContext())
    return model, data


def column(data, product_id: int) -> int:
    return int(np.searchsorted(data.item_ids, product_id))


def test_explores_products_that_go_with_what_the_customer_buys():
    # Products 1 and 2 go together for everyone else; customer 9 buys only 1 (and 4).
    others = {u: [[1, 2], [1, 2, 3], [1, 2]] for u in range(5)}
    model, data = fitted({**others, 9: [[1, 4], [1], [1, 4]]})
    scores = model.score(data)[-1]
    assert scores[column(data, 2)] > scores[column(data, 3)]
    assert scores[column(data, 1)] > scores[column(data, 2)]  # a regular outranks a new product


def test_recent_purchases_outrank_old_ones():
    model, data = fitted({1: [[5, 7], [5], [6], [6, 7]]}, decay=0.5)
    scores = model.score(data)[0]
    assert scores[column(data, 6)] > scores[column(data, 5)]  # same count, 6 is more recent


def test_counts_new_product_lines_after_the_first_order():
    data = from_baskets({1: [[1, 2], [1, 3], [3, 4, 5]], 2: [[1], [1], [1]]})
    new, lines = new_product_lines(data)
    assert new.tolist() == [3.0, 0.0]  # customer 1: 3 in order 2, then 4 and 5
    assert lines.tolist() == [5.0, 2.0]


def test_keep_top_per_row_matches_a_dense_sort():
    rng = np.random.default_rng(0)
    dense = rng.random((30, 20)) * (rng.random((30, 20)) < 0.4)
    kept = keep_top_per_row(sparse.csr_matrix(dense), 3).toarray()
    for row, full in zip(kept, dense, strict=True):
        assert np.count_nonzero(row) == min(3, np.count_nonzero(full))
        assert np.array_equal(np.sort(row)[::-1][:3], np.sort(full)[::-1][:3])


def test_saves_one_numpy_file(tmp_path):
    model, data = fitted({u: [[1, 2], [2, 3], [1, 3]] for u in range(4)})
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.npz"]
    loaded = Remix.load(tmp_path, model.config)
    assert np.array_equal(loaded.score(data), model.score(data))


def test_explains_a_new_product_by_the_product_it_is_bought_with():
    # product 3 always comes with product 1; customer 2 bought 1 but never 3
    model, data = fitted({1: [[1, 3], [1, 3], [1, 3]], 2: [[1], [2], [1, 2]]})
    customer = data.select_users(np.array([1]))
    items = np.searchsorted(data.item_ids, [3, 1])
    reasons = model.explain(customer, np.array([0, 0]), items,
                            lambda index: f"P{data.item_ids[index]}")
    assert reasons == ["new to you; often bought with P1", None]  # 1 was bought: basket's own
