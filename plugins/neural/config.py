"""Hyperparameters shared by the neural models.

The network's shape follows the original report (n_orders 5, order_hidden 128, 2 GRU layers,
4 heads, dropout 0.1, pos_weight 5, threshold 0.4). Training departs from its batch 16 /
lr 1e-3 / 3 epochs: at batch 16 a step's fixed cost on a CPU dominates, so batch 64 takes fewer,
larger steps at lr 1e-2, for about 3,000 steps (epochs="auto"): a fixed 4 epochs left the
bundled sample (about 220 steps an epoch) under-trained, validation ndcg@10 0.459 against 0.475
for cnngru, while Complete Journey (about 2,500 steps an epoch) keeps 4 epochs.
``examples/configs/report.toml`` restores the report's exact settings.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from basketcli.evaluation.metrics import METRIC_KEYS
from basketcli.protocol import ModelConfig, search


class NeuralConfig(ModelConfig):
    # --- network
    n_orders: int = Field(5, ge=1, le=100, description="past orders the sequence model reads")
    embedding_dim: int = Field(
        64, ge=1, le=4096, description="product embedding size (an EV file must have this size)")
    order_hidden: int = Field(
        128, ge=1, le=4096, description="size of an order vector and of the GRU state")
    n_layers: int = Field(2, ge=1, le=8, description="GRU layers")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout rate",
                           json_schema_extra=search(0.0, 0.4))
    max_order_items: int = Field(
        64, ge=1, description="products of one order the encoder reads (first in cart order)")
    head_hidden: int = Field(
        64, ge=1, le=4096, description="width of the head's hidden layer (the last layer "
        "holds head_hidden weights per product: most of the model's size)",
        json_schema_extra=search(choices=[32, 64, 128]))
    repeat_signal: bool = Field(
        True, description="feed the customer's purchase frequency and recency of each product "
        "(whole history) into the prediction; false reproduces the original design")
    repeat_hidden: int = Field(32, ge=1, le=1024, description="width of the repeat scorer")
    embeddings: str | None = Field(
        None, description="EV file (from 'basket embed') to initialise product embeddings")
    freeze_embeddings: bool = Field(
        False, description="keep EV-initialised embeddings fixed instead of fine-tuning them")
    # --- training
    epochs: Annotated[int, Field(ge=1, le=10_000)] | Literal["auto"] = Field(
        "auto", description="passes over the training examples; auto: as many as make about "
        "3,000 optimiser steps, at least 4 and at most 16 (a small data set gets more passes)")
    batch_size: int = Field(
        64, ge=1, description="examples per optimiser step (per rank under --distributed), "
        "taken as batch_size / customer_run runs: a run that reaches a customer's last order "
        "is shorter, so a step holds fewer (runs of 8 average 7.0 examples on the bundled "
        "sample, 6.2 on the full-size synthetic data)")
    customer_run: int = Field(
        4, ge=1, le=1024, description="consecutive training examples of one customer drawn "
        "together (a step then encodes each of their orders once instead of once per "
        "example that reads it); 1 draws every example on its own")
    lr: float = Field(1e-2, gt=0.0, le=10.0, description="peak learning rate (AdamW)",
                      json_schema_extra=search(1e-3, 3e-2, log=True))
    weight_decay: float = Field(1e-4, ge=0.0, description="AdamW weight decay of weight "
                                "matrices", json_schema_extra=search(1e-6, 1e-2, log=True))
    scheduler: Literal["cosine", "plateau", "none"] = Field(
        "cosine", description="learning-rate schedule: warm-up + cosine decay per step, "
        "halving on a validation plateau, or constant")
    warmup: float = Field(0.05, ge=0.0, lt=1.0, description="share of steps warming up (cosine)")
    grad_clip: float | None = Field(1.0, gt=0.0, description="max gradient norm (none: off)")
    loss: Literal["bce", "softmax"] = Field(
        "bce", description="training loss: binary cross-entropy per product (bce, weighted by "
        "pos_weight) or a listwise softmax over each example's products (softmax: learns only "
        "the order of a customer's products; probabilities then come from the softmax and the "
        "customer's mean basket size)", json_schema_extra=search(choices=["bce", "softmax"]))
    pos_weight: float = Field(5.0, gt=0.0, description="BCE weight of a purchased product "
                              "(loss bce only)", json_schema_extra=search(1.0, 20.0, log=True))
    sampled_negatives: int = Field(
        2048, ge=0, description="training scores the batch's own products (bought before or "
        "next) plus this many drawn at random from the rest of the catalog, weighted so the "
        "loss estimates the full-catalog loss; 0 scores every product at every step. "
        "Evaluation and prediction always score the whole catalog")
    mixed_precision: Literal["auto", "bf16", "off"] = Field(
        "auto", description="bfloat16 autocast for the network's matrix products (the GRU "
        "and the loss stay float32): auto uses it on CUDA GPUs that support bfloat16 and not "
        "on CPUs, where bfloat16 is slower unless the CPU has bfloat16 instructions")
    monitor: str = Field("ndcg@10", description="validation metric for early stopping")
    patience: int | None = Field(
        3, ge=1, description="epochs without improvement before stopping (none: never stop); "
        "validation wobbles for an epoch or two while the cosine rate is still high")
    threshold: float = Field(
        0.4, ge=0.0, le=1.0, description="probability above which a product is predicted")

    @field_validator("monitor")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in METRIC_KEYS:
            raise ValueError(f"unknown metric; choose one of {', '.join(METRIC_KEYS)}")
        return value
