"""VGG-Face (Parkhi et al. 2015), the paper's face net: VGG-16 with the VGG-Face head.

Input: 224x224 RGB, minus the mean [129.1863, 104.7624, 93.5940] (0..255 scale, no scaling).
Taps and shapes at 224 px: conv1..conv5 blocks (``pool1`` 64x112x112 ... ``pool5``
512x7x7, the paper's tap), ``fc6`` 4096, ``fc7`` 4096, ``fc8`` 2622 (identities).

Weights: the widely shared PyTorch state dict with the Caffe layer names (``conv1_1.weight``
... ``fc8.bias``) and MatConvNet's ``vgg-face.mat``. Neither can be downloaded here; users
pass the file they have.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import FaceNet2ExpNetError
from .taps import requested_taps

VGGFACE_MEAN_RGB = (129.1863, 104.7624, 93.5940)
BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
CONV_NAMES = [f"conv{b + 1}_{i + 1}" for b, (_, n) in enumerate(BLOCKS) for i in range(n)]
TAPS = ("pool1", "pool2", "pool3", "pool4", "pool5", "fc6", "fc7", "fc8")


class VGGFace16(nn.Module):
    """VGG-16 with Caffe layer names. ``width_div``/``fc_dim`` shrink it (tests only; 1/4096 are VGG-Face)."""

    def __init__(self, num_classes: int = 2622, fc_dim: int = 4096, width_div: int = 1):
        super().__init__()
        in_ch, self.conv_names = 3, CONV_NAMES
        for (ch, n), b in zip(BLOCKS, range(5)):
            for i in range(n):
                setattr(self, f"conv{b + 1}_{i + 1}", nn.Conv2d(in_ch, ch // width_div, 3, padding=1))
                in_ch = ch // width_div
        self.fc6 = nn.Linear(in_ch * 7 * 7, fc_dim)
        self.fc7 = nn.Linear(fc_dim, fc_dim)
        self.fc8 = nn.Linear(fc_dim, num_classes)

    def forward_features(self, x: torch.Tensor, layers=("pool5",)) -> dict[str, torch.Tensor]:
        wanted, last = requested_taps(layers, TAPS, "vggface16")
        out, k = {}, 0
        for b, (_, n) in enumerate(BLOCKS):
            for _ in range(n):
                x = F.relu(getattr(self, self.conv_names[k])(x))
                k += 1
            x = F.max_pool2d(x, 2, 2)
            if f"pool{b + 1}" in wanted:
                out[f"pool{b + 1}"] = x
            if b + 1 > last:
                return out
        x = x.flatten(1)
        for name in ("fc6", "fc7", "fc8"):
            x = getattr(self, name)(x)
            if name != "fc8":
                x = F.relu(x)  # dropout is identity at inference
            if name in wanted:
                out[name] = x
            if TAPS.index(name) >= last:
                break
        return out

    def forward(self, x):
        return self.forward_features(x, ["fc8"])["fc8"]


def _infer_arch(state: dict) -> dict:
    try:
        return {
            "width_div": 64 // state["conv1_1.weight"].shape[0],
            "fc_dim": state["fc6.weight"].shape[0],
            "num_classes": state["fc8.weight"].shape[0],
        }
    except KeyError as exc:
        raise FaceNet2ExpNetError(f"VGG-Face weights lack {exc}; expected Caffe layer names conv1_1 ... fc8") from None


def load_vggface_state_dict(path: str) -> VGGFace16:
    """The PyTorch state dict with Caffe names (``.pth``, loaded with ``weights_only=True``) or a safetensors file."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = VGGFace16(**_infer_arch(state))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise FaceNet2ExpNetError(
            f"{path}: not a VGG-Face state dict; missing {missing[:4]}, unexpected {unexpected[:4]}"
        )
    return model


def load_vggface_matconvnet(path: str) -> VGGFace16:
    """MatConvNet ``vgg-face.mat``: ``layers`` cells with ``name`` and ``weights`` {filters HxWxInxOut, biases}.

    Also accepts the older form with ``filters``/``biases`` fields, and a top-level ``net`` struct.
    """
    import scipy.io

    mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    net = mat.get("net", None)
    layers = getattr(net, "layers", None) if net is not None else mat.get("layers")
    if layers is None:
        raise FaceNet2ExpNetError(f"{path}: no 'layers' (or 'net.layers') variable; expected MatConvNet's vgg-face.mat")
    state = {}
    for layer in np.atleast_1d(layers):
        name = str(getattr(layer, "name", ""))
        if name not in CONV_NAMES and name not in ("fc6", "fc7", "fc8"):
            continue
        if hasattr(layer, "weights"):
            filters, biases = layer.weights[0], layer.weights[1]
        else:
            filters, biases = layer.filters, layer.biases
        filters = np.asarray(filters, dtype=np.float32)
        if filters.ndim == 2:  # squeezed 1x1 conv (fc7/fc8): In x Out
            filters = filters[None, None]
        w = torch.from_numpy(np.ascontiguousarray(filters.transpose(3, 2, 0, 1)))  # -> Out x In x H x W
        if name.startswith("fc"):
            # fc6 is a 7x7 conv over pool5: flatten in PyTorch's C x H x W order
            w = w.reshape(w.shape[0], -1)
        state[f"{name}.weight"] = w
        state[f"{name}.bias"] = torch.from_numpy(np.asarray(biases, dtype=np.float32).reshape(-1))
    model = VGGFace16(**_infer_arch(state))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing:
        raise FaceNet2ExpNetError(f"{path}: MatConvNet file lacks layers {missing[:4]}")
    return model


def load_vggface(path: str) -> VGGFace16:
    if path.endswith(".mat"):
        return load_vggface_matconvnet(path)
    return load_vggface_state_dict(path)
