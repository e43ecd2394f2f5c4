"""Console, progress, error handling and output for the CLI (the only place that prints).

Standard output carries results only; everything else goes to standard error: errors,
warnings, notes and progress (Rich bars on a terminal, plain `progress: ` lines in a
scheduler's log, a pipe or a notebook). With --quiet (or BASKET_QUIET=1) standard error shows
errors only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape

from basketcli.errors import BasketError, ReportedElsewhere

console = Console()
err_console = Console(stderr=True)  # warnings, notes, progress: silenced by --quiet
error_console = Console(stderr=True)  # errors: never silenced
DEBUG = {"enabled": False}
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

# Off a terminal, a stage (a progress task) prints a line when it finishes and, while it runs,
# at most one line every PROGRESS_INTERVAL seconds. A stage shorter than PROGRESS_MIN_SECONDS
# prints nothing at all, so quick commands (and the tests) stay quiet.
PROGRESS_INTERVAL = 30.0
PROGRESS_MIN_SECONDS = 1.0
PROGRESS_PREFIX = "progress: "


def report_error(exc: BaseException) -> int | None:
    """Print a known failure (BasketError: one line; Ctrl-C); its exit code, None if unknown.

    Call it from an ``except`` block: with --debug it prints the traceback being handled.
    """
    if isinstance(exc, ReportedElsewhere):
        return EXIT_BAD_INPUT
    if isinstance(exc, BasketError):
        if DEBUG["enabled"]:
            error_console.print_exception()
        # escape: messages hold paths and hints such as basket[dask], not markup
        error_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False,
                            soft_wrap=True)
        return EXIT_BAD_INPUT
    if isinstance(exc, KeyboardInterrupt):
        error_console.print("[yellow]interrupted[/]")
        return EXIT_INTERRUPTED
    return None


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def note(line: str) -> None:
    """A line of plain text on stderr (a fit's log: epochs, what a model found), one line
    whatever the width; nothing with --quiet."""
    err_console.print(line, highlight=False, markup=False, soft_wrap=True)


def quiet() -> bool:
    """Whether --quiet (or BASKET_QUIET=1) is on: stderr shows errors only."""
    return err_console.quiet


@contextlib.contextmanager
def command_output(quiet_mode: bool) -> Iterator[None]:
    """Within (a command), with ``quiet_mode`` (--quiet): standard error shows errors only; no
    progress, warnings, notes, Python warnings or library log records below errors. Standard
    output and the files a command writes are unchanged. Everything is restored on exit."""
    saved, disabled = err_console.quiet, logging.root.manager.disable
    err_console.quiet = quiet_mode
    with warnings.catch_warnings():
        if quiet_mode:
            warnings.simplefilter("ignore")
            logging.disable(logging.WARNING)
        else:  # a library's warning (a DataWarning: what reading changed) is one line
            warnings.simplefilter("default")
            warnings.showwarning = lambda message, *_: warn(str(message))
        try:
            yield
        finally:
            err_console.quiet = saved
            logging.disable(disabled)


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


def duration(seconds: float, rough: bool = False) -> str:
    """42 s, 3 min 5 s, 12 min, 1 h 20 min; ``rough`` (an estimate): whole minutes from a
    minute on."""
    whole = round(max(0.0, seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    if minutes < 10 and not rough:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(round(whole / 60), 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class LineTask:
    """A stage reported in plain lines (see PROGRESS_INTERVAL), for logs:

    progress: scoring tifuknn 1,024/10,000 (10%), 31 s elapsed, about 4 min left
    progress: scoring tifuknn done, 10,000 in 42 s
    """

    def __init__(self, description: str, total: int | None, write: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.description, self.total, self._write, self._clock = description, total, write, clock
        self.done = 0
        self.started = self._last = clock()

    def advance(self, steps: int = 1, **info: Any) -> None:
        self.done += steps
        now = self._clock()
        if now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            self._write(self.running_line(now - self.started))

    def running_line(self, elapsed: float) -> str:
        count = f"{self.done:,}"
        left = ""
        if self.total:
            count += f"/{self.total:,} ({self.done / self.total:.0%})"
            if 0 < self.done < self.total:
                left = f", about {duration(elapsed * (self.total / self.done - 1), True)} left"
        return (f"{PROGRESS_PREFIX}{self.description} {count}, {duration(elapsed)} elapsed"
                f"{left}")

    def done_line(self, elapsed: float) -> str:
        return f"{PROGRESS_PREFIX}{self.description} done, {self.done:,} in {duration(elapsed)}"

    def __enter__(self) -> LineTask:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        elapsed = self._clock() - self.started
        if exc_type is None and elapsed >= PROGRESS_MIN_SECONDS:
            self._write(self.done_line(elapsed))


@contextlib.contextmanager
def progress_bars(bars: bool = True, *, shown: bool = True) -> Iterator[Any]:
    """A ProgressFactory on stderr: Rich bars on a terminal (unless ``bars`` is False: a
    command printing its results there as it goes), plain `progress: ` lines anywhere else (a
    scheduler's log, a pipe, a notebook; see LineTask); nothing with --quiet or when not
    ``shown`` (a process that does not report: ranks other than 0)."""
    from basketcli.protocol import silent_progress

    if quiet() or not shown:
        yield silent_progress
        return
    if not err_console.is_terminal:  # note() is thread-safe (grid relays from a thread)
        yield lambda description, total=None: LineTask(description, total, note)
        return
    if not bars:
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
