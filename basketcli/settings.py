"""Model settings from --set key=value, config files and grid specifications."""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from basketcli.errors import ConfigError

if TYPE_CHECKING:
    from basketcli.sizing import SizingRule


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
        errors = exc.errors()
        # A field of several types (int or "auto") fails once per type: say each.
        reasons = "; or ".join(dict.fromkeys(
            e["msg"].removeprefix("Value error, ") for e in errors
            if e["loc"][:1] == errors[0]["loc"][:1]))
        if not errors[0]["loc"]:  # a rule across settings (a model validator)
            raise ConfigError(f"settings for model {model}: {reasons}") from None
        field = str(errors[0]["loc"][0])
        given = values.get(field, errors[0].get("input"))
        raise ConfigError(f"setting {field}={given!r} for model {model}: {reasons}") from None


def describe_params(config_cls: type[BaseModel], space: dict[str, dict[str, Any]] | None = None
                    ) -> list[dict[str, str]]:
    """name, type (a Literal's allowed values spelled out), default, search range of `basket
    tune` (``space``) and description of each hyperparameter (for `basket models --params`)."""
    rows = []
    for name, info in config_cls.model_fields.items():
        rows.append({
            "name": name,
            "type": type_name(info.annotation),
            "default": json.dumps(info.get_default(call_default_factory=True), default=str),
            "tune": search_label((space or {}).get(name)),
            "description": info.description or "",
        })
    return rows


def type_name(annotation: Any) -> str:
    """int, float | None, "one of: a, b" for a Literal, int | "auto" for a union with one."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of: " + ", ".join(str(a) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(" | ".join(json.dumps(a) for a in typing.get_args(arm))
                          if typing.get_origin(arm) is typing.Literal else type_name(arm)
                          for arm in typing.get_args(annotation))
    if annotation is type(None):
        return "None"
    name = getattr(annotation, "__name__", None)
    return name if name and name != "Literal" else str(annotation).replace("typing.", "")


def search_label(spec: dict[str, Any] | None) -> str:
    if not spec:
        return ""
    if "choices" in spec:
        return "one of " + ", ".join(str(c) for c in spec["choices"])
    return f"{spec['low']:g} to {spec['high']:g}" + (" (log)" if spec.get("log") else "")


# --- grid specifications (basket grid --param / --threshold / --sizing) -----------------------
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
    """['pos_weight=1,5', 'lr=1e-3'] -> {'pos_weight': ['1', '5'], 'lr': ['1e-3']}."""
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
    from basketcli.sizing import parse_sizing

    if not texts:
        return None
    rules = [parse_sizing(part) for text in texts for part in split_values(text) if part]
    return list(dict.fromkeys(rules)) or None
