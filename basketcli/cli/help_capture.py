"""Capture the top-level help page Typer prints, as JSON that the fast start path prints again.

Typer's help formatter runs on the real app with a console that keeps what it is asked to print
instead of printing it. Those Rich renderables (text, padding, alignment, groups, columns,
panels, tables) are encoded with every attribute that changes how they render, and decoded by
basketcli.cli.fastpath. A renderable, style or option this codec does not know makes the page
unsupported: Typer then prints the help itself, as before. This runs once per cache miss.
"""

from __future__ import annotations

from typing import Any

from basketcli.cli.fastpath import (
    COLUMN_OPTIONS,
    COLUMN_STYLES,
    PANEL_OPTIONS,
    PROG_NAME,
    TABLE_OPTIONS,
    TABLE_STYLES,
    console_settings,
)


class Unsupported(Exception):
    """The help page holds something the page codec does not rebuild exactly."""


class _CapturingConsole:
    """Stands in for Typer's help console and keeps what it is asked to print."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def print(self, *objects: Any, **options: Any) -> None:
        self.calls.append((objects, options))


def build_help_page() -> dict[str, Any] | None:
    """Run Typer's help formatter on the real app with a capturing console; encode its output.

    None when the page cannot be captured exactly (Typer prints it then).
    """
    try:
        import typer
        from typer import rich_utils

        from basketcli.cli import app

        group = typer.main.get_command(app)
        ctx = group.context_class(group, info_name=PROG_NAME)
        capture = _CapturingConsole()
        real_console = rich_utils._get_rich_console
        rich_utils._get_rich_console = lambda stderr=False: capture
        try:
            text = ctx.get_help()
        finally:
            rich_utils._get_rich_console = real_console
        typer_settings = {"color_system": rich_utils.COLOR_SYSTEM,
                          "force_terminal": rich_utils.FORCE_TERMINAL,
                          "width": rich_utils.MAX_WIDTH}
        if text or typer_settings != console_settings():
            raise Unsupported("Typer's help console is not configured as fastpath expects")
        calls = []
        for objects, options in capture.calls:
            if set(options) - {"style"}:
                raise Unsupported(f"console.print options {sorted(options)}")
            calls.append({"objects": [_encode(o) for o in objects],
                          "style": _style(options.get("style"))})
        return {"calls": calls, "theme": _theme(real_console(), calls),
                "highlights": list(rich_utils.highlighter.highlights),
                "highlight_base": rich_utils.highlighter.base_style}
    except Exception:  # the page is an optimisation: Typer prints it when it cannot be captured
        return None


def _style(style: Any) -> str | None:
    from rich.style import Style

    if style is None or isinstance(style, str):
        return style
    if isinstance(style, Style) and not style.link and not style.meta:
        return str(style)
    raise Unsupported(f"style {style!r}")


def _box(box: Any) -> str | None:
    from rich import box as boxes

    if box is None:
        return None
    for name, value in vars(boxes).items():
        if value is box and name.isupper():
            return name
    raise Unsupported(f"box {box!r}")


def _encode(obj: Any) -> Any:
    from rich.align import Align
    from rich.columns import Columns
    from rich.console import Group
    from rich.padding import Padding
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    if obj is None or type(obj) in (str, int, float, bool):
        return obj
    kind = type(obj)
    if kind is tuple:
        return [_encode(o) for o in obj]
    if kind is Text:
        return {"type": "Text", "text": obj.plain, "style": _style(obj.style),
                "justify": obj.justify, "overflow": obj.overflow, "no_wrap": obj.no_wrap,
                "end": obj.end, "tab_size": obj.tab_size,
                "spans": [[s.start, s.end, _style(s.style)] for s in obj.spans]}
    if kind is Padding:
        return {"type": "Padding", "renderable": _encode(obj.renderable),
                "pad": [obj.top, obj.right, obj.bottom, obj.left], "style": _style(obj.style),
                "expand": obj.expand}
    if kind is Align:
        return {"type": "Align", "renderable": _encode(obj.renderable), "align": obj.align,
                "style": _style(obj.style), "vertical": obj.vertical, "pad": obj.pad,
                "width": obj.width, "height": obj.height}
    if kind is Group:
        return {"type": "Group", "renderables": [_encode(r) for r in obj.renderables],
                "fit": obj.fit}
    if kind is Columns:
        return {"type": "Columns", "renderables": [_encode(r) for r in obj.renderables],
                "width": obj.width, "padding": _encode(obj.padding), "expand": obj.expand,
                "equal": obj.equal, "column_first": obj.column_first,
                "right_to_left": obj.right_to_left, "align": obj.align,
                "title": _encode(obj.title)}
    if kind is Panel:
        return {"type": "Panel", "renderable": _encode(obj.renderable), "box": _box(obj.box),
                "style": _style(obj.style), "border_style": _style(obj.border_style),
                **{k: _encode(getattr(obj, k)) for k in PANEL_OPTIONS}}
    if kind is Table:
        return {
            "type": "Table", "box": _box(obj.box),
            "row_styles": [_style(s) for s in obj.row_styles],
            **{k: _style(getattr(obj, k)) for k in TABLE_STYLES},
            **{k: _encode(getattr(obj, k)) for k in TABLE_OPTIONS},
            "columns": [{**{k: _encode(getattr(c, k)) for k in COLUMN_OPTIONS},
                         **{k: _style(getattr(c, k)) for k in COLUMN_STYLES},
                         "cells": [_encode(cell) for cell in c.cells]} for c in obj.columns],
            "rows": [{"style": _style(r.style), "end_section": r.end_section} for r in obj.rows],
        }
    raise Unsupported(f"renderable {kind.__name__}")


def _theme(console: Any, calls: list[dict[str, Any]]) -> dict[str, str]:
    """The theme names the page uses (Typer's "option", "switch", ...) -> their definitions."""
    from rich.errors import StyleSyntaxError
    from rich.style import Style

    names: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                collect(item)
        if not isinstance(value, dict):
            return
        for key, item in value.items():
            if "style" in key:
                names.update(s for s in (item if isinstance(item, list) else [item])
                             if isinstance(s, str))
            elif key == "spans":
                names.update(span[2] for span in item if isinstance(span[2], str))
            else:
                collect(item)

    collect(calls)
    theme = {}
    for name in sorted(names):
        try:
            Style.parse(name)
        except StyleSyntaxError:
            theme[name] = str(console.get_style(name))
    return theme
