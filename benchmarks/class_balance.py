"""Class imbalance on FER+: does the logit-adjusted loss recognize the rare classes, and at what cost in accuracy?

    .venv/bin/python benchmarks/class_balance.py --runs ~/runs/cycles/ferplus-res48-cycle02 \
        ~/runs/cycles/ferplus-res48-la01

Each run is one warm-restart cycle of the FER+ `res48` chain from the same checkpoint with the same schedule
(`benchmarks/recipes/ferplus/res48_cycle.toml` and `res48_cycle_la.toml`, which differs only in `logit_adjust`).
Their chosen checkpoints are scored on the validation faces carved from FER+ train (where a choice between them
may be made: accuracy, macro recall, per-class recall) and on FER+ valid (reported, never chosen on).
"""

import argparse
import os

import numpy as np
from calibration import logits_of, split_faces
from common import ROOT, machine, parse_args, table, write_results

OUT = os.path.join(ROOT, "benchmarks", "results", "class_balance.json")


def score(run: str, faces: dict) -> dict:
    """A run's chosen checkpoint on the carved validation and FER+ valid: accuracy, macro and per-class recall."""
    from facenet2expnet.eval.metrics import confusion_matrix, macro_recall, per_class_recall
    from facenet2expnet.files import read_csv_rows, read_json
    from facenet2expnet.infer import ExpressionRecognizer
    from facenet2expnet.paths import portable

    rec = ExpressionRecognizer.from_pretrained(os.path.join(run, "folds", "fold_00", "best.json"), detect=False)
    cfg = read_json(os.path.join(run, "config.json"))
    row = {"run": portable(run, ROOT), "logit_adjust": cfg.get("logit_adjust", 0.0)}
    for split, (x, y) in faces.items():
        pred = logits_of(rec, x).argmax(1)
        recall = per_class_recall(confusion_matrix(y, pred, len(rec.classes_)))  # NaN: a class with no face here
        per_class = {c: None if np.isnan(r) else float(r) for c, r in zip(rec.classes_, recall)}
        row[f"{split}_accuracy"] = float((pred == y).mean())
        row[f"{split}_macro_recall"] = macro_recall(recall)
        row[f"{split}_recall"] = per_class
    fold = os.path.join(run, "folds", "fold_00")
    row["val_curve"] = [round(float(r["val_acc"]), 4) for r in read_csv_rows(os.path.join(fold, "metrics.csv"))]
    row["finished"] = os.path.exists(os.path.join(fold, "result.json"))  # a run stopped early: its best epoch so far
    row["best_epoch"] = read_json(os.path.join(fold, "best.json"))["epoch"]
    return row


def main():
    from facenet2expnet.files import read_json

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="+", required=True, help="FER+ runs of one fold (a stopped one: its best so far)")
    args = parse_args(ap)
    (val_x, val_y), (test_x, test_y) = split_faces(read_json(os.path.join(args.runs[0], "config.json")))
    faces = {"val": (val_x, val_y), "ferplus_valid": (test_x, test_y)}
    rows = [score(os.path.expanduser(r), faces) for r in args.runs]
    cols = [("run", "run", "<s", 40), ("logit_adjust", "tau", ".2f"), ("val_accuracy", "val acc", ".4f")]
    cols += [("val_macro_recall", "val macro", ".4f"), ("ferplus_valid_accuracy", "valid acc", ".4f")]
    cols += [("ferplus_valid_macro_recall", "valid macro", ".4f")]
    print(table(rows, cols))
    for r in rows:
        print(r["run"], "validation recall:", {c: round(v, 3) for c, v in r["val_recall"].items()})
    runs = " ".join(portable_run(r) for r in args.runs)
    reproduce = f"python benchmarks/class_balance.py --runs {runs}"
    write_results(OUT, {"benchmark": "class_balance", "rows": rows, "machine": machine(), "reproduce": reproduce})


def portable_run(path: str) -> str:
    from facenet2expnet.paths import portable

    return portable(os.path.abspath(os.path.expanduser(path)), ROOT)


if __name__ == "__main__":
    main()
