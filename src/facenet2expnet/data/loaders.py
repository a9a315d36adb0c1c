"""One loader per dataset layout, all returning the same :class:`~.records.Dataset`.

Use :func:`load_dataset` (``kind`` is one of :data:`LOADERS`) or a ``KIND:ROOT`` spec with
:func:`parse_dataset_spec`. Every loader checks the layout first and says what it expected
and what it found; it then records anything it left out in ``Dataset.problems``.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections import defaultdict
from typing import Callable

import numpy as np

from ..errors import BadImagesError, DatasetLayoutError, UnknownNameError
from .classes import CK_CODES, CLASS_SETS, canonical, resolve_class_set
from .images import check_readable, is_image_file
from .records import Dataset, Problem, Sample

LOADERS: dict[str, Callable[..., Dataset]] = {}


def register(kind: str):
    def deco(fn):
        LOADERS[kind] = fn
        return fn

    return deco


def load_dataset(kind: str, root: str, *, check_images: bool = True, skip_bad: bool = False, **options) -> Dataset:
    """Load dataset ``kind`` from ``root``.

    ``check_images`` decodes every image file once, so that a corrupt file is reported here
    with its path rather than in the middle of training; unreadable files raise
    :class:`BadImagesError` unless ``skip_bad`` is set, in which case they are left out and
    listed in ``problems``. Byte-identical files are reported as ``duplicate`` problems.
    """
    if kind not in LOADERS:
        raise UnknownNameError("dataset kind", kind, LOADERS)
    root = os.path.expanduser(str(root))
    if not os.path.exists(root):
        raise DatasetLayoutError(f"{kind}: {root} does not exist")
    ds = LOADERS[kind](root, **options)
    ds.options.update({"check_images": check_images, "skip_bad": skip_bad, **options})
    if check_images:
        _check_files(ds, skip_bad)
    if not ds.samples:
        raise DatasetLayoutError(f"{kind}: no labelled images found under {root}")
    return ds


def parse_dataset_spec(spec: str) -> tuple[str, str]:
    """``"ckplus48:../shared/data/ckplus48"`` -> ``("ckplus48", "../shared/data/ckplus48")``."""
    kind, sep, root = spec.partition(":")
    if not sep or not root:
        raise DatasetLayoutError(
            f"--dataset must be KIND:ROOT (e.g. ckplus48:../shared/data/ckplus48), got {spec!r}: add the folder "
            f"after a colon; kinds: {', '.join(sorted(LOADERS))}"
        )
    if kind not in LOADERS:
        raise UnknownNameError("dataset kind", kind, LOADERS)
    return kind, root


# --------------------------------------------------------------------------------------
# shared helpers


def _listdir(path: str) -> list[str]:
    return sorted(os.listdir(path))


def _expect(cond: bool, kind: str, expected: str, root: str) -> None:
    if not cond:
        found = ", ".join(_listdir(root)[:12]) if os.path.isdir(root) else "(not a folder)"
        raise DatasetLayoutError(f"{kind}: expected {expected} under {root}; found: {found or '(empty)'}")


def _check_files(ds: Dataset, skip_bad: bool) -> None:
    bad, by_hash = [], defaultdict(list)
    for s in ds.samples:
        if s.path is None:
            continue
        why = check_readable(s.path)
        if why is not None:
            bad.append((s.path, why))
            continue
        with open(s.path, "rb") as f:
            by_hash[hashlib.md5(f.read()).hexdigest()].append(s.path)
    for paths in by_hash.values():
        if len(paths) > 1:
            ds.problems.append(Problem("duplicate", paths[0], f"{len(paths)} byte-identical files: {', '.join(paths)}"))
    if bad:
        if not skip_bad:
            raise BadImagesError(bad)
        bad_paths = {p for p, _ in bad}
        ds.samples = [s for s in ds.samples if s.path not in bad_paths]
        ds.problems.extend(Problem("unreadable", p, f"skipped (--skip-bad): {why}") for p, why in bad)


def _class_folders(kind: str, root: str, class_names: list[str] | None, aliases: bool = True):
    """Yield (class index, folder path, class name) for ``root/<class>/`` folders."""
    folders = [d for d in _listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith(".")]
    _expect(bool(folders), kind, "one sub-folder per class (<class>/<image>)", root)
    names = {}
    for d in folders:
        try:
            names[d] = canonical(d) if aliases else d
        except UnknownNameError as exc:
            raise DatasetLayoutError(
                f"{kind}: sub-folder {d!r} of {root} is not a class name; "
                f"expected one folder per class, known names: {', '.join(exc.known)}"
            ) from None
    if class_names is None:
        class_names = sorted(set(names.values()))
    problems, out = [], []
    for d in folders:
        if names[d] not in class_names:
            n = sum(is_image_file(f) for f in _listdir(os.path.join(root, d)))
            problems.append(
                Problem(
                    "excluded",
                    os.path.join(root, d),
                    f"{n} images of class {names[d]!r} left out: not in the class set {class_names}",
                )
            )
            continue
        out.append((class_names.index(names[d]), os.path.join(root, d), names[d]))
    return class_names, out, problems


def _images_in(folder: str, problems: list[Problem], recursive: bool = False) -> list[str]:
    if recursive:
        files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(folder) for f in fs if is_image_file(f))
    else:
        files = [os.path.join(folder, f) for f in _listdir(folder) if is_image_file(f)]
    if not files:
        problems.append(Problem("empty-folder", folder, "folder has no image files"))
    return files


# --------------------------------------------------------------------------------------
# CK+


@register("ckplus")
def load_ckplus(root: str, classes=None, frames: int = 3, include_neutral: bool | None = None) -> Dataset:
    """CK+ as distributed: ``cohn-kanade-images/S###/###/*.png`` and ``Emotion/S###/###/*_emotion.txt``.

    Only sequences with an emotion file are labelled (327 in CK+). The last ``frames`` frames
    of each take its label; with ``include_neutral`` (implied by the ``ck8`` set) the first
    frame of each labelled sequence is ``neutral``. Default class set: ``ck7``.
    """
    kind = "ckplus"
    images_dir, emotion_dir = os.path.join(root, "cohn-kanade-images"), os.path.join(root, "Emotion")
    _expect(
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
    for subj in _listdir(images_dir):
        if not re.fullmatch(r"S\d{3}", subj):
            continue
        for seq in _listdir(os.path.join(images_dir, subj)):
            seq_dir = os.path.join(images_dir, subj, seq)
            if not os.path.isdir(seq_dir):
                continue
            files = sorted(f for f in _listdir(seq_dir) if f.lower().endswith(".png"))
            if not files:
                problems.append(Problem("empty-folder", seq_dir, "sequence folder has no .png frames"))
                continue
            emo_dir = os.path.join(emotion_dir, subj, seq)
            emo_files = [f for f in _listdir(emo_dir) if f.endswith("_emotion.txt")] if os.path.isdir(emo_dir) else []
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


_CK48_NAME = re.compile(r"^(S\d{3})_(\d{3})_(\d+)\.png$", re.IGNORECASE)


@register("ckplus48")
def load_ckplus48(root: str, classes=None) -> Dataset:
    """CK+48 crop folders: ``<class>/S###_###_########.png``. Default class set: all folders (``ck7``)."""
    kind = "ckplus48"
    class_names = resolve_class_set(classes, "ck7")
    class_names, folders, problems = _class_folders(kind, root, class_names)
    samples = []
    for label, folder, _ in folders:
        for path in _images_in(folder, problems):
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


