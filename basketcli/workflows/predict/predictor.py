"""A loaded run predicting the next basket of batches of customers, and the JSON it writes.

The model scores with the population state it was trained with: ``prepare_scoring`` is not
called, since the customers given here are not a population.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import IO, Any

import numpy as np

from basketcli.artifacts import atomic_path
from basketcli.data.basket_data import from_flat
from basketcli.data.catalog import default_catalog_path, read_catalog
from basketcli.data.prepare import dataset_catalog
from basketcli.data.source import BUNDLED, DataSpec
from basketcli.errors import ArtifactError, ConfigError
from basketcli.evaluation.metrics import top_k
from basketcli.evaluation.selection import select_basket
from basketcli.protocol import BasketModel
from basketcli.sizing import SizingRule
from basketcli.workflows.predict.inputs import CustomerOrders, check_history, check_order
from basketcli.workflows.predict.names import ProductResolver, Warn
from basketcli.workflows.predict.reasons import explain
from basketcli.workflows.run_dirs import RunInfo, load_run

# Customers scored together. Past a few hundred, a batch gets slower per customer: the model's
# and the basket rule's passes over its scores matrix (customers x products) leave the CPU
# caches (attngru on the sample, 1 thread: 1,411 customers per CPU second at 256, 968 at 1,024).
MAX_BATCH = 256
MIN_BATCH = 32
SCORE_CELLS = 1 << 22  # a batch's scores matrix holds at most this many floats (16 MiB)


@dataclass
class PredictedProduct:
    product_id: int
    name: str | None
    score: float
    bought_before: bool
    reason: str


@dataclass
class CustomerPrediction:
    """One customer's basket, best product first, held column by column (``basket`` gives
    the rows), so that a batch of thousands is built and written without an object per
    product."""

    id: Any
    product_ids: list[int]
    names: list[str | None]
    scores: list[float]  # rounded to 6 decimals
    bought_before: list[bool]
    reasons: list[str]  # why each product, in a short sentence
    size_rule: str
    orders_given: int
    orders_used: int

    @property
    def basket(self) -> list[PredictedProduct]:
        return list(map(PredictedProduct, self.product_ids, self.names, self.scores,
                        self.bought_before, self.reasons))

    @property
    def truncated(self) -> bool:
        return self.orders_used < self.orders_given

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "basket": [{"product_id": pid, "name": name, "score": score, "bought_before": seen,
                        "reason": reason}
                       for pid, name, score, seen, reason in zip(
                           self.product_ids, self.names, self.scores, self.bought_before,
                           self.reasons, strict=True)],
            "size_rule": self.size_rule,
        }


@dataclass
class _Resolved:
    """A batch's resolved orders as flat arrays, customers in turn."""

    customers: list[CustomerOrders]
    orders_per_customer: np.ndarray  # (C,)
    basket_sizes: np.ndarray  # (O,)
    rows: np.ndarray  # (L,) vocabulary indices, basket by basket


