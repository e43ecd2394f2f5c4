"""Results -> Rich tables and Markdown text for the terminal. Builds them, never prints.

One table style (``new_table``). Tables of numbers fit the width they are given: when their
columns do not fit, they are cut into several stacked tables that repeat the label columns, so
every number shows in full in an 80-column terminal or a piped file, and no column may cut a
number (``overflow="fold"``). Imports nothing heavy at module level (`basket models` uses it).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from basketcli.reports import format_value

BEST_STYLE = "bold green"
LOWER_IS_BETTER = ("seconds",)
MEASURE_WIDTH = 100_000  # a console wide enough to measure a table's natural width


def new_table(title: str | None = None) -> Table:
    """The one table style every command uses."""
    return Table(title=title, header_style="bold cyan", title_style="bold", show_lines=False)


def add_columns(table: Table, names: Sequence[str], right: Sequence[str] = ()) -> None:
    """Columns that wrap or fold their text rather than cut it; ``right``: right-justified."""
    for name in names:
        table.add_column(name, justify="right" if name in right else "left", overflow="fold")


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table_width(table: Table) -> int:
    """The width ``table`` takes when nothing limits it."""
    return Console(width=MEASURE_WIDTH, file=io.StringIO()).measure(table).maximum


def fit_width(build: Callable[[list[str]], Table], columns: Sequence[str],
              width: int | None) -> list[Table]:
    """``build(columns)`` as one table, or as several stacked tables of consecutive columns,
    each at most ``width`` wide (None: one table)."""
    if width is None or not columns:
        return [build(list(columns))]
    tables, chunk = [], []
    for column in columns:
        if chunk and table_width(build([*chunk, column])) > width:
            tables.append(build(chunk))
            chunk = []
        chunk.append(column)
    tables.append(build(chunk))
    return tables


def _best(values: list[float | None], higher: bool) -> float | None:
    present = [v for v in values if v is not None]
    if len(present) < 2:
        return None
    return max(present) if higher else min(present)


def metrics_tables(
    rows: list[dict[str, Any]], title: str | None = None, keys: Sequence[str] | None = None,
    label_columns: Sequence[str] = ("model",), extra_columns: Sequence[str] = (),
    highlight_row: int | None = None, width: int | None = None,
    intervals: Sequence[dict[str, tuple[float, float]]] | None = None,
) -> list[Table]:
    """One row per result: label columns, metric columns (best highlighted; with
    ``intervals``, each value followed by half its 95% interval), extra columns; stacked into
    several tables when they do not fit ``width``."""
    if keys is None:  # imported here: listing models must not import numpy (metrics does)
        from basketcli.evaluation.metrics import HEADLINE_KEYS

        keys = HEADLINE_KEYS
    columns = [*keys, *extra_columns]
    best = {col: _best([r.get(col) for r in rows], higher=not col.endswith(LOWER_IS_BETTER))
            for col in columns}

    def cell(i: int, col: str) -> str:
        value = rows[i].get(col)
        text = fmt(value, 2 if col.endswith("seconds") else 4)
        bounds = intervals[i].get(col) if intervals else None
        if bounds is not None and value is not None:
            text += f"\n±{(bounds[1] - bounds[0]) / 2:.4f}"
        if value is not None and value == best[col]:
            text = f"[{BEST_STYLE}]{text}[/]"
        return text

    def build(chunk: list[str]) -> Table:
        table = new_table(title)
        add_columns(table, [*label_columns, *chunk], right=chunk)
        for i, row in enumerate(rows):
            table.add_row(*(fmt(row.get(c)) for c in label_columns),
                          *(cell(i, c) for c in chunk),
                          style="on grey23" if i == highlight_row else None)
        return table

    tables = fit_width(build, columns, width)
    for table in tables[1:]:
        table.title = None  # the first table carries the title
    return tables


# --- compare and evaluate ----------------------------------------------------------------------
def model_label(model: Any) -> str:
    """A row's model: its name, its run directory when loaded from one, and the model it
    stands for when it gave that one's scores unchanged ("stack (= xgboost)")."""
    label = model.name if model.source == model.name else f"{model.name} ({model.source})"
    stands_for = getattr(model, "stands_for", None)
    return f"{label} (= {stands_for})" if stands_for else label


