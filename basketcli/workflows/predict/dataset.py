"""`basket predict --data`: the next basket of every customer of a data set (or of those a
customers file lists), scored in chunks and written to a table as it goes.

The data set is the population the model scores: its statistics (popularity, neighbour
pools) are refreshed from every customer's history (``prepare_scoring``), as evaluation does
with the test histories. Products the run never saw are left out of the histories, customers
left without an order are skipped; both are counted and said, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from basketcli.data.basket_data import BasketData, _offsets
from basketcli.data.ids import check_same_kind, find, parse_ids
from basketcli.data.prepare import Dataset, load_dataset
from basketcli.data.source import DataSpec
from basketcli.errors import DataError
from basketcli.protocol import ProgressFactory, silent_progress
from basketcli.workflows.predict.names import Warn
from basketcli.workflows.predict.predictor import Chunk, Predictor

MAX_LISTED = 5  # unknown customers named in a warning; the rest are counted


def recommend_data(
    predictor: Predictor, source: DataSpec | Dataset, *, customers: Path | None = None,
    warn: Warn = lambda message: None, progress: ProgressFactory = silent_progress,
) -> Iterator[Chunk]:
    """Chunks of baskets for every customer of ``source``'s data (those in ``customers``, a
    file of ids one per line, when given), in the data's customer order."""
    dataset = source if isinstance(source, Dataset) else load_dataset(source)
    data = on_vocabulary(dataset.data, predictor.vocabulary, predictor.run_dir, warn)
    chosen = np.arange(data.n_users) if customers is None else listed(data, customers, warn)
    predictor.model.prepare_scoring(data)  # the data set is the population
    size = predictor.batch_size
    with progress("recommending", len(chosen)) as task:
        for lo in range(0, len(chosen), size):
            users = chosen[lo:lo + size]
            given = data.select_users(users)
            yield predictor.recommend(given.user_ids.tolist(), given)
            task.advance(len(users))


def on_vocabulary(data: BasketData, vocabulary: np.ndarray, run_dir: str,
                  warn: Warn) -> BasketData:
    """``data`` with the run's vocabulary as its columns: products the run never saw are left
    out of the histories, orders and customers left empty are dropped (each counted in one
    warning)."""
    check_same_kind(vocabulary, data.item_ids, f"the data's product ids for {run_dir}")
    rows, found = find(vocabulary, data.item_ids)
    known = found[data.items]
    sizes = np.bincount(data.line_order()[known], minlength=data.n_orders)
    aligned = BasketData(
        user_ids=data.user_ids, user_offsets=data.user_offsets, order_offsets=_offsets(sizes),
        items=rows[data.items[known]].astype(np.int32), item_ids=vocabulary,
        days_since_prior=data.days_since_prior, order_dow=data.order_dow,
        order_hour=data.order_hour,
        cart_position=None if data.cart_position is None else data.cart_position[known])
    if known.all():
        return aligned
    kept = aligned.select_orders(sizes > 0)
    with_orders = kept.orders_per_user() > 0
    warn(f"{int((~found).sum()):,} products the run never saw ({int((~known).sum()):,} order "
         f"lines) were left out of the histories; {int((~with_orders).sum()):,} customers had "
         "nothing else and were skipped")
    return kept.select_users(np.flatnonzero(with_orders))


def listed(data: BasketData, path: Path, warn: Warn) -> np.ndarray:
    """Indices of the customers ``path`` lists (one id per line; blank lines and lines that
    start with # are ignored), in the data's order; unknown ones are named in a warning."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"--customers {path}: cannot read it ({exc.__class__.__name__})") \
            from None
    wanted = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not wanted:
        raise DataError(f"--customers {path}: lists no customer; give one id per line")
    values, labels = parse_ids(wanted, f"--customers {path}")
    ids = values if labels is None else labels[values]
    check_same_kind(data.user_ids, ids, f"--customers {path}")
    order = np.argsort(data.user_ids, kind="stable")
    rows, found = find(data.user_ids[order], ids)
    if not found.any():
        raise DataError(f"--customers {path}: none of its {len(ids):,} customers is in the data")
    if not found.all():
        missing = ids[~found]
        shown = ", ".join(map(str, missing[:MAX_LISTED].tolist()))
        more = f" and {len(missing) - MAX_LISTED:,} more" if len(missing) > MAX_LISTED else ""
        warn(f"--customers {path}: {len(missing):,} customers are not in the data ({shown}"
             f"{more}); the other {int(found.sum()):,} are scored")
    return np.unique(order[rows[found]])
