"""CK+ as distributed (sequences with emotion files and landmarks)."""

from __future__ import annotations

import os
import re

from ...errors import DatasetLayoutError
from ..classes import CK_CODES, resolve_class_set
from ..records import Dataset, Problem, Sample
from .common import expect, listdir


def load(root: str, classes=None, frames: int = 3, include_neutral: bool | None = None) -> Dataset:
    """CK+ as distributed: ``cohn-kanade-images/S###/###/*.png`` and ``Emotion/S###/###/*_emotion.txt``.

    Only sequences with an emotion file are labelled (327 in CK+). The last ``frames`` frames
    of each take its label; with ``include_neutral`` (implied by the ``ck8`` set) the first
    frame of each labelled sequence is ``neutral``. Default class set: ``ck7``.
    """
    kind = "ckplus"
    images_dir, emotion_dir = os.path.join(root, "cohn-kanade-images"), os.path.join(root, "Emotion")
    expect(
        os.path.isdir(images_dir) and os.path.isdir(emotion_dir),
        kind,
        "cohn-kanade-images/S###/###/*.png and Emotion/S###/###/*_emotion.txt",
        root,
    )
    class_names = resolve_class_set(classes, "ck7")
    if include_neutral is None:
        include_neutral = "neutral" in class_names
    if include_neutral and "neutral" not in class_names:
        raise ValueError(f"include_neutral needs 'neutral' in the class set; got {class_names} (use classes='ck8')")
    landmarks_dir = os.path.join(root, "Landmarks")
    samples, problems, n_unlabelled = [], [], 0
    for subj in listdir(images_dir):
        if not re.fullmatch(r"S\d{3}", subj):
            continue
        for seq in listdir(os.path.join(images_dir, subj)):
            seq_dir = os.path.join(images_dir, subj, seq)
            if not os.path.isdir(seq_dir):
                continue
            files = sorted(f for f in listdir(seq_dir) if f.lower().endswith(".png"))
            if not files:
                problems.append(Problem("empty-folder", seq_dir, "sequence folder has no .png frames"))
                continue
            emo_dir = os.path.join(emotion_dir, subj, seq)
            emo_files = [f for f in listdir(emo_dir) if f.endswith("_emotion.txt")] if os.path.isdir(emo_dir) else []
            if not emo_files:
                n_unlabelled += 1
                continue
            emo_path = os.path.join(emo_dir, emo_files[0])
            try:
                code = int(float(open(emo_path).read().split()[0]))
                name = CK_CODES[code]
            except (ValueError, IndexError, KeyError):
                raise DatasetLayoutError(f"ckplus: {emo_path} does not hold an emotion code 0-7") from None
            sequence = f"{subj}_{seq}"
            chosen = [(f, name) for f in files[-frames:]]
            if include_neutral and len(files) > frames:
                chosen.insert(0, (files[0], "neutral"))
            for f, label_name in chosen:
                if label_name not in class_names:
                    problems.append(
                        Problem(
                            "excluded", os.path.join(seq_dir, f), f"class {label_name!r} not in class set {class_names}"
                        )
                    )
                    continue
                frame = int(re.sub(r"\D", "", os.path.splitext(f)[0].split("_")[-1]) or 0)
                lm = os.path.join(landmarks_dir, subj, seq, os.path.splitext(f)[0] + "_landmarks.txt")
                meta = {"landmarks": lm} if os.path.exists(lm) else {}
                samples.append(
                    Sample(
                        label=class_names.index(label_name),
                        path=os.path.join(seq_dir, f),
                        subject=subj,
                        sequence=sequence,
                        frame=frame,
                        meta=meta,
                    )
                )
    if n_unlabelled:
        problems.append(
            Problem(
                "unlabelled",
                emotion_dir,
                f"{n_unlabelled} sequences have no emotion file and are not used (CK+ labels 327 of 593)",
            )
        )
    return Dataset(kind, root, class_names, samples, problems)
