"""Evaluation protocols: subject-independent k-fold, the datasets' official splits, LOSO.

Every protocol yields :class:`Fold` objects with ``train``/``val``/``test`` index arrays.
``val`` is always carved from the *training* side (its subjects where the dataset has
subjects), so that model selection never looks at the test fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import FaceNet2ExpNetError, UnknownNameError
from .records import Dataset

LOSO_MAX_SUBJECTS = 12  # auto: leave one person out up to this many people, subject k-fold above
NO_SUBJECTS_WARNING = (
    "the folds split images, not people (no person folders, or only one person): one person's photos can fall on "
    "both sides, which makes the estimate optimistic; lay them out as <class>/<person>/<image>, two people or more, "
    "for folds by person"
)


@dataclass
class Fold:
    index: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    note: str = ""
    # named subsets of the test fold (indices into the dataset, each within ``test``), reported beside it,
    # e.g. FER+ valid without the images whose pixels repeat a training image
    subsets: dict = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {"fold": self.index, "train": len(self.train), "val": len(self.val), "test": len(self.test)}


def _group_histograms(labels: np.ndarray, groups: list, n_classes: int):
    names = sorted(set(groups))
    index = {g: i for i, g in enumerate(names)}
    gid = np.array([index[g] for g in groups])
    hist = np.zeros((len(names), n_classes), dtype=np.int64)
    np.add.at(hist, (gid, labels), 1)
    return names, gid, hist


def balanced_group_assignment(hist: np.ndarray, n_bins: int, seed: int) -> np.ndarray:
    """Assign each group (row of ``hist``, its per-class counts) to one of ``n_bins`` bins.

    Greedy, deterministic for a seed: groups in random order, then largest first, each goes
    to the bin where it leaves the per-class counts closest to an even share. Whole groups
    move together, so no group is ever split across bins.
    """
    n_groups = hist.shape[0]
    if n_groups < n_bins:
        raise FaceNet2ExpNetError(f"cannot make {n_bins} folds from {n_groups} subjects; use fewer folds")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_groups)
    order = order[np.argsort(-hist[order].sum(1), kind="stable")]
    target = hist.sum(0) / n_bins  # per-class share of each bin
    scale = np.maximum(target, 1.0)
    bins = np.zeros((n_bins, hist.shape[1]))
    assign = np.empty(n_groups, dtype=np.int64)
    for g in order:
        after = bins + hist[g]
        # squared relative overshoot per class, plus a size term so bins fill evenly
        cost = (((after - target) / scale) ** 2).sum(1) - (((bins - target) / scale) ** 2).sum(1)
        cost += 1e-6 * bins.sum(1)
        b = int(np.argmin(cost))
        bins[b] += hist[g]
        assign[g] = b
    return assign


def _carve_val(
    ds: Dataset, train_idx: np.ndarray, val_fraction: float, seed: int, by_subject: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``train_idx`` into (train, val): by subject where there are subjects (and ``by_subject``), else
    stratified by class."""
    if val_fraction <= 0:
        return train_idx, np.array([], dtype=np.int64)
    labels = ds.labels[train_idx]
    n_bins = max(2, int(round(1.0 / val_fraction)))
    if ds.has_subjects and by_subject:
        subjects = [ds.samples[i].subject for i in train_idx]
        _, gid, hist = _group_histograms(labels, subjects, len(ds.class_names))
        if hist.shape[0] < 2:  # one training person: no one to hold out; the fold keeps its last weights
            return np.sort(train_idx), np.array([], dtype=np.int64)
        # with few training subjects the validation share grows (one subject at least)
        assign = balanced_group_assignment(hist, min(n_bins, hist.shape[0]), seed + 7919)
        is_val = assign[gid] == 0
    else:
        rng = np.random.default_rng(seed + 7919)
        is_val = np.zeros(len(train_idx), dtype=bool)
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            rng.shuffle(idx)
            # at least one validation sample per class that has two or more
            n_val = max(int(round(len(idx) / n_bins)), 1 if len(idx) >= 2 else 0)
            is_val[idx[:n_val]] = True
    return np.sort(train_idx[~is_val]), np.sort(train_idx[is_val])


