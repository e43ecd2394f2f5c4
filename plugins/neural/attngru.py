"""AttnGRU: self-attention reads each order, a GRU reads the last orders, FC layers score
every product.

The customer's repeat signal (frequency and recency of each product over the whole history)
is added by default; ``--set repeat_signal=false`` gives the original design.
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from basketcli_models.neural.config import NeuralConfig
from basketcli_models.neural.model import NeuralBasketModel


class AttnGRUConfig(NeuralConfig):
    attn_heads: int = Field(4, ge=1, le=64, description="attention heads (divide order_hidden)")

    @field_validator("attn_heads")
    @classmethod
    def _divides_hidden(cls, heads: int, info: ValidationInfo) -> int:
        hidden = info.data.get("order_hidden")
        if hidden is not None and hidden % heads:
            raise ValueError(f"order_hidden {hidden} is not divisible by attn_heads {heads}")
        return heads


class AttnGRU(NeuralBasketModel):
    """Self-attention order encoder + GRU over the last orders, with the repeat signal."""

    name = "attngru"
    Config = AttnGRUConfig
    encoder = "attention"
