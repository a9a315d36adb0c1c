import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if os.environ.get("FN2EN_SHARED_DATA"):
    SHARED = Path(os.environ["FN2EN_SHARED_DATA"])


def shared(*parts) -> Path:
    """Path under ../shared/data, or skip the test with a reason when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data {p} is absent (../shared/data is only on the project's machines)")
    return p


def write_face(path, seed=0, size=48, mode="L"):
    """A synthetic 'face' image: a deterministic blob pattern, different per seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 128 + 60 * np.sin(6 * xx * (1 + seed % 5) + rng.uniform(0, 3)) * np.cos(5 * yy + rng.uniform(0, 3))
    img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if mode == "RGB":
        img = np.stack([img, np.roll(img, 3, 0), np.roll(img, 5, 1)], 2)
    Image.fromarray(img).save(path)
    return path
