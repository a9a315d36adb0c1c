"""Preprocessing: the single source of truth for turning face images into network input.

The pipeline, one function per step, each defined here or in ``face/`` and nowhere else::

    read (data.images.read_image, always RGB)
      -> detect + align (face.face_chips)  |  resize (resize_square)
      -> channel mode (to_channels)
      -> normalize (Preprocessing.normalize)  -> (mirror: flip the last axis)

``prepare``, the teacher-feature store, training, int8 calibration and the recognizer all go
through these functions. A :class:`Preprocessing` travels with every model and teacher (in
checkpoints as JSON), so that they all resize and normalize the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .images import ImageLike, read_image

if TYPE_CHECKING:  # torch is imported where a tensor is made: inference on onnxruntime needs no torch
    import torch


@dataclass(frozen=True)
class Preprocessing:
    size: int  # square input side in pixels
    channels: str = "L"  # "L" (grey, 1 channel) or "RGB"
    mean: tuple = (0.0,)  # per channel, on the 0..255 scale
    std: tuple = (255.0,)  # per channel, on the 0..255 scale
    # Alignment: face chip padding around the 5-point template, as dlib's get_face_chip (0.25 for
    # dlib's recognition net). Used by the faces module when it crops from whole photos.
    face_padding: float = 0.25
    # Test-time mirroring: score a face by the mean of its and its mirror's logits, i.e. the renormalized
    # geometric mean of their class probabilities (set by `train --eval-flip`, so that the model is used the
    # way its accuracy was measured).
    test_flip: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        n = 1 if self.channels == "L" else 3
        if self.channels not in ("L", "RGB"):
            raise ValueError(f"channels must be 'L' or 'RGB', got {self.channels!r}")
        if len(self.mean) != n or len(self.std) != n:
            raise ValueError(f"mean and std need {n} value(s) for channels={self.channels}")

    @property
    def num_channels(self) -> int:
        return 1 if self.channels == "L" else 3

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        d = dict(d)
        d["mean"], d["std"] = tuple(d["mean"]), tuple(d["std"])
        return cls(**d)

    # ---- images -> tensors

    def resize(self, img: np.ndarray) -> np.ndarray:
        return resize_square(img, self.size)

    def load(self, src: ImageLike) -> np.ndarray:
        """Any image source (an already cropped face) -> resized uint8 array in this preprocessing's colour mode."""
        if isinstance(src, np.ndarray) and src.dtype == np.uint8 and src.ndim == 2 and self.channels == "L":
            return resize_square(src, self.size)  # a grey face already: the same pixels as the general path, sooner
        return fit(read_image(src, "RGB"), self.size, self.channels)

    def normalize(self, batch: "torch.Tensor") -> "torch.Tensor":
        """N x C x H x W float on the 0..255 scale -> normalized network input."""
        import torch

        mean = torch.tensor(self.mean, dtype=batch.dtype, device=batch.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=batch.dtype, device=batch.device).view(1, -1, 1, 1)
        return (batch - mean) / std

    def batch(self, arrays) -> "torch.Tensor":
        """Already loaded uint8 arrays (same size) -> N x C x H x W normalized float tensor."""
        import torch

        return torch.from_numpy(self.batch_array(arrays))

    def batch_array(self, arrays) -> np.ndarray:
        """Already loaded uint8 arrays (same size) -> N x C x H x W normalized float32 array, without torch
        (inference on onnxruntime); :meth:`batch` is the same as a tensor."""
        x = uint8_to_float_array(arrays)
        mean = np.asarray(self.mean, np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, np.float32).reshape(1, -1, 1, 1)
        return (x - mean) / std

    def to_tensor(self, images) -> "torch.Tensor":
        """A list of image sources (paths, arrays, PIL) -> N x C x size x size normalized float tensor."""
        return self.batch(self.load(im) for im in images)


def resize_square(img: np.ndarray, size: int) -> np.ndarray:
    """uint8 HxW or HxWx3 -> size x size (area interpolation when shrinking, bilinear when growing)."""
    h, w = img.shape[:2]
    if (h, w) == (size, size):
        return img
    interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


def center_square(img: np.ndarray) -> np.ndarray:
    """The largest centred square of an image (keeps the aspect ratio that a plain resize would squash)."""
    h, w = img.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return img[y : y + side, x : x + side]


def to_channels(img: np.ndarray, channels: str) -> np.ndarray:
    """uint8 HxWx3 RGB (or HxW grey) -> the colour mode: "L" (ITU-R 601 luma) or "RGB"."""
    if channels == "L":
        return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if channels == "RGB":
        return img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    raise ValueError(f"channels must be 'L' or 'RGB', got {channels!r}")


def fit(rgb: np.ndarray, size: int, channels: str) -> np.ndarray:
    """An already cropped face (RGB) -> size x size in the colour mode: the no-detection branch of the pipeline."""
    return resize_square(to_channels(rgb, channels), size)


def uint8_to_float_array(arrays) -> np.ndarray:
    """List of HxW or HxWxC uint8 arrays (same size) -> N x C x H x W float32 numpy array on the 0..255 scale."""
    arr = np.stack(list(arrays))
    if arr.ndim == 3:
        arr = arr[:, :, :, None]
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2), dtype=np.float32)