def compare_report(result: Any, keys: Sequence[str] | None = None,
                   width: int | None = None) -> list[RenderableType]:
    """What `basket compare` and `basket evaluate` show of a CompareResult: the metrics (with
    95% intervals when bootstrapped), the spread over seeds, the comparisons with the best
    reference, and a legend."""
    data = result.data
    repeat = data.get("target_repeat_share")
    title = (f"{data['source']}: {data['users']:,} customers, {data['items']:,} products, test "
             "targets" + (f" ({repeat:.0%} of their products bought before)"
                          if repeat is not None else "")
             + (f"; recommending {data['restriction']}" if data.get("restriction") else ""))
    rows = [{"model": model_label(m), **m.metrics,
             "threshold": "top 10" if m.threshold is None else f"{m.threshold:g}",
             "sizing": m.sizing, "fit seconds": m.fit_seconds, "score seconds": m.score_seconds}
            for m in result.models]
    bootstrapped = bool(result.bootstrap)
    legend = ("threshold: the probability above which a product counts as predicted for "
              "f1_micro and f1_macro (a ranker's top 10 instead); sizing: the rule of basket_f1.")
    parts: list[RenderableType] = [*metrics_tables(
        rows, title, keys, extra_columns=("threshold", "sizing", "fit seconds", "score seconds"),
        width=width, intervals=[m.intervals for m in result.models] if bootstrapped else None)]
    seeded = [m for m in result.models if m.seeds > 1]
    if seeded:
        spread = [{"model": model_label(m), **m.seed_spread} for m in seeded]
        parts += metrics_tables(spread, f"standard deviation over {seeded[0].seeds} seeds",
                                keys, width=width)
    tuned = [m for m in result.models if m.tune_seconds is not None]
    if tuned:
        table = new_table("settings tuned on the validation targets")
        add_columns(table, ["model", "trials", "seconds", "settings"], right=["trials", "seconds"])
        for m in tuned:
            settings = ", ".join(f"{k}={format_value(v)}" for k, v in m.settings.items())
            table.add_row(model_label(m), str(m.tune_trials), f"{m.tune_seconds:.0f}",
                          settings or "(nothing to search)")
        parts.append(table)
    compared = list(dict.fromkeys(k for m in result.models for k in m.versus))
    if compared:
        parts += fit_width(lambda chunk: _versus_table(result.models, chunk), compared, width)
    if bootstrapped:
        legend += (
            f" ±: half the 95% interval over customers ({result.bootstrap['resamples']:,} "
            "bootstrap resamples). Against the best reference: the model minus the best "
            "reference baseline of the run on that metric, paired over the same resamples; "
            "verdicts are Holm-adjusted over the models compared, and each difference's interval "
            "is at the level Holm tested it at (wider than 95% when many models are compared), "
            "so it clears zero exactly when the verdict is significant.")
    parts.append(legend)
    return parts


def versus_text(v: Any, interval: bool = True) -> str:
    """A comparison (``Versus``) on one line, for reports: the difference, its interval and
    the verdict, "n.s." for no significant difference."""
    verdict = "n.s." if v.verdict == "no significant difference" else v.verdict
    bounds = f" [{v.low:+.4f}, {v.high:+.4f}]" if interval else ""
    return f"{v.difference:+.4f}{bounds} {verdict}"


def _versus_table(models: list[Any], keys: list[str]) -> Table:
    """Each model minus the best reference on each compared metric: the difference, its
    paired interval (at Holm's level) and the verdict."""
    references = sorted({v.reference for m in models for v in m.versus.values()})
    table = new_table(f"against the best reference ({', '.join(references)}), test targets")
    add_columns(table, ["model", *keys], right=keys)
    for model in models:
        cells = []
        for key in keys:
            v = model.versus.get(key)
            if v is None:
                cells.append("reference")
                continue
            style = {"better": "green", "worse": "red"}.get(v.verdict)
            verdict = f"[{style}]{v.verdict}[/]" if style else v.verdict
            cells.append(f"{v.difference:+.4f} [{v.low:+.4f}, {v.high:+.4f}]\n{verdict}")
        table.add_row(model_label(model), *cells)
    return table


def records_markdown(records: list[dict[str, Any]]) -> str:
    """Records as a GitHub-flavoured Markdown table (numbers to 4 decimals)."""
    columns = list(dict.fromkeys(k for r in records for k in r))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for record in records:
        lines.append("| " + " | ".join(fmt(record.get(c)) for c in columns) + " |")
    return "\n".join(lines) + "\n"


