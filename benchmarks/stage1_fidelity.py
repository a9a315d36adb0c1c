"""Does stage 1 reproduce the teacher? Stage-1 fidelity (R² and cosine on held-out faces) across students and settings.

    .venv/bin/python benchmarks/stage1_fidelity.py [--rows NAME ...] [--runs ~/runs] [--threads 1]

Each row is stage 1 alone (``--stage2-epochs 0``, labels unused) on fold 0 of CK+48's subject folds,
from the recipe ``benchmarks/recipes/ckplus48/stage1.toml`` with the overrides the row names: the
student architecture, the teacher tap, target normalization, loss and epochs. R² is
1 - MSE / variance of the targets about their per-position mean over training faces (predicting the
mean map scores 0), measured on the fold's validation subjects and on training faces; cosine is the
mean per-face cosine similarity. Rows from FER2013 stage-1 runs (stage-1 data: FER2013's Training
faces) are read from their run dirs where they exist, each with its R² per epoch (``stage1_curve``).
Writes benchmarks/results/stage1_fidelity.json.

A second table (``by_scale``, no training) takes every finished stage-1 trunk, the FER2013 ones
included, to the same CK+48 fold-0 faces and measures R² after average-pooling both the student's
output and the teacher's tap to 8x8 (the tap itself), 4x4, 2x2 and 1x1: how much of what the
student misses is fine spatial detail, and whether a trunk fitted on FER2013 faces fits CK+ faces.
"""

import argparse
import json
import os

from common import (
    ROOT,
    RUNS,
    epoch_curve,
    machine,
    now,
    parse_args,
    portable,
    run_recipe,
    run_record,
    table,
    write_results,
)

# name -> overrides of the base recipe (its defaults: compact, level2, no target normalization, L2, 30 Adam epochs)
ROWS = {
    "compact_level2": {},
    "compact_level2_channel": {"target_norm": "channel"},
    "compact_level3_channel": {"layer": "level3", "target_norm": "channel"},
    "compact_level2_channel_cosine": {"target_norm": "channel", "stage1_loss": "cosine"},
    "fast_level2_channel": {"arch": "fast", "target_norm": "channel"},
    "res48_level2": {"arch": "res48"},
    "res48_level2_channel": {"arch": "res48", "target_norm": "channel"},
    "res48_level3_channel": {"arch": "res48", "layer": "level3", "target_norm": "channel"},
    "res48_level2_channel_60ep": {"arch": "res48", "target_norm": "channel", "stage1_epochs": 60},
}
BASE = "ckplus48/stage1"
FER = "FER2013 Training faces (validation: 10% of them)"
BOTH = "FER2013 Training faces, then each CK+48 fold's training subjects (mean over the folds)"
# runs read, never started from here (hours of CPU each: benchmarks/fer2013.py, ckplus48_kfold10.py) -> their stage-1
# data.
# A stage-1 run (pretrain.json) gives its fold 0's numbers; a 10-fold fn2en run (report.json) the mean over its folds.
READ_RUNS = {
    "fer2013/stage1_compact": FER,
    "fer2013/stage1_fast": FER,
    "fer2013/stage1_res48": FER,
    "fer2013/stage1_res48w": FER,
    "fer2013/stage1_res48_40ep": FER,
    "fer2013/stage1_res48_20ep": FER,
    "ckplus48/res48_fn2en_fer_ck_stage1": BOTH,
}


def row_of(r: dict, name: str, overrides: dict, data: str, stats: dict | None = None) -> dict:
    """One table row from a run record; ``stats``: where the stage-1 numbers are (default: the run's fold 0)."""
    fold = r["folds"][0] if stats is None else stats
    return {
        "stage1_data": data,
        "overrides": overrides,
        "arch": r["config"]["arch"],
        "tap": r["config"]["layer"] or "level2",
        "target_norm": r["config"]["target_norm"],
        "loss": r["config"]["stage1_loss"],
        "epochs": r["config"]["stage1_epochs"],
        "val_r2": fold.get("stage1_val_r2"),
        "val_cos": fold.get("stage1_val_cos"),
        "train_r2": fold.get("stage1_train_r2"),
        "train_cos": fold.get("stage1_train_cos"),
        "val_mse": fold.get("stage1_val_mse"),
        "n_train": fold.get("n_train"),
        "seconds": r["seconds"],
        "recipe": r.get("recipe"),
        "code": r.get("code"),
        "command": portable(r["command"]),
        "run_dir": portable(r["run_dir"]),
        "finished": now(),
    }


