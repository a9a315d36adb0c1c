"""CK+48, subject-independent 10-fold (7 classes; recipes ck6_* use the paper's 6): fn2en against scratch,
finetune and probe on the same folds.

    .venv/bin/python benchmarks/ckplus48_kfold10.py [--recipes ckplus48/fn2en ckplus48/scratch] [--seed 1] [--runs
    ~/runs]

Recipes are files, benchmarks/recipes/ckplus48/*.toml; one whose ``trunk_from`` names another recipe
(a FER2013 stage-1 run or a FER2013 model) starts every fold from that run's product, made first if
missing. Each method is a normal run dir (resumable: rerun the same command after a kill). The table
and benchmarks/results/ckplus48_kfold10[_seedN].json are written from the runs' report.json files;
each row names its recipe file and code commit.
"""

import argparse
import os

from common import (
    ROOT,
    RUNS,
    comparisons,
    machine,
    merged_methods,
    parse_args,
    recipes_of,
    run_recipe,
    run_row,
    table,
    write_results,
)


def row_of(r: dict) -> dict:
    return {
        "accuracy_mean": r["accuracy_mean"],
        "accuracy_std": r["accuracy_std"],
        "fold_accuracies": [f["accuracy"] for f in r["folds"]],
        # the selected epoch's validation accuracy per fold: what choosing between recipes may look at
        "validation_accuracies": [f.get("val_accuracy") for f in r["folds"]],
        "folds_run": len(r["folds"]),
        **run_row(r),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    known = recipes_of("ckplus48")
    ap.add_argument("--recipes", nargs="+", default=known, choices=known)
    ap.add_argument(
        "--seed",
        type=int,
        default=0,
        help="another seed draws other folds and inits: a robustness check "
        "(run dirs RUNS/ckplus48/NAME_seedN, JSON ckplus48_kfold10_seedN.json)",
    )
    ap.add_argument("--runs", default=RUNS, help="root of the run dirs (RUNS/<recipe>)")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--max-folds", type=int, help="run only the first N folds of a method (the JSON and report say so)")
    ap.add_argument(
        "--no-run", action="store_true", help="run nothing: recompute the table and paired tests of the JSON's rows"
    )
    ap.add_argument(
        "--out",
        help="default: benchmarks/results/ckplus48_kfold10.json (seed 0), ckplus48_kfold10_seedN.json otherwise",
    )
    args = parse_args(ap)
    suffix = f"_seed{args.seed}" if args.seed else ""
    args.out = args.out or os.path.join(ROOT, "benchmarks", "results", f"ckplus48_kfold10{suffix}.json")
    overrides = {"seed": args.seed} if args.seed else {}
    if args.max_folds:
        overrides["max_folds"] = args.max_folds

    results = {}  # the recipes run by this invocation; the JSON keeps the others
    for name in [] if args.no_run else args.recipes:
        r = run_recipe(name, os.path.expanduser(args.runs), args.threads, overrides=overrides, tag=suffix)
        results[name.split("/", 1)[1]] = row_of(r)
    results = merged_methods(args.out, results)
    rows = [
        {
            "method": m,
            "mean": 100 * v["accuracy_mean"],
            "std": 100 * v["accuracy_std"],
            "min": 100 * min(v["fold_accuracies"]),
            "max": 100 * max(v["fold_accuracies"]),
            "r2": v.get("stage1_val_r2"),
            "s/epoch": (v["seconds_per_epoch"] or {}).get("stage2"),
        }
        for m, v in results.items()
    ]
    cols = [
        ("method", "recipe", "<s", 38),
        ("mean", "acc mean %", ".2f"),
        ("std", "std", ".2f"),
        ("min", "worst fold", ".2f"),
        ("max", "best fold", ".2f"),
        ("r2", "stage-1 R²", ".3f"),
        ("s/epoch", "s/epoch (st.2)", ".1f"),
    ]
    print(table(rows, cols))
    tests = comparisons(results, "ckplus48")
    for k, v in tests.items():
        print(
            f"{k}: {100 * v['mean_diff']:+.2f} points, better on {v['wins']}/{v['folds']} folds, paired t p = "
            f"{v['p_t']}, "
            f"Wilcoxon p = {v['p_wilcoxon']}"
        )
    write_results(
        args.out,
        {
            "benchmark": "CK+48, 7 classes, subject-independent 10-fold (validation carved from training subjects)",
            "seed": args.seed,
            "methods": results,
            "paired_tests": tests,
            "machine": machine(),
            "reproduce": ".venv/bin/python benchmarks/ckplus48_kfold10.py --recipes "
            + " ".join(f"ckplus48/{m}" for m in results)
            + (f" --seed {args.seed}" if args.seed else ""),
        },
    )


if __name__ == "__main__":
    main()
