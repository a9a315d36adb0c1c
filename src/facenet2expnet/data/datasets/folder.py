"""Any ``<class>/[<person>/]<image>`` tree: the user's own photos."""

from __future__ import annotations

import os
import re

from ...errors import DatasetLayoutError
from ..records import Dataset, Sample
from .common import class_folders, images_in


def load(root: str, subject_pattern: str | None = None, classes=None) -> Dataset:
    """Generic ``<class>/<image>`` folders (class names as given, sorted), searched recursively.

    Subjects (for subject-independent folds and leave-one-subject-out) come from a folder per person,
    ``<class>/<subject>/<image>``, or from ``subject_pattern``: a regex whose first group, matched against the
    file name, is the subject id, e.g. ``r"^(\\w+?)_"``. Images directly in a class folder have no subject.
    """
    kind = "folder"
    class_names, folders, problems = class_folders(kind, root, list(classes) if classes else None, aliases=False)
    rx = re.compile(subject_pattern) if subject_pattern else None
    samples = []
    for label, folder, _ in folders:
        for path in images_in(folder, problems, recursive=True):
            subject = None
            if rx is not None:
                m = rx.search(os.path.basename(path))
                if not m:
                    raise DatasetLayoutError(f"folder: subject_pattern {subject_pattern!r} does not match {path}")
                subject = m.group(1)
            elif os.path.dirname(os.path.relpath(path, folder)):  # <class>/<subject>/...: the person's folder
                subject = os.path.relpath(path, folder).split(os.sep)[0]
            samples.append(Sample(label=label, path=path, subject=subject))
    return Dataset(kind, root, class_names, samples, problems)