def by_scale(trunks: dict, runs: str) -> dict:
    """R² on CK+48 fold 0 (validation subjects and training faces) of each level-2 trunk, at 8x8, 4x4, 2x2, 1x1."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from common import load_recipe

    from facenet2expnet.data.preprocess import Preprocessing
    from facenet2expnet.eval.metrics import explained_variance
    from facenet2expnet.models.registry import load_checkpoint
    from facenet2expnet.train.config import TrainConfig, field_defaults
    from facenet2expnet.train.images import load_images
    from facenet2expnet.train.runner import load_inputs
    from facenet2expnet.train.stages import TeacherTargets

    fields = {**field_defaults(), **load_recipe(BASE)[0], "cache_dir": os.path.join(runs, "cache", "teacher")}
    inp = load_inputs(TrainConfig.from_dict(fields), progress=False, log=lambda m: None)
    fold = inp.folds[0]
    target = torch.from_numpy(np.asarray(inp.targets[:, 0], dtype=np.float32))  # N x C x 8 x 8, unmirrored faces
    # a trunk fitted to standardized targets answers in that space: back to the teacher's units, with the
    # statistics of this fold's training faces (those the CK+ trunks were fitted with)
    stats = {norm: TeacherTargets(inp.targets, fold.train, norm) for norm in ("none", "channel")}
    images = {}  # by preprocessing: the students share one (48 px grey)
    out = {}
    for name, path in trunks.items():
        model, meta = load_checkpoint(path)
        if tuple(model.target_shape) != tuple(target.shape[1:]):  # another tap (level3): not this table's targets
            continue
        pp = Preprocessing.from_dict(meta["preprocessing"])
        key = json.dumps(meta["preprocessing"], sort_keys=True)
        if key not in images:
            images[key] = load_images(inp.ds, pp, progress=False)
        x = images[key]
        with torch.no_grad():
            model.eval()
            pred = torch.cat(
                [model.forward_features(pp.normalize(x[i : i + 256].float())) for i in range(0, len(x), 256)]
            )
        pred = stats[meta["config"].get("target_norm", "none")].raw(pred)
        row = {"trunk": portable(path)}
        for k in (8, 4, 2, 1):
            p, t = F.adaptive_avg_pool2d(pred, k).numpy(), F.adaptive_avg_pool2d(target, k).numpy()
            mean = t[fold.train].mean(axis=0)  # the baseline: the training faces' mean map at this scale
            row[f"val_r2_{k}x{k}"] = explained_variance(p[fold.val], t[fold.val], mean)
            row[f"train_r2_{k}x{k}"] = explained_variance(p[fold.train], t[fold.train], mean)
        out[name] = row
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # `--rows` with no name runs no CK+48 row: it only reads the FER2013 stage-1 runs that exist
    ap.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--runs", default=RUNS)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "stage1_fidelity.json"))
    args = parse_args(ap)
    runs = os.path.expanduser(args.runs)
    results = {}
    for name in args.rows:
        r = run_recipe(BASE, runs, args.threads, overrides=ROWS[name], tag="_" + name)
        results[name] = row_of(r, name, ROWS[name], "CK+48 fold 0 training subjects")
    from facenet2expnet.files import read_json

    for name, data in READ_RUNS.items():
        run = os.path.join(runs, name)
        pretrain = os.path.join(run, "pretrain.json")
        summary = pretrain if os.path.exists(pretrain) else os.path.join(run, "report.json")
        if os.path.exists(summary):  # an fn2en run keeps no trunk file: it is not in by_scale
            r = {**read_json(summary), **run_record(name, runs), "run_dir": run}
            row = row_of(r, name, {}, data, stats=None if summary == pretrain else r)
            if summary == pretrain:  # one stage-1 run: its fidelity per epoch (the R²-against-compute curve)
                row["stage1_curve"] = epoch_curve(run, "stage1", ("val_r2", "train_r2"))
            results[name.replace("/", "_")] = row
    earlier = read_json(args.out) if os.path.exists(args.out) else {}
    results = {**earlier.get("rows", {}), **results}  # rows of runs that are gone (another machine, a session) kept
    trunks = {
        k: os.path.join(os.path.expanduser(v["run_dir"]), "folds", "fold_00", "trunk.json")
        for k, v in results.items()
        if "run_dir" in v
    }
    scales = {
        **earlier.get("by_scale", {}),
        **by_scale({k: p for k, p in trunks.items() if os.path.exists(p)}, runs),
    }  # gone runs kept
    rows = [{"row": k, **v} for k, v in results.items()]
    cols = [
        ("row", "row", "<s", 36),
        ("arch", "arch", "<s", 8),
        ("tap", "tap", "<s", 7),
        ("target_norm", "norm", "<s", 8),
        ("loss", "loss", "<s", 7),
        ("epochs", "epochs", "d", 6),
        ("train_r2", "train R²", ".3f", 9),
        ("val_r2", "val R²", ".3f", 8),
        ("val_cos", "val cos", ".3f", 8),
        ("seconds", "seconds", ".0f", 8),
    ]
    print(table(rows, cols))
    print("\nR² on CK+48 fold 0 after average-pooling output and tap (8x8 is the tap itself):")
    print(
        table(
            [{"row": k, **v} for k, v in scales.items()],
            [("row", "trunk", "<s", 36)]
            + [(f"{w}_r2_{k}x{k}", f"{w} {k}x{k}", ".3f", 10) for k in (8, 4, 2, 1) for w in ("val", "train")],
        )
    )
    write_results(
        args.out,
        {
            "by_scale": scales,
            "benchmark": (
                "stage-1 fidelity: R² and cosine of the student's tap against the teacher's, on held-out faces"
            ),
            "rows": results,
            "machine": machine(),
            "reproduce": ".venv/bin/python benchmarks/stage1_fidelity.py --rows "
            + " ".join(k for k in results if k in ROWS),
        },
    )


if __name__ == "__main__":
    main()
