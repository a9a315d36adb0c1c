"""A run's model for the light install: RUN/model.onnx beside RUN/model.json (what `train` refits on every face).

``export_run_model(RUN)`` exports the refit model in float and in int8 (calibrated on the run's own faces), scores
both with onnxruntime on those faces, and keeps the int8 file where its accuracy is within ``INT8_TOLERANCE`` of the
float file's, else the float one. The card in RUN/model.json says which and why; the ONNX backend reads that JSON as
the export's metadata, so one card travels with both files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings

import numpy as np

from ..files import atomic_write_json, read_json

INT8_TOLERANCE = 0.005  # int8 ships where it loses at most half a point of accuracy against the float export
CALIBRATION_FACES = 256


def run_faces(meta: dict, limit: int = 2000, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Up to ``limit`` of the run's own faces (files) and their labels, a fixed random sample."""
    from ..data.datasets import load_dataset, parse_dataset_spec

    cfg = meta["config"]
    kind, root = parse_dataset_spec(cfg["dataset"])
    ds = load_dataset(kind, root, check_images=False, **({"classes": cfg["classes"]} if cfg.get("classes") else {}))
    order = np.random.default_rng(seed).permutation(len(ds))[:limit]
    return [ds.samples[i].path for i in order], ds.labels[order]


def onnx_accuracy(path: str, x: np.ndarray, y: np.ndarray, test_flip: bool) -> float:
    """Accuracy of an ONNX file on normalized faces ``x`` (N x C x S x S), the mirror averaged in as the model
    scores faces when ``test_flip``."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

    def logits(faces: np.ndarray) -> np.ndarray:
        return np.concatenate([sess.run(None, {"input": faces[i : i + 256]})[0] for i in range(0, len(faces), 256)])

    scores = logits(x)
    if test_flip:
        scores = 0.5 * (scores + logits(np.ascontiguousarray(x[..., ::-1])))
    return float((scores.argmax(1) == y).mean())


def export_run_model(run_dir: str, log=print) -> dict:
    """RUN/model.json -> RUN/model.onnx (int8 or float, whichever keeps the accuracy); -> what was chosen."""
    from ..data.preprocess import Preprocessing
    from .onnx_export import export_onnx
    from .onnx_quantize import quantize_onnx
    from .onnx_rewrite import pools_as_reduce_max

    ckpt = os.path.join(run_dir, "model.json")
    meta = read_json(ckpt)
    pp = Preprocessing.from_dict(meta["preprocessing"])
    files, labels = run_faces(meta)
    x = pp.to_tensor([pp.load(f) for f in files]).numpy()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on a net it exports correctly (tested for parity)
        plain, float_path, int8_path = (os.path.join(tmp, f"{k}.onnx") for k in ("plain", "float", "int8"))
        export_onnx(ckpt, plain, rewrite_pools=False)  # one torch export: the quantizer reads the plain graph
        shutil.copyfile(plain, float_path)
        pools_as_reduce_max(float_path)  # the float file as `export` writes it (same outputs, faster on CPU)
        quantize_onnx(plain, int8_path, x[:CALIBRATION_FACES])
        acc = {k: onnx_accuracy(p, x, labels, pp.test_flip) for k, p in (("float", float_path), ("int8", int8_path))}
        use = "int8" if acc["int8"] >= acc["float"] - INT8_TOLERANCE else "float"
        part = os.path.join(run_dir, "model.onnx.tmp")
        shutil.copyfile(int8_path if use == "int8" else float_path, part)
        os.replace(part, os.path.join(run_dir, "model.onnx"))
    choice = {
        "runtime": f"onnxruntime, {use}",
        "accuracy_on_run_faces": acc,
        "faces_scored": int(len(files)),
        "rule": f"int8 where its accuracy on the run's faces is within {100 * INT8_TOLERANCE:.1f} points of float",
    }
    meta["card"] = {**meta.get("card", {}), "onnx": choice}
    atomic_write_json(ckpt, meta)
    log(
        f"wrote {run_dir}/model.onnx ({use}; accuracy on the run's {len(files)} faces: "
        f"float {100 * acc['float']:.2f}%, "
        f"int8 {100 * acc['int8']:.2f}%): it runs in the light install, without torch"
    )
    return choice
