"""The development suite that chooses the small-set defaults of `train` (issue 35): many user-sized draws, every
method on each, the mean over draws and a paired test per pair of methods, the draws being the pairs.

    .venv/bin/python benchmarks/small_sets.py [--quick] [--methods fn2en probe ...] [--runs ~/runs]

**Draws** (``DRAWS``), each seeded and listed in the JSON so that a row can be rerun:

* ``ck``: N CK+48 subjects drawn with the seed, one class set (7 classes, 6 without contempt, or a 3-4 class
  subset), subject k-fold (5 folds; leave one subject out for 12 or fewer);
* ``sfew``: SFEW 2.0 *Train* faces (aligned by `prepare`), whole movies drawn until the draw holds N faces; it is
  scored on the Train faces of the other movies, never on Val (which the results tables report).

No FER2013 or FER+ face is in any draw: every bundled start (`fn2en-res48-trunk`, the FER2013 and FER+ models) was
trained on FER2013's training faces, and a draw of those faces would flatter them. What each start saw is in the
JSON (``starts``).

**Methods** (``METHODS``): TrainConfig overrides run through the same harness as `facenet2expnet train`: the linear
probes on a start's features (``lp_*``: ``--head-init probe`` with no refining), LP-FT (``lpft_*``), the shortcut, the
face-net probe, and fn2en and scratch at the defaults before this suite. Every choice of a default reads this suite
only; CK+48's 10-fold table, SFEW Val and FER+ valid stay reports.

Each (draw, method) cell is written to the JSON as soon as it is done, and a rerun skips the cells the JSON
holds for the same code and settings, so the suite continues from what is committed when a machine is lost.
``--quick`` runs the first 4 draws. Writes benchmarks/results/small_sets.json.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import random
import time

import numpy as np
from common import CODE, ROOT, SHORTCUT, machine, parse_args, portable, table, write_results

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
OUT = os.path.join(ROOT, "benchmarks", "results", "small_sets.json")
FOLDS = 5  # subject folds per draw (leave one subject out at 12 subjects or fewer: protocol auto)
CK4 = "anger,happy,sadness,surprise"
CK3 = "happy,sadness,surprise"
# (source, seed, size, classes): size is subjects for ck, faces for sfew. The first four are the quick subset.
DRAWS = [
    ("ck", 0, 20, "ck7"),
    ("sfew", 0, 300, "basic7"),
    ("ck", 1, 15, CK4),
    ("ck", 2, 30, "ck6"),
    ("ck", 3, 40, "ck7"),
    ("ck", 4, 25, CK3),
    ("sfew", 1, 500, "basic7"),
    ("ck", 5, 35, "ck6"),
    ("ck", 6, 18, "ck7"),
    ("sfew", 2, 200, "basic7"),
    ("ck", 7, 22, CK4),
    ("sfew", 3, 800, "basic7"),
]
QUICK = 4
# the method row that is `train`'s default (a test checks it against TrainConfig and against the JSON's winner)
TRAIN_DEFAULT = "lp_ferplus_accurate"
# LP-FT from a bundled expression model: its head kept but the last layer, fitted by logistic regression, then the
# whole net refined at a low uniform rate for the default step budget, keeping the last weights (no blind epoch pick)
LPFT = {"head_init": "probe", "select": "size", "lr_stage2": 0.002, "refine_trunk_lr_scale": 1.0, "dropout": 0.25}
# a linear probe on a start's penultimate features, nothing refined: train's --head-init probe with no refining epochs
LP = {"method": "fn2en", "head_init": "probe", "stage2_epochs": 0, "select": "size"}
METHODS = {
    "lp_ferplus_accurate": {**LP, "arch": "res48", "init_trunk": "ferplus-fn2en-accurate"},
    "lp_fer2013_fast": {**LP, "arch": "fast", "init_trunk": "fer2013-fn2en-fast"},
    "probe": {"method": "probe"},
    "shortcut": SHORTCUT,
    "lpft_fer2013_fast": {"method": "fn2en", "arch": "fast", "init_trunk": "fer2013-fn2en-fast", **LPFT},
    "lpft_ferplus_accurate": {"method": "fn2en", "arch": "res48", "init_trunk": "ferplus-fn2en-accurate", **LPFT},
    # fn2en at the defaults before this suite (issue 28): res48 from the label-free trunk, epoch chosen on validation
    "fn2en_label_free": {"method": "fn2en", "init_trunk": "fn2en-res48-trunk", "select": "val", "head_init": "random"},
    "scratch": {"method": "scratch", "select": "val"},
}
# what taught each start (for "a draw may not judge a start trained on its faces")
STARTS = {
    "fn2en-res48-trunk": "FER2013 Training faces (stage 1 on the face net's features, no labels)",
    "fer2013-fn2en-fast": "FER2013 Training faces and labels",
    "ferplus-fn2en-accurate": "FER2013 Training faces with FER+ labels (FER+ train)",
    "face net (dlib ResNet-29)": "dlib's face-recognition training set (identities, no expressions)",
}


def ck_draw(seed: int, n_subjects: int, classes: str, runs: str, shared: str) -> str:
    """RUNS/small_sets/ck_SEED_N: links to the CK+48 images of N subjects drawn with ``seed``; -> a dataset spec."""
    src = os.path.join(shared, "ckplus48")
    out = os.path.join(runs, "small_sets", f"ck_{seed}_{n_subjects}")
    files = [(c, f) for c in sorted(os.listdir(src)) for f in sorted(os.listdir(os.path.join(src, c)))]
    subjects = sorted({f.split("_")[0] for _, f in files})
    chosen = set(random.Random(seed).sample(subjects, n_subjects))
    for c, f in files:
        if f.split("_")[0] in chosen and not os.path.lexists(os.path.join(out, c, f)):
            os.makedirs(os.path.join(out, c), exist_ok=True)
            os.symlink(os.path.realpath(os.path.join(src, c, f)), os.path.join(out, c, f))
    return f"ckplus48:{out}"


def sfew_draw(seed: int, n_faces: int, classes: str, runs: str, shared: str) -> str:
    """A CSV of SFEW Train chips: whole movies drawn until N faces are in (split train), the other movies' Train
    faces as the test split. -> a dataset spec."""
    from facenet2expnet.data.datasets import load_dataset
    from facenet2expnet.train.recipes import prepared_dataset

    prepared = prepared_dataset(f"sfew:{os.path.join(shared, 'sfew')}", {"no_face": "whole"}, runs)
    ds = load_dataset("prepared", prepared, check_images=False)
    train = [s for s in ds.samples if s.split == "train"]
    movies = sorted({s.subject for s in train})
    random.Random(seed).shuffle(movies)
    chosen, n = set(), 0
    for m in movies:
        if n >= n_faces:
            break
        chosen.add(m)
        n += sum(s.subject == m for s in train)
    path = os.path.join(runs, "small_sets", f"sfew_{seed}_{n_faces}.csv")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "subject", "split"])
        for s in train:
            w.writerow([s.path, ds.class_names[s.label], s.subject, "train" if s.subject in chosen else "test"])
    os.replace(path + ".tmp", path)
    return f"csv:{path}"


SOURCES = {"ck": ck_draw, "sfew": sfew_draw}


def draw_id(draw: tuple) -> str:
    """A draw's name in the JSON: source, seed, size and classes."""
    return "_".join(map(str, draw))


