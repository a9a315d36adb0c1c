"""Face alignment: a similarity transform from 5 landmarks to a canonical template, in one place.

The template is dlib's 5-point face-chip template (the positions its ``get_face_chip_details``
uses for the 5-point shape predictor), in a unit square before padding. Landmark order is the
5-point predictor's: 0/1 outer/inner corner of the person's left eye (image right), 2/3
outer/inner corner of the right eye (image left), 4 nose base.

Chip geometry follows dlib's convention so that our 150 px chips match dlib's own: the least
squares similarity maps template points (scaled by the chip size) to the image landmarks; the
chip's corner pixels (0, 0) and (size-1, size-1) sit on the corners of the face rectangle of
side ``size * scale``, rotated about its centre.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

FIVE_POINT_TEMPLATE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316310],
    ]
)


def template_points(size: int, padding: float) -> np.ndarray:
    """Where the 5 landmarks land in a ``size`` px chip with ``padding`` (fraction of the face width on each side)."""
    return (padding + FIVE_POINT_TEMPLATE) / (2 * padding + 1) * size


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Least-squares rotation+scale+translation mapping ``src`` to ``dst`` (N x 2 each): (scale, angle, translation)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s0, d0 = src - ms, dst - md
    u, sv, vt = np.linalg.svd(d0.T @ s0 / len(src))
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    r = u @ np.diag([1.0, d]) @ vt
    scale = (sv * np.array([1.0, d])).sum() / ((s0**2).sum() / len(src))
    return float(scale), math.atan2(r[1, 0], r[0, 0]), md - scale * r @ ms


def chip_to_image_matrix(landmarks: np.ndarray, size: int, padding: float) -> np.ndarray:
    """2 x 3 matrix mapping chip pixel (x, y, 1) to image coordinates."""
    scale, angle, t = similarity_transform(template_points(size, padding), landmarks)
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    centre = scale * rot @ np.array([size / 2.0, size / 2.0]) + t
    k = (size * scale - 1.0) / (size - 1.0)  # dlib: the rect's corner pixels are the chip's corner pixels
    a = rot * k
    return np.hstack([a, (centre - a @ np.array([(size - 1) / 2.0, (size - 1) / 2.0]))[:, None]])


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int, padding: float) -> np.ndarray:
    """Crop the aligned ``size`` x ``size`` face chip (uint8, same channels as ``image``).

    When the face is more than twice the chip, the image is first halved (Gaussian pyramid, as
    dlib does), so that the chip is not aliased.
    """
    m = chip_to_image_matrix(landmarks, size, padding)
    # Halve the image (5-tap Gaussian pyramid) while the face is still more than twice the chip:
    # bilinear sampling alone would alias. dlib's chips are made the same way.
    side = math.hypot(m[0, 0], m[1, 0]) * (size - 1) + 1
    while side / 2 > size and min(image.shape[:2]) > 2:
        image = cv2.pyrDown(image)
        m = m * 0.5  # pyrDown's pixel i sits on input pixel 2i
        side /= 2
    return cv2.warpAffine(
        image,
        m,
        (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def landmarks_from_box(box) -> np.ndarray:
    """Approximate 5 landmarks from a face box alone (for detectors without landmarks, e.g. Haar).

    The fractions are where dlib's 5 landmarks fall inside OpenCV Haar boxes, measured on the
    13 faces of the shared test photos (std about 0.02 of the box side); good enough for an
    upright, frontal face, and no better: prefer a landmark detector. Mirror-symmetrized.
    """
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    frac = np.array([[0.75, 0.41], [0.61, 0.41], [0.25, 0.41], [0.39, 0.41], [0.50, 0.66]])
    return np.array([x0, y0]) + frac * np.array([w, h])
