"""The hand-written network pieces compute what torch's reference modules compute: the
per-product convolution (nn.Conv1d + AdaptiveMaxPool1d), the attention (nn.MultiheadAttention),
the GRU recurrence (nn.GRU) and the dropout (masks drawn with NumPy)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


from basketcli_models.neural.dropout import dropout  # noqa: E402
from basketcli_models.neural.modules import (  # noqa: E402
    OrderEncoderAttention,
    OrderEncoderCNN,
    OrderSequenceGRU,
    gather_rows,
)


def padded_orders(n_orders: int, width: int, n_products: int, seed: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(products, mask): orders of 1..width products (indices into n_products), padded."""
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(1, width + 1, (n_orders,), generator=gen)
    mask = torch.arange(width)[None, :] < sizes[:, None]
    products = torch.randint(n_products, (n_orders, width), generator=gen)
    return products, mask


def test_cnn_encoder_is_conv1d_then_max_pool_over_the_real_products():
    torch.manual_seed(0)
    encoder = OrderEncoderCNN(embedding_dim=6, hidden=10, kernel_size=3).eval()
    table = torch.randn(30, 6)
    products, mask = padded_orders(12, 7, 30, seed=1)
    rows = gather_rows(encoder.item_rows(table), products) * mask[..., None]
    got = encoder(rows, mask)
    for order in range(12):
        size = int(mask[order].sum())
        x = table[products[order, :size]].T[None]  # (1, d, size): zero padding beyond
        want = torch.relu(encoder.conv(x)).amax(dim=2)[0]
        torch.testing.assert_close(got[order], want, atol=1e-5, rtol=1e-5)


def test_attention_encoder_is_multihead_attention_then_mean_pool():
    torch.manual_seed(0)
    encoder = OrderEncoderAttention(embedding_dim=6, hidden=16, heads=4, dropout=0.3).eval()
    table = torch.randn(30, 6)
    products, mask = padded_orders(12, 7, 30, seed=2)
    got = encoder(gather_rows(encoder.item_rows(table), products), mask)
    for order in range(12):
        size = int(mask[order].sum())
        x = encoder.project(table[products[order, :size]])[None]
        attended, _ = encoder.attention(x, x, x, need_weights=False)
        want = encoder.norm(x + attended)[0].mean(dim=0)
        torch.testing.assert_close(got[order], want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n_layers", [1, 2])
def test_gru_recurrence_is_nn_gru(n_layers):
    torch.manual_seed(0)
    sequence = OrderSequenceGRU(hidden=12, n_layers=n_layers, dropout=0.2).eval()
    orders = torch.randn(9, 12, requires_grad=True)
    windows = torch.randint(9, (5, 4))
    got = sequence(orders, windows)
    want = sequence.gru(orders[windows])[0][:, -1]
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    # ... and so are the gradients of the weights and of the order vectors.
    grads = torch.autograd.grad(got.square().sum(), [orders, *sequence.parameters()])
    wants = torch.autograd.grad(want.square().sum(), [orders, *sequence.parameters()])
    for g, w in zip(grads, wants, strict=True):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-4)


def test_dropout_keeps_one_minus_p_scaled_and_follows_torchs_seed():
    x = torch.ones(200_000)
    torch.manual_seed(5)
    first = dropout(x, 0.25)
    kept = first > 0
    assert abs(float(kept.float().mean()) - 0.75) < 0.01
    torch.testing.assert_close(first[kept], torch.full_like(first[kept], 1 / 0.75))
    torch.manual_seed(5)
    assert torch.equal(dropout(x, 0.25), first)  # a function of torch's seed
    assert not torch.equal(dropout(x, 0.25), first)  # and a fresh mask each call
    assert dropout(x, 0.25, training=False) is x and dropout(x, 0.0) is x
    # The gradient flows through the kept elements only, scaled alike.
    leaf = torch.ones(1000, requires_grad=True)
    out = dropout(leaf, 0.5)
    out.sum().backward()
    assert torch.equal(leaf.grad, out.detach())


def test_gru_recurrence_backward_passes_gradcheck():
    from basketcli_models.neural.recurrence import GRURecurrence

    gen = torch.Generator().manual_seed(0)
    gates_in = torch.randn(4, 3, 6, dtype=torch.double, generator=gen, requires_grad=True)
    weight = torch.randn(6, 2, dtype=torch.double, generator=gen, requires_grad=True)
    bias = torch.randn(6, dtype=torch.double, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(GRURecurrence.apply, (gates_in, weight, bias))
    one_step = gates_in[:1].detach().requires_grad_()
    assert torch.autograd.gradcheck(GRURecurrence.apply, (one_step, weight, bias))
