"""The table of dataset kinds (``LOADERS``) and the one entry point, :func:`load_dataset`."""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from typing import Callable

from ...errors import BadImagesError, DatasetLayoutError, UnknownNameError
from ..images import check_readable
from ..records import Dataset, Problem
from . import ckplus, ckplus48, csvfile, fer2013, ferplus, folder, jaffe, oulu, prepared, rafdb, sfew, tfd

# kind (the KIND of --dataset KIND:ROOT) -> its loader: ROOT and the kind's options -> a Dataset. A new layout is a
# module of this package with a `load` function, and one line here.
LOADERS: dict[str, Callable[..., Dataset]] = {
    "ckplus": ckplus.load,
    "ckplus48": ckplus48.load,
    "oulu": oulu.load,
    "tfd": tfd.load,
    "sfew": sfew.load,
    "fer2013": fer2013.load,
    "ferplus": ferplus.load,
    "rafdb": rafdb.load,
    "jaffe": jaffe.load,
    "folder": folder.load,
    "csv": csvfile.load,
    "prepared": prepared.load,
}


def load_dataset(kind: str, root: str, *, check_images: bool = True, skip_bad: bool = False, **options) -> Dataset:
    """Load dataset ``kind`` from ``root``.

    ``check_images`` decodes every image file once, so that a corrupt file is reported here
    with its path rather than in the middle of training; unreadable files raise
    :class:`BadImagesError` unless ``skip_bad`` is set, in which case they are left out and
    listed in ``problems``. Byte-identical files are reported as ``duplicate`` problems.
    """
    if kind not in LOADERS:
        raise UnknownNameError("dataset kind", kind, LOADERS)
    root = os.path.expanduser(str(root))
    if not os.path.exists(root):
        raise DatasetLayoutError(f"{kind}: {root} does not exist")
    ds = LOADERS[kind](root, **options)
    ds.options.update({"check_images": check_images, "skip_bad": skip_bad, **options})
    if check_images:
        _check_files(ds, skip_bad)
    if not ds.samples:
        raise DatasetLayoutError(f"{kind}: no labelled images found under {root}")
    return ds


def parse_dataset_spec(spec: str) -> tuple[str, str]:
    """``"ckplus48:../shared/data/ckplus48"`` -> ``("ckplus48", "../shared/data/ckplus48")``."""
    kind, sep, root = spec.partition(":")
    if not sep or not root:
        raise DatasetLayoutError(
            f"--dataset must be KIND:ROOT (e.g. ckplus48:../shared/data/ckplus48), got {spec!r}: add the folder "
            f"after a colon; kinds: {', '.join(sorted(LOADERS))}"
        )
    if kind not in LOADERS:
        raise UnknownNameError("dataset kind", kind, LOADERS)
    return kind, root


def _check_files(ds: Dataset, skip_bad: bool) -> None:
    bad, by_hash = [], defaultdict(list)
    for s in ds.samples:
        if s.path is None:
            continue
        why = check_readable(s.path)
        if why is not None:
            bad.append((s.path, why))
            continue
        with open(s.path, "rb") as f:
            by_hash[hashlib.md5(f.read()).hexdigest()].append(s.path)
    for paths in by_hash.values():
        if len(paths) > 1:
            ds.problems.append(Problem("duplicate", paths[0], f"{len(paths)} byte-identical files: {', '.join(paths)}"))
    if bad:
        if not skip_bad:
            raise BadImagesError(bad)
        bad_paths = {p for p, _ in bad}
        ds.samples = [s for s in ds.samples if s.path not in bad_paths]
        ds.problems.extend(Problem("unreadable", p, f"skipped (--skip-bad): {why}") for p, why in bad)