# --------------------------------------------------------------------------------------
# Oulu-CASIA


@register("oulu")
def load_oulu(root: str, frames: int = 3, spectrum: str = "VL", light: str = "Strong") -> Dataset:
    """Oulu-CASIA: ``OriginalImg/VL/Strong/P###/<Emotion>/*.jpeg``; the last ``frames`` frames of each sequence."""
    kind = "oulu"
    base = os.path.join(root, "OriginalImg", spectrum, light)
    if not os.path.isdir(base):  # the user may point straight at the Strong folder
        base = root
    persons = [p for p in _listdir(base) if re.fullmatch(r"P\d{3}", p) and os.path.isdir(os.path.join(base, p))]
    _expect(bool(persons), kind, f"OriginalImg/{spectrum}/{light}/P###/<Emotion>/*.jpeg", root)
    class_names = list(CLASS_SETS["oulu6"])
    samples, problems = [], []
    for p in persons:
        for emo in _listdir(os.path.join(base, p)):
            seq_dir = os.path.join(base, p, emo)
            if not os.path.isdir(seq_dir):
                continue
            name = canonical(emo)
            files = _images_in(seq_dir, problems)
            for f in files[-frames:]:
                frame = int(re.sub(r"\D", "", os.path.splitext(os.path.basename(f))[0]) or 0)
                samples.append(
                    Sample(label=class_names.index(name), path=f, subject=p, sequence=f"{p}_{emo}", frame=frame)
                )
    return Dataset(kind, root, class_names, samples, problems)


