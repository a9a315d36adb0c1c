"""``ExpressionRecognizer``: photos, arrays or PIL images in, one record per face out.

    rec = ExpressionRecognizer.from_pretrained()          # the bundled model, offline
    rec.predict("photo.jpg")                              # [{"box", "landmarks", "label", "probabilities", ...}]
    rec.predict_proba(["a.jpg", "b.jpg"])                 # list of (faces x classes) arrays

Detection and alignment use the preprocessing stored with the model (size, grey/RGB, padding),
through the same functions as ``prepare``. ``detect=False`` treats every input as an already
cropped face. The model runs batched over all the faces of all inputs.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import numpy as np

from ..data.images import ImageLike
from ..errors import FaceNet2ExpNetError
from ..eval.calibration import softmax
from ..models.pretrained import BUNDLED
from .backend import load_backend, scores

_LOAD_LOCK = threading.Lock()


@dataclass
class FaceRecord:
    source: str
    face_index: int
    box: list | None
    landmarks: list | None
    detection_score: float | None
    label: str
    probabilities: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "face": self.face_index,
            "box": self.box,
            "landmarks": self.landmarks,
            "detection_score": self.detection_score,
            "label": self.label,
            "probabilities": self.probabilities,
        }


class ExpressionRecognizer:
    """Parameters only in ``__init__``; models load in :meth:`from_pretrained` (or lazily on first use)."""

    def __init__(
        self,
        model: str | None = None,
        detector: str = "blazeface",
        detect: bool = True,
        batch_size: int = 128,
        face_padding: float | None = None,
        threads: int | None = None,
        device: str = "cpu",
    ):
        self.model, self.detector, self.detect = model, detector, detect
        self.batch_size, self.face_padding, self.threads, self.device = batch_size, face_padding, threads, device

    # ---- loading

    @classmethod
    def from_pretrained(cls, name_or_path: str | None = None, **kw) -> "ExpressionRecognizer":
        """A bundled model name (default: ``DEFAULT_MODEL``, the int8 export of the fast FER2013 model, which runs
        on onnxruntime without torch) or a checkpoint path from ``train``/``export``."""
        rec = cls(model=name_or_path, **kw)
        rec._load()
        return rec

    def _load(self) -> None:
        """The backend (torch checkpoint or onnxruntime export), and the face detector where ``detect``: once each."""
        with _LOAD_LOCK:  # threads sharing a recognizer (the server's) load it once, and never swap it under another
            if "backend_" not in self.__dict__:
                backend = load_backend(self.model, threads=self.threads, device=self.device)
                self.meta_, self.classes_, self.preprocessing_ = backend.meta, backend.classes, backend.preprocessing
                self.backend_ = backend  # set last: its presence means the rest is there
        if self.detect:
            self._own_detector()

    def _own_detector(self):
        """This recognizer's face detector and the lock that lets one input at a time use it (a detector keeps
        state)."""
        with _LOAD_LOCK:
            if "detector_" not in self.__dict__:
                from ..face import create_detector

                self.detect_lock_ = threading.Lock()
                self.detector_ = create_detector(self.detector)
        return self.detector_, self.detect_lock_

    def _ensure(self):
        if "backend_" not in self.__dict__ or (self.detect and "detector_" not in self.__dict__):
            self._load()

    # ---- inference

    def faces_and_chips(self, src: ImageLike, detector=None, detect: bool | None = None):
        """-> (faces, chips) for one input; chips are uint8 in the model's colour mode and size.

        ``detector``: another detector instance of the same kind (e.g. one borrowed from the server's pool);
        ``detect``: this input's own choice (False: it is already a cropped face), else the recognizer's.
        """
        from ..face import crop_faces

        self._ensure()
        pp = self.preprocessing_
        if not (self.detect if detect is None else detect):
            return [None], [pp.load(src)]
        padding = self.face_padding if self.face_padding is not None else pp.face_padding
        if detector is not None:
            found = crop_faces(src, detector, pp.size, padding, channels=pp.channels)
        else:
            own, lock = self._own_detector()
            with lock:
                found = crop_faces(src, own, pp.size, padding, channels=pp.channels)
        return [f for f, _ in found], [c for _, c in found]

    def probabilities(self, chips: list[np.ndarray]) -> np.ndarray:
        """Faces x classes probabilities: softmax of the logits (of the mean of a face's and its mirror's with
        test_flip) divided by the model's temperature, fitted on validation faces where the model has one, so that
        a 0.9 means right about 90% of the time (eval/calibration.py); the most probable class is the same."""
        if not chips:
            return np.zeros((0, len(self.classes_)), np.float32)
        pp, t = self.preprocessing_, float(self.backend_.meta.get("temperature") or 1.0)
        out = [
            softmax(scores(self.backend_, pp.batch_array(chips[i : i + self.batch_size])), t)  # B x C x S x S in
            for i in range(0, len(chips), self.batch_size)
        ]
        return np.concatenate(out).astype(np.float32)

    def explain(self, src: ImageLike) -> list[dict]:
        """Grad-CAM of the predicted class on each face of one input: [{"label", "chip", "cam"}] (torch models only)."""
        self._ensure()
        if self.backend_.kind != "torch":
            raise FaceNet2ExpNetError(
                f"explanations (Grad-CAM) need a torch model, and {self.backend_.path} is an ONNX export: load a "
                f".json/.safetensors checkpoint, e.g. ExpressionRecognizer.from_pretrained({BUNDLED!r}) "
                "(needs `pip install facenet2expnet[train]`)"
            )
        import torch

        from ..viz.gradcam import grad_cam

        _, chips = self.faces_and_chips(src)
        if not chips:
            return []
        x = self.preprocessing_.batch(chips).to(self.backend_.device)
        probs = self.probabilities(chips)
        cams = grad_cam(self.backend_.model, x, torch.from_numpy(probs.argmax(1)).to(x.device))
        return [
            {"label": self.classes_[int(p.argmax())], "p": float(p.max()), "chip": c, "cam": m}
            for p, c, m in zip(probs, chips, cams)
        ]

    def _faces_and_probabilities(self, inputs: list) -> tuple[list, np.ndarray]:
        """-> ([(faces, chips)] per input, all faces x classes): every face of every input in one batched pass."""
        self._ensure()
        found = [self.faces_and_chips(src) for src in inputs]
        return found, self.probabilities([c for _, chips in found for c in chips])

    def predict_records(self, inputs) -> list[list[FaceRecord]]:
        """One list of :class:`FaceRecord` per input (empty where no face was found)."""
        inputs = _as_list(inputs)
        found, probs = self._faces_and_probabilities(inputs)
        out, k = [], 0
        for src, (faces, _) in zip(inputs, found):
            out.append(self.records(_name(src), faces, probs[k : k + len(faces)]))
            k += len(faces)
        return out

    def records(self, source: str, faces: list, probs: np.ndarray) -> list[FaceRecord]:
        """Face records of one input from its detected faces (None: the input was the face) and their probabilities."""
        recs = []
        for j, (f, p) in enumerate(zip(faces, probs)):
            d = f.to_dict() if f is not None else {"box": None, "landmarks": None, "score": None}
            label = self.classes_[int(p.argmax())]
            recs.append(
                FaceRecord(
                    source,
                    j,
                    d["box"],
                    d["landmarks"],
                    d["score"],
                    label,
                    {c: float(v) for c, v in zip(self.classes_, p)},
                )
            )
        return recs

    def predict(self, inputs) -> list:
        """Labels. For one input: a list of face records (dicts); for a list: one such list per input."""
        recs = [[r.to_dict() for r in rs] for rs in self.predict_records(inputs)]
        return recs if isinstance(inputs, (list, tuple)) else recs[0]

    def predict_proba(self, inputs):
        """Class probabilities (columns in ``classes_`` order): a faces x classes array per input."""
        found, probs = self._faces_and_probabilities(_as_list(inputs))
        bounds = np.cumsum([0] + [len(chips) for _, chips in found])
        arrays = [probs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        return arrays if isinstance(inputs, (list, tuple)) else arrays[0]


def _as_list(inputs) -> list:
    if isinstance(inputs, (list, tuple)):
        return list(inputs)
    return [inputs]


def _name(src) -> str:
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    return f"<{type(src).__name__}>"
