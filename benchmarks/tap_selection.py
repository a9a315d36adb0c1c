"""Which teacher tap carries expression information? A linear probe per dlib ResNet-29 tap on CK+48.

    .venv/bin/python benchmarks/tap_selection.py [--layers level3 level2 level1 pooled embedding]

Same harness as `facenet2expnet train --method probe`: subject-independent 10-fold, features
standardized with training statistics, logistic-regression C chosen on the validation subjects.

**The tap is chosen on validation** (issue 39): by the mean, over the folds, of the probe's accuracy on each
fold's validation subjects (carved from its training side), never on the test folds, whose accuracy is reported
beside it. ``chosen`` names the winner; ``tests/test_teachers.py`` checks that it is the teacher's default tap.
"""

import argparse
import json
import os

from common import ROOT, machine, now, parse_args, run_method, table, write_results

DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "ckplus48")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", nargs="+", default=["level3", "level2", "level1", "pooled", "embedding"])
    ap.add_argument("--runs", default=os.path.join(ROOT, "runs", "tap_selection"))
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "tap_selection.json"))
    args = parse_args(ap)
    results = json.load(open(args.out)).get("layers", {}) if os.path.exists(args.out) else {}
    for layer in args.layers:
        kw = dict(
            dataset=f"ckplus48:{args.data}",
            method="probe",
            layer=layer,
            folds=10,
            seed=0,
            cache_dir=os.path.join(ROOT, "cache", "teacher"),
        )
        r = run_method(kw, os.path.join(args.runs, layer), threads=args.threads)
        results[layer] = {
            "tap_shape": r["teacher"]["tap_shape"],
            # what chooses: the selected C's accuracy on each fold's validation subjects
            "validation_accuracy_mean": sum(f["val_accuracy"] for f in r["folds"]) / len(r["folds"]),
            "validation_accuracies": [f["val_accuracy"] for f in r["folds"]],
            "accuracy_mean": r["accuracy_mean"],
            "accuracy_std": r["accuracy_std"],
            "fold_accuracies": [f["accuracy"] for f in r["folds"]],
            "command": r["command"],
            "code": r.get("code"),
            "finished": now(),
        }
    # merge with what other invocations wrote meanwhile (methods may run in parallel processes)
    if os.path.exists(args.out):
        results = {**json.load(open(args.out)).get("layers", {}), **results}
    rows = [
        {
            "layer": k,
            "shape": "x".join(map(str, v["tap_shape"])),
            "val": 100 * v.get("validation_accuracy_mean", float("nan")),
            "mean": 100 * v["accuracy_mean"],
            "std": 100 * v["accuracy_std"],
        }
        for k, v in results.items()
    ]
    print(
        table(
            rows,
            [
                ("layer", "tap", "s"),
                ("shape", "shape", "s"),
                ("val", "validation %", ".2f"),
                ("mean", "test folds %", ".2f"),
                ("std", "std", ".2f"),
            ],
        )
    )
    write_results(
        args.out,
        {
            "benchmark": "linear probe per dlib ResNet-29 tap, CK+48 7 classes, subject-independent 10-fold",
            "layers": results,
            "chosen_on": "the mean over folds of the probe's accuracy on each fold's validation subjects (carved "
            "from its training side); the test folds' accuracy is reported, never read by the choice",
            "chosen": max(
                (k for k, v in results.items() if "validation_accuracy_mean" in v),
                key=lambda k: results[k]["validation_accuracy_mean"],
                default=None,
            ),
            "machine": machine(),
            "reproduce": ".venv/bin/python benchmarks/tap_selection.py --layers " + " ".join(results),
        },
    )


if __name__ == "__main__":
    main()
