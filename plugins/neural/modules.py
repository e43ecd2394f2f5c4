"""The torch networks: order encoders, the GRU over orders, the prediction head, the repeat
scorer, and the model that joins them."""

from __future__ import annotations

import math

import torch
from torch import nn

from basketcli_models.neural.dropout import Dropout, dropout
from basketcli_models.neural.recurrence import GRURecurrence


def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for an integer ``index`` of any shape, through ``index_select``: on a
    CPU the backward of plain indexing is an accumulating ``index_put`` several times slower
    than ``index_select``'s ``index_add``."""
    return table.index_select(0, index.reshape(-1)).view(*index.shape, *table.shape[1:])


def candidate_columns(candidates: torch.Tensor, items: torch.Tensor, n_items: int
                      ) -> torch.Tensor:
    """The column of each of ``items`` among ``candidates`` (every item must be one)."""
    column_of = torch.full((n_items,), -1, dtype=torch.long, device=candidates.device)
    column_of[candidates] = torch.arange(len(candidates), device=candidates.device)
    return column_of[items]


class OrderEncoderCNN(nn.Module):
    """Products of one order -> embeddings -> Conv1d -> ReLU -> max pool -> one vector.

    The convolution is an ``nn.Conv1d`` (padding "same") computed per product: each product's
    contribution at each kernel offset (``item_rows``) is one small matrix product per
    distinct product of the batch, and an order position sums the contributions of its
    window. With zero padding this is exactly the convolution, at a fraction of its work for
    orders of a few products. The pooling is AdaptiveMaxPool1d(1), a max over the order's
    products, taken over the real products only.
    """

    def __init__(self, embedding_dim: int, hidden: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(embedding_dim, hidden, kernel_size, padding="same")
        self.kernel_size = kernel_size

    def item_rows(self, embedded: torch.Tensor) -> torch.Tensor:
        """(U, d) product embeddings -> (U, k * hidden): the product times each kernel tap."""
        hidden, dim, k = self.conv.weight.shape
        return embedded @ self.conv.weight.permute(1, 2, 0).reshape(dim, k * hidden)

    def forward(self, rows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """rows (N, L, k * hidden) of ``item_rows`` (zeros at padding), mask (N, L) True where
        an item is -> (N, hidden)."""
        n, length, _ = rows.shape
        k = self.kernel_size
        left = (k - 1) // 2
        taps = nn.functional.pad(rows.view(n, length, k, -1), (0, 0, 0, 0, left, k - 1 - left))
        # Output position l sums tap j of the product at l + j - left.
        x = self.conv.bias + sum(taps[:, j:j + length, j] for j in range(k))
        # After ReLU every value is >= 0, so zeroing the padding leaves the max over the real
        # products unchanged and gives an empty order the zero vector.
        return torch.relu(x).masked_fill(~mask.unsqueeze(-1), 0.0).amax(dim=1)


class OrderEncoderAttention(nn.Module):
    """Products of one order -> embeddings -> multi-head self-attention -> masked mean pool.

    The attention is an ``nn.MultiheadAttention``; its forward pass is computed from the same
    weights as scaled dot-product attention written out (the steps of torch's CPU kernel for
    such small maps), which takes far fewer operations than the module's general path and
    draws its dropout masks with ``dropout``. The projections that depend on
    the product alone (input projection, query/key/value) are computed once per distinct
    product of the batch (``item_rows``).
    """

    def __init__(self, embedding_dim: int, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.project = nn.Linear(embedding_dim, hidden)
        self.attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(hidden)

    def item_rows(self, embedded: torch.Tensor) -> torch.Tensor:
        """(U, d) product embeddings -> (U, 4 * hidden): projection, then query/key/value.

        Both are linear in the embedding, so the query/key/value weights are folded into the
        projection's (a (3h x h) @ (h x d) product, small) and one matrix product of width d
        gives all four: about 40% fewer operations than projecting, then projecting again.
        """
        weight, bias = self.project.weight, self.project.bias
        in_weight, in_bias = self.attention.in_proj_weight, self.attention.in_proj_bias
        folded_weight = torch.cat([weight, in_weight @ weight])
        folded_bias = torch.cat([bias, torch.addmv(in_bias, in_weight, bias)])
        return nn.functional.linear(embedded, folded_weight, folded_bias)

    def forward(self, rows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """rows (N, L, 4 * hidden) of ``item_rows``, mask (N, L) -> (N, hidden)."""
        n, length, _ = rows.shape
        hidden = self.project.out_features
        heads = self.attention.num_heads
        x, qkv = rows.split([hidden, 3 * hidden], dim=-1)
        attend = mask.clone()
        # An empty order would mask every key (NaN attention): let it attend to its padding;
        # the pooling below ignores the result anyway.
        attend[:, 0] |= ~mask.any(dim=1)
        q, k, v = qkv.reshape(n, length, 3, heads, hidden // heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) * (hidden // heads) ** -0.5
        shares = scores.masked_fill(~attend[:, None, None, :], float("-inf")).softmax(dim=-1)
        shares = dropout(shares, self.attention.dropout, self.training)
        attended = self.attention.out_proj((shares @ v).transpose(1, 2).reshape(n, length, hidden))
        x = self.norm(x + attended)
        weights = mask.to(x.dtype).unsqueeze(-1)
        return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class OrderSequenceGRU(nn.Module):
    """A GRU over the last orders' vectors (oldest first); returns the final state.

    The weights are an ``nn.GRU``'s (dropout between layers). On CPUs the layers run one by one
    (``GRURecurrence``, the same equations): the first layer's input gates are then computed
    once per distinct order of the batch rather than once per window entry (consecutive
    examples of a customer share most of their orders), and the dropout masks come from
    ``dropout``. On GPUs ``nn.GRU`` runs (cuDNN's fused kernel).
    """

    def __init__(self, hidden: int, n_layers: int, dropout: float) -> None:
        super().__init__()
        self.gru = nn.GRU(hidden, hidden, num_layers=n_layers, batch_first=True,
                          dropout=dropout if n_layers > 1 else 0.0)

    def forward(self, orders: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        """orders (U, hidden) distinct order vectors, windows (B, steps) rows of ``orders``
        -> (B, hidden)."""
        # In at least float32, autocast or not: the state carries rounding over the steps.
        with torch.autocast(orders.device.type, enabled=False):
            orders = orders.to(torch.promote_types(orders.dtype, torch.float32))
            if orders.device.type != "cpu":
                return self.gru(gather_rows(orders, windows))[0][:, -1]
            return self._layers(orders, windows)

    def _layers(self, orders: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        gru = self.gru
        # Time-major (steps, B, ...) from here on: each step is one contiguous block.
        gates_in = gather_rows(
            nn.functional.linear(orders, gru.weight_ih_l0, gru.bias_ih_l0), windows.t())
        states = GRURecurrence.apply(gates_in, gru.weight_hh_l0, gru.bias_hh_l0)
        for layer in range(1, gru.num_layers):
            below = dropout(states, gru.dropout, self.training)
            gates_in = nn.functional.linear(below, getattr(gru, f"weight_ih_l{layer}"),
                                            getattr(gru, f"bias_ih_l{layer}"))
            states = GRURecurrence.apply(gates_in, getattr(gru, f"weight_hh_l{layer}"),
                                         getattr(gru, f"bias_hh_l{layer}"))
        return states[-1]


class ItemOutput(nn.Module):
    """The head's last FC layer (width -> one logit per product), laid out like ``nn.Linear``.

    Given ``candidates`` it computes only those products' logits. With ``sparse`` the weight
    rows are then read through a sparse embedding lookup, so a training step's gradient (and
    optimiser update) covers only the products it scored and not the whole catalog.
    """

    def __init__(self, width: int, n_items: int, sparse: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_items, width))
        self.bias = nn.Parameter(torch.empty(n_items))
        self.sparse = sparse
        # nn.Linear's initialisation (same random draws for the same seed).
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(width)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, candidates: torch.Tensor | None = None) -> torch.Tensor:
        if candidates is None:
            return nn.functional.linear(x, self.weight, self.bias)
        rows = nn.functional.embedding(candidates, self.weight, sparse=self.sparse)
        return nn.functional.linear(x, rows, gather_rows(self.bias, candidates))


class PredictionHead(nn.Module):
    """FC layers from the customer state to one logit per product (or per candidate)."""

    def __init__(self, hidden: int, n_items: int, dropout: float, width: int | None = None,
                 sparse: bool = False) -> None:
        super().__init__()
        width = width or hidden
        self.layers = nn.Sequential(
            nn.Linear(hidden, width), nn.ReLU(), Dropout(dropout),
            ItemOutput(width, n_items, sparse),
        )

    def forward(self, state: torch.Tensor, candidates: torch.Tensor | None = None
                ) -> torch.Tensor:
        *hidden_layers, output = self.layers
        for layer in hidden_layers:
            state = layer(state)
        return output(state, candidates)


class RepeatScorer(nn.Module):
    """The repeat signal: a logit bonus for each product the customer bought before.

    An MLP reads the product's frequency and recency in the whole history; a per-product bias
    learns how repeatable the product is; a gate computed from the customer state scales the
    bonus (a learned repeat/explore balance).
    """

    def __init__(self, n_features: int, hidden: int, state_size: int, n_items: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 1),
        )
        # Dense: one float per product is cheaper to update whole than as a sparse table.
        self.item_bias = nn.Embedding(n_items, 1)
        nn.init.zeros_(self.item_bias.weight)
        self.gate = nn.Linear(state_size, 1)
        nn.init.zeros_(self.gate.weight)
        nn.init.constant_(self.gate.bias, math.log(math.e - 1.0))  # softplus(bias) = 1

    def forward(self, state: torch.Tensor, rows: torch.Tensor, items: torch.Tensor,
                features: torch.Tensor) -> torch.Tensor:
        gate = nn.functional.softplus(self.gate(state)).squeeze(-1)
        bonus = self.mlp(features).squeeze(-1) * gather_rows(gate, rows)
        # Not through the module's call: a dense embedding's backward sorts the indices (about
        # 15x slower on a CPU than gather_rows' index_add for tens of thousands of pairs).
        return bonus + gather_rows(self.item_bias.weight, items).squeeze(-1)


class NextBasketNet(nn.Module):
    """Order encoder + GRU over the last orders + head, plus the optional repeat scorer."""

    def __init__(
        self, n_items: int, *, encoder: str, embedding_dim: int, hidden: int, n_layers: int,
        dropout: float, kernel_size: int = 3, heads: int = 4, n_repeat_features: int = 0,
        repeat_hidden: int = 32, head_hidden: int | None = None, sampled_output: bool = False,
        sparse_grads: bool = True,
    ) -> None:
        super().__init__()
        self.n_items, self.hidden = n_items, hidden
        # Sparse gradients (``sparse_grads``): a step updates only the products its batch
        # holds, the engine giving sparse tables to RowAdam (and, under DDP, exchanging only
        # their touched rows).
        self.item_embedding = nn.Embedding(n_items + 1, embedding_dim, padding_idx=0,
                                           sparse=sparse_grads)
        self.embedding_dropout = Dropout(dropout)
        if encoder == "cnn":
            self.order_encoder: nn.Module = OrderEncoderCNN(embedding_dim, hidden, kernel_size)
        elif encoder == "attention":
            self.order_encoder = OrderEncoderAttention(embedding_dim, hidden, heads, dropout)
        else:
            raise ValueError(f"unknown encoder {encoder!r}")
        self.sequence = OrderSequenceGRU(hidden, n_layers, dropout)
        self.head = PredictionHead(hidden, n_items, dropout, head_hidden,
                                   sparse=sampled_output and sparse_grads)
        self.repeat = (
            RepeatScorer(n_repeat_features, repeat_hidden, hidden, n_items)
            if n_repeat_features else None
        )

    def forward(self, baskets: torch.Tensor, windows: torch.Tensor,
                repeat_rows: torch.Tensor | None = None,
                repeat_items: torch.Tensor | None = None,
                repeat_features: torch.Tensor | None = None,
                candidates: torch.Tensor | None = None) -> torch.Tensor:
        """baskets (U, L): distinct orders as item indices + 1 (0 = padding; an all-padding
        row is "no order"); windows (B, n_orders): each example's last orders as rows of
        ``baskets``, oldest first -> logits (B, n_items), or (B, len(candidates)) for the
        given product indices, which must hold every repeat item.
        """
        state = self.sequence(self.encode_orders(baskets), windows)
        logits = self.head(state, candidates)
        if self.repeat is not None and repeat_rows is not None and repeat_rows.numel():
            bonus = self.repeat(state, repeat_rows, repeat_items, repeat_features)
            columns = (repeat_items if candidates is None
                       else candidate_columns(candidates, repeat_items, self.n_items))
            # One bonus per (row, product) pair: a scatter-add into the flat logits, in place
            # (a copy of a whole-catalog batch costs more than the scatter; the linear layer
            # that made the logits does not keep them for its backward).
            flat = repeat_rows * logits.shape[1] + columns
            logits.view(-1).scatter_add_(0, flat, bonus.to(logits.dtype))
        return logits

    def encode_orders(self, flat: torch.Tensor) -> torch.Tensor:
        """(N, L) padded orders -> (N, hidden) order vectors; empty orders give zeros.

        Orders are encoded in buckets of similar size (widths up to 4, 8, 16, ...), each
        padded only to its own width: baskets vary from 1 to dozens of products, and padding
        every order to the largest one would cost the encoder several times the work.
        """
        mask = flat > 0
        sizes = mask.sum(dim=1)
        bucket = torch.ceil(torch.log2(sizes.clamp(min=1).float())).long().clamp(min=2)
        bucket = torch.where(sizes > 0, bucket, -1)
        # What depends on the product alone is computed once per distinct product of the
        # batch; padding (index 0) has the zero embedding, so it adds nothing to a
        # convolution, as Conv1d's zero padding. Dropout is drawn per product.
        products, position = torch.unique(flat, return_inverse=True)
        rows = self.order_encoder.item_rows(
            self.embedding_dropout(self.item_embedding(products)))
        out = rows.new_zeros((flat.shape[0], self.hidden))
        for level in torch.unique(bucket[bucket >= 0]).tolist():
            orders = torch.nonzero(bucket == level).squeeze(1)
            width = int(sizes[orders].max())
            vectors = self.order_encoder(gather_rows(rows, position[orders, :width]),
                                         mask[orders, :width])
            out = out.index_copy(0, orders, vectors.to(out.dtype))
        return out
