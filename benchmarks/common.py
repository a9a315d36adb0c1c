"""Shared by the benchmark scripts: run (or resume) one method, collect its report, print a table, write JSON."""

from __future__ import annotations

import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))


def machine() -> dict:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
    }


def run_method(cfg_kwargs: dict, run_dir: str, threads: int | None = None) -> dict:
    """Run one method through the same harness as `facenet2expnet train` (resuming a partial run)."""
    import torch

    from facenet2expnet.train.config import TrainConfig
    from facenet2expnet.train.runner import run_experiment

    if threads:
        torch.set_num_threads(threads)
    cfg = TrainConfig(**cfg_kwargs)
    resume = os.path.exists(os.path.join(run_dir, "config.json"))
    return run_experiment(cfg, run_dir, resume=resume, progress=False, command=train_command(cfg_kwargs, run_dir))


FER2013_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "fer2013")
# Stage 1 alone on the 28,709 FER2013 Training faces (labels unused): the trunk that fn2en starts from on
# FER2013 and on CK+48, where a fold has only ~880 training faces to learn the regression from (docs/method.md).
FER2013_STAGE1 = dict(method="fn2en", stage1_epochs=8, stage2_epochs=0, stage1_optimizer="adam", lr_stage1=0.001)


def fer2013_stage1_run(config: str = "compact") -> str:
    """Run dir of the FER2013 stage-1 pre-training of an expression-net config (compact's predates the others)."""
    return os.path.join(ROOT, "runs", "fer2013_stage1" if config == "compact" else f"fer2013_stage1_{config}")


def fer2013_stage1_trunk(threads: int | None = None, data: str = FER2013_DATA, config: str = "compact") -> str:
    """Path of the FER2013 stage-1 trunk checkpoint; runs (or resumes) the pre-training first if it is not done."""
    run = fer2013_stage1_run(config)
    if not os.path.exists(os.path.join(run, "pretrain.json")):
        run_method(
            dict(
                dataset=f"fer2013:{data}",
                protocol="official",
                seed=0,
                check_images=False,
                config=config,
                cache_dir=os.path.join(ROOT, "cache", "teacher"),
                **FER2013_STAGE1,
            ),
            run,
            threads=threads,
        )
    return os.path.join(run, "folds", "fold_00", "trunk.json")


def fer2013_stage1_record(config: str = "compact") -> dict:
    """What the JSON of a benchmark that used the FER2013 stage-1 trunk says about it."""
    summary = json.load(open(os.path.join(fer2013_stage1_run(config), "pretrain.json")))
    fold = summary["folds"][0]
    return {
        "command": portable(summary["command"]),
        "epochs": summary["config"]["stage1_epochs"],
        "train_mse": fold["stage1_train_mse"],
        "publictest_mse": fold["stage1_val_mse"],
        "seconds": summary["seconds"],
        "seconds_per_epoch": summary["seconds_per_epoch"].get("stage1"),
        "n_train_faces": fold["n_train"],
    }


FER2013_RUNS = os.path.join(ROOT, "runs", "fer2013")  # benchmarks/fer2013.py's run dirs, one per method


def fer2013_model_trunk(recipe: str) -> str:
    """The trunk of the FER2013 benchmark's model of ``recipe`` (fn2en, scratch, fn2en_fast, ...), refined with FER2013's labels."""
    run = os.path.join(FER2013_RUNS, recipe)
    path = os.path.join(run, "folds", "fold_00", "best.json")
    if not os.path.exists(os.path.join(run, "report.json")):
        raise SystemExit(
            f"{portable(path)} is missing: run `.venv/bin/python benchmarks/fer2013.py --methods {recipe}` first "
            "(1-2 hours on 2 CPU cores)"
        )
    return path


def fer2013_model_record(recipe: str) -> dict:
    """What the JSON of a benchmark that started from a FER2013 benchmark model says about it."""
    report = json.load(open(os.path.join(FER2013_RUNS, recipe, "report.json")))
    rec = {"command": portable(report["command"]), "publictest_accuracy": report["accuracy_mean"]}
    if report["config"].get("init_trunk"):
        rec["stage1_command"] = fer2013_stage1_record(report["config"].get("config", "compact"))["command"]
    return rec


def portable(text: str) -> str:
    """Paths relative to the repository root (where the commands are run), not to this machine."""
    return str(text).replace(ROOT + os.sep, "").replace(os.path.dirname(ROOT) + os.sep, ".." + os.sep)


def train_command(cfg_kwargs: dict, run_dir: str) -> str:
    """The equivalent CLI command, for the record."""
    flags = []
    for k, v in cfg_kwargs.items():
        if k == "dataset":
            continue
        if isinstance(v, bool):
            if k in ("augment", "check_images") and not v:
                flags.append({"augment": "--no-augment", "check_images": "--no-check"}[k])
            elif v and k not in ("augment", "check_images"):
                flags.append(f"--{k.replace('_', '-')}")
            continue
        if v is not None:
            flags.append(f"--{k.replace('_', '-')} {v}")
    return portable(f"facenet2expnet train --dataset {cfg_kwargs['dataset']} {' '.join(flags)} --out {run_dir}")


def merged_methods(path: str, ran: dict) -> dict:
    """The methods already in the JSON at ``path`` (other invocations, maybe running in parallel), updated
    with the ones this invocation ``ran``; read at the end, so a method finished meanwhile is kept."""
    earlier = json.load(open(path)).get("methods", {}) if os.path.exists(path) else {}
    return {**earlier, **ran}


def write_results(path: str, payload: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(tmp, path)
    print(f"wrote {path}")


def table(rows: list[dict], cols: list[tuple[str, str, str]]) -> str:
    """cols: (key, header, format)."""
    head = "  ".join(f"{h:>{max(len(h), 10)}}" for _, h, _ in cols)
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            "  ".join(f"{format(r[k], f) if r.get(k) is not None else '':>{max(len(h), 10)}}" for k, h, f in cols)
        )
    return "\n".join(lines)


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
