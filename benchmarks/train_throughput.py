"""Time to accuracy: what a training step costs, and what a run costs to reach a fixed validation accuracy.

    .venv/bin/python benchmarks/train_throughput.py steps [--archs fast res48] [--batches 64 128 256] [--threads 2]
    .venv/bin/python benchmarks/train_throughput.py runs  [--target 0.80] [--threads 1] [--runs ~/runs]

``steps``: images per second of the whole refining step as `train` runs it (``train/loop.train_epoch``: indexing
the uint8 faces in memory, flips, rotation/shift/scale, random erasing, the forward and backward pass, the SGD
step), for each net, batch size and ``--amp`` mode, on synthetic faces (pixel values do not change the cost).
The configurations take their timed turns in rotation, ``--repeats`` times, and each row is the median turn, so a
busy machine slows every row alike; read the ratios.

``runs``: the same FER+ refining recipe in float32 and with ``--amp auto`` (res48 from the bundled label-free
trunk, validation carved from FER+ train), run (or resumed) side by side, one process each at ``--threads``; from
each run's metrics.csv, the epoch and the CPU-hours (wall seconds x threads) at which the carved validation first
reaches ``--target``, the best validation accuracy and FER+ valid at the selected epoch, and both curves.

Both modes print a table and merge their part into benchmarks/results/train_throughput.json, with the CPU and
its flags: bf16 autocast is about 1.8x faster on a CPU with avx512_bf16 and several times slower without it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from common import CODE, ROOT, machine, parse_args, portable, run_recipe, table, write_results

OUT = os.path.join(ROOT, "benchmarks", "results", "train_throughput.json")
# float32 (the loop's channels-last fp32 step) and bf16 autocast; `auto` picks one of them per machine
AMP_VARIANTS = ("off", "bf16")
# the time-to-accuracy pair: one recipe, float32 against the new default
TTA_RECIPES = ("ferplus/res48_tta_fp32", "ferplus/res48_tta_auto")


def step_rate(arch: str, batch: int, amp: str, steps: int, state: dict) -> float:
    """Images/s of ``steps`` refining steps of ``arch`` at ``batch`` under ``--amp amp`` (the loop's own step)."""
    import numpy as np
    import torch

    from facenet2expnet.data.protocols import Fold
    from facenet2expnet.train.config import TrainConfig
    from facenet2expnet.train.distributed import Dist, wrap
    from facenet2expnet.train.loop import build_model, train_epoch
    from facenet2expnet.train.stages import Refine

    key = (arch, batch, amp)
    if key not in state:  # built once, then trained on in turns (the optimizer state carries over, as in a run)
        n = 4096
        cfg = TrainConfig(
            dataset="synthetic:none",
            method="scratch",
            arch=arch,
            batch_size=batch,
            amp=amp,
            rotation_deg=15.0,  # the FER+ recipes' augmentation
            erasing=0.5,
        )
        images = torch.randint(0, 256, (n, 1, 48, 48), dtype=torch.uint8)  # N x 1 x 48 x 48, as faces sit in memory
        labels = np.random.default_rng(0).integers(0, 8, n)
        fold = Fold(0, np.arange(n), np.array([], dtype=np.int64), np.array([], dtype=np.int64))
        model, pp = build_model(cfg, 8, (128, 8, 8))
        model = model.to(memory_format=torch.channels_last)
        stage = Refine(cfg, fold, images, labels, pp, None, Dist())
        net = wrap(model, stage.dist, unused_head=False)  # what the loop steps: model + head, as run_stage wraps it
        state[key] = (cfg, stage, net, stage.optimizer(model), torch.Generator().manual_seed(0))
    cfg, stage, net, opt, gen = state[key]
    order = torch.randint(0, len(stage.fold.train), (steps * batch,), generator=gen)
    t0 = time.perf_counter()
    train_epoch(stage, net, opt, order, "throughput", gen, cfg, progress=False)
    return steps * batch / (time.perf_counter() - t0)


def steps_mode(args) -> dict:
    import torch

    from facenet2expnet.devices import resolve_amp

    torch.set_num_threads(args.threads)
    configs = [(a, b, m) for a in args.archs for b in args.batches for m in AMP_VARIANTS]
    state, turns = {}, {c: [] for c in configs}
    for c in configs:  # warm-up: oneDNN picks and caches its kernels on the first steps of each shape
        step_rate(*c, steps=2, state=state)
    for _ in range(args.repeats):
        for c in configs:
            turns[c].append(step_rate(*c, steps=args.steps, state=state))
    auto_bf16 = resolve_amp("auto", torch.device("cpu"))
    rows = []
    for a, b, m in configs:
        rate = statistics.median(turns[(a, b, m)])
        fp32 = statistics.median(turns[(a, b, "off")])
        rows.append(
            {
                "arch": a,
                "batch": b,
                "amp": m,
                "images_per_s": round(rate, 1),
                "vs_fp32": round(rate / fp32, 3),
                "turns": [round(t, 1) for t in turns[(a, b, m)]],
                "auto_picks": "yes" if (m == "bf16") == auto_bf16 else "",
            }
        )
    print(
        table(
            rows,
            [
                ("arch", "net", "s"),
                ("batch", "batch", "d"),
                ("amp", "--amp", "s"),
                ("images_per_s", "img/s", ".1f"),
                ("vs_fp32", "x fp32", ".2f"),
                ("auto_picks", "auto", "s"),
            ],
        )
    )
    return {
        "steps": {
            "what": "images/s of train/loop.train_epoch's refining step (data, augmentation, forward, backward, "
            "SGD), synthetic 48 px faces, median of the timed turns",
            "threads": args.threads,
            "steps_per_turn": args.steps,
            "repeats": args.repeats,
            "auto_is_bf16": auto_bf16,
            "rows": rows,
            "machine": machine(),
            "code": CODE["version"],
            "reproduce": "python benchmarks/train_throughput.py steps "
            f"--threads {args.threads} --steps {args.steps} --repeats {args.repeats}",
        }
    }


def curve(run_dir: str) -> list[dict]:
    """Per refining epoch of fold 0: its validation accuracy and its wall seconds (metrics.csv)."""
    from facenet2expnet.files import read_csv_rows

    rows = read_csv_rows(os.path.join(run_dir, "folds", "fold_00", "metrics.csv"))
    return [{"epoch": int(r["epoch"]), "val_acc": float(r["val_acc"]), "seconds": float(r["seconds"])} for r in rows]


def time_to(points: list[dict], target: float, threads: int) -> dict:
    """The first epoch whose validation accuracy reaches ``target``, and the CPU-hours spent up to it."""
    spent = 0.0
    for p in points:
        spent += p["seconds"]
        if p["val_acc"] >= target:
            return {"epoch": p["epoch"], "cpu_hours": round(spent * threads / 3600, 3)}
    return {"epoch": None, "cpu_hours": None}


def run_record_partial(name: str, runs: str) -> dict:
    """A run's record from its files, finished or not: its report where it has one, else its config and metrics."""
    import json

    run_dir = os.path.join(runs, name)
    report = os.path.join(run_dir, "report.json")
    if os.path.exists(report):
        return {**json.load(open(report)), "run_dir": run_dir}
    metrics = curve(run_dir)
    cfg = json.load(open(os.path.join(run_dir, "config.json")))
    best = max(metrics, key=lambda p: p["val_acc"]) if metrics else {}
    import torch

    from facenet2expnet.devices import resolve_amp

    return {
        "run_dir": run_dir,
        "folds": [
            {
                "amp_bf16": resolve_amp(cfg.get("amp", "off"), torch.device("cpu")),
                "best_val_acc": best.get("val_acc"),
                "best_epoch": best.get("epoch"),
            }
        ],
        "accuracy_mean": None,  # stopped before its test: FER+ valid was not scored
        "command": f"facenet2expnet train --config benchmarks/recipes/{name}.toml --out {run_dir}",
        "code": None,
        "stopped_at_epoch": len(metrics),
        "planned_epochs": cfg.get("stage2_epochs"),
    }


def runs_mode(args) -> dict:
    """The two runs side by side (one process each), then their time to ``--target``."""
    import multiprocessing as mp

    runs = os.path.expanduser(args.runs)
    if args.read_only:  # the runs as they stand (one may have been stopped once past the target): no training
        reports = [
            {**run_record_partial(name, runs), "recipe": f"benchmarks/recipes/{name}.toml"} for name in TTA_RECIPES
        ]
    else:
        with mp.get_context("spawn").Pool(len(TTA_RECIPES)) as pool:
            reports = pool.starmap(run_recipe, [(name, runs, args.threads) for name in TTA_RECIPES])
    rows = []
    for r in reports:
        points = curve(r["run_dir"])
        fold = r["folds"][0]
        rows.append(
            {
                "recipe": r["recipe"],
                "amp_bf16": "yes" if fold.get("amp_bf16") else "no",
                "target": args.target,
                **{f"to_target_{k}": v for k, v in time_to(points, args.target, args.threads).items()},
                "epochs": len(points),
                "cpu_hours_total": round(sum(p["seconds"] for p in points) * args.threads / 3600, 3),
                "seconds_per_epoch_median": statistics.median(p["seconds"] for p in points),
                "best_val_acc": fold.get("val_accuracy", fold.get("best_val_acc")),  # report.json names it so
                "best_epoch": fold.get("best_epoch"),
                "ferplus_valid_accuracy": r["accuracy_mean"],
                "curve": points,
                "command": portable(r["command"]),
                "code": r.get("code") or CODE["version"],
                **(
                    {"stopped_at_epoch": r["stopped_at_epoch"], "planned_epochs": r["planned_epochs"]}
                    if "stopped_at_epoch" in r
                    else {}
                ),
            }
        )
    base = rows[0]
    for row in rows:
        fast, slow = row["to_target_cpu_hours"], base["to_target_cpu_hours"]
        row["vs_fp32_cpu_hours"] = round(fast / slow, 3) if fast and slow else None
    print(
        table(
            rows,
            [
                ("recipe", "recipe", "s"),
                ("amp_bf16", "bf16", "s"),
                ("to_target_epoch", "epoch to target", ""),
                ("to_target_cpu_hours", "CPU-h to target", ""),
                ("vs_fp32_cpu_hours", "x fp32", ""),
                ("best_val_acc", "best val", ".4f"),
                ("ferplus_valid_accuracy", "FER+ valid", ""),
            ],
        )
    )
    return {
        "runs": {
            "what": f"CPU-hours (wall x threads) until validation carved from FER+ train first reaches {args.target}",
            "threads": args.threads,
            "side_by_side": True,
            **({"notes": args.note} if args.note else {}),
            "rows": rows,
            "machine": machine(),
            "code": CODE["version"],
            "reproduce": f"python benchmarks/train_throughput.py runs --target {args.target} --threads {args.threads}",
        }
    }


MODES = {"steps": steps_mode, "runs": runs_mode}


def main():
    import json

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=tuple(MODES))
    ap.add_argument("--archs", nargs="+", default=["fast", "res48"])
    ap.add_argument("--batches", nargs="+", type=int, default=[64, 128, 256])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=6, help="steps: timed steps per turn")
    ap.add_argument("--repeats", type=int, default=3, help="steps: timed turns per configuration")
    ap.add_argument("--target", type=float, default=0.80, help="runs: the validation accuracy to reach")
    ap.add_argument("--runs", default="~/runs", help="runs: root of the run dirs (resumed where they exist)")
    ap.add_argument(
        "--read-only", action="store_true", help="runs: read the run dirs as they stand (a run stopped past the target)"
    )
    ap.add_argument("--note", help="runs: how the runs went (recorded in the JSON)")
    ap.add_argument("--out", default=OUT)
    args = parse_args(ap)
    previous = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            previous = json.load(f)
    part = MODES[args.mode](args)
    machine_now = next(iter(part.values()))["machine"]  # each part keeps its own; the top names the latest
    write_results(args.out, {"benchmark": "training time to accuracy", **previous, **part, "machine": machine_now})


if __name__ == "__main__":
    main()
