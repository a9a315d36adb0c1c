"""JAFFE: file names that carry subject and expression."""

from __future__ import annotations

import os
import re

from ..classes import CLASS_SETS, canonical
from ..records import Dataset, Sample
from .common import expect, listdir

_JAFFE_NAME = re.compile(r"^([A-Z]{2})\.([A-Z]{2})\d*\.(\d+)\.(tiff?|png|jpe?g)$", re.IGNORECASE)


def load(root: str) -> Dataset:
    """JAFFE: ``KA.AN1.39.tiff`` = subject KA, expression AN, image 39. Seven classes incl. neutral."""
    kind = "jaffe"
    files = [f for f in listdir(root) if _JAFFE_NAME.match(f)]
    expect(bool(files), kind, "files named like KA.AN1.39.tiff (subject.expression.index)", root)
    class_names = list(CLASS_SETS["basic7"])
    samples = []
    for f in files:
        m = _JAFFE_NAME.match(f)
        samples.append(
            Sample(
                label=class_names.index(canonical(m.group(2))),
                path=os.path.join(root, f),
                subject=m.group(1).upper(),
                frame=int(m.group(3)),
            )
        )
    return Dataset(kind, root, class_names, samples, [])
