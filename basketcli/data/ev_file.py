"""The EV file: one vector per product (``basket embed`` writes it, the neural models start
their product embeddings from it). One .npz holding ``product_ids``, ``vectors`` and
``metadata`` (a JSON string), all plain arrays, read back with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from basketcli.artifacts import atomic_write_npz, load_npz
from basketcli.data.ids import find, id_array, is_text
from basketcli.errors import ArtifactError, ConfigError

EV_FORMAT = "basket-ev"
EV_VERSION = 1
MIN_COVERAGE = 0.5  # an EV file must have vectors for at least this share of the products


@dataclass(frozen=True, eq=False)
class EmbeddingFile:
    product_ids: np.ndarray  # (P,) int64, or text ids
    vectors: np.ndarray  # (P, dim) float32
    metadata: dict[str, Any]

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def write_ev(path: Path, ev: EmbeddingFile) -> None:
    atomic_write_npz(Path(path), {
        "product_ids": id_array(ev.product_ids),
        "vectors": np.asarray(ev.vectors, dtype=np.float32),
        "metadata": np.array(json.dumps(ev.metadata)),
    })


def read_ev(path: Path) -> EmbeddingFile:
    """Read and check an EV file; every problem is an ArtifactError naming the file."""
    path = Path(path).expanduser()
    arrays = load_npz(path)
    for key in ("product_ids", "vectors", "metadata"):
        if key not in arrays:
            raise ArtifactError(
                f"{path}: not an EV file (no {key!r} array); make one with 'basket embed'"
            )
    ids, vectors, meta = arrays["product_ids"], arrays["vectors"], arrays["metadata"]
    if ids.ndim != 1 or not (np.issubdtype(ids.dtype, np.integer) or is_text(ids)):
        raise ArtifactError(f"{path}: product_ids must be a 1-d array of integer or text ids; "
                            "remake the file")
    if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
        raise ArtifactError(f"{path}: vectors must be a 2-d float array; remake the file")
    if vectors.shape[0] != len(ids):
        raise ArtifactError(
            f"{path}: {vectors.shape[0]} vectors for {len(ids)} product ids; remake the file"
        )
    if len(np.unique(ids)) != len(ids):
        raise ArtifactError(f"{path}: a product id appears twice; remake the file")
    if not np.isfinite(vectors).all():
        raise ArtifactError(f"{path}: vectors hold NaN or infinite values; remake the file")
    try:
        metadata = json.loads(str(meta.item())) if meta.ndim == 0 else None
    except (json.JSONDecodeError, ValueError):
        metadata = None
    if not isinstance(metadata, dict):
        raise ArtifactError(f"{path}: metadata is not a JSON object; remake the file")
    return EmbeddingFile(id_array(ids), vectors.astype(np.float32), metadata)


def align_vectors(
    ev: EmbeddingFile, item_ids: np.ndarray, dim: int, source: str | Path = "EV file",
) -> tuple[np.ndarray, np.ndarray]:
    """(I, dim) vectors in vocabulary order, scaled to unit RMS, and a mask of the covered
    products. A file of the wrong size or for other products is a ConfigError."""
    if ev.dim != dim:
        raise ConfigError(
            f"{source}: the EV vectors have {ev.dim} dimensions but embedding_dim is {dim}; "
            f"pass --set embedding_dim={ev.dim} or rebuild it with 'basket embed --dim {dim}'"
        )
    order = np.argsort(ev.product_ids)
    pos, covered = find(ev.product_ids[order], item_ids)
    if covered.sum() < MIN_COVERAGE * len(item_ids):
        raise ConfigError(
            f"{source}: the EV file has vectors for only {int(covered.sum())} of the "
            f"{len(item_ids)} products in the data (made for other products?); build one from "
            "this data with 'basket embed'"
        )
    out = np.zeros((len(item_ids), dim), dtype=np.float32)
    out[covered] = ev.vectors[order[pos[covered]]]
    rms = float(np.sqrt(np.mean(out[covered] ** 2))) if covered.any() else 0.0
    if rms > 0:
        out /= rms  # the scale of a freshly initialised embedding table
    return out, covered


def nearest(ev: EmbeddingFile, product_id: int | str, n: int = 10
            ) -> list[tuple[int | str, float]]:
    """The ``n`` products most similar to ``product_id`` by cosine, best first."""
    norms = np.linalg.norm(ev.vectors, axis=1)
    unit = ev.vectors / np.maximum(norms, 1e-12)[:, None]
    row = int(np.flatnonzero(ev.product_ids == product_id)[0])
    similarity = unit @ unit[row]
    similarity[row] = -np.inf
    n = min(n, len(similarity) - 1)
    best = np.argpartition(-similarity, n - 1)[:n] if n > 0 else np.zeros(0, dtype=np.int64)
    best = best[np.lexsort((ev.product_ids[best], -similarity[best]))]
    return [(ev.product_ids[i].item(), float(similarity[i])) for i in best]
