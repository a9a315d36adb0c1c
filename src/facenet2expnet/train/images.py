"""Images in memory as uint8 tensors, read once through the model's preprocessing."""

from __future__ import annotations

import sys

import numpy as np
import torch

from ..data.preprocess import Preprocessing
from ..data.records import Dataset


def load_images(ds: Dataset, pp: Preprocessing, progress: bool = True) -> torch.Tensor:
    """All samples -> N x C x S x S uint8 tensor (0..255), resized and colour-converted by ``pp``."""
    from tqdm import tqdm

    out = np.empty((len(ds), pp.num_channels, pp.size, pp.size), dtype=np.uint8)
    for i, s in enumerate(
        tqdm(ds.samples, desc="loading images", unit="img", disable=not progress or len(ds) < 2000, file=sys.stderr)
    ):
        img = pp.load(s.path if s.path is not None else s.array)
        out[i] = img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
    return torch.from_numpy(out)
