"""The evaluation protocol's split: leave-last-out per user (one definition, used everywhere).

The last basket of each user is the test target and the one before it the validation target;
a history is everything before its target. Training data holds only baskets before the
validation target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basketcli.data.basket_data import BasketData
from basketcli.errors import DataError

MIN_ORDERS = 3  # one history basket, the validation target and the test target


@dataclass(frozen=True, eq=False)
class EvalSet:
    """Histories and, for each of the same users in the same order, the target basket."""

    history: BasketData
    target: BasketData  # exactly one order per user

    @property
    def n_users(self) -> int:
        return self.history.n_users


@dataclass(frozen=True, eq=False)
class Split:
    train: BasketData  # every user's baskets before the validation target
    valid: EvalSet  # history = train
    test: EvalSet  # history = all but the last basket
    dropped_users: int  # users with fewer than MIN_ORDERS baskets

    def summary(self) -> dict[str, int]:
        return {
            "users": self.test.n_users,
            "items": self.train.n_items,
            "train_orders": self.train.n_orders,
            "dropped_users": self.dropped_users,
        }


def leave_last_out(data: BasketData) -> Split:
    counts = data.orders_per_user()
    eligible = np.flatnonzero(counts >= MIN_ORDERS)
    if len(eligible) == 0:
        raise DataError(
            f"no customer has at least {MIN_ORDERS} orders, which the split needs "
            "(history, validation target, test target)"
        )
    data = data.select_users(eligible) if len(eligible) < data.n_users else data
    from_end = np.repeat(data.orders_per_user(), data.orders_per_user()) - data.order_rank()
    test_history = data.select_orders(from_end > 1)
    train = data.select_orders(from_end > 2)
    return Split(
        train=train,
        valid=EvalSet(history=train, target=data.select_orders(from_end == 2)),
        test=EvalSet(history=test_history, target=data.select_orders(from_end == 1)),
        dropped_users=int(len(counts) - len(eligible)),
    )