def subject_kfold(ds: Dataset, k: int = 10, seed: int = 0, val_fraction: float = 0.1) -> list[Fold]:
    """Subject-independent k-fold, balanced by class as far as subjects allow."""
    if not ds.has_subjects:
        raise FaceNet2ExpNetError(
            f"{ds.kind} has no subject ids, so subject-independent folds are impossible; use --protocol "
            f"{auto_protocol(ds)} (what the default, --protocol auto, picks for this dataset)"
        )
    _, gid, hist = _group_histograms(ds.labels, ds.subjects, len(ds.class_names))
    assign = balanced_group_assignment(hist, k, seed)
    folds = []
    for f in range(k):
        test = np.flatnonzero(assign[gid] == f)
        train, val = _carve_val(ds, np.flatnonzero(assign[gid] != f), val_fraction, seed + f)
        folds.append(Fold(f, train, val, test))
    return folds


def leave_one_subject_out(ds: Dataset, seed: int = 0, val_fraction: float = 0.1) -> list[Fold]:
    if not ds.has_subjects:
        raise FaceNet2ExpNetError(
            f"{ds.kind} has no subject ids; leave-one-subject-out needs them (for your own photos: one folder per "
            f"person inside each class folder, <class>/<person>/<image>); or use --protocol {auto_protocol(ds)}"
        )
    subjects = np.array(ds.subjects)
    if len(set(ds.subjects)) < 2:
        raise FaceNet2ExpNetError(
            f"leave-one-subject-out needs two or more people; these images have one ({ds.subjects[0]}): add photos of "
            "other people, or use --protocol image-kfold (folds of images; the estimate may be optimistic)"
        )
    folds = []
    for f, s in enumerate(sorted(set(ds.subjects))):
        train, val = _carve_val(ds, np.flatnonzero(subjects != s), val_fraction, seed + f)
        folds.append(Fold(f, train, val, np.flatnonzero(subjects == s), note=f"test subject {s}"))
    return folds


def _tfd_folds(ds: Dataset, splits: np.ndarray, seed: int, val_fraction: float) -> list[Fold]:
    tfd = np.array([s.meta["tfd_folds"] for s in ds.samples])
    return [
        Fold(
            f,
            np.flatnonzero(tfd[:, f] == 1),
            np.flatnonzero(tfd[:, f] == 2),
            np.flatnonzero(tfd[:, f] == 3),
            note=f"TFD official fold {f + 1}",
        )
        for f in range(tfd.shape[1])
    ]


def _fer2013_folds(ds: Dataset, splits: np.ndarray, seed: int, val_fraction: float) -> list[Fold]:
    train = np.flatnonzero(splits == "train")
    public, private = np.flatnonzero(splits == "publictest"), np.flatnonzero(splits == "privatetest")
    if len(private):
        return [Fold(0, train, public, private, note="FER2013: select on PublicTest, test on PrivateTest")]
    # No PrivateTest (the usual folder release): validation is carved from Training (stratified), so that
    # PublicTest is seen once, for the reported number, and never for model selection.
    train, val = _carve_val(ds, train, val_fraction, seed)
    return [
        Fold(
            0,
            train,
            val,
            public,
            note="FER2013 without PrivateTest: validation carved from Training, tested on PublicTest",
        )
    ]


def _ferplus_folds(ds: Dataset, splits: np.ndarray, seed: int, val_fraction: float) -> list[Fold]:
    """FER+: the epoch is chosen on validation carved from ``train`` (stratified, by face, fixed by the seed);
    ``test`` is scored once where it is present, else ``valid`` (the shared release), which no choice reads.

    Before 2026-12-07 the epoch was chosen on ``valid``, which was then reported: the FER+ rows and models of
    that time say so. Valid/test images whose pixels repeat a training image are a subset reported beside the
    whole split (``no_train_duplicates``).
    """
    train, valid, test = (np.flatnonzero(splits == name) for name in ("train", "val", "test"))
    report, name = (test, "test") if len(test) else (valid, "valid")
    if not len(report):
        raise FaceNet2ExpNetError("ferplus: neither valid/ nor test/ was found; one of them is the reported split")
    train, val = _carve_val(ds, train, val_fraction, seed)
    note = f"FER+: epoch chosen on validation carved from train ({len(val)} faces), tested once on {name}"
    unique = np.array([i for i in report if not ds.samples[i].meta.get("train_duplicate")], dtype=np.int64)
    return [Fold(0, train, val, report, note=note, subsets={"no_train_duplicates": unique})]


