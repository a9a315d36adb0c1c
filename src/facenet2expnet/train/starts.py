"""Where a fold's net starts: a checkpoint's weights copied in (trunk, head but its last layer, or all of it)
and the last layer fitted by logistic regression on the start's features (LP-FT's first step)."""

from __future__ import annotations

import numpy as np
import torch

from ..data.preprocess import Preprocessing
from ..errors import FaceNet2ExpNetError
from ..models.registry import load_checkpoint
from .stages import normalized


@torch.no_grad()
def penultimate(model, images: torch.Tensor, idx: np.ndarray, pp: Preprocessing, batch_size: int = 256):
    """N x D features that the head's last layer reads (the net in eval mode, no augmentation)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(idx), batch_size):
        x = normalized(images[idx[i : i + batch_size]].to(device), pp)
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
