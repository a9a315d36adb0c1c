"""Expression nets: a registry (``create_model``), self-describing checkpoints, and the bundled models
(``pretrained``: their names and the resolver, importable without torch)."""

# torch is imported when a net is first asked for, not with the package: ``models.pretrained`` serves the light install
_REGISTRY = ("create_model", "list_models", "load_checkpoint", "multiply_adds", "save_checkpoint")
__all__ = list(_REGISTRY)


def __getattr__(name):
    if name in _REGISTRY:
        from . import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
