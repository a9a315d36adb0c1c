"""Devices: ``--device`` names to torch devices."""

from __future__ import annotations


def resolve_device(name: str = "auto", local_rank: int = 0):
    """``--device`` -> a torch device. ``auto``: CUDA where available (this process's GPU under torchrun), else CPU."""
    import torch

    from .errors import FaceNet2ExpNetError

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FaceNet2ExpNetError(f"--device {name}: this torch has no CUDA device; use --device cpu (or auto)")
    if not (name == "cpu" or name.startswith("cuda:")):
        raise FaceNet2ExpNetError(f"--device {name}: use auto, cpu, cuda or cuda:N")
    return torch.device(name)
