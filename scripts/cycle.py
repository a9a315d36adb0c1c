"""One warm-restart cycle (SGDR) of a committed training chain: a run longer than a session, without ``~/runs``.

A chain is a committed checkpoint (``benchmarks/cycles/NAME/model.{json,safetensors}``, float16) and its history
(``benchmarks/results/cycles.json``). Each call runs one cycle: ``train`` with the chain's recipe from the committed
checkpoint, whole net kept (``--head-init keep``), one cosine schedule from a fresh learning rate, the epoch chosen
on the recipe's validation split (FER+: carved from FER+ train, the same faces every cycle, never trained on). The
checkpoint is replaced only when that validation improves; either way the cycle joins the history with its epochs,
CPU-hours, validation and the test split's accuracy (reported, never chosen on). A killed cycle resumes with the same
command; a lost machine loses at most the cycle under way.

    python scripts/cycle.py ferplus-res48 --seed-run ~/runs/ferplus/res48_tta_auto   # once: the chain's start
    python scripts/cycle.py ferplus-res48 --threads 2                              # each session: one cycle
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, os.path.join(ROOT, "benchmarks"), os.path.join(ROOT, "src")]

from bundle_model import save_half  # noqa: E402
from common import machine  # noqa: E402

from facenet2expnet.errors import FaceNet2ExpNetError  # noqa: E402
from facenet2expnet.files import atomic_write_json, read_csv_rows, read_json  # noqa: E402
from facenet2expnet.paths import code_version, portable  # noqa: E402

HISTORY = os.path.join(ROOT, "benchmarks", "results", "cycles.json")
CHAINS_DIR = os.path.join(ROOT, "benchmarks", "cycles")  # one committed checkpoint per chain
# chain -> the recipe of its next cycles (under benchmarks/recipes/, or a path); a lever chosen on the chain's
# validation may change it between cycles (each row of the history names its own), the carve never. ferplus-res48:
# res48_cycle for cycles 1-3, then the logit-adjusted loss at tau 0.25 (class_balance.json, docs/training.md)
CHAINS = {"ferplus-res48": "ferplus/res48_cycle_la025"}
# the fields that decide which faces validate: a seed run or a cycle that differs here could have trained on them
CARVE = ("dataset", "protocol", "seed", "val_fraction")


def chain_dir(name: str) -> str:
    return os.path.join(CHAINS_DIR, name)


def recipe_file(name: str) -> str:
    recipe = CHAINS[name]
    return recipe if recipe.endswith(".toml") else os.path.join(ROOT, "benchmarks", "recipes", recipe + ".toml")


def fold_record(run: str, cycle: int, threads: int) -> dict:
    """What a finished run's single fold says: validation, test, epochs and what it cost."""
    fold = read_json(os.path.join(run, "folds", "fold_00", "result.json"))
    report = read_json(os.path.join(run, "report.json"))
    seconds = report.get("seconds") or 0.0
    return {
        "cycle": cycle,
        "run": run,
        "val_acc": fold["best_val_acc"],
        "best_epoch": fold["best_epoch"],
        "epochs": fold["stage2_epochs"],
        "test_acc": fold["accuracy"],
        "n_val": fold["n_val"],
        "amp_bf16": fold.get("amp_bf16"),
        "seconds": round(seconds, 1),
        "cpu_hours": round(seconds * threads / 3600, 3),
        "start": fold.get("init_trunk"),
        "calibration": fold.get("calibration"),  # the temperature fitted on the carved validation, and the ECEs
        # validation accuracy after each epoch: a restart dips first, then recovers as the rate decays
        "val_curve": [
            round(float(r["val_acc"]), 4) for r in read_csv_rows(os.path.join(run, "metrics.csv")) if r["val_acc"]
        ],
    }


def same_carve(run: str, recipe_cfg: dict) -> None:
    cfg = read_json(os.path.join(run, "config.json"))
    differ = [k for k in CARVE if cfg.get(k) != recipe_cfg.get(k)]
    if differ:
        raise FaceNet2ExpNetError(
            f"{run} carved its validation differently ({', '.join(differ)}): its net may have trained on the "
            "chain's validation faces. Start the chain from a run of the same dataset, protocol, seed and val_fraction"
        )


def adopt(name: str, run: str, record: dict) -> None:
    """RUN's chosen checkpoint becomes the chain's: weights in float16, written beside and then moved in place."""
    src = os.path.join(run, "folds", "fold_00", "best")
    dst = os.path.join(chain_dir(name), "model")
    os.makedirs(chain_dir(name), exist_ok=True)
    save_half(src + ".safetensors", dst + ".safetensors")
    meta = json.loads(portable(json.dumps(read_json(src + ".json")), ROOT))  # no path of this machine in the file
    atomic_write_json(dst + ".json", {**meta, "weights_dtype": "float16", "cycle": record["cycle"]})


