"""The ``finetune`` baseline: the teacher's own layers up to its tap, unfrozen, plus a new head."""

from __future__ import annotations

import torch.nn as nn


class FinetuneNet(nn.Module):
    def __init__(
        self,
        teacher_name: str,
        layer: str,
        tap_shape,
        num_classes: int,
        fc_dim: int = 256,
        dropout: float = 0.5,
        backbone: nn.Module | None = None,
    ):
        super().__init__()
        from ..teachers.registry import TEACHERS

        if backbone is None:  # rebuilt from a checkpoint: the weights come from the checkpoint file
            backbone = {"dlib-resnet29": _empty_dlib, "vggface16": _empty_vgg}[teacher_name]()
        self.backbone, self.layer = backbone, layer
        self.backbone.train().requires_grad_(True)  # a trainable copy, not the frozen teacher
        c = 1
        for d in tap_shape:
            c *= d
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c, fc_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(fc_dim, num_classes),
        )
        self.preprocessing = TEACHERS[teacher_name].preprocessing
        self.arch = {
            "kind": "finetune",
            "teacher_name": teacher_name,
            "layer": layer,
            "tap_shape": list(tap_shape),
            "num_classes": num_classes,
            "fc_dim": fc_dim,
            "dropout": dropout,
        }

    @classmethod
    def from_arch(cls, arch: dict) -> "FinetuneNet":
        return cls(**{k: v for k, v in arch.items() if k != "kind"})

    def forward_features(self, x):
        return self.backbone.forward_features(x, [self.layer])[self.layer]

    def forward_head(self, f):
        return self.head(f)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    def trunk_parameters(self):
        return list(self.backbone.parameters())


def _empty_dlib():
    from ..teachers.dlib_resnet import DlibResNet29

    return DlibResNet29()


def _empty_vgg():
    from ..teachers.vggface import VGGFace16

    return VGGFace16()
