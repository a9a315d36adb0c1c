"""The Toronto Face Database: one .mat file with its five official folds."""

from __future__ import annotations

import os

import numpy as np

from ...errors import DatasetLayoutError
from ..records import Dataset, Problem, Sample
from .common import expect


def _find_file(kind: str, root: str, names: list[str], what: str) -> str:
    if os.path.isfile(root):
        return root
    for n in names:
        if os.path.isfile(os.path.join(root, n)):
            return os.path.join(root, n)
    expect(False, kind, what, root)


def load(root: str, size: int = 48) -> Dataset:
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
