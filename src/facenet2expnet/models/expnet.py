"""The expression net: a conv trunk whose output matches a teacher tap, plus an FC head.

``forward_features(x)`` -> N x C x H x W, the trunk output pooled to the teacher tap's spatial
size (and, with ``projection=True``, mapped to its channels by a learned 1x1 conv). Stage 1
regresses this onto the teacher's features. ``forward_head(f)`` -> N x classes logits.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..data.preprocess import Preprocessing


def _pool_matrix(n_in: int, n_out: int, dtype, device) -> torch.Tensor:
    """n_out x n_in averaging matrix with the bins of adaptive average pooling."""
    import numpy as np

    m = np.zeros((n_out, n_in), dtype=np.float64)  # built in numpy: a plain constant when traced for export
    for i in range(n_out):
        start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, start:end] = 1.0 / (end - start)
    return torch.from_numpy(m).to(dtype=dtype, device=device)


class AdaptiveAvgPool(nn.Module):
    """Adaptive average pooling written as two small matrix products.

    Same numbers as ``nn.AdaptiveAvgPool2d``, but it exports to ONNX for any sizes (the
    exporter refuses adaptive pooling when the output size does not divide the input size).
    """

    def __init__(self, size):
        super().__init__()
        self.size = tuple(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        if (h, w) == self.size:
            return x
        ph = _pool_matrix(h, self.size[0], x.dtype, x.device)
        pw = _pool_matrix(w, self.size[1], x.dtype, x.device)
        return torch.matmul(torch.matmul(ph, x), pw.t())


def conv_bn_relu(cin: int, cout: int, batch_norm: bool) -> list[nn.Module]:
    if batch_norm:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers and an identity (or 1x1 conv-BN) shortcut: out = relu(f(x) + x)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut = (
            nn.Identity() if cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def _pool(spec) -> list[nn.Module]:
    """pool_after entry: True -> 2x2 max pooling, [h, w] -> adaptive average pooling to that size, False -> none."""
    if spec is True:
        return [nn.MaxPool2d(2, 2)]
    if spec:
        return [AdaptiveAvgPool(spec)]
    return []


class ExpNet(nn.Module):
    def __init__(
        self,
        stages: list[list[int]],
        num_classes: int,
        in_channels: int,
        input_size: int,
        target_shape: tuple[int, int, int],
        pool_after: list,
        batch_norm: bool,
        projection: bool = False,
        fc_dim: int = 256,
        dropout: float = 0.5,
        block: str = "plain",
        stem: int | None = None,
        stem_stride: int = 1,
    ):
        super().__init__()
        layers, cin = [], in_channels
        if stem:  # residual nets: one plain conv (stride 1 or 2), then 2x2 max pooling, before the blocks
            layers += [
                nn.Conv2d(cin, stem, 3, stride=stem_stride, padding=1, bias=False),
                nn.BatchNorm2d(stem),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, 2),
            ]
            cin = stem
        last = len(stages) - 1
        for i, widths in enumerate(stages):
            for j, w in enumerate(widths):
                # without a projection the last conv must produce the teacher tap's channels
                if i == last and j == len(widths) - 1 and not projection:
                    w = target_shape[0]
                layers += [BasicBlock(cin, w)] if block == "residual" else conv_bn_relu(cin, w, batch_norm)
                cin = w
            layers += _pool(pool_after[i])
        self.trunk = nn.Sequential(*layers)
        self.project = nn.Conv2d(cin, target_shape[0], 1) if projection else nn.Identity()
        self.match = AdaptiveAvgPool(target_shape[1:])
        c, h, w = target_shape
        # The trunk output is post-ReLU (all >= 0, like the teacher's). Without normalization the first SGD
        # steps can push every FC unit negative at once (dead ReLUs, a constant prediction): BatchNorm
        # after the FC prevents that in the BatchNorm configs.
        fc = [nn.Linear(c * h * w, fc_dim, bias=not batch_norm)] + ([nn.BatchNorm1d(fc_dim)] if batch_norm else [])
        self.head = nn.Sequential(
            nn.Flatten(), *fc, nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(fc_dim, num_classes)
        )
        self.target_shape, self.num_classes, self.input_size, self.in_channels = (
            tuple(target_shape),
            num_classes,
            input_size,
            in_channels,
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N x in_channels x S x S -> N x C x H x W (the teacher tap's shape)."""
        return self.match(self.project(self.trunk(x)))

    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        return self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def trunk_parameters(self):
        """What stage 1 trains: everything before the head."""
        return [p for n, p in self.named_parameters() if not n.startswith("head.")]


