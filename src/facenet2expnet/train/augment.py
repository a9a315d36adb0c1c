"""Batch augmentation in torch: flips, small shifts, crops (scale) and rotations, from a seeded generator."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_flips(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) < 0.5


def flip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror the images of ``x`` (N x C x H x W) where ``mask`` is True."""
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)


def random_affine(x: torch.Tensor, gen: torch.Generator, max_rotation_deg: float = 10.0, max_shift: float = 0.1,
                  scale_range: tuple = (0.9, 1.1)) -> torch.Tensor:
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
