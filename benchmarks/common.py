"""Shared by the benchmark scripts: run (or resume) one method, collect its report, print a table, write JSON."""

from __future__ import annotations

import json
import os
import platform
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(ap):
    """``ap.parse_args()`` with ``--allow-dirty``: a benchmark refuses, before any work, to run from a tree with
    uncommitted changes (its ``code`` field would name no commit), unless that flag says so; the JSON records it."""
    from facenet2expnet.paths import code_version

    ap.add_argument(
        "--allow-dirty",
        action="store_true",
        help="run from a tree with uncommitted changes (recorded in the results as allow_dirty)",
    )
    args = ap.parse_args()
    CODE["version"], CODE["allow_dirty"] = code_version(), args.allow_dirty
    if CODE["version"].endswith("+dirty") and not args.allow_dirty:
        raise SystemExit(
            "the tree has uncommitted changes, so the results would name no commit: commit first, or "
            "pass --allow-dirty (it is recorded)"
        )
    return args


CODE = {"version": None, "allow_dirty": False}
# The README's former small-set shortcut: the bundled FER2013 fast model's trunk with a new head, refined (not the
# paper's method), with the head and the validation pick it ran with. A row of defaults.py and of small_sets.py.
SHORTCUT = {
    "method": "scratch",
    "arch": "fast",
    "dropout": 0.25,
    "init_trunk": "fer2013-fn2en-fast",
    "lr_stage2": 0.005,
    "head_init": "random",
    "select": "val",
}  # what made this invocation's results (set by parse_args)


def machine() -> dict:
    """The machine a timing or a run came from: CPUs differ (AVX-512, bf16 and VNNI change what is fast), so every
    results JSON names the CPU and the flags that matter beside its numbers."""
    import torch

    from facenet2expnet.devices import TIMING_CPU_FLAGS, cpu_info

    cpu = cpu_info()
    return {
        "cpu": cpu["model"] or platform.processor() or "unknown",
        "cpu_flags": [f for f in TIMING_CPU_FLAGS if f in cpu["flags"]],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
    }


def run_method(
    cfg_kwargs: dict, run_dir: str, threads: int | None = None, command: str | None = None, redo: bool = False
) -> dict:
    """Run one config through the same harness as `facenet2expnet train` (resuming a partial run; a run dir
    whose config differs is an error, never old numbers; ``redo``: its folder is removed first, as after a start's
    weights changed). The report gains ``start``: the start's name and weights' sha256 (start.json), if any."""
    import shutil

    import torch

    from facenet2expnet.train.config import TrainConfig, field_defaults
    from facenet2expnet.train.runner import run_experiment

    if threads:
        torch.set_num_threads(threads)
    # benchmarks measure the recipe over its folds; the model a user ships (--refit) would only add cost here
    cfg = TrainConfig.from_dict({**field_defaults(), "refit": False, "baselines": False, **cfg_kwargs})
    if redo and os.path.isdir(run_dir):
        shutil.rmtree(run_dir)
    resume = os.path.exists(os.path.join(run_dir, "config.json"))
    report = run_experiment(cfg, run_dir, resume=resume, progress=False, command=command)
    start = os.path.join(run_dir, "start.json")
    return {**report, "start": json.load(open(start)) if os.path.exists(start) else None}


# ---- recipes: benchmarks/recipes/<dataset>/<name>.toml, one file per recipe (TrainConfig fields + a [recipe] table)
RECIPES = os.path.join(ROOT, "benchmarks", "recipes")
RUNS = os.path.join(ROOT, "runs")  # default root of the benchmarks' run dirs: RUNS/<recipe name>


def recipe_file(name: str) -> str:
    from facenet2expnet.errors import FaceNet2ExpNetError
    from facenet2expnet.train.recipes import recipe_path

    try:
        return recipe_path(name, RECIPES)
    except FaceNet2ExpNetError as exc:
        raise SystemExit(str(exc)) from None


def recipes_of(dataset: str) -> list[str]:
    folder = os.path.join(RECIPES, dataset)
    return sorted(f"{dataset}/{f[:-5]}" for f in os.listdir(folder) if f.endswith(".toml"))


