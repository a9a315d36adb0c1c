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

    return {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
            "loadavg_1m_at_end": round(os.getloadavg()[0], 2)}


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
            if k == "augment" and not v:
                flags.append("--no-augment")
            elif v and k != "augment":
                flags.append(f"--{k.replace('_', '-')}")
            continue
        if v is not None:
            flags.append(f"--{k.replace('_', '-')} {v}")
    return portable(f"facenet2expnet train --dataset {cfg_kwargs['dataset']} {' '.join(flags)} --out {run_dir}")


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
        lines.append("  ".join(f"{format(r[k], f) if r.get(k) is not None else '':>{max(len(h), 10)}}" for k, h, f in cols))
    return "\n".join(lines)


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