# --------------------------------------------------------------------------------------
# TFD


def _find_file(kind: str, root: str, names: list[str], what: str) -> str:
    if os.path.isfile(root):
        return root
    for n in names:
        if os.path.isfile(os.path.join(root, n)):
            return os.path.join(root, n)
    _expect(False, kind, what, root)


@register("tfd")
def load_tfd(root: str, size: int = 48) -> Dataset:
    """Toronto Face Database: ``TFD_48x48.mat`` or ``TFD_96x96.mat`` with ``images``, ``labs_ex``, ``labs_id``,
    ``folds``.

    Only the labelled part (``labs_ex`` > 0) is used. ``folds`` is N x 5 with 1 = train,
    2 = valid, 3 = test for each of the 5 official folds; it travels in ``Sample.meta``.
    """
    import scipy.io

    kind = "tfd"
    path = _find_file(
        kind, root, [f"TFD_{size}x{size}.mat", "TFD_48x48.mat", "TFD_96x96.mat"], "TFD_48x48.mat or TFD_96x96.mat"
    )
    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError:
        raise DatasetLayoutError(
            f"tfd: {path} is a MATLAB v7.3 (HDF5) file; re-save it with save('-v7') in MATLAB or Octave"
        ) from None
    except Exception as exc:
        raise DatasetLayoutError(f"tfd: cannot read {path} as a .mat file ({exc})") from None
    missing = [k for k in ("images", "labs_ex", "labs_id", "folds") if k not in mat]
    if missing:
        raise DatasetLayoutError(f"tfd: {path} lacks the variables {missing}; expected images, labs_ex, labs_id, folds")
    labs_ex = np.asarray(mat["labs_ex"]).reshape(-1).astype(int)
    labs_id = np.asarray(mat["labs_id"]).reshape(-1).astype(int)
    folds = np.asarray(mat["folds"]).astype(int)
    images = np.asarray(mat["images"])
    n = labs_ex.shape[0]
    if images.shape[0] != n and images.shape[-1] == n:  # stored HxWxN
        images = np.moveaxis(images, -1, 0)
    if folds.shape != (n, 5) and folds.shape == (5, n):
        folds = folds.T
    if images.shape[0] != n or folds.shape != (n, 5):
        raise DatasetLayoutError(f"tfd: shapes disagree: images {images.shape}, labs_ex ({n},), folds {folds.shape}")
    # TFD expression codes 1..7
    class_names = ["anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral"]
    samples = []
    for i in np.flatnonzero(labs_ex > 0):
        samples.append(
            Sample(
                label=int(labs_ex[i]) - 1,
                array=images[i],
                subject=f"id{labs_id[i]}",
                key=f"tfd:{i}",
                meta={"tfd_folds": folds[i].tolist(), "index": int(i)},
            )
        )
    problems = (
        [Problem("unlabelled", path, f"{int((labs_ex <= 0).sum())} unlabelled images not used")]
        if (labs_ex <= 0).any()
        else []
    )
    return Dataset(kind, root, class_names, samples, problems, official_splits=("train", "val", "test"))


