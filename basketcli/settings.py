"""A model's settings validated against its config (errors name the setting) and described
(`basket models --params`)."""

from __future__ import annotations

import difflib
import enum
import json
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from basketcli.errors import ConfigError


def build_config(config_cls: type[BaseModel], values: dict[str, Any], model: str) -> BaseModel:
    """Validate settings against a model's config; errors name the key and what is wrong.

    Text given for a list setting (a list, tuple or set of numbers, words or choices) is split
    on its commas, wherever it comes from (--set, a config file, grid, the Python API):
    models="tifuknn,upcf" is ["tifuknn", "upcf"], "" the empty list; a list stays a list.
    """
    known = list(config_cls.model_fields)
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=2, cutoff=0.5)
            hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(known)}"
            raise ConfigError(
                f"unknown setting {key!r} for model {model}; {hint} "
                f"(see 'basket models --params {model}')"
            )
    split = {key: split_list_text(config_cls.model_fields[key].annotation, value)
             for key, value in values.items()}
    try:
        return config_cls.model_validate(split)
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


def split_list_text(annotation: Any, value: Any) -> Any:
    """``value`` split on its commas when it is text for a list setting (see build_config);
    any other value as it is. Text a setting takes as it is (``list[str] | str``, a Literal
    choice beside the list) stays text."""
    if not isinstance(value, str) or not _takes_list_of_scalars(annotation):
        return value
    if any(_takes_text(arm, value) for arm in _arms(annotation)):
        return value
    return [part.strip() for part in value.split(",") if part.strip()]


def _arms(annotation: Any) -> tuple[Any, ...]:
    """The types a setting's annotation allows (the arms of a union; Annotated unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _arms(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return tuple(a for arm in typing.get_args(annotation) for a in _arms(arm))
    return (annotation,)


def _takes_list_of_scalars(annotation: Any) -> bool:
    for arm in _arms(annotation):
        origin = typing.get_origin(arm) or arm
        if origin in (list, tuple, set, frozenset):
            items = [a for a in typing.get_args(arm) if a is not Ellipsis]
            if all(_is_scalar(item) for item in items):
                return True
    return False


def _is_scalar(annotation: Any) -> bool:
    arms = _arms(annotation)
    return all(typing.get_origin(arm) is typing.Literal
               or (isinstance(arm, type) and issubclass(arm, (str, int, float, enum.Enum)))
               for arm in arms)


def _takes_text(arm: Any, value: str) -> bool:
    if typing.get_origin(arm) is typing.Literal:
        return value in typing.get_args(arm)
    return isinstance(arm, type) and issubclass(arm, str)


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
    """int, float | None, "one of: a, b" for a Literal, int | "auto" for a union with one,
    list[str]."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of: " + ", ".join(str(a) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(" | ".join(json.dumps(a) for a in typing.get_args(arm))
                          if typing.get_origin(arm) is typing.Literal else type_name(arm)
                          for arm in typing.get_args(annotation))
    if origin in (list, tuple, set, frozenset, dict):
        arms = ", ".join("..." if a is Ellipsis else type_name(a)
                         for a in typing.get_args(annotation))
        return f"{origin.__name__}[{arms}]" if arms else origin.__name__
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
