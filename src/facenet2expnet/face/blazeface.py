"""BlazeFace full-range: a small CNN face detector (TFLite, run by ai-edge-litert), offline weights in the package.

The model (see face/models/README.md) takes the photo letterboxed to 192 x 192 RGB in [-1, 1] and scores
2304 anchors, one per cell of a 48 x 48 grid (stride 4), each with a face score (a logit) and 16
regression values: the box centre and size, then 6 keypoints (eyes, nose tip, mouth, ears), all
in pixels of the 192 px input relative to the anchor's centre. Overlapping detections are merged
by weighted non-maximum suppression (score-weighted mean of the boxes of a cluster).

Alignment keeps dlib's 5-point template: where dlib is installed, its 5-point predictor places the
landmarks inside each BlazeFace box; elsewhere the landmarks come from the box.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from .detect import Face, FaceDetector, box_iou, import_dlib, register_detector

INPUT = 192
GRID = 48  # 192 / stride 4
MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "face_detection_full_range_sparse.tflite")


def anchors() -> np.ndarray:
    """2304 x 2 anchor centres, (x, y) in [0, 1], row by row (fixed anchor size 1)."""
    ys, xs = np.mgrid[0:GRID, 0:GRID]
    return np.stack([(xs.ravel() + 0.5) / GRID, (ys.ravel() + 0.5) / GRID], axis=1)


def letterbox(rgb: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """The photo scaled into a 192 x 192 square, padded with black: (1 x 192 x 192 x 3 float in [-1, 1], scale, pad x,
    pad y)."""
    h, w = rgb.shape[:2]
    scale = INPUT / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = np.zeros((INPUT, INPUT, 3), np.uint8)
    px, py = (INPUT - nw) // 2, (INPUT - nh) // 2
    canvas[py : py + nh, px : px + nw] = cv2.resize(
        rgb, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    return (canvas.astype(np.float32) / 127.5 - 1.0)[None], scale, px, py


def decode(raw: np.ndarray, logits: np.ndarray, min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (boxes N x 4 as x0, y0, x1, y1 in input pixels, scores N, keypoints N x 6 x 2), for scores >= min_score."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(-1).astype(np.float64), -100, 100)))
    keep = scores >= min_score
    raw, scores = raw.reshape(-1, 16)[keep], scores[keep]
    centre = anchors()[keep] * INPUT  # anchor centres in input pixels
    cx, cy = centre[:, 0] + raw[:, 0], centre[:, 1] + raw[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + centre[:, None, :]
    return boxes, scores, keypoints


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, iou: float = 0.3) -> list[tuple]:
    """Clusters of overlapping detections, each merged into the score-weighted mean box and keypoints."""
    order, out = np.argsort(-scores), []
    while len(order):
        overlap = box_iou(boxes[order[0]], boxes[order]) >= iou
        members, order = order[overlap], order[~overlap]
        wts = scores[members][:, None]
        box = (boxes[members] * wts).sum(0) / wts.sum()
        kps = (keypoints[members] * wts[:, :, None]).sum(0) / wts.sum()
        out.append((box, float(scores[members].max()), kps))
    return out


@register_detector
class BlazeFaceDetector(FaceDetector):
    """BlazeFace full-range (Google, Apache-2.0 weights in the package), run by ai-edge-litert; dlib's 5 landmarks."""

    name = "blazeface"

    def __init__(self, min_score: float = 0.5, **kw):
        super().__init__(**kw)
        self.min_score = min_score

    def load(self) -> None:
        from ..errors import FaceNet2ExpNetError

        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise FaceNet2ExpNetError(
                "the blazeface detector needs ai-edge-litert: `pip install ai-edge-litert`, or use --detector dlib"
            ) from None
        self._net = Interpreter(model_path=MODEL, num_threads=1)
        self._net.allocate_tensors()
        self._in = self._net.get_input_details()[0]["index"]
        out = {d["name"]: d["index"] for d in self._net.get_output_details()}
        self._out_boxes, self._out_scores = out["Identity"], out["Identity_1"]  # 1 x 2304 x 16, 1 x 2304 x 1
        try:
            from ..files import find_model_file

            self._predictor = import_dlib().shape_predictor(find_model_file("shape_predictor_5_face_landmarks.dat"))
        except Exception:  # no dlib: landmarks from the box (face.landmarks_from_box)
            self._predictor = None

    def _boxes(self, rgb) -> list[tuple]:
        """[(box x0, y0, x1, y1 in the pixels of ``rgb``, score)] after weighted NMS."""
        x, scale, px, py = letterbox(rgb)
        self._net.set_tensor(self._in, x)
        self._net.invoke()
        boxes, scores, kps = decode(
            self._net.get_tensor(self._out_boxes), self._net.get_tensor(self._out_scores), self.min_score
        )
        return [
            ((box - np.array([px, py, px, py])) / scale, score) for box, score, _ in weighted_nms(boxes, scores, kps)
        ]

    def _detect(self, rgb):
        found = self._boxes(rgb)
        if not found:
            # The full-range model is made for faces that do not fill the frame: a tight face crop (an aligned dataset
            # image, a close selfie) is looked at again inside a black border (measured on SFEW Val: 11 -> 38 of 40).
            m = max(rgb.shape[:2]) // 2
            padded = cv2.copyMakeBorder(rgb, m, m, m, m, cv2.BORDER_CONSTANT, value=0)
            found = [(box - m, score) for box, score in self._boxes(padded)]
        faces = []
        for box, score in found:
            x0, y0 = max(0.0, float(box[0])), max(0.0, float(box[1]))
            x1, y1 = min(float(rgb.shape[1]), float(box[2])), min(float(rgb.shape[0]), float(box[3]))
            if min(x1 - x0, y1 - y0) >= self.min_face:
                faces.append(Face((x0, y0, x1, y1), score, self._landmarks(rgb, (x0, y0, x1, y1))))
        return faces

    def _landmarks(self, rgb, box):
        if self._predictor is None:
            return None
        dlib = import_dlib()
        shape = self._predictor(rgb, dlib.rectangle(*[int(round(v)) for v in box]))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)

    def _refine(self, rgb, face):
        return Face(face.box, face.score, self._landmarks(rgb, face.box))
