"""Our extension (not the paper's): knowledge distillation from an ensemble of our own trained nets while refining.

The refining loss becomes ``(1 - α) · CE(labels) + α · T² · KL(p_teachers(T) ‖ p_student(T))``, where
``p(T) = softmax(logits / T)`` and the teachers' logits are the mean over the ensemble (Hinton, Vinyals & Dean,
2015: the T² keeps the soft term's gradients on the scale of the hard one's as T changes). The soft targets
carry what the teachers learned about which expressions look alike (fear and surprise, anger and disgust),
which one-hot labels do not.

The teachers are frozen and explicit: each is loaded from a checkpoint of ours, put in ``eval()`` (BatchNorm
uses its running statistics, dropout is off), ``requires_grad_(False)``, never handed to an optimizer, and run
under ``torch.no_grad()``. They see the student's augmented batch (the same faces, the same augmentation),
each normalized with its own preprocessing, once (no mirror pass).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.preprocess import Preprocessing
from ..errors import FaceNet2ExpNetError


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² · KL(softmax(teacher / T) ‖ softmax(student / T)), averaged over the batch (B x classes each)."""
    t = float(temperature)
    log_p_student = F.log_softmax(student_logits / t, dim=1)
    p_teacher = F.softmax(teacher_logits / t, dim=1)
    return F.kl_div(log_p_student, p_teacher, reduction="batchmean") * t * t


class FrozenEnsemble:
    """Our checkpoints as frozen teachers: ``logits(x)`` is the mean of their logits on the faces ``x``.

    ``x``: B x C x S x S on the 0..255 scale (before normalization), the student's input size and colour mode.
    """

    def __init__(self, models: list[torch.nn.Module], preprocessings: list[Preprocessing], names: list[str]):
        self.models, self.preprocessings, self.names = models, preprocessings, names

    @classmethod
    def load(
        cls, paths: list[str], class_names: list[str], student_pp: Preprocessing, device="cpu"
    ) -> "FrozenEnsemble":
        from ..models.pretrained import resolve_checkpoint
        from ..models.registry import load_checkpoint

        models, pps = [], []
        for path in paths:
            model, meta = load_checkpoint(resolve_checkpoint(path, "--distill-from"))
            if list(meta["classes"]) != list(class_names):
                raise FaceNet2ExpNetError(
                    f"--distill-from {path}: its classes {meta['classes']} are not this run's {list(class_names)} "
                    "(same names in the same order); distil from a model trained on the same class set"
                )
            pp = Preprocessing.from_dict(meta["preprocessing"])
            if (pp.size, pp.channels) != (student_pp.size, student_pp.channels):
                raise FaceNet2ExpNetError(
                    f"--distill-from {path}: it takes {pp.size} px {pp.channels} faces and this run's net takes "
                    f"{student_pp.size} px {student_pp.channels}; distil from a model with the same input"
                )
            model.eval().requires_grad_(False)  # frozen: running statistics, no dropout, no gradient
            models.append(model.to(device, memory_format=torch.channels_last))
            pps.append(pp)
        return cls(models, pps, list(paths))

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """B x C x S x S (0..255) -> B x classes, the mean of the teachers' logits."""
        out = [
            m(pp.normalize(x).contiguous(memory_format=torch.channels_last)).float()
            for m, pp in zip(self.models, self.preprocessings)
        ]
        return torch.stack(out).mean(0)

    def parameters(self):
        for m in self.models:
            yield from m.parameters()
