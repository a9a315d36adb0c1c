"""Datasets: one loader per layout (``datasets``, a table of kinds), one sample record (``records``), class
names (``classes``), honest protocols (``protocols``), image reading (``images``) and preprocessing
(``preprocess``), the ``prepare`` cache format (``prepared``)."""

from .datasets import LOADERS, load_dataset, parse_dataset_spec
from .protocols import PROTOCOLS, Fold, make_folds
from .records import Dataset, Problem, Sample

__all__ = [
    "LOADERS",
    "PROTOCOLS",
    "Dataset",
    "Fold",
    "Problem",
    "Sample",
    "load_dataset",
    "make_folds",
    "parse_dataset_spec",
]