def _split_folds(ds: Dataset, splits: np.ndarray, seed: int, val_fraction: float) -> list[Fold]:
    """Any dataset with train and test (or val) splits: validation is ``val`` where there is a test split too,
    else carved from train."""
    present = set(splits) - {""}
    test_name = "test" if "test" in present else ("val" if "val" in present else None)
    if "train" not in present or test_name is None:
        raise FaceNet2ExpNetError(
            f"{ds.kind} has no official train/test split (found splits: {sorted(present) or 'none'}); use --protocol "
            f"{auto_protocol(ds)} (what the default, --protocol auto, picks for this dataset)"
        )
    train_all = np.flatnonzero(splits == "train")
    if test_name == "test" and "val" in present:
        return [Fold(0, train_all, np.flatnonzero(splits == "val"), np.flatnonzero(splits == "test"))]
    train, val = _carve_val(ds, train_all, val_fraction, seed)
    kind = ds.options.get("source_kind", ds.kind)
    note = (
        "SFEW 2.0: tested on the official Val split (as the paper); validation carved from Train"
        if kind == "sfew"
        else ""
    )
    return [Fold(0, train, val, np.flatnonzero(splits == test_name), note=note)]


# Dataset kinds whose official protocol is not "train vs test (or val)": their own fold makers.
OFFICIAL_FOLDS = {"tfd": _tfd_folds, "fer2013": _fer2013_folds, "ferplus": _ferplus_folds}


def official_folds(ds: Dataset, seed: int = 0, val_fraction: float = 0.1) -> list[Fold]:
    splits = np.array([s.split or "" for s in ds.samples])
    kind = ds.options.get("source_kind", ds.kind)  # a `prepared` cache keeps its source's protocol
    return OFFICIAL_FOLDS.get(kind, _split_folds)(ds, splits, seed, val_fraction)


def image_kfold(ds: Dataset, k: int = 10, seed: int = 0, val_fraction: float = 0.1) -> list[Fold]:
    """k folds of images, stratified by class: for photos with no person folders. One person's photos can fall on
    both sides of a fold, so the estimate may be optimistic (each fold's note says so)."""
    rng = np.random.default_rng(seed + 104729)
    k = min(k, len(ds))
    # images listed class by class (shuffled within each), then dealt to the folds in turn: every fold gets its
    # share of every class, and none is empty
    order = np.concatenate([rng.permutation(np.flatnonzero(ds.labels == c)) for c in range(len(ds.class_names))])
    assign = np.empty(len(ds), dtype=np.int64)
    assign[order] = np.arange(len(order)) % k
    folds = []
    for f in range(k):
        # folds of images: validation too is carved by image (one person's photos may be all there is)
        train, val = _carve_val(ds, np.flatnonzero(assign != f), val_fraction, seed + f, by_subject=False)
        folds.append(Fold(f, train, val, np.flatnonzero(assign == f), note=NO_SUBJECTS_WARNING))
    return folds


def auto_protocol(ds: Dataset) -> str:
    """The protocol a dataset's layout allows, most honest first: its official split, else folds by person (leave
    one out up to LOSO_MAX_SUBJECTS people), else folds of images."""
    splits = {s.split for s in ds.samples} - {None, ""}
    kind = ds.options.get("source_kind", ds.kind)
    if kind in OFFICIAL_FOLDS or ("train" in splits and splits & {"test", "val"}):
        return "official"
    people = len(set(ds.subjects)) if ds.has_subjects else 0
    if people >= 2:  # one person alone cannot be left out: there would be nobody to train on
        return "loso" if people <= LOSO_MAX_SUBJECTS else "subject-kfold"
    return "image-kfold"


# name -> fold maker (ds, folds, seed, val_fraction); "auto" resolves to one of them per dataset (auto_protocol)
PROTOCOL_MAKERS = {
    "subject-kfold": lambda ds, k, seed, vf: subject_kfold(ds, k, seed, vf),
    "official": lambda ds, k, seed, vf: official_folds(ds, seed, vf),
    "loso": lambda ds, k, seed, vf: leave_one_subject_out(ds, seed, vf),
    "image-kfold": lambda ds, k, seed, vf: image_kfold(ds, k, seed, vf),
}
PROTOCOLS = ("auto", *PROTOCOL_MAKERS)


def resolve_protocol(ds: Dataset, protocol: str) -> str:
    if protocol == "auto":
        return auto_protocol(ds)
    if protocol not in PROTOCOL_MAKERS:
        raise UnknownNameError("protocol", protocol, PROTOCOLS)
    return protocol


def make_folds(
    ds: Dataset, protocol: str = "subject-kfold", folds: int = 10, seed: int = 0, val_fraction: float = 0.1
) -> list[Fold]:
    """The folds of ``protocol`` (``auto``: the one the dataset's layout allows, auto_protocol)."""
    return PROTOCOL_MAKERS[resolve_protocol(ds, protocol)](ds, folds, seed, val_fraction)