@dataclass
class Predictor:
    """A loaded run, ready to predict baskets for batches of customers."""

    model: BasketModel
    info: RunInfo
    run_dir: str
    resolver: ProductResolver
    rule: SizingRule
    vocabulary: np.ndarray = field(repr=False)

    @property
    def reads_last_orders(self) -> int | None:
        return self.model.reads_last_orders

    @property
    def batch_size(self) -> int:
        """Customers scored together: MAX_BATCH, fewer for a catalog so large that the scores
        matrix (batch x products floats) would pass SCORE_CELLS."""
        return max(MIN_BATCH, min(MAX_BATCH, SCORE_CELLS // max(len(self.vocabulary), 1)))

    def predict(self, customers: Iterable[CustomerOrders]) -> Iterator[CustomerPrediction]:
        """Predictions in input order, scored in batches that grow from one customer (so the
        first answer comes at once) to ``batch_size``."""
        batch: list[CustomerOrders] = []
        size, limit = 1, self.batch_size
        for customer in customers:
            batch.append(customer)
            if len(batch) >= size:
                yield from self.predict_batch(batch)
                batch, size = [], min(size * 4, limit)
        if batch:
            yield from self.predict_batch(batch)

    def predict_batch(self, customers: list[CustomerOrders]) -> list[CustomerPrediction]:
        lines = self._resolve_batch(customers)
        n = len(lines.customers)
        if not n:
            return []
        ids = [_user_id(customer.id, i) for i, customer in enumerate(lines.customers)]
        if len(set(ids)) < len(ids):  # repeated ids: rows are matched by position anyway
            ids = [-(i + 1) for i in range(len(ids))]
        given = from_flat(np.array(ids, dtype=np.int64), lines.orders_per_customer,
                          lines.basket_sizes, lines.rows, self.vocabulary)
        keep = self.reads_last_orders
        data = given.last_orders(keep) if keep else given
        scores = np.asarray(self.model.score(data), dtype=np.float32)
        expected = (n, len(self.vocabulary))
        if scores.shape != expected:
            raise ArtifactError(
                f"{self.run_dir}: model {self.model.name} returned scores of shape "
                f"{scores.shape}, expected {expected}; the run does not fit its vocabulary"
            )
        counts, columns = self._choose(scores)
        pick_rows = np.repeat(np.arange(n), counts)
        chosen = rounded_scores(scores[pick_rows, columns])
        # Products of each customer's whole history.
        bought = given.bought_mask()[pick_rows, columns].tolist()
        product_ids = self.vocabulary[columns].tolist()
        names = self.resolver.names_of_rows(columns)
        reasons = explain(self.model, given, pick_rows, columns, self.resolver.name_of,
                          self.resolver.catalog)
        ends = np.cumsum(counts).tolist()
        given_orders = lines.orders_per_customer.tolist()
        label = self.rule.label()
        out, start = [], 0
        for customer, end, n_orders in zip(lines.customers, ends, given_orders, strict=True):
            n_used = min(n_orders, keep) if keep else n_orders
            out.append(CustomerPrediction(
                customer.id, product_ids[start:end], names[start:end], chosen[start:end],
                bought[start:end], reasons[start:end], label, n_orders, n_used))
            start = end
        return out

    def _resolve_batch(self, customers: list[CustomerOrders]) -> _Resolved:
        """The customers' orders as vocabulary indices; customers whose every product is
        skipped (``--skip-unknown``) are left out."""
        fast = self._fast_lines([customer.orders for customer in customers])
        if fast is not None:
            return _Resolved(customers, *fast)
        # Something needs a closer look: customer by customer, in input order, so that the
        # first problem is the one reported and warnings come in input order.
        kept, parts = [], []
        for customer in customers:
            lines = self._fast_lines([customer.orders])
            if lines is None:
                orders = self._resolve(customer)
                if orders is None:
                    continue
                lines = (np.array([len(orders)]), np.array(list(map(len, orders))),
                         np.searchsorted(self.vocabulary, list(chain.from_iterable(orders))))
            kept.append(customer)
            parts.append(lines)
        if not parts:
            return _Resolved([], *(np.zeros(0, dtype=np.int64) for _ in range(3)))
        columns = zip(*parts, strict=True)
        return _Resolved(kept, *(np.concatenate(c).astype(np.int64) for c in columns))

    def _fast_lines(self, histories: list) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(orders per customer, basket sizes, vocabulary indices) when every order is a
        non-empty list of products the model knows, given as integer ids or in a spelling
        already resolved; None when anything needs checking or resolving one by one.

        Type checks and flattening run as C-level iteration (map, chain, set): no Python code
        runs per order or product."""
        if set(map(type, histories)) != {list}:
            return None
        orders = list(chain.from_iterable(histories))
        if set(map(type, orders)) != {list}:
            return None
        n_orders = np.fromiter(map(len, histories), dtype=np.int64, count=len(histories))
        sizes = np.fromiter(map(len, orders), dtype=np.int64, count=len(orders))
        if not (n_orders.all() and sizes.all()):
            return None
        products = list(chain.from_iterable(orders))
        kinds = set(map(type, products))
        if kinds != {int}:
            if not kinds <= {int, str}:
                return None  # floats, booleans, nested values: checked one by one
            # Names in a spelling already resolved become ids; ids and new names stay as given.
            fast = self.resolver.fast
            products = list(map(fast.get, products, products))
            if set(map(type, products)) != {int}:
                self.resolver.learn([p for p in set(products) if type(p) is str])
                products = list(map(fast.get, products, products))
                if set(map(type, products)) != {int}:
                    return None
        try:
            ids = np.array(products, dtype=np.int64)
        except OverflowError:
            return None
        rows = np.searchsorted(self.vocabulary, ids)
        if rows.max() >= len(self.vocabulary) or not np.array_equal(self.vocabulary[rows], ids):
            return None  # a product outside the vocabulary
        return n_orders, sizes, rows

    def _resolve(self, customer: CustomerOrders) -> list[list[int]] | None:
        """The customer's orders as product ids, checked and resolved one by one, with the
        messages (or, with --skip-unknown, warnings) that name each problem; None: skip the
        customer."""
        resolved = []
        for n, order in enumerate(check_history(customer), start=1):
            where = f"{customer.where}, order {n}"
            ids = [self.resolver.product_id_of(p, where) for p in check_order(
                customer.where, n, order)]
            kept = [pid for pid in ids if pid is not None]
            if kept:
                resolved.append(kept)
        if not resolved:  # only with --skip-unknown: every product was dropped
            self.resolver.warn(f"{customer.where}: skipped (no product the model knows)")
            return None
        return resolved

    def _choose(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(basket size of each row, the chosen columns of every row in turn, best first)."""
        n, n_items = scores.shape
        if self.rule.kind == "top-k":
            picks = top_k(scores, self.rule.k)
            return np.full(n, picks.shape[1], dtype=np.int64), picks.reshape(-1)
        # flatnonzero: a 2-D nonzero takes several times longer for the same cells.
        cells = np.flatnonzero(select_basket(scores, self.rule))
        rows, columns = np.divmod(cells, n_items)
        # Best first within each row; equal scores in column order.
        order = np.lexsort((columns, -scores.reshape(-1)[cells], rows))
        return np.bincount(rows, minlength=n), columns[order]


def rounded_scores(scores: np.ndarray) -> list[float]:
    """Scores as JSON shows them: rounded to 6 decimals exactly as Python's round(x, 6) would
    (float32 -> float64 is exact and so is x * 1e6), without a Python call per score."""
    return np.round(np.asarray(scores).astype(np.float64), 6).tolist()


def _user_id(customer: Any, position: int) -> int:
    """Numeric ids keep their value (a known customer is then not their own neighbour);
    other ids get negative numbers that no training customer has."""
    if isinstance(customer, int):
        return customer
    if isinstance(customer, str) and customer.strip().isdigit():
        return int(customer.strip())
    return -(position + 1)


def sizing_rule(
    top_k_size: int | None = None, threshold: float | None = None, sizing: SizingRule | None = None,
) -> SizingRule | None:
    """One rule from --top-k / --threshold / --sizing (at most one may be given)."""
    given = [name for name, value in (("--top-k", top_k_size), ("--threshold", threshold),
                                      ("--sizing", sizing)) if value is not None]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)}: give only one basket size rule")
    if top_k_size is not None:
        if top_k_size < 1:
            raise ConfigError(f"--top-k {top_k_size}: give at least 1")
        return SizingRule(kind="top-k", k=top_k_size)
    if threshold is not None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"--threshold {threshold}: a probability threshold lies in [0, 1]")
        return SizingRule(kind="threshold", threshold=threshold)
    return sizing


