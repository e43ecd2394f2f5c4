"""`basket compare`: several models on one split, one table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from basketcli.cli.options import DeviceOpt, JsonOpt, SizingOpt, ThresholdOpt, data_options
from basketcli.cli.ui import console, emit_json, progress_bars, warn

if TYPE_CHECKING:
    from basketcli.data.source import DataSpec


@data_options
def compare_command(
    models: Annotated[str | None, typer.Option(
        "--models", help="comma-separated model names or run directories (default: every "
        "installed model)")] = None,
    threshold: ThresholdOpt = 0.5, sizing: SizingOpt = None, device: DeviceOpt = "auto",
    no_reference: Annotated[bool, typer.Option(
        "--no-reference", help="leave out the G-TopFreq and P-TopFreq reference rows")] = False,
    json_out: JsonOpt = False, *, spec: DataSpec,
) -> None:
    """Fit and evaluate several models on one split; print one table (best values highlighted)."""
    from basketcli import registry
    from basketcli.errors import ConfigError
    from basketcli.protocol import FitContext
    from basketcli.render import compare_table
    from basketcli.sizing import parse_sizing
    from basketcli.workflows.evaluate import compare

    if models is None:
        targets = [name for name in registry.list_models() if _available(name)]
    else:
        targets = [m.strip() for m in models.split(",") if m.strip()]
        if not targets:
            raise ConfigError("--models: give at least one model name")
    rule = parse_sizing(sizing) if sizing else None
    with progress_bars(not json_out) as progress:
        result = compare(
            targets, spec, reference=not no_reference, threshold=threshold, sizing=rule,
            ctx=FitContext(progress=progress, device=device))
    if json_out:
        emit_json(result.model_dump())
    else:
        console.print(compare_table(result))


def _available(name: str) -> bool:
    """Whether a model's plugin imports (compare-all skips broken plugins with a warning)."""
    from basketcli import registry
    from basketcli.errors import BasketError

    try:
        registry.get_model_class(name)
    except BasketError as exc:
        warn(f"skipping {name}: {exc.message}")
        return False
    return True
