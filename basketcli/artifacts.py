"""Atomic file writes and model bundles.

Every file basket writes goes to a temporary name in the same folder and is renamed into
place, so a reader sees either the previous complete file or the new complete file. A model's
own files are a bundle (``save_bundle``/``load_bundle``): JSON metadata, named arrays and raw
files, none of which can run code when read, each checked against the size and SHA-256
recorded when it was saved. Run directories (basket.json around a bundle) are
``basketcli.workflows.run_dirs``'.

A folder is replaced the same way: its successor is written whole beside it, then
``replace_folder`` renames the old folder aside (``.NAME.old``), renames the new one into
place and deletes the old one. No file system renames two folders at once, so a crash between
the two renames leaves NAME missing and ``.NAME.old`` whole: ``standing_in`` reads it in
NAME's place meanwhile, and ``settle_folder`` (the next writer of NAME calls it) renames it
back; once NAME is there again, a ``.NAME.old`` beside it is deleted. A folder is deleted by
renaming it into a ``.NAME.*.trash`` folder first, so a half-deleted folder never lies under a
name anything reads.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from basketcli.errors import ArtifactError

BUNDLE_FILE = "model.json"  # a bundle's metadata and the record of its other files
ARRAYS_FILE = "model.npz"
BUNDLE_FORMAT = "basket-bundle"


# --- atomic writes -----------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yield a new, empty folder beside ``path`` to fill; when the block succeeds it replaces
    ``path`` (``replace_folder``: an old folder is removed only once the new one is in place),
    else it is removed."""
    path = _real(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
        yield tmp
        replace_folder(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# --- replacing a folder once its successor is complete ----------------------------------------
OLD_TAG = "old"  # .NAME.old: the folder being replaced, between replace_folder's two renames
TRASH_SUFFIX = ".trash"


def _real(path: Path) -> Path:
    """``path``, or the folder it names when it is a link or ends in '.' or '..' (the link
    stays; the folder it points at is the one replaced)."""
    path = Path(path)
    if path.is_symlink() or path.name in ("", ".", ".."):
        return path.resolve()
    return path


def beside(path: Path, tag: str) -> Path:
    """The hidden sibling ``.NAME.TAG`` of ``path``: where a successor of a folder is written
    until it is complete (same parent, so the same file system: renames are atomic)."""
    path = _real(path)
    return path.with_name(f".{path.name}.{tag}")


def replace_folder(new: Path, path: Path) -> None:
    """Put the complete folder ``new`` (beside ``path``) at ``path``: rename the old folder
    aside, rename ``new`` into place, delete the old one. Until the second rename ``path``
    is the old folder (or, after a crash between the renames, ``.NAME.old``: see
    ``settle_folder``)."""
    path = _real(path)
    settle_folder(path)
    if path.exists() or path.is_symlink():
        old = beside(path, OLD_TAG)
        os.replace(path, old)  # until the next line, .NAME.old stands in for path
        os.replace(new, path)
        remove_folder(old)
    else:
        os.replace(new, path)


def settle_folder(path: Path) -> None:
    """Finish a ``replace_folder`` that a crash cut short: the old folder set aside goes back
    to ``path`` when ``path`` is missing (the crash came between the two renames, so the old
    folder is still the one in place), and is deleted when ``path`` is there; deletions a
    crash interrupted are finished."""
    path = _real(path)
    old = beside(path, OLD_TAG)
    if old.is_dir() and not old.is_symlink():
        if path.exists() or path.is_symlink():
            remove_folder(old)
        else:
            with contextlib.suppress(FileNotFoundError):  # another process settled it first
                os.replace(old, path)
    if path.parent.is_dir():
        name = glob.escape(path.name)
        for pattern in (f".{name}.*{TRASH_SUFFIX}", f"..{name}.*{TRASH_SUFFIX}"):
            for trash in path.parent.glob(pattern):
                shutil.rmtree(trash, ignore_errors=True)


def standing_in(path: Path) -> Path:
    """The folder to read for ``path``: ``path`` itself, or the old folder (``.NAME.old``)
    when a crash between ``replace_folder``'s renames left ``path`` missing. Reads only."""
    path = Path(path)
    if not path.exists():
        old = beside(path, OLD_TAG)
        if old.is_dir() and not old.is_symlink():
            return old
    return path


def remove_folder(path: Path) -> None:
    """Delete the folder ``path`` (if there): renamed into a ``.NAME.*.trash`` folder first,
    so a crash midway leaves no part of it under its own name (``settle_folder`` of a
    sibling finishes the deletion)."""
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TRASH_SUFFIX,
                                  dir=path.parent))
    with contextlib.suppress(FileNotFoundError):  # removed meanwhile
        os.replace(path, trash / path.name)
    shutil.rmtree(trash, ignore_errors=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, default=json_default) + "\n")


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def atomic_write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    atomic_write_bytes(path, _npz_bytes(arrays))