def cycle_epochs(history: list, base: int, recipe: str) -> int:
    """The next cycle's length: the recipe's epochs, doubled for each cycle of that recipe since the last one kept
    (SGDR's T_mult = 2, Loshchilov and Hutter). A cycle that did not improve restarts from the same checkpoint with
    the same seed, so at the same length it would repeat itself exactly; a longer one spends longer at small rates."""
    misses = 0
    for h in reversed(history):
        if h["replaced"] or h.get("recipe") != recipe:
            break
        misses += 1
    return base * 2**misses


def run_cycle(name: str, cycle: int, epochs: int, threads: int, out_root: str) -> str:
    """Train one cycle of ``epochs`` from the chain's checkpoint -> the run folder."""
    out = os.path.join(out_root, f"{name}-cycle{cycle:02d}")
    recipe = recipe_file(name)
    start = os.path.join(chain_dir(name), "model.json")
    cmd = [sys.executable, "-m", "facenet2expnet", "train", "--config", recipe, "--init-trunk", start]
    cmd += ["--head-init", "keep", "--stage2-epochs", str(epochs), "--out", out, "--threads", str(threads)]
    cmd += ["--no-refit", "--no-baselines"]
    print("$", " ".join(cmd), flush=True)
    env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "src")}
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)  # the same command resumes a killed cycle
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chain", choices=sorted(CHAINS))
    ap.add_argument("--seed-run", help="start the chain from this finished run (its validation carved the same way)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads of the cycle")
    ap.add_argument("--out", default=os.path.expanduser("~/runs/cycles"), help="where the cycles' runs go")
    args = ap.parse_args(argv)
    from facenet2expnet.train.config import field_defaults
    from facenet2expnet.train.recipes import read_recipe

    recipe = read_recipe(recipe_file(args.chain))[0]
    recipe_cfg = {**field_defaults(), **recipe}
    store = read_json(HISTORY) if os.path.exists(HISTORY) else {}
    history = store.get(args.chain, {}).get("cycles", [])
    if args.seed_run:
        if history:
            raise FaceNet2ExpNetError(f"chain {args.chain} already has {len(history)} cycle(s); drop --seed-run")
        run = os.path.abspath(args.seed_run)
        same_carve(run, recipe_cfg)
        report = read_json(os.path.join(run, "report.json"))
        record = {**fold_record(run, 0, 1), "replaced": True, "code": report["code"], "command": report["command"]}
    else:
        if not history:
            raise FaceNet2ExpNetError(f"chain {args.chain} has no checkpoint yet: start it with --seed-run RUN")
        t0, code = time.time(), code_version()  # the tree the cycle starts from (ROOT/src) is the code that ran
        epochs = cycle_epochs(history, recipe["stage2_epochs"], CHAINS[args.chain])
        run = run_cycle(args.chain, len(history), epochs, args.threads, args.out)
        same_carve(run, recipe_cfg)
        record = fold_record(run, len(history), args.threads)
        best = max(h["val_acc"] for h in history if h["replaced"])
        record.update(replaced=record["val_acc"] > best, code=code, wall_s=round(time.time() - t0, 1))
        record["recipe"] = CHAINS[args.chain]
        record["command"] = f"python scripts/cycle.py {args.chain} --threads {args.threads}"
    record["machine"] = machine()  # CPUs differ: each cycle names the one it ran on
    if record["replaced"]:
        adopt(args.chain, run, record)
    # paths as any checkout reads them: the start inside the repository, runs under the user's home as ~/
    start = record["start"]  # a checkpoint's path (the chain's), or a bundled model's name (a seed run's start)
    record.update(run=portable(run, ROOT), start=portable(start, ROOT) if start and os.path.isabs(start) else start)
    history.append(record)
    store[args.chain] = {
        "recipe": CHAINS[args.chain],
        "checkpoint": os.path.relpath(chain_dir(args.chain), ROOT),
        "cycles": history,
        "cpu_hours_total": round(
            sum(h["cpu_hours"] for h in history), 3
        ),  # what the chain has cost, kept cycles and not
    }
    store["machine"] = record["machine"]  # the latest cycle's; each row keeps its own
    atomic_write_json(HISTORY, store)
    print(f"{'cycle':>5} {'val':>7} {'test':>7} {'epoch':>7} {'CPU-h':>6}  kept")
    for h in history:
        print(
            f"{h['cycle']:>5} {h['val_acc']:7.2%} {h['test_acc']:7.2%} {h['best_epoch']:>3}/{h['epochs']:<3} "
            f"{h['cpu_hours']:6.3f}  {'yes' if h['replaced'] else 'no'}"
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FaceNet2ExpNetError as e:  # a clear line, not a traceback
        sys.exit(f"cycle: {e}")
