"""Training curves: one CSV row per epoch, and a PNG when matplotlib is installed."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from basketcli.artifacts import atomic_path, atomic_write_text

CURVES_CSV = "curves.csv"
CURVES_PNG = "curves.png"


def write_curves(directory: Path, history: list[dict[str, float]], plot: bool = True) -> list[Path]:
    """Write curves.csv (and curves.png when possible); returns the files written."""
    if not history:
        return []
    columns = list(dict.fromkeys(key for row in history for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    directory = Path(directory)
    atomic_write_text(directory / CURVES_CSV, buffer.getvalue())
    written = [directory / CURVES_CSV]
    if plot and _plot(directory / CURVES_PNG, history):
        written.append(directory / CURVES_PNG)
    return written


def _plot(path: Path, history: list[dict[str, float]]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
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
