"""The one sample record that every dataset loader returns."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class Sample:
    """One labelled face image.

    Exactly one of ``path`` (a file) or ``array`` (an HxW or HxWxC uint8 image, e.g. from
    a .mat or .csv file) is set. ``subject``/``sequence``/``frame`` are ``None`` where the
    dataset does not have them (FER2013 has no subjects, for instance).
    """

    label: int
    path: Optional[str] = None
    array: Optional[np.ndarray] = field(default=None, repr=False)
    subject: Optional[str] = None
    sequence: Optional[str] = None
    frame: Optional[int] = None
    split: Optional[str] = None  # official split where the dataset has one ("train", "val", "test"...)
    key: str = ""  # stable, unique id of the sample inside its dataset (used by caches)
    meta: dict = field(default_factory=dict, repr=False)  # loader-specific extras (landmarks file, TFD folds...)

    def __post_init__(self):
        if (self.path is None) == (self.array is None):
            raise ValueError("a Sample needs exactly one of path or array")
        if not self.key:
            self.key = self.path if self.path is not None else f"array:{id(self.array)}"


@dataclass
class Problem:
    """Something about a dataset that a user must know: never dropped silently."""

    kind: str  # "unreadable", "empty-folder", "duplicate", "excluded", "unlabelled"
    path: str
    message: str


@dataclass
class Dataset:
    """A loaded dataset: its samples, class names and anything found wrong while loading."""

    kind: str
    root: str
    class_names: list[str]
    samples: list[Sample]
    problems: list[Problem] = field(default_factory=list)
    official_splits: tuple[str, ...] = ()  # e.g. ("train", "val", "test") where the dataset has them
    options: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.samples], dtype=np.int64)

    @property
    def subjects(self) -> list[Optional[str]]:
        return [s.subject for s in self.samples]

    @property
    def has_subjects(self) -> bool:
        return bool(self.samples) and all(s.subject is not None for s in self.samples)

    def subset(self, indices) -> "Dataset":
        return dataclasses.replace(self, samples=[self.samples[i] for i in indices], problems=list(self.problems))

    def class_counts(self) -> dict[str, int]:
        counts = (
            np.bincount(self.labels, minlength=len(self.class_names))
            if self.samples
            else np.zeros(len(self.class_names), int)
        )
        return {name: int(c) for name, c in zip(self.class_names, counts)}
