"""The format of a ``facenet2expnet prepare`` cache: ``manifest.csv`` (one row per source image) and
``settings.json``; ``face/prepare.py`` writes it, the ``prepared`` loader reads it."""

from __future__ import annotations

import csv
import os

from ..files import read_json

MANIFEST_FIELDS = [
    "index",
    "source",
    "label",
    "subject",
    "sequence",
    "frame",
    "split",
    "status",
    "reason",
    "box",
    "landmarks",
    "score",
    "crop",
]


def resolve_prepared_root(root: str) -> str:
    """``root`` is a prepared folder, or a cache dir holding exactly one."""
    from ..errors import DatasetLayoutError

    if os.path.exists(os.path.join(root, "manifest.csv")):
        return root
    subs = (
        [
            os.path.join(root, d)
            for d in sorted(os.listdir(root))
            if os.path.exists(os.path.join(root, d, "manifest.csv"))
        ]
        if os.path.isdir(root)
        else []
    )
    if len(subs) == 1:
        return subs[0]
    if not subs:
        raise DatasetLayoutError(
            f"prepared: expected manifest.csv (made by `facenet2expnet prepare`) in {root} or one sub-folder"
        )
    raise DatasetLayoutError(f"prepared: {root} holds {len(subs)} prepared caches; name one: {', '.join(subs)}")


def read_manifest(root: str):
    folder = resolve_prepared_root(root)
    settings = read_json(os.path.join(folder, "settings.json"))
    with open(os.path.join(folder, "manifest.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    return folder, settings, rows