# --------------------------------------------------------------------------------------
# SFEW 2.0


_SFEW_NAME = re.compile(r"^(?P<movie>.+?)[_-](?P<clip>\d+)_+(?P<frame>\d+)$")  # Movie_clip_frame (a few with - or __)


def _sfew_ids(path: str) -> dict:
    """SFEW has no subject ids; its frames are named Movie_clip_frame. The movie stands in for the subject (the
    same actors), so a validation split carved from Train holds out whole movies, not neighbouring frames.
    A file named otherwise has none (and then the dataset has no subjects: the carve is stratified by class)."""
    m = _SFEW_NAME.match(os.path.splitext(os.path.basename(path))[0])
    if not m:
        return {}
    return {"subject": m["movie"], "sequence": f"{m['movie']}_{m['clip']}", "frame": int(m["frame"])}


@register("sfew")
def load_sfew(root: str) -> Dataset:
    """SFEW 2.0: ``Train/<Emotion>/*`` and ``Val/<Emotion>/*`` (7 classes); official split train/val.

    Subject = the movie, sequence = the clip (from the file names): see ``_sfew_ids``.
    """
    kind = "sfew"
    splits = {
        s: d
        for s in ("train", "val")
        for d in _listdir(root)
        if d.lower() == s and os.path.isdir(os.path.join(root, d))
    }
    _expect(set(splits) == {"train", "val"}, kind, "Train/<Emotion>/ and Val/<Emotion>/ folders", root)
    class_names = list(CLASS_SETS["basic7"])
    samples, problems = [], []
    for split, d in splits.items():
        _, folders, probs = _class_folders(kind, os.path.join(root, d), class_names)
        problems += probs
        for label, folder, _ in folders:
            for path in _images_in(folder, problems):
                samples.append(Sample(label=label, path=path, split=split, **_sfew_ids(path)))
    return Dataset(kind, root, class_names, samples, problems, official_splits=("train", "val"))


# --------------------------------------------------------------------------------------
# FER2013

_FER_USAGE = {"training": "train", "publictest": "publictest", "privatetest": "privatetest"}


@register("fer2013")
def load_fer2013(root: str) -> Dataset:
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
    _expect(os.path.isdir(train_dir), kind, "fer2013.csv, or train/<class>/ and test/<class>/ folders", root)
    samples, problems = [], []
    for split_dir in (train_dir, test_dir):
        if not os.path.isdir(split_dir):
            problems.append(Problem("empty-folder", split_dir, "no test/ folder: only the training split is available"))
            continue
        _, folders, probs = _class_folders(kind, split_dir, class_names)
        problems += probs
        for label, folder, _ in folders:
            for path in _images_in(folder, problems):
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


# --------------------------------------------------------------------------------------
# FER+ (FERPlus): the FER2013 faces relabelled by 10 annotators

FERPLUS_VOTES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
_FERPLUS_SPLITS = {"train": "train", "valid": "val", "test": "test"}  # folder -> Sample.split


@register("ferplus")
def load_ferplus(root: str) -> Dataset:
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
    _expect(
        "train" in present, kind, "train/<class>/ and valid/<class>/ folders (optionally test/ and votes.csv)", root
    )
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
        _, folders, probs = _class_folders(kind, folder, class_names)
        problems += probs
        for label, class_dir, _ in folders:
            for path in _images_in(class_dir, problems):
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


# --------------------------------------------------------------------------------------
# RAF-DB basic, JAFFE


