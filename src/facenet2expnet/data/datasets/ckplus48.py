"""CK+48: CK+ peak frames cropped to 48x48, one folder per class."""

from __future__ import annotations

import os
import re

from ...errors import DatasetLayoutError
from ..classes import resolve_class_set
from ..records import Dataset, Sample
from .common import class_folders, images_in

_CK48_NAME = re.compile(r"^(S\d{3})_(\d{3})_(\d+)\.png$", re.IGNORECASE)


def load(root: str, classes=None) -> Dataset:
    """CK+48 crop folders: ``<class>/S###_###_########.png``. Default class set: all folders (``ck7``)."""
    kind = "ckplus48"
    class_names = resolve_class_set(classes, "ck7")
    class_names, folders, problems = class_folders(kind, root, class_names)
    samples = []
    for label, folder, _ in folders:
        for path in images_in(folder, problems):
            m = _CK48_NAME.match(os.path.basename(path))
            if not m:
                raise DatasetLayoutError(
                    f"ckplus48: file name {path} is not S###_###_########.png; the subject id comes from it"
                )
            samples.append(
                Sample(
                    label=label,
                    path=path,
                    subject=m.group(1),
                    sequence=f"{m.group(1)}_{m.group(2)}",
                    frame=int(m.group(3)),
                )
            )
    return Dataset(kind, root, class_names, samples, problems)
