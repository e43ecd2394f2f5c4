"""Run directories: basket.json (what was trained, on what, how well, whether it is complete)
beside the model's bundle. Written atomically, or marked incomplete while a training run
writes into them; read back with every problem a one-line ArtifactError saying what to do.

A complete run is never changed in place. Training it again (``--force``) writes the new run
beside it, in ``.NAME.next`` (``next_dir``: where --resume finds an interrupted retrain), and
only a complete new run replaces it (``artifacts.replace_folder``); until then NAME holds the
previous run, byte for byte, whatever stops the retrain. A crash between the replacement's
two renames leaves NAME missing and ``.NAME.old`` whole: reading NAME reads ``.NAME.old``
(``read_run_info``, ``load_run``) until the next training run into NAME puts it back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from basketcli import registry
from basketcli.artifacts import (
    atomic_folder,
    atomic_write_json,
    beside,
    remove_folder,
    replace_folder,
    settle_folder,
    standing_in,
)
from basketcli.data.ids import kind_of
from basketcli.data.prepare import Dataset
from basketcli.errors import ArtifactError, BasketError, ConfigError
from basketcli.protocol import BasketModel
from basketcli.settings import build_config
from basketcli.workflows.steps import check_device_name

SCHEMA_VERSION = 1
RUN_FILE = "basket.json"
NEXT_TAG = "next"  # .NAME.next: the retrain of the complete run NAME, until it is complete


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
    vocabulary: list[int] | list[str]  # product id of each column: integers, or text ids
    customer_ids: Literal["integer", "text"] = "integer"  # the kind of the data's customer ids
    catalog_names: list[str] | None = None
    metrics: dict[str, Any] = {}
    timings: dict[str, float] = {}
    created: str = ""


def read_run_info(run_dir: Path, *, allow_incomplete: bool = False) -> RunInfo:
    """basket.json of a run; an incomplete run is refused unless ``allow_incomplete``."""
    run_dir = Path(run_dir)
    found = standing_in(run_dir)  # a replacement cut short between its renames: the old run
    if not found.is_dir():
        raise ArtifactError(f"{run_dir}: run directory not found")
    path = found / RUN_FILE
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
def next_dir(run_dir: Path) -> Path:
    """Where a retrain of the complete run ``run_dir`` writes until it is complete
    (``.NAME.next`` beside it, the same every time, so --resume finds it)."""
    return beside(run_dir, NEXT_TAG)


def successor_folder(out: Path, files: frozenset[str] | set[str], what: str,
                     resume: bool) -> Path:
    """Where a forced new ``what`` (a grid, a search) is built until it replaces the finished
    one in ``out`` (``next_dir``): refused when ``out`` holds files besides ``files`` (the
    whole folder is replaced); an interrupted earlier one is continued only with ``resume``."""
    def own(name: str) -> bool:  # its files, a write a crash cut short, a file manager's
        return name in files or (name.startswith(".") and name.endswith(".tmp")) \
            or name == ".DS_Store"

    others = sorted(p.name for p in out.iterdir() if not own(p.name))
    if others:
        raise ArtifactError(
            f"--out {out}: holds files besides the {what} ({', '.join(others[:3])}); --force "
            f"replaces the whole folder once the new {what} is complete: move them, or choose "
            "another --out")
    work = next_dir(out)
    if not resume:
        remove_folder(work)  # an earlier forced one, interrupted: not continued
    work.mkdir(parents=True, exist_ok=True)
    return work


@dataclass(frozen=True)
class RunTarget:
    """Where a training run for the run directory ``out`` writes: ``work``, which is ``out``
    itself, or ``next_dir(out)`` while a complete run in ``out`` is being replaced."""

    out: Path
    work: Path
    previous: RunInfo | None = None  # the run in ``work`` being resumed (None: a fresh start)

    @property
    def replaces(self) -> bool:
        """The new run goes to ``out`` only once complete (``put_in_place``)."""
        return self.work != self.out


def _is_complete(run_dir: Path) -> bool:
    try:
        return read_run_info(run_dir, allow_incomplete=True).complete
    except ArtifactError:
        return False


def check_run_target(run_dir: Path, *, force: bool = False, resume: bool = False) -> RunTarget:
    """Decide where training for ``run_dir`` writes, before anything is written.

    A fresh run, or an incomplete one (resumed, or replaced with ``force``), is written in
    ``run_dir`` itself. A complete run is replaced (``force``) through ``next_dir``, where
    ``resume`` continues an interrupted retrain (plain ``resume`` too, as a complete run has
    nothing else to resume). An existing run (or any non-empty folder) is refused unless
    ``force``; ``force`` never replaces a folder that is not a basket run directory. A
    replacement that a crash cut short between its renames is settled first.
    """
    run_dir = Path(run_dir)
    settle_folder(run_dir)
    retrain = next_dir(run_dir)
    if resume:
        if not (run_dir / RUN_FILE).is_file():
            raise ArtifactError(f"{run_dir}: no interrupted run to resume there; drop --resume")
        info = read_run_info(run_dir, allow_incomplete=True)
        if not info.complete:
            return RunTarget(run_dir, run_dir, info)
        if (retrain / RUN_FILE).is_file():
            return RunTarget(run_dir, retrain, read_run_info(retrain, allow_incomplete=True))
        if force:
            return RunTarget(run_dir, retrain)  # --force --resume on a finished run: train again
        raise ArtifactError(
            f"{run_dir}: the run is already complete, nothing to resume; "
            "pass --force instead of --resume to train it again"
        )
    if not run_dir.exists() or (run_dir.is_dir() and not any(run_dir.iterdir())):
        return RunTarget(run_dir, run_dir)
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
    return RunTarget(run_dir, retrain if _is_complete(run_dir) else run_dir)


def write_run_info(run_dir: Path, info: RunInfo) -> None:
    atomic_write_json(Path(run_dir) / RUN_FILE, info.model_dump(mode="json"))


def begin_run(target: RunTarget, info: RunInfo) -> None:
    """Create (or take over) ``target.work`` for a training run that writes into it as it goes.

    basket.json (with ``complete`` false) is in place before anything else changes, so at
    every moment the folder reads as an incomplete run (a complete run in ``target.out`` is
    replaced only by ``put_in_place``). A resumed run keeps its files (the checkpoints); a
    fresh start drops an earlier retrain's folder, and clears an incomplete run it replaces
    in place only after its basket.json is rewritten.
    """
    work = Path(target.work)
    if target.previous is not None:
        write_run_info(work, info)
        # Temporary files of writes a crash cut short (atomic writes rename them when done).
        for entry in work.glob(".*.tmp"):
            if entry.is_file():
                entry.unlink(missing_ok=True)
        return
    remove_folder(next_dir(target.out))  # an earlier retrain, interrupted: not continued
    if work.is_dir() and (work / RUN_FILE).is_file():
        write_run_info(work, info)
        for entry in work.iterdir():
            if entry.name != RUN_FILE:
                remove_folder(entry)
        return
    with atomic_folder(work) as tmp:  # also replaces an empty folder
        write_run_info(tmp, info)


def put_in_place(target: RunTarget) -> None:
    """A complete retrain (in ``target.work``) replaces the run in ``target.out``; a run
    written in place is there already."""
    if target.replaces:
        replace_folder(target.work, target.out)


def discard_run(run_dir: Path) -> None:
    """Remove a run directory that ``begin_run`` created and that never completed."""
    remove_folder(Path(run_dir))


# --- a run of a model -------------------------------------------------------------------------
def new_run_info(name: str, config: dict[str, Any], dataset: Dataset, **fields: Any) -> RunInfo:
    """basket.json of a run of model ``name`` on ``dataset`` (``fields``: the rest)."""
    entry = registry.get_entry(name)
    return RunInfo(
        schema_version=SCHEMA_VERSION, model=name, plugin_distribution=entry.distribution,
        plugin_version=entry.version, config=config,
        data=dataset.spec.model_dump(mode="json"), data_fingerprint=dataset.fingerprint,
        vocabulary=dataset.data.item_ids.tolist(), customer_ids=kind_of(dataset.data.user_ids),
        catalog_names=dataset.catalog.names_of(dataset.data.item_ids) if dataset.catalog else None,
        **fields,
    )


def is_run_dir(target: str | Path) -> bool:
    path = standing_in(Path(target))
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
    model = cls.load(standing_in(run_dir), config)
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