@register("rafdb")
def load_rafdb(root: str, variant: str = "aligned") -> Dataset:
    """RAF-DB basic: ``EmoLabel/list_patition_label.txt`` and ``Image/aligned/*_aligned.jpg`` (or
    ``Image/original``)."""
    kind = "rafdb"
    label_file = os.path.join(root, "EmoLabel", "list_patition_label.txt")
    img_dir = os.path.join(root, "Image", variant)
    _expect(
        os.path.isfile(label_file) and os.path.isdir(img_dir),
        kind,
        f"EmoLabel/list_patition_label.txt and Image/{variant}/",
        root,
    )
    # RAF-DB codes 1..7
    class_names = ["surprise", "fear", "disgust", "happy", "sadness", "anger", "neutral"]
    samples, problems = [], []
    for line_no, line in enumerate(open(label_file), 1):
        if not line.strip():
            continue
        try:
            name, code = line.split()
            code = int(code)
            assert 1 <= code <= 7
        except (ValueError, AssertionError):
            raise DatasetLayoutError(
                f"rafdb: {label_file} line {line_no} is not '<file> <code 1-7>': {line.strip()!r}"
            ) from None
        stem, ext = os.path.splitext(name)
        path = os.path.join(img_dir, f"{stem}_aligned{ext}" if variant == "aligned" else name)
        if not os.path.exists(path):
            problems.append(Problem("missing", path, f"listed in {label_file} line {line_no} but not on disk"))
            continue
        samples.append(Sample(label=code - 1, path=path, split="train" if name.startswith("train") else "test"))
    missing = [p for p in problems if p.kind == "missing"]
    if missing:
        raise DatasetLayoutError(f"rafdb: {len(missing)} listed images are missing, e.g. {missing[0].path}")
    return Dataset(kind, root, class_names, samples, problems, official_splits=("train", "test"))


_JAFFE_NAME = re.compile(r"^([A-Z]{2})\.([A-Z]{2})\d*\.(\d+)\.(tiff?|png|jpe?g)$", re.IGNORECASE)


@register("jaffe")
def load_jaffe(root: str) -> Dataset:
    """JAFFE: ``KA.AN1.39.tiff`` = subject KA, expression AN, image 39. Seven classes incl. neutral."""
    kind = "jaffe"
    files = [f for f in _listdir(root) if _JAFFE_NAME.match(f)]
    _expect(bool(files), kind, "files named like KA.AN1.39.tiff (subject.expression.index)", root)
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


# --------------------------------------------------------------------------------------
# users' own data


@register("folder")
def load_folder(root: str, subject_pattern: str | None = None, classes=None) -> Dataset:
    """Generic ``<class>/<image>`` folders (class names as given, sorted), searched recursively.

    Subjects (for subject-independent folds and leave-one-subject-out) come from a folder per person,
    ``<class>/<subject>/<image>``, or from ``subject_pattern``: a regex whose first group, matched against the
    file name, is the subject id, e.g. ``r"^(\\w+?)_"``. Images directly in a class folder have no subject.
    """
    kind = "folder"
    class_names, folders, problems = _class_folders(kind, root, list(classes) if classes else None, aliases=False)
    rx = re.compile(subject_pattern) if subject_pattern else None
    samples = []
    for label, folder, _ in folders:
        for path in _images_in(folder, problems, recursive=True):
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


@register("csv")
def load_csv(root: str, classes=None) -> Dataset:
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


# --------------------------------------------------------------------------------------
# the output of `facenet2expnet prepare`


@register("prepared")
def load_prepared(root: str) -> Dataset:
    """A cache made by ``facenet2expnet prepare`` (its folder, or the ``--out`` dir holding one).

    Faces that were found (or pre-cropped, or kept whole by ``prepare --no-face whole``) are the
    samples; images without a face and files that failed are listed in ``problems``, never dropped
    silently. Whole images are listed there too, as samples that no detector confirmed.
    """
    from .prepared import read_manifest

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
