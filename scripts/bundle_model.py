"""Copy a run's selected checkpoint into the package as a bundled model (safetensors + JSON).

    .venv/bin/python scripts/bundle_model.py runs/fer2013/fn2en_fast --name fer2013-fn2en-fast

The JSON keeps everything `load_checkpoint` needs (architecture, classes, preprocessing,
teacher and tap) plus a short card: data, protocol, accuracy and the command that made it.
"""

import argparse
import json
import os

from facenet2expnet.files import atomic_write_bytes, atomic_write_json
from facenet2expnet.paths import portable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--name", required=True)
    ap.add_argument(
        "--face-padding", type=float, help="alignment padding for photos (how loosely the training crops frame a face)"
    )
    args = ap.parse_args()
    src = os.path.join(args.run_dir, "folds", f"fold_{args.fold:02d}", "best")
    dst = os.path.join(ROOT, "src", "facenet2expnet", "pretrained", args.name)
    meta = json.load(open(src + ".json"))
    report_path = os.path.join(args.run_dir, "report.json")
    if os.path.exists(report_path):
        report = json.load(open(report_path))
    else:  # a run still in progress: the selected checkpoint so far, with its validation accuracy
        cfg = meta["config"]
        report = {
            "dataset": cfg["dataset"].split(":")[0],
            "protocol": cfg["protocol"],
            "accuracy_mean": meta["val_acc"],
            "notes": (
                f"run unfinished when bundled: best epoch so far ({meta['epoch']}); accuracy is its validation accuracy"
            ),
            "command": None,
        }
    if args.face_padding is not None:
        meta["preprocessing"]["face_padding"] = args.face_padding
    meta["name"] = args.name
    meta["card"] = {
        "dataset": report["dataset"],
        "protocol": report["protocol"],
        "accuracy": report["accuracy_mean"],
        "notes": report.get("notes"),
        "command": report.get("command"),
        "selected_epoch": meta.get("epoch"),
    }
    init_trunk = (meta.get("config") or {}).get("init_trunk")
    # stage 1 ran on its own: its command belongs on the card too (RUN/folds/fold_XX/trunk.json -> RUN/pretrain.json)
    if init_trunk:
        trunk = init_trunk if os.path.isabs(init_trunk) else os.path.join(ROOT, init_trunk)
        pretrain = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(trunk))), "pretrain.json")
        if os.path.exists(pretrain):
            meta["card"]["stage1_command"] = json.load(open(pretrain))["command"]
    meta = json.loads(portable(json.dumps(meta), ROOT))  # paths relative to the repository root, not this machine
    atomic_write_bytes(dst + ".safetensors", open(src + ".safetensors", "rb").read())
    atomic_write_json(dst + ".json", meta)
    size = os.path.getsize(dst + ".safetensors") / 2**20
    print(f"bundled {dst} ({size:.1f} MiB), accuracy {100 * report['accuracy_mean']:.2f}%")


if __name__ == "__main__":
    main()
