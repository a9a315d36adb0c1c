"""What the refining loss is trained against: the label modes of the FER+ paper (Barsoum et al., ICMI 2016).

A dataset whose images were labelled by several annotators (FER+: 10 votes per face) can train on more
than the majority label. ``LABEL_MODES`` maps each mode to how a batch's target is drawn:

* ``majority``: the majority label (every dataset; the only mode for one label per image);
* ``probability``: a label drawn, every time the face is seen, from its vote distribution (the paper's
  "probabilistic label drawing");
* ``crossentropy``: the vote distribution itself as a soft target (the paper's "cross-entropy loss").

Vote distributions are over the dataset's classes only: FER+'s *unknown* and *not a face* votes are left
out by its loader. Accuracy, validation and model selection always use the majority label.

Shapes: ``labels`` N (int64), ``votes`` N x K (float32, rows sum to 1); a batch's target is B class
indices or B x K probabilities, both of which ``F.cross_entropy`` takes.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.records import Dataset
from ..errors import FaceNet2ExpNetError


def _majority(labels: torch.Tensor, votes, idx: np.ndarray, gen) -> torch.Tensor:
    return labels[idx]


def _probability(labels: torch.Tensor, votes, idx: np.ndarray, gen) -> torch.Tensor:
    return torch.multinomial(votes[idx], 1, generator=gen).squeeze(1)  # B labels, one draw per face


def _crossentropy(labels: torch.Tensor, votes, idx: np.ndarray, gen) -> torch.Tensor:
    return votes[idx]  # B x K


LABEL_MODES = {"majority": _majority, "probability": _probability, "crossentropy": _crossentropy}


def vote_distribution(ds: Dataset) -> np.ndarray:
    """N x K vote shares of every sample (``meta["votes"]``, counts in class order), or an error naming the fix."""
    missing = sum("votes" not in s.meta for s in ds.samples)
    if missing:
        raise FaceNet2ExpNetError(
            f"--label-mode probability/crossentropy trains on each image's annotator votes, but {missing} of the "
            f"{len(ds)} {ds.kind} images have none (only the ferplus kind with its votes.csv carries them); "
            "use --label-mode majority"
        )
    counts = np.array([s.meta["votes"] for s in ds.samples], dtype=np.float32)
    if counts.shape[1] != len(ds.class_names):
        raise FaceNet2ExpNetError(f"{ds.kind}: votes over {counts.shape[1]} classes for {len(ds.class_names)} classes")
    totals = counts.sum(1, keepdims=True)
    # an image whose votes all went to unknown / not-a-face has no distribution: it keeps its majority label
    onehot = np.eye(len(ds.class_names), dtype=np.float32)[ds.labels]
    return np.where(totals > 0, counts / np.maximum(totals, 1), onehot)


class LabelTargets:
    """Serves a batch's refining target in the configured mode (the majority labels for accuracy)."""

    def __init__(self, labels: np.ndarray, mode: str, votes: np.ndarray | None = None):
        if mode not in LABEL_MODES:
            raise FaceNet2ExpNetError(f"unknown label mode {mode!r}; modes: {', '.join(LABEL_MODES)}")
        if mode != "majority" and votes is None:
            raise FaceNet2ExpNetError(f"--label-mode {mode} needs vote distributions; none were given")
        self.mode, self.labels = mode, torch.from_numpy(labels)
        self.votes = None if votes is None else torch.from_numpy(np.asarray(votes, dtype=np.float32))

    def batch(self, idx: np.ndarray, gen) -> torch.Tensor:
        """B class indices (majority, probability) or B x K probabilities (crossentropy)."""
        return LABEL_MODES[self.mode](self.labels, self.votes, idx, gen)
