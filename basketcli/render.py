"""Results -> Rich tables. Pure: builds renderables, never prints. One table style."""

from __future__ import annotations

from typing import Any

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

