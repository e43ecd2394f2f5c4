"""What differs between the ranks of one training run, for the trainer and the evaluation.

Collectives with one-line errors (``from_main``, ``gather_from_all``), each rank's shard of an
epoch, its random stream, loss sums, the DistributedDataParallel wrapper and the averaging of
sparse gradients. Every function is a plain call without a process group (``active()``
false), so single-process code needs no branch. Importing this module imports no torch.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from basketcli.errors import BasketError, ConfigError, ReportedElsewhere
from basketcli.protocol import FitContext

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


class ReportedOnMain(ReportedElsewhere):
    """Rank 0 failed with an error it reports itself; the other ranks stop quietly."""


class RankFailed(BasketError):
    """Another rank failed; rank 0 reports its error."""


def active() -> bool:
    """A process group is up (torch not even imported means none is)."""
    if "torch" not in sys.modules:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def is_main() -> bool:
    if not active():
        return True
    import torch.distributed as dist

    return dist.get_rank() == 0


def gather_from_all(compute: Callable[[], T]) -> list[T]:
    """``compute()`` on every rank; every rank gets all the results, in rank order
    (``[compute()]`` without a group). Results travel pickled: keep them small.

    A failure on any rank stops every rank at this point: rank 0 raises it (its own error as
    it is, another rank's as a one-line error naming the rank) and the other ranks raise
    ReportedOnMain, or their own error when it is not an expected one (a bug keeps its
    traceback).
    """
    if not active():
        return [compute()]
    import torch.distributed as dist

    rank = dist.get_rank()
    failure: Exception | None = None
    try:
        mine: tuple[str, Any] = ("ok", compute())
    except Exception as exc:
        failure = exc
        mine = ("error", exc.message if isinstance(exc, BasketError) else f"failed: {exc!r}")
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, mine)
    failed = [(r, value) for r, (kind, value) in enumerate(gathered) if kind == "error"]
    if not failed:
        return [value for _, value in gathered]
    if failure is not None and (rank == 0 or not isinstance(failure, BasketError)):
        raise failure
    if rank == 0:
        other, message = failed[0]
        raise RankFailed(f"rank {other}: {message}")
    raise ReportedOnMain(failed[0][1])


def from_main(compute: Callable[[], T]) -> T:
    """``compute()`` on rank 0 and its result on every rank (a plain call without a group).

    An error on rank 0 is raised there as it is and as ReportedOnMain on the others, so every
    rank stops at the same point (none waits for a rank that is gone) and only rank 0 reports
    it.
    """
    if not active():
        return compute()
    import torch.distributed as dist

    box: list[Any] = [None]
    if dist.get_rank() == 0:
        try:
            box[0] = ("ok", compute())
        except Exception as exc:
            message = exc.message if isinstance(exc, BasketError) else f"rank 0 failed: {exc!r}"
            dist.broadcast_object_list([("error", message)], src=0)
            raise
    dist.broadcast_object_list(box, src=0)
    kind, value = box[0]
    if kind == "error":
        raise ReportedOnMain(value)
    return value


class Ranks:
    """The trainer's view of the ranks: one rank (everything a no-op) unless distributed."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.rank, self.size = 0, 1
        if enabled:
            if not active():
                raise ConfigError("distributed training needs the ranks' process group; run "
                                  "'basket train --distributed' under torchrun")
            import torch.distributed as dist

            self.rank, self.size = dist.get_rank(), dist.get_world_size()

    @classmethod
    def of(cls, ctx: FitContext) -> Ranks:
        return cls(bool(ctx.distributed))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard_size(self, n_examples: int) -> int:
        return -(-n_examples // self.size)

    def shard(self, order: np.ndarray) -> np.ndarray:
        """This rank's share of an epoch's example order: every size-th example from its rank
        on, the order wrapped around so that every rank gets as many (as torch's
        DistributedSampler does)."""
        if self.size == 1:
            return order
        padded = np.resize(order, self.shard_size(len(order)) * self.size)
        return padded[self.rank::self.size]

    def seed_epoch(self, seed: int, epoch: int) -> None:
        """Dropout and sampled negatives draw from a stream fixed by (seed, epoch, rank): ranks
        draw independently, and a resumed run draws what an uninterrupted one would."""
        if self.enabled:
            import torch

            torch.manual_seed(int(np.random.default_rng([seed, epoch, self.rank]).integers(2**62)))

    def sum(self, total: torch.Tensor, rows: int) -> tuple[torch.Tensor, int]:
        """(loss sum, rows) over every rank's shard."""
        if not self.enabled:
            return total, rows
        import torch
        import torch.distributed as dist

        both = torch.stack([total.detach().double(), torch.tensor(float(rows), dtype=torch.double,
                                                                  device=total.device)])
        dist.all_reduce(both)
        return both[0].to(total.dtype), int(both[1].item())

    def average_sparse_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Average the sparse gradients of ``params`` (left out of DDP) over the ranks."""
        if self.enabled and params:
            averaged = average_sparse([param.grad for param in params], params)
            for param, grad in zip(params, averaged, strict=True):
                param.grad = grad

    def synchronised(self, module: torch.nn.Module, device: torch.device,
                     sparse: list[torch.nn.Parameter]):
        """A context in which ``module``'s gradients are averaged over the ranks (``sparse``:
        its tables with sparse gradients, averaged by ``average_sparse_gradients``)."""
        return data_parallel(module, device, sparse) if self.enabled else nullcontext()


@contextmanager
def data_parallel(module: torch.nn.Module, device: torch.device,
                  sparse_params: list[torch.nn.Parameter]) -> Iterator[None]:
    """Route ``module``'s training calls through DistributedDataParallel while inside.

    A model's batch loss calls its own network, not a wrapper; so the network's ``forward`` is
    pointed at the DDP wrapper, which calls the real forward back. Calls in eval mode or
    without gradients (validation, scoring) skip DDP: they need no gradient averaging, and
    rank 0 makes them alone.

    Tables with sparse gradients (``sparse_params``) are left out of DDP, which would need them
    dense (a whole catalog-sized table sent every step): the trainer averages their touched
    rows itself (``Ranks.average_sparse_gradients``).
    """
    import torch
    from torch.nn.parallel import DistributedDataParallel

    sparse = {id(param) for param in sparse_params}
    ignored = [name for name, param in module.named_parameters() if id(param) in sparse]
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(module, ignored)
    # Every rank starts from rank 0's weights (DDP broadcasts the others here).
    with torch.no_grad():
        for param in sparse_params:
            torch.distributed.broadcast(param.data, src=0)
    # Gradients live in DDP's buckets (no copy into them and back each step).
    wrapper = DistributedDataParallel(
        module, device_ids=[device.index] if device.type == "cuda" else None,
        gradient_as_bucket_view=True)
    real_forward = module.forward
    inside = [False]

    def forward(*args: Any, **kwargs: Any) -> Any:
        if inside[0] or not (module.training and torch.is_grad_enabled()):
            return real_forward(*args, **kwargs)
        inside[0] = True
        try:
            return wrapper(*args, **kwargs)
        finally:
            inside[0] = False

    module.forward = forward  # an instance attribute, shadowing the class's method
    try:
        yield
    finally:
        del module.forward
        _forget_ignored(module)


def _forget_ignored(module: torch.nn.Module) -> None:
    """Undo ``_set_params_and_buffers_to_ignore_for_model`` (it marks the module in place)."""
    if hasattr(module, "_ddp_params_and_buffers_to_ignore"):
        del module._ddp_params_and_buffers_to_ignore
    for param in module.parameters():
        if hasattr(param, "_ddp_ignored"):
            del param._ddp_ignored


def average_sparse(grads: list[torch.Tensor | None], like: list[torch.Tensor]
                   ) -> list[torch.Tensor]:
    """The means over the ranks of sparse gradients, one per table of ``like`` (None: no row
    of that table touched here).

    Each rank sends its touched rows and their gradients; every rank concatenates them in
    rank order, so all get the same tensors (the optimiser sums duplicate rows when it
    coalesces) and the tables stay identical on every rank. Two collectives per step whatever
    the number of tables (each costs about a millisecond of latency over gloo): the row counts,
    then every table's rows and values packed into one byte buffer per rank, padded to the
    longest.
    """
    import torch
    import torch.distributed as dist

    world = dist.get_world_size()
    parts = []
    for grad, table in zip(grads, like, strict=True):
        if grad is None:
            rows = torch.zeros(0, dtype=torch.long, device=table.device)
            values = table.new_zeros((0, *table.shape[1:]))
        else:
            grad = grad.coalesce()
            rows, values = grad.indices()[0], grad.values()
        parts.append((rows, values.contiguous()))
    device = like[0].device
    count = torch.tensor([len(rows) for rows, _ in parts], device=device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    sizes = torch.stack(counts).tolist()  # [rank][table]
    longest = [max(column) for column in zip(*sizes, strict=True)]
    segments = []  # (dtype, shape) of each packed piece, in order
    for (rows, values), n in zip(parts, longest, strict=True):
        segments += [(rows.dtype, (n,)), (values.dtype, (n, *values.shape[1:]))]
    buffer = _pack([piece for pair in parts for piece in pair], segments, device)
    gathered = [torch.empty_like(buffer) for _ in range(world)]
    dist.all_gather(gathered, buffer)
    unpacked = [_unpack(b, segments) for b in gathered]
    out = []
    for t, table in enumerate(like):
        rows = torch.cat([pieces[2 * t][:sizes[r][t]] for r, pieces in enumerate(unpacked)])
        values = torch.cat([pieces[2 * t + 1][:sizes[r][t]]
                            for r, pieces in enumerate(unpacked)]) / world
        # The rows are the ranks' own gradient rows, in range: no invariant check needed.
        out.append(torch.sparse_coo_tensor(rows.unsqueeze(0), values, table.shape,
                                           check_invariants=False))
    return out


_ALIGN = 8  # bytes: every packed piece starts where any dtype can be viewed


def _nbytes(dtype: torch.dtype, shape: tuple[int, ...]) -> int:
    size = math.prod(shape) * dtype.itemsize
    return -(-size // _ALIGN) * _ALIGN


def _pack(pieces: list[torch.Tensor], segments: list[tuple[Any, tuple[int, ...]]],
          device: Any) -> torch.Tensor:
    """``pieces`` (each at most its segment's length) as one uint8 buffer laid out by
    ``segments``, zero padded."""
    import torch

    buffer = torch.zeros(sum(_nbytes(d, s) for d, s in segments), dtype=torch.uint8,
                         device=device)
    offset = 0
    for piece, (dtype, shape) in zip(pieces, segments, strict=True):
        data = piece.reshape(-1).view(torch.uint8)
        buffer[offset:offset + len(data)] = data
        offset += _nbytes(dtype, shape)
    return buffer


def _unpack(buffer: torch.Tensor, segments: list[tuple[Any, tuple[int, ...]]]
            ) -> list[torch.Tensor]:
    """The pieces of a buffer ``_pack`` laid out by ``segments`` (views, no copies)."""
    pieces, offset = [], 0
    for dtype, shape in segments:
        size = math.prod(shape) * dtype.itemsize
        pieces.append(buffer[offset:offset + size].view(dtype).view(shape))
        offset += _nbytes(dtype, shape)
    return pieces
