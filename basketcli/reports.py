"""Files written for people to read: CSV rows, tables (CSV or Parquet), training curves and
grid heat maps (PNG, with matplotlib), each whole or not at all. The terminal's output is
``render``'s. Nothing heavy at module level (`basket models` must not import numpy)."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CURVES_CSV = "curves.csv"
CURVES_PNG = "curves.png"
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")  # whole tables (write_table)
ROW_SUFFIXES = (*TABLE_SUFFIXES, ".jsonl")  # tables written in chunks (table_file)


def format_value(value: Any) -> str:
    """A setting's value as a label (1.0 -> 1, 0.001 -> 0.001)."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def rows_csv(rows: list[dict[str, Any]]) -> str:
    """Records as CSV text (columns: every key, in first-seen order)."""
    buffer = io.StringIO()
    columns = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@contextlib.contextmanager
def table_file(path: Path, schema: Any) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A function writing chunks of rows (columns of ``schema``, a pyarrow schema) to a table
    file chosen by ``path``'s suffix: Parquet (.parquet, .pq), CSV (.csv) or JSON Lines
    (.jsonl, one object per row). The file is renamed into place only when the block ends
    without an error; memory holds one chunk at a time."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from basketcli.artifacts import atomic_path

    suffix = Path(path).suffix.lower()
    with atomic_path(Path(path)) as tmp:
        if suffix in (".parquet", ".pq"):
            writer: Any = pq.ParquetWriter(tmp, schema)
        elif suffix == ".csv":
            writer = pacsv.CSVWriter(tmp, schema)
        else:
            writer = _JsonLines(tmp)
        try:
            yield lambda columns: writer.write_table(pa.table(columns, schema=schema))
        finally:
            writer.close()


class _JsonLines:
    """JSON Lines with a pyarrow writer's interface."""

    def __init__(self, path: Path) -> None:
        self.handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed by close)

    def write_table(self, table: Any) -> None:
        if table.num_rows:
            text = table.to_pandas().to_json(orient="records", lines=True, force_ascii=False)
            self.handle.write(text if text.endswith("\n") else text + "\n")

    def close(self) -> None:
        self.handle.close()


def write_table(path: Path, columns: dict[str, Any]) -> None:
    """Columns of equal length as a table file: CSV for .csv, else Parquet (.parquet, .pq)."""
    import pandas as pd

    from basketcli.artifacts import atomic_path

    path = Path(path)
    table = pd.DataFrame(columns)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)


# --- training curves ---------------------------------------------------------------------------
def write_curves(directory: Path, history: list[dict[str, float]], plot: bool = True) -> list[Path]:
    """Write curves.csv (and curves.png when possible); returns the files written."""
    from basketcli.artifacts import atomic_write_text

    if not history:
        return []
    directory = Path(directory)
    atomic_write_text(directory / CURVES_CSV, rows_csv(history))
    written = [directory / CURVES_CSV]
    if plot and _plot_curves(directory / CURVES_PNG, history):
        written.append(directory / CURVES_PNG)
    return written


def _plot_curves(path: Path, history: list[dict[str, float]]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    from basketcli.artifacts import atomic_path

    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    metrics = [k for k in history[0] if k not in {"epoch", "train_loss", "lr", "seconds"}]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    if any("train_loss" in row for row in history):
        axes[0].plot(epochs, [row.get("train_loss") for row in history], marker="o")
    axes[0].set(title="training loss", xlabel="epoch")
    for key in metrics:
        axes[1].plot(epochs, [row.get(key) for row in history], marker="o", label=key)
    axes[1].set(title="validation", xlabel="epoch")
    if metrics:
        axes[1].legend(fontsize="small")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return True


# --- grid heat maps ----------------------------------------------------------------------------
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
