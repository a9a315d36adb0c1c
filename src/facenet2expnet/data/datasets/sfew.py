"""SFEW 2.0: Train and Val folders of aligned movie frames; the movie stands in for the subject."""

from __future__ import annotations

import os
import re

from ..classes import CLASS_SETS
from ..records import Dataset, Sample
from .common import class_folders, expect, images_in, listdir

_SFEW_NAME = re.compile(r"^(?P<movie>.+?)[_-](?P<clip>\d+)_+(?P<frame>\d+)$")  # Movie_clip_frame (a few with - or __)


def _sfew_ids(path: str) -> dict:
    """SFEW has no subject ids; its frames are named Movie_clip_frame. The movie stands in for the subject (the
    same actors), so a validation split carved from Train holds out whole movies, not neighbouring frames.
    A file named otherwise has none (and then the dataset has no subjects: the carve is stratified by class)."""
    m = _SFEW_NAME.match(os.path.splitext(os.path.basename(path))[0])
    if not m:
        return {}
    return {"subject": m["movie"], "sequence": f"{m['movie']}_{m['clip']}", "frame": int(m["frame"])}


def load(root: str) -> Dataset:
    """SFEW 2.0: ``Train/<Emotion>/*`` and ``Val/<Emotion>/*`` (7 classes); official split train/val.

    Subject = the movie, sequence = the clip (from the file names): see ``_sfew_ids``.
    """
    kind = "sfew"
    splits = {
        s: d for s in ("train", "val") for d in listdir(root) if d.lower() == s and os.path.isdir(os.path.join(root, d))
    }
    expect(set(splits) == {"train", "val"}, kind, "Train/<Emotion>/ and Val/<Emotion>/ folders", root)
    class_names = list(CLASS_SETS["basic7"])
    samples, problems = [], []
    for split, d in splits.items():
        _, folders, probs = class_folders(kind, os.path.join(root, d), class_names)
        problems += probs
        for label, folder, _ in folders:
            for path in images_in(folder, problems):
                samples.append(Sample(label=label, path=path, split=split, **_sfew_ids(path)))
    return Dataset(kind, root, class_names, samples, problems, official_splits=("train", "val"))
