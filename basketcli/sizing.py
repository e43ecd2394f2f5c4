"""Basket sizing rules: how many of the ranked products go into the predicted basket.

Rules: ``top-k`` (the k best), ``threshold`` (every product whose probability reaches t) and
``expected-f1`` (the prefix of the ranking that maximises expected F1). A rule is part of the
model contract (``BasketModel.default_sizing``) and of the command line (``--sizing``); applying
one to scores is ``basketcli.evaluation.selection``'s.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from basketcli.errors import ConfigError

SIZING_KINDS = ("top-k", "threshold", "expected-f1")


class SizingRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["top-k", "threshold", "expected-f1"] = "top-k"
    k: int = Field(10, ge=1, description="basket size for top-k")
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="probability cut for threshold")
    max_candidates: int = Field(
        200, ge=1, description="expected-f1: only each customer's most probable products count")
    none_option: bool = Field(
        False, description="expected-f1: may also predict the Instacart competition's 'None' "
        "(the customer buys none of the candidates)")

    def label(self) -> str:
        if self.kind == "top-k":
            return f"top-{self.k}"
        if self.kind == "threshold":
            return f"threshold {self.threshold:g}"
        return "expected-f1 +None" if self.none_option else "expected-f1"

    def spec(self) -> str:
        """The text ``parse_sizing`` turns back into this rule."""
        if self.kind == "top-k":
            return f"top-k:{self.k}"
        if self.kind == "threshold":
            return f"threshold:{self.threshold:g}"
        return f"expected-f1:{self.max_candidates}" + (":none" if self.none_option else "")

    def __str__(self) -> str:  # how `basket models --params` shows a default
        return self.spec()

    @property
    def needs_probabilities(self) -> bool:
        return self.kind != "top-k"


def parse_sizing(text: str) -> SizingRule:
    """Parse 'top-k', 'top-k:5', 'threshold', 'threshold:0.4', 'expected-f1',
    'expected-f1:150' (candidate cap), 'expected-f1:none' or 'expected-f1:150:none'."""
    kind, _, value = text.strip().partition(":")
    kind = kind.strip().lower()
    value = value.strip()
    if kind not in SIZING_KINDS:
        raise ConfigError(f"--sizing {text!r}: choose one of {', '.join(SIZING_KINDS)}")
    try:
        if kind == "top-k" and value:
            return SizingRule(kind="top-k", k=int(value))
        if kind == "threshold" and value:
            return SizingRule(kind="threshold", threshold=float(value))
        if kind == "expected-f1" and value:
            return _parse_expected_f1(text, value)
    except ValueError:
        raise ConfigError(
            f"--sizing {text!r}: {value!r} is not valid for {kind} (top-k:K with K >= 1, "
            "threshold:T with T in [0, 1], expected-f1[:CAP][:none])"
        ) from None
    return SizingRule(kind=kind)  # type: ignore[arg-type]


def _parse_expected_f1(text: str, value: str) -> SizingRule:
    cap, none = 200, False
    for part in value.lower().split(":"):
        if part.strip() == "none":
            none = True
        else:
            cap = int(part)  # ValueError -> one-line ConfigError in parse_sizing
    return SizingRule(kind="expected-f1", max_candidates=cap, none_option=none)