@functools.cache
def draw_spec(draw: tuple, runs: str, shared: str) -> str:
    """The dataset spec of ``draw``, its folder or CSV made once per invocation (every method reads the same)."""
    source, seed, size, classes = draw
    return SOURCES[source](seed, size, classes, runs, shared)


def train_cell(fields: dict, spec: str, classes: str, run_dir: str, threads: int | None, redo: bool = False) -> dict:
    from common import run_method

    cfg = {"dataset": spec, "folds": FOLDS, **({"classes": classes} if not spec.startswith("csv:") else {}), **fields}
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in cfg.items() if k != "cache_dir")
    r = run_method(cfg, run_dir, threads=threads, command=f"facenet2expnet train {flags} --out {run_dir}", redo=redo)
    return {
        "fold_accuracies": [f["accuracy"] for f in r["folds"]],
        "accuracy_mean": r["accuracy_mean"],
        "protocol": r["protocol"],
        "command": portable(r["command"]),
        "start": r["start"],  # the start's name and the sha256 of its weights: a bundled name's weights may change
    }


def run_cell(draw: tuple, method: str, runs: str, shared: str, threads: int | None, redo: bool = False) -> dict:
    source, seed, size, classes = draw
    spec = draw_spec(draw, runs, shared)
    fields = {**METHODS[method], "cache_dir": os.path.join(runs, "cache", "teacher")}
    t0 = time.time()
    run_dir = os.path.join(runs, "small_sets", "runs", f"{source}_{seed}_{size}", method)
    cell = train_cell(fields, spec, classes, run_dir, threads, redo)
    cell["seconds"] = round(time.time() - t0, 1)
    cell["threads"] = threads or 2  # what the cell's wall seconds cost in CPU-seconds
    return cell


