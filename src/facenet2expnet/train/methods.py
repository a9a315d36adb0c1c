"""The methods the harness trains, in one table: what each needs, how its net and input are made.

``METHODS[name]`` says, for ``fn2en`` (the paper), ``scratch`` (its control), ``finetune`` (the face net
fine-tuned) and ``probe`` (a linear classifier on the face net's cached features):

* what it reads: the face net at all (``uses_teacher``), its cached features (``teacher_features``), the images
  (``trains_net``);
* what it trains: a stage 1 (``stage1``), a net that can start from a pre-trained trunk (``takes_trunk``),
  pre-trained layers whose refining rate has its own factor (``pretrained_lr_field``);
* what it builds: ``build(cfg, num_classes, tap_shape) -> (model, preprocessing)`` and, without building
  anything, ``preprocessing(cfg)``.

The config, the run harness and the loop read this table; nothing else branches on the method's name.
Nothing here imports torch until a net is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


def _student(cfg, num_classes: int, tap_shape):
    from ..models.registry import create_model, default_preprocessing

    model = create_model(cfg.arch, num_classes, target_shape=tap_shape, projection=cfg.projection, dropout=cfg.dropout)
    return model, default_preprocessing(cfg.arch)


def _student_preprocessing(cfg):
    from ..models.registry import default_preprocessing

    return default_preprocessing(cfg.arch)


def _finetune(cfg, num_classes: int, tap_shape):
    from ..models.finetune import FinetuneNet
    from ..teachers import create_teacher

    t = create_teacher(cfg.teacher, weights=cfg.teacher_weights, layer=cfg.layer)
    model = FinetuneNet(cfg.teacher, t.layer, tap_shape, num_classes, dropout=cfg.dropout, backbone=t.net)  # a copy
    return model, model.preprocessing


def _teacher_preprocessing(cfg):
    from ..teachers import TEACHERS

    return TEACHERS[cfg.teacher].preprocessing


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    uses_teacher: bool  # its features or its layers: the run records which teacher (and weights) it used
    teacher_features: bool  # reads the teacher's cached features of every image (and its mirror)
    trains_net: bool  # trains a net on the images (the probe fits a linear classifier instead)
    stage1: bool  # regresses its trunk onto the teacher before refining
    takes_trunk: bool  # may start from a pre-trained trunk (--init-trunk)
    conv_tap: bool  # its trunk is sized by a C x H x W tap
    pretrained_lr_field: str | None  # the TrainConfig field scaling the refining rate of pre-trained layers
    build: Callable | None  # (cfg, num_classes, tap_shape) -> (model, preprocessing)
    preprocessing: Callable | None  # cfg -> the input preprocessing, without building the net


METHODS = {
    m.name: m
    for m in (
        Method(
            "fn2en",
            "the paper: stage 1 regresses the student onto the face net, stage 2 refines with labels",
            True,
            True,
            True,
            True,
            True,
            True,
            "refine_trunk_lr_scale",
            _student,
            _student_preprocessing,
        ),
        Method(
            "scratch",
            "the same student, stage 2 alone from random weights (fn2en's control)",
            False,
            False,
            True,
            False,
            True,
            True,
            None,
            _student,
            _student_preprocessing,
        ),
        Method(
            "finetune",
            "the face net up to its tap plus a new head, all fine-tuned",
            True,
            False,
            True,
            False,
            False,
            False,
            "finetune_backbone_lr_scale",
            _finetune,
            _teacher_preprocessing,
        ),
        Method(
            "probe",
            "logistic regression on the face net's cached tap features",
            True,
            True,
            False,
            False,
            False,
            False,
            None,
            None,
            None,
        ),
    )
}
