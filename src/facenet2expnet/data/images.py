"""Reading images as users have them: the single place that turns a file into pixels.

Handles EXIF orientation, greyscale, palette, RGBA/LA (alpha dropped onto white), 16-bit and
32-bit integer or float images, and CMYK. A file that cannot be decoded raises
:class:`ImageReadError` naming the file.
"""

from __future__ import annotations

import os
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import FaceNet2ExpNetError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".pgm", ".ppm")

ImageLike = Union[str, os.PathLike, np.ndarray, Image.Image]


class ImageReadError(FaceNet2ExpNetError):
    def __init__(self, path: str, why: str):
        self.path, self.why = str(path), why
        super().__init__(f"cannot read image {path}: {why}")


def is_image_file(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _to_8bit(img: Image.Image) -> Image.Image:
    """16/32-bit integer and float images are rescaled by their type's range, not clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img, dtype=np.uint16).astype(np.float32) / 257.0
        return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "I":
        arr = np.asarray(img, dtype=np.int64)
        scale = 257.0 if arr.max(initial=0) > 255 else 1.0
        return Image.fromarray(np.clip(arr / scale + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        if arr.max(initial=0) <= 1.0:
            arr = arr * 255.0
        return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "L")
    return img


def _flatten_alpha(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img


def pil_to_array(img: Image.Image, mode: str = "RGB") -> np.ndarray:
    img = _flatten_alpha(_to_8bit(img))
    if mode == "L":  # np.array, not asarray: callers may draw on the result
        return np.array(img.convert("L"), dtype=np.uint8)
    return np.array(img.convert("RGB"), dtype=np.uint8)


def read_image(src: ImageLike, mode: str = "RGB") -> np.ndarray:
    """Return an HxWx3 (``mode="RGB"``) or HxW (``mode="L"``) uint8 array.

    ``src`` may be a path, a PIL image or a numpy array (HxW, HxWx1, HxWx3 RGB or HxWx4 RGBA).
    """
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    if isinstance(src, np.ndarray):
        return array_to_mode(src, mode)
    if isinstance(src, Image.Image):
        return pil_to_array(ImageOps.exif_transpose(src), mode)
    path = os.fspath(src)
    if not os.path.exists(path):
        raise ImageReadError(path, "no such file")
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            return pil_to_array(img, mode)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(path, f"not a readable image ({exc.__class__.__name__}: {exc})") from None


def array_to_mode(arr: np.ndarray, mode: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            arr = arr * 255.0 if arr.max(initial=0) <= 1.0 else arr
        elif arr.dtype == np.uint16:
            arr = arr / 257.0
        arr = np.clip(np.asarray(arr, dtype=np.float64) + 0.5, 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        return arr if mode == "L" else np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        if arr.shape[2] == 4:
            return pil_to_array(Image.fromarray(arr, "RGBA"), mode)
        return arr if mode == "RGB" else np.asarray(Image.fromarray(arr, "RGB").convert("L"))
    raise ValueError(f"image array must be HxW, HxWx1, HxWx3 or HxWx4; got shape {arr.shape}")


def check_readable(path: str) -> str | None:
    """Return None if ``path`` decodes as an image, else the reason it does not."""
    try:
        with Image.open(path) as img:
            img.load()
        return None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return f"{exc.__class__.__name__}: {exc}"
