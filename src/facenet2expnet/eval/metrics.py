"""Evaluation metrics: pure numpy functions, no models, no files."""

from __future__ import annotations

import numpy as np


def accuracy(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float((y_true == y_pred).mean())


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts; rows = true class, columns = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def per_class_recall(cm: np.ndarray) -> np.ndarray:
    """Recall of each class (row-normalized diagonal); NaN for a class with no samples."""
    cm = np.asarray(cm, dtype=np.float64)
    totals = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(cm) / totals, np.nan)


def macro_recall(recalls) -> float:
    """The mean of the classes' recalls, each class weighing alike however rare; a class with no face (its recall
    None or NaN, as ``per_class_recall`` gives it) is left out. NaN where no class has a face."""
    known = [float(r) for r in recalls if r is not None and not np.isnan(r)]
    return float(np.mean(known)) if known else float("nan")


def mean_std(values) -> tuple[float, float]:
    """Mean and population standard deviation (ddof=0), as fold results are usually reported."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std())


def row_normalize(cm: np.ndarray) -> np.ndarray:
    cm = np.asarray(cm, dtype=np.float64)
    totals = cm.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, cm / np.maximum(totals, 1), 0.0)


def explained_variance(pred, target, position_mean) -> float:
    """R² of a regression onto feature maps: 1 - sum (pred - t)² / sum (t - mean)².

    ``pred``, ``target``: N x ... arrays; ``position_mean``: the per-position mean of the targets over
    the *training* faces (shape ``target.shape[1:]``), so that predicting that mean map scores 0.
    """
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.size == 0:
        raise ValueError(f"explained_variance needs two equal, non-empty shapes, got {pred.shape} and {target.shape}")
    denom = ((target - np.asarray(position_mean, dtype=np.float64)) ** 2).sum()
    return float(1.0 - ((pred - target) ** 2).sum() / max(denom, 1e-12))


def mean_cosine(pred, target) -> float:
    """Mean over faces of the cosine similarity of the flattened prediction and target."""
    p = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    t = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    num = (p * t).sum(1)
    den = np.linalg.norm(p, axis=1) * np.linalg.norm(t, axis=1)
    return float(np.mean(num / np.maximum(den, 1e-12)))


def paired_comparison(a, b) -> dict:
    """Method ``a`` against method ``b`` on the same folds (one accuracy per fold each).

    -> mean and std of the per-fold differences a - b, how many folds a wins / ties / loses, the paired t
    test (t, two-sided p) and the Wilcoxon signed-rank test (two-sided p; ties dropped, None when every
    fold ties). With 10 folds, p < 0.05 needs a difference that is consistent from fold to fold.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"paired comparison needs two equal-length series of 2+ folds, got {a.shape} and {b.shape}")
    d = a - b
    out = {
        "folds": int(d.size),
        "mean_diff": float(d.mean()),
        "std_diff": float(d.std(ddof=1)),
        "wins": int((d > 0).sum()),
        "ties": int((d == 0).sum()),
        "losses": int((d < 0).sum()),
    }
    if np.allclose(d, d[0]):  # no spread: t is undefined
        out.update(t=None, p_t=None)
    else:
        t = stats.ttest_rel(a, b)
        out.update(t=float(t.statistic), p_t=float(t.pvalue))
    out["p_wilcoxon"] = float(stats.wilcoxon(d[d != 0]).pvalue) if (d != 0).any() else None
    return out


def mcnemar(correct_a, correct_b) -> dict:
    """Method ``a`` against ``b`` on one test set (the same images, each right or wrong): the exact McNemar test.

    -> accuracies, the discordant counts (``a_only``: a right and b wrong; ``b_only``: the reverse) and the
    two-sided p of the exact binomial test on them (1.0 when there are none). For a single official split,
    where there are no folds to pair, this is the paired test.
    """
    from scipy import stats

    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"mcnemar needs two equal-length, non-empty 1-d series, got {a.shape} and {b.shape}")
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    n = a_only + b_only
    p = float(stats.binomtest(a_only, n, 0.5).pvalue) if n else 1.0
    return {
        "n": int(a.size),
        "acc_a": float(a.mean()),
        "acc_b": float(b.mean()),
        "a_only": a_only,
        "b_only": b_only,
        "p_mcnemar": p,
    }
