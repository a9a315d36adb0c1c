"""The two stages a fold trains, each with its parameters, loss and validation metric: ``Pretrain`` (stage 1:
regress the trunk onto the frozen teacher's features, served by ``TeacherTargets``) and ``Refine`` (stage 2: the
whole net with labels); ``predict_logits`` scores faces as validation and testing do.

Shapes (compact arch, dlib teacher at level2, CK+48):
    images   N x 1 x 48 x 48 uint8           (student input, in memory)
    targets  N x 2 x 128 x 8 x 8 float16     (teacher features of each image and its mirror, memory-mapped)
    trunk    B x 1 x 48 x 48 -> B x 128 x 8 x 8
    head     B x 128 x 8 x 8 -> B x classes
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from ..data.preprocess import Preprocessing
from ..data.protocols import Fold
from ..eval.metrics import accuracy, explained_variance, mean_cosine
from .augment import mixup_pairs, random_affine, random_erasing
from .config import TrainConfig
from .distill import FrozenEnsemble, distillation_loss
from .distributed import Dist
from .labels import LabelTargets
from .methods import METHODS


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)  # ~1.5x faster convolutions on CPU


def normalized(x_uint8: torch.Tensor, pp: Preprocessing) -> torch.Tensor:
    return channels_last(pp.normalize(x_uint8.float()))


def stage1_targets(targets, idx: np.ndarray, mirrored: np.ndarray) -> torch.Tensor:
    """Row ``idx[i]`` of the N x 2 x C x H x W store, view 1 (the mirror) where ``mirrored[i]``: B x C x H x W.

    The memory-mapped store is read in sorted row order (one forward pass over the file), then put
    back in batch order: row ``order[j]`` of the batch is the j-th sorted read.
    """
    order = np.argsort(idx, kind="stable")
    rows = np.empty((len(idx),) + tuple(targets.shape[1:]), dtype=np.float32)
    rows[order] = np.asarray(targets[idx[order]], dtype=np.float32)
    return torch.from_numpy(rows[np.arange(len(idx)), mirrored.astype(np.int64)])


def regression_loss(out: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Stage 1's loss between student features and teacher targets (both B x C x H x W)."""
    if kind == "cosine":  # direction only: 1 - cos per face, averaged
        return 1.0 - F.cosine_similarity(out.flatten(1), target.flatten(1), dim=1, eps=1e-6).mean()
    return F.mse_loss(out, target)  # the paper's L2: the log-likelihood of a Gaussian centred on the teacher


