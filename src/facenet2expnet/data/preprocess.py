"""Preprocessing: the single source of truth for turning face images into network input.

A :class:`Preprocessing` travels with every model and teacher (in checkpoints as JSON), so
that training, evaluation, export and inference all resize and normalize the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
import torch

from .images import ImageLike, read_image


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
        """uint8 HxW or HxWx3 -> size x size (area interpolation when shrinking, bilinear when growing)."""
        h, w = img.shape[:2]
        if (h, w) == (self.size, self.size):
            return img
        interp = cv2.INTER_AREA if min(h, w) > self.size else cv2.INTER_LINEAR
        return cv2.resize(img, (self.size, self.size), interpolation=interp)

    def load(self, src: ImageLike) -> np.ndarray:
        """Any image source -> resized uint8 array in this preprocessing's colour mode."""
        return self.resize(read_image(src, self.channels))

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        """N x C x H x W float on the 0..255 scale -> normalized network input."""
        mean = torch.tensor(self.mean, dtype=batch.dtype, device=batch.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=batch.dtype, device=batch.device).view(1, -1, 1, 1)
        return (batch - mean) / std

    def batch(self, arrays) -> torch.Tensor:
        """Already loaded uint8 arrays (same size) -> N x C x H x W normalized float tensor."""
        return self.normalize(uint8_to_float_batch(list(arrays)))

    def to_tensor(self, images) -> torch.Tensor:
        """A list of image sources (paths, arrays, PIL) -> N x C x size x size normalized float tensor."""
        return self.batch(self.load(im) for im in images)


def uint8_to_float_batch(arrays) -> torch.Tensor:
    """List of HxW or HxWxC uint8 arrays (same size) -> N x C x H x W float32 on the 0..255 scale."""
    arr = np.stack(arrays)
    if arr.ndim == 3:
        arr = arr[:, :, :, None]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2))).float()
