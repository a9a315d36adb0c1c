"""Training one fold: stage 1 (regress the trunk onto the frozen teacher), stage 2 (refine with labels).

Read top to bottom:

* ``TeacherTargets`` serves the frozen teacher's cached features of a batch (and their statistics);
* ``Pretrain`` and ``Refine`` are the two stages, each with its parameters, loss and validation metric;
* ``run_stage`` is the one epoch loop that drives either stage: learning-rate schedule, shuffled
  batches, validation (never the test fold), model selection and the per-epoch checkpoint;
* ``train_fold`` builds the model, runs the stages the method needs, and tests the epoch with the
  best *validation* accuracy once on the test fold.

Shapes (compact arch, dlib teacher at level2, CK+48):
    images   N x 1 x 48 x 48 uint8           (student input, in memory)
    targets  N x 2 x 128 x 8 x 8 float16     (teacher features of each image and its mirror, memory-mapped)
    trunk    B x 1 x 48 x 48 -> B x 128 x 8 x 8
    head     B x 128 x 8 x 8 -> B x classes
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from ..data.preprocess import Preprocessing
from ..data.protocols import Fold
from ..devices import resolve_amp
from ..errors import FaceNet2ExpNetError
from ..eval.metrics import accuracy, explained_variance, mean_cosine
from ..files import atomic_write_csv, atomic_write_json
from ..models.registry import load_checkpoint, save_checkpoint
from .augment import flip, mixup_pairs, random_affine, random_erasing, random_flips
from .checkpoint import TrainState
from .config import TrainConfig
from .distill import FrozenEnsemble, distillation_loss
from .distributed import Dist, autocast, convert_sync_bn, weighted, wrap
from .labels import LabelTargets
from .methods import METHODS

METRIC_FIELDS = [
    "fold",
    "stage",
    "epoch",
    "lr",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_r2",
    "val_cos",
    "train_r2",
    "train_cos",
    "seconds",
]


class TrainingDivergedError(FaceNet2ExpNetError):
    pass


def _cl(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)  # ~1.5x faster convolutions on CPU


def _normalized(x_uint8: torch.Tensor, pp: Preprocessing) -> torch.Tensor:
    return _cl(pp.normalize(x_uint8.float()))


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
        return _sgd(groups, self.base_lr, self.cfg)

    def loss(self, net, x: torch.Tensor, idx: np.ndarray, mirrored: np.ndarray, gen) -> tuple[torch.Tensor, int, int]:
        """-> (mean loss over this rank's share of the global batch, correct predictions, share size)."""
        lo, hi = self.dist.share(len(idx))  # the whole batch on one process
        # Targets exist for the image and its mirror only, so stage 1 augments by flipping alone.
        target = self.teacher.batch(idx[lo:hi], mirrored[lo:hi]).to(self.dist.device)  # b x C x H x W
        out, _ = net(_cl(self.pp.normalize(x[lo:hi])), 0)  # b x C x H x W
        return regression_loss(out.float(), target, self.cfg.stage1_loss), 0, hi - lo

    @torch.no_grad()
    def fidelity(self, model, idx: np.ndarray) -> dict:
        """MSE (in the regression space), R² and cosine (in the teacher's units) on the unmirrored faces ``idx``."""
        model.eval()
        idx = np.sort(idx)
        target = torch.from_numpy(np.asarray(self.teacher.store[idx, 0], dtype=np.float32))  # n x C x H x W
        batches = [self.images[idx[i : i + 256]].to(self.dist.device) for i in range(0, len(idx), 256)]
        out = torch.cat([model.forward_features(_normalized(b, self.pp)).float().cpu() for b in batches])
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
        return _sgd(groups, self.base_lr, cfg)

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
            _, logits = net(_cl(self.pp.normalize(x)), hi - lo)  # b x classes
        else:  # one trunk pass over the augmented faces and the plain (flipped) ones, whose targets are cached
            feats, logits = net(_cl(self.pp.normalize(torch.cat([x, x_flipped]))), hi - lo)
        logits = logits.float()
        loss = F.cross_entropy(logits, t, label_smoothing=cfg.label_smoothing)
        if lam < 1.0:
            loss = lam * loss + (1 - lam) * F.cross_entropy(logits, t2, label_smoothing=cfg.label_smoothing)
        if self.ensemble is not None:  # the teachers see the same augmented faces: b x classes, no gradient
            soft = distillation_loss(logits, self.ensemble.logits(x), cfg.distill_temperature)
            loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * soft
        if self.teacher is not None:
            target = self.teacher.batch(idx[lo:hi], mirrored[lo:hi]).to(dev)
            loss = loss + cfg.aux_weight * regression_loss(feats[hi - lo :].float(), target, cfg.stage1_loss)
        return loss, int((logits.argmax(1) == y).sum()), hi - lo

    def validate(self, model) -> dict:
        if not len(self.fold.val):
            return {}
        logits = predict_logits(model, self.images, self.fold.val, self.pp)
        return {
            "val_loss": F.cross_entropy(logits, self.y[self.fold.val]).item(),
            "val_acc": accuracy(self.labels[self.fold.val], logits.argmax(1).numpy()),
        }


def _sgd(groups, lr: float, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True)


def lr_at(base: float, epoch: int, epochs: int, schedule: str = "cosine", warmup: int = 0) -> float:
    """Learning rate of ``epoch`` (0-based) within a stage: linear warm-up, then cosine decay (or constant)."""
    if epoch < warmup:
        return base * (epoch + 1) / (warmup + 1)
    if schedule == "constant":
        return base
    return base * 0.5 * (1.0 + math.cos(math.pi * epoch / max(epochs, 1)))


@torch.no_grad()
def predict_logits(
    model, images: torch.Tensor, idx: np.ndarray, pp: Preprocessing, batch_size: int = 256
) -> torch.Tensor:
    """Logits of ``images[idx]`` (N x classes); with ``pp.test_flip``, the mean of each face's and its mirror's."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(idx), batch_size):
        x = _normalized(images[idx[i : i + batch_size]].to(device), pp)  # B x C x S x S
        logits = model(x).float()
        if pp.test_flip:  # faces are left-right symmetric up to expression asymmetries: a second look for free
            logits = 0.5 * (logits + model(_cl(x.flip(3))).float())
        out.append(logits.cpu())
    return torch.cat(out) if out else torch.zeros(0)


def train_epoch(stage, net, opt, order: torch.Tensor, desc: str, gen, cfg: TrainConfig, progress: bool) -> dict:
    """One pass over the shuffled training rows ``order``: -> train_loss, train_acc (over all ranks)."""
    from tqdm import tqdm

    dist, bs = stage.dist, cfg.batch_size
    amp = resolve_amp(cfg.amp, dist.device)  # bf16 autocast where the device has bf16 hardware (--amp auto)
    net.train()
    tot_loss, tot_correct, tot_n = 0.0, 0, 0
    bar = tqdm(range(math.ceil(len(order) / bs)), desc=desc, leave=False, disable=not progress, file=sys.stderr)
    for b in bar:
        idx = order[b * bs : (b + 1) * bs]
        # BatchNorm cannot train on a batch of one: nor on a rank's share of one, unless its statistics are global
        if len(idx) < max(2, dist.world if cfg.sync_bn else 2 * dist.world):
            continue
        mirrored = random_flips(len(idx), gen)
        x = flip(stage.images[idx].to(dist.device).float(), mirrored.to(dist.device))  # B x C x S x S on 0..255
        with autocast(dist.device, amp):
            loss, correct, n = stage.loss(net, x, idx.numpy(), mirrored.numpy(), gen)
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"{desc}: the loss became {loss.item()}; training stopped. Lower the learning rate "
                f"(--lr-stage1/--lr-stage2) "
                "or use --target-norm channel; the last good checkpoint is kept and --resume continues from it."
            )
        opt.zero_grad(set_to_none=True)
        weighted(loss, n, len(idx), dist.world).backward()  # DDP averages: the global batch's mean-loss gradient
        opt.step()
        tot_loss += loss.item() * n
        tot_correct += correct
        tot_n += n
        bar.set_postfix(loss=f"{tot_loss / tot_n:.4f}")
    bar.close()
    tot_loss, tot_correct, tot_n = dist.sum([tot_loss, tot_correct, tot_n])  # the metrics of the whole epoch
    return {
        "train_loss": tot_loss / max(tot_n, 1),
        "train_acc": (tot_correct / tot_n) if stage.selects and tot_n else "",
    }


def run_stage(
    stage, si: int, model, fold: Fold, gen, state: TrainState, cfg: TrainConfig, on_best, progress: bool, log
) -> None:
    """Drive ``stage`` from the epoch ``state`` says, checkpointing after every epoch."""
    opt = stage.optimizer(model)
    start = state.start_epoch(si, opt)
    net = wrap(model, stage.dist, unused_head=stage.name == "stage1")  # under DDP when several ranks train one model
    for epoch in range(start, stage.epochs):
        t0 = time.time()
        lr = lr_at(stage.base_lr, epoch, stage.epochs, cfg.schedule, cfg.warmup_epochs)
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_scale"]
        order = torch.from_numpy(fold.train)[torch.randperm(len(fold.train), generator=gen)]  # same on every rank
        row = {f: "" for f in METRIC_FIELDS}
        row.update(fold=fold.index, stage=stage.name, epoch=epoch + 1, lr=lr)
        desc = f"fold {fold.index}, {stage.name}, epoch {epoch + 1}"
        row.update(train_epoch(stage, net, opt, order, desc, gen, cfg, progress and stage.dist.is_main))
        row.update(stage.validate(model))  # never the test fold; every rank scores the full split alike
        row["seconds"] = round(time.time() - t0, 2)
        if stage.dist.is_main:
            log(format_epoch(row, stage.epochs))
        if stage.selects and state.is_best(row, epoch):
            on_best(epoch + 1, row)
        state.end_epoch(si, row, model, opt, gen)
    state.end_stage(si, model, gen)


def build_model(cfg: TrainConfig, num_classes: int, tap_shape):
    """The network a method trains, and its input preprocessing (the method table's ``build``)."""
    return METHODS[cfg.method].build(cfg, num_classes, tap_shape)


def train_fold(
    cfg: TrainConfig,
    fold: Fold,
    images: torch.Tensor,
    labels: np.ndarray,
    class_names: list[str],
    fold_dir: str,
    targets=None,
    tap_shape=(128, 8, 8),
    teacher_desc: dict | None = None,
    resume: bool = False,
    progress: bool = True,
    log=print,
    dist: Dist | None = None,
    votes: np.ndarray | None = None,
) -> dict | None:
    """Train one fold (on this process, or as one rank of a data-parallel group). -> its result (None off rank 0)."""
    dist = dist or Dist()
    if dist.is_main:
        os.makedirs(fold_dir, exist_ok=True)
    fold = selection_fold(cfg, fold)  # a validation split too small to choose an epoch trains instead
    cfg = cfg.for_training_set(len(fold.train))  # epochs left to their default scale with this fold's faces
    torch.manual_seed(cfg.seed * 1009 + fold.index)  # model init is deterministic per seed and fold
    model, pp = build_model(cfg, len(class_names), tap_shape)
    if cfg.eval_flip:  # travels with the checkpoints, so the recognizer scores faces the way they were validated
        pp = dataclasses.replace(pp, test_flip=True)
    if cfg.trunk:
        load_trunk(model, cfg.trunk, head=cfg.head_init, classes=class_names)
    if cfg.head_init == "probe" and not cfg.pretrain_only:
        acc = fit_head_by_probe(model, images, fold.train, labels, pp, cfg.head_probe_C)
        if dist.is_main:
            log(f"fold {fold.index}: head fitted by logistic regression on the start's features (train acc {acc:.3f})")
    if cfg.sync_bn:  # global statistics under data parallelism; on one process the same numbers by the same formula
        model = convert_sync_bn(model, dist.device, sync=dist.world > 1)
    model = model.to(dist.device, memory_format=torch.channels_last)
    # batches, flips and augmentation: drawn from one generator, the same on every rank
    gen = torch.Generator().manual_seed(cfg.seed * 1013 + fold.index)

    stage1 = METHODS[cfg.method].stage1
    teacher = TeacherTargets(targets, fold.train, cfg.target_norm) if stage1 else None
    ensemble = None
    if cfg.distill_from and not cfg.pretrain_only:
        ensemble = FrozenEnsemble.load(cfg.distill_from, class_names, pp, dist.device)
    refines = not cfg.pretrain_only and cfg.stage2_epochs  # 0 with a probed head: the linear probe is the model
    stages = ([Pretrain(cfg, fold, images, pp, teacher, dist)] if stage1 else []) + (
        [Refine(cfg, fold, images, labels, pp, teacher, dist, ensemble, votes)] if refines else []
    )
    state = TrainState(fold_dir, METRIC_FIELDS, dist)
    if resume and state.load(model, gen) and dist.is_main:
        log(
            f"fold {fold.index}: resuming at {stages[min(state.stage_index, len(stages) - 1)].name} epoch "
            f"{state.epoch + 1}"
        )

    def save_best(epoch: int, row: dict) -> None:
        if dist.is_main:
            meta = _ckpt_meta(cfg, class_names, pp, teacher_desc, fold, epoch, row)
            save_checkpoint(model, os.path.join(fold_dir, "best"), meta)

    for si, stage in enumerate(stages):
        if si >= state.stage_index:
            run_stage(stage, si, model, fold, gen, state, cfg, save_best, progress, log)
    if not cfg.pretrain_only and not cfg.stage2_epochs:  # a linear probe on the start's features: that is the model
        state.best_epoch = 0
        save_best(0, {})

    result = None
    if dist.is_main:
        if cfg.pretrain_only:
            result = _finish_pretraining(cfg, model, fold, fold_dir, state, class_names, pp, teacher_desc)
        else:
            result = _test_selected(fold, fold_dir, images, labels, pp, state, class_names, dist.device, cfg)
    dist.barrier()  # the other ranks wait for rank 0's files
    return result


def _finish_pretraining(cfg, model, fold, fold_dir, state, class_names, pp, teacher_desc) -> dict:
    """The product of stage 1 alone is the trunk (the head is untrained): `--init-trunk` starts later runs from it."""
    rows = [r for r in state.metrics if r["stage"] == "stage1"]
    last = rows[-1] if rows else {}
    save_checkpoint(
        model,
        os.path.join(fold_dir, "trunk"),
        {
            **_ckpt_meta(cfg, class_names, pp, teacher_desc, fold, len(rows), last),
            "stage1_val_mse": last.get("val_loss"),
        },
    )
    result = {
        "fold": fold.index,
        "pretrain_only": True,
        "n_train": int(len(fold.train)),
        "n_val": int(len(fold.val)),
        "stage1_train_mse": last.get("train_loss"),
        "stage1_val_mse": last.get("val_loss"),
        **run_schedule(cfg),
        **stage1_fidelity(state.metrics),
    }
    atomic_write_json(os.path.join(fold_dir, "result.json"), result)
    return result


def run_schedule(cfg: TrainConfig, device=None) -> dict:
    """What this fold trained: the epochs of each stage (as the training set's size set them), the trunk, and
    whether its steps ran under bf16 autocast (``--amp`` as resolved on this machine)."""
    return {
        "stage1_epochs": cfg.stage1_epochs,
        "stage2_epochs": cfg.stage2_epochs,
        "init_trunk": cfg.trunk,
        "amp_bf16": resolve_amp(cfg.amp, device or torch.device("cpu")),
    }


def stage1_fidelity(metrics: list[dict]) -> dict:
    """The last stage-1 epoch's R² and cosine (validation and training faces), for results and reports."""
    rows = [r for r in metrics if r["stage"] == "stage1"]
    if not rows:
        return {}
    last = rows[-1]
    return {
        f"stage1_{k}": (float(last[k]) if last.get(k) not in ("", None) else None)
        for k in ("val_r2", "val_cos", "train_r2", "train_cos")
    }


def _test_selected(fold, fold_dir, images, labels, pp, state, class_names, device, cfg) -> dict:
    """Test the model selected on validation, once, on the test fold (a refit on every face has none)."""
    if not len(fold.test):
        result = {"fold": fold.index, "refit": True, "n_train": int(len(fold.train)), "best_epoch": state.best_epoch}
        result.update(run_schedule(cfg, torch.device(device) if device else None))
        atomic_write_json(os.path.join(fold_dir, "result.json"), result)
        return result
    best, _ = load_checkpoint(os.path.join(fold_dir, "best"))
    best = best.to(device or "cpu")
    logits = predict_logits(best, images, fold.test, pp)
    probs = torch.softmax(logits, 1).numpy()
    pred = probs.argmax(1)
    result = {
        "fold": fold.index,
        "accuracy": accuracy(labels[fold.test], pred),
        "n_test": int(len(fold.test)),
        "n_train": int(len(fold.train)),
        "n_val": int(len(fold.val)),
        "best_epoch": state.best_epoch,
        "best_val_acc": state.best_val_acc if len(fold.val) else None,
        "select": "val" if len(fold.val) else "last",
        **run_schedule(cfg, torch.device(device) if device else None),
        **stage1_fidelity(state.metrics),
        # named parts of the test fold (e.g. FER+ valid without the faces that repeat a training face)
        "subsets": {name: _subset_accuracy(fold.test, pred, labels, sub) for name, sub in fold.subsets.items()},
        "test_index": [int(i) for i in fold.test],
        "test_pred": pred.tolist(),
    }
    _write_predictions(
        os.path.join(fold_dir, "predictions.csv"), fold.test, labels[fold.test], pred, probs, class_names
    )
    atomic_write_json(os.path.join(fold_dir, "result.json"), result)  # marks the fold as done
    return result


def _subset_accuracy(test: np.ndarray, pred: np.ndarray, labels: np.ndarray, subset: np.ndarray) -> dict:
    keep = np.isin(test, subset)
    return {"accuracy": accuracy(labels[test[keep]], pred[keep]) if keep.any() else None, "n": int(keep.sum())}


# validation splits under this many faces choose an epoch nearly blindly (one person, ~20 faces: issue 35)
SMALL_VAL = 100


def selection_fold(cfg: TrainConfig, fold: Fold) -> Fold:
    """The fold as refining uses it. With ``--select last``, or ``size`` and fewer than SMALL_VAL validation faces,
    the validation faces train too: with no validation split the last epoch is the one kept (TrainState.is_best),
    and the fold's result says ``select: last``."""
    if cfg.select == "last" or (cfg.select == "size" and len(fold.val) < SMALL_VAL):
        train = np.sort(np.concatenate([fold.train, fold.val]))
        fold = dataclasses.replace(fold, train=train, val=np.array([], dtype=np.int64))
    return fold


@torch.no_grad()
def penultimate(model, images: torch.Tensor, idx: np.ndarray, pp: Preprocessing, batch_size: int = 256):
    """N x D features that the head's last layer reads (the net in eval mode, no augmentation)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(idx), batch_size):
        x = _normalized(images[idx[i : i + batch_size]].to(device), pp)
        out.append(model.head[:-1](model.forward_features(x)).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, model.head[-1].in_features), np.float32)


def fit_head_by_probe(model, images, idx: np.ndarray, labels: np.ndarray, pp: Preprocessing, C: float) -> float:
    """LP-FT's first step (Kumar et al., ICLR 2022): the head's last layer becomes a logistic regression fitted on
    the frozen net's features of the training faces ``idx``, so that refining starts from a good classifier and
    distorts the features less. Standardization is folded into the layer. -> the fit's training accuracy."""
    from sklearn.linear_model import LogisticRegression

    x, y = penultimate(model, images, idx, pp), labels[idx]
    mu, sd = x.mean(0), x.std(0) + 1e-6
    clf = LogisticRegression(C=C, max_iter=1000).fit((x - mu) / sd, y)
    k = model.head[-1].out_features
    w, b = np.zeros((k, x.shape[1]), np.float32), np.full(k, -1e4, np.float32)  # a class absent from idx: never
    if len(clf.classes_) == 2:  # sklearn's binary form: one row, for class 1 against class 0
        rows = np.stack([-clf.coef_[0] / 2, clf.coef_[0] / 2])
        bias = np.array([-clf.intercept_[0] / 2, clf.intercept_[0] / 2])
    else:
        rows, bias = clf.coef_, clf.intercept_
    w[clf.classes_] = rows / sd
    b[clf.classes_] = bias - (rows * mu / sd).sum(1)
    last = model.head[-1]
    last.weight.data.copy_(torch.from_numpy(w))
    last.bias.data.copy_(torch.from_numpy(b))
    return float(clf.score((x - mu) / sd, y))


def load_trunk(model, path: str, head: str = "random", classes: list[str] | None = None) -> None:
    """Copy the weights of checkpoint ``path`` (or of a bundled model, by name) into ``model``: its trunk alone
    (``head`` random: the head stays new), its head's layers too but the last (probe: that layer maps to the
    checkpoint's own classes and is fitted next), or everything (keep: a warm restart, which needs the run's
    ``classes`` to be the checkpoint's). The architectures must match."""
    from ..models.pretrained import resolve_checkpoint

    src, meta = load_checkpoint(resolve_checkpoint(path, "--init-trunk"))
    last = f"head.{len(model.head) - 1}." if hasattr(model, "head") else "head."
    skip = {"random": lambda k: k.startswith("head."), "probe": lambda k: k.startswith(last), "keep": lambda k: False}
    ours = {k: v for k, v in model.state_dict().items() if not skip[head](k)}
    theirs = {k: v for k, v in src.state_dict().items() if not skip[head](k)}
    if head == "keep" and list(meta["classes"]) != list(classes or []):
        raise FaceNet2ExpNetError(
            f"--head-init keep continues {path}'s classifier, so the run's classes must be its classes in its order "
            f"({', '.join(meta['classes'])}); use --head-init probe to fit a new last layer for other classes"
        )
    bad = sorted(set(ours) ^ set(theirs)) + [k for k in ours if k in theirs and ours[k].shape != theirs[k].shape]
    if bad:
        raise FaceNet2ExpNetError(
            f"--init-trunk {path}: its trunk ({meta['arch'].get('name')}, tap {meta['arch'].get('target_shape')}) "
            f"does not match "
            f"this run's ({getattr(model, 'arch', {}).get('name')}, tap {list(getattr(model, 'target_shape', []))}); "
            f"differing weights: {', '.join(bad[:5])}. Use the same --arch, --layer and --projection as the "
            f"pre-training run."
        )
    model.load_state_dict(theirs, strict=False)


def _ckpt_meta(cfg, class_names, pp, teacher_desc, fold, epoch, row) -> dict:
    return {
        "method": cfg.method,
        "classes": list(class_names),
        "preprocessing": pp.to_dict(),
        "teacher": teacher_desc,
        "tap": (teacher_desc or {}).get("layer"),
        "fold": fold.index,
        "epoch": epoch,
        "val_acc": row.get("val_acc"),
        "config": cfg.to_dict(),
    }


def format_epoch(row: dict, epochs: int) -> str:
    parts = [
        f"fold {row['fold']} {row['stage']} epoch {row['epoch']:>3}/{epochs}",
        f"lr {row['lr']:.4g}",
        f"loss {row['train_loss']:.4f}",
    ]
    for key, label in (
        ("train_acc", "train acc"),
        ("val_loss", "val loss"),
        ("val_acc", "val acc"),
        ("val_r2", "val R²"),
        ("train_r2", "train R²"),
        ("val_cos", "val cos"),
    ):
        if row.get(key, "") != "":
            parts.append(f"{label} {row[key]:.4f}" if key == "val_loss" else f"{label} {row[key]:.3f}")
    parts.append(f"{row['seconds']:.1f}s")
    return "  ".join(parts)


def _write_predictions(path, idx, y_true, y_pred, probs, class_names) -> None:
    fields = ["index", "true", "pred"] + [f"p_{c}" for c in class_names]
    rows = [
        dict(zip(fields, [int(i), class_names[t], class_names[p]] + [f"{v:.5f}" for v in pr]))
        for i, t, p, pr in zip(idx, y_true, y_pred, probs)
    ]
    atomic_write_csv(path, rows, fields)
