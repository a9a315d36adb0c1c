"""Training one fold: stage 1 (regress the trunk onto the frozen teacher), stage 2 (refine with labels).

Read top to bottom:

* the two stages, ``Pretrain`` and ``Refine``, live in ``stages.py``; where the net starts (a checkpoint, a probed
  head) in ``starts.py``;
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
import math
import os
import sys
import time

import numpy as np
import torch

from ..data.protocols import Fold
from ..devices import resolve_amp
from ..errors import FaceNet2ExpNetError
from ..eval.calibration import calibration_summary, softmax
from ..eval.metrics import accuracy
from ..files import atomic_write_csv, atomic_write_json
from ..models.registry import load_checkpoint, save_checkpoint
from .augment import flip, random_flips
from .checkpoint import TrainState
from .config import TrainConfig
from .distill import FrozenEnsemble
from .distributed import Dist, autocast, convert_sync_bn, weighted, wrap
from .methods import METHODS
from .stages import Pretrain, Refine, TeacherTargets, predict_logits
from .starts import fit_head_by_probe, load_trunk

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


def lr_at(base: float, epoch: int, epochs: int, schedule: str = "cosine", warmup: int = 0) -> float:
    """Learning rate of ``epoch`` (0-based) within a stage: linear warm-up, then cosine decay (or constant)."""
    if epoch < warmup:
        return base * (epoch + 1) / (warmup + 1)
    if schedule == "constant":
        return base
    return base * 0.5 * (1.0 + math.cos(math.pi * epoch / max(epochs, 1)))


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
    best, meta = load_checkpoint(os.path.join(fold_dir, "best"))
    best = best.to(device or "cpu")
    logits = predict_logits(best, images, fold.test, pp).numpy()  # N_test x classes
    calibration = _calibrate(best, meta, images, labels, pp, fold, logits, fold_dir)
    probs = softmax(logits, calibration.get("temperature", 1.0))  # the argmax is the same at any temperature
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
        "calibration": calibration,
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


def _calibrate(best, meta, images, labels, pp, fold, test_logits, fold_dir) -> dict:
    """The temperature that calibrates the selected model's probabilities, fitted on the fold's validation faces
    (eval/calibration.py), written into best.json so that it travels with the model to predict, serve and export;
    the ECE before and after on validation and on the test fold. {} where there is no validation split."""
    if not len(fold.val):
        return {}
    val_logits = predict_logits(best, images, fold.val, pp).numpy()
    out = calibration_summary(val_logits, labels[fold.val], test_logits, labels[fold.test])
    atomic_write_json(
        os.path.join(fold_dir, "best.json"), {**meta, "temperature": out["temperature"], "calibration": out}
    )
    return out


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
