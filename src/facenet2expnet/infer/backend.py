"""One way to load and run a model: name or path -> a ``Backend`` with ``logits(x)``.

Two backends, one protocol:

* ``TorchBackend``: a checkpoint from ``train`` (PATH.json + PATH.safetensors), rebuilt by the registry;
* ``OnnxBackend``: an export (PATH.onnx + PATH.json), run by onnxruntime; it imports no torch.

Both take N x C x S x S float32 faces, normalized as ``backend.preprocessing`` says, and return
N x classes *logits*. Probabilities are computed after (``softmax``), so test-time mirroring is the
training-time rule on both backends: the mean of a face's and its mirror's logits (``scores``).

``resolve_model`` is the one resolver from a name or path to a file: the recognizer, the CLI's
``predict`` and ``export``, and the benchmarks all go through it.
"""

from __future__ import annotations

import json
import os
from typing import Protocol

import numpy as np

from ..data.preprocess import Preprocessing
from ..errors import FaceNet2ExpNetError

# The one default model of `from_pretrained()`, `predict`, `serve` and `make demo`: the int8 export of the fast
# FER2013 model. As accurate on FER2013 PublicTest as its float model (65.48% vs 65.28%), faster, and it runs on
# onnxruntime, so the light install (no torch) can use it.
DEFAULT_MODEL = "fer2013-fn2en-fast-int8"
# Its float (torch) checkpoint: what needs torch weights (explain's Grad-CAM, --init-trunk, --distill-from) names it.
BUNDLED = "fer2013-fn2en-fast"


class Backend(Protocol):
    kind: str  # "torch" or "onnx"
    path: str
    meta: dict
    classes: list
    preprocessing: Preprocessing

    def logits(self, x: np.ndarray) -> np.ndarray:
        """N x C x S x S float32 (normalized) -> N x classes float32 logits."""


def pretrained_dir() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained")


def bundled_names() -> list[str]:
    here = pretrained_dir()
    return sorted(f[:-5] for f in os.listdir(here) if f.endswith(".json")) if os.path.isdir(here) else []


def describe_bundled() -> list[dict]:
    """One row per model shipped in the package: its runtime, net, card accuracy, size and whether it is a default."""
    from ..utils import read_json

    rows = []
    for name in bundled_names():
        base = bundled_model_path(name)
        meta = read_json(base + ".json")
        onnx = os.path.exists(base + ".onnx")
        weights = base + (".onnx" if onnx else ".safetensors")
        card = meta.get("card") or {}
        rows.append({
            "name": name, "runtime": "onnxruntime, int8" if meta.get("quantization") else "onnxruntime" if onnx else "torch",
            "net": meta["arch"].get("name", meta["arch"].get("kind", "")), "classes": len(meta["classes"]),
            "dataset": card.get("dataset"), "accuracy": card.get("accuracy"), "notes": card.get("notes", ""),
            "mib": round(os.path.getsize(weights) / 2**20, 1) if os.path.exists(weights) else None,
            "default_for": ["from_pretrained(), predict, serve"] if name == DEFAULT_MODEL else [],
        })  # fmt: skip
    return rows


def bundled_model_path(name: str = DEFAULT_MODEL) -> str:
    """PATH (without extension) of a model shipped in the package."""
    path = os.path.join(pretrained_dir(), name)
    if not os.path.exists(path + ".json"):
        raise FaceNet2ExpNetError(
            f"no bundled model {name!r}; bundled: {', '.join(bundled_names()) or 'none'}; "
            "or pass a checkpoint path (.json/.safetensors from train, .onnx from export)"
        )
    return path


def resolve_model(name_or_path: str | None = None) -> str:
    """A model's file: ``PATH.onnx`` for an export, ``PATH.json`` for a torch checkpoint.

    Accepts a bundled name, a path with or without its extension, or None (the default bundled model).
    A stem with an .onnx and no .safetensors beside its JSON (the bundled int8 model) is an export.
    """
    m = name_or_path or DEFAULT_MODEL
    if m.endswith(".safetensors"):
        path = m.removesuffix(".safetensors") + ".json"
    elif m.endswith((".onnx", ".json")):
        path = m
    elif os.path.isfile(m):
        raise FaceNet2ExpNetError(
            f"model {m}: not a model file; give a checkpoint (.json/.safetensors from `train`), an export (.onnx "
            f"from `export`) or a bundled name ({', '.join(bundled_names())})"
        )
    else:  # a stem: here, or a bundled model's
        stem = m if os.path.exists(m + ".json") or os.path.exists(m + ".onnx") else bundled_model_path(m)
        export = os.path.exists(stem + ".onnx") and not os.path.exists(stem + ".safetensors")
        path = stem + (".onnx" if export else ".json")
    if not os.path.exists(path):
        raise FaceNet2ExpNetError(f"model {name_or_path!r}: {path} does not exist")
    return path


def resolve_checkpoint(name_or_path: str, purpose: str) -> str:
    """``resolve_model`` for uses that need torch weights (exporting, a trunk to start from, a teacher to distil
    from): an ONNX export is refused, and ``purpose`` (e.g. ``--init-trunk``) names the use in the error."""
    path = resolve_model(name_or_path)
    if path.endswith(".onnx"):
        raise FaceNet2ExpNetError(
            f"{purpose} {name_or_path}: {path} is an ONNX export, which has no torch weights; name a torch checkpoint "
            f"(.json/.safetensors from train, or a bundled float model such as {BUNDLED})"
        )
    return path


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

        from ..models.registry import load_checkpoint
        from ..utils import resolve_device

        model, meta = load_checkpoint(path)
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
    """Resolve and load: an .onnx file runs on onnxruntime (CPU), a checkpoint on torch (on ``device``: cpu, cuda[:N], auto)."""
    path = resolve_model(name_or_path)
    return OnnxBackend(path, threads=threads) if path.endswith(".onnx") else TorchBackend(path, device=device)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def scores(backend: Backend, x: np.ndarray, test_flip: bool | None = None) -> np.ndarray:
    """Logits of the faces ``x`` (N x C x S x S); with test-time mirroring (the model's setting by default),
    the mean of each face's and its mirror's, computed in one call on the 2N faces."""
    flip = backend.preprocessing.test_flip if test_flip is None else test_flip
    if not flip:
        return backend.logits(x)
    both = backend.logits(np.concatenate([x, x[..., ::-1]]))
    return 0.5 * (both[: len(x)] + both[len(x) :])
