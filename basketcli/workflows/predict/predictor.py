"""A loaded run predicting the next basket of batches of customers, and the JSON it writes.

The model scores with the population state it was trained with: ``prepare_scoring`` is not
called, since the customers given here are not a population.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, repeat
from pathlib import Path
from typing import IO, Any

import numpy as np

from basketcli.artifacts import atomic_path
from basketcli.data.basket_data import BasketData, from_flat
from basketcli.data.catalog import default_catalog_path, read_catalog
from basketcli.data.ids import as_ids, find, is_text
from basketcli.data.prepare import dataset_catalog
from basketcli.data.source import BUNDLED, DataSpec
from basketcli.errors import ArtifactError, ConfigError, DataError
from basketcli.evaluation.metrics import top_k
from basketcli.evaluation.selection import Restriction, restricted, select_basket
from basketcli.protocol import BasketModel
from basketcli.reports import ROW_SUFFIXES, table_file
from basketcli.sizing import SizingRule
from basketcli.workflows.predict.inputs import CustomerOrders, check_history, check_order
from basketcli.workflows.predict.names import ProductResolver, Warn, read_exclusions
from basketcli.workflows.predict.reasons import explain
from basketcli.workflows.run_dirs import RunInfo, load_run

# Customers scored together. Past a few hundred, a batch gets slower per customer: the model's
# and the basket rule's passes over its scores matrix (customers x products) leave the CPU
# caches (attngru on the sample, 1 thread: 1,411 customers per CPU second at 256, 968 at 1,024).
MAX_BATCH = 256
MIN_BATCH = 32
SCORE_CELLS = 1 << 22  # a batch's scores matrix holds at most this many floats (16 MiB)
OUTPUT_SUFFIXES = (".json", *ROW_SUFFIXES)


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
class Chunk:
    """The baskets of a chunk of customers, column by column: one row per chosen product,
    customers in turn (``counts`` products each), best product first."""

    customers: list[Any]  # each customer's id as given
    counts: np.ndarray  # (C,) products chosen per customer
    product_ids: list[int | str]
    names: list[str | None]
    scores: list[float]  # rounded to 6 decimals
    bought_before: list[bool]
    reasons: list[str]
    orders_given: list[int]
    orders_used: list[int]
    size_rule: str

    def predictions(self) -> list[CustomerPrediction]:
        out, start = [], 0
        for customer, end, given, used in zip(self.customers, np.cumsum(self.counts).tolist(),
                                              self.orders_given, self.orders_used, strict=True):
            out.append(CustomerPrediction(
                customer, self.product_ids[start:end], self.names[start:end],
                self.scores[start:end], self.bought_before[start:end],
                self.reasons[start:end], self.size_rule, given, used))
            start = end
        return out

    def rows(self) -> dict[str, list]:
        """The long table: customer, rank, product, name, score, bought_before, reason."""
        counts = self.counts.tolist()
        return {"customer": list(chain.from_iterable(map(repeat, self.customers, counts))),
                "rank": [rank for count in counts for rank in range(1, count + 1)],
                "product": self.product_ids, "name": self.names, "score": self.scores,
                "bought_before": self.bought_before, "reason": self.reasons}


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
    restriction: Restriction | None = None  # what may be recommended (None: anything)

    @property
    def text_products(self) -> bool:
        return is_text(self.vocabulary)

    @property
    def reads_last_orders(self) -> int | None:
        return self.model.reads_last_orders

    @property
    def batch_size(self) -> int:
        """Customers scored together: MAX_BATCH, fewer for a catalog so large that the scores
        matrix (batch x products floats) would pass SCORE_CELLS."""
        return max(MIN_BATCH, min(MAX_BATCH, SCORE_CELLS // max(len(self.vocabulary), 1)))

    def predict(self, customers: Iterable[CustomerOrders]) -> Iterator[CustomerPrediction]:
        """Predictions in input order (``predict_chunks``, one customer at a time)."""
        for chunk in self.predict_chunks(customers):
            yield from chunk.predictions()

    def predict_chunks(self, customers: Iterable[CustomerOrders]) -> Iterator[Chunk]:
        """Chunks of predictions in input order, scored in batches that grow from one customer
        (so the first answer comes at once) to ``batch_size``."""
        batch: list[CustomerOrders] = []
        size, limit = 1, self.batch_size
        for customer in customers:
            batch.append(customer)
            if len(batch) >= size:
                yield from self._chunk(batch)
                batch, size = [], min(size * 4, limit)
        if batch:
            yield from self._chunk(batch)

    def predict_batch(self, customers: list[CustomerOrders]) -> list[CustomerPrediction]:
        return [p for chunk in self._chunk(customers) for p in chunk.predictions()]

    def _chunk(self, customers: list[CustomerOrders]) -> list[Chunk]:
        """The batch's chunk (none when --skip-unknown left no customer)."""
        lines = self._resolve_batch(customers)
        if not lines.customers:
            return []
        text = self.info.customer_ids == "text"
        ids = [_user_id(customer, i, text) for i, customer in enumerate(lines.customers)]
        if len(set(ids)) < len(ids):  # repeated ids: rows are matched by position anyway
            ids = [_user_id(None, i, text) for i in range(len(ids))]
        given = from_flat(as_ids(ids), lines.orders_per_customer, lines.basket_sizes,
                          lines.rows, self.vocabulary)
        return [self.recommend([c.id for c in lines.customers], given)]

    def recommend(self, customers: list[Any], given: BasketData) -> Chunk:
        """Each customer's basket from their history (``given``, the run's vocabulary): the
        one step an orders file and a whole data set share."""
        n = given.n_users
        keep = self.reads_last_orders
        data = given.last_orders(keep) if keep else given
        scores = np.asarray(self.model.score(data), dtype=np.float32)
        expected = (n, len(self.vocabulary))
        if scores.shape != expected:
            raise ArtifactError(
                f"{self.run_dir}: model {self.model.name} returned scores of shape "
                f"{scores.shape}, expected {expected}; the run does not fit its vocabulary"
            )
        seen = given.bought_mask()  # products of each customer's whole history
        allowed = self.restriction.allowed(seen) if self.restriction is not None else None
        ranking = scores
        if allowed is not None:
            ranking, scores = restricted(scores, allowed, self.model.gives_probabilities)
        counts, columns = self._choose(ranking, scores)
        pick_rows = np.repeat(np.arange(n), counts)
        if allowed is not None:  # fewer than K allowed products: a shorter basket
            kept = allowed[pick_rows, columns]
            pick_rows, columns = pick_rows[kept], columns[kept]
            counts = np.bincount(pick_rows, minlength=n)
        orders = given.orders_per_user()
        return Chunk(
            customers, counts, self.vocabulary[columns].tolist(),
            self.resolver.names_of_rows(columns), rounded_scores(scores[pick_rows, columns]),
            seen[pick_rows, columns].tolist(),
            explain(self.model, given, pick_rows, columns, self.resolver.name_of,
                    self.resolver.catalog),
            orders.tolist(), (np.minimum(orders, keep) if keep else orders).tolist(),
            self.rule.label())

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
        text = is_text(self.vocabulary)
        wanted = {str} if text else {int}
        if kinds != wanted or text:
            if not kinds <= {int, str}:
                return None  # floats, booleans, nested values: checked one by one
            # Spellings already resolved (names; text ids) become ids; the others stay as given.
            fast = self.resolver.fast
            products = list(map(fast.get, products, products))
            if set(map(type, products)) != wanted or text:
                self.resolver.learn([p for p in set(products) if type(p) is str])
                products = list(map(fast.get, products, products))
                if set(map(type, products)) != wanted:
                    return None
        try:
            rows, found = find(self.vocabulary, as_ids(products))
        except OverflowError:
            return None
        return (n_orders, sizes, rows) if found.all() else None  # else: one outside the model

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

    def _choose(self, ranking: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(basket size of each row, the chosen columns of every row in turn, best first):
        the top k of ``ranking``, or the basket a probability rule makes of ``scores``."""
        n, n_items = scores.shape
        if self.rule.kind == "top-k":
            picks = top_k(ranking, self.rule.k)
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


def _user_id(customer: CustomerOrders | None, position: int, text: bool) -> int | str:
    """The id a customer is scored under: their own, so that a known customer is not their
    own neighbour (a digit string counts as the integer for a run of integer ids); else one
    no training customer has (a negative number; for text ids, a text no id can be, as
    blank ids are refused)."""
    given = None if customer is None else customer.id
    if text and isinstance(given, str):
        return given
    if text and isinstance(given, int):
        raise DataError(f"{customer.where}: customer id {given} is a number, but the run was "
                        f'trained on text customer ids; give it as a string ("{given}")')
    if not text and isinstance(given, int):
        return given
    if not text and isinstance(given, str) and given.strip().isdigit():
        return int(given.strip())
    return f" {position}" if text else -(position + 1)


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
    exclude: Path | None = None, new_only: bool = False, repeat_only: bool = False,
) -> Predictor:
    """Load a run directory (to score on ``device``, when given) and everything needed to name
    products, size baskets and restrict them (``exclude``: a file of products never
    recommended; ``new_only`` / ``repeat_only``: products new to the customer / bought before)."""
    if new_only and repeat_only:
        raise ConfigError("--new-only and --repeat-only: give one of them (together they leave "
                          "nothing to recommend)")
    model, info = load_run(Path(run_dir), device)
    vocabulary = as_ids(info.vocabulary)
    if len(vocabulary) == 0 or np.any(vocabulary[1:] <= vocabulary[:-1]):
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
    restriction = None
    if exclude is not None or new_only or repeat_only:
        excluded = read_exclusions(exclude, resolver, warn) if exclude is not None else None
        restriction = Restriction(excluded, "new" if new_only else "repeat" if repeat_only
                                  else None)
    return Predictor(model, info, str(run_dir), resolver, rule, vocabulary, restriction)


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


@dataclass
class Written:
    """What a prediction wrote."""

    customers: int
    rows: int
    seconds: float


def write_output(chunks: Iterable[Chunk], path: Path, customer_kind: str,
                 product_kind: str) -> Written:
    """Every chunk into ``path``, by its suffix: the JSON document (.json) or the long table
    (.parquet, .csv, .jsonl); renamed into place only when complete."""
    started = time.perf_counter()
    path = check_output(path)
    written = Written(0, 0, 0.0)

    def counted(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        for chunk in chunks:
            written.customers += len(chunk.customers)
            written.rows += int(chunk.counts.sum())
            yield chunk

    if path.suffix.lower() == ".json":
        write_json_file((p for chunk in counted(chunks) for p in chunk.predictions()), path)
    else:
        with table_file(path, prediction_schema(customer_kind, product_kind)) as write:
            for chunk in counted(chunks):
                write(chunk.rows())
    written.seconds = time.perf_counter() - started
    return written


def check_output(path: Path) -> Path:
    """``path`` if basket writes its format, else a one-line ConfigError (before any work)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"--output {path}: is a folder; give a file name")
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(f"--output {path}: basket writes {', '.join(OUTPUT_SUFFIXES)} files; "
                          "name the file with one of these suffixes")
    return path


def prediction_schema(customer_kind: str, product_kind: str):
    """The long table's columns: customer, rank, product, name, score, bought_before,
    reason (ids as integers or text, as the run's)."""
    import pyarrow as pa

    def id_type(kind: str):
        return pa.string() if kind == "text" else pa.int64()

    return pa.schema([("customer", id_type(customer_kind)), ("rank", pa.int32()),
                      ("product", id_type(product_kind)), ("name", pa.string()),
                      ("score", pa.float64()), ("bought_before", pa.bool_()),
                      ("reason", pa.string())])

