"""One way to load and run a model: name or path -> a ``Backend`` with ``logits(x)``.

Two backends, one protocol:

* ``TorchBackend``: a checkpoint from ``train`` (PATH.json + PATH.safetensors), rebuilt by the registry;
* ``OnnxBackend``: an export (PATH.onnx + PATH.json), run by onnxruntime; it imports no torch.

Both take N x C x S x S float32 faces, normalized as ``backend.preprocessing`` says, and return
N x classes *logits*. Probabilities are computed after (``eval/calibration.softmax``, with the model's
temperature), so test-time mirroring is the
training-time rule on both backends: the mean of a face's and its mirror's logits (``scores``).

Names and paths are resolved by ``models/pretrained.py`` (``resolve_model``), beside the models.
"""

from __future__ import annotations

import json
import os
from typing import Protocol

import numpy as np

from ..data.preprocess import Preprocessing
from ..errors import FaceNet2ExpNetError
from ..models.pretrained import DEFAULT_MODEL, resolve_model


class Backend(Protocol):
    kind: str  # "torch" or "onnx"
    path: str
    meta: dict
    classes: list
    preprocessing: Preprocessing

    def logits(self, x: np.ndarray) -> np.ndarray:
        """N x C x S x S float32 (normalized) -> N x classes float32 logits."""


class TorchBackend:
    kind = "torch"

    def __init__(self, path: str, device: str = "cpu"):
        try:
            import torch
        except ImportError:
            raise FaceNet2ExpNetError(
                f"{path} is a torch checkpoint, and torch is not installed: pip install 'facenet2expnet[train]', "
                f"or use an ONNX export such as the default {DEFAULT_MODEL!r}"
            ) from None

        from ..devices import resolve_device
        from ..models.registry import load_checkpoint

        model, meta = load_checkpoint(path)
        if meta.get("trunk_only"):
            raise FaceNet2ExpNetError(
                f"{path} is a stage-1 trunk (its head was never trained), not a recognizer: start a training run "
                f"from it with `facenet2expnet train --init-trunk {meta.get('name') or path} ...`"
            )
        self.device = resolve_device(device)
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        self.path, self.meta = path, meta
        self.classes, self.preprocessing = list(meta["classes"]), Preprocessing.from_dict(meta["preprocessing"])

    def logits(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
            return self.model(t.contiguous(memory_format=torch.channels_last)).float().cpu().numpy()


class OnnxBackend:
    kind = "onnx"

    def __init__(self, path: str, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise FaceNet2ExpNetError("running ONNX models needs onnxruntime: `pip install onnxruntime`") from None
        meta_path = os.path.splitext(path)[0] + ".json"
        if not os.path.exists(meta_path):
            raise FaceNet2ExpNetError(
                f"{path}: its metadata {meta_path} (classes, preprocessing) is missing; re-export the model"
            )
        with open(meta_path) as f:
            self.meta = json.load(f)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads  # e.g. 1 for batch-1 latency; default: onnxruntime's choice
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self.output = self.session.get_outputs()[0].name
        if self.output != "logits":
            raise FaceNet2ExpNetError(
                f"{path}: its output is {self.output!r}, not 'logits' (an export from before logits were "
                "the output); re-export it with `facenet2expnet export`"
            )
        self.path = path
        self.classes, self.preprocessing = (
            list(self.meta["classes"]),
            Preprocessing.from_dict(self.meta["preprocessing"]),
        )

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([self.output], {"input": np.ascontiguousarray(x, dtype=np.float32)})[0]


def load_backend(name_or_path: str | None = None, threads: int | None = None, device: str = "cpu") -> Backend:
    """Resolve and load: an .onnx file runs on onnxruntime (CPU), a checkpoint on torch (on ``device``: cpu, cuda[:N],
    auto)."""
    path = resolve_model(name_or_path)
    return OnnxBackend(path, threads=threads) if path.endswith(".onnx") else TorchBackend(path, device=device)


def scores(backend: Backend, x: np.ndarray, test_flip: bool | None = None) -> np.ndarray:
    """Logits of the faces ``x`` (N x C x S x S); with test-time mirroring (the model's setting by default),
    the mean of each face's and its mirror's, computed in one call on the 2N faces."""
    flip = backend.preprocessing.test_flip if test_flip is None else test_flip
    if not flip:
        return backend.logits(x)
    both = backend.logits(np.concatenate([x, x[..., ::-1]]))
    return 0.5 * (both[: len(x)] + both[len(x) :])
