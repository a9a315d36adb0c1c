"""Oulu-CASIA: the last frames of each person's sequences."""

from __future__ import annotations

import os
import re

from ..classes import CLASS_SETS, canonical
from ..records import Dataset, Sample
from .common import expect, images_in, listdir


def load(root: str, frames: int = 3, spectrum: str = "VL", light: str = "Strong") -> Dataset:
    """Oulu-CASIA: ``OriginalImg/VL/Strong/P###/<Emotion>/*.jpeg``; the last ``frames`` frames of each sequence."""
    kind = "oulu"
    base = os.path.join(root, "OriginalImg", spectrum, light)
    if not os.path.isdir(base):  # the user may point straight at the Strong folder
        base = root
    persons = [p for p in listdir(base) if re.fullmatch(r"P\d{3}", p) and os.path.isdir(os.path.join(base, p))]
    expect(bool(persons), kind, f"OriginalImg/{spectrum}/{light}/P###/<Emotion>/*.jpeg", root)
    class_names = list(CLASS_SETS["oulu6"])
    samples, problems = [], []
    for p in persons:
        for emo in listdir(os.path.join(base, p)):
            seq_dir = os.path.join(base, p, emo)
            if not os.path.isdir(seq_dir):
                continue
            name = canonical(emo)
            files = images_in(seq_dir, problems)
            for f in files[-frames:]:
                frame = int(re.sub(r"\D", "", os.path.splitext(os.path.basename(f))[0]) or 0)
                samples.append(
                    Sample(label=class_names.index(name), path=f, subject=p, sequence=f"{p}_{emo}", frame=frame)
                )
    return Dataset(kind, root, class_names, samples, problems)
