"""NeuralBasketModel: the BasketModel side of the neural predictors (fit, score, save, load).

torch is imported inside the methods only, so importing a neural plugin module stays light.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from basketcli.artifacts import load_bundle, save_bundle
from basketcli.data.basket_data import BasketData
from basketcli.engine.batches import (
    basket_lines,
    distinct_orders,
    example_runs,
    last_order_windows,
    padded_baskets,
    runs_examples,
    sliding_examples,
    whole_histories,
)
from basketcli.errors import ArtifactError, DataError
from basketcli.protocol import BasketModel, FitContext, FitReport, ModelConfig
from basketcli.sizing import SizingRule
from basketcli_models.neural.config import NeuralConfig

if TYPE_CHECKING:
    import torch

    from basketcli.data.split import EvalSet

WEIGHTS_FORMAT = 2  # 2: the state dict as arrays in a bundle (1 was model.pt + model.npz)


class NeuralBasketModel(BasketModel):
    """Order encoder + GRU over the last orders + FC head, with the customer's repeat signal.

    Subclasses choose the order encoder (``encoder``: "cnn" or "attention").
    """

    Config: ClassVar[type[ModelConfig]] = NeuralConfig
    gives_probabilities = True
    reads_last_orders: ClassVar[int | None] = None  # the repeat signal reads whole histories
    encoder: ClassVar[str] = "cnn"

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        # Without the repeat signal the model sees only the last n_orders orders (predict warns
        # about longer histories).
        self.reads_last_orders = None if cfg.repeat_signal else cfg.n_orders  # type: ignore[misc]
        self.net: Any = None
        self.n_items = 0
        self.device: Any = "cpu"

    # --- the network ---------------------------------------------------------------------------
    def _network(self, n_items: int):
        from basketcli_models.neural.modules import NextBasketNet
        from basketcli_models.neural.repeat_features import N_FEATURES

        cfg = self.config
        return NextBasketNet(
            n_items, encoder=self.encoder, embedding_dim=cfg.embedding_dim,
            hidden=cfg.order_hidden, n_layers=cfg.n_layers, dropout=cfg.dropout,
            kernel_size=getattr(cfg, "kernel_size", 3), heads=getattr(cfg, "attn_heads", 4),
            n_repeat_features=N_FEATURES if cfg.repeat_signal else 0,
            repeat_hidden=cfg.repeat_hidden, head_hidden=cfg.head_hidden,
            sampled_output=cfg.sampled_negatives > 0,
        )

    def _arrays(self, data: BasketData, starts: np.ndarray, ends: np.ndarray
                ) -> list[np.ndarray]:
        """The network's inputs, as arrays, for the histories ``starts[r]:ends[r]`` (global
        order indices)."""
        cfg = self.config
        orders, windows = distinct_orders(last_order_windows(starts, ends, cfg.n_orders))
        arrays = [padded_baskets(data, orders, cfg.max_order_items), windows]
        if cfg.repeat_signal:
            from basketcli_models.neural.repeat_features import repeat_features

            arrays += repeat_features(data, starts, ends)
        return arrays

    def _autocast(self):
        """The autocast context of a forward pass (``mixed_precision``)."""
        import torch

        device = torch.device(self.device)
        mode = self.config.mixed_precision
        enabled = mode == "bf16" or (mode == "auto" and device.type == "cuda"
                                     and torch.cuda.is_bf16_supported())
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)

    def _tensors(self, arrays: Iterable[np.ndarray]) -> tuple:
        import torch

        return tuple(torch.from_numpy(a).to(self.device) for a in arrays)

    # --- fit -----------------------------------------------------------------------------------
    def fit(self, train: BasketData, valid: EvalSet | None, ctx: FitContext) -> FitReport:
        import torch

        from basketcli.engine.trainer import Trainer, TrainSettings, prepare_torch
        from basketcli_models.neural.loss import listwise_softmax, sample_candidates, weighted_bce
        from basketcli_models.neural.modules import candidate_columns

        cfg = self.config
        starts, targets = sliding_examples(train)
        if len(targets) == 0:
            raise DataError(
                "no customer has two orders before the validation target, so there is nothing "
                f"to train {self.name} on; use data with longer histories"
            )
        self.device = prepare_torch(ctx, cfg.seed)
        self.n_items = train.n_items
        self.net = self._network(train.n_items)
        info: dict[str, Any] = {"examples": int(len(targets))}
        if cfg.embeddings:
            info["embeddings"] = self._load_embeddings(train.item_ids)
        self.net.to(self.device)
        info["parameters"] = int(sum(p.numel() for p in self.net.parameters()))

        # The trainer shuffles runs of consecutive examples of one customer (see
        # customer_run), each step taking about batch_size examples.
        runs = example_runs(starts, cfg.customer_run)

        def prepare(run_index: np.ndarray) -> tuple:
            # NumPy only (the trainer runs it a step ahead in a thread): no torch RNG here.
            index = runs_examples(runs, np.sort(run_index))
            return (self._arrays(train, starts[index], targets[index]),
                    basket_lines(train, targets[index]))

        def batch_loss(batch: tuple) -> torch.Tensor:
            inputs, (rows, items) = (self._tensors(arrays) for arrays in batch)
            if cfg.sampled_negatives == 0:
                with self._autocast():
                    logits = self.net(*inputs)
                columns, weights, n_products = items, None, None
            else:
                # Exact: what the batch bought before (history windows and repeat items) and
                # bought next; the rest of the catalog is sampled.
                exact = [items, inputs[0][inputs[0] > 0] - 1, *inputs[3:4]]
                candidates, weights = sample_candidates(torch.cat(exact), self.n_items,
                                                        cfg.sampled_negatives)
                with self._autocast():
                    logits = self.net(*inputs, candidates=candidates)
                columns = candidate_columns(candidates, items, self.n_items)
                n_products = self.n_items
            if cfg.loss == "softmax":
                return listwise_softmax(logits, rows, columns, weights)
            return weighted_bce(logits, rows, columns, cfg.pos_weight, weights, n_products)

        validate = None
        if valid is not None and valid.n_users:
            from basketcli.evaluation.scoring import Variant, evaluate_model

            def validate() -> dict[str, float]:
                # Under --distributed every rank scores its share of the customers.
                return evaluate_model(self, valid, [Variant(threshold=cfg.threshold)],
                                      across_ranks=True)[0].metrics

        settings = replace(TrainSettings.from_config(cfg),
                           batch_size=max(1, round(cfg.batch_size / cfg.customer_run)))
        outcome = Trainer(self.net, settings, ctx, self.device).fit(
            len(runs) - 1, batch_loss, validate, prepare, validate_on_every_rank=True)
        self.net.eval()
        return FitReport(info={**info, **outcome.info(cfg.monitor)}, history=outcome.history)

    def _load_embeddings(self, item_ids: np.ndarray) -> dict[str, Any]:
        import torch

        from basketcli.data.ev_file import align_vectors, read_ev

        cfg = self.config
        vectors, covered = align_vectors(read_ev(Path(cfg.embeddings)), item_ids,
                                         cfg.embedding_dim, source=cfg.embeddings)
        weight = self.net.item_embedding.weight
        with torch.no_grad():
            rows = torch.from_numpy(np.flatnonzero(covered) + 1)
            weight[rows] = torch.from_numpy(vectors[covered])
        if cfg.freeze_embeddings:
            weight.requires_grad_(False)
        return {"file": str(cfg.embeddings), "covered": int(covered.sum()),
                "frozen": cfg.freeze_embeddings}

    def default_sizing(self) -> SizingRule:
        # Softmax probabilities are calibrated (they sum to about the basket size), so baskets
        # are sized by expected F1 as xgboost's are; BCE with pos_weight inflates probabilities,
        # which the threshold (0.4, as in the original report) was chosen against.
        if self.config.loss == "softmax":
            return SizingRule(kind="expected-f1")
        return super().default_sizing()

    # --- score ---------------------------------------------------------------------------------
    def use_device(self, device: str) -> None:
        from basketcli.engine.trainer import resolve_device

        self.device = resolve_device(device)
        if self.net is not None:
            self.net.to(self.device)

    def score(self, histories: BasketData) -> np.ndarray:
        import torch

        if self.net is None:
            raise ArtifactError(f"model {self.name} has no weights yet; fit or load it first")
        if histories.n_items != self.n_items:
            raise ArtifactError(
                f"model {self.name} was trained on {self.n_items} products, the data has "
                f"{histories.n_items}; use the data it was trained on"
            )
        self.net.eval()
        starts, ends = whole_histories(histories)
        with torch.inference_mode(), self._autocast():
            logits = self.net(*self._tensors(self._arrays(histories, starts, ends)))
            if self.config.loss == "softmax":
                from basketcli_models.neural.loss import basket_probabilities

                mean_basket = (np.diff(histories.user_line_offsets())
                               / np.maximum(ends - starts, 1)).astype(np.float32)
                return basket_probabilities(
                    logits, torch.from_numpy(mean_basket).to(logits.device)).cpu().numpy()
            # In place: a new whole-catalog array would cost more than the sigmoid.
            return logits.float().sigmoid_().cpu().numpy()

    # --- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        if self.net is None:
            raise ArtifactError(f"model {self.name} has no weights to save; fit it first")
        weights = {k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        save_bundle(directory, {"format": WEIGHTS_FORMAT, "n_items": self.n_items}, weights)

    @classmethod
    def load(cls, directory: Path, config: ModelConfig) -> NeuralBasketModel:
        import torch

        bundle = load_bundle(directory)
        n_items = bundle.meta.get("n_items")
        if bundle.meta.get("format") != WEIGHTS_FORMAT or not isinstance(n_items, int):
            raise ArtifactError(f"{directory}: not a {cls.name} model of this version; train "
                                "the model again")
        model = cls(config)
        net = model._network(n_items)
        try:
            net.load_state_dict({k: torch.from_numpy(v) for k, v in bundle.arrays.items()})
        except (RuntimeError, TypeError) as exc:
            reason = str(exc).strip().splitlines()[0][:120]
            raise ArtifactError(
                f"{directory}: the weights do not fit {cls.name} with this config ({reason}); "
                "train the model again"
            ) from None
        model.net, model.n_items, model.device = net.eval(), n_items, torch.device("cpu")
        return model
