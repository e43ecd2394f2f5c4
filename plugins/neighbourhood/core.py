"""What the neighbourhood models share.

Each keeps a pool of customers that neighbours come from: the training histories after a fit,
and the histories being scored (every customer, as known at scoring time) after
``prepare_scoring``. A customer being scored who is in the pool with the same purchases takes
the neighbours found once for the whole pool (``unchanged_pool_rows``); a pool is saved as plain
arrays (``csr_arrays``/``csr_from``).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from basketcli.data.basket_data import BasketData, ranges
from basketcli.protocol import BasketModel


class NeighbourhoodModel(BasketModel):
    """A reference model whose neighbours come from a pool of customers' histories."""

    reference = True

    def set_pool(self, histories: BasketData) -> None:
        """Make ``histories`` the pool neighbours come from."""
        raise NotImplementedError

    def prepare_scoring(self, histories: BasketData) -> None:
        # Neighbours come from the population's histories as known at scoring time.
        self.set_pool(histories)


def unchanged_pool_rows(query: sparse.csr_matrix, query_user_ids: np.ndarray,
                        pool: sparse.csr_matrix, pool_user_ids: np.ndarray, id_order: np.ndarray,
                        compare_values: bool = True) -> np.ndarray:
    """Pool row of each query row whose customer is in the pool with an equal row (the same
    products, and with ``compare_values`` the same values), else -1. ``id_order``: the pool
    rows sorted by customer id (a stable argsort of ``pool_user_ids``)."""
    at = np.minimum(np.searchsorted(pool_user_ids[id_order], query_user_ids), len(id_order) - 1)
    rows = np.where(pool_user_ids[id_order[at]] == query_user_ids, id_order[at], -1)
    # Same row: same length, then the same indices (and values), entry by entry.
    lengths = np.diff(query.indptr)
    known = np.flatnonzero(rows >= 0)
    known = known[lengths[known] == np.diff(pool.indptr)[rows[known]]]
    at_query = ranges(query.indptr[known], lengths[known])
    at_pool = ranges(pool.indptr[rows[known]], lengths[known])
    differs = query.indices[at_query] != pool.indices[at_pool]
    if compare_values:
        differs |= query.data[at_query] != pool.data[at_pool]
    owner = np.repeat(np.arange(len(known)), lengths[known])
    same = np.zeros(len(rows), dtype=bool)
    same[known[np.bincount(owner[differs], minlength=len(known)) == 0]] = True
    return np.where(same, rows, -1)


def csr_arrays(prefix: str, matrix: sparse.csr_matrix) -> dict[str, np.ndarray]:
    """A sparse matrix as named arrays (``prefix``_data, _indices, _indptr, _shape)."""
    matrix = matrix.tocsr()
    return {f"{prefix}_data": matrix.data, f"{prefix}_indices": matrix.indices,
            f"{prefix}_indptr": matrix.indptr, f"{prefix}_shape": np.array(matrix.shape)}


def csr_from(prefix: str, arrays: dict[str, np.ndarray]) -> sparse.csr_matrix:
    """The sparse matrix ``csr_arrays`` saved under ``prefix``."""
    return sparse.csr_matrix(
        (arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]),
        shape=tuple(int(n) for n in arrays[f"{prefix}_shape"]),
    )