# name -> (builder kwargs, default preprocessing)
EXPNET_CONFIGS = {
    # The paper's net as we reconstruct it: five 3x3 conv blocks with ReLU and max-pooling,
    # 224 px in, 512 x 7 x 7 out (the shape of VGG-Face pool5).
    "paper": dict(
        stages=[[64], [128], [256], [512], [512]],
        pool_after=[True] * 5,
        batch_norm=False,
        preprocessing=Preprocessing(size=224, channels="RGB", mean=(128.0,) * 3, std=(64.0,) * 3),
    ),
    # For 48-96 px grey crops on 2 CPU cores (~0.065 GMAC at 48 px). BatchNorm after every conv:
    # it lets a net trained from scratch converge in the few epochs a CPU affords.
    "compact": dict(
        stages=[[32], [64, 64], [128, 128]],
        pool_after=[True, True, False],
        batch_norm=True,
        preprocessing=Preprocessing(size=48, channels="L", mean=(128.0,), std=(64.0,)),
    ),
    # For fast inference (~18.5 MMAC at 48 px, 0.6-0.8 ms per face at batch 1 on one core with onnxruntime):
    # a quarter of compact's conv width. Its 64 channels reach the tap's 128 through a learned 1x1
    # projection, and the FC layer is 128 wide: the 8192 x 256 FC of compact alone is an 8 MB weight
    # read per face, which costs more than all of this net's convs at batch 1.
    "fast": dict(
        stages=[[16], [32], [64, 64, 64]],
        pool_after=[True, True, False],
        batch_norm=True,
        projection=True,
        fc_dim=128,
        preprocessing=Preprocessing(size=48, channels="L", mean=(128.0,), std=(64.0,)),
    ),
    # A student whose tap sees the whole face (the level2 tap of the 29-layer teacher does): a residual net of
    # ~76 MMAC at 48 px. Stem 48 -> 24, six basic blocks at 24, 12 and 8 px (the tap's 8 x 8), 12 3x3 convs
    # after the stem: the receptive field at the tap spans well over the 48 px input.
    "res48": dict(
        stages=[[32, 32], [64, 64], [128, 128]],
        pool_after=[True, [8, 8], False],
        batch_norm=True,
        block="residual",
        stem=32,
        preprocessing=Preprocessing(size=48, channels="L", mean=(128.0,), std=(64.0,)),
    ),
}
# res48 at 1.5x the width (~170 MMAC at 48 px), its 192 channels projected onto the tap's 128 by a learned 1x1
# conv: res48's stage 1 on FER2013 fits its training faces no better than held-out ones (R² 0.519 / 0.518), so
# it under-fits the teacher, and this net asks whether more capacity raises R² (issue 15).
EXPNET_CONFIGS["res48w"] = dict(
    EXPNET_CONFIGS["res48"],
    stages=[[48, 48], [96, 96], [192, 192]],
    stem=48,
    projection=True,
)
# The same trunk on 96 px crops (a stride-2 stem): more detail in, about the same compute.
EXPNET_CONFIGS["res96"] = dict(
    EXPNET_CONFIGS["res48"],
    stem_stride=2,
    preprocessing=Preprocessing(size=96, channels="L", mean=(128.0,), std=(64.0,)),
)
