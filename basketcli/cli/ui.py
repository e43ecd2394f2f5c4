"""Console, progress bars, error handling and output for the CLI (the only place that prints)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape

from basketcli.errors import BasketError, ReportedElsewhere

console = Console()
err_console = Console(stderr=True)
DEBUG = {"enabled": False}
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def report_error(exc: BaseException) -> int | None:
    """Print a known failure (BasketError: one line; Ctrl-C); its exit code, None if unknown.

    Call it from an ``except`` block: with --debug it prints the traceback being handled.
    """
    if isinstance(exc, ReportedElsewhere):
        return EXIT_BAD_INPUT
    if isinstance(exc, BasketError):
        if DEBUG["enabled"]:
            err_console.print_exception()
        # escape: messages hold paths and hints such as basket[dask], not markup
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False,
                          soft_wrap=True)
        return EXIT_BAD_INPUT
    if isinstance(exc, KeyboardInterrupt):
        err_console.print("[yellow]interrupted[/]")
        return EXIT_INTERRUPTED
    return None


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def show(parts: Iterable[Any]) -> None:
    """Print renderables (tables fitted to ``console.width``: the terminal's, $COLUMNS, or 80
    when the output is piped) and lines of text."""
    for part in parts:
        console.print(part, highlight=False)


def emit_result(fmt: str, payload: dict[str, Any], records: Callable[[], list[dict[str, Any]]],
                parts: Callable[[int], Iterable[Any]]) -> None:
    """A result in the output format asked for: json (the whole payload), csv or markdown
    (one record per row), or tables fitted to the console's width."""
    from basketcli.render import records_markdown
    from basketcli.reports import rows_csv

    if fmt == "json":
        emit_json(payload)
    elif fmt == "csv":
        sys.stdout.write(rows_csv(records()))
    elif fmt == "markdown":
        sys.stdout.write(records_markdown(records()))
    else:
        show(parts(console.width))


class _RichTask:
    def __init__(self, progress, task_id) -> None:
        self._progress, self._task = progress, task_id

    def advance(self, steps: int = 1, **info: Any) -> None:
        fields = " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items()
        )
        self._progress.update(self._task, advance=steps, info=fields)

    def __enter__(self) -> _RichTask:
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.update(self._task, visible=False)


@contextlib.contextmanager
def progress_bars(enabled: bool = True) -> Iterator[Any]:
    """A ProgressFactory drawing Rich bars on stderr (silent when disabled or not a terminal)."""
    from basketcli.protocol import silent_progress

    if not enabled:
        yield silent_progress
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
        console=err_console, transient=True,
    )

    def factory(description: str, total: int | None = None) -> _RichTask:
        return _RichTask(progress, progress.add_task(description, total=total, info=""))

    with progress:
        yield factory
