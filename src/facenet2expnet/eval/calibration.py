"""Calibration: how far a model's confidence is from its accuracy, and the one number that closes most of the gap.

A net trained with cross-entropy tends to say 0.9 where it is right 80% of the time. Temperature scaling (Guo et
al., "On Calibration of Modern Neural Networks", ICML 2017) divides the logits by one scalar ``T`` fitted on
validation faces, which changes no prediction (the argmax stays) and makes a reported 0.9 mean about 90%. The
expected calibration error (ECE) measures the gap: the mean over confidence bins of |accuracy - confidence|,
weighted by the share of faces in each bin. Pure numpy: logits (N x classes) and labels (N,) in, numbers out.
"""

from __future__ import annotations

import numpy as np

BINS = 15  # Guo et al.'s bin count: equal-width confidence bins over [0, 1]
BETA_RANGE = (0.02, 20.0)  # 1/T searched here: T from 0.05 to 50


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, np.float64) / temperature
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true classes under ``softmax(logits / T)``."""
    z = np.asarray(logits, np.float64) / temperature
    m = z.max(axis=1, keepdims=True)
    log_norm = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(log_norm - z[np.arange(len(z)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, iters: int = 80) -> float:
    """The T that minimizes the validation NLL. The NLL is convex in beta = 1/T (a log-sum-exp of beta * z minus
    a linear term), so a golden-section search over beta finds the minimum without gradients."""
    if len(logits) == 0:
        return 1.0
    lo, hi = np.log(BETA_RANGE[0]), np.log(BETA_RANGE[1])  # searched in log beta: the range spans three decades
    g = (np.sqrt(5) - 1) / 2
    f = lambda log_beta: nll(logits, labels, 1.0 / np.exp(log_beta))  # noqa: E731
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(iters):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = f(b)
    return float(1.0 / np.exp((lo + hi) / 2))


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> list[dict]:
    """Per confidence bin (equal width over [0, 1]): how many faces, their mean confidence and their accuracy;
    what a reliability diagram draws. Empty bins are left out."""
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    return [
        {
            "lo": float(edges[b]),
            "hi": float(edges[b + 1]),
            "n": int((which == b).sum()),
            "confidence": float(conf[which == b].mean()),
            "accuracy": float(right[which == b].mean()),
        }
        for b in range(bins)
        if (which == b).any()
    ]


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """Sum over bins of (share of faces) x |accuracy - mean confidence|: 0 is perfectly calibrated."""
    n = len(labels)
    return float(sum(b["n"] / n * abs(b["accuracy"] - b["confidence"]) for b in reliability(probs, labels, bins)))


def calibration_summary(val_logits, val_labels, test_logits=None, test_labels=None) -> dict:
    """The temperature fitted on validation, and the ECE before and after it on validation (and on a test split,
    where given: reported, never fitted on)."""
    t = fit_temperature(val_logits, val_labels)
    out = {
        "temperature": round(t, 4),
        "fitted_on_faces": int(len(val_labels)),
        "val_ece": expected_calibration_error(softmax(val_logits), val_labels),
        "val_ece_calibrated": expected_calibration_error(softmax(val_logits, t), val_labels),
    }
    if test_logits is not None and len(test_labels):
        out["test_ece"] = expected_calibration_error(softmax(test_logits), test_labels)
        out["test_ece_calibrated"] = expected_calibration_error(softmax(test_logits, t), test_labels)
    return out
