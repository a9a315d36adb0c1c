"""FER+: FER2013's faces relabelled by ten annotators (folders, and the raw votes)."""

from __future__ import annotations

import csv
import os

from ...errors import DatasetLayoutError
from ..classes import CLASS_SETS
from ..records import Dataset, Problem, Sample
from .common import class_folders, expect, images_in

FERPLUS_VOTES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")


_FERPLUS_SPLITS = {"train": "train", "valid": "val", "test": "test"}  # folder -> Sample.split


def load(root: str) -> Dataset:
    """FER+: ``train/``, ``valid/`` and (where present) ``test/``, each ``<class>/fer#######.png`` and,
    optionally, a ``votes.csv`` with the 10 annotators' votes per image.

    Labels are the majority labels (the folders). With ``votes.csv`` each sample carries its votes over the
    8 classes in ``meta["votes"]`` (unknown and not-a-face votes left out), read by the ``probability`` and
    ``crossentropy`` label modes (``train/targets.py``), and every ``valid``/``test`` image whose pixels equal a
    ``train`` image's (FER2013 repeats some faces; ``pixel_md5``) is marked ``meta["train_duplicate"]``.
    """
    kind = "ferplus"
    class_names = list(CLASS_SETS["ferplus8"])
    present = [d for d in _FERPLUS_SPLITS if os.path.isdir(os.path.join(root, d))]
    expect("train" in present, kind, "train/<class>/ and valid/<class>/ folders (optionally test/ and votes.csv)", root)
    samples, problems, train_md5 = [], [], set()
    for split_dir in present:
        folder = os.path.join(root, split_dir)
        votes = _ferplus_votes(os.path.join(folder, "votes.csv"), folder)
        if votes is None:
            problems.append(
                Problem(
                    "no-votes",
                    folder,
                    "no votes.csv: majority labels only (label modes probability and "
                    "crossentropy need the votes), and train duplicates are not marked",
                )
            )
        _, folders, probs = class_folders(kind, folder, class_names)
        problems += probs
        for label, class_dir, _ in folders:
            for path in images_in(class_dir, problems):
                meta = {}
                if votes is not None:
                    rel = os.path.relpath(path, folder).replace(os.sep, "/")
                    if rel not in votes:
                        raise DatasetLayoutError(f"ferplus: {path} has no row in {folder}/votes.csv")
                    counts, md5 = votes[rel]
                    meta = {"votes": counts, "pixel_md5": md5}
                samples.append(Sample(label=label, path=path, split=_FERPLUS_SPLITS[split_dir], meta=meta))
        if split_dir == "train":
            train_md5 = {s.meta["pixel_md5"] for s in samples if "pixel_md5" in s.meta}
    for s in samples:
        if s.split != "train" and s.meta.get("pixel_md5") in train_md5:
            s.meta["train_duplicate"] = True
    splits = tuple(_FERPLUS_SPLITS[d] for d in present)
    return Dataset(kind, root, class_names, samples, problems, official_splits=splits)


def _ferplus_votes(path: str, folder: str) -> dict | None:
    """``votes.csv`` -> {relative path: (8 vote counts in FERPLUS_VOTES order, pixel md5)}, or None where absent."""
    if not os.path.isfile(path):
        return None
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        need = {"path", *FERPLUS_VOTES}
        if not need <= set(reader.fieldnames or []):
            raise DatasetLayoutError(
                f"ferplus: {path} needs columns {sorted(need)}; found {reader.fieldnames}. Use the votes.csv that "
                "comes with the release, or remove it to train on the folder (majority) labels alone"
            )
        out = {}
        for line, row in enumerate(reader, 2):
            try:
                counts = tuple(int(row[c]) for c in FERPLUS_VOTES)
            except ValueError:
                raise DatasetLayoutError(f"ferplus: {path} line {line}: vote counts must be whole numbers") from None
            out[row["path"]] = (counts, row.get("pixel_md5") or None)
    return out