# --- tune --------------------------------------------------------------------------------------
def tune_report(result: Any, width: int | None = None, shown: int = 15) -> list[RenderableType]:
    """`basket tune`: the best settings, the best trials, and where it was all written."""
    parts: list[RenderableType] = []
    states = {}
    for trial in result.trials:
        states[trial.state] = states.get(trial.state, 0) + 1
    counted = ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items()))
    parts.append(f"{result.model}: best validation {result.monitor} {fmt(result.best_value)} "
                 f"({counted or 'no trials'}; {result.seconds:.0f} s, "
                 f"{result.trials_per_minute:.1f} trials/min)")
    parts.append(field_table("best settings", result.best_settings
                             or {"(defaults)": "nothing to search"}))
    ranked = sorted((t for t in result.trials if t.value is not None),
                    key=lambda t: -t.value)[:shown]
    if ranked:
        names = list(result.search_space)

        def build(chunk: list[str]) -> Table:
            table = new_table(f"best {len(ranked)} trials")
            add_columns(table, ["trial", result.monitor, *chunk],
                        right=["trial", result.monitor, *chunk])
            for t in ranked:
                table.add_row(str(t.number), fmt(t.value),
                              *(format_value(t.settings[n]) if n in t.settings else "default"
                                for n in chunk))
            return table

        parts += fit_width(build, names, width)
    if result.out:
        parts.append(f"saved best.json (basket train --model {result.model} --config "
                     f"{result.out}/best.json), trials.csv and tune.json in {result.out}")
    return parts


# --- the other commands' tables ---------------------------------------------------------------
def field_table(title: str, fields: dict[str, Any], digits: int = 4,
                columns: tuple[str, str] = ("field", "value")) -> Table:
    """A two-column table of named values."""
    table = new_table(title)
    add_columns(table, columns, right=columns[1:])
    for key, value in fields.items():
        table.add_row(key, fmt(value, digits))
    return table


def distributions_table(distributions: dict[str, dict[str, float]],
                        width: int | None = None) -> list[Table]:
    """Quantities (rows) by summary statistic (columns: mean, min, p10, median, p90, max)."""
    columns = ["mean", "min", "p10", "median", "p90", "max"]

    def build(chunk: list[str]) -> Table:
        table = new_table("distributions")
        add_columns(table, ["quantity", *chunk], right=chunk)
        for name, dist in distributions.items():
            table.add_row(name, *(f"{dist[c]:.2f}" for c in chunk))
        return table

    return fit_width(build, columns, width)


def neighbours_table(result: Any) -> Table:
    """`basket embed --neighbors`: the nearest products by cosine."""
    table = new_table(f"nearest to {result.query_name or result.query_id} (cosine)")
    add_columns(table, ["product_id", "name", "similarity"], right=["product_id", "similarity"])
    for n in result.neighbors:
        table.add_row(str(n.product_id), n.name or "-", fmt(n.similarity))
    return table


MODEL_COLUMNS = ("name", "summary", "distribution", "version", "status")


def models_table(listing: list[dict[str, str]]) -> Table:
    """`basket models`; unavailable models in red."""
    table = new_table("installed models")
    add_columns(table, MODEL_COLUMNS)
    for row in listing:
        style = "red" if row["status"] == "unavailable" else None
        table.add_row(*(str(row[c]) for c in MODEL_COLUMNS), style=style)
    return table


PARAM_COLUMNS = ("name", "type", "default", "tune", "description")
DESCRIPTION_MIN = 30  # narrowest description column of the params table; narrower: blocks
LIST_TYPES = ("list[", "tuple[", "set[", "frozenset[")


def params_report(model: str, rows: list[dict[str, str]],
                  width: int | None = None) -> list[RenderableType]:
    """`basket models --params NAME`: each hyperparameter's type, default, where `basket tune`
    searches it and its description. A table where it fits ``width`` with every name, type,
    default and search range on one line; otherwise one block per setting (name and type, then
    default, search range and description), so that no name is ever cut."""
    title = f"{model} hyperparameters (set with --set key=value)"
    lists = [row["name"] for row in rows if row["type"].startswith(LIST_TYPES)]
    note = [Text(f"a list setting takes a,b or a JSON list: --set {lists[0]}=a,b")] if lists else []
    table = _params_table(title, rows)
    if width is None or _fixed_width(rows) + DESCRIPTION_MIN <= width:
        return [table, *note]
    parts: list[RenderableType] = [Text(title, style="bold")]
    for row in rows:
        details = f"default {row['default']}" + (f"; tune searches {row['tune']}"
                                                 if row["tune"] else "")
        parts += ["", Text.assemble((row["name"], "bold cyan"), "  ", row["type"])]
        for paragraph in (details, row["description"]):
            parts += [Text(line) for line in _wrapped(paragraph, width, "  ")]
    return [*parts, *(["", *note] if note else [])]


