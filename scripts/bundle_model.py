"""Copy a run's selected checkpoint into the package as a bundled model (safetensors + JSON).

    .venv/bin/python scripts/bundle_model.py runs/fer2013/fn2en_fast --name fer2013-fn2en-fast
    .venv/bin/python scripts/bundle_model.py ~/runs/fer2013/stage1_res48_20ep --trunk --name fn2en-res48-trunk
    .venv/bin/python scripts/bundle_model.py ~/runs/ferplus/res48_fn2en --fp16 --name ferplus-fn2en-accurate
    .venv/bin/python scripts/bundle_model.py --halve fer2013-fn2en-accurate      # a bundled model, in place
    .venv/bin/python scripts/bundle_model.py --chain ferplus-res48 --name ferplus-fn2en-accurate

``--trunk`` bundles a stage-1 run's trunk instead (its head was never trained, so it is left out, and the weights
are stored in float16): a starting point for ``train --init-trunk NAME``, never a recognizer. Its card gives the
data, epochs, CPU-hours and the held-out R² and cosine of its last epoch.

``--chain`` bundles a warm-restart chain's committed checkpoint (``scripts/cycle.py``): its card lists every cycle
(epochs, validation, test, kept or not, CPU-hours) and the commands that rebuild it from scratch.

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
    ap.add_argument("run_dir", nargs="?", help="the run to bundle (not with --halve)")
    ap.add_argument("--halve", metavar="NAME", help="store an already bundled model's weights in float16, in place")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--name")
    ap.add_argument(
        "--face-padding", type=float, help="alignment padding for photos (how loosely the training crops frame a face)"
    )
    ap.add_argument("--trunk", action="store_true", help="bundle a stage-1 run's trunk (for --init-trunk)")
    ap.add_argument("--chain", metavar="CHAIN", help="bundle a warm-restart chain's checkpoint (scripts/cycle.py)")
    ap.add_argument(
        "--fp16",
        action="store_true",
        help="store the weights in float16 (half the size; loaders upcast them): measure the accuracy after",
    )
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "src", "facenet2expnet", "pretrained"))
    args = ap.parse_args()
    if args.halve:
        return halve(os.path.join(args.out_dir, args.halve))
    if args.chain and args.name:
        return bundle_chain(args)
    if not (args.run_dir and args.name):
        ap.error("give RUN_DIR and --name (or --halve NAME, or --chain CHAIN --name NAME)")
    if args.trunk:
        return bundle_trunk(args)
    src = os.path.join(args.run_dir, "folds", f"fold_{args.fold:02d}", "best")
    dst = os.path.join(args.out_dir, args.name)
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
    fold = report["folds"][args.fold] if report.get("folds") else {}  # none in an unfinished run's stand-in report
    if fold.get("select") == "val" and fold.get("n_val"):  # chose on faces carved from the training split
        # calibration.py fits the card's temperature on those faces (a card without val_acc is not calibrated)
        meta["card"].update(val_acc=fold["val_accuracy"], n_val=fold["n_val"], seconds=report.get("seconds"))
    init_trunk = (meta.get("config") or {}).get("init_trunk")
    # stage 1 ran on its own: its command belongs on the card too (RUN/folds/fold_XX/trunk.json -> RUN/pretrain.json)
    if init_trunk:
        trunk = init_trunk if os.path.isabs(init_trunk) else os.path.join(ROOT, init_trunk)
        pretrain = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(trunk))), "pretrain.json")
        if os.path.exists(pretrain):
            meta["card"]["stage1_command"] = json.load(open(pretrain))["command"]
    meta = json.loads(portable(json.dumps(meta), ROOT))  # paths relative to the repository root, not this machine
    if args.fp16:
        meta["weights_dtype"] = "float16"
        save_half(src + ".safetensors", dst + ".safetensors")
    else:
        atomic_write_bytes(dst + ".safetensors", open(src + ".safetensors", "rb").read())
    atomic_write_json(dst + ".json", meta)
    size = os.path.getsize(dst + ".safetensors") / 2**20
    print(f"bundled {dst} ({size:.1f} MiB), accuracy {100 * report['accuracy_mean']:.2f}%")


def save_half(src: str, dst: str, drop_head: bool = False) -> None:
    """The float tensors of safetensors file ``src`` in float16, written atomically to ``dst`` (without the head's
    weights when ``drop_head``: a stage-1 trunk's head was never trained)."""
    from safetensors.torch import load_file, save_file

    weights = {
        k: v.half() if v.is_floating_point() else v
        for k, v in load_file(src).items()
        if not (drop_head and k.startswith("head."))
    }
    save_file(weights, dst + ".tmp")
    os.replace(dst + ".tmp", dst)


def halve(base: str) -> None:
    """BASE.safetensors in float16 (the loaders upcast it), and BASE.json saying so: half the package's bytes where
    the model's accuracy holds (measure it after: benchmarks/inference.py, benchmarks/ferplus.py --bundled)."""
    meta = json.load(open(base + ".json"))
    before = os.path.getsize(base + ".safetensors")
    save_half(base + ".safetensors", base + ".safetensors")
    atomic_write_json(base + ".json", {**meta, "weights_dtype": "float16"})
    print(f"{base}.safetensors: {before / 2**20:.1f} -> {os.path.getsize(base + '.safetensors') / 2**20:.1f} MiB")


def bundle_trunk(args) -> None:
    """RUN/folds/fold_XX/trunk -> OUT_DIR/NAME.{safetensors,json}: the trunk's weights in float16, a card from
    RUN/pretrain.json."""
    src = os.path.join(args.run_dir, "folds", f"fold_{args.fold:02d}", "trunk")
    summary = json.load(open(os.path.join(args.run_dir, "pretrain.json")))
    fold = summary["folds"][args.fold]
    meta = json.load(open(src + ".json"))
    cfg = meta["config"]
    meta.update(name=args.name, trunk_only=True)
    meta["card"] = {
        "kind": "stage1-trunk",
        "dataset": cfg["dataset"].split(":")[0],
        "data": f"{fold['n_train']} training faces and their mirrors, labels unused",
        "epochs": cfg["stage1_epochs"],
        "cpu_hours": round(summary["seconds"] / 3600, 2),
        "val_r2": fold.get("stage1_val_r2"),
        "val_cos": fold.get("stage1_val_cos"),
        "train_r2": fold.get("stage1_train_r2"),
        "teacher": (meta.get("teacher") or {}).get("name"),
        "tap": meta.get("tap"),
        "accuracy": None,
        "notes": "a stage-1 trunk (no trained head): start fn2en from it with --init-trunk",
        "command": summary.get("command"),
    }
    meta = json.loads(portable(json.dumps(meta), ROOT))
    dst = os.path.join(args.out_dir, args.name)
    os.makedirs(args.out_dir, exist_ok=True)
    save_half(src + ".safetensors", dst + ".safetensors", drop_head=True)
    atomic_write_json(dst + ".json", meta)
    size = os.path.getsize(dst + ".safetensors") / 2**20
    print(f"bundled {dst} ({size:.1f} MiB), held-out R² {meta['card']['val_r2']}")


def bundle_chain(args) -> None:
    """benchmarks/cycles/CHAIN/model -> OUT_DIR/NAME.{safetensors,json} (already float16), with a card from the
    chain's history (benchmarks/results/cycles.json): the seed run's command and its stage 1's, the cycles, and the
    kept cycle's validation (carved from the training faces: what chose it) and test accuracy (reported only)."""
    src = os.path.join(ROOT, "benchmarks", "cycles", args.chain, "model")
    chain = json.load(open(os.path.join(ROOT, "benchmarks", "results", "cycles.json")))[args.chain]
    meta = json.load(open(src + ".json"))
    cycles = chain["cycles"]
    kept = next(h for h in cycles if h["cycle"] == meta["cycle"])
    trunk = os.path.join(args.out_dir, cycles[0]["start"] + ".json")  # the seed run started from a bundled trunk
    trunk_card = json.load(open(trunk))["card"] if os.path.exists(trunk) else {}
    cfg = meta["config"]
    meta["name"] = args.name
    meta["card"] = {
        "kind": "warm-restart chain",
        "dataset": cfg["dataset"].split(":")[0],
        "protocol": cfg["protocol"],
        "accuracy": kept["test_acc"],
        "val_acc": kept["val_acc"],
        "notes": (
            f"a start and {len(cycles) - 1} cycles of scripts/cycle.py's chain {args.chain}: every epoch and kept "
            "cycle chosen "
            f"on the {kept['n_val']} validation faces carved from the training split (seed {cfg['seed']}); the "
            "test split is reported, never chosen on"
        ),
        "command": cycles[0]["command"],
        "stage1_command": trunk_card.get("command"),
        "cycle_command": cycles[-1]["command"],
        "cycles": [
            {k: h.get(k) for k in ("cycle", "recipe", "epochs", "best_epoch", "val_acc", "test_acc", "replaced")}
            | {"cpu_hours": h["cpu_hours"]}
            for h in cycles
        ],
        "cpu_hours": chain["cpu_hours_total"],  # the start's run and every cycle, kept or not
        "cpu_hours_stage1": trunk_card.get("cpu_hours"),  # the label-free trunk the start refined
        "selected_epoch": meta.get("epoch"),
    }
    dst = os.path.join(args.out_dir, args.name)
    atomic_write_bytes(dst + ".safetensors", open(src + ".safetensors", "rb").read())
    atomic_write_json(dst + ".json", meta)
    print(f"bundled {dst} from chain {args.chain} (cycle {meta['cycle']}), validation {kept['val_acc']:.2%}")


if __name__ == "__main__":
    main()