def load_npz(path: Path | io.BytesIO, name: Path | None = None) -> dict[str, np.ndarray]:
    """Read an .npz written by basket (a file, or bytes named ``name``); pickled (object)
    arrays are refused."""
    shown = name or path
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise ArtifactError(f"{shown}: file not found") from None
    except (ValueError, OSError, EOFError) as exc:
        raise ArtifactError(f"{shown}: not a valid numpy archive ({str(exc)[:120]})") from None


# --- model bundles -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Bundle:
    """What ``load_bundle`` read: the model's metadata, arrays and raw files by name."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]
    blobs: dict[str, bytes]


def _record(data: bytes) -> dict[str, Any]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def save_bundle(directory: Path, meta: dict[str, Any] | None = None,
                arrays: dict[str, np.ndarray] | None = None,
                blobs: dict[str, bytes] | None = None) -> None:
    """Write a model's files into ``directory``: ``arrays`` as model.npz, each blob under its
    own name (a library's native model format), then model.json with ``meta`` and the size
    and SHA-256 of every other file."""
    directory = Path(directory)
    payloads = {ARRAYS_FILE: _npz_bytes(arrays)} if arrays is not None else {}
    payloads.update(blobs or {})
    for name, data in payloads.items():
        atomic_write_bytes(directory / name, data)
    atomic_write_json(directory / BUNDLE_FILE, {
        "format": BUNDLE_FORMAT, "meta": meta or {},
        "files": {name: _record(data) for name, data in payloads.items()},
    })


def load_bundle(directory: Path) -> Bundle:
    """Read what ``save_bundle`` wrote, checking every file against its record first (so a
    truncated or altered file is one line naming it, and no library parses it)."""
    directory = Path(directory)
    path = directory / BUNDLE_FILE
    hint = "train the model again"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing; {hint}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ArtifactError(f"{path}: corrupt (not JSON); {hint}") from None
    if not (isinstance(document, dict) and document.get("format") == BUNDLE_FORMAT
            and isinstance(document.get("meta"), dict) and isinstance(document.get("files"), dict)
            and all(isinstance(r, dict) and Path(n).name == n
                    for n, r in document["files"].items())):
        raise ArtifactError(f"{path}: not a basket model bundle; {hint}")
    contents = {}
    for name, record in document["files"].items():
        file = directory / name
        try:
            data = file.read_bytes()
        except OSError:
            raise ArtifactError(f"{file}: missing; {hint}") from None
        if len(data) != record.get("bytes"):
            raise ArtifactError(f"{file}: {len(data)} bytes where {record.get('bytes')} were "
                                f"saved (truncated or altered); {hint}")
        if hashlib.sha256(data).hexdigest() != record.get("sha256"):
            raise ArtifactError(f"{file}: contents differ from what was saved (SHA-256); {hint}")
        contents[name] = data
    arrays = contents.pop(ARRAYS_FILE, None)
    return Bundle(document["meta"],
                  load_npz(io.BytesIO(arrays), directory / ARRAYS_FILE) if arrays else {},
                  contents)


def now_iso() -> str:
    """Now, in UTC, as the files basket writes record it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
