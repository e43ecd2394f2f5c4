"""A repeat/explore mixture for next-basket recommendation, packaged as a basket plugin.

A customer's next basket mixes products bought before (repeat) with new ones (explore). The
model scores both and weighs them by how much this customer explores:

- repeat score r[u, i]: the time-decayed share of the customer's baskets holding product i
  (an order k places before the last weighs ``decay ** k``), in [0, 1];
- explore score e[u, j] for products the customer never bought: the mean, over the products
  they did buy (weighted by r), of P(j in basket | i in basket) from item-to-item
  co-occurrence in the training baskets, keeping the ``neighbours`` strongest per product;
- explore weight w[u]: the share of the customer's order lines that were new products at the
  time, shrunk towards the population's share by ``prior_strength`` pseudo-lines.

score = (1 - w) * r + w * e, plus a tiny popularity term that orders the rest. Everything is
vectorised with numpy/scipy; the fitted arrays save as one .npz through state()/set_state().
"""

from __future__ import annotations

import numpy as np
from basketcli.data.basket_data import BasketData
from basketcli.data.split import EvalSet
from basketcli.protocol import BasketModel, FitContext, FitReport, ModelConfig, search
from pydantic import Field

__version__ = "0.1.0"


class RemixConfig(ModelConfig):
    # json_schema_extra=search(...): where `basket tune` searches each setting
    decay: float = Field(0.8, gt=0, le=1, description="weight of an order relative to the next",
                         json_schema_extra=search(0.3, 1.0))
    neighbours: int = Field(50, ge=1, description="co-occurring products kept per product",
                            json_schema_extra=search(5, 200, log=True))
    prior_strength: float = Field(
        20.0, ge=0, description="pseudo-lines of the population's explore share per customer",
        json_schema_extra=search(0.1, 100.0, log=True),
    )


class Remix(BasketModel):
    """Repeat/explore mixture: decayed own frequency plus co-occurrence for new products."""

    name = "remix"
    Config = RemixConfig
    gives_probabilities = False  # ranking scores in [0, 1], not calibrated probabilities

    def __init__(self, config: RemixConfig | None = None) -> None:
        super().__init__(config)
        self.cooccurrence = None  # sparse (items x items): P(j in basket | i in basket)
        self.popularity = np.zeros(0)
        self.explore_share = 0.0

    def fit(self, train: BasketData, valid: EvalSet | None, ctx: FitContext) -> FitReport:
        with ctx.progress(f"fitting {self.name}", 2) as task:
            self.cooccurrence = conditional_cooccurrence(train, self.config.neighbours)
            task.advance(1)
            self.popularity = train.item_basket_counts().astype(np.float64)
            new, lines = new_product_lines(train)
            self.explore_share = float(new.sum() / max(lines.sum(), 1))
            task.advance(1)
        return FitReport(info={
            "explore_share": self.explore_share,
            "cooccurrence_pairs": int(self.cooccurrence.nnz),
        })

    def score(self, histories: BasketData) -> np.ndarray:
        repeat = decayed_frequency(histories, self.config.decay)
        weight_sums = np.asarray(repeat.sum(axis=1)).ravel()
        explore = (repeat @ self.cooccurrence).toarray()
        explore /= np.maximum(weight_sums, 1e-12)[:, None]
        repeat = repeat.toarray()
        explore[repeat > 0] = 0.0  # explore scores only products the customer never bought
        new, lines = new_product_lines(histories)
        strength = self.config.prior_strength
        weight = (new + strength * self.explore_share) / np.maximum(lines + strength, 1e-12)
        weight = weight[:, None]
        tiebreak = 1e-6 * self.popularity / max(self.popularity.max(initial=0.0), 1.0)
        scores = (1.0 - weight) * repeat + weight * explore + tiebreak[None, :]
        return scores.astype(np.float32)

    def explain(self, histories: BasketData, rows: np.ndarray, items: np.ndarray,
                name_of) -> list[str | None]:
        """Optional: why a product is in a predicted basket (``basket predict`` shows it). A
        product the customer never bought: the one of theirs it is most often bought with;
        None leaves the reason to basket (how often and how recently it was bought)."""
        reasons: list[str | None] = []
        for row, item in zip(rows.tolist(), items.tolist(), strict=True):
            bought = np.unique(histories.items[histories.line_user() == row])
            if item in bought or not len(bought):
                reasons.append(None)
                continue
            together = self.cooccurrence[bought, item].toarray().ravel()
            partner = int(bought[np.argmax(together)])
            name = name_of(partner) or f"product #{histories.item_ids[partner]}"
            reasons.append(f"new to you; often bought with {name}" if together.max() > 0
                           else None)
        return reasons

    # numpy-only models save through state()/set_state(): one .npz, no pickle
    def state(self) -> dict[str, np.ndarray]:
        matrix = self.cooccurrence.tocsr()
        return {
            "cooc_data": matrix.data, "cooc_indices": matrix.indices,
            "cooc_indptr": matrix.indptr, "cooc_shape": np.array(matrix.shape),
            "popularity": self.popularity, "explore_share": np.array(self.explore_share),
        }

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        from scipy import sparse

        self.cooccurrence = sparse.csr_matrix(
            (arrays["cooc_data"], arrays["cooc_indices"], arrays["cooc_indptr"]),
            shape=tuple(int(n) for n in arrays["cooc_shape"]),
        )
        self.popularity = arrays["popularity"].astype(np.float64)
        self.explore_share = float(arrays["explore_share"])


