"""What a run says: its first line (where the net starts), a line per fold, and at the end report.json,
report.md and metrics.csv from the folds' results, with the warnings a small validation split earns."""

from __future__ import annotations

import os

import numpy as np

from ..eval.report import build_report, write_report
from ..files import atomic_write_csv, atomic_write_json, read_csv_rows
from ..paths import code_version
from .config import TrainConfig
from .methods import METHODS


def finish_run(cfg, inp, results, out_dir, command, seconds, dist, log, finished: dict | None = None) -> dict:
    """Write the run's report. ``finished``: the record of a run that had ended before this invocation, which
    only re-read it: the code that trained it and the seconds it cost stay its own (a probe has no epoch rows)."""
    rows = _merge_metrics(out_dir, inp.folds)
    record = {
        "config": cfg.to_dict(),
        "config_key": cfg.key(),
        "code": finished.get("code") if finished else code_version(),
        "command": command,
        "teacher": inp.teacher_desc,
        "seconds": round(float(finished["seconds"]) if finished else seconds, 1),
        "teacher_cache_seconds": round(inp.cache_seconds, 1),
        "seconds_per_epoch": _epoch_seconds(rows),
        # what one optimizer step sees, over all ranks (data-parallel: each rank trains on a share of it)
        "world_size": dist.world,
        "parallel": cfg.parallel if dist.world > 1 else "none",
        "global_batch_size": cfg.batch_size,
        "learning_rates": {"stage1": cfg.lr_stage1, "stage2": cfg.lr_stage2},
    }
    if cfg.pretrain_only:
        # stage-1 pre-training only: the product is each fold's trunk checkpoint, there is nothing to test
        summary = {"pretrain_only": True, **record, "folds": results}
        atomic_write_json(os.path.join(out_dir, "pretrain.json"), summary)
        log(
            f"stage-1 pre-training done: trunk(s) in {out_dir}/folds/fold_XX/trunk.json; start fn2en from one with "
            f"--init-trunk"
        )
        return summary
    return write_run_report(cfg, inp, results, record, out_dir, log)


def start_line(cfg: TrainConfig) -> str:
    """Where the net starts and what trains, in one line, so that a run's first output says which path it took."""
    from ..models.pretrained import DEFAULT_STARTS, LABEL_FREE_TRUNKS

    m = METHODS[cfg.method]
    if not m.conv_tap:  # finetune and the probe: the face net itself
        how = "fine-tuned with a new head" if m.trains_net else "a linear classifier on its cached features"
        return f"{cfg.method}: the face net {cfg.teacher}, {how}"
    if cfg.trunk in LABEL_FREE_TRUNKS.values():
        start = (
            f"from the bundled label-free stage-1 trunk {cfg.trunk} (`--init-trunk none`: the paper's stage 1 on "
            "these faces instead)"
        )
    elif cfg.trunk in DEFAULT_STARTS.values():
        start = (
            f"from {cfg.trunk}, the start the small-set suite chose (FaceNet2ExpNet trained on FER+'s labels; "
            "`--init-trunk fn2en-res48-trunk`: the label-free trunk; `--init-trunk none`: the paper's stage 1 on "
            "these faces)"
        )
    elif cfg.trunk:
        start = f"from the trunk of {cfg.trunk}"
    else:
        start = "from random weights"
    stage1 = ", stage 1 on these faces first" if cfg.runs_stage1 and not cfg.pretrain_only else ""
    how = {
        "probe": ", its last layer fitted by logistic regression on these faces"
        + ("" if cfg.stage2_epochs == 0 else ", then the whole net refined"),
        "keep": ", its whole net, head included, refined further (a warm restart)",
    }.get(cfg.head_init, "")
    return f"{'stage 1 alone' if cfg.pretrain_only else cfg.method}: {cfg.arch} {start}{stage1}{how}"


def fold_summary(r: dict) -> str:
    """What a user needs to see of a fold: whether stage 1 fitted (R² > 0 beats predicting the mean map), which
    epoch validation chose and how it scored, and the test accuracy."""
    parts = []
    if r.get("stage1_val_r2") is not None:
        train = "" if r.get("stage1_train_r2") is None else f" ({r['stage1_train_r2']:.3f} train)"
        parts.append(f"stage 1 R² {r['stage1_val_r2']:.3f} held out{train}")
    if r.get("init_trunk"):
        parts.append(f"from trunk {r['init_trunk']}")
    if r.get("best_epoch") is not None and r.get("best_val_acc") is not None:
        parts.append(
            f"epoch {r['best_epoch']} of {r.get('stage2_epochs', '?')} chosen, validation {r['best_val_acc']:.4f}"
        )
    elif r.get("stage2_epochs") == 0:
        parts.append("a linear probe on the start's features (no refining)")
    elif r.get("best_epoch") is not None:
        parts.append(f"the last epoch's weights ({r['best_epoch']}; no epoch chosen on validation)")
    if "accuracy" in r:
        parts.append(f"test accuracy {r['accuracy']:.4f} (n={r['n_test']})")
    return "; ".join(parts)


