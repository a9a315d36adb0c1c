"""FER2013: train on Training, select on PublicTest (the only test split in the shared folder release), report PublicTest.

    .venv/bin/python benchmarks/fer2013.py [--methods fn2en scratch] [--runs runs/fer2013]

fn2en's stage 1 runs once, on its own (runs/fer2013_stage1, see benchmarks/common.py), and is
recorded in the JSON with its own command.

Selecting and reporting on the same split is optimistic; the report and JSON say so. With the
original fer2013.csv (which has PrivateTest) the official protocol selects on PublicTest and
reports PrivateTest instead.
"""

import argparse
import os

from common import (
    FER2013_DATA,
    FER2013_RUNS,
    ROOT,
    fer2013_stage1_record,
    fer2013_stage1_trunk,
    machine,
    merged_methods,
    now,
    run_method,
    table,
    write_results,
)

# Sized for 2 CPU cores: one compact-net epoch over 28,709 faces takes ~4-5 minutes on one core here.
# fn2en = stage 1 (common.FER2013_STAGE1, run once by common.fer2013_stage1_trunk and shared with the CK+48 benchmark)
# + stage 2 from that trunk; scratch = the same stage 2 from random weights.
STAGE2 = dict(stage2_epochs=10, lr_stage2=0.02)
# The fast config (registry "fast", a quarter of compact's conv width, for the bundled model's speed):
# one training step costs ~40% of compact's on one core, so it gets 35 epochs in about the same time.
STAGE2_FAST = dict(config="fast", stage2_epochs=35, lr_stage2=0.02)
# fast after 35 epochs was still under-fitted (train acc 0.67 under augmentation and dropout, PublicTest still rising),
# so the bundled model's candidates refine for 60 epochs (~95 min on one core), with the head's dropout at 0.5 or 0.25.
STAGE2_FAST_LONG = dict(STAGE2_FAST, stage2_epochs=60)
METHODS = {
    "fn2en": dict(method="fn2en", stage1_epochs=0, **STAGE2),  # + init_trunk, filled in at run time
    "scratch": dict(method="scratch", **STAGE2),
    "fn2en_fast": dict(method="fn2en", stage1_epochs=0, **STAGE2_FAST),
    "scratch_fast": dict(method="scratch", **STAGE2_FAST),
    "fn2en_fast_long": dict(method="fn2en", stage1_epochs=0, **STAGE2_FAST_LONG),
    "fn2en_fast_long_dropout25": dict(method="fn2en", stage1_epochs=0, dropout=0.25, **STAGE2_FAST_LONG),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--runs", default=FER2013_RUNS)
    ap.add_argument("--data", default=FER2013_DATA)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "fer2013.json"))
    args = ap.parse_args()

    results = {}  # the methods run by this invocation; the JSON keeps the others
    for name in args.methods:
        # check_images=False: the 32,298 files are decoded when first used, not once more up front (same numbers)
        kw = dict(
            dataset=f"fer2013:{args.data}",
            protocol="official",
            seed=0,
            skip_bad=False,
            check_images=False,
            cache_dir=os.path.join(ROOT, "cache", "teacher"),
            **METHODS[name],
        )
        config = kw.get("config", "compact")
        if kw["method"] == "fn2en":
            kw["init_trunk"] = fer2013_stage1_trunk(args.threads, args.data, config)
        run_dir = os.path.join(args.runs, name)
        r = run_method(kw, run_dir, threads=args.threads)
        results[name] = {
            "publictest_accuracy": r["accuracy_mean"],
            "per_class_recall": r["per_class_recall"],
            "confusion_matrix": r["confusion_matrix"],
            "best_epoch": r["best_epochs"][0],
            "seconds": r["seconds"],
            "seconds_per_epoch": r["seconds_per_epoch"],
            "teacher_cache_seconds": r["teacher_cache_seconds"],
            "command": r["command"],
            "run_dir": os.path.relpath(run_dir, ROOT),
            "notes": r["notes"],
            "finished": now(),
        }
        if kw["method"] == "fn2en":
            results[name]["stage1"] = fer2013_stage1_record(config)
    results = merged_methods(args.out, results)
    rows = [
        {
            "method": m,
            "acc": 100 * v["publictest_accuracy"],
            "epoch": v["best_epoch"],
            "s1": (v["seconds_per_epoch"] or {}).get("stage1"),
            "s2": (v["seconds_per_epoch"] or {}).get("stage2"),
        }
        for m, v in results.items()
    ]
    print(
        table(
            rows,
            [
                ("method", "method", "s"),
                ("acc", "PublicTest %", ".2f"),
                ("epoch", "best epoch", "d"),
                ("s1", "s/epoch st.1", ".0f"),
                ("s2", "s/epoch st.2", ".0f"),
            ],
        )
    )
    write_results(
        args.out,
        {
            "benchmark": "FER2013: train on Training (28,709), select and report on PublicTest (3,589)",
            "caveat": "PublicTest is used both for epoch selection and for the reported accuracy (no PrivateTest in the shared data): optimistic",
            "methods": results,
            "machine": machine(),
            "reproduce": ".venv/bin/python benchmarks/fer2013.py --methods " + " ".join(results),
        },
    )


if __name__ == "__main__":
    main()
