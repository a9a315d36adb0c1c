"""FER2013: train on Training (validation carved from it), test once on PublicTest, one run per recipe.

    .venv/bin/python benchmarks/fer2013.py [--recipes fer2013/res48_fn2en fer2013/res48_scratch] [--runs ~/runs]

Recipes are files, benchmarks/recipes/fer2013/*.toml. A recipe that starts from another's trunk
(``trunk_from``, e.g. the stage-1 pre-training) runs that one first; each row of the JSON says which
recipe file and code commit produced it, with the command that reproduces it. Runs resume: rerun the
same command after a kill. An edited recipe is a new config, and its old run dir refuses to resume.

Rows from before 2026-11-29 (compact, fast, fast_long...) selected their epoch on PublicTest itself
(the folder release has no PrivateTest); since then validation is carved from Training.
"""

import argparse
import os

from common import ROOT, RUNS, machine, merged_methods, recipes_of, run_recipe, run_row, table, write_results


def row_of(r: dict) -> dict:
    """The JSON row of one finished recipe run."""
    return {"publictest_accuracy": r["accuracy_mean"], "best_epoch": r["best_epochs"][0], **run_row(r)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    trainable = [n for n in recipes_of("fer2013") if not n.split("/")[1].startswith("stage1_")]
    ap.add_argument("--recipes", nargs="+", default=trainable, choices=trainable)
    ap.add_argument(
        "--runs", default=RUNS, help="root of the run dirs (RUNS/<recipe>); keep long runs outside the work tree"
    )
    ap.add_argument("--threads", type=int)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "fer2013.json"))
    args = ap.parse_args()

    results = {}  # the recipes run by this invocation; the JSON keeps the others
    for name in args.recipes:
        results[name.split("/", 1)[1]] = row_of(run_recipe(name, os.path.expanduser(args.runs), args.threads))
    results = merged_methods(args.out, results)
    rows = [
        {"method": m, "acc": 100 * v["publictest_accuracy"], "epoch": v["best_epoch"], "s2": (v["seconds_per_epoch"] or {}).get("stage2"),
         "h": v["seconds"] / 3600}
        for m, v in results.items()
    ]  # fmt: skip
    cols = [("method", "recipe", "<s", 28), ("acc", "PublicTest %", ".2f"), ("epoch", "best epoch", "d"),
            ("s2", "s/epoch", ".0f"), ("h", "CPU hours", ".2f")]  # fmt: skip
    print(table(rows, cols))
    write_results(args.out, {
        "benchmark": "FER2013: train on Training (validation carved from it), test on PublicTest (3,589)",
        "methods": results, "machine": machine(),
        "reproduce": ".venv/bin/python benchmarks/fer2013.py --recipes " + " ".join(f"fer2013/{m}" for m in results),
    })  # fmt: skip


if __name__ == "__main__":
    main()
