"""FER+: refine on train (majority, probability or cross-entropy label modes), choose the epoch on validation carved
from train, report valid once.

    .venv/bin/python benchmarks/ferplus.py [--recipes ferplus/fast_majority_10ep ...] [--runs ~/runs]
    .venv/bin/python benchmarks/ferplus.py --bundled ferplus-fn2en-fast ferplus-fn2en-fast-int8 ...

Recipes are files, benchmarks/recipes/ferplus/*.toml. They start from the label-free FER2013 stage-1 trunks
(``trunk_from``; FER+ train is FER2013 Training, relabelled, and valid is PublicTest, which stage 1 never saw).
FER+'s test split is not in ../shared, so valid is what is reported, against the majority labels (the standard FER+
metric); the epoch is chosen on a tenth of train carved by face (recipes run before 2026-12-07 chose on valid itself,
and their rows say so); each row also gives valid without the 264 images whose pixels
repeat a training image (``subsets.no_train_duplicates``). Runs resume: rerun the same command after a kill.

``--bundled`` scores models shipped in the package (float and int8 exports alike) on valid through the public API,
``ExpressionRecognizer.from_pretrained(NAME, detect=False).predict_proba(faces)``, as a user would call it: the
``bundled`` section of the JSON (accuracy both ways, per-class recall, confusion matrix), which the model cards
quote and which says whether each int8 export is within 0.5 points of its float model.
"""

import os
import sys

from common import ROOT, official_split_benchmark

FERPLUS = os.path.join(os.path.dirname(ROOT), "shared", "data", "ferplus")


def score_bundled(names: list[str], out: str) -> None:
    import json

    import numpy as np
    from PIL import Image

    from facenet2expnet.data import load_dataset
    from facenet2expnet.eval.metrics import accuracy, confusion_matrix, macro_recall, per_class_recall
    from facenet2expnet.files import atomic_write_json
    from facenet2expnet.infer import ExpressionRecognizer

    ds = load_dataset("ferplus", FERPLUS, check_images=False)
    valid = [s for s in ds.samples if s.split == "val"]  # FER+ valid, as the loader names the split
    faces = [np.asarray(Image.open(s.path).convert("L")) for s in valid]
    truth = np.array([s.label for s in valid])
    fresh = np.array([not s.meta.get("train_duplicate") for s in valid])
    results = json.load(open(out)) if os.path.exists(out) else {}
    for name in names:
        rec = ExpressionRecognizer.from_pretrained(name, detect=False)
        if list(rec.classes_) != list(ds.class_names):
            raise SystemExit(f"{name}: classes {rec.classes_} are not FER+'s {ds.class_names}")
        pred = np.concatenate([p.argmax(1) for p in rec.predict_proba(faces)])
        cm = confusion_matrix(truth, pred, len(ds.class_names))
        results.setdefault("bundled", {})[name] = {
            "valid_accuracy": accuracy(truth, pred),
            "valid_accuracy_no_train_duplicates": accuracy(truth[fresh], pred[fresh]),
            "n": len(valid),
            "n_no_train_duplicates": int(fresh.sum()),
            "per_class_recall": dict(zip(ds.class_names, map(float, per_class_recall(cm)))),
            "macro_recall": macro_recall(per_class_recall(cm)),
            "confusion_matrix": cm.tolist(),
            "api": f"ExpressionRecognizer.from_pretrained({name!r}, detect=False).predict_proba(faces)",
        }
        r = results["bundled"][name]
        both = (100 * r["valid_accuracy"], 100 * r["valid_accuracy_no_train_duplicates"])
        macro = 100 * r["macro_recall"]
        print(f"{name}: valid {both[0]:.2f}%, without train duplicates {both[1]:.2f}%, macro recall {macro:.2f}%")
    results["bundled_reproduce"] = ".venv/bin/python benchmarks/ferplus.py --bundled " + " ".join(
        sorted(results["bundled"])
    )
    atomic_write_json(out, results)


if __name__ == "__main__":
    if "--bundled" in sys.argv:
        names = sys.argv[sys.argv.index("--bundled") + 1 :]
        score_bundled(names, os.path.join(ROOT, "benchmarks", "results", "ferplus.json"))
    else:
        official_split_benchmark(
            "ferplus",
            "valid",
            "valid_accuracy",
            "FER+: train on train (26,937), epoch chosen on valid (3,396), valid reported (no test split shared)",
            __doc__,
        )
