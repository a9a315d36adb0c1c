"""Every method at its defaults, as a user runs it: no flag but the dataset, the protocol and the output.

    .venv/bin/python benchmarks/defaults.py [--datasets ck7 small0 ...] [--methods fn2en scratch ...] [--runs ~/runs]

Each row is ``facenet2expnet train --dataset D --protocol P --method M --out R`` and nothing else (the command is
in the row), so what it measures is what the README's commands give. The one exception is the README's shortcut
(``shortcut``: the bundled FER2013 fast model's trunk with a new head, not the paper's method), run with the flags
the README gives for it, and ``paper``, fn2en's one-flag path ``--init-trunk none`` (stage 1 on the run's own faces
at its default epochs: its held-out R² per fold says whether it fitted). Datasets:

* ``ck7`` / ``ck6``: CK+48, 7 classes / the paper's 6, 10 subject-independent folds;
* ``sfew``: SFEW 2.0, trained on Train (whole aligned crops, as ``prepare --no-face whole`` makes them), the epoch
  chosen on held-out Train subjects' faces, Val reported;
* ``small0`` .. ``small2``: a user's own small set, simulated: 10 CK+48 subjects drawn at random (three draws, seeds
  0-2), leave one subject out.

Paired tests on the same folds: fn2en against scratch (its control), the probe and the shortcut. Runs resume:
rerun the same command after a kill. Writes benchmarks/results/defaults.json (rows merged with earlier runs').
"""

from __future__ import annotations

import argparse
import os
import random

from common import ROOT, RUNS, SHORTCUT, machine, now, parse_args, portable, run_method, table, write_results

SHARED = os.path.join(ROOT, "..", "shared", "data")
CK = "ckplus48:../shared/data/ckplus48"
# name -> (what it stands for, TrainConfig fields a user would type: the dataset and the protocol)
DATASETS = {
    "ck7": ("CK+48, 7 classes, 10 subject folds", {"dataset": CK, "protocol": "subject-kfold"}),
    "ck6": (
        "CK+48, the paper's 6 classes, 10 subject folds",
        {"dataset": CK, "protocol": "subject-kfold", "classes": "ck6"},
    ),
    "sfew": ("SFEW 2.0 Val (trained on Train)", {"dataset": "sfew", "protocol": "official"}),
    **{
        f"small{k}": (
            f"10 CK+48 subjects (draw {k}), leave one subject out",
            {"dataset": f"small:{k}", "protocol": "loso"},
        )
        for k in range(3)
    },
}
# name -> the fields of the row beyond the dataset's (fn2en is the default method: no field at all)
METHODS = {
    "fn2en": {},
    # the label-free path, one flag away (train's default before 2026-12-07, whose rows these were until then)
    "label_free": {"init_trunk": "fn2en-res48-trunk"},
    "paper": {"init_trunk": "none"},  # fn2en's own path: stage 1 from random weights on the run's faces (one flag)
    "scratch": {"method": "scratch"},
    "probe": {"method": "probe"},
    "finetune": {"method": "finetune"},
    "shortcut": SHORTCUT,
}
AGAINST = ("scratch", "probe", "shortcut")  # fn2en is compared with each, fold by fold


def small_set(draw: int, runs: str) -> str:
    """RUNS/small/drawK: links to the CK+48 images of 10 subjects drawn with seed K (made once, then reused)."""
    src = os.path.join(SHARED, "ckplus48")
    out = os.path.join(runs, "small", f"draw{draw}")
    subjects = sorted({f.split("_")[0] for c in os.listdir(src) for f in os.listdir(os.path.join(src, c))})
    chosen = set(random.Random(draw).sample(subjects, 10))
    for c in sorted(os.listdir(src)):
        for f in sorted(os.listdir(os.path.join(src, c))):
            if f.split("_")[0] in chosen and not os.path.lexists(os.path.join(out, c, f)):
                os.makedirs(os.path.join(out, c), exist_ok=True)
                os.symlink(os.path.realpath(os.path.join(src, c, f)), os.path.join(out, c, f))
    return out


def dataset_fields(name: str, runs: str) -> dict:
    fields = dict(DATASETS[name][1])
    if fields["dataset"] == "sfew":  # a user's path: prepare the photos once, then train on the prepared folder
        from facenet2expnet.train.recipes import prepared_dataset

        fields["dataset"] = "prepared:" + prepared_dataset("sfew:../shared/data/sfew", {"no_face": "whole"}, runs)
    elif fields["dataset"].startswith("small:"):
        fields["dataset"] = "ckplus48:" + small_set(int(fields["dataset"].split(":")[1]), runs)
    return fields


