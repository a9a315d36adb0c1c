"""Faces in the wild: detection (dlib HOG / OpenCV Haar), 5-point alignment, and ``prepare``."""

from .align import align_face, landmarks_from_box
from .detect import DETECTORS, Face, create_detector

__all__ = ["DETECTORS", "Face", "align_face", "create_detector", "landmarks_from_box", "crop_faces"]


def crop_faces(image, detector, size: int, padding: float, channels: str = "RGB"):
    """Detect, then align every face: [(Face, chip uint8)], largest first. The one place the two meet."""
    from ..data.images import read_image

    rgb = read_image(image, "RGB")
    out = []
    for f in detector.detect(rgb):
        lm = f.landmarks if f.landmarks is not None else landmarks_from_box(f.box)
        chip = align_face(rgb, lm, size, padding)
        if channels == "L":
            import cv2

            chip = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
        out.append((f, chip))
    return out