def load_recipe(name: str) -> tuple[dict, dict]:
    """(TrainConfig fields, the [recipe] table: description, trunk_from) of a recipe file (train/recipes.py)."""
    from facenet2expnet.train.recipes import read_recipe

    return read_recipe(recipe_file(name))


def recipe_product(name: str, runs: str, threads: int | None = None) -> str:
    """The checkpoint a recipe's run makes (trunk.json for stage 1 alone, else best.json), running it first if
    needed."""
    from facenet2expnet.train.recipes import product

    ckpt, done = product(name, RECIPES, runs)
    if not os.path.exists(done):
        run_recipe(name, runs, threads)
    return ckpt


def run_recipe(
    name: str, runs: str = RUNS, threads: int | None = None, overrides: dict | None = None, tag: str = ""
) -> dict:
    """Run (or resume, or re-read) a recipe into RUNS/<name><tag>; a trunk it starts from is made first.

    -> the run's report (or pretrain summary), plus ``recipe`` (the file), ``code`` (the commit) and, where
    the recipe starts from another's product, ``trunk_from`` with that run's record.
    """
    from facenet2expnet.train.recipes import resolve

    fields, meta = load_recipe(name)
    fields = {**fields, "cache_dir": os.path.join(runs, "cache", "teacher"), **(overrides or {})}
    flags = [f"--config {os.path.relpath(recipe_file(name), ROOT)}"]
    if meta.get("trunk_from"):
        recipe_product(meta["trunk_from"], runs, threads)  # made first where it is missing: it may take hours
    fields = resolve(recipe_file(name), fields, meta, runs)  # the same resolution as `train --config`
    if "prepare" in meta:
        flags.append(f"--dataset {fields['dataset']}")
    if meta.get("trunk_from"):
        flags.append(f"--init-trunk {fields['init_trunk']}")
    flags += [f"--{k.replace('_', '-')} {v}" for k, v in (overrides or {}).items()]
    run_dir = os.path.join(runs, name + tag)
    command = f"facenet2expnet train {' '.join(flags)} --out {run_dir}"
    r = run_method(fields, run_dir, threads=threads, command=command)
    r = {**r, "recipe": os.path.relpath(recipe_file(name), ROOT), "run_dir": run_dir}
    if meta.get("trunk_from"):
        r["trunk_from"] = run_record(meta["trunk_from"], runs)
    return r


def run_row(r: dict) -> dict:
    """The fields every benchmark JSON row of a finished recipe run has: what made it and what it cost."""
    row = {
        "recipe": r["recipe"],
        "code": r.get("code"),
        "config_key": r.get("config_key"),
        "per_class_recall": r["per_class_recall"],
        "confusion_matrix": r["confusion_matrix"],
        "seconds": r["seconds"],
        "seconds_per_epoch": r["seconds_per_epoch"],
        "teacher_cache_seconds": r["teacher_cache_seconds"],
        "command": portable(r["command"]),
        "run_dir": portable(r["run_dir"]),
        "notes": r.get("notes", ""),
        "finished": now(),
    }
    for k in ("stage1_val_r2", "stage1_val_cos", "stage1_train_r2", "stage1_train_cos", "trunk_from"):
        if k in r:
            row[k] = r[k]
    return row


def epoch_curve(run_dir: str, stage: str, columns: tuple[str, ...], fold: int = 0) -> dict:
    """Per epoch of one stage ("stage1" or "stage2") of one fold, from its metrics.csv: each of ``columns``
    as a list (None where the epoch did not measure it). Empty lists when the run kept no metrics."""
    from facenet2expnet.files import read_csv_rows

    path = os.path.join(os.path.expanduser(run_dir), "folds", f"fold_{fold:02d}", "metrics.csv")
    rows = [r for r in read_csv_rows(path) if r["stage"] == stage]
    num = lambda v: float(v) if v not in ("", None) else None  # noqa: E731
    return {c: [num(r.get(c)) for r in rows] for c in columns}


