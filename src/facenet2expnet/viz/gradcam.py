"""Grad-CAM (Selvaraju et al., ICCV 2017) on an expression net's last conv features: where the predicted class looks.

A leaf module (torch and the net only), so that the recognizer's ``explain`` and ``visualize`` both use it.
"""

from __future__ import annotations

import numpy as np
import torch


def grad_cam(model, x: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Grad-CAM on the trunk output (the last conv layer): N x H x W maps in 0..1 at the input size."""
    import torch.nn.functional as F

    model.eval()
    feats = model.forward_features(x).detach().requires_grad_(True)
    logits = model.forward_head(feats)
    (grads,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), feats)
    weights = grads.mean((2, 3), keepdim=True)
    cam = F.relu((weights * feats).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    cam = cam / cam.flatten(1).max(1).values.clamp_min(1e-8)[:, None, None]
    return cam.detach().cpu().numpy()