def decayed_frequency(histories: BasketData, decay: float):
    """Sparse (users x items): decayed share of each customer's baskets holding each product."""
    from scipy import sparse

    n_orders = np.repeat(histories.orders_per_user(), histories.orders_per_user())
    from_last = n_orders - 1 - histories.order_rank()
    weights = decay ** from_last.astype(np.float64)
    totals = np.bincount(histories.order_user(), weights=weights, minlength=histories.n_users)
    counts = histories.user_item_counts(order_weights=weights).astype(np.float64)
    inverse = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
    return sparse.diags(inverse) @ counts


def new_product_lines(histories: BasketData) -> tuple[np.ndarray, np.ndarray]:
    """Per customer: lines after the first order that were new products, and all such lines."""
    user, item = histories.line_user(), histories.items.astype(np.int64)
    order = histories.line_order()
    # Sort lines by (user, item, order): the first line of each (user, item) run is new.
    sorted_lines = np.lexsort((order, item, user))
    first = np.ones(len(sorted_lines), dtype=bool)
    same_pair = (user[sorted_lines][1:] == user[sorted_lines][:-1]) & (
        item[sorted_lines][1:] == item[sorted_lines][:-1]
    )
    first[1:] = ~same_pair
    is_new = np.empty(len(sorted_lines), dtype=bool)
    is_new[sorted_lines] = first
    later = histories.order_rank()[order] > 0  # first orders are all new: they say nothing
    n_users = histories.n_users
    new = np.bincount(user[later & is_new], minlength=n_users).astype(np.float64)
    lines = np.bincount(user[later], minlength=n_users).astype(np.float64)
    return new, lines


def conditional_cooccurrence(train: BasketData, neighbours: int):
    """Sparse (items x items): P(j in basket | i in basket), the ``neighbours`` largest per row."""
    from scipy import sparse

    baskets = sparse.csr_matrix(
        (np.ones(train.n_lines, dtype=np.float64), (train.line_order(), train.items)),
        shape=(train.n_orders, train.n_items),
    )
    together = (baskets.T @ baskets).tocsr()
    together.setdiag(0.0)
    together.eliminate_zeros()
    counts = train.item_basket_counts().astype(np.float64)
    inverse = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
    return keep_top_per_row(sparse.diags(inverse) @ together, neighbours)


def keep_top_per_row(matrix, k: int):
    """The k largest entries of every row of a sparse matrix (ties: lower column first)."""
    from scipy import sparse

    matrix = matrix.tocsr()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    order = np.lexsort((matrix.indices, -matrix.data, rows))
    rank = np.arange(len(order)) - matrix.indptr[rows[order]]
    keep = order[rank < k]
    return sparse.csr_matrix(
        (matrix.data[keep], (rows[keep], matrix.indices[keep])), shape=matrix.shape
    )