def refining_curve(run_dir: str, fold: int = 0) -> dict:
    """Validation and training accuracy per refining epoch: the accuracy-against-epochs curve (where it flattens)."""
    return epoch_curve(run_dir, "stage2", ("val_acc", "train_acc"), fold)


def official_split_benchmark(dataset: str, test_name: str, test_key: str, benchmark: str, doc: str) -> None:
    """The CLI of a benchmark on one official split (train, validation carved from it, test once): one run per
    recipe in benchmarks/recipes/<dataset>/ (those named stage1_* only make trunks), a table, the JSON.

    Each row has the test accuracy under ``test_key`` and the selected epoch's ``validation_accuracy``.
    """
    import argparse

    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    trainable = [n for n in recipes_of(dataset) if not n.split("/")[1].startswith("stage1_")]
    ap.add_argument("--recipes", nargs="+", default=trainable, choices=trainable)
    ap.add_argument(
        "--runs", default=RUNS, help="root of the run dirs (RUNS/<recipe>); keep long runs outside the work tree"
    )
    ap.add_argument("--threads", type=int)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", f"{dataset}.json"))
    args = parse_args(ap)

    results = {}  # the recipes run by this invocation; the JSON keeps the others
    for name in args.recipes:
        r = run_recipe(name, os.path.expanduser(args.runs), args.threads)
        val = r["folds"][0].get("val_accuracy")  # the selected epoch's: what choosing between recipes may use
        results[name.split("/", 1)[1]] = {
            test_key: r["accuracy_mean"],
            "validation_accuracy": val,
            "best_epoch": r["best_epochs"][0],
            **run_row(r),
            "refining_curve": refining_curve(r["run_dir"]),
            **({"subsets": r["folds"][0]["subsets"]} if r["folds"][0].get("subsets") else {}),
        }
    results = merged_methods(args.out, results)
    rows = [
        {
            "method": m,
            "acc": 100 * v[test_key],
            "epoch": v["best_epoch"],
            "s2": (v["seconds_per_epoch"] or {}).get("stage2"),
            "h": v["seconds"] / 3600,
        }
        for m, v in results.items()
    ]
    cols = [
        ("method", "recipe", "<s", 28),
        ("acc", f"{test_name} %", ".2f"),
        ("epoch", "best epoch", "d"),
        ("s2", "s/epoch", ".0f"),
        ("h", "CPU hours", ".2f"),
    ]
    print(table(rows, cols))
    kept = json.load(open(args.out)) if os.path.exists(args.out) else {}  # sections other scripts write (bundled)
    tests = test_set_comparisons(results, dataset, kept.get("paired_tests", {}))
    for name, c in tests.items():
        print(
            f"{name}: {100 * (c['acc_a'] - c['acc_b']):+.2f} points, right on {c['a_only']} images the control "
            f"missed and wrong on {c['b_only']} it got, exact McNemar p = {c['p_mcnemar']:.3g}"
        )
    write_results(
        args.out,
        {
            **kept,
            "benchmark": benchmark,
            "methods": results,
            "paired_tests": tests,
            "machine": machine(),
            "reproduce": f".venv/bin/python benchmarks/{dataset}.py --recipes "
            + " ".join(f"{dataset}/{m}" for m in results),
        },
    )


def recipe_control(name: str) -> str | None:
    """The control a recipe names in its [recipe] table (the same net and budget without what the recipe tests:
    the face net, or distillation), if any."""
    return load_recipe(name)[1].get("control") if os.path.exists(os.path.join(RECIPES, name + ".toml")) else None


def control_pairs(methods: dict, dataset: str):
    """(label "NAME vs CONTROL", row, control's row) for every recipe in ``methods`` whose control ran too."""
    for name, row in methods.items():
        control = recipe_control(f"{dataset}/{name}")
        short = control.split("/", 1)[1] if control else None
        if short in methods:
            yield f"{name} vs {short}", row, methods[short]