def _wrapped(text: str, width: int, indent: str) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken between words only."""
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


def _params_table(title: str, rows: list[dict[str, str]],
                  columns: Sequence[str] = PARAM_COLUMNS) -> Table:
    """The params table; every column but the description on one line."""
    table = new_table(title)
    for name in columns:
        if name == "description":
            table.add_column(name, overflow="fold", min_width=DESCRIPTION_MIN)
        else:
            table.add_column(name, no_wrap=True)
    for row in rows:
        table.add_row(*(Text(row[c]) for c in columns))  # text, not markup: list[str]
    return table


def _fixed_width(rows: list[dict[str, str]]) -> int:
    """The params table's width but for its description column's text: what stays for it."""
    return table_width(_params_table("", rows, PARAM_COLUMNS[:-1])) + 3  # a column's edges


def basket_table(prediction: Any, probabilistic: bool) -> Table:
    """`basket predict`: one customer's predicted basket, best product first."""
    who = "customer" if prediction.id is None else f"customer {prediction.id}"
    table = new_table(f"{who}: next basket ({prediction.size_rule})")
    score = "probability" if probabilistic else "score"
    add_columns(table, ["rank", "product", "id", score, "why"], right=["rank", "id", score])
    for rank, item in enumerate(prediction.basket, start=1):
        why = item.reason if item.bought_before else f"[bold]{escape(item.reason)}[/]"
        table.add_row(str(rank), item.name or "-", str(item.product_id), f"{item.score:.4f}",
                      why if not item.bought_before else escape(why))
    if prediction.truncated:
        table.caption = (f"the model reads the last {prediction.orders_used} orders: used "
                         f"{prediction.orders_used} of {prediction.orders_given}")
    elif not prediction.basket:
        table.caption = "no product reaches the threshold"
    return table


# --- grid --------------------------------------------------------------------------------------
HEAT_COLOURS = ("red", "dark_orange", "yellow", "green_yellow", "green")
def grid_report(result: Any, width: int | None = None) -> list[RenderableType]:
    """What `basket grid` shows of a GridResult: the validation rows (best first), the best
    setting on the test targets, the heat map (or where its PNG is) and where it all is."""
    from basketcli.evaluation.metrics import GRID_KEYS

    keys = GRID_KEYS if result.sort in GRID_KEYS else (*GRID_KEYS, result.sort)
    labels = tuple(result.param_names)

    def labelled(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, **{k: format_value(row[k]) for k in labels}}

    fitted = f"{result.runs_fitted} of {result.runs_total} runs fitted now"
    parts: list[RenderableType] = [
        *metrics_tables([labelled(row) for row in result.rows],
                        f"grid {result.model}: validation metrics sorted by {result.sort} "
                        f"({fitted})", keys=keys, label_columns=labels, highlight_row=0,
                        width=width),
        *metrics_tables([labelled(result.test)], "best setting on the test targets (evaluated "
                        "once)", keys=keys, label_columns=labels, width=width),
    ]
    if result.heatmap_png:
        parts.append(f"heat map of {result.sort}: {result.heatmap_png}")
    elif result.heatmap is not None:
        parts.append(heat_table(result.heatmap))
    parts.append(f"saved grid.csv, grid.json and runs/ in {result.out}")
    return parts


def heat_table(heatmap: Any) -> Table:
    """A grid's HeatMap as a coloured table (when matplotlib is not installed)."""
    table = new_table(f"{heatmap.metric} (validation)")
    add_columns(table, [f"{heatmap.row_name} \\ {heatmap.col_name}", *heatmap.col_labels],
                right=heatmap.col_labels)
    present = [v for row in heatmap.values for v in row if v is not None]
    low, high = (min(present), max(present)) if present else (0.0, 0.0)
    for label, values in zip(heatmap.row_labels, heatmap.values, strict=True):
        cells = []
        for value in values:
            if value is None:
                cells.append("-")
                continue
            share = 0.0 if high == low else (value - low) / (high - low)
            colour = HEAT_COLOURS[min(int(share * len(HEAT_COLOURS)), len(HEAT_COLOURS) - 1)]
            style = f"bold {colour}" if value == high else colour
            cells.append(f"[{style}]{value:.4f}[/]")
        table.add_row(label, *cells)
    return table
