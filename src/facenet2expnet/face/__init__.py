"""Faces in the wild: detection (BlazeFace CNN, the default; dlib HOG; OpenCV Haar), 5-point alignment, and
``prepare``."""

from . import blazeface  # noqa: F401  (registers the "blazeface" detector)
from .align import align_face, landmarks_from_box
from .detect import DETECTORS, Face, create_detector

__all__ = ["DETECTORS", "Face", "align_face", "create_detector", "landmarks_from_box", "crop_faces", "face_chips"]


def face_chips(rgb, detector, size: int, padding: float, channels: str = "RGB") -> list[tuple]:
    """The detect + align step of the pipeline (data/preprocess.py): an RGB photo -> [(Face, landmarks 5 x 2,
    chip uint8 in ``channels``)], largest face first. ``prepare`` and the recognizer both call it."""
    from ..data.preprocess import to_channels

    out = []
    for f in detector.detect(rgb):
        lm = f.landmarks if f.landmarks is not None else landmarks_from_box(f.box)
        out.append((f, lm, to_channels(align_face(rgb, lm, size, padding), channels)))
    return out


def crop_faces(image, detector, size: int, padding: float, channels: str = "RGB"):
    """Read any image source, then :func:`face_chips`: [(Face, chip uint8)], largest first."""
    from ..data.images import read_image

    return [(f, chip) for f, _, chip in face_chips(read_image(image, "RGB"), detector, size, padding, channels)]