def comparisons(methods: dict, dataset: str) -> dict:
    """Every recipe that names a control, against it on the same folds: paired differences, t and Wilcoxon tests."""
    from facenet2expnet.eval.metrics import paired_comparison

    return {
        label: paired_comparison(row["fold_accuracies"], other["fold_accuracies"])
        for label, row, other in control_pairs(methods, dataset)
        if len(other["fold_accuracies"]) == len(row["fold_accuracies"]) >= 2
    }


def test_set_comparisons(methods: dict, dataset: str, previous: dict | None = None) -> dict:
    """Every recipe that names a control, against it on the one official test set: the exact McNemar test on the
    images each gets right (from the runs' predictions.csv). Where a run dir is gone (an old run, on another
    machine), the test already in the results JSON (``previous``) is kept, and said so."""
    import csv

    from facenet2expnet.eval.metrics import mcnemar

    def predictions(row: dict) -> str:
        return os.path.join(ROOT, os.path.expanduser(row["run_dir"]), "folds", "fold_00", "predictions.csv")

    def correct(row: dict) -> dict:
        with open(predictions(row), newline="") as f:
            return {r["index"]: r["true"] == r["pred"] for r in csv.DictReader(f)}

    out = {}
    for label, row, other in control_pairs(methods, dataset):
        if "run_dir" not in row or "run_dir" not in other:
            continue
        missing = [predictions(r) for r in (row, other) if not os.path.exists(predictions(r))]
        if missing:
            kept = (previous or {}).get(label)
            print(f"{label}: {', '.join(missing)} not found; " + ("the earlier test is kept" if kept else "no test"))
            if kept:
                out[label] = kept
            continue
        a, b = correct(row), correct(other)
        if set(a) != set(b):
            raise SystemExit(f"{label}: the two were tested on different images; rerun one of them")
        keys = sorted(a)
        out[label] = mcnemar([a[k] for k in keys], [b[k] for k in keys])
    return out


def run_record(name: str, runs: str = RUNS) -> dict:
    """How a finished recipe run was made, for the JSON of a benchmark that used its product."""
    from facenet2expnet.files import read_json

    run = os.path.join(runs, name)
    summary_path = os.path.join(run, "pretrain.json")
    r = read_json(summary_path if os.path.exists(summary_path) else os.path.join(run, "report.json"))
    rec = {
        "recipe": os.path.relpath(recipe_file(name), ROOT),
        "command": portable(r["command"]),
        "code": r.get("code"),
        "seconds": r["seconds"],
    }
    if r.get("pretrain_only"):
        fold = r["folds"][0]
        rec.update(
            train_mse=fold["stage1_train_mse"],
            val_mse=fold["stage1_val_mse"],
            val_r2=fold.get("stage1_val_r2"),
            n_train_faces=fold["n_train"],
        )
    else:
        rec["accuracy"] = r["accuracy_mean"]
    return rec


def portable(text: str) -> str:
    """Paths relative to the repository root (where the commands are run), not to this machine."""
    from facenet2expnet.paths import portable as _portable

    return _portable(text, ROOT)


def merged_methods(path: str, ran: dict) -> dict:
    """The methods already in the JSON at ``path`` (other invocations, maybe running in parallel), updated
    with the ones this invocation ``ran``; read at the end, so a method finished meanwhile is kept."""
    earlier = json.load(open(path)).get("methods", {}) if os.path.exists(path) else {}
    return {**earlier, **ran}


def write_results(path: str, payload: dict) -> None:
    from facenet2expnet.files import atomic_write_json
    from facenet2expnet.paths import code_version

    payload = {**payload, "code": CODE["version"] or code_version()}
    if "reproduce" in payload:  # relative to the repository, never this machine's home or run folders' full paths
        payload["reproduce"] = portable(payload["reproduce"])
    if CODE["allow_dirty"]:
        payload["allow_dirty"] = True
    atomic_write_json(path, payload)
    print(f"wrote {path}")


def table(rows: list[dict], cols: list[tuple[str, str, str]]) -> str:
    from facenet2expnet.formatting import format_table

    return format_table(rows, cols)


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
