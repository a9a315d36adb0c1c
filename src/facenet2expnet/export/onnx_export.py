"""Export a checkpoint to ONNX (dynamic batch axis) with its preprocessing metadata beside it."""

from __future__ import annotations

import os

import torch

from ..files import atomic_write_json
from ..models.registry import load_checkpoint
from .onnx_rewrite import pools_as_reduce_max


def export_onnx(
    checkpoint: str, out: str, opset: int = 17, test_flip: bool | None = None, rewrite_pools: bool = True
) -> dict:
    """Write OUT.onnx (input ``input``: N x C x S x S normalized; output ``logits``) and OUT.json (meta).

    The graph ends at the logits: probabilities are computed after (``infer.backend.softmax``), so that
    test-time mirroring averages logits on onnxruntime exactly as it does on torch and in training.
    ``test_flip``: override whether the recognizer also scores each face's mirror (None: as the checkpoint
    was validated). False halves the cost per face, at the accuracy the checkpoint has without mirrors.
    ``rewrite_pools``: apply ``onnx_rewrite.pools_as_reduce_max`` (same outputs, faster on CPU); off for a
    file that is quantized next (the quantizer knows MaxPool, and rewrites its own output).
    """
    model, meta = load_checkpoint(checkpoint)
    changed = test_flip is not None and bool(test_flip) != bool(meta["preprocessing"].get("test_flip"))
    if changed:  # said in the metadata: the card's accuracy was measured the other way
        meta["preprocessing"] = {**meta["preprocessing"], "test_flip": bool(test_flip)}
        meta["export_note"] = (
            f"test_flip set to {bool(test_flip)} at export (the checkpoint's was {not test_flip}): the card's "
            "accuracy was measured the checkpoint's way; measure this file with benchmarks/inference.py"
        )
    model.eval()
    pp = meta["preprocessing"]
    c = 1 if pp["channels"] == "L" else 3
    dummy = torch.zeros(2, c, pp["size"], pp["size"])
    os.makedirs(os.path.dirname(os.path.abspath(out)) or ".", exist_ok=True)
    tmp = out + ".tmp"
    torch.onnx.export(
        model,
        (dummy,),
        tmp,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=opset,
        dynamo=False,
    )
    if rewrite_pools:
        rewritten = pools_as_reduce_max(tmp)
        if rewritten:
            meta["graph_rewrites"] = {"max_pool_as_reduce_max": rewritten}
    os.replace(tmp, out)
    side = {k: v for k, v in meta.items() if k not in ("config",)}
    side.update(
        onnx_input="input (N x C x S x S, normalized as 'preprocessing' says)",
        onnx_output="logits (N x classes); probabilities = softmax(logits / temperature), temperature 1 if absent",
    )
    atomic_write_json(os.path.splitext(out)[0] + ".json", side)
    return side
