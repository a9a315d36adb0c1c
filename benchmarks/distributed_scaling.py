"""1 process against 2 on this machine: one FER2013 epoch (data parallel) and the 10-fold CK+48 run (fold parallel).

    .venv/bin/python benchmarks/distributed_scaling.py [--runs ~/runs/scaling]

Each row is a real `facenet2expnet train` run (2 processes through torch.distributed.run, gloo on CPU),
with the same total number of CPU threads (1 process x 2 threads against 2 processes x 1 thread).
Rows: wall time of the whole command (data loading included) and, for the FER2013 epoch, the epoch's
own seconds and faces per second. Writes benchmarks/results/distributed_scaling.json.
"""

import argparse
import json
import os
import shutil
import subprocess
import time

from common import ROOT, machine, now, parse_args, portable, recipe_file, table, write_results

FER = ["--config", os.path.relpath(recipe_file("fer2013/scratch_fast"), ROOT), "--stage2-epochs", "1"]
CK = ["--config", os.path.relpath(recipe_file("ckplus48/scratch_fast"), ROOT)]
ROWS = {
    "fer2013_epoch_1proc": (FER, 1, 2, []),
    "fer2013_epoch_2proc_data": (FER, 2, 1, ["--parallel", "data"]),
    "ckplus48_10fold_1proc": (CK, 1, 2, []),
    "ckplus48_10fold_2proc_folds": (CK, 2, 1, ["--parallel", "folds"]),
}


def run(name: str, runs: str) -> dict:
    flags, nproc, threads, extra = ROWS[name]
    out = os.path.join(runs, name)
    shutil.rmtree(out, ignore_errors=True)
    from facenet2expnet.train.distributed import launch_command

    cmd = launch_command(nproc) + [
        "train",
        *flags,
        *extra,
        "--threads",
        str(threads),
        "--no-progress",
        "--out",
        out,
        "--cache-dir",
        os.path.join(runs, "cache"),
    ]
    t0 = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    wall = time.time() - t0
    report = json.load(open(os.path.join(out, "report.json")))
    row = {
        "processes": nproc,
        "threads_per_process": threads,
        "parallel": report["parallel"],
        "wall_s": round(wall, 1),
        "accuracy_mean": report["accuracy_mean"],
        "command": portable(" ".join(cmd[cmd.index("train") - 1 :])),
        "launcher": "torch.distributed.run" if nproc > 1 else "python",
        "finished": now(),
    }
    if name.startswith("fer2013"):
        epoch_s = report["seconds_per_epoch"]["stage2"]
        n_train = (
            report["folds"][0]["n_test"]
            and json.load(open(os.path.join(out, "folds", "fold_00", "result.json")))["n_train"]
        )
        row.update(epoch_s=epoch_s, faces_per_s=round(n_train / epoch_s, 1))
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--runs", default=os.path.join(ROOT, "runs", "scaling"))
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "distributed_scaling.json"))
    args = parse_args(ap)
    rows = {name: run(name, os.path.expanduser(args.runs)) for name in args.rows}
    print(
        table(
            [{"row": k, **v} for k, v in rows.items()],
            [
                ("row", "row", "<s", 30),
                ("processes", "procs", "d", 5),
                ("wall_s", "wall s", ".1f"),
                ("epoch_s", "epoch s", ".1f"),
                ("faces_per_s", "faces/s", ".1f"),
                ("accuracy_mean", "accuracy", ".4f"),
            ],
        )
    )
    write_results(
        args.out,
        {
            "benchmark": "1 vs 2 processes (torchrun, gloo, CPU), same total threads",
            "rows": rows,
            "machine": machine(),
            "reproduce": ".venv/bin/python benchmarks/distributed_scaling.py",
        },
    )


if __name__ == "__main__":
    main()
