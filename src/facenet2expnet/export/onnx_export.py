"""Export a checkpoint to ONNX (dynamic batch axis) with its preprocessing metadata beside it."""

from __future__ import annotations

import os

import torch

from ..models.registry import load_checkpoint
from ..utils import atomic_write_json


class _WithSoftmax(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x), dim=1)


def export_onnx(checkpoint: str, out: str, opset: int = 17) -> dict:
    """Write OUT.onnx (input ``input``: N x C x S x S normalized; output ``probabilities``) and OUT.json (meta)."""
    model, meta = load_checkpoint(checkpoint)
    model.eval()
    pp = meta["preprocessing"]
    c = 1 if pp["channels"] == "L" else 3
    dummy = torch.zeros(2, c, pp["size"], pp["size"])
    wrapped = _WithSoftmax(model).eval()
    os.makedirs(os.path.dirname(os.path.abspath(out)) or ".", exist_ok=True)
    tmp = out + ".tmp"
    torch.onnx.export(wrapped, (dummy,), tmp, input_names=["input"], output_names=["probabilities"],
                      dynamic_axes={"input": {0: "batch"}, "probabilities": {0: "batch"}}, opset_version=opset, dynamo=False)
    os.replace(tmp, out)
    side = {k: v for k, v in meta.items() if k not in ("config",)}
    side.update(onnx_input="input (N x C x S x S, normalized as 'preprocessing' says)", onnx_output="probabilities (N x classes)")
    atomic_write_json(os.path.splitext(out)[0] + ".json", side)
    return side
