"""One GRU layer's recurrence as a single autograd function with a hand-written backward.

Left to autograd, each step of the recurrence records a dozen small operations, and its
backward splits and concatenates the gate gradients and multiplies by the recurrent weights
once per step for their gradient. Here the backward writes the gate gradients of every step
into one buffer and takes the recurrent weights' gradient with one matrix product per gate
over all steps. Tensors are time-major (and the gate gradients gate-major), so each step writes
contiguous blocks: writes into strided slices were several times slower. The equations
are ``nn.GRU``'s (gates in the order r, z, n):

    r = sigmoid(i_r + h_r)    z = sigmoid(i_z + h_z)    n = tanh(i_n + r * h_n)
    h' = (1 - z) * n + z * h

with ``i = W_ih x + b_ih`` given for every step and ``h_* = W_hh h + b_hh``.
"""

from __future__ import annotations

import torch
from torch.autograd.function import FunctionCtx, once_differentiable


class GRURecurrence(torch.autograd.Function):
    """(gates_in (T, B, 3H), weight_hh (3H, H), bias_hh (3H)) -> states (T, B, H), the layer's
    output at every step, starting from a zero state."""

    @staticmethod
    def forward(ctx: FunctionCtx, gates_in: torch.Tensor, weight_hh: torch.Tensor,
                bias_hh: torch.Tensor) -> torch.Tensor:
        steps, batch, width = gates_in.shape
        hidden = width // 3
        states = gates_in.new_empty((steps, batch, hidden))
        gates, news, recurrent_n = [], [], []
        for step in range(steps):
            step_in = gates_in[step]
            # The first step's state is zero, so its recurrent term is the bias.
            step_h = (bias_hh.expand(batch, width) if step == 0
                      else torch.addmm(bias_hh, states[step - 1], weight_hh.t()))
            reset_update = torch.add(step_in[:, :2 * hidden], step_h[:, :2 * hidden]).sigmoid_()
            reset, update = reset_update[:, :hidden], reset_update[:, hidden:]
            new = torch.addcmul(step_in[:, 2 * hidden:], reset, step_h[:, 2 * hidden:]).tanh_()
            if step == 0:
                torch.mul(new, 1 - update, out=states[0])
            else:
                torch.lerp(new, states[step - 1], update, out=states[step])
            gates.append(reset_update)
            news.append(new)
            recurrent_n.append(step_h[:, 2 * hidden:])
        ctx.save_for_backward(weight_hh, states)
        ctx.intermediates = (gates, news, recurrent_n)  # type: ignore[attr-defined]
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_states: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        weight_hh, states = ctx.saved_tensors  # type: ignore[attr-defined]
        gates, news, recurrent_n = ctx.intermediates  # type: ignore[attr-defined]
        steps, batch, hidden = states.shape
        weight_r, weight_z, weight_n = weight_hh.split(hidden)
        # Gate-major per step, so that every gate's gradient is one contiguous block.
        grad_gates = grad_states.new_empty((steps, 3, batch, hidden))
        grad_hn = grad_states.new_empty((steps, batch, hidden))  # of W_hn h + b_hn
        carry = None  # the loss's gradient w.r.t. the state after the current step
        for step in reversed(range(steps)):
            grad = grad_states[step] if carry is None else grad_states[step] + carry
            reset, update = gates[step][:, :hidden], gates[step][:, hidden:]
            new = news[step]
            grad_r, grad_z, grad_n = grad_gates[step]
            # h' = n + z * (h - n): through n (tanh), through z (sigmoid), and directly.
            torch.mul(grad, 1 - update, out=grad_n).mul_(1 - new * new)
            state_minus_new = states[step - 1] - new if step else new.neg()  # h is 0 at first
            torch.mul(grad, state_minus_new, out=grad_z).mul_(update - update * update)
            torch.mul(grad_n, recurrent_n[step], out=grad_r).mul_(reset - reset * reset)
            torch.mul(grad_n, reset, out=grad_hn[step])
            if step:
                carry = torch.addmm(grad * update, grad_r, weight_r)
                carry.addmm_(grad_z, weight_z).addmm_(grad_hn[step], weight_n)
        # The recurrent weights met state t - 1 at step t (the zero state at step 0).
        previous = states[:-1].reshape(-1, hidden)
        grad_weight = torch.cat([
            grad_gates[1:, 0].reshape(-1, hidden).t() @ previous,
            grad_gates[1:, 1].reshape(-1, hidden).t() @ previous,
            grad_hn[1:].reshape(-1, hidden).t() @ previous,
        ])
        grad_bias = torch.cat([grad_gates[:, :2].sum(dim=(0, 2)).reshape(-1),
                               grad_hn.sum(dim=(0, 1))])
        grad_in = grad_gates.permute(0, 2, 1, 3).reshape(steps, batch, 3 * hidden)
        return grad_in, grad_weight, grad_bias
