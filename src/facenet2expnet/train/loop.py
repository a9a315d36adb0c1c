"""Training one fold: stage 1 (regress the trunk onto the frozen teacher), stage 2 (refine with labels).

Read top to bottom: ``train_fold`` builds the model, runs the stages the method needs, keeps
the epoch with the best *validation* accuracy (the validation split is carved from the
training subjects), and evaluates that model once on the test fold.

Shapes (compact config, dlib teacher at level2, CK+48):
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
import torch.nn.functional as F

from ..data.preprocess import Preprocessing
from ..data.protocols import Fold
from ..errors import FaceNet2ExpNetError
from ..eval.metrics import accuracy
from ..models.registry import create_model, save_checkpoint
from ..utils import atomic_write_bytes, atomic_write_csv, atomic_write_json
from .augment import flip, random_affine, random_flips
from .config import TrainConfig

METRIC_FIELDS = ["fold", "stage", "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]


class TrainingDivergedError(FaceNet2ExpNetError):
    pass


def _save_state(path: str, state: dict) -> None:
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())  # a kill mid-write leaves the previous checkpoint intact


def _cosine_lr(base: float, epoch: int, epochs: int) -> float:
    return base * 0.5 * (1.0 + math.cos(math.pi * epoch / max(epochs, 1)))


def _check_finite(loss: torch.Tensor, stage: str, epoch: int, fold: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingDivergedError(
            f"fold {fold}, {stage}, epoch {epoch + 1}: the loss became {loss.item()}; training stopped. "
            "Lower the learning rate (--lr-stage1/--lr-stage2) or use --target-norm channel; "
            "the last good checkpoint is kept and --resume continues from it.")


def stage1_targets(targets, idx: np.ndarray, mirrored: np.ndarray) -> torch.Tensor:
    """Row ``idx[i]`` of the N x 2 x C x H x W store, view 1 (the mirror) where ``mirrored[i]``: B x C x H x W.

    The memory-mapped store is read in sorted row order (one forward pass over the file), then put
    back in batch order: row ``order[j]`` of the batch is the j-th sorted read.
    """
    order = np.argsort(idx, kind="stable")
    rows = np.empty((len(idx),) + tuple(targets.shape[1:]), dtype=np.float32)
    rows[order] = np.asarray(targets[idx[order]], dtype=np.float32)
    return torch.from_numpy(rows[np.arange(len(idx)), mirrored.astype(np.int64)])


def build_model(cfg: TrainConfig, num_classes: int, teacher_desc: dict | None, tap_shape):
    """The network a method trains, and its input preprocessing."""
    if cfg.method == "finetune":
        from ..models.finetune import FinetuneNet
        from ..teachers import create_teacher

        t = create_teacher(cfg.teacher, weights=cfg.teacher_weights, layer=cfg.layer)
        backbone = t.net  # this fresh instance becomes a trainable copy inside FinetuneNet
        model = FinetuneNet(cfg.teacher, t.layer, tap_shape, num_classes, dropout=cfg.dropout, backbone=backbone)
        return model, model.preprocessing
    from ..models.registry import default_preprocessing

    model = create_model(cfg.config, num_classes, target_shape=tap_shape, projection=cfg.projection, dropout=cfg.dropout)
    return model, default_preprocessing(cfg.config)


def _normalized(x_uint8: torch.Tensor, pp: Preprocessing) -> torch.Tensor:
    return _cl(pp.normalize(x_uint8.float()))


def _cl(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict_logits(model, images: torch.Tensor, idx: np.ndarray, pp: Preprocessing, batch_size: int = 256) -> torch.Tensor:
    """Logits of ``images[idx]`` (N x classes); with ``pp.test_flip``, the mean of each face's and its mirror's."""
    model.eval()
    out = []
    for i in range(0, len(idx), batch_size):
        x = _normalized(images[idx[i:i + batch_size]], pp)  # B x C x S x S
        logits = model(x)
        if pp.test_flip:  # faces are left-right symmetric up to expression asymmetries: a second look for free
            logits = 0.5 * (logits + model(_cl(x.flip(3))))
        out.append(logits)
    return torch.cat(out) if out else torch.zeros(0)


def train_fold(cfg: TrainConfig, fold: Fold, images: torch.Tensor, labels: np.ndarray, class_names: list[str],
               fold_dir: str, targets=None, tap_shape=(128, 8, 8), teacher_desc: dict | None = None,
               resume: bool = False, progress: bool = True, log=print) -> dict:
    from tqdm import tqdm

    os.makedirs(fold_dir, exist_ok=True)
    torch.manual_seed(cfg.seed * 1009 + fold.index)  # model init is deterministic per seed and fold
    model, pp = build_model(cfg, len(class_names), teacher_desc, tap_shape)
    if cfg.eval_flip:  # travels with the checkpoints, so the recognizer scores faces the way they were validated
        pp = dataclasses.replace(pp, test_flip=True)
    if cfg.init_trunk:
        load_trunk(model, cfg.init_trunk)
    model = model.to(memory_format=torch.channels_last)  # ~1.5x faster convolutions on CPU
    gen = torch.Generator().manual_seed(cfg.seed * 1013 + fold.index)
    y_all = torch.from_numpy(labels)
    stages = ([("stage1", cfg.stage1_epochs)] if cfg.method == "fn2en" else []) + ([] if cfg.pretrain_only else [("stage2", cfg.stage2_epochs)])

    # Per-channel standardization of the stage-1 targets: statistics from this fold's training rows only.
    t_mean = t_std = None
    if cfg.method == "fn2en" and cfg.target_norm == "channel":
        sample = np.asarray(targets[np.sort(fold.train)[:: max(1, len(fold.train) // 2000)]], dtype=np.float32)
        t_mean = torch.from_numpy(sample.mean(axis=(0, 1, 3, 4))).view(1, -1, 1, 1)
        t_std = torch.from_numpy(sample.std(axis=(0, 1, 3, 4)) + 1e-3).view(1, -1, 1, 1)

    # ---- resume
    last_path = os.path.join(fold_dir, "last.pt")
    state = {"stage_index": 0, "epoch": 0, "metrics": [], "best_val_acc": -1.0, "best_epoch": -1, "best_val_loss": float("inf")}
    opt_state = None
    if resume and os.path.exists(last_path):
        saved = torch.load(last_path, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["model"])
        gen.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])  # dropout draws from the global generator
        opt_state = saved["optimizer"]
        state = {k: saved[k] for k in state}
        log(f"fold {fold.index}: resuming at {stages[min(state['stage_index'], len(stages) - 1)][0]} epoch {state['epoch'] + 1}")

    for si, (stage, epochs) in enumerate(stages):
        if si < state["stage_index"]:
            continue
        stage1 = stage == "stage1"
        base_lr = cfg.lr_stage1 if stage1 else cfg.lr_stage2
        # Stage 1 trains only the conv trunk; stage 2 trains everything (the head included).
        if stage1:
            groups = [{"params": model.trunk_parameters(), "lr_scale": 1.0}]
        elif cfg.method in ("finetune", "fn2en"):
            # pre-trained layers (the face net's, or stage 1's) may move more slowly than the new head
            scale = cfg.finetune_backbone_lr_scale if cfg.method == "finetune" else cfg.refine_trunk_lr_scale
            groups = [{"params": model.trunk_parameters(), "lr_scale": scale}, {"params": list(model.head.parameters()), "lr_scale": 1.0}]
        else:
            groups = [{"params": list(model.parameters()), "lr_scale": 1.0}]
        if stage1 and cfg.stage1_optimizer == "adam":
            # Adam reaches a much lower stage-1 regression loss in the few epochs a CPU affords (docs/method.md)
            opt = torch.optim.Adam(groups, lr=base_lr)
        else:
            opt = torch.optim.SGD(groups, lr=base_lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True)
        if opt_state is not None and si == state["stage_index"] and state["epoch"] > 0:
            opt.load_state_dict(opt_state)
        opt_state = None

        for epoch in range(state["epoch"] if si == state["stage_index"] else 0, epochs):
            t0 = time.time()
            lr = _cosine_lr(base_lr, epoch, epochs)
            for g in opt.param_groups:
                g["lr"] = lr * g["lr_scale"]
            model.train()
            order = torch.from_numpy(fold.train)[torch.randperm(len(fold.train), generator=gen)]
            n_batches = math.ceil(len(order) / cfg.batch_size)
            tot_loss, tot_correct, tot_n = 0.0, 0, 0
            bar = tqdm(range(n_batches), desc=f"fold {fold.index} {stage} {epoch + 1}/{epochs}", leave=False,
                       disable=not progress, file=sys.stderr)
            for b in bar:
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                if len(idx) < 2:  # BatchNorm cannot train on a batch of one
                    continue
                mirrored = random_flips(len(idx), gen)
                x = flip(images[idx].float(), mirrored)  # B x C x S x S on 0..255
                if stage1:
                    # Targets exist for the image and its mirror only, so stage 1 augments by flipping alone.
                    target = stage1_targets(targets, idx.numpy(), mirrored.numpy())  # B x C x H x W
                    if t_mean is not None:
                        target = (target - t_mean) / t_std
                    out = model.forward_features(_cl(pp.normalize(x)))
                    loss = F.mse_loss(out, target)
                else:
                    if cfg.augment:
                        x = random_affine(x, gen)
                    logits = model(_cl(pp.normalize(x)))
                    loss = F.cross_entropy(logits, y_all[idx], label_smoothing=cfg.label_smoothing)
                    tot_correct += int((logits.argmax(1) == y_all[idx]).sum())
                _check_finite(loss, stage, epoch, fold.index)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                tot_loss += loss.item() * len(idx)
                tot_n += len(idx)
                bar.set_postfix(loss=f"{tot_loss / tot_n:.4f}")
            bar.close()

            # ---- validation (never the test fold)
            row = {"fold": fold.index, "stage": stage, "epoch": epoch + 1, "lr": lr, "train_loss": tot_loss / max(tot_n, 1),
                   "train_acc": (tot_correct / tot_n) if not stage1 and tot_n else "", "val_loss": "", "val_acc": ""}
            if len(fold.val):
                if stage1:
                    model.eval()
                    with torch.no_grad():
                        vi = np.sort(fold.val)
                        vt = torch.from_numpy(np.asarray(targets[vi, 0], dtype=np.float32))
                        if t_mean is not None:
                            vt = (vt - t_mean) / t_std
                        vo = torch.cat([model.forward_features(_normalized(images[vi[i:i + 256]], pp)) for i in range(0, len(vi), 256)])
                        row["val_loss"] = F.mse_loss(vo, vt).item()
                else:
                    logits = predict_logits(model, images, fold.val, pp)
                    row["val_loss"] = F.cross_entropy(logits, y_all[fold.val]).item()
                    row["val_acc"] = accuracy(labels[fold.val], logits.argmax(1).numpy())
            row["seconds"] = round(time.time() - t0, 2)
            state["metrics"].append(row)
            _log_epoch(log, row, epochs)

            if not stage1:
                # model selection on validation accuracy (ties: lower validation loss); last epoch if no validation split
                va = row["val_acc"] if row["val_acc"] != "" else epoch
                vl = row["val_loss"] if row["val_loss"] != "" else 0.0
                if va > state["best_val_acc"] or (va == state["best_val_acc"] and vl < state["best_val_loss"]):
                    state.update(best_val_acc=va, best_val_loss=vl, best_epoch=epoch + 1)
                    save_checkpoint(model, os.path.join(fold_dir, "best"), _ckpt_meta(cfg, class_names, pp, teacher_desc, fold, epoch + 1, row))
            state["epoch"] = epoch + 1
            state["stage_index"] = si
            # the CSV first: it then holds every epoch the checkpoint holds (a resumed run counts their time from it)
            atomic_write_csv(os.path.join(fold_dir, "metrics.csv"), state["metrics"], METRIC_FIELDS)
            _save_state(last_path, {**state, "model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
                                     "torch_rng": torch.get_rng_state()})
        state["stage_index"], state["epoch"] = si + 1, 0
        if stage1:  # stage 1 is over: the checkpoint must not resume into it again
            _save_state(last_path, {**state, "model": model.state_dict(), "optimizer": {}, "generator": gen.get_state(),
                                     "torch_rng": torch.get_rng_state()})

    if cfg.pretrain_only:
        # The product is the trunk (the head is untrained): `--init-trunk` starts later runs from it.
        stage1_rows = [r for r in state["metrics"] if r["stage"] == "stage1"]
        last = stage1_rows[-1] if stage1_rows else {}
        save_checkpoint(model, os.path.join(fold_dir, "trunk"), {**_ckpt_meta(cfg, class_names, pp, teacher_desc, fold, len(stage1_rows), last),
                                                                 "stage1_val_mse": last.get("val_loss")})
        result = {"fold": fold.index, "pretrain_only": True, "n_train": int(len(fold.train)), "n_val": int(len(fold.val)),
                  "stage1_train_mse": last.get("train_loss"), "stage1_val_mse": last.get("val_loss")}
        atomic_write_json(os.path.join(fold_dir, "result.json"), result)
        return result

    # ---- test the selected model, once
    from ..models.registry import load_checkpoint

    best, _ = load_checkpoint(os.path.join(fold_dir, "best"))
    logits = predict_logits(best, images, fold.test, pp)
    probs = torch.softmax(logits, 1).numpy()
    pred = probs.argmax(1)
    result = {"fold": fold.index, "accuracy": accuracy(labels[fold.test], pred), "n_test": int(len(fold.test)),
              "n_train": int(len(fold.train)), "n_val": int(len(fold.val)), "best_epoch": state["best_epoch"],
              "best_val_acc": state["best_val_acc"], "test_index": [int(i) for i in fold.test], "test_pred": pred.tolist()}
    _write_predictions(os.path.join(fold_dir, "predictions.csv"), fold.test, labels[fold.test], pred, probs, class_names)
    atomic_write_json(os.path.join(fold_dir, "result.json"), result)  # marks the fold as done
    return result


def load_trunk(model, path: str) -> None:
    """Copy every non-head weight of checkpoint ``path`` into ``model``; the architectures must match."""
    from ..models.registry import load_checkpoint

    src, meta = load_checkpoint(path)
    ours = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    theirs = {k: v for k, v in src.state_dict().items() if not k.startswith("head.")}
    bad = sorted(set(ours) ^ set(theirs)) + [k for k in ours if k in theirs and ours[k].shape != theirs[k].shape]
    if bad:
        raise FaceNet2ExpNetError(
            f"--init-trunk {path}: its trunk ({meta['arch'].get('name')}, tap {meta['arch'].get('target_shape')}) does not match "
            f"this run's ({getattr(model, 'arch', {}).get('name')}, tap {list(getattr(model, 'target_shape', []))}); "
            f"differing weights: {', '.join(bad[:5])}. Use the same --config, --layer and --projection as the pre-training run.")
    model.load_state_dict(theirs, strict=False)


def _ckpt_meta(cfg, class_names, pp, teacher_desc, fold, epoch, row) -> dict:
    return {"method": cfg.method, "classes": list(class_names), "preprocessing": pp.to_dict(), "teacher": teacher_desc,
            "tap": (teacher_desc or {}).get("layer"), "fold": fold.index, "epoch": epoch, "val_acc": row.get("val_acc"),
            "config": cfg.to_dict()}


def _log_epoch(log, row, epochs) -> None:
    parts = [f"fold {row['fold']} {row['stage']} epoch {row['epoch']:>3}/{epochs}", f"lr {row['lr']:.4g}", f"loss {row['train_loss']:.4f}"]
    if row["train_acc"] != "":
        parts.append(f"train acc {row['train_acc']:.3f}")
    if row["val_loss"] != "":
        parts.append(f"val loss {row['val_loss']:.4f}")
    if row["val_acc"] != "":
        parts.append(f"val acc {row['val_acc']:.3f}")
    parts.append(f"{row['seconds']:.1f}s")
    log("  ".join(parts))


def _write_predictions(path, idx, y_true, y_pred, probs, class_names) -> None:
    fields = ["index", "true", "pred"] + [f"p_{c}" for c in class_names]
    rows = [dict(zip(fields, [int(i), class_names[t], class_names[p]] + [f"{v:.5f}" for v in pr]))
            for i, t, p, pr in zip(idx, y_true, y_pred, probs)]
    atomic_write_csv(path, rows, fields)
