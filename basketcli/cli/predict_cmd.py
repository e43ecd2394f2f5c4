"""`basket predict`: next baskets for customers given as JSON or JSON Lines."""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from basketcli.cli.options import CatalogOpt, JsonOpt
from basketcli.cli.ui import console, err_console, progress_bars, warn

if TYPE_CHECKING:
    from basketcli.workflows.predict.predictor import CustomerPrediction

TRUNCATION_WARNINGS = 3  # then one summary line


def predict_command(
    run: Annotated[Path, typer.Option("--run", help="run directory made by 'basket train'")],
    orders: Annotated[str, typer.Option(
        "--orders", help="JSON: one customer's orders (oldest first) or {\"customers\": {ID: "
        "[...]}}; or JSON Lines, one customer per line (streamed); - reads stdin")],
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
        "--output", help="write the JSON result to this file (only once it is complete)")] = None,
    device: Annotated[str, typer.Option(
        "--device", help="cpu, auto or cuda (torch models; a GPU pays off for large batches "
        "of customers, the CPU gives the first answer soonest)")] = "cpu",
) -> None:
    """Predict each customer's next basket: products, scores, and whether they are new to them.

    With --json on standard output, results are printed as they are ready (an error midway
    leaves exit code 2 after the customers before it); --output writes a temporary file that
    is renamed into place only when every customer is done, so it is never half-written.
    """
    from basketcli.errors import ConfigError
    from basketcli.render import basket_table
    from basketcli.sizing import parse_sizing
    from basketcli.workflows.predict.inputs import iter_customers
    from basketcli.workflows.predict.predictor import (
        load_predictor,
        sizing_rule,
        write_json,
        write_json_file,
    )

    rule = sizing_rule(top_k, threshold, parse_sizing(sizing) if sizing else None)
    if output is not None and output.is_dir():
        raise ConfigError(f"--output {output}: is a folder; give a file name")
    customers = iter_customers(orders)
    predictor = load_predictor(run, catalog=catalog, rule=rule, skip_unknown=skip_unknown,
                               warn=warn, device=device)
    if err_console.is_terminal:  # a person is watching: say at once that the model is ready
        err_console.print(
            f"loaded {predictor.model.name} from {run} ({len(predictor.vocabulary)} "
            f"products; basket: {predictor.rule.label()}); reading {orders}",
            highlight=False, soft_wrap=True)
    predictions = predictor.predict(customers)
    with _long_lived_objects_frozen():
        if output is not None:
            with progress_bars(True) as progress, progress("customers", None) as task:
                count = write_json_file(_noting(_counted(predictions, task)), output)
            err_console.print(f"wrote {count} customers to {output}", highlight=False)
        elif json_out:
            write_json(_noting(predictions), sys.stdout, flush=True)
        else:
            probabilistic = predictor.model.gives_probabilities
            for prediction in predictions:
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


def _counted(predictions: Iterable[CustomerPrediction], task) -> Iterator[CustomerPrediction]:
    for prediction in predictions:
        task.advance(1)
        yield prediction


def _noting(predictions: Iterable[CustomerPrediction]) -> Iterator[CustomerPrediction]:
    """Say on stderr when only the last orders of a history were used."""
    truncated = 0
    reads = None
    for prediction in predictions:
        if prediction.truncated:
            truncated += 1
            reads = prediction.orders_used
            if truncated <= TRUNCATION_WARNINGS:
                warn(f"customer {prediction.id}: the model reads the last {reads} orders; used "
                     f"{prediction.orders_used} of {prediction.orders_given}")
        yield prediction
    if truncated > TRUNCATION_WARNINGS:
        warn(f"{truncated} customers in all had more orders than the model reads ({reads}); "
             "only their last orders were used")
