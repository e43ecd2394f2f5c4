"""Model settings from --set key=value, config files and grid --param values."""

from __future__ import annotations

import difflib
import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from basketcli.errors import ConfigError


def parse_value(raw: str) -> Any:
    """Text from the command line -> a value pydantic can validate.

    Plain text stays text (pydantic converts '5', '1e-3' and 'true' itself); 'none'/'null'
    become None, and JSON lists or objects are decoded.
    """
    text = raw.strip()
    if text.lower() in {"none", "null"}:
        return None
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
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


def build_config(config_cls: type[BaseModel], values: dict[str, Any], model: str) -> BaseModel:
    """Validate settings against a model's config; errors name the key and what is wrong."""
    known = list(config_cls.model_fields)
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=2, cutoff=0.5)
            hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(known)}"
            raise ConfigError(
                f"unknown setting {key!r} for model {model}; {hint} "
                f"(see 'basket models --params {model}')"
            )
    try:
        return config_cls.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "config"
        given = values.get(field, error.get("input"))
        raise ConfigError(f"setting {field}={given!r} for model {model}: {error['msg']}") from None


def describe_params(config_cls: type[BaseModel]) -> list[dict[str, str]]:
    """name, type, default and description of each hyperparameter (for `basket models`)."""
    rows = []
    for name, info in config_cls.model_fields.items():
        annotation = info.annotation
        type_name = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
        default = info.get_default(call_default_factory=True)
        rows.append({
            "name": name,
            "type": type_name,
            "default": json.dumps(default, default=str),
            "description": info.description or "",
        })
    return rows
