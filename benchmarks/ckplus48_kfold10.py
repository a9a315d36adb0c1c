"""CK+48, 7 classes, subject-independent 10-fold: fn2en against scratch, finetune and probe on the same folds.

    .venv/bin/python benchmarks/ckplus48_kfold10.py [--methods fn2en scratch probe finetune] [--runs runs/ckplus48]

Each method is a normal run dir (resumable: rerun the same command after a kill). The table
and benchmarks/results/ckplus48_kfold10.json are written from the runs' report.json files.
"""

import argparse
import os

from common import (
    ROOT,
    fer2013_model_record,
    fer2013_model_trunk,
    fer2013_stage1_record,
    fer2013_stage1_trunk,
    machine,
    merged_methods,
    now,
    run_method,
    table,
    write_results,
)

DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "ckplus48")

# The settings of record. Epoch counts are sized for 2 CPU cores (see docs/benchmarks.md).
METHODS = {
    "fn2en": dict(
        method="fn2en",
        stage1_epochs=20,
        stage1_optimizer="adam",
        lr_stage1=0.001,
        stage2_epochs=15,
        batch_size=16,
        lr_stage2=0.02,
    ),
    "scratch": dict(method="scratch", stage2_epochs=15, batch_size=16, lr_stage2=0.02),
    # fn2en whose stage 1 ran on FER2013's 28,709 training faces (no labels; no CK+ subject among them), then
    # stage 2 on each CK+ fold as above. The trunk is made once by common.fer2013_stage1_trunk.
    "fn2en_fer_stage1": dict(method="fn2en", stage1_epochs=0, stage2_epochs=15, batch_size=16, lr_stage2=0.02),
    # The same two recipes refined for 40 epochs instead of 15 (after 15 epochs the training accuracy was still
    # ~0.95 under augmentation and dropout, and validation accuracy was still rising), scoring each validation and
    # test face with its mirror too (--eval-flip).
    "fn2en_fer_stage1_40ep": dict(
        method="fn2en", stage1_epochs=0, stage2_epochs=40, batch_size=16, lr_stage2=0.02, eval_flip=True
    ),
    "scratch_40ep": dict(method="scratch", stage2_epochs=40, batch_size=16, lr_stage2=0.02, eval_flip=True),
    # Not the paper's method: the trunk of the FER2013 fn2en model, i.e. stage 1 on FER2013 faces and then refined
    # with FER2013's 7 expression labels, refined again on each CK+ fold as fn2en_fer_stage1 (new head: the class
    # sets differ). It asks how much a large labelled expression set adds to the face net's regularization.
    "fn2en_fer_refined": dict(method="fn2en", stage1_epochs=0, stage2_epochs=15, batch_size=16, lr_stage2=0.02),
    # Its control: the trunk of the FER2013 scratch model (FER2013 labels, no face net), refined the same way.
    "scratch_fer_refined": dict(method="scratch", stage2_epochs=15, batch_size=16, lr_stage2=0.02),
    # The same comparisons for the `fast` config (the bundled model's net, a quarter of compact's conv width):
    # stage 1 on FER2013 faces vs from scratch, and the FER2013 fast models' trunks (benchmarks/fer2013.py).
    "fn2en_fast_fer_stage1": dict(
        method="fn2en", config="fast", stage1_epochs=0, stage2_epochs=15, batch_size=16, lr_stage2=0.02
    ),
    "scratch_fast": dict(method="scratch", config="fast", stage2_epochs=15, batch_size=16, lr_stage2=0.02),
    "fn2en_fast_fer_refined": dict(
        method="fn2en", config="fast", stage1_epochs=0, stage2_epochs=15, batch_size=16, lr_stage2=0.02
    ),
    "scratch_fast_fer_refined": dict(method="scratch", config="fast", stage2_epochs=15, batch_size=16, lr_stage2=0.02),
    # From the bundled model's run (fast, 60 refining epochs on FER2013, head dropout 0.25); no scratch run of that recipe exists.
    "fn2en_fast_long_dropout25_fer_refined": dict(
        method="fn2en", config="fast", stage1_epochs=0, stage2_epochs=15, batch_size=16, lr_stage2=0.02
    ),
    "probe": dict(method="probe"),
    "finetune": dict(
        method="finetune", stage2_epochs=3, batch_size=16, lr_stage2=0.002
    ),  # 0.02 diverged (NaN) on fold 0
}


