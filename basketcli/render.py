"""Results -> Rich tables, CSV text and figures. Builds renderables and files, never prints.
One table style. Imports nothing heavy at module level (`basket models` uses it)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from rich.console import RenderableType
from rich.table import Table

BEST_STYLE = "bold green"
LOWER_IS_BETTER = ("seconds",)


def new_table(title: str | None = None) -> Table:
    """The one table style every command uses."""
    return Table(title=title, header_style="bold cyan", title_style="bold", show_lines=False)


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _best(values: list[float | None], higher: bool) -> float | None:
    present = [v for v in values if v is not None]
    if len(present) < 2:
        return None
    return max(present) if higher else min(present)


def metrics_table(
    rows: list[dict[str, Any]], title: str | None = None, keys: tuple[str, ...] | None = None,
    label_columns: tuple[str, ...] = ("model",), extra_columns: tuple[str, ...] = (),
    highlight_row: int | None = None,
) -> Table:
    """One row per result: label columns, metric columns (best highlighted), extra columns."""
    if keys is None:  # imported here: listing models must not import numpy (basketcli.metrics)
        from basketcli.metrics import HEADLINE_KEYS

        keys = HEADLINE_KEYS
    table = new_table(title)
    for col in label_columns:
        table.add_column(col, no_wrap=True)
    for key in keys:
        table.add_column(key, justify="right")
    for col in extra_columns:
        table.add_column(col, justify="right")
    best = {
        col: _best([r.get(col) for r in rows], higher=not col.endswith(LOWER_IS_BETTER))
        for col in (*keys, *extra_columns)
    }
    for i, row in enumerate(rows):
        cells = [fmt(row.get(col)) for col in label_columns]
        for col in (*keys, *extra_columns):
            value = row.get(col)
            text = fmt(value, 2 if col.endswith("seconds") else 4)
            if value is not None and value == best[col]:
                text = f"[{BEST_STYLE}]{text}[/]"
            cells.append(text)
        table.add_row(*cells, style="on grey23" if i == highlight_row else None)
    return table


def compare_table(result: Any) -> Table:
    rows = [
        {"model": m.name if m.source == m.name else f"{m.name} ({m.source})",
         "sizing": m.sizing, **m.metrics,
         "fit seconds": m.fit_seconds, "score seconds": m.score_seconds}
        for m in result.models
    ]
    data = result.data
    title = (f"{data['source']}: {data['users']} customers, {data['items']} products "
             "(test targets)")
    return metrics_table(rows, title, label_columns=("model", "sizing"),
                         extra_columns=("fit seconds", "score seconds"))


# --- grid --------------------------------------------------------------------------------------
HEAT_COLOURS = ("red", "dark_orange", "yellow", "green_yellow", "green")
GRID_KEYS = ("f1_micro", "precision@10", "recall@10", "ndcg@10")  # the grid table's metrics


def format_value(value: Any) -> str:
    """A grid parameter's value as a label (1.0 -> 1, 0.001 -> 0.001)."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def grid_report(result: Any) -> list[RenderableType]:
    """What `basket grid` shows of a GridResult: the validation rows (best first), the best
    setting on the test targets, the heat map (or where its PNG is) and where it all is."""
    keys = GRID_KEYS if result.sort in GRID_KEYS else (*GRID_KEYS, result.sort)
    labels = tuple(result.param_names)

    def labelled(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, **{k: format_value(row[k]) for k in labels}}

    fitted = f"{result.runs_fitted} of {result.runs_total} runs fitted now"
    parts: list[RenderableType] = [
        metrics_table([labelled(row) for row in result.rows],
                      f"grid {result.model}: validation metrics sorted by {result.sort} "
                      f"({fitted})", keys=keys, label_columns=labels, highlight_row=0),
        metrics_table([labelled(result.test)], "best setting on the test targets (evaluated "
                      "once)", keys=keys, label_columns=labels),
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
    table.add_column(f"{heatmap.row_name} \\ {heatmap.col_name}", no_wrap=True)
    for label in heatmap.col_labels:
        table.add_column(label, justify="right")
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


def rows_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_heatmap_png(heatmap: Any, path: Path) -> Path | None:
    """Draw a grid's HeatMap with matplotlib if it is installed (an optional extra); else None."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    import numpy as np

    from basketcli.artifacts import atomic_path

    values = np.array([[np.nan if v is None else v for v in row] for row in heatmap.values])
    figure = Figure(figsize=(1.2 + 0.9 * len(heatmap.col_labels),
                             1.2 + 0.6 * len(heatmap.row_labels)))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(values, cmap="viridis", aspect="auto")
    axes.set_xticks(range(len(heatmap.col_labels)), heatmap.col_labels)
    axes.set_yticks(range(len(heatmap.row_labels)), heatmap.row_labels)
    axes.set_xlabel(heatmap.col_name)
    axes.set_ylabel(heatmap.row_name)
    axes.set_title(f"{heatmap.metric} (validation)")
    middle = np.nanmean(values) if np.isfinite(values).any() else 0.0
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            axes.text(j, i, f"{value:.3f}", ha="center", va="center",
                      color="black" if value > middle else "white", fontsize=8)
    figure.colorbar(image, ax=axes)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
    return path
