"""Small JSON caches that let `basket --help` and `basket models` start without Typer, numpy or
pydantic; never required: a missing, stale or corrupt file is a miss.

Each file holds the facts it was built from (``key``) next to its payload. The key always
includes the environment's fingerprint (Python, ``sys.path`` and the modification time of each
of its folders, so installing, upgrading or removing any distribution invalidates it) and the
size and modification time of every source file the payload was computed from. Files live in
the project's cache folder ($BASKET_CACHE_DIR, else ~/.cache/basket, as the data cache) and are
written atomically. Only the standard library is imported here.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from basketcli import __version__

CACHE_ENV = "BASKET_CACHE_DIR"  # the same variable as basketcli.data.prepare.cache_dir
FORMAT = 1  # bump when a payload changes meaning

FileStat = tuple[int, int]  # (mtime_ns, size)


def cache_dir() -> Path:
    """The data cache's folder (kept equal to basketcli.data.prepare.cache_dir, numpy-free)."""
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "basket"
    return Path(root)


def _mtime_ns(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def environment_key() -> dict[str, Any]:
    """What every cached fact depends on: basket's version, the interpreter and what it sees.

    A folder's mtime changes when an entry is added or removed in it, which pip does for every
    install, upgrade and uninstall (each writes or deletes a ``*.dist-info`` folder).
    """
    return {
        "format": FORMAT,
        "basket": __version__,
        "python": sys.version,
        "executable": sys.executable,
        "path": [[entry, _mtime_ns(entry or ".")] for entry in sys.path],
    }


def cli_key() -> dict[str, Any]:
    """The environment plus this command package's folder (a command module added or removed
    changes its mtime): what the help page and the command map are keyed by."""
    here = os.path.dirname(__file__)
    return {**environment_key(), "commands": [here, _mtime_ns(here)]}


def stat_files(paths: Iterable[str]) -> dict[str, FileStat]:
    """(mtime_ns, size) of each file that exists."""
    found = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        found[path] = (st.st_mtime_ns, st.st_size)
    return found


def unchanged(files: dict[str, list[int]]) -> bool:
    """Whether every recorded file still exists with the same mtime and size."""
    for path, (mtime_ns, size) in files.items():
        try:
            st = os.stat(path)
        except OSError:
            return False
        if st.st_mtime_ns != mtime_ns or st.st_size != size:
            return False
    return True


def loaded_source_files() -> dict[str, FileStat]:
    """Files of every imported module outside the standard library (which the Python version
    in the environment key covers): what anything computed so far could depend on."""
    stdlib = os.path.dirname(os.__file__)
    paths = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        if path.startswith(stdlib) and "-packages" not in path[len(stdlib):]:
            continue
        paths.append(path)
    return stat_files(paths)


def _file_name(name: str) -> str:
    """``name`` for this interpreter and ``sys.path``: the console script and ``python -c``
    (which puts the working folder first) each keep their own file instead of overwriting one."""
    import zlib

    context = json.dumps([sys.executable, sys.path]).encode("utf-8", "surrogatepass")
    return f"{name}-{zlib.crc32(context):08x}.json"


def read(name: str) -> dict[str, Any] | None:
    """The cached document, or None when it is missing or unreadable."""
    try:
        with open(cache_dir() / _file_name(name), encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def write(name: str, document: dict[str, Any]) -> None:
    """Write atomically (temporary file + rename); a read-only or full disk is not an error."""
    import tempfile  # here: reading, the common case, does not need it

    folder = cache_dir()
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / _file_name(name)
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(document, out)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
