"""RAF-DB basic: its label list and aligned (or original) images."""

from __future__ import annotations

import os

from ...errors import DatasetLayoutError
from ..records import Dataset, Problem, Sample
from .common import expect


def load(root: str, variant: str = "aligned") -> Dataset:
    """RAF-DB basic: ``EmoLabel/list_patition_label.txt`` and ``Image/aligned/*_aligned.jpg`` (or
    ``Image/original``)."""
    kind = "rafdb"
    label_file = os.path.join(root, "EmoLabel", "list_patition_label.txt")
    img_dir = os.path.join(root, "Image", variant)
    expect(
        os.path.isfile(label_file) and os.path.isdir(img_dir),
        kind,
        f"EmoLabel/list_patition_label.txt and Image/{variant}/",
        root,
    )
    # RAF-DB codes 1..7
    class_names = ["surprise", "fear", "disgust", "happy", "sadness", "anger", "neutral"]
    samples, problems = [], []
    for line_no, line in enumerate(open(label_file), 1):
        if not line.strip():
            continue
        try:
            name, code = line.split()
            code = int(code)
            assert 1 <= code <= 7
        except (ValueError, AssertionError):
            raise DatasetLayoutError(
                f"rafdb: {label_file} line {line_no} is not '<file> <code 1-7>': {line.strip()!r}"
            ) from None
        stem, ext = os.path.splitext(name)
        path = os.path.join(img_dir, f"{stem}_aligned{ext}" if variant == "aligned" else name)
        if not os.path.exists(path):
            problems.append(Problem("missing", path, f"listed in {label_file} line {line_no} but not on disk"))
            continue
        samples.append(Sample(label=code - 1, path=path, split="train" if name.startswith("train") else "test"))
    missing = [p for p in problems if p.kind == "missing"]
    if missing:
        raise DatasetLayoutError(f"rafdb: {len(missing)} listed images are missing, e.g. {missing[0].path}")
    return Dataset(kind, root, class_names, samples, problems, official_splits=("train", "test"))