def run_one(data: str, method: str, runs: str, threads: int | None, redo: bool = False) -> dict:
    import torch

    fields = {**dataset_fields(data, runs), **METHODS[method], "cache_dir": os.path.join(runs, "cache", "teacher")}
    run_dir = os.path.join(runs, "defaults", data, method)
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in fields.items() if k != "cache_dir")
    r = run_method(fields, run_dir, threads=threads, command=f"facenet2expnet train {flags} --out {run_dir}", redo=redo)
    row = {
        "accuracy_mean": r["accuracy_mean"],
        "accuracy_std": r["accuracy_std"],
        "fold_accuracies": [f["accuracy"] for f in r["folds"]],
        "validation_accuracies": [f.get("val_accuracy") for f in r["folds"]],
        "epochs": [[f.get("stage1_epochs"), f.get("stage2_epochs")] for f in r["folds"]],
        "init_trunk": r["folds"][0].get("init_trunk"),
        "start": r["start"],  # the start's name and the sha256 of its weights: a bundled name's weights may change
        "stage1_val_r2_folds": [f.get("stage1_val_r2") for f in r["folds"]],  # stage 1 fitted on every fold if > 0
        "seconds": r["seconds"],
        "cpu_hours": round(r["seconds"] * (threads or torch.get_num_threads()) / 3600, 3),
        "command": portable(r["command"]),
        "code": r.get("code"),
        "finished": now(),
    }
    for k in ("stage1_val_r2", "stage1_train_r2"):
        if k in r:
            row[k] = r[k]
    return row


def paired_tests(rows: dict) -> dict:
    from facenet2expnet.eval.metrics import paired_comparison

    out = {}
    for data, methods in rows.items():
        for other in AGAINST:
            a, b = methods.get("fn2en"), methods.get(other)
            if a and b and len(a["fold_accuracies"]) == len(b["fold_accuracies"]) >= 2:
                out[f"{data}: fn2en vs {other}"] = paired_comparison(a["fold_accuracies"], b["fold_accuracies"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--runs", default=RUNS, help="root of the run dirs (RUNS/defaults/<dataset>/<method>)")
    ap.add_argument("--threads", type=int)
    ap.add_argument(
        "--redo", action="store_true", help="train the chosen rows from nothing (after their start's weights changed)"
    )
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "defaults.json"))
    args = parse_args(ap)
    import json

    ran = {}
    for data in args.datasets:
        for method in args.methods:
            print(f"== {data}: {method}")
            ran.setdefault(data, {})[method] = run_one(data, method, args.runs, args.threads, args.redo)
    earlier = json.load(open(args.out)).get("rows", {}) if os.path.exists(args.out) else {}
    rows = {d: {**earlier.get(d, {}), **ran.get(d, {})} for d in {**earlier, **ran}}
    flat = [
        {
            "dataset": d,
            "method": m,
            "acc": 100 * r["accuracy_mean"],
            "std": 100 * r["accuracy_std"],
            "r2": r.get("stage1_val_r2"),
            "cpu_h": r["cpu_hours"],
        }
        for d, ms in rows.items()
        for m, r in ms.items()
    ]
    cols = [
        ("dataset", "dataset", "s"),
        ("method", "method", "s"),
        ("acc", "accuracy %", ".2f"),
        ("std", "± %", ".2f"),
        ("r2", "stage-1 R²", ".3f"),
        ("cpu_h", "CPU-h", ".2f"),
    ]
    print(table(flat, cols))
    tests = paired_tests(rows)
    for k, v in tests.items():
        print(f"{k}: {100 * v['mean_diff']:+.2f} points, t p {v['p_t'] or float('nan'):.4f}")
    write_results(
        args.out,
        {
            "benchmark": "every method at its defaults: `train --dataset D --protocol P [--method M] --out R`",
            "datasets": {k: v[0] for k, v in DATASETS.items()},
            "rows": rows,
            "paired_tests": tests,
            "machine": machine(),
            "reproduce": ".venv/bin/python benchmarks/defaults.py --datasets "
            + " ".join(rows)
            + " --methods "
            + " ".join(sorted({m for ms in rows.values() for m in ms})),
        },
    )


if __name__ == "__main__":
    main()
