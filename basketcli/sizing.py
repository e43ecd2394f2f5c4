"""Basket sizing: how many of the ranked products go into the predicted basket.

Rules: ``top-k`` (the k best), ``threshold`` (every product whose probability reaches t) and
``expected-f1`` (the prefix of the ranking that maximises expected F1).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from basketcli.errors import ConfigError

SIZING_KINDS = ("top-k", "threshold", "expected-f1")


class SizingRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["top-k", "threshold", "expected-f1"] = "top-k"
    k: int = Field(10, ge=1, description="basket size for top-k")
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="probability cut for threshold")

    def label(self) -> str:
        if self.kind == "top-k":
            return f"top-{self.k}"
        if self.kind == "threshold":
            return f"threshold {self.threshold:g}"
        return "expected-f1"

    @property
    def needs_probabilities(self) -> bool:
        return self.kind != "top-k"


def parse_sizing(text: str) -> SizingRule:
    """Parse 'top-k', 'top-k:5', 'threshold', 'threshold:0.4' or 'expected-f1'."""
    kind, _, value = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in SIZING_KINDS:
        raise ConfigError(f"--sizing {text!r}: choose one of {', '.join(SIZING_KINDS)}")
    try:
        if kind == "top-k" and value:
            return SizingRule(kind="top-k", k=int(value))
        if kind == "threshold" and value:
            return SizingRule(kind="threshold", threshold=float(value))
    except ValueError:
        raise ConfigError(f"--sizing {text!r}: {value!r} is not a valid number for {kind}") from None
    return SizingRule(kind=kind)  # type: ignore[arg-type]


def check_probabilities(scores: np.ndarray) -> None:
    if scores.size and (np.nanmin(scores) < 0 or np.nanmax(scores) > 1 or np.isnan(scores).any()):
        raise ConfigError(
            "sizing by probability needs scores in [0, 1]; this model gives scores outside it "
            "(use --sizing top-k)"
        )


def select_basket(scores: np.ndarray, rule: SizingRule) -> np.ndarray:
    """(n, I) bool mask of the products each predicted basket holds."""
    n, n_items = scores.shape
    mask = np.zeros((n, n_items), dtype=bool)
    if rule.kind == "top-k":
        from basketcli.metrics import top_k

        np.put_along_axis(mask, top_k(scores, rule.k), True, axis=1)
        return mask
    check_probabilities(scores)
    if rule.kind == "threshold":
        return scores >= rule.threshold
    raise ConfigError(f"sizing rule {rule.kind!r} is not available in this version")
