"""Devices: ``--device`` names to torch devices."""

from __future__ import annotations

import functools


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


# CPU flags (as /proc/cpuinfo names them) that run bf16 matrix products in hardware. Without one of them
# oneDNN emulates bf16, and autocast makes a training step several times slower (measured on an AVX2-only
# EPYC: 5-11x); with one, about 1.8x faster (benchmarks/results/train_throughput.json).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# The flags benchmarks record beside a timing: the vector units and the low-precision instructions.
TIMING_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


@functools.lru_cache(maxsize=4)
def cpu_info(cpuinfo: str = "/proc/cpuinfo") -> dict:
    """{"model": str, "flags": [str]} of this machine's first CPU (empty where /proc/cpuinfo cannot be read)."""
    model, flags = "", []
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = value.split()
                if model and flags:
                    break
    except OSError:
        pass
    return {"model": model, "flags": flags}


def native_bf16(device, flags: list[str] | None = None) -> bool:
    """Whether ``device`` computes bf16 in hardware: CUDA (Ampere and later; earlier cards emulate it and are
    not told apart here), or a CPU with one of BF16_CPU_FLAGS (``flags``: this CPU's, by default)."""
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    flags = cpu_info()["flags"] if flags is None else flags
    return any(f in flags for f in BF16_CPU_FLAGS)


# --amp: whether the training step runs under bf16 autocast. "auto" is on only where the device has bf16 hardware,
# so the default is the faster path on every machine; the fold's result records what it resolved to.
AMP_MODES = {
    "auto": native_bf16,
    "bf16": lambda device, flags=None: True,
    "off": lambda device, flags=None: False,
}


def resolve_amp(mode: str, device, flags: list[str] | None = None) -> bool:
    from .errors import UnknownNameError

    if mode not in AMP_MODES:
        raise UnknownNameError("amp", mode, tuple(AMP_MODES))
    return AMP_MODES[mode](device, flags)
