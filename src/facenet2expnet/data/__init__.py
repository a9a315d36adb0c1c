"""Datasets: loaders for every layout the paper uses, one sample record, honest protocols."""

from .loaders import LOADERS, load_dataset, parse_dataset_spec
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
