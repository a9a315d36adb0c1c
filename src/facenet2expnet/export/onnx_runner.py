"""Run an exported model with onnxruntime alone (no torch needed): ``pip install onnxruntime``."""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import FaceNet2ExpNetError


class OnnxModel:
    def __init__(self, path: str, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise FaceNet2ExpNetError("running ONNX models needs onnxruntime: `pip install onnxruntime`") from None
        meta_path = os.path.splitext(path)[0] + ".json"
        if not os.path.exists(meta_path):
            raise FaceNet2ExpNetError(f"{path}: its metadata {meta_path} (classes, preprocessing) is missing; re-export the model")
        with open(meta_path) as f:
            self.meta = json.load(f)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads  # e.g. 1 for batch-1 latency; default: onnxruntime's choice
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(["probabilities"], {"input": np.ascontiguousarray(x, dtype=np.float32)})[0]
