"""Training on many processes under PyTorch's own launcher (``torchrun``), and on any device.

We build no process manager: ``torchrun --nproc-per-node N -m facenet2expnet train ...`` (or
``train --nproc N``, which calls torch's launcher) starts the processes and sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; ``Dist.start`` joins them into one process group (gloo on CPU,
nccl on CUDA) when the run begins, never at import time or in a constructor.

Two ways to use the processes (``TrainConfig.parallel``):

* ``data``: one model, ``DistributedDataParallel``. Every rank draws the same global batch and its
  augmentation from the same seeded generator, then trains on its contiguous share of it; each
  rank's loss is weighted by its share, so the averaged gradient is the global batch's. With
  ``sync_bn`` (``DistBatchNorm``, which also works on CPU) a 2-process run matches a 1-process run
  of the same global batch. Checkpoints, metrics and reports are written by rank 0 only.
* ``folds``: rank r trains folds i with i % world_size == r, with no gradient sync; rank 0 merges
  the per-fold results into one report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from ..devices import resolve_device


def launch_command(nproc: int, python: str | None = None) -> list[str]:
    """The command that starts ``python -m facenet2expnet`` ``nproc`` times through torch's launcher (one process:
    no launcher). Append the CLI arguments."""
    import sys

    python = python or sys.executable
    if nproc <= 1:
        return [python, "-m", "facenet2expnet"]
    return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m", "facenet2expnet"]


@dataclass
class Dist:
    """Where this process stands: its rank among ``world`` processes and its device."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    started: bool = False  # whether this object initialized the process group (and so destroys it)

    @classmethod
    def start(cls, device: str = "auto") -> "Dist":
        """Join the process group torchrun describes (a single process when it describes none)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
        dev = resolve_device(device, local_rank)
        d = cls(rank, world, local_rank, dev)
        if world > 1 and not torch.distributed.is_initialized():
            if dev.type == "cuda":
                torch.cuda.set_device(dev)
            torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
            d.started = True
        return d

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1 and torch.distributed.is_initialized()

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (float64)."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        torch.distributed.all_reduce(t)
        return t.tolist()

    def gather(self, obj) -> list:
        """Every rank's ``obj``, in rank order (on every rank)."""
        if not self.active:
            return [obj]
        out = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out

    def share(self, n: int) -> tuple[int, int]:
        """This rank's contiguous share [lo, hi) of a global batch of ``n``."""
        if self.world == 1:
            return 0, n
        bounds = np.linspace(0, n, self.world + 1).round().astype(int)
        return int(bounds[self.rank]), int(bounds[self.rank + 1])

    def local(self) -> "Dist":
        """A one-process view (fold-parallel: each rank trains its folds alone, and writes them)."""
        return Dist(0, 1, 0, self.device)

    def stop(self) -> None:
        if self.started and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


class _GlobalStats:
    """BatchNorm whose training statistics are those of the global batch across all ranks.

    torch's SyncBatchNorm runs on GPUs only; this one all-reduces (differentiably) the per-channel
    sum and then the centred sum of squares, so it runs on CPU with gloo too. On one process it computes
    plain BatchNorm by the same formula. Mixed into BatchNorm1d (the FC head's) and BatchNorm2d (the convs').
    """

    sync = True  # all-reduce the statistics across the ranks of the process group (False: this process's own)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        # one formula on one process and on many (so that their results agree to float rounding)
        if self.sync and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
            from torch.distributed.nn.functional import all_reduce
        else:
            all_reduce = _identity

        dims = [0] + list(range(2, x.dim()))  # every dimension but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)
        n_local = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        s = all_reduce(torch.cat([x.sum(dims), n_local]))  # C sums + the global count
        n = s[-1]
        mean = s[:-1] / n  # C
        var = all_reduce(((x - mean.view(shape)) ** 2).sum(dims)) / n  # biased, as BatchNorm normalizes
        with torch.no_grad():
            self.num_batches_tracked += 1
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(m * mean.detach())
            self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))
        y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape)


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


class DistBatchNorm1d(_GlobalStats, nn.BatchNorm1d):
    pass


class DistBatchNorm2d(_GlobalStats, nn.BatchNorm2d):
    pass


def convert_sync_bn(model: nn.Module, device: torch.device, sync: bool = True) -> nn.Module:
    """BatchNorm -> torch's SyncBatchNorm on CUDA (when ``sync``), else our DistBatchNorm1d/2d (same weights and
    statistics), whose statistics are global across ranks when ``sync`` and this process's own otherwise."""
    if device.type == "cuda" and sync:
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        kind = {nn.BatchNorm1d: DistBatchNorm1d, nn.BatchNorm2d: DistBatchNorm2d}.get(type(child))
        if kind is not None:
            new = kind(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.sync = sync
            setattr(model, name, new)
        else:
            convert_sync_bn(child, device, sync)
    return model


class TrainView(nn.Module):
    """One forward for every training step, so that DistributedDataParallel sees every use of the weights.

    ``forward(x, n_logits)`` -> (features N x C x H x W, logits of the first ``n_logits`` rows or None).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, n_logits: int = 0):
        f = self.model.forward_features(x)
        return f, (self.model.forward_head(f[:n_logits]) if n_logits else None)


def wrap(model: nn.Module, dist: Dist, unused_head: bool) -> nn.Module:
    """The module a stage calls: ``TrainView(model)``, under DDP when several ranks train one model."""
    view = TrainView(model)
    if not dist.active:
        return view
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [dist.device.index] if dist.device.type == "cuda" else None
    # stage 1 never uses the head: its parameters get no gradient, which DDP must be told about
    return DDP(view, device_ids=ids, find_unused_parameters=unused_head)


def weighted(loss: torch.Tensor, n_local: int, n_global: int, world: int) -> torch.Tensor:
    """Scale a rank's mean loss so that DDP's gradient average equals the global batch's mean-loss gradient."""
    return loss * (n_local * world / n_global) if world > 1 else loss


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on ``device`` (CUDA or CPU) where ``enabled`` (``--amp`` resolved by ``devices.resolve_amp``)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


__all__ = [
    "Dist",
    "DistBatchNorm1d",
    "DistBatchNorm2d",
    "TrainView",
    "autocast",
    "convert_sync_bn",
    "weighted",
    "wrap",
]
