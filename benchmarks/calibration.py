"""Calibration of the bundled models: a temperature fitted on each model's validation faces, written into its card.

    .venv/bin/python benchmarks/calibration.py            # measure, print the table, write calibration.json
    .venv/bin/python benchmarks/calibration.py --write    # also store each temperature in its model's JSON

For each bundled recognizer (float and int8 files alike, each on its own logits) the faces its epoch was chosen on
(the validation split its config carves: for FER2013, a tenth of Training, seed 0) fit one temperature
(eval/calibration.py); the expected calibration error (ECE) is reported before and after on those faces and on the
test split (FER2013 PublicTest), which is never fitted on. The validation accuracy is recomputed beside the card's
as a check that today's carve holds the same faces (a model scored on its own training faces would be near 100%).
A model whose epoch was chosen on its reported split (the FER+ models before 2026-12-07: FER+ valid) has no face
left that no table reports, so it is not calibrated here, and says so; a FER+ model whose card gives its carved
validation (``val_acc``: a warm-restart chain's, or a run's
bundled by scripts/bundle_model.py after 2026-12-08) is calibrated on those faces.
Figures: docs/figures/calibration_<model>.png.
"""

import argparse
import os

import numpy as np
from common import ROOT, machine, parse_args, table, write_results

OUT = os.path.join(ROOT, "benchmarks", "results", "calibration.json")
FIGURES = os.path.join(ROOT, "docs", "figures")


def split_faces(cfg: dict):
    """The validation and test faces (uint8 arrays, labels) of a model's own protocol, as its config carved them."""
    from PIL import Image

    from facenet2expnet.data.datasets import load_dataset, parse_dataset_spec
    from facenet2expnet.data.protocols import make_folds

    kind, root = parse_dataset_spec(cfg["dataset"])
    ds = load_dataset(kind, os.path.join(ROOT, root), check_images=False)
    fold = make_folds(ds, cfg["protocol"], cfg.get("folds", 10), cfg["seed"], cfg["val_fraction"])[0]

    def faces(idx):
        return [np.asarray(Image.open(ds.samples[i].path).convert("L")) for i in idx], ds.labels[idx]

    return faces(fold.val), faces(fold.test)


def logits_of(rec, faces: list) -> np.ndarray:
    """N x classes logits as the recognizer scores faces (its preprocessing, the mirror where it uses one)."""
    from facenet2expnet.infer.backend import scores

    pp = rec.preprocessing_
    return np.concatenate([scores(rec.backend_, pp.batch_array(faces[i : i + 256])) for i in range(0, len(faces), 256)])


def reliability_figure(name: str, test_labels, test_logits, t: float) -> str:
    """docs/figures/calibration_<name>.png: accuracy against confidence per bin on the test faces, before and after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facenet2expnet.eval.calibration import reliability, softmax
    from facenet2expnet.files import save_figure

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="calibrated")
    for temp, label, style in ((1.0, "as trained", "o-"), (t, f"T = {t:.2f}", "s-")):
        bins = reliability(softmax(test_logits, temp), test_labels)
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], style, ms=4, label=label)
    ax.set(xlabel="confidence (max probability)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=name)
    ax.legend(loc="upper left", fontsize=8)
    path = os.path.join(FIGURES, f"calibration_{name}.png")
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return os.path.relpath(path, ROOT)


def macro_recall_of(labels: np.ndarray, logits: np.ndarray) -> float:
    """Macro recall of the logits' predictions (eval/metrics.macro_recall)."""
    from facenet2expnet.eval.metrics import confusion_matrix, macro_recall, per_class_recall

    return macro_recall(per_class_recall(confusion_matrix(labels, logits.argmax(1), logits.shape[1])))


def calibrate(name: str, write: bool) -> dict:
    from facenet2expnet.eval.calibration import calibration_summary, reliability, softmax
    from facenet2expnet.files import atomic_write_json, read_json
    from facenet2expnet.infer import ExpressionRecognizer
    from facenet2expnet.models.pretrained import bundled_model_path

    card_path = bundled_model_path(name) + ".json"
    float_card = read_json(bundled_model_path(name.removesuffix("-int8")) + ".json")  # an int8 card has no config
    cfg = float_card.get("config") or {}
    # before 2026-12-07 FER+ models chose their epoch on FER+ valid; later ones (a chain's, a run's) on carved faces
    if cfg.get("dataset", "").startswith("ferplus") and (float_card.get("card") or {}).get("val_acc") is None:
        return {
            "model": name,
            "skipped": "its epoch was chosen on FER+ valid, the split its card reports, and it "
            "trained on all of FER+ train: no face is left to fit a temperature on that no table reports",
        }
    (val_x, val_y), (test_x, test_y) = split_faces(cfg)
    rec = ExpressionRecognizer.from_pretrained(name, detect=False)
    val_logits, test_logits = logits_of(rec, val_x), logits_of(rec, test_x)
    summary = calibration_summary(val_logits, val_y, test_logits, test_y)
    t = summary["temperature"]
    row = {
        "model": name,
        **summary,
        "val_accuracy": float((val_logits.argmax(1) == val_y).mean()),
        "val_macro_recall": macro_recall_of(val_y, val_logits),
        "card_val_accuracy": float_card.get("val_acc"),
        "test_accuracy": float((test_logits.argmax(1) == test_y).mean()),
        "test_macro_recall": macro_recall_of(test_y, test_logits),
        "test_reliability": reliability(softmax(test_logits, t), test_y),
        "figure": reliability_figure(name, test_y, test_logits, t),
    }
    if write:
        meta = read_json(card_path)
        fitted = {k: row[k] for k in ("temperature", "fitted_on_faces", "val_ece", "val_ece_calibrated")}
        atomic_write_json(
            card_path, {**meta, "temperature": t, "calibration": {**fitted, "by": "benchmarks/calibration.py"}}
        )
    return row


def main():
    from facenet2expnet.models.pretrained import describe_bundled

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="store each fitted temperature in its bundled model's JSON")
    args = parse_args(ap)
    names = [r["name"] for r in describe_bundled() if "stage-1 trunk" not in r["runtime"]]
    rows = [calibrate(n, args.write) for n in names]
    done = [r for r in rows if "temperature" in r]
    print(
        table(
            done,
            [
                ("model", "model", "<s", 28),
                ("temperature", "T", ".3f"),
                ("val_ece", "val ECE", ".4f"),
                ("val_ece_calibrated", "after", ".4f"),
                ("test_ece", "test ECE", ".4f"),
                ("test_ece_calibrated", "after", ".4f"),
                ("test_accuracy", "test acc", ".4f"),
                ("val_macro_recall", "val macro", ".4f"),
            ],
        )
    )
    for r in rows:
        if "skipped" in r:
            print(f"{r['model']}: not calibrated: {r['skipped']}")
    write_results(
        OUT,
        {
            "benchmark": "calibration",
            "rows": rows,
            "machine": machine(),
            "reproduce": "python benchmarks/calibration.py" + (" --write" if args.write else ""),
        },
    )


if __name__ == "__main__":
    main()
