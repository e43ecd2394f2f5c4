"""The rows and table of `basket models`, shared by the Typer command and the fast start path.

Telling whether a plugin is available means importing it (and numpy and pydantic with it), and
finding the plugins means reading every installed distribution's metadata, so both are cached
(basketcli.cli.startup_cache, files ``cli-models-*.json``):

- the verdicts of the models that loaded, with the files of every module imported to reach
  them: editing a plugin or anything it imports, or a new version of it, makes them stale;
- the registry's entries and warnings, keyed by $BASKET_LOAD_PLUGINS and ``sys.path`` with the
  modification time of each of its folders: installing, upgrading or removing a distribution
  adds or removes a ``*.dist-info`` folder there. (Editing an installed ``entry_points.txt``
  in place is not seen; reinstall the plugin instead.)

A model that failed to load is never cached: while one is installed, every listing imports the
plugins again, so a fixed plugin shows as available at once. Models registered in-process are
never cached either. The fast path serves the whole listing from the cache when it can and
otherwise runs the same code as the Typer command.
"""

from __future__ import annotations

import fnmatch
import os
from typing import TYPE_CHECKING, Any

from basketcli.cli import startup_cache

if TYPE_CHECKING:
    from rich.table import Table

CACHE_FILE = "cli-models"
LOAD_PLUGINS_ENV = "BASKET_LOAD_PLUGINS"  # basketcli.registry.LOAD_PLUGINS_ENV
COLUMNS = ("name", "summary", "distribution", "version", "status")
ENTRY_FIELDS = ("target", "distribution", "version")


def _key() -> dict[str, Any]:
    return {**startup_cache.environment_key(), "load_plugins": os.environ.get(LOAD_PLUGINS_ENV)}


def _read(key: dict[str, Any]) -> dict[str, Any]:
    """The cached document when its key matches and no file it depends on changed, else {}."""
    document = startup_cache.read(CACHE_FILE)
    if document is None or document.get("key") != key:
        return {}
    try:
        valid = (isinstance(document.get("models"), dict)
                 and startup_cache.unchanged(document.get("files")))
    except (AttributeError, TypeError, ValueError):  # a corrupt entry
        return {}
    return document if valid else {}


def cached_listing(pattern: str = "*") -> tuple[list[dict[str, str]], list[str]] | None:
    """(rows, warnings) entirely from the cache, or None when anything must be looked up."""
    document = _read(_key())
    try:
        entries, problems, verdicts = (document["entries"], document["problems"],
                                       document["models"])
        rows = []
        for entry in entries:
            verdict = verdicts[entry["name"]]
            if [verdict[k] for k in ENTRY_FIELDS] != [entry[k] for k in ENTRY_FIELDS]:
                return None
            if fnmatch.fnmatch(entry["name"], pattern):
                rows.append(_row(entry, "available", verdict["summary"]))
        return rows, [str(p) for p in problems]
    except (KeyError, TypeError):  # no snapshot, a model without a verdict, or a corrupt file
        return None


def _row(entry: dict[str, str], status: str, summary: str) -> dict[str, str]:
    return {"name": entry["name"], "summary": summary, "distribution": entry["distribution"],
            "version": entry["version"], "status": status}


def model_listing(pattern: str = "*") -> list[dict[str, str]]:
    """One row per installed model matching ``pattern``: available with its summary, or
    unavailable with the one-line reason."""
    from basketcli import registry
    from basketcli.errors import BasketError

    key = _key()  # taken first: a change after it makes the document written below stale
    document = _read(key)
    cached = document.get("models", {})
    listing, learned = [], {}
    for name in registry.list_models(pattern):
        entry = registry.get_entry(name)
        fields = {"name": name, **{k: getattr(entry, k) for k in ENTRY_FIELDS}}
        verdict = cached.get(name)
        if (entry.cls is None and isinstance(verdict, dict)
                and [verdict.get(k) for k in ENTRY_FIELDS] == [fields[k] for k in ENTRY_FIELDS]
                and isinstance(verdict.get("summary"), str)):
            listing.append(_row(fields, "available", verdict["summary"]))
            continue
        try:
            summary, status = registry.get_model_class(name).summary(), "available"
        except BasketError as exc:
            summary, status = exc.message, "unavailable"
        if status == "available" and entry.cls is None:
            learned[name] = {**{k: fields[k] for k in ENTRY_FIELDS}, "summary": summary}
        listing.append(_row(fields, status, summary))
    entries = registry.entries().values()
    snapshot = {
        "entries": [{"name": e.name, **{k: getattr(e, k) for k in ENTRY_FIELDS}}
                    for e in entries],
        "problems": registry.problems(),
    }
    in_process = any(e.cls is not None for e in entries)
    if not in_process and (learned or any(document.get(k) != v for k, v in snapshot.items())):
        models = {**{k: v for k, v in cached.items() if k not in learned}, **learned}
        files = {**document.get("files", {}), **startup_cache.loaded_source_files()}
        startup_cache.write(CACHE_FILE, {"key": key, "files": files, "models": models,
                                         **snapshot})
    return listing


def show_models(pattern: str = "*", json_out: bool = False, fast: bool = False) -> None:
    """`basket models [PATTERN] [--json]`: warnings about the plugins, then the listing.

    ``fast``: serve it from the cache when every installed model's verdict is there.
    """
    from basketcli.cli.ui import console, emit_json, warn

    found = cached_listing(pattern) if fast else None
    if found is not None:
        listing, problems = found
    else:
        from basketcli import registry

        problems = registry.problems()
        listing = None
    for problem in problems:
        warn(problem)
    if listing is None:
        listing = model_listing(pattern)
    if json_out:
        emit_json({"models": listing})
    else:
        console.print(listing_table(listing))


def listing_table(listing: list[dict[str, str]]) -> Table:
    """The listing in the project's table style; unavailable models in red."""
    from basketcli.render import new_table

    table = new_table("installed models")
    for column in COLUMNS:
        table.add_column(column)
    for row in listing:
        style = None if row["status"] == "available" else "red"
        table.add_row(*(str(row[c]) for c in COLUMNS), style=style)
    return table