class TeacherTargets:
    """The frozen teacher's features of each training face, served by batch.

    The teacher never runs here: its features were computed once (teachers/cache.py), so it
    cannot receive a gradient or enter an optimizer. Statistics come from the fold's training
    rows only (every 2000th-ish row, both views): the per-position mean map (R²'s baseline) and,
    with ``target_norm = "channel"``, per-channel mean and std that standardize the targets. They
    are read when first needed: a run that refines without stage 1 or the auxiliary loss never reads them.
    """

    def __init__(self, targets, train_idx: np.ndarray, target_norm: str):
        self.store, self.train_idx, self.target_norm = targets, train_idx, target_norm

    @functools.cached_property
    def _stats(self) -> tuple:
        """(position mean C x H x W, channel mean or None, channel std or None)."""
        idx = np.sort(self.train_idx)[:: max(1, len(self.train_idx) // 2000)]
        sample = np.asarray(self.store[idx], dtype=np.float32)  # n x 2 x C x H x W
        if self.target_norm != "channel":
            return sample.mean(axis=(0, 1)), None, None
        mean = torch.from_numpy(sample.mean(axis=(0, 1, 3, 4))).view(1, -1, 1, 1)
        std = torch.from_numpy(sample.std(axis=(0, 1, 3, 4)) + 1e-3).view(1, -1, 1, 1)
        return sample.mean(axis=(0, 1)), mean, std

    @property
    def position_mean(self) -> np.ndarray:
        return self._stats[0]

    def batch(self, idx: np.ndarray, mirrored: np.ndarray) -> torch.Tensor:
        """B x C x H x W targets in the space the student regresses in (standardized or not)."""
        return self.normalize(stage1_targets(self.store, idx, mirrored))

    def normalize(self, t: torch.Tensor) -> torch.Tensor:
        _, mean, std = self._stats
        return t if mean is None else (t - mean) / std

    def raw(self, out: torch.Tensor) -> torch.Tensor:
        """Student output back in the teacher's own units (for R² and cosine)."""
        _, mean, std = self._stats
        return out if mean is None else out * std + mean


class Pretrain:
    """Stage 1: the trunk (everything before the head) regresses onto the teacher tap; no labels."""

    name, selects = "stage1", False

    def __init__(self, cfg: TrainConfig, fold: Fold, images, pp: Preprocessing, teacher: TeacherTargets, dist: Dist):
        self.cfg, self.fold, self.images, self.pp, self.teacher, self.dist = cfg, fold, images, pp, teacher, dist
        self.epochs, self.base_lr = cfg.stage1_epochs, cfg.lr_stage1
        # fidelity on the training faces too (a fixed subsample): train R² near val R² means under-fitting
        self.train_probe = np.sort(fold.train)[:: max(1, len(fold.train) // 1000)]

    def optimizer(self, model) -> torch.optim.Optimizer:
        groups = [{"params": model.trunk_parameters(), "lr_scale": 1.0}]
        if self.cfg.stage1_optimizer == "adam":
            # Adam reaches a much lower stage-1 regression loss in the few epochs a CPU affords (docs/method.md)
            return torch.optim.Adam(groups, lr=self.base_lr)
        return sgd(groups, self.base_lr, self.cfg)

    def loss(self, net, x: torch.Tensor, idx: np.ndarray, mirrored: np.ndarray, gen) -> tuple[torch.Tensor, int, int]:
        """-> (mean loss over this rank's share of the global batch, correct predictions, share size)."""
        lo, hi = self.dist.share(len(idx))  # the whole batch on one process
        # Targets exist for the image and its mirror only, so stage 1 augments by flipping alone.
        target = self.teacher.batch(idx[lo:hi], mirrored[lo:hi]).to(self.dist.device)  # b x C x H x W
        out, _ = net(channels_last(self.pp.normalize(x[lo:hi])), 0)  # b x C x H x W
        return regression_loss(out.float(), target, self.cfg.stage1_loss), 0, hi - lo

    @torch.no_grad()
    def fidelity(self, model, idx: np.ndarray) -> dict:
        """MSE (in the regression space), R² and cosine (in the teacher's units) on the unmirrored faces ``idx``."""
        model.eval()
        idx = np.sort(idx)
        target = torch.from_numpy(np.asarray(self.teacher.store[idx, 0], dtype=np.float32))  # n x C x H x W
        batches = [self.images[idx[i : i + 256]].to(self.dist.device) for i in range(0, len(idx), 256)]
        out = torch.cat([model.forward_features(normalized(b, self.pp)).float().cpu() for b in batches])
        raw = self.teacher.raw(out).numpy()
        return {
            "loss": F.mse_loss(out, self.teacher.normalize(target)).item(),
            "r2": explained_variance(raw, target.numpy(), self.teacher.position_mean),
            "cos": mean_cosine(raw, target.numpy()),
        }

    def validate(self, model) -> dict:
        row = {}
        if len(self.fold.val):
            v = self.fidelity(model, self.fold.val)
            row.update(val_loss=v["loss"], val_r2=v["r2"], val_cos=v["cos"])
        t = self.fidelity(model, self.train_probe)
        row.update(train_r2=t["r2"], train_cos=t["cos"])
        return row


class Refine:
    """Stage 2 (and the only stage of scratch/finetune): classify with the expression labels."""

    name, selects = "stage2", True

    def __init__(
        self,
        cfg: TrainConfig,
        fold: Fold,
        images,
        labels: np.ndarray,
        pp: Preprocessing,
        teacher: TeacherTargets | None,
        dist: Dist,
        ensemble: FrozenEnsemble | None = None,
        votes: np.ndarray | None = None,
    ):
        self.cfg, self.fold, self.images, self.labels, self.pp, self.dist = cfg, fold, images, labels, pp, dist
        self.y = torch.from_numpy(labels)
        self.targets = LabelTargets(labels, cfg.label_mode, votes)  # what the loss trains against (train/labels.py)
        self.epochs, self.base_lr = cfg.stage2_epochs, cfg.lr_stage2
        self.teacher = teacher if cfg.aux_weight > 0 else None  # our extension: keep regressing onto the teacher
        self.ensemble = ensemble  # our extension: frozen nets of ours to distil from (never in the optimizer)
        self.train_counts = np.bincount(labels[fold.train]) if len(fold.train) else np.zeros(0, np.int64)

    def optimizer(self, model) -> torch.optim.Optimizer:
        cfg, field = self.cfg, METHODS[self.cfg.method].pretrained_lr_field
        if field:
            # pre-trained layers (the face net's, or stage 1's) may move more slowly than the new head
            scale = getattr(cfg, field)
            groups = [
                {"params": model.trunk_parameters(), "lr_scale": scale},
                {"params": list(model.head.parameters()), "lr_scale": 1.0},
            ]
        else:
            groups = [{"params": list(model.parameters()), "lr_scale": 1.0}]
        return sgd(groups, self.base_lr, cfg)

    def loss(self, net, x: torch.Tensor, idx: np.ndarray, mirrored: np.ndarray, gen) -> tuple[torch.Tensor, int, int]:
        """-> (mean loss over this rank's share of the global batch, correct predictions, share size).

        Augmentation is drawn for the whole global batch (every rank draws the same numbers, so a
        face is augmented as it would be on one process), then each rank takes its share.
        """
        cfg, dev = self.cfg, self.dist.device
        lo, hi = self.dist.share(len(idx))
        x_flipped = x[lo:hi]  # b x C x S x S, 0..255: what the teacher's cached targets describe
        if cfg.augment:
            x = random_affine(x, gen, cfg.rotation_deg, cfg.shift, (cfg.scale_min, cfg.scale_max))
        if cfg.erasing > 0:
            x = random_erasing(x, gen, cfg.erasing)
        y = self.y[idx].to(dev)  # majority labels: what accuracy counts
        t = self.targets.batch(idx, gen).to(dev)  # the loss's target: B labels or B x K vote shares
        t2, lam = t, 1.0
        if cfg.mixup > 0:  # convex pairs of faces and of their labels
            x, perm, lam = mixup_pairs(x, gen, cfg.mixup)
            t2 = t[perm.to(dev)]
        x, y, t, t2 = x[lo:hi], y[lo:hi], t[lo:hi], t2[lo:hi]
        if self.teacher is None:
            _, logits = net(channels_last(self.pp.normalize(x)), hi - lo)  # b x classes
        else:  # one trunk pass over the augmented faces and the plain (flipped) ones, whose targets are cached
            feats, logits = net(channels_last(self.pp.normalize(torch.cat([x, x_flipped]))), hi - lo)
        logits = logits.float()
        fit = logits + self.logit_adjustment(logits.shape[1]).to(dev) if cfg.logit_adjust else logits
        loss = F.cross_entropy(fit, t, label_smoothing=cfg.label_smoothing)
        if lam < 1.0:
            loss = lam * loss + (1 - lam) * F.cross_entropy(fit, t2, label_smoothing=cfg.label_smoothing)
        if self.ensemble is not None:  # the teachers see the same augmented faces: b x classes, no gradient
            soft = distillation_loss(logits, self.ensemble.logits(x), cfg.distill_temperature)
            loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * soft
        if self.teacher is not None:
            target = self.teacher.batch(idx[lo:hi], mirrored[lo:hi]).to(dev)
            loss = loss + cfg.aux_weight * regression_loss(feats[hi - lo :].float(), target, cfg.stage1_loss)
        return loss, int((logits.argmax(1) == y).sum()), hi - lo

    def logit_adjustment(self, k: int) -> torch.Tensor:
        """tau * log(prior) per class (K,): each class's share of the training faces (one face added to every
        count, so a class without faces gets a finite, very negative term)."""
        counts = np.zeros(k) + 1.0
        counts[: len(self.train_counts)] += self.train_counts[:k]
        return torch.from_numpy(self.cfg.logit_adjust * np.log(counts / counts.sum())).float()

    def validate(self, model) -> dict:
        if not len(self.fold.val):
            return {}
        logits = predict_logits(model, self.images, self.fold.val, self.pp)
        return {
            "val_loss": F.cross_entropy(logits, self.y[self.fold.val]).item(),
            "val_acc": accuracy(self.labels[self.fold.val], logits.argmax(1).numpy()),
        }


def sgd(groups, lr: float, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True)


@torch.no_grad()
def predict_logits(
    model, images: torch.Tensor, idx: np.ndarray, pp: Preprocessing, batch_size: int = 256
) -> torch.Tensor:
    """Logits of ``images[idx]`` (N x classes); with ``pp.test_flip``, the mean of each face's and its mirror's."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(idx), batch_size):
        x = normalized(images[idx[i : i + batch_size]].to(device), pp)  # B x C x S x S
        logits = model(x).float()
        if pp.test_flip:  # faces are left-right symmetric up to expression asymmetries: a second look for free
            logits = 0.5 * (logits + model(channels_last(x.flip(3))).float())
        out.append(logits.cpu())
    return torch.cat(out) if out else torch.zeros(0)