def summarize(draws: list[dict], methods: list[str]) -> tuple[dict, dict]:
    """Each method's mean and std over the draws that hold it, and a paired test per pair of methods over the draws
    that hold both (the draws are the pairs)."""
    from facenet2expnet.eval.metrics import paired_comparison

    def accs(m, among):
        return [d["methods"][m]["accuracy_mean"] for d in among]

    summary = {}
    for m in methods:
        v = accs(m, [d for d in draws if m in d["methods"]])
        if v:
            summary[m] = {
                "mean": float(np.mean(v)),
                "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                "draws": len(v),
            }
    paired = {}
    for i, a in enumerate(methods):
        for b in methods[i + 1 :]:
            both = [d for d in draws if a in d["methods"] and b in d["methods"]]
            if len(both) >= 2:
                paired[f"{a} vs {b}"] = paired_comparison(accs(a, both), accs(b, both))
    return summary, paired


def winner(summary: dict, methods: list[str]) -> str:
    """The method `train` should default to: the best mean over the suite's draws (every row is a `train` recipe)."""
    ranked = [m for m in methods if m in summary]
    return max(ranked, key=lambda m: summary[m]["mean"]) if ranked else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"the first {QUICK} draws only")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--runs", default="~/runs", help="root of the run dirs and draw folders")
    ap.add_argument("--shared", default=SHARED, help="the data folder holding ckplus48/ and sfew/")
    ap.add_argument("--threads", type=int)
    ap.add_argument(
        "--redo",
        nargs="+",
        default=[],
        choices=list(METHODS),
        metavar="METHOD",
        help="train these methods' cells again from nothing (after their start's weights changed)",
    )
    ap.add_argument("--out", default=OUT)
    args = parse_args(ap)
    runs = os.path.expanduser(args.runs)
    previous = json.load(open(args.out)) if os.path.exists(args.out) else {}
    done = {d["id"]: d for d in previous.get("draws", [])}
    chosen = DRAWS[:QUICK] if args.quick else DRAWS
    rows = {}
    for m in args.methods:  # method by method: the cheap rows of every draw land first
        for draw in chosen:
            source, seed, size, classes = draw
            key = draw_id(draw)
            row = rows.setdefault(
                key,
                done.get(key)
                or {"id": key, "source": source, "seed": seed, "size": size, "classes": classes, "methods": {}},
            )
            redo = m in args.redo and row["methods"].get(m, {}).get("code") != CODE["version"]
            if m in row["methods"] and not redo:
                continue  # a cell from an earlier invocation (its code is in the cell)
            print(f"{key}: {m}", flush=True)
            cell = run_cell(draw, m, runs, args.shared, args.threads, redo)
            row["methods"][m] = {**cell, "code": CODE["version"]}
            write_results(args.out, payload(list(rows.values()), done, args))  # each cell lands at once
    result = payload(list(rows.values()), done, args)
    write_results(args.out, result)
    rows = [{"method": m, **s} for m, s in result["summary"].items()]
    print(
        table(
            rows,
            [("method", "method", "<s", 24), ("mean", "mean", ".4f"), ("std", "std", ".4f"), ("draws", "draws", "d")],
        )
    )
    print(f"winner among the trained methods: {result['winner']}")


def payload(draws: list[dict], done: dict, args) -> dict:
    merged = {**done, **{d["id"]: d for d in draws}}
    all_draws = [merged[draw_id(d)] for d in DRAWS if draw_id(d) in merged]
    methods = [m for m in METHODS if any(m in d["methods"] for d in all_draws)]
    summary, paired = summarize(all_draws, methods)
    # cells from before 2026-12-07 18:40 ran on one thread and did not record it
    cpu_s = sum(c["seconds"] * c.get("threads", 1) for d in all_draws for c in d["methods"].values())
    if TRAIN_DEFAULT in summary:  # "fn2en": what `train --method fn2en` does at its defaults, whichever row that is
        summary["fn2en"] = {**summary[TRAIN_DEFAULT], "row": TRAIN_DEFAULT}
    return {
        "benchmark": "small-set development suite: the draws that choose train's defaults (issue 35)",
        "draws": all_draws,
        "summary": summary,
        "train_default": TRAIN_DEFAULT,
        "paired_tests": paired,
        "winner": winner(summary, methods) if summary else None,
        "methods": METHODS,
        "starts": STARTS,
        "folds_per_draw": FOLDS,
        "cpu_hours": round(cpu_s / 3600, 2),
        "machine": machine(),
        "reproduce": "python benchmarks/small_sets.py" + (" --quick" if args.quick else ""),
    }


if __name__ == "__main__":
    main()
