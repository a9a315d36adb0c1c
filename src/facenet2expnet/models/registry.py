"""``create_model(name, **kw)``: the expression-net registry, and self-describing checkpoints."""

from __future__ import annotations

import json
import os

import torch

from ..data.preprocess import Preprocessing
from ..errors import FaceNet2ExpNetError, UnknownNameError
from ..files import atomic_write_bytes, atomic_write_json
from .expnet import EXPNET_CONFIGS, ExpNet


def list_models() -> list[str]:
    return sorted(EXPNET_CONFIGS)


def default_preprocessing(name: str) -> Preprocessing:
    if name not in EXPNET_CONFIGS:
        raise UnknownNameError("expression net config", name, EXPNET_CONFIGS)
    return EXPNET_CONFIGS[name]["preprocessing"]


def create_model(
    name: str,
    num_classes: int,
    target_shape=(128, 8, 8),
    in_channels: int | None = None,
    input_size: int | None = None,
    projection: bool | None = None,
    **kw,
) -> ExpNet:
    """Build a registered expression net. ``target_shape`` is the teacher tap's C x H x W.

    ``projection`` None takes the config's default (a learned 1x1 projection onto the tap's channels
    only where the config sets one); keyword arguments override the config's other entries.
    """
    if name not in EXPNET_CONFIGS:
        raise UnknownNameError("expression net config", name, EXPNET_CONFIGS)
    cfg = {**EXPNET_CONFIGS[name], **kw}
    pp = cfg.pop("preprocessing")
    default_projection = cfg.pop("projection", False)
    projection = default_projection if projection is None else projection
    model = ExpNet(
        num_classes=num_classes,
        in_channels=in_channels or pp.num_channels,
        input_size=input_size or pp.size,
        target_shape=tuple(target_shape),
        projection=projection,
        **cfg,
    )
    model.arch = {
        "name": name,
        "num_classes": num_classes,
        "target_shape": list(target_shape),
        "in_channels": model.in_channels,
        "input_size": model.input_size,
        "projection": projection,
        **kw,
    }
    return model


def multiply_adds(model: torch.nn.Module, input_shape: tuple[int, int, int] | None = None) -> int:
    """Multiply-adds of one forward pass on one C x S x S input (default: the model's own input), counted over
    its convolutions and fully connected layers (pooling, BatchNorm and activations are not counted).

    A conv's count is its output elements x (input channels / groups) x kernel area; a linear layer's is
    in x out. This is the M(ega) multiply-adds figure the model cards give (`fast`: 18.5 M at 48 px)."""
    if input_shape is None:
        input_shape = (model.in_channels, model.input_size, model.input_size)
    total = [0]

    def count(mod, _inp, out):
        if isinstance(mod, torch.nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total[0] += out[0].numel() * (mod.in_channels // mod.groups) * k
        elif isinstance(mod, torch.nn.Linear):
            total[0] += mod.in_features * mod.out_features

    hooks = [
        m.register_forward_hook(count) for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total[0]


def describe_models(num_classes: int = 7) -> list[dict]:
    """One row per registered net: its default input, multiply-adds and parameters (with ``num_classes`` outputs)."""
    rows = []
    for name in list_models():
        model, pp = create_model(name, num_classes), default_preprocessing(name)
        rows.append(
            {
                "name": name,
                "input": f"{pp.size} px {pp.channels}",
                "multiply_adds": multiply_adds(model),
                "parameters": sum(p.numel() for p in model.parameters()),
            }
        )
    return rows


def build_from_arch(arch: dict) -> torch.nn.Module:
    arch = dict(arch)
    kind = arch.pop("kind", "expnet")
    if kind == "expnet":
        return create_model(arch.pop("name"), **arch)
    if kind == "finetune":
        from .finetune import FinetuneNet

        return FinetuneNet.from_arch(arch)
    raise FaceNet2ExpNetError(f"unknown checkpoint architecture kind {kind!r}")


def save_checkpoint(model: torch.nn.Module, path: str, meta: dict) -> None:
    """``path`` without extension: writes PATH.safetensors (weights) and PATH.json (everything to rebuild it)."""
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}  # from any device
    atomic_write_bytes(path + ".safetensors", save(state))
    atomic_write_json(path + ".json", {"format": "facenet2expnet-checkpoint-1", "arch": model.arch, **meta})


def load_checkpoint(path: str):
    """Rebuild a model from PATH.json + PATH.safetensors (``path`` may carry either extension)."""
    from safetensors.torch import load_file

    base = path.removesuffix(".safetensors").removesuffix(".json")
    if not (os.path.exists(base + ".json") and os.path.exists(base + ".safetensors")):
        raise FaceNet2ExpNetError(f"checkpoint {base}: needs both {base}.json and {base}.safetensors")
    with open(base + ".json") as f:
        meta = json.load(f)
    model = build_from_arch(meta["arch"])
    # a bundled stage-1 trunk stores no head (it was never trained) and float16 weights, copied into float32 here
    missing, _ = model.load_state_dict(load_file(base + ".safetensors"), strict=not meta.get("trunk_only"))
    if missing and any(not k.startswith("head.") for k in missing):
        raise FaceNet2ExpNetError(f"checkpoint {base}: weights missing for {', '.join(missing[:5])}")
    model.eval()
    return model, meta
