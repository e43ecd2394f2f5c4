"""Command-line text -> values: --set key=value, --config files, and the lists of `basket grid`
(--param, --threshold, --sizing). Validation against a model's settings is
``basketcli.settings``'; this module only reads what was typed."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from basketcli.errors import ConfigError
from basketcli.sizing import SizingRule, parse_sizing


def parse_value(raw: str) -> Any:
    """Text from the command line -> a value pydantic can validate.

    Plain text stays text (pydantic converts '5', '1e-3' and 'true' itself; a list setting
    splits 'a,b' on its commas: ``basketcli.settings.build_config``); 'none'/'null' become
    None, JSON lists or objects are decoded, and a bracketed list of unquoted words, [a,b], is
    a list (so `basket grid --param` can list list values: models=[a,b],[a,c]).
    """
    text = raw.strip()
    if text.lower() in {"none", "null"}:
        return None
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            words = text[1:-1]
            if text.endswith("]") and text[0] == "[" and not any(c in words for c in '[]{}"'):
                return [word.strip() for word in words.split(",") if word.strip()]
            raise ConfigError(f"{raw!r} is not valid JSON") from None
    return text


def parse_assignments(pairs: list[str], option: str = "--set") -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{option} {pair!r}: expected key=value")
        values[key] = parse_value(raw)
    return values


def read_config_file(path: Path) -> dict[str, Any]:
    """A flat mapping of settings from a .json or .toml file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: file not found")
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config {path}: cannot parse ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of setting names to values")
    return data


# --- basket grid --param / --threshold / --sizing ------------------------------------------
def split_values(text: str) -> list[str]:
    """Split 'a,b,[1,2]' on the commas outside brackets."""
    parts, depth, current = [], 0, []
    for char in text:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def parse_params(options: Sequence[str]) -> dict[str, list[Any]]:
    """['pos_weight=1,5', 'lr=1e-3'] -> {'pos_weight': ['1', '5'], 'lr': ['1e-3']}; the values
    of a list setting are bracketed: 'neighbours=[],[tifuknn,upcf]' or JSON lists."""
    params: dict[str, list[Any]] = {}
    for option in options:
        key, sep, raw = option.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--param {option!r}: expected key=value[,value...]")
        if key in params:
            raise ConfigError(f"--param {key}: given twice; list all its values in one --param")
        values = split_values(raw)
        if any(v == "" for v in values):
            raise ConfigError(f"--param {option!r}: empty value in the list")
        try:
            params[key] = [parse_value(v) for v in values]
        except ConfigError as exc:
            raise ConfigError(f"--param {key}: {exc.message}") from None
    return params


def parse_thresholds(text: str | None) -> list[float] | None:
    if text is None:
        return None
    values = []
    for part in split_values(text):
        try:
            value = float(part)
        except ValueError:
            raise ConfigError(f"--threshold {part!r}: not a number") from None
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"--threshold {part}: a probability threshold lies in [0, 1]")
        values.append(value)
    return list(dict.fromkeys(values))


def parse_sizings(texts: Sequence[str] | None) -> list[SizingRule] | None:
    if not texts:
        return None
    rules = [parse_sizing(part) for text in texts for part in split_values(text) if part]
    return list(dict.fromkeys(rules)) or None
