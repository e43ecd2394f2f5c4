"""Repurchase timing features of the ranking model, by hand: gaps in orders and in days,
overdue against the customer's own rhythm and against the product's over all customers;
undefined (MISSING) without days."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from basketcli.data.basket_data import from_baskets
from basketcli_models.xgboost.features import FEATURE_NAMES, MISSING, ProductStats, build_candidates


def candidates(data):
    stats = ProductStats.from_histories(data)
    unknown = np.full(data.n_items, -1)
    rows = build_candidates(data, stats, unknown, unknown)
    return stats, rows, {name: rows.features[:, i] for i, name in enumerate(FEATURE_NAMES)}


def with_days(data, days):
    return replace(data, days_since_prior=np.array(days, dtype=np.float32))


# customer 1 buys product 5 in orders 1, 3, 5 (every 2 orders, 10 days apart), 6 in order 4;
# customer 2 buys product 5 in orders 1 and 2 (3 days apart)
DATA = from_baskets({1: [[5], [6], [5], [6], [5]], 2: [[5], [5, 6]]})
DAYS = [np.nan, 5, 5, 5, 5, np.nan, 3]  # per order, customers in turn


def test_gaps_and_overdue_in_orders_and_days():
    stats, rows, f = candidates(with_days(DATA, DAYS))
    five = int(np.searchsorted(DATA.item_ids, 5))
    # population: gaps of product 5 are 2, 2 (customer 1) and 1 (customer 2) orders
    assert stats.mean_gap[five] == pytest.approx(5 / 3)
    assert stats.mean_gap_days[five] == pytest.approx((10 + 10 + 3) / 3)
    row = int(np.flatnonzero((rows.user == 0) & (rows.item == five))[0])
    assert f["up_mean_gap_days"][row] == pytest.approx(10.0)
    # bought in the latest order: 0 days since, the customer orders every 5 days
    assert f["up_overdue_days"][row] == pytest.approx((0 + 5) / 10)
    assert f["up_overdue_population"][row] == pytest.approx((0 + 1) / (5 / 3))
    assert f["up_overdue_population_days"][row] == pytest.approx(5 / (23 / 3))
    assert f["p_mean_gap"][row] == pytest.approx(5 / 3)


def test_without_days_the_day_features_are_missing_and_the_rest_stays():
    _, rows, f = candidates(DATA)
    for name in ("up_mean_gap_days", "up_overdue_days", "up_overdue_population_days",
                 "p_mean_gap_days"):
        assert (f[name] == MISSING).all(), name
    assert (f["up_overdue_population"] != MISSING).any()
