"""``make demo``: the main job on an embedded default.

Until the bundled pretrained model exists (the "recognize" issue), the demo reports the
shared CK+48 data set and its subject-independent folds; it fails with a clear message when
that data is absent.
"""

from __future__ import annotations

import json
import os
import sys


def run_demo(data: str = "../shared/data", input: str | None = None, out: str = "demo_out") -> int:
    from .data.info import dataset_info, format_info
    from .data.loaders import load_dataset

    if input is not None:
        print("error: recognizing your own photos needs the bundled pretrained model, which is not built yet "
              "(see the 'recognize' issue); run `make demo` without INPUT for the dataset report.", file=sys.stderr)
        return 2
    root = os.path.join(data, "ckplus48")
    if not os.path.isdir(root):
        print(f"error: the demo needs the CK+48 crops at {root} (one folder per class); "
              f"pass DATA=/path/to/folder-holding-ckplus48 to `make demo`.", file=sys.stderr)
        return 2
    ds = load_dataset("ckplus48", root)
    info = dataset_info(ds, protocol="subject-kfold", folds=10)
    print(format_info(info))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "ckplus48_info.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f, indent=2)
    os.replace(tmp, path)
    print(f"wrote {path}")
    return 0
