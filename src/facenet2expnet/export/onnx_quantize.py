"""Static int8 quantization of an exported ONNX model, calibrated on real faces.

Weights become int8 (per output channel) and activations uint8, with ranges measured on the
calibration faces (min/max). Three nodes or kinds of node stay in float, each for a measured reason
(`fer2013-fn2en-fast` as first bundled, after 35 refining epochs; 512 FER2013 Training faces for
calibration, PublicTest):

* the first conv: its input is the normalized grey image with one channel; quantizing it cost
  8 points (64.6% -> 56.7%), leaving it in float gives the accuracy back (64.7%). The cause is AVX2's
  u8 x s8 saturation (bright faces put the inputs near 255): on the accurate model 7-bit weights
  (``reduce_range``) cut the loss to 0.25 points, but the int8 one-channel conv ran slower than the float one;
* the MatMuls of the adaptive pooling (small constant matrices; nothing to gain);
* the last Gemm, which produces the logits (the output stays float, as the float model's).

Last, ``onnx_rewrite.pools_as_reduce_max`` turns its max poolings into Reshape + ReduceMax (same outputs,
faster on CPU). The quantized file runs with onnxruntime exactly like the float one (same input and output
names, same metadata JSON beside it, with a ``quantization`` entry added).
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from ..errors import FaceNet2ExpNetError
from ..files import atomic_write_json
from .onnx_rewrite import pools_as_reduce_max


def _float_nodes(model_path: str) -> list[str]:
    """Names of the nodes kept in float: the first Conv, every MatMul, and the last Gemm (the logits)."""
    import onnx

    nodes = onnx.load(model_path).graph.node
    convs = [n.name for n in nodes if n.op_type == "Conv"]
    gemms = [n.name for n in nodes if n.op_type == "Gemm"]
    return convs[:1] + [n.name for n in nodes if n.op_type == "MatMul"] + gemms[-1:]


def quantize_onnx(onnx_in: str, onnx_out: str, calibration: np.ndarray, batch_size: int = 32) -> dict:
    """Write an int8 copy of ``onnx_in`` to ``onnx_out`` (and its metadata JSON beside it).

    ``calibration``: N x C x S x S float32, faces normalized as the model's preprocessing says
    (``Preprocessing.to_tensor(...).numpy()``); a few hundred real faces are enough.
    """
    try:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise FaceNet2ExpNetError(
            f"int8 quantization needs onnx and onnxruntime ({e}); install them with `pip install onnx onnxruntime`"
        ) from e
    calibration = np.asarray(calibration, dtype=np.float32)
    if calibration.ndim != 4 or len(calibration) == 0:
        raise FaceNet2ExpNetError(
            f"calibration faces must be a non-empty N x C x S x S array, got shape {calibration.shape}"
        )

    class _Faces(CalibrationDataReader):
        def __init__(self):
            self.start = 0

        def get_next(self):
            if self.start >= len(calibration):
                return None
            batch = calibration[self.start : self.start + batch_size]
            self.start += batch_size
            return {"input": batch}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = os.path.join(tmp, "prepared.onnx")
        quant_pre_process(
            onnx_in, prepared
        )  # shape inference + graph folding, as onnxruntime recommends before quantizing
        kept = _float_nodes(prepared)
        part = onnx_out + ".tmp"
        quantize_static(
            prepared,
            part,
            _Faces(),
            quant_format=QuantFormat.QOperator,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=kept,
        )
        rewritten = pools_as_reduce_max(part, shapes_from=prepared)  # same outputs, faster on CPU
        os.replace(part, onnx_out)
    meta_in = os.path.splitext(onnx_in)[0] + ".json"
    meta = json.load(open(meta_in)) if os.path.exists(meta_in) else {}
    if rewritten:
        meta["graph_rewrites"] = {"max_pool_as_reduce_max": rewritten}
    meta["quantization"] = {
        "weights": "int8, per output channel",
        "activations": "uint8, min/max over the calibration faces",
        "calibration_faces": int(len(calibration)),
        "kept_in_float": kept,
        "card": "the card's accuracy is the float model's; measure this file with benchmarks/inference.py",
    }
    atomic_write_json(os.path.splitext(onnx_out)[0] + ".json", meta)
    return meta


def calibration_files(inputs: list[str], n: int, seed: int = 0) -> list[str]:
    """Up to ``n`` image files from ``inputs`` (files, or folders searched recursively), a fixed random sample:
    the same files give the same int8 model."""
    import random

    from ..data.images import is_image_file

    files = []
    for p in inputs:
        if os.path.isdir(p):
            files += sorted(os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs if is_image_file(f))
        elif not os.path.exists(p):
            raise FaceNet2ExpNetError(f"--int8 {p}: does not exist; give face crops (images) or folders of them")
        elif not is_image_file(p):
            raise FaceNet2ExpNetError(f"--int8 {p}: not an image file; give face crops (images) or folders of them")
        else:
            files.append(p)
    if not files:
        raise FaceNet2ExpNetError(
            "--int8 needs face crops (image files or folders of them) to calibrate on; none were found in "
            + ", ".join(inputs)
        )
    random.Random(seed).shuffle(files)
    return files[:n]


def export_int8(
    checkpoint: str, onnx_out: str, faces: list[str], opset: int = 17, test_flip: bool | None = None
) -> dict:
    """A torch checkpoint -> an int8 ONNX file calibrated on the face crops ``faces`` (and its metadata beside it).

    The float export goes to a temporary folder (its max poolings left as they are, so that the quantizer sees
    the plain graph); the calibration faces go through the model's own preprocessing.
    """
    from ..data.preprocess import Preprocessing
    from .onnx_export import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        float_path = os.path.join(tmp, "float.onnx")
        meta = export_onnx(checkpoint, float_path, opset=opset, test_flip=test_flip, rewrite_pools=False)
        pp = Preprocessing.from_dict(meta["preprocessing"])
        calibration = pp.to_tensor([pp.load(f) for f in faces]).numpy()
        return quantize_onnx(float_path, onnx_out, calibration)
