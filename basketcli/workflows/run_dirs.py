"""Run directories: basket.json (what was trained, on what, how well, whether it is complete)
beside the model's bundle. Written atomically, or marked incomplete while a training run
writes into them; read back with every problem a one-line ArtifactError saying what to do.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from basketcli import registry
from basketcli.artifacts import atomic_folder, atomic_write_json
from basketcli.data.prepare import Dataset
from basketcli.errors import ArtifactError, BasketError, ConfigError
from basketcli.protocol import BasketModel
from basketcli.settings import build_config
from basketcli.workflows.steps import check_device_name

SCHEMA_VERSION = 1
RUN_FILE = "basket.json"


class RunInfo(BaseModel):
    """The contents of a run directory's basket.json."""

    model_config = ConfigDict(extra="allow")

    schema_version: int
    complete: bool
    model: str
    plugin_distribution: str | None = None
    plugin_version: str | None = None
    config: dict[str, Any]
    data: dict[str, Any]
    data_fingerprint: str
    vocabulary: list[int]
    catalog_names: list[str] | None = None
    metrics: dict[str, Any] = {}
    timings: dict[str, float] = {}
    created: str = ""


def read_run_info(run_dir: Path, *, allow_incomplete: bool = False) -> RunInfo:
    """basket.json of a run; an incomplete run is refused unless ``allow_incomplete``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ArtifactError(f"{run_dir}: run directory not found")
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise ArtifactError(f"{run_dir}: not a basket run directory (no {RUN_FILE})")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: corrupt JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ArtifactError(f"{path}: corrupt run file (not a JSON object)")
    version = raw.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise ArtifactError(
            f"{run_dir}: written by a newer basket (schema {version}, this one reads "
            f"{SCHEMA_VERSION}); upgrade basket"
        )
    try:
        info = RunInfo.model_validate(raw)
    except ValidationError as exc:
        field = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise ArtifactError(
            f"{path}: corrupt run file (field {field!r} is missing or invalid)"
        ) from None
    if not info.complete and not allow_incomplete:
        raise ArtifactError(
            f"{run_dir}: the run is incomplete (interrupted before it finished); "
            "train again or resume it"
        )
    return info


def write_run(run_dir: Path, info: RunInfo, write_model: Any, force: bool = False) -> None:
    """Write a whole run directory atomically.

    ``write_model(tmp_dir)`` writes the model's files; basket.json is written last and the
    finished folder is renamed into place.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not force and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise ArtifactError(f"{run_dir}: already exists; choose another --out or pass --force")
    with atomic_folder(run_dir) as tmp:
        write_model(tmp)
        atomic_write_json(tmp / RUN_FILE, info.model_dump(mode="json"))


# --- run directories written while training (resumable) --------------------------------------
def check_run_target(run_dir: Path, *, force: bool = False, resume: bool = False) -> RunInfo | None:
    """Decide whether training may write ``run_dir``, before anything is written.

    Returns the interrupted run's info when resuming, None for a fresh run. An existing run
    (or any non-empty folder) is refused unless ``force``; ``force`` never replaces a folder
    that is not a basket run directory.
    """
    run_dir = Path(run_dir)
    if resume:
        if not (run_dir / RUN_FILE).is_file():
            raise ArtifactError(f"{run_dir}: no interrupted run to resume there; drop --resume")
        info = read_run_info(run_dir, allow_incomplete=True)
        if info.complete and force:
            return None  # --force --resume on a finished run: train it again
        if info.complete:
            raise ArtifactError(
                f"{run_dir}: the run is already complete, nothing to resume; "
                "pass --force instead of --resume to train it again"
            )
        return info
    if not run_dir.exists() or (run_dir.is_dir() and not any(run_dir.iterdir())):
        return None
    if not run_dir.is_dir():
        raise ArtifactError(f"{run_dir}: is a file, not a run directory; choose another --out")
    if not (run_dir / RUN_FILE).is_file():
        raise ArtifactError(
            f"{run_dir}: holds files that are not a basket run; choose another --out "
            "(--force only replaces run directories)"
        )
    if not force:
        raise ArtifactError(
            f"{run_dir}: already holds a run; choose another --out or pass --force to replace it"
        )
    return None


