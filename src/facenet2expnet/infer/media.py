"""Inputs as users have them: image files, folders (recursive), videos (every Nth frame), a webcam."""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from ..data.images import is_image_file
from ..errors import FaceNet2ExpNetError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def is_video_file(name: str) -> bool:
    return name.lower().endswith(VIDEO_EXTENSIONS)


def expand_inputs(inputs: list[str]) -> list[str]:
    """Files as given; folders searched recursively for images and videos, sorted. Missing paths fail loudly."""
    out = []
    for p in inputs:
        if os.path.isdir(p):
            found = sorted(
                os.path.join(dp, f) for dp, _, fs in os.walk(p) for f in fs if is_image_file(f) or is_video_file(f)
            )
            if not found:
                raise FaceNet2ExpNetError(f"folder {p} has no images or videos")
            out += found
        elif os.path.exists(p):
            out.append(p)
        else:
            raise FaceNet2ExpNetError(f"input {p} does not exist")
    return out


@dataclass
class Frame:
    source: str
    index: int  # frame number in the video
    time_s: float
    rgb: np.ndarray


def video_frames(path: str, every: int = 1, max_frames: int | None = None, capture=None):
    """Yield every ``every``-th frame of a video file (or of an open ``capture``, e.g. a webcam) as RGB."""
    cap = capture if capture is not None else cv2.VideoCapture(path)
    if not cap.isOpened():
        raise FaceNet2ExpNetError(f"cannot open video {path} (unsupported codec or corrupt file)")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    i = n = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            if i % every == 0:
                yield Frame(path, i, i / fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                n += 1
                if max_frames and n >= max_frames:
                    break
            i += 1
    finally:
        cap.release()


def video_info(path: str) -> dict:
    cap = cv2.VideoCapture(path)
    try:
        return {
            "frames": int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
            "fps": cap.get(cv2.CAP_PROP_FPS) or 25.0,
            "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        }
    finally:
        cap.release()


def open_webcam(index: int = 0):
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        cap.release()
        raise FaceNet2ExpNetError(
            f"no camera at index {index} on this machine (none connected, or no permission); "
            "pass image or video files instead"
        )
    return cap


def draw_faces(rgb: np.ndarray, records) -> np.ndarray:
    """Boxes and 'label p%' captions on a copy of the image."""
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    scale = max(0.4, min(img.shape[:2]) / 700)
    for r in records:
        if r["box"] is None:
            continue
        x0, y0, x1, y1 = (int(round(v)) for v in r["box"])
        cv2.rectangle(img, (x0, y0), (x1, y1), (0, 200, 0), max(1, int(2 * scale)))
        text = f"{r['label']} {100 * r['probabilities'][r['label']]:.0f}%"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.rectangle(img, (x0, max(0, y0 - th - 6)), (x0 + tw + 4, y0), (0, 200, 0), -1)
        cv2.putText(img, text, (x0 + 2, max(th, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
