"""Training state on disk: written atomically, read without unpickling code.

``checkpoint.pt`` holds everything needed to continue after the last finished epoch (model,
optimiser, scheduler, RNG states, epoch, early-stopping state, history); ``best.pt`` holds the
weights of the best epoch so far. Both are removed once the run is complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from basketcli.artifacts import atomic_path
from basketcli.errors import ArtifactError

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
CHECKPOINT_FORMAT = 2


def save_torch(path: Path, payload: Any) -> None:
    """torch.save to a temporary name, renamed into place once complete."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_torch(path: Path, map_location: Any = "cpu") -> Any:
    """torch.load with weights_only=True: tensors and plain containers, never code."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: file not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError, zip errors ...
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise ArtifactError(
            f"{path}: not a readable torch weights file ({reason}); train the model again"
        ) from None


def has_checkpoint(directory: Path | None) -> bool:
    return directory is not None and (Path(directory) / CHECKPOINT_FILE).is_file()


def remove_checkpoints(directory: Path) -> None:
    """Drop the training state of a finished run (its final weights live elsewhere)."""
    for name in (CHECKPOINT_FILE, BEST_FILE):
        (Path(directory) / name).unlink(missing_ok=True)
