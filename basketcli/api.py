"""basket from Python: the commands' steps for a notebook or a scheduled script, pandas in and
pandas out. Each function calls the same workflow its command calls, so a result here is the
command's result (docs/api.md walks through them).

    from basketcli import api

    data = api.load_data("completejourney")            # a source, a file, or a DataFrame
    api.compare(["ptopfreq", "tifuknn", "xgboost"], data).to_pandas()
    api.train("xgboost", data, out="runs/xgb")
    recs = api.recommend("runs/xgb", data)             # every customer's next basket

Errors are ``basketcli.errors.BasketError`` with a one-line message; data problems that
basket repairs (merged duplicates, dropped rows) come as Python warnings.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from basketcli.data.prepare import Dataset, load_dataset
from basketcli.data.source import BUNDLED, FRAME, DataSpec
from basketcli.protocol import FitContext

if TYPE_CHECKING:
    import pandas as pd

    from basketcli.workflows.evaluate import CompareResult
    from basketcli.workflows.predict.predictor import Predictor
    from basketcli.workflows.train import TrainResult

def spec_of(source: str | Path = "sample", *, catalog: str | Path | None = None,
            min_orders: int = 4, min_item_count: int = 1, top_items: int | None = None,
            user_col: str = "user_id", item_col: str = "product_id",
            order_col: str | None = None, time_col: str | None = None,
            strict: bool = False) -> DataSpec:
    """The spec of a source, as the commands' data options make it (a DataFrame: FRAME);
    ``strict`` refuses data that must be changed to be read."""
    named = str(source) if isinstance(source, str | Path) else FRAME
    return DataSpec(
        source=named if named in (*BUNDLED, FRAME) else str(Path(named).expanduser().resolve()),
        catalog=str(Path(catalog).expanduser().resolve()) if catalog else None,
        min_orders=min_orders, min_item_count=min_item_count, top_items=top_items,
        user_col=user_col, item_col=item_col, order_col=order_col, time_col=time_col,
        strict=strict)


def load_data(source: str | Path | pd.DataFrame = "sample", **options: Any) -> Dataset:
    """A data set, read and filtered as the commands' data options say (``options``: those
    of ``spec_of``): ``source`` is 'sample', 'completejourney', an Instacart folder, a
    .csv/.parquet file of order lines, or a pandas DataFrame of order lines (columns as for a
    file: ``user_col``, ``item_col`` and ``order_col`` or ``time_col``). Ids may be integers
    or text; text ids are kept exactly."""
    frame = None if isinstance(source, str | Path) else source
    return load_dataset(spec_of(source, **options), frame=frame)


def train(model: str, data: Any = "sample", settings: dict[str, Any] | None = None, *,
          out: str | Path, force: bool = False) -> TrainResult:
    """Fit ``model`` (a registered name) with ``settings`` on the training part of ``data``
    and save the run directory ``out`` (an existing run only with ``force``)."""
    from basketcli.workflows.train import train as train_workflow

    return train_workflow(model, _data(data), settings or {}, Path(out), force=force)


def evaluate(model: str, data: Any = None, settings: dict[str, Any] | None = None,
             **options: Any) -> CompareResult:
    """Test-target metrics of ``model`` (a name, fitted now with ``settings``) or of a run
    directory (on the data it was trained on unless ``data`` is given), with 95% intervals.
    ``options``: those of ``basketcli.workflows.evaluate.evaluate`` (threshold, sizing,
    bootstrap, restriction...)."""
    from basketcli.workflows.evaluate import evaluate as evaluate_workflow
    from basketcli.workflows.run_dirs import is_run_dir

    saved = is_run_dir(model)
    source = None if data is None and saved else _data("sample" if data is None else data)
    result, _ = evaluate_workflow(str(model), source, settings, from_run=saved,
                                  ctx=FitContext(), **options)
    return result


def compare(models: list[str], data: Any = "sample", **options: Any) -> CompareResult:
    """Several models (names or run directories) on one split, one row each, with intervals
    and paired comparisons against the best reference (``result.to_pandas()``: a DataFrame).
    ``options``: those of ``basketcli.workflows.evaluate.compare``."""
    from basketcli.workflows.evaluate import compare as compare_workflow

    return compare_workflow(list(models), _data(data), **options)


def load_run(run: str | Path, *, catalog: str | Path | None = None, top_k: int | None = None,
             exclude: str | Path | None = None, new_only: bool = False,
             repeat_only: bool = False) -> Predictor:
    """A saved run, ready to recommend (``recommend`` takes it, or a run directory)."""
    from basketcli.workflows.predict.predictor import load_predictor, sizing_rule

    return load_predictor(Path(run), catalog=Path(catalog) if catalog else None,
                          rule=sizing_rule(top_k), exclude=Path(exclude) if exclude else None,
                          new_only=new_only, repeat_only=repeat_only, warn=_warn)


def recommend(run: str | Path | Predictor, data: Any, *, top_k: int | None = None,
              exclude: str | Path | None = None, new_only: bool = False,
              repeat_only: bool = False, **options: Any) -> pd.DataFrame:
    """Every customer's next basket from their history in ``data`` (a data source, a
    DataFrame of order lines or a loaded data set; customers with a single order too) as a
    DataFrame: customer, rank, product, name, score, bought_before, reason. ``options``: the
    data options of ``spec_of`` (columns, filters) for a source or a DataFrame."""
    import pyarrow as pa

    from basketcli.workflows.predict.dataset import recommend_data
    from basketcli.workflows.predict.predictor import prediction_schema

    predictor = run if not isinstance(run, str | Path) else load_run(
        run, top_k=top_k, exclude=exclude, new_only=new_only, repeat_only=repeat_only)
    dataset = data if isinstance(data, Dataset) else load_data(
        data, **{"min_orders": 1, **options})
    schema = prediction_schema(predictor.info.customer_ids,
                               "text" if predictor.text_products else "integer")
    tables = [pa.table(chunk.rows(), schema=schema)
              for chunk in recommend_data(predictor, dataset, warn=_warn)]
    return (pa.concat_tables(tables) if tables else schema.empty_table()).to_pandas()


def _data(data: Any) -> DataSpec | Dataset:
    """A spec for a source name or path (read, and cached, by the workflow), the data set
    itself for a DataFrame or a loaded data set."""
    if isinstance(data, Dataset | DataSpec):
        return data
    return spec_of(data) if isinstance(data, str | Path) else load_data(data)


def _warn(message: str) -> None:
    import warnings

    warnings.warn(message, stacklevel=3)
