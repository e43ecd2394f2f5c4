"""`basket predict` says why each product is in the basket: from the customer's orders for a
product bought before, from the model (neighbours, popularity) or the catalog (its aisle) for a
new one; in the table and in the JSON, with bought_before."""

from __future__ import annotations

import json

import numpy as np
import pytest

from basketcli.data.basket_data import from_baskets
from basketcli.data.catalog import Catalog
from basketcli.protocol import BasketModel
from basketcli.workflows.predict.reasons import explain


class Silent(BasketModel):
    """A model with no reasons of its own."""

    name = "silent"

    def fit(self, train, valid, ctx):
        raise NotImplementedError

    def score(self, histories):
        raise NotImplementedError


# customer 0: product 10 in orders 1, 3, 4, 5 of 5; 20 in order 2 only; 30 never
HISTORY = from_baskets({7: [[10], [20], [10], [10], [10, 40]]}, item_ids=np.array([10, 20, 30,
                                                                                   40]))


def test_a_product_bought_before_is_explained_by_how_often_and_how_recently():
    reasons = explain(Silent(), HISTORY, np.array([0, 0]), np.array([0, 1]), lambda i: None)
    assert reasons == [
        "in 4 of your last 5 orders; usually every 1.3 orders; last in your latest order",
        "in 1 of your last 5 orders; last 4 orders back",
    ]


def test_a_new_product_is_explained_by_its_aisle_when_the_catalog_knows_it():
    catalog = Catalog(np.array([10, 20, 30, 40]), ["A", "B", "C", "D"],
                      aisle_ids=np.array([1, 2, 1, 3]), department_ids=None,
                      aisle_names={1: "Fresh Fruits"})
    reasons = explain(Silent(), HISTORY, np.array([0, 0]), np.array([2, 2]), lambda i: None,
                      catalog)
    assert reasons[0] == "new to you; same aisle (Fresh Fruits) as 1 product you buy"
    without = explain(Silent(), HISTORY, np.array([0]), np.array([2]), lambda i: None)
    assert without == ["new to you; ranked from other customers' orders"]


def test_a_model_can_give_its_own_reasons():
    class Talking(Silent):
        def explain(self, histories, rows, items, name_of):
            return [f"because of {name_of(int(i))}" for i in items]

    reasons = explain(Talking(), HISTORY, np.array([0]), np.array([2]), lambda i: "Crisps")
    assert reasons == ["because of Crisps"]


@pytest.mark.parametrize(("model", "new_reason"), [
    ("ptopfreq", "new to you; popular: in "),
    ("tifuknn", "nearest customers"),
])
def test_predict_json_carries_bought_before_and_a_reason(invoke, tiny_csv, tiny_data, tmp_path,
                                                         model, new_reason):
    run = tmp_path / "run"
    assert invoke("train", "--model", model, "--data", tiny_csv, "--out", run).exit_code == 0
    history = tiny_data.product_ids_of(0)
    orders = tmp_path / "orders.json"
    orders.write_text(json.dumps(history))
    r = invoke("predict", "--run", run, "--orders", orders, "--json", "--top-k", "20")
    assert r.exit_code == 0, r.output
    basket = json.loads(r.stdout)["customers"][0]["basket"]
    bought = {p for order in history for p in order}
    for product in basket:
        assert product["bought_before"] == (product["product_id"] in bought)
        if product["bought_before"]:
            assert product["reason"].startswith("in ")
        else:
            assert new_reason in product["reason"]
    assert any(not p["bought_before"] for p in basket)
    table = invoke("predict", "--run", run, "--orders", orders, "--top-k", "20")
    assert "why" in table.stdout and "new to you" in table.stdout