def load_predictor(
    run_dir: Path, *, catalog: Path | None = None, rule: SizingRule | None = None,
    skip_unknown: bool = False, warn: Warn = lambda message: None, device: str | None = None,
) -> Predictor:
    """Load a run directory (to score on ``device``, when given) and everything needed to name
    products and size baskets."""
    model, info = load_run(Path(run_dir), device)
    vocabulary = np.asarray(info.vocabulary, dtype=np.int64)
    if len(vocabulary) == 0 or np.any(np.diff(vocabulary) <= 0):
        raise ArtifactError(f"{run_dir}: corrupt run file (vocabulary is empty or not sorted)")
    if info.catalog_names is not None and len(info.catalog_names) != len(vocabulary):
        raise ArtifactError(f"{run_dir}: corrupt run file (catalog_names and vocabulary differ "
                            "in length)")
    # Names: the run's own, else a catalog (--catalog, the one it was trained with, or
    # $BASKET_CATALOG); with the run's names, that catalog only explains unknown products.
    recorded = info.data.get("catalog")
    fallback = default_catalog_path(
        Path(recorded) if recorded and Path(recorded).is_file() else None)
    names_catalog = read_catalog(Path(catalog)) if catalog is not None else None
    if names_catalog is None and info.data.get("source") in BUNDLED and not recorded:
        # A bundled data set's own catalog (Complete Journey ships one): names and aisles.
        names_catalog = dataset_catalog(DataSpec(source=info.data["source"]))
    if names_catalog is None and info.catalog_names is None and fallback is not None:
        names_catalog, fallback = read_catalog(fallback), None
    rule = rule or model.default_sizing()
    if rule.needs_probabilities and not model.gives_probabilities:
        raise ConfigError(f"--sizing {rule.label()}: model {model.name} ranks products but gives "
                          "no probabilities; use --top-k")
    resolver = ProductResolver(vocabulary, info.catalog_names, names_catalog, skip_unknown, warn,
                               str(run_dir), catalog_path=fallback)
    return Predictor(model, info, str(run_dir), resolver, rule, vocabulary)


def write_json(predictions: Iterable[CustomerPrediction], stream: IO[str],
               flush: bool = False) -> int:
    """Stream ``{"customers": [...]}`` one customer per line; returns the customer count.

    Each customer's line is complete when written (the comma opens the next line), so a
    program reading line by line gets every answer at once; ``flush`` pushes each line out
    (for a pipe, which Python would otherwise buffer until exit).
    """
    count = 0
    stream.write('{"customers": [\n')
    for prediction in predictions:
        stream.write(("," if count else "") + json.dumps(prediction.to_json(), ensure_ascii=False)
                     + "\n")
        if flush:
            stream.flush()
        count += 1
    stream.write("]}\n")
    return count


def write_json_file(predictions: Iterable[CustomerPrediction], path: Path) -> int:
    """Write to a temporary file renamed into place only once every customer is done, so
    --output is never half-written, while memory stays constant."""
    with atomic_path(Path(path)) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        return write_json(predictions, handle)
