"""The ``probe`` baseline: a linear classifier on cached teacher features, regularization chosen on validation."""

from __future__ import annotations

import os

import numpy as np

from ..data.protocols import Fold
from ..eval.metrics import accuracy
from ..files import atomic_write_json


def probe_fold(fold: Fold, features, labels: np.ndarray, Cs, fold_dir: str, seed: int = 0, log=print) -> dict:
    """Standardize (training statistics only), fit multinomial logistic regression for each C, keep the best on
    validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    dim = int(np.prod(features.shape[2:]))

    def rows(idx):
        idx = np.sort(idx)
        return np.asarray(features[idx, 0], dtype=np.float32).reshape(len(idx), dim), labels[idx]

    xtr, ytr = rows(fold.train)
    xva, yva = rows(fold.val)
    xte, yte = rows(fold.test)
    scaler = StandardScaler().fit(xtr)
    xtr, xva, xte = scaler.transform(xtr), scaler.transform(xva) if len(xva) else xva, scaler.transform(xte)
    if not len(yva):
        Cs = [sorted(Cs)[len(Cs) // 2]]
        log(f"fold {fold.index} probe: no validation split, so no selection: C={Cs[0]:g}")
    best = None
    for C in Cs:
        clf = LogisticRegression(C=C, max_iter=300, random_state=seed).fit(xtr, ytr)
        va = accuracy(yva, clf.predict(xva)) if len(yva) else 0.0
        log(f"fold {fold.index} probe C={C:g}: val acc {va:.3f}")
        if best is None or va > best[0]:
            best = (va, C, clf)
    va, C, clf = best
    pred = clf.predict(xte)
    os.makedirs(fold_dir, exist_ok=True)
    result = {
        "fold": fold.index,
        "accuracy": accuracy(yte, pred),
        "n_test": int(len(yte)),
        "n_train": int(len(ytr)),
        "n_val": int(len(yva)),
        "best_C": C,
        "best_val_acc": va,
        "test_index": np.sort(fold.test).tolist(),
        "test_pred": pred.tolist(),
    }
    atomic_write_json(os.path.join(fold_dir, "result.json"), result)
    return result
