"""Data-parallel training across processes (torchrun), without DistributedDataParallel's wrapper.

Launched by ``torchrun --nproc_per_node N -m pushseg finetune ...`` (or
``pretrain``), every process reads ``RANK``/``WORLD_SIZE`` from the environment and
joins one process group (gloo on CPU, NCCL on GPUs). What makes N processes train
like one process with the same global batch:

* every rank draws the *whole* global batch from the same seeded stream and renders
  only its share, samples ``rank, rank + N, rank + 2N, ...`` (so positives and
  negatives split evenly);
* gradients are all-reduced and divided by N after each backward; with per-rank
  losses that are means over equal shares this is the gradient of the global mean;
* whatever ranks samples (small-loss, co-teaching) sees the gathered global batch;
* dropout draws its noise for the global batch and keeps the rank's rows
  (:class:`ShardedDropout`), so each sample gets the mask one process would give it;
* rank 0 alone writes ``last.pt``, ``train_log.json`` and ``model.pt``.

Batch-norm layers that train (pretraining) normalise with per-rank statistics, as in
plain DDP, and their running statistics are averaged across ranks after each step;
fine-tuning keeps them frozen, so there the match with one process is exact up to
floating-point summation order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from pushseg.errors import InputError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise InputError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number; launch with torchrun") from None


def init_distributed(device_type: str = "cpu") -> DistContext:
    """Join the process group torchrun describes in the environment (no-op for one process)."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    world = env_world_size()
    if world <= 1:
        return DistContext()
    if not dist.is_available():
        raise InputError("this torch build has no torch.distributed; train with one process")
    backend = "nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=timedelta(minutes=30))
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a process group (for writing files and printing)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def average_gradients(params: list[nn.Parameter], ctx: DistContext) -> None:
    """All-reduce the gradients of ``params`` (one flat buffer per dtype) and divide by the world size."""
    if not ctx.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for g in grads:
        by_dtype.setdefault(g.dtype, []).append(g)
    for group in by_dtype.values():
        flat = torch.cat([g.reshape(-1) for g in group])
        dist.all_reduce(flat)
        flat /= ctx.world
        offset = 0
        for g in group:
            n = g.numel()
            g.copy_(flat[offset:offset + n].view_as(g))
            offset += n


def average_buffers(model: nn.Module, ctx: DistContext) -> None:
    """Average floating-point buffers (batch-norm running statistics) across ranks."""
    if not ctx.enabled:
        return
    for b in model.buffers():
        if b.is_floating_point():
            dist.all_reduce(b)
            b /= ctx.world


def broadcast_state(model: nn.Module, ctx: DistContext) -> None:
    """Make every rank start from rank 0's weights and buffers."""
    if not ctx.enabled:
        return
    for t in list(model.parameters()) + list(model.buffers()):
        dist.broadcast(t.data, 0)


def gather_batch(t: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Local (B/N, ...) rows of samples ``rank::N`` -> the global (B, ...) tensor in sample order."""
    if not ctx.enabled:
        return t
    parts = [torch.empty_like(t) for _ in range(ctx.world)]
    dist.all_gather(parts, t.contiguous())
    return torch.stack(parts, 1).reshape(-1, *t.shape[1:])


def local_rows(t: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The rows of a global-batch tensor that belong to this rank."""
    return t[ctx.rank::ctx.world] if ctx.enabled else t


def reduce_stats(stats: dict[str, float], ctx: DistContext, sums: tuple[str, ...] = ("ignored",),
                 device: torch.device | str = "cpu") -> dict[str, float]:
    """Per-rank step statistics -> global: ``sums`` are added, the rest averaged over ranks that have a number
    (a rank without positives has no mask IoU); a non-finite ``loss`` on any rank stays non-finite."""
    if not ctx.enabled:
        return stats
    keys = sorted(stats)
    vals = torch.tensor([stats[k] for k in keys], dtype=torch.float64, device=device)
    finite = torch.isfinite(vals) | torch.tensor([k == "loss" for k in keys], device=device)
    both = torch.stack([torch.where(finite, vals, torch.zeros_like(vals)), finite.double()])
    dist.all_reduce(both)
    out = {}
    for i, k in enumerate(keys):
        total, n = both[0, i].item(), both[1, i].item()
        out[k] = total if k in sums else (total / n if n else float("nan"))
    return {k: out[k] for k in stats}


class ShardedDropout(nn.Dropout):
    """Dropout whose noise is drawn for the global batch (same generator calls as one process); keeps this rank's rows."""

    def __init__(self, p: float, ctx: DistContext) -> None:
        super().__init__(p)
        self.ctx = ctx

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return F.dropout(x, 1.0, True)
        noise = torch.empty((x.shape[0] * self.ctx.world, *x.shape[1:]), dtype=x.dtype, device=x.device)
        noise.bernoulli_(1 - self.p).div_(1 - self.p)
        return x * noise[self.ctx.rank::self.ctx.world]


def shard_dropout(model: nn.Module, ctx: DistContext) -> None:
    """Replace every ``nn.Dropout`` of ``model`` by a :class:`ShardedDropout` (no parameters change)."""
    if not ctx.enabled:
        return
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if type(child) is nn.Dropout:
                setattr(module, child_name, ShardedDropout(child.p, ctx))
