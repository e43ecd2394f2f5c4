"""`basket predict`: next baskets for customers given as JSON or JSON Lines, or for every
customer of a data set."""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from basketcli.cli.options import CatalogOpt, JsonOpt, data_spec
from basketcli.cli.ui import console, err_console, progress_bars, warn

if TYPE_CHECKING:
    from basketcli.workflows.predict.predictor import Chunk

TRUNCATION_WARNINGS = 3  # then one summary line


DATA_PANEL = "Data (--data: every customer of a data set)"
RESTRICTION_PANEL = "What may be recommended"


def predict_command(
    run: Annotated[Path, typer.Option("--run", help="run directory made by 'basket train'")],
    orders: Annotated[str | None, typer.Option(
        "--orders", help="JSON: one customer's orders (oldest first) or {\"customers\": {ID: "
        "[...]}}; or JSON Lines, one customer per line (streamed); - reads stdin")] = None,
    data: Annotated[str | None, typer.Option(
        "--data", help="instead of --orders: every customer of this data set ('sample', "
        "'completejourney', a folder or a .csv/.parquet file, read as the data options say)",
        rich_help_panel=DATA_PANEL)] = None,
    customers: Annotated[Path | None, typer.Option(
        "--customers", help="with --data: only the customers this file lists, one id per line",
        rich_help_panel=DATA_PANEL)] = None,
    min_orders: Annotated[int | None, typer.Option(
        "--min-orders", min=1, help="with --data: skip customers with fewer orders (default: "
        "score every customer, a new one with one order too)", rich_help_panel=DATA_PANEL)] = None,
    user_col: Annotated[str, typer.Option("--user-col", rich_help_panel=DATA_PANEL,
        help="customer column of a long-format file")] = "user_id",
    item_col: Annotated[str, typer.Option("--item-col", rich_help_panel=DATA_PANEL,
        help="product column of a long-format file")] = "product_id",
    order_col: Annotated[str | None, typer.Option("--order-col", rich_help_panel=DATA_PANEL,
        help="order column (order_number, or order_id with --time-col)")] = None,
    time_col: Annotated[str | None, typer.Option("--time-col", rich_help_panel=DATA_PANEL,
        help="timestamp column of a long-format file")] = None,
    max_memory: Annotated[str | None, typer.Option("--max-memory", rich_help_panel=DATA_PANEL,
        help="memory data loading may use, e.g. 6G")] = None,
    strict: Annotated[bool, typer.Option("--strict", rich_help_panel=DATA_PANEL,
        help="refuse data that must be changed to be read")] = False,
    exclude: Annotated[Path | None, typer.Option(
        "--exclude", help="never recommend the products this file lists (one name or id per "
        "line: delisted, out of stock)", rich_help_panel=RESTRICTION_PANEL)] = None,
    new_only: Annotated[bool, typer.Option(
        "--new-only", help="only products the customer never bought (a discovery shelf)",
        rich_help_panel=RESTRICTION_PANEL)] = False,
    repeat_only: Annotated[bool, typer.Option(
        "--repeat-only", help="only products the customer bought before",
        rich_help_panel=RESTRICTION_PANEL)] = False,
    top_k: Annotated[int | None, typer.Option(
        "--top-k", min=1, help="basket of the K best products")] = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=1.0,
        help="basket of the products with probability >= T (probabilistic models)")] = None,
    sizing: Annotated[str | None, typer.Option(
        "--sizing", help="basket size rule: top-k[:K], threshold[:T] or expected-f1 "
        "(default: the model's own)")] = None,
    catalog: CatalogOpt = None,
    skip_unknown: Annotated[bool, typer.Option(
        "--skip-unknown",
        help="drop unknown products with a warning instead of failing")] = False,
    json_out: JsonOpt = False,
    output: Annotated[Path | None, typer.Option(
        "--output", help="write the result to this file, by its suffix: .json (the JSON "
        "document), .parquet, .csv or .jsonl (a table: customer, rank, product, name, score, "
        "bought_before, reason); only once it is complete")] = None,
    device: Annotated[str, typer.Option(
        "--device", help="cpu, auto or cuda (torch models; a GPU pays off for large batches "
        "of customers, the CPU gives the first answer soonest)")] = "cpu",
) -> None:
    """Predict each customer's next basket: products, scores, and whether they are new to them.

    Customers come from an orders file (--orders) or a whole data set (--data: every customer,
    scored in chunks, memory bounded). With --json on standard output, results are printed as
    they are ready (an error midway leaves exit code 2 after the customers before it);
    --output writes a temporary file that is renamed into place only when every customer is
    done, so it is never half-written.
    """
    from basketcli.errors import ConfigError
    from basketcli.render import basket_table
    from basketcli.sizing import parse_sizing
    from basketcli.workflows.predict.inputs import iter_customers
    from basketcli.workflows.predict.predictor import (
        check_output,
        load_predictor,
        sizing_rule,
        write_json,
        write_output,
    )

    if (orders is None) == (data is None):
        raise ConfigError("give --orders FILE or --data SOURCE (one of them)")
    if data is None and (customers is not None or min_orders is not None or strict):
        raise ConfigError("--customers, --min-orders and --strict go with --data")
    if data is not None and output is None and not json_out:
        raise ConfigError("--data scores every customer: write them with --output FILE "
                          "(.parquet, .csv, .jsonl or .json), or --json")
    rule = sizing_rule(top_k, threshold, parse_sizing(sizing) if sizing else None)
    if output is not None:
        check_output(output)
    spec = None if data is None else data_spec(
        data, min_orders=min_orders or 1, user_col=user_col, item_col=item_col,
        order_col=order_col, time_col=time_col, max_memory=max_memory, strict=strict)
    stream = iter_customers(orders) if orders is not None else None
    predictor = load_predictor(run, catalog=catalog, rule=rule, skip_unknown=skip_unknown,
                               warn=warn, device=device, exclude=exclude, new_only=new_only,
                               repeat_only=repeat_only)
    if err_console.is_terminal:  # a person is watching: say at once that the model is ready
        restriction = predictor.restriction.describe() if predictor.restriction else ""
        err_console.print(
            f"loaded {predictor.model.name} from {run} ({len(predictor.vocabulary)} "
            f"products; basket: {predictor.rule.label()}"
            + (f"; {restriction}" if restriction else "") + f"); reading {orders or data}",
            highlight=False, soft_wrap=True)
    with _long_lived_objects_frozen(), progress_bars(output is not None) as progress:
        if spec is not None:
            from basketcli.workflows.predict.dataset import recommend_data

            chunks = recommend_data(predictor, spec, customers=customers, warn=warn,
                                    progress=progress)
            customer_kind = predictor.info.customer_ids
        else:
            chunks = predictor.predict_chunks(stream)
            customer_kind = "text"  # ids as an orders file gives them
        chunks = _noting(chunks)
        if output is not None:
            written = write_output(chunks, output, customer_kind,
                                   "text" if predictor.text_products else "integer")
            rate = written.customers / max(written.seconds, 1e-9)
            restriction = predictor.restriction.describe() if predictor.restriction else ""
            err_console.print(
                f"wrote {written.customers:,} customers ({written.rows:,} rows) to {output} in "
                f"{written.seconds:.1f} s ({rate:,.0f} customers/s)"
                + (f"; recommending {restriction}" if restriction else ""), highlight=False)
        elif json_out:
            write_json((p for chunk in chunks for p in chunk.predictions()), sys.stdout,
                       flush=True)
        else:
            probabilistic = predictor.model.gives_probabilities
            for chunk in chunks:
                for prediction in chunk.predictions():
                    console.print(basket_table(prediction, probabilistic))


@contextlib.contextmanager
def _long_lived_objects_frozen() -> Iterator[None]:
    """Keep what is loaded (modules, the model) out of the garbage collector's full passes,
    which parsing many customers triggers: each would walk every loaded object again."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _noting(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    """Say on stderr when only the last orders of a history were used."""
    truncated = 0
    reads = None
    for chunk in chunks:
        for customer, given, used in zip(chunk.customers, chunk.orders_given, chunk.orders_used,
                                         strict=True):
            if used < given:
                truncated += 1
                reads = used
                if truncated <= TRUNCATION_WARNINGS:
                    warn(f"customer {customer}: the model reads the last {used} orders; used "
                         f"{used} of {given}")
        yield chunk
    if truncated > TRUNCATION_WARNINGS:
        warn(f"{truncated} customers in all had more orders than the model reads ({reads}); "
             "only their last orders were used")