def write_run_info(run_dir: Path, info: RunInfo) -> None:
    atomic_write_json(Path(run_dir) / RUN_FILE, info.model_dump(mode="json"))


def begin_run(run_dir: Path, info: RunInfo, *, resume: bool = False) -> None:
    """Create (or take over) ``run_dir`` for a training run that writes into it as it goes.

    basket.json (with ``complete`` false) is in place before anything else changes, so at
    every moment the folder reads as the previous run or as an incomplete one. A run being
    replaced (``check_run_target`` allowed it) is cleared only after its basket.json says
    incomplete; a resumed run keeps its files (the checkpoints).
    """
    run_dir = Path(run_dir)
    if run_dir.is_dir() and (run_dir / RUN_FILE).is_file():
        write_run_info(run_dir, info)
        if resume:
            # Temporary files of writes a crash cut short (atomic writes rename them when done).
            for entry in run_dir.glob(".*.tmp"):
                if entry.is_file():
                    entry.unlink(missing_ok=True)
            return
        for entry in run_dir.iterdir():
            if entry.name == RUN_FILE:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        return
    with atomic_folder(run_dir) as tmp:  # also replaces an empty folder
        write_run_info(tmp, info)


def discard_run(run_dir: Path) -> None:
    """Remove a run directory that ``begin_run`` created and that never completed."""
    shutil.rmtree(Path(run_dir), ignore_errors=True)


# --- a run of a model -------------------------------------------------------------------------
def new_run_info(name: str, config: dict[str, Any], dataset: Dataset, **fields: Any) -> RunInfo:
    """basket.json of a run of model ``name`` on ``dataset`` (``fields``: the rest)."""
    entry = registry.get_entry(name)
    return RunInfo(
        schema_version=SCHEMA_VERSION, model=name, plugin_distribution=entry.distribution,
        plugin_version=entry.version, config=config,
        data=dataset.spec.model_dump(mode="json"), data_fingerprint=dataset.fingerprint,
        vocabulary=dataset.data.item_ids.tolist(),
        catalog_names=dataset.catalog.names_of(dataset.data.item_ids) if dataset.catalog else None,
        **fields,
    )


def is_run_dir(target: str | Path) -> bool:
    path = Path(target)
    return path.is_dir() and (path / RUN_FILE).exists()


def load_run(run_dir: Path, device: str | None = None) -> tuple[BasketModel, RunInfo]:
    """Load a saved model, to score on ``device`` when given (else where it loads: the CPU
    for the torch models); every problem is an ArtifactError saying what to do."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    try:
        entry = registry.get_entry(info.model)
    except BasketError:
        raise ArtifactError(
            f"{run_dir}: made by model {info.model!r}, which is not installed here; "
            "install its plugin"
        ) from None
    known = (info.plugin_distribution, "in-process")
    if info.plugin_distribution and entry.distribution not in known:
        raise ArtifactError(
            f"{run_dir}: made by plugin {info.plugin_distribution}, but model {info.model!r} now "
            f"comes from {entry.distribution}; install {info.plugin_distribution}"
        )
    cls = registry.get_model_class(info.model)
    try:
        config = build_config(cls.Config, info.config, info.model)
    except ConfigError:
        raise ArtifactError(
            f"{run_dir}: its config does not fit this version of {info.model}; train it again"
        ) from None
    model = cls.load(run_dir, config)
    if device is not None:
        check_device_name(device)
        model.use_device(device)
    return model, info


def check_vocabulary(info: RunInfo, dataset: Dataset, run_dir: Path) -> None:
    if info.vocabulary != dataset.data.item_ids.tolist():
        raise ArtifactError(
            f"{run_dir}: trained on other data (its product vocabulary differs from "
            f"{dataset.spec.describe()}); evaluate it with the --data it was trained on"
        )
