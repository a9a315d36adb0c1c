"""Expression nets: a registry (``create_model``) and self-describing checkpoints."""

from .registry import create_model, list_models, load_checkpoint, multiply_adds, save_checkpoint

__all__ = ["create_model", "list_models", "load_checkpoint", "multiply_adds", "save_checkpoint"]
