"""FER2013: the Kaggle CSV or train/test class folders, with its three official splits."""

from __future__ import annotations

import csv
import os

import numpy as np

from ...errors import DatasetLayoutError
from ..classes import CLASS_SETS
from ..records import Dataset, Problem, Sample
from .common import class_folders, expect, images_in

_FER_USAGE = {"training": "train", "publictest": "publictest", "privatetest": "privatetest"}


def load(root: str) -> Dataset:
    """FER2013 as ``fer2013.csv`` (emotion, pixels, Usage) or as ``train/<class>/`` + ``test/<class>/`` folders.

    Splits: ``train``, ``publictest``, ``privatetest`` (folder layout: from the
    ``PublicTest_``/``PrivateTest_`` prefixes of the test files). FER2013 has no subject ids.
    """
    kind = "fer2013"
    class_names = list(CLASS_SETS["basic7"])  # FER2013 label order 0..6
    csv_path = root if os.path.isfile(root) else os.path.join(root, "fer2013.csv")
    if os.path.isfile(csv_path):
        samples = []
        with open(csv_path, newline="") as f:
            reader = csv.DictReader(f)
            need = {"emotion", "pixels", "Usage"}
            if not need <= set(reader.fieldnames or []):
                raise DatasetLayoutError(f"fer2013: {csv_path} needs columns {sorted(need)}; found {reader.fieldnames}")
            for i, row in enumerate(reader):
                px = np.array(row["pixels"].split(), dtype=np.uint8)
                if px.size != 48 * 48:
                    raise DatasetLayoutError(
                        f"fer2013: {csv_path} row {i + 2} has {px.size} pixels, expected 2304 (48x48)"
                    )
                usage = row["Usage"].strip().lower()
                if usage not in _FER_USAGE:
                    raise DatasetLayoutError(
                        f"fer2013: {csv_path} row {i + 2} has Usage {row['Usage']!r}; expected Training, PublicTest "
                        f"or PrivateTest"
                    )
                samples.append(
                    Sample(
                        label=int(row["emotion"]),
                        array=px.reshape(48, 48),
                        split=_FER_USAGE[usage],
                        key=f"fer2013.csv:{i}",
                    )
                )
        return Dataset(kind, root, class_names, samples, [], official_splits=("train", "publictest", "privatetest"))
    train_dir, test_dir = os.path.join(root, "train"), os.path.join(root, "test")
    expect(os.path.isdir(train_dir), kind, "fer2013.csv, or train/<class>/ and test/<class>/ folders", root)
    samples, problems = [], []
    for split_dir in (train_dir, test_dir):
        if not os.path.isdir(split_dir):
            problems.append(Problem("empty-folder", split_dir, "no test/ folder: only the training split is available"))
            continue
        _, folders, probs = class_folders(kind, split_dir, class_names)
        problems += probs
        for label, folder, _ in folders:
            for path in images_in(folder, problems):
                name = os.path.basename(path)
                if split_dir == train_dir:
                    split = "train"
                elif name.startswith("PublicTest_"):
                    split = "publictest"
                elif name.startswith("PrivateTest_"):
                    split = "privatetest"
                else:
                    raise DatasetLayoutError(
                        f"fer2013: test file {path} starts with neither PublicTest_ nor PrivateTest_, so its split "
                        f"is unknown"
                    )
                samples.append(Sample(label=label, path=path, split=split))
    return Dataset(kind, root, class_names, samples, problems, official_splits=("train", "publictest", "privatetest"))
