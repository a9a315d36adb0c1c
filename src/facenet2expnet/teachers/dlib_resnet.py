"""A PyTorch port of dlib's ResNet-29 face recognition net (``dlib_face_recognition_resnet_model_v1``).

Input: an aligned 150x150 RGB face chip, normalized as (x - [122.782, 117.001, 104.298]) / 256.
Output: a 128-d embedding (not normalized). Faces of one person lie within 0.6 (Euclidean).

Feature taps (``forward_features(x, layers=[...])``), shapes at 150 px input:

========== =============== ===========================================================
name       shape           what
========== =============== ===========================================================
stem       32 x 35 x 35    7x7/2 conv (no padding) + scale/shift + ReLU + 3x3/2 max-pool
level4     32 x 35 x 35    3 residual blocks, 32 channels
level3     64 x 17 x 17    1 downsampling + 3 residual blocks, 64 channels
level2     128 x 8 x 8     1 downsampling + 2 residual blocks, 128 channels
level1     256 x 4 x 4     1 downsampling + 2 residual blocks, 256 channels
level0     256 x 2 x 2     1 downsampling block, 256 channels
pooled     256             global average pool
embedding  128             256 -> 128 linear layer without bias
========== =============== ===========================================================

Level names follow dlib's own (``alevel0`` is the top). Each conv has a bias and is followed by
a per-channel scale/shift (dlib's ``affine_`` layer, batch norm folded at training time).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .taps import requested_taps

DLIB_MEAN_RGB = (122.782, 117.001, 104.298)
DLIB_STD = 256.0
LEVELS = (
    ("level4", 32, 3, False),
    ("level3", 64, 4, True),
    ("level2", 128, 3, True),
    ("level1", 256, 3, True),
    ("level0", 256, 1, True),
)
TAPS = ("stem", "level4", "level3", "level2", "level1", "level0", "pooled", "embedding")
TAP_SHAPES_150 = {
    "stem": (32, 35, 35),
    "level4": (32, 35, 35),
    "level3": (64, 17, 17),
    "level2": (128, 8, 8),
    "level1": (256, 4, 4),
    "level0": (256, 2, 2),
    "pooled": (256,),
    "embedding": (128,),
}


class ScaleShift(nn.Module):
    """dlib's affine_ layer in conv mode: y = x * gamma[c] + beta[c]."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return torch.addcmul(self.beta.view(1, -1, 1, 1), x, self.gamma.view(1, -1, 1, 1))


def add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: the smaller tensor is zero-padded in channels and at the bottom/right."""
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def pad(t):
        dc, dh, dw = c - t.shape[1], h - t.shape[2], w - t.shape[3]
        return F.pad(t, (0, dw, 0, dh, 0, dc)) if (dc or dh or dw) else t

    return pad(a) + pad(b)


class ResidualBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, downsample: bool):
        super().__init__()
        self.downsample = downsample
        # dlib pads a conv by nr/2 only when its stride is 1: the stride-2 conv has no padding
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=2 if downsample else 1, padding=0 if downsample else 1)
        self.scale1 = ScaleShift(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.scale2 = ScaleShift(out_ch)

    def forward(self, x):
        y = self.scale2(self.conv2(F.relu(self.scale1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.downsample else x
        return F.relu(add_zero_padded(y, shortcut))


class DlibResNet29(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem_conv = nn.Conv2d(3, 32, 7, stride=2, padding=0)
        self.stem_scale = ScaleShift(32)
        levels, ch = {}, 32
        for name, out_ch, n_blocks, down in LEVELS:
            blocks = [ResidualBlock(ch, out_ch, down)] + [
                ResidualBlock(out_ch, out_ch, False) for _ in range(n_blocks - 1)
            ]
            levels[name] = nn.Sequential(*blocks)
            ch = out_ch
        self.levels = nn.ModuleDict(levels)
        self.fc = nn.Linear(256, 128, bias=False)

    def forward_features(self, x: torch.Tensor, layers=("level2",)) -> dict[str, torch.Tensor]:
        """Run up to the deepest requested tap; return {tap name: tensor}. ``x``: N x 3 x 150 x 150, normalized."""
        wanted, last = requested_taps(layers, TAPS, "dlib-resnet29")
        out = {}
        x = F.max_pool2d(F.relu(self.stem_scale(self.stem_conv(x))), 3, 2)
        if "stem" in wanted:
            out["stem"] = x
        for i, name in enumerate(TAPS[1:6], start=1):
            if i > last:
                return out
            x = self.levels[name](x)
            if name in wanted:
                out[name] = x
        if last >= TAPS.index("pooled"):
            x = x.mean(dim=(2, 3))
            if "pooled" in wanted:
                out["pooled"] = x
        if "embedding" in wanted:
            out["embedding"] = self.fc(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x, ["embedding"])["embedding"]

    def conv_scale_pairs(self):
        """(conv, scale) modules in dlib's file order: stem, then per block conv1/scale1, conv2/scale2."""
        pairs = [(self.stem_conv, self.stem_scale)]
        for name, *_ in LEVELS:
            for block in self.levels[name]:
                pairs += [(block.conv1, block.scale1), (block.conv2, block.scale2)]
        return pairs


def load_dlib_resnet29(path: str) -> DlibResNet29:
    """Build :class:`DlibResNet29` and fill it from dlib's .dat file, checking every shape."""
    import numpy as np

    from .dlib_format import DlibFormatError, read_dlib_network

    info, layers = read_dlib_network(path)
    convs = [lay for lay in layers if lay.kind == "con"]
    affines = [lay for lay in layers if lay.kind == "affine"]
    fcs = [lay for lay in layers if lay.kind == "fc"]
    model = DlibResNet29()
    pairs = model.conv_scale_pairs()
    if len(convs) != len(pairs) or len(affines) != len(pairs) or len(fcs) != 1:
        raise DlibFormatError(
            f"{path}: expected 29 conv, 29 affine and 1 fc layers; found {len(convs)}, {len(affines)}, {len(fcs)}"
        )
    with torch.no_grad():
        for (conv, scale), lc, la in zip(pairs, convs, affines):
            w = conv.weight
            if (lc.fields["num_filters"], lc.fields["nr"], lc.fields["stride_y"], lc.fields["padding_y"]) != (
                w.shape[0],
                w.shape[2],
                conv.stride[0],
                conv.padding[0],
            ):
                raise DlibFormatError(f"{path}: conv layer does not match the ResNet-29 architecture: {lc.fields}")
            n_w = w.numel()
            if lc.params.size != n_w + w.shape[0]:
                raise DlibFormatError(f"{path}: conv params have {lc.params.size} values, expected {n_w + w.shape[0]}")
            w.copy_(torch.from_numpy(lc.params[:n_w].reshape(w.shape)))
            conv.bias.copy_(torch.from_numpy(lc.params[n_w:]))
            k = scale.gamma.numel()
            if la.params.size != 2 * k:
                raise DlibFormatError(f"{path}: affine params have {la.params.size} values, expected {2 * k}")
            scale.gamma.copy_(torch.from_numpy(la.params[:k]))
            scale.beta.copy_(torch.from_numpy(la.params[k:]))
        fc = fcs[0].params  # num_inputs x num_outputs: y = x @ W
        model.fc.weight.copy_(torch.from_numpy(np.ascontiguousarray(fc.T)))
    model.input_info = info
    return model
