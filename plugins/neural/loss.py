"""The training losses of the neural models: weighted binary cross-entropy over every
(example, product), or a listwise softmax over each example's products; either optionally
estimated from sampled candidate products."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import FunctionCtx, once_differentiable


class _WeightedBCE(torch.autograd.Function):
    """The loss sum times ``scale``, with a backward that writes the logits' gradient in one
    pass (sigmoid, times the column weights) plus a scatter for the bought products; left to
    autograd, the softplus, the column weighting and the bought correction each produce and
    add a logits-sized gradient."""

    @staticmethod
    def forward(ctx: FunctionCtx, logits: torch.Tensor, bought_at: torch.Tensor,
                pos_weight: float, column_weights: torch.Tensor | None, scale: float
                ) -> torch.Tensor:
        negative = F.softplus(logits)
        total = (negative.sum() if column_weights is None
                 else torch.mv(negative, column_weights).sum())
        bought = logits.reshape(-1).index_select(0, bought_at)
        total = total + (pos_weight * F.softplus(-bought) - F.softplus(bought)).sum()
        ctx.save_for_backward(logits, bought_at, bought, column_weights)
        ctx.pos_weight, ctx.scale = pos_weight, scale  # type: ignore[attr-defined]
        return total * scale

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> tuple:
        logits, bought_at, bought, column_weights = ctx.saved_tensors  # type: ignore[attr-defined]
        factor = grad * ctx.scale  # type: ignore[attr-defined]
        # d softplus(x) = sigmoid(x); a bought logit's term is pos_weight * softplus(-x)
        # instead of softplus(x): its gradient gains -pos_weight * sigmoid(-x) - sigmoid(x).
        grad_logits = torch.sigmoid(logits)
        grad_logits.mul_(factor if column_weights is None else column_weights * factor)
        correction = (ctx.pos_weight * torch.sigmoid(-bought)  # type: ignore[attr-defined]
                      + torch.sigmoid(bought)) * -factor
        grad_logits.view(-1).index_add_(0, bought_at, correction)
        return grad_logits, None, None, None, None


def weighted_bce(logits: torch.Tensor, rows: torch.Tensor, columns: torch.Tensor,
                 pos_weight: float, column_weights: torch.Tensor | None = None,
                 n_products: int | None = None) -> torch.Tensor:
    """Mean binary cross-entropy over every (example, product), a bought product weighing
    ``pos_weight``: the same value and gradient as ``binary_cross_entropy_with_logits`` with
    ``pos_weight``, without building the dense target.

    Per logit x the loss is softplus(x) when the product was not bought and
    pos_weight * softplus(-x) when it was, so one dense pass of softplus plus a correction on
    the few bought products (rows, columns; no pair twice) gives the total.

    With sampled candidates, ``logits`` has one column per candidate, ``column_weights`` how
    many catalog products each column stands for (1 for exact columns, which must hold every
    bought product) and ``n_products`` the catalog size the mean is taken over.
    """
    scale = 1.0 / (logits.shape[0] * (n_products or logits.shape[1]))
    # At least float32, autocast or not: the sums run over millions of logits.
    dtype = torch.promote_types(logits.dtype, torch.float32)
    with torch.autocast(logits.device.type, enabled=False):
        return _WeightedBCE.apply(
            logits.to(dtype), rows * logits.shape[1] + columns, float(pos_weight),
            None if column_weights is None else column_weights.to(dtype), scale)


def sample_candidates(exact: torch.Tensor, n_items: int, n_sampled: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """The products a training step scores: ``exact`` (the batch's own products, scored
    exactly) plus up to ``n_sampled`` others drawn uniformly (torch's seeded RNG), each
    weighted so that the loss stays an unbiased estimate of the full-catalog loss.

    Returns (candidates, column_weights); the exact products come first.
    """
    exact = torch.unique(exact)
    drawn = torch.randint(n_items, (n_sampled,), device=exact.device)
    outside = torch.ones(n_items, dtype=torch.bool, device=exact.device)
    outside[exact] = False
    drawn = torch.unique(drawn[outside[drawn]])
    weights = torch.ones(len(exact) + len(drawn), device=exact.device)
    if len(drawn):
        weights[len(exact):] = (n_items - len(exact)) / len(drawn)
    return torch.cat([exact, drawn]), weights


def listwise_softmax(logits: torch.Tensor, rows: torch.Tensor, columns: torch.Tensor,
                     column_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over examples of the cross-entropy between the softmax of the example's logits
    and its bought products, each weighing 1 / (products bought): a listwise loss that only
    asks each example to rank its bought products above the rest, as recall@k and ndcg@k do.

    With sampled candidates, a sampled column stands for ``column_weights`` catalog products:
    adding log(weight) to its logit makes the softmax's denominator an estimate of the whole
    catalog's (the logQ correction of sampled softmax; exact columns weigh 1).
    """
    dtype = torch.promote_types(logits.dtype, torch.float32)
    with torch.autocast(logits.device.type, enabled=False):
        logits = logits.to(dtype)
        if column_weights is not None:
            logits = logits + column_weights.to(dtype).log()
        log_norm = torch.logsumexp(logits, dim=1)
        bought = torch.bincount(rows, minlength=logits.shape[0]).to(dtype)
        picked = (logits[rows, columns] - log_norm[rows]) / bought[rows]
        return -picked.sum() / (bought > 0).sum().clamp(min=1)


def basket_probabilities(logits: torch.Tensor, basket_size: torch.Tensor) -> torch.Tensor:
    """Probabilities of being bought from logits trained with ``listwise_softmax``.

    The softmax q is the chance that one product drawn from the next basket is this one; a
    basket of n products (the customer's mean basket size) holds it with probability
    1 - (1 - q)^n, so the probabilities sum to about n and keep the softmax's order (the
    arithmetic runs in place: the array is customers x the whole catalog).
    """
    q = torch.softmax(logits.float(), dim=1)
    return q.neg_().log1p_().mul_(basket_size[:, None]).expm1_().neg_()
