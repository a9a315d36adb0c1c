"""Batch augmentation in torch: flips, shifts, crops (scale), rotations, random erasing and mixup, from a seeded
generator."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_flips(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) < 0.5


def flip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror the images of ``x`` (N x C x H x W) where ``mask`` is True."""
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)


def random_affine(
    x: torch.Tensor,
    gen: torch.Generator,
    max_rotation_deg: float = 10.0,
    max_shift: float = 0.1,
    scale_range: tuple = (0.9, 1.1),
) -> torch.Tensor:
    """Rotate by up to +-max_rotation_deg, shift by up to +-max_shift of the side, zoom in/out (a random crop).

    Borders are filled by replicating the edge, so no black corners teach the net anything.
    """
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(max_rotation_deg)
    scale = scale_range[0] + torch.rand(n, generator=gen) * (scale_range[1] - scale_range[0])
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * max_shift * 2  # grid units span [-1, 1]
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_erasing(
    x: torch.Tensor, gen: torch.Generator, p: float, area=(0.02, 0.25), aspect=(0.3, 3.3)
) -> torch.Tensor:
    """With probability ``p`` per image, fill one random rectangle (2-25% of the area) with uniform noise on 0..255.

    ``x``: N x C x H x W on the 0..255 scale. Occlusions (hands, glasses, hair) are common in the wild;
    erasing teaches the net not to rely on any one region.
    """
    n, _, h, w = x.shape
    apply = torch.rand(n, generator=gen) < p
    a = (area[0] + torch.rand(n, generator=gen) * (area[1] - area[0])) * h * w
    r = torch.exp(math.log(aspect[0]) + torch.rand(n, generator=gen) * (math.log(aspect[1]) - math.log(aspect[0])))
    eh = torch.sqrt(a * r).clamp(1, h).long()
    ew = torch.sqrt(a / r).clamp(1, w).long()
    top = (torch.rand(n, generator=gen) * (h - eh + 1).float()).long()
    left = (torch.rand(n, generator=gen) * (w - ew + 1).float()).long()
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    mask = (
        (rows >= top.view(-1, 1, 1))
        & (rows < (top + eh).view(-1, 1, 1))
        & (cols >= left.view(-1, 1, 1))
        & (cols < (left + ew).view(-1, 1, 1))
        & apply.view(-1, 1, 1)
    ).unsqueeze(1)  # N x 1 x H x W
    noise = torch.rand(x.shape, generator=gen, dtype=x.dtype) * 255.0
    return torch.where(mask, noise, x)


def mixup_pairs(x: torch.Tensor, gen: torch.Generator, alpha: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mixup: lam * x + (1 - lam) * x[perm], lam ~ Beta(alpha, alpha). -> (mixed x, perm, lam)."""
    import numpy as np

    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))  # numpy's Beta, seeded from the run's generator
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=gen)
    return lam * x + (1.0 - lam) * x[perm], perm, lam