def write_run_report(cfg: TrainConfig, inp, results: list[dict], record: dict, out_dir: str, log) -> dict:
    labels = inp.ds.labels
    y_true = np.concatenate([labels[np.array(r["test_index"], dtype=np.int64)] for r in results])
    y_pred = np.concatenate([np.array(r["test_pred"], dtype=np.int64) for r in results])
    notes = sorted({f.note for f in inp.folds if f.note})
    if len(inp.folds) < inp.all_folds:  # a cap at or above the fold count ran every fold: nothing to say
        notes.append(f"only the first {len(inp.folds)} of {inp.all_folds} folds were run (--max-folds)")
    extra = {
        **record,
        "notes": "; ".join(notes),
        **_mean_fidelity(results),
        "best_epochs": [r.get("best_epoch") for r in results],
    }
    dataset = cfg.dataset.split(":", 1)[0]
    report = build_report(cfg.method, dataset, inp.protocol, inp.ds.class_names, results, y_true, y_pred, extra)
    report["warnings"] = selection_warnings(results)
    report["skipped_images"] = [{"kind": p.kind, "source": p.path, "message": p.message} for p in inp.ds.problems]
    if cfg.baselines and inp.complete:
        from .baselines import run_baselines

        report["baselines"] = run_baselines(cfg, inp.ds, inp.folds, out_dir, log)
        for b in report["baselines"].values():
            if "accuracy_mean" in b:
                log(f"compared with {b['what']}: {100 * b['accuracy_mean']:.2f}% on the same folds")
    for w in report["warnings"]:
        log(f"warning: {w}")
    write_report(out_dir, report)
    log(
        f"{cfg.method}: {100 * report['accuracy_mean']:.2f}% ± {100 * report['accuracy_std']:.2f} over {len(results)} "
        f"fold(s) -> {out_dir}/report.md"
    )
    return report


def selection_warnings(results: list[dict]) -> list[str]:
    """What a small validation split did to the run, in words: an epoch chosen on under SMALL_VAL faces is nearly
    a coin toss (the recipe should keep its last weights: --select size or last), and a run that kept its last
    weights says so."""
    from .loop import SMALL_VAL

    small = [r for r in results if r.get("select") == "val" and 0 < r.get("n_val", 0) < SMALL_VAL]
    out = []
    if small:
        sizes = sorted({r["n_val"] for r in small})
        out.append(
            f"{len(small)} fold(s) chose their epoch on {sizes[0]}-{sizes[-1]} validation faces (under {SMALL_VAL}): "
            "that choice is nearly blind; --select size trains on those faces and keeps the last epoch's weights"
        )
    if any(r.get("select") == "last" and r.get("stage2_epochs") for r in results):  # a probe alone has no epochs
        out.append(
            f"validation splits under {SMALL_VAL} faces were too small to choose an epoch: their faces trained too, "
            "and each fold kept its last epoch's weights (the recipe's fixed step budget)"
        )
    return out


def _mean_fidelity(results: list[dict]) -> dict:
    """Stage-1 R² and cosine (validation and training faces), averaged over folds; none for runs without stage 1."""
    out = {}
    for k in ("stage1_val_r2", "stage1_val_cos", "stage1_train_r2", "stage1_train_cos"):
        vals = [r[k] for r in results if r.get(k) is not None]
        if vals:
            out[k] = float(np.mean(vals))
    return out


def read_metrics(out_dir: str, folds) -> list[dict]:
    """Every fold's metrics.csv rows (one per epoch and stage), in fold order; folds not started have none."""
    return [
        r
        for fold in folds
        for r in read_csv_rows(os.path.join(out_dir, "folds", f"fold_{fold.index:02d}", "metrics.csv"))
    ]


def _merge_metrics(out_dir: str, folds) -> list[dict]:
    rows = read_metrics(out_dir, folds)
    if rows:
        atomic_write_csv(os.path.join(out_dir, "metrics.csv"), rows, list(rows[0]))
    return rows


def _epoch_seconds(rows: list[dict]) -> dict:
    """Median seconds per epoch of each stage: a paused or interrupted epoch does not skew it."""
    out = {}
    for stage in ("stage1", "stage2"):
        secs = [float(r["seconds"]) for r in rows if r["stage"] == stage]
        if secs:
            out[stage] = round(float(np.median(secs)), 2)
    return out
