"""Class selectivity of conv units and clustering scores: pure numpy (plus sklearn's silhouette)."""

from __future__ import annotations

import numpy as np


def unit_peaks(acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """acts: N x C x H x W -> (N x C peak value, N x C flat arg-max position)."""
    n, c = acts.shape[:2]
    flat = acts.reshape(n, c, -1)
    return flat.max(2), flat.argmax(2)


def top_images(peaks: np.ndarray, k: int) -> np.ndarray:
    """C x k indices of the images that activate each unit most (highest first)."""
    k = min(k, peaks.shape[0])
    return np.argsort(-peaks, axis=0, kind="stable")[:k].T


def unit_selectivity(peaks: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """For each unit, the fraction of its top-k images that share their majority class."""
    labels = np.asarray(labels)
    top = top_images(peaks, k)  # C x k
    out = np.empty(top.shape[0])
    for u, idx in enumerate(top):
        counts = np.bincount(labels[idx])
        out[u] = counts.max() / len(idx)
    return out


def selectivity_score(peaks: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Mean over units of :func:`unit_selectivity`: 1 = every unit fires for one class only.

    Chance level is about the largest class share of the data (a unit that ignores classes still
    sees mostly the majority class among its top images).
    """
    return float(unit_selectivity(peaks, labels, k).mean())


def silhouette(features: np.ndarray, groups) -> float:
    """Silhouette score of ``features`` (N x D) clustered by ``groups`` (Euclidean); higher = tighter clusters."""
    from sklearn.metrics import silhouette_score

    groups = np.asarray(groups)
    if len(np.unique(groups)) < 2 or len(np.unique(groups)) >= len(groups):
        return float("nan")
    return float(silhouette_score(features, groups))


def pca_2d(features: np.ndarray) -> np.ndarray:
    x = features - features.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T
