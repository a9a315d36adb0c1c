"""Teacher feature-extraction throughput: images/s at the teacher's input size, batch 64, on this machine.

    .venv/bin/python benchmarks/teacher_throughput.py [--repeats 5]

Measures the frozen dlib ResNet-29 port as `teacher extract` runs it (channels-last, no grad),
for the default stage-1 tap (level2) and the full net (embedding). Prints a table, writes JSON.
"""

import argparse
import os
import time

from common import ROOT, machine, parse_args, table, write_results


def main():
    import torch

    from facenet2expnet.teachers import create_teacher

    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "teacher_throughput.json"))
    args = parse_args(ap)
    rows = []
    for layer in ("level2", "embedding"):
        teacher = create_teacher("dlib-resnet29", layer=layer).to(memory_format=torch.channels_last)
        x = torch.randn(args.batch, 3, 150, 150).contiguous(memory_format=torch.channels_last)
        teacher(x)  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            teacher(x)
            times.append(time.perf_counter() - t0)
        best, median = min(times), sorted(times)[len(times) // 2]
        rows.append(
            {
                "teacher": "dlib-resnet29",
                "layer": layer,
                "batch": args.batch,
                "input": 150,
                "images_per_s_median": args.batch / median,
                "images_per_s_best": args.batch / best,
            }
        )
    cols = [
        ("layer", "layer", "s"),
        ("batch", "batch", "d"),
        ("images_per_s_median", "img/s median", ".1f"),
        ("images_per_s_best", "img/s best", ".1f"),
    ]
    print(table(rows, cols))
    write_results(
        args.out,
        {
            "benchmark": "teacher feature extraction, 150 px, batch 64",
            "target_images_per_s": 90,
            "rows": rows,
            "machine": machine(),
            "reproduce": ".venv/bin/python benchmarks/teacher_throughput.py",
        },
    )


if __name__ == "__main__":
    main()
