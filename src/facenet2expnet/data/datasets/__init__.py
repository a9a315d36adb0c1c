"""One module per dataset layout, each with a ``load(root, ...)`` returning the same :class:`~..records.Dataset`,
registered by kind in ``registry.LOADERS``.

Use :func:`load_dataset` (``kind`` is one of :data:`LOADERS`) or a ``KIND:ROOT`` spec with
:func:`parse_dataset_spec`. Every loader checks the layout first and says what it expected
and what it found; it then records anything it left out in ``Dataset.problems``.
"""

from .registry import LOADERS, load_dataset, parse_dataset_spec

__all__ = ["LOADERS", "load_dataset", "parse_dataset_spec"]
