"""Fast start: `basket`, `basket --help`, `basket --version` and `basket models [PATTERN]
[--json]` answered without importing Typer, the command modules, numpy or pydantic.

Typer builds every command (reading each signature) and imports rich.markdown before it prints
the top-level help; that is most of a 0.6 s start. Here the page Typer prints is captured once
(basketcli.cli.help_capture: the Rich renderables its help formatter passes to the console),
stored as JSON in the startup cache and printed again through a Rich console configured as
Typer configures its own, so colours, width and terminal detection follow the current terminal.
The cache is keyed by the environment and the files of every module loaded while capturing
(basketcli.cli.startup_cache); on a miss the page is captured from the real app first. Anything
unusual (shell completion, TYPER_USE_RICH, another program name, a page the codec cannot
rebuild exactly, BASKET_FAST_START=0) is left to Typer. `basket models` is served by
basketcli.cli.listing, the same code as the Typer command.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from basketcli.cli import startup_cache

PROG_NAME = "basket"
FAST_START_ENV = "BASKET_FAST_START"
HELP_CACHE = "cli-help"
EXIT_NO_ARGS = 2  # what Typer (Click's no_args_is_help) exits with after printing the help


def run(args: list[str]) -> int | None:
    """Answer ``args`` when they ask for one of the fast commands: the exit code, else None."""
    if not _eligible():
        return None
    if args == ["--version"]:
        from basketcli import __version__

        sys.stdout.write(f"{PROG_NAME} {__version__}\n")
        return 0
    if args in ([], ["--help"]):
        page = help_page()
        if page is None:
            return None
        page.print(echoed=bool(args))
        return 0 if args else EXIT_NO_ARGS
    models = _models_args(args)
    if models is not None:
        return _show_models(*models)
    return None


def fast_start_enabled() -> bool:
    """Not with BASKET_FAST_START=0 (start as before) nor for shell completion (Typer's)."""
    return os.environ.get(FAST_START_ENV, "1") != "0" and not any(
        name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ)


def _eligible() -> bool:
    return (fast_start_enabled() and "TYPER_USE_RICH" not in os.environ
            and os.path.basename(sys.argv[0]) == PROG_NAME)  # Typer names it after argv[0]


def _models_args(args: list[str]) -> tuple[str, bool] | None:
    """(pattern, json) for `models [PATTERN] [--json]`; None for anything else (Typer's)."""
    if not args or args[0] != "models":
        return None
    pattern, json_out = None, False
    for arg in args[1:]:
        if arg == "--json" and not json_out:
            json_out = True
        elif pattern is None and not arg.startswith("-"):
            pattern = arg
        else:
            return None
    return ("*" if pattern is None else pattern), json_out


def _show_models(pattern: str, json_out: bool) -> int:
    from basketcli.cli.listing import show_models
    from basketcli.cli.ui import report_error

    try:
        show_models(pattern, json_out, fast=True)
    except BaseException as exc:
        code = report_error(exc)
        if code is None:
            raise
        return code
    return 0


# --- the top-level help page ------------------------------------------------------------------
def help_page() -> HelpPage | None:
    """The page from the cache, else captured from the Typer app and cached; None when it
    cannot be captured (Typer prints it then)."""
    key = startup_cache.cli_key()
    document = startup_cache.read(HELP_CACHE)
    if document is not None and document.get("key") == key:
        try:
            if startup_cache.unchanged(document["files"]):
                return HelpPage(document["page"])
        except Exception:  # a corrupt cache file is a miss
            pass
    from basketcli.cli.help_capture import build_help_page

    page = build_help_page()
    if page is None:
        return None
    try:
        decoded = HelpPage(page)
    except Exception:  # the codec cannot read what it wrote: leave the page to Typer
        return None
    startup_cache.write(HELP_CACHE, {"key": key, "files": startup_cache.loaded_source_files(),
                                     "page": page})
    return decoded


def console_settings() -> dict[str, Any]:
    """Typer's help console settings for this environment (as typer.rich_utils reads them)."""
    force = True if any(os.getenv(v) for v in ("GITHUB_ACTIONS", "FORCE_COLOR", "PY_COLORS")) \
        else None
    if os.getenv("_TYPER_FORCE_DISABLE_TERMINAL"):
        force = False
    width = os.getenv("TERMINAL_WIDTH")
    return {"color_system": "auto", "force_terminal": force, "width": int(width) if width else None}


class HelpPage:
    """A captured page, decoded in full (so a corrupt one fails before printing anything)."""

    def __init__(self, page: dict[str, Any]) -> None:
        from rich.highlighter import RegexHighlighter
        from rich.theme import Theme

        self.highlighter = type("OptionHighlighter", (RegexHighlighter,), {
            "highlights": list(page["highlights"]), "base_style": page["highlight_base"]})()
        self.theme = Theme(page["theme"])
        self.calls = [([_decode(o) for o in call["objects"]], call["style"])
                      for call in page["calls"]]

    def print(self, echoed: bool = True) -> None:
        """Print as Typer does. ``echoed``: as for --help, after which Click echoes the (empty)
        text Typer's formatter returned; not after a bare `basket` (the page alone)."""
        from rich.console import Console

        console = Console(theme=self.theme, highlighter=self.highlighter, **console_settings())
        for objects, style in self.calls:
            console.print(*objects, style=style)
        if echoed:
            sys.stdout.write("\n")
        sys.stdout.flush()


# --- the page codec: the few Rich renderables a help page is made of, as JSON ---------------------
# (encoded by basketcli.cli.help_capture; decoded here, on the hot path)
TABLE_OPTIONS = ("title", "caption", "width", "min_width", "safe_box", "padding",
                 "collapse_padding", "pad_edge", "expand", "show_header", "show_footer",
                 "show_edge", "show_lines", "leading", "title_justify", "caption_justify",
                 "highlight")
TABLE_STYLES = ("style", "header_style", "footer_style", "border_style", "title_style",
                "caption_style")
COLUMN_OPTIONS = ("header", "footer", "justify", "vertical", "overflow", "width", "min_width",
                  "max_width", "ratio", "no_wrap", "highlight")
COLUMN_STYLES = ("header_style", "footer_style", "style")
PANEL_OPTIONS = ("title", "title_align", "subtitle", "subtitle_align", "safe_box", "expand",
                 "width", "height", "padding", "highlight")


def _decode(data: Any) -> Any:
    if not isinstance(data, dict):
        return tuple(data) if isinstance(data, list) else data
    from rich import box as boxes  # the modules are loaded by now: these are dict look-ups
    from rich.align import Align
    from rich.columns import Columns
    from rich.console import Group
    from rich.padding import Padding
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Span, Text

    kind = data["type"]
    if kind == "Text":
        return Text(data["text"], style=data["style"] or "", justify=data["justify"],
                    overflow=data["overflow"], no_wrap=data["no_wrap"], end=data["end"],
                    tab_size=data["tab_size"], spans=[Span(*s) for s in data["spans"]])
    if kind == "Padding":
        return Padding(_decode(data["renderable"]), tuple(data["pad"]), style=data["style"],
                       expand=data["expand"])
    if kind == "Align":
        return Align(_decode(data["renderable"]), data["align"], data["style"],
                     vertical=data["vertical"], pad=data["pad"], width=data["width"],
                     height=data["height"])
    if kind == "Group":
        return Group(*(_decode(r) for r in data["renderables"]), fit=data["fit"])
    if kind == "Columns":
        return Columns([_decode(r) for r in data["renderables"]], width=data["width"],
                       padding=_decode(data["padding"]), expand=data["expand"],
                       equal=data["equal"], column_first=data["column_first"],
                       right_to_left=data["right_to_left"], align=data["align"],
                       title=_decode(data["title"]))
    if kind == "Panel":
        return Panel(_decode(data["renderable"]), getattr(boxes, data["box"]),  # never None
                     style=data["style"], border_style=data["border_style"],
                     **{k: _decode(data[k]) for k in PANEL_OPTIONS})
    if kind == "Table":
        box = getattr(boxes, data["box"]) if data["box"] else None
        table = Table(box=box, row_styles=data["row_styles"],
                      **{k: data[k] for k in TABLE_STYLES},
                      **{k: _decode(data[k]) for k in TABLE_OPTIONS})
        for column in data["columns"]:
            table.add_column(**{k: _decode(column[k]) for k in COLUMN_OPTIONS},
                             **{k: column[k] for k in COLUMN_STYLES})
        for i, row in enumerate(data["rows"]):
            table.add_row(*(_decode(c["cells"][i]) for c in data["columns"]), style=row["style"],
                          end_section=row["end_section"])
        return table
    raise ValueError(f"unknown renderable {kind}")
