"""A CSV of path, label and optional subject columns: the user's own list."""

from __future__ import annotations

import csv
import os

from ...errors import DatasetLayoutError, UnknownNameError
from ..records import Dataset, Sample


def load(root: str, classes=None) -> Dataset:
    """A CSV file with columns ``path,label`` and optional ``subject,sequence,frame,split``.

    Relative paths are taken from the CSV's folder. Labels are class names; the class order
    is ``classes`` if given, else the sorted set of labels.
    """
    kind = "csv"
    if not os.path.isfile(root):
        raise DatasetLayoutError(
            f"csv: expected a .csv file with columns path,label[,subject,sequence,frame,split]; {root} is not a file"
        )
    base = os.path.dirname(os.path.abspath(root))
    with open(root, newline="") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or [])
        if not {"path", "label"} <= cols:
            raise DatasetLayoutError(f"csv: {root} needs columns path and label; found {sorted(cols)}")
        rows = list(reader)
    class_names = list(classes) if classes else sorted({r["label"] for r in rows})
    samples, problems = [], []
    for i, r in enumerate(rows, 2):
        if r["label"] not in class_names:
            raise UnknownNameError("class name", r["label"], class_names)
        path = r["path"] if os.path.isabs(r["path"]) else os.path.join(base, r["path"])
        if not os.path.exists(path):
            raise DatasetLayoutError(f"csv: {root} line {i}: {path} does not exist")
        samples.append(
            Sample(
                label=class_names.index(r["label"]),
                path=path,
                subject=r.get("subject") or None,
                sequence=r.get("sequence") or None,
                frame=int(r["frame"]) if r.get("frame") else None,
                split=r.get("split") or None,
            )
        )
    splits = tuple(sorted({s.split for s in samples if s.split}))
    return Dataset(kind, root, class_names, samples, problems, official_splits=splits)
