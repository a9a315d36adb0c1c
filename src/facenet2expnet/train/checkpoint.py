"""Checkpoint and resume of one fold's training, in one place.

``folds/fold_XX/last.pt`` holds where training stands (stage, epoch, metrics so far, the best
validation epoch), the model and optimizer states and both random generators, so that a killed
run resumes to the same final state as an unbroken one. ``metrics.csv`` is written before it
(the CSV then holds every epoch that the checkpoint holds). Writes are atomic.
"""

from __future__ import annotations

import io
import os

import torch

from ..files import atomic_write_bytes, atomic_write_csv


class TrainState:
    """Where one fold's training stands; under data-parallel training only rank 0 writes it, every rank reads it."""

    def __init__(self, fold_dir: str, metric_fields: list[str], dist=None):
        from .distributed import Dist

        self.fold_dir, self.metric_fields, self.dist = fold_dir, metric_fields, dist or Dist()
        self.path = os.path.join(fold_dir, "last.pt")
        self.stage_index, self.epoch = 0, 0  # the next epoch to run is `epoch` of stage `stage_index`
        self.metrics: list[dict] = []
        self.best_val_acc, self.best_val_loss, self.best_epoch = -1.0, float("inf"), -1
        self._opt_state = None
        self._saved_epochs = 0  # epochs checkpointed by this invocation

    # ---- resume
    def load(self, model, gen: torch.Generator) -> bool:
        """Restore from last.pt if there is one: -> True when it did."""
        if not os.path.exists(self.path):
            return False
        saved = torch.load(self.path, map_location="cpu", weights_only=True)  # tensors and plain containers only
        model.load_state_dict(saved["model"])
        gen.set_state(saved["generator"])  # the batch and augmentation generator: the same on every rank
        # dropout draws from each rank's global generator: one state per rank (one alone in older checkpoints)
        rngs = saved["torch_rng"] if isinstance(saved["torch_rng"], list) else [saved["torch_rng"]]
        torch.set_rng_state(rngs[self.dist.rank] if len(rngs) == self.dist.world else rngs[0])
        self._opt_state = saved["optimizer"]
        for k in ("stage_index", "epoch", "metrics", "best_val_acc", "best_epoch", "best_val_loss"):
            setattr(self, k, saved[k])
        return True

    def start_epoch(self, si: int, opt: torch.optim.Optimizer) -> int:
        """First epoch to run of stage ``si``; restores the optimizer when resuming inside that stage."""
        if si != self.stage_index:
            return 0
        if self._opt_state and self.epoch > 0:
            opt.load_state_dict(self._opt_state)
        self._opt_state = None
        return self.epoch

    # ---- model selection: validation accuracy, ties broken by lower validation loss; last epoch without validation
    def is_best(self, row: dict, epoch: int) -> bool:
        va = row["val_acc"] if row.get("val_acc", "") != "" else epoch
        vl = row["val_loss"] if row.get("val_loss", "") != "" else 0.0
        if va > self.best_val_acc or (va == self.best_val_acc and vl < self.best_val_loss):
            self.best_val_acc, self.best_val_loss, self.best_epoch = va, vl, epoch + 1
            return True
        return False

    # ---- save
    def end_epoch(self, si: int, row: dict, model, opt, gen: torch.Generator) -> None:
        self.metrics.append(row)
        self.stage_index, self.epoch = si, row["epoch"]
        if self.dist.is_main:
            atomic_write_csv(os.path.join(self.fold_dir, "metrics.csv"), self.metrics, self.metric_fields)
        self._save(model, opt.state_dict(), gen)
        self._saved_epochs += 1
        if self._saved_epochs == int(os.environ.get("FN2EN_FAULT_AFTER_EPOCHS", "0")):
            # a failpoint for resume tests (e.g. under torchrun, where a test cannot time a kill): stop as a kill would,
            # right after the checkpoint of that many epochs of this invocation
            raise SystemExit(
                f"FN2EN_FAULT_AFTER_EPOCHS={self._saved_epochs}: stopping after the checkpoint, as if killed"
            )

    def end_stage(self, si: int, model, gen: torch.Generator) -> None:
        """The stage is over: the checkpoint must not resume into it again."""
        self.stage_index, self.epoch = si + 1, 0
        self._save(model, {}, gen)

    def _save(self, model, opt_state: dict, gen: torch.Generator) -> None:
        rngs = self.dist.gather(torch.get_rng_state())  # a collective: every rank takes part, rank 0 writes
        if not self.dist.is_main:
            return
        state = {
            "stage_index": self.stage_index,
            "epoch": self.epoch,
            "metrics": self.metrics,
            "best_val_acc": self.best_val_acc,
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss,
            "model": model.state_dict(),
            "optimizer": opt_state,
            "generator": gen.get_state(),
            "torch_rng": rngs,
        }
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(self.path, buf.getvalue())  # a kill mid-write leaves the previous checkpoint intact