def trunk_source(name: str, config: str, threads: int | None):
    """Recipes that start from a trunk made by another run: (its path, the JSON key, the record of how it was made)."""
    if "_fer_stage1" in name:  # stage 1 alone on FER2013 faces, for this config (made here if missing)
        path = fer2013_stage1_trunk(threads, config=config)
        return path, "stage1", fer2013_stage1_record(config)
    if name.endswith(
        "_fer_refined"
    ):  # the FER2013 benchmark's model of the same recipe (fn2en_fast_fer_refined: fn2en_fast)
        fer_recipe = name.removesuffix("_fer_refined")
        return fer2013_model_trunk(fer_recipe), "trunk_from", fer2013_model_record(fer_recipe)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument(
        "--seed",
        type=int,
        default=0,
        help="another seed draws other folds and inits: a robustness check "
        "(runs in runs/ckplus48_seedN, JSON ckplus48_kfold10_seedN.json)",
    )
    ap.add_argument("--runs", help="default: runs/ckplus48 (seed 0), runs/ckplus48_seedN otherwise")
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--max-folds", type=int, help="run only the first N folds of a method (the JSON and report say so)")
    ap.add_argument(
        "--out",
        help="default: benchmarks/results/ckplus48_kfold10.json (seed 0), ckplus48_kfold10_seedN.json otherwise",
    )
    args = ap.parse_args()
    suffix = f"_seed{args.seed}" if args.seed else ""
    args.runs = args.runs or os.path.join(ROOT, "runs", "ckplus48" + suffix)
    args.out = args.out or os.path.join(ROOT, "benchmarks", "results", f"ckplus48_kfold10{suffix}.json")

    results = {}  # the methods run by this invocation; the JSON keeps the others
    for name in args.methods:
        kw = dict(
            dataset=f"ckplus48:{args.data}",
            protocol="subject-kfold",
            folds=10,
            seed=args.seed,
            cache_dir=os.path.join(ROOT, "cache", "teacher"),
            **METHODS[name],
        )
        source = trunk_source(name, kw.get("config", "compact"), args.threads)
        if source:
            kw["init_trunk"] = source[0]
        if args.max_folds:
            kw["max_folds"] = args.max_folds
        run_dir = os.path.join(args.runs, name)
        r = run_method(kw, run_dir, threads=args.threads)
        results[name] = {
            "accuracy_mean": r["accuracy_mean"],
            "accuracy_std": r["accuracy_std"],
            "fold_accuracies": [f["accuracy"] for f in r["folds"]],
            "per_class_recall": r["per_class_recall"],
            "confusion_matrix": r["confusion_matrix"],
            "seconds": r["seconds"],
            "seconds_per_epoch": r["seconds_per_epoch"],
            "teacher_cache_seconds": r["teacher_cache_seconds"],
            "command": r["command"],
            "run_dir": os.path.relpath(run_dir, ROOT),
            "folds_run": len(r["folds"]),
            "notes": r.get("notes", ""),
            "finished": now(),
        }
        if source:
            results[name][source[1]] = source[2]
    results = merged_methods(args.out, results)
    rows = [
        {
            "method": m,
            "mean": 100 * v["accuracy_mean"],
            "std": 100 * v["accuracy_std"],
            "min": 100 * min(v["fold_accuracies"]),
            "max": 100 * max(v["fold_accuracies"]),
            "s/epoch": (v["seconds_per_epoch"] or {}).get("stage2"),
        }
        for m, v in results.items()
    ]
    print(
        table(
            rows,
            [
                ("method", "method", "s"),
                ("mean", "acc mean %", ".2f"),
                ("std", "std", ".2f"),
                ("min", "worst fold", ".2f"),
                ("max", "best fold", ".2f"),
                ("s/epoch", "s/epoch (st.2)", ".1f"),
            ],
        )
    )
    write_results(
        args.out,
        {
            "benchmark": "CK+48, 7 classes, subject-independent 10-fold (validation carved from training subjects)",
            "seed": args.seed,
            "methods": results,
            "machine": machine(),
            "reproduce": ".venv/bin/python benchmarks/ckplus48_kfold10.py --methods "
            + " ".join(results)
            + (f" --seed {args.seed}" if args.seed else ""),
        },
    )


if __name__ == "__main__":
    main()
