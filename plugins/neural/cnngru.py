"""CNNGRU: a CNN reads each order, a GRU reads the last orders, FC layers score every product.

The customer's repeat signal (frequency and recency of each product over the whole history)
is added by default; ``--set repeat_signal=false`` gives the original design.
"""

from __future__ import annotations

from pydantic import Field

from basketcli_models.neural.config import NeuralConfig
from basketcli_models.neural.model import NeuralBasketModel


class CNNGRUConfig(NeuralConfig):
    kernel_size: int = Field(3, ge=1, le=15, description="width of the convolution over an order")


class CNNGRU(NeuralBasketModel):
    """CNN order encoder + GRU over the last orders, with the customer's repeat signal."""

    name = "cnngru"
    Config = CNNGRUConfig
    encoder = "cnn"
