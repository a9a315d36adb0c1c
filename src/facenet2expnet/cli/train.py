"""`facenet2expnet train`: a training run from defaults, a --config file and flags (and --nproc N)."""

from __future__ import annotations

import sys

from ..errors import FaceNet2ExpNetError


def cmd_train(args) -> int:
    import os
    import shlex

    from ..files import read_json
    from ..train.recipes import config_from_args
    from ..train.runner import run_experiment

    saved = os.path.join(args.out, "config.json")
    if args.resume and not os.path.exists(saved):
        raise FaceNet2ExpNetError(
            f"--resume: {args.out} holds no run (no config.json); drop --resume to start one there"
        )
    # resuming: the run's own config is the base, so `--resume --out DIR` alone continues it as it was
    base = read_json(saved) if args.resume else None
    cfg = config_from_args(args, base=base)
    if args.nproc and args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _relaunch_under_torchrun(args.nproc)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    command = "facenet2expnet " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    report = run_experiment(cfg, args.out, resume=args.resume, progress=not args.no_progress, command=command)
    if report is not None and os.path.exists(os.path.join(args.out, "model.json")):
        from ..export.run import export_run_model

        export_run_model(args.out)  # the refit model for the light install: RUN/model.onnx
        print(
            f"use it: facenet2expnet predict --model {args.out} PHOTO   (or serve --model {args.out}; "
            f"ExpressionRecognizer.from_pretrained({args.out!r}))"
        )
    return 0


def _relaunch_under_torchrun(nproc: int) -> int:
    """`train --nproc N`: the same command, started N times by torch's own launcher (torch.distributed.run)."""
    import subprocess

    argv, skip = [], False
    for a in sys.argv[1:]:  # drop --nproc N (or --nproc=N): the launched processes must not relaunch
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            argv.append(a)
    from ..train.distributed import launch_command

    cmd = launch_command(nproc)
    print("launching: " + " ".join(cmd + argv), file=sys.stderr)
    return subprocess.call(cmd + argv)


def add_parser(sub) -> None:
    from ..train.recipes import add_config_flags

    p = sub.add_parser(
        "train",
        help="train and evaluate a method over the folds of a protocol",
        description="FaceNet2ExpNet training (fn2en) and its baselines (scratch, finetune, probe) in one harness. "
        "Every TrainConfig field has a flag; --config FILE sets any of them and flags override it.",
    )
    p.add_argument(
        "--config", metavar="FILE", help="a TOML or JSON file of config fields (e.g. benchmarks/recipes/NAME.toml)"
    )
    p.add_argument("--out", required=True, help="run dir")
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint (same config)"
    )
    p.add_argument("--threads", type=int, help="torch CPU threads (per process)")
    p.add_argument(
        "--runs",
        default="runs",
        help="where a --config recipe's trunk_from run and prepare cache are found (RUNS/<recipe>; default runs)",
    )
    p.add_argument(
        "--nproc",
        type=int,
        help="start N processes on this machine through torch's launcher (torchrun); "
        "see --parallel and docs/distributed.md",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars (the per-epoch lines stay)")
    add_config_flags(p)
    p.set_defaults(func=cmd_train)
