"""A ``prepare`` output folder (face chips and their manifest)."""

from __future__ import annotations

import os

from ..records import Dataset, Problem, Sample


def load(root: str) -> Dataset:
    """A cache made by ``facenet2expnet prepare`` (its folder, or the ``--out`` dir holding one).

    Faces that were found (or pre-cropped, or kept whole by ``prepare --no-face whole``) are the
    samples; images without a face and files that failed are listed in ``problems``, never dropped
    silently. Whole images are listed there too, as samples that no detector confirmed.
    """
    from ..prepared import read_manifest

    folder, settings, rows = read_manifest(root)
    class_names = list(settings["class_names"])
    samples, problems = [], []
    for r in rows:
        if r["status"] == "whole_image":
            problems.append(Problem("whole-image", r["source"], r["reason"]))
        if r["status"] in ("ok", "precropped", "whole_image"):
            samples.append(
                Sample(
                    label=class_names.index(r["label"]),
                    path=os.path.join(folder, r["crop"]),
                    subject=r["subject"] or None,
                    sequence=r["sequence"] or None,
                    frame=int(r["frame"]) if r["frame"] else None,
                    split=r["split"] or None,
                    meta={"source": r["source"], "box": r["box"], "score": r["score"]},
                )
            )
        else:
            problems.append(Problem(r["status"].replace("_", "-"), r["source"], r["reason"] or r["status"]))
    splits = tuple(sorted({s.split for s in samples if s.split}))
    ds = Dataset("prepared", folder, class_names, samples, problems, official_splits=splits)
    ds.options["source_kind"] = settings["kind"]
    return ds
