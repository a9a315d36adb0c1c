"""What several subcommands share: the dataset options and KIND:ROOT loading."""

from __future__ import annotations

import argparse

# modules of the [train] extra (pyproject.toml): what the light install does not have
TRAIN_EXTRA = ("torch", "safetensors", "scipy", "matplotlib", "sklearn", "onnx", "onnxscript")


def add_dataset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--classes", help="class set (ck6, ck7, ck8, basic7, oulu6) or comma-separated names")
    p.add_argument(
        "--skip-bad", action="store_true", help="leave out unreadable images (they are listed) instead of failing"
    )
    p.add_argument(
        "--no-check", action="store_true", help="do not decode every image while loading (faster; errors surface later)"
    )


def dataset_kwargs(args) -> dict:
    kw = {"skip_bad": args.skip_bad, "check_images": not args.no_check}
    if getattr(args, "classes", None):
        kw["classes"] = args.classes
    return kw


def load_dataset_spec(spec: str, args):
    """``KIND:ROOT`` -> Dataset, honouring the common dataset options."""
    from ..data.datasets import load_dataset, parse_dataset_spec

    kind, root = parse_dataset_spec(spec)
    return load_dataset(kind, root, **dataset_kwargs(args))
