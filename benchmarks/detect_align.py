"""Detection + alignment per backend: speed at 512x512 and 1920x1080, and recall on the labelled photos.

    .venv/bin/python benchmarks/detect_align.py [--repeats 5]

Speed: scikit-image's astronaut photo (512x512, one face) and the same photo placed on a 1920x1080
canvas. Recall: the photos of ../shared/data/faces whose face count is known (one face each, five in
multi_face.jpg, none in the landscape drawing); a detection counts when its box holds one of the
faces (boxes of different detectors differ in tightness, so counts are compared, per photo).
Prints tables and writes JSON.
"""

import argparse
import os
import time

import numpy as np
from common import ROOT, machine, parse_args, table, write_results


def main():
    import cv2
    from skimage import data as skdata

    from facenet2expnet.face import DETECTORS, create_detector, crop_faces

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "detect_align.json"))
    args = parse_args(ap)
    photo = skdata.astronaut()
    canvas = np.full((1080, 1920, 3), 120, np.uint8)
    big = cv2.resize(photo, (1024, 1024))
    canvas[28:1052, 448:1472] = big
    images = {"512x512": photo, "1920x1080": canvas}
    rows = []
    for name in sorted(DETECTORS):
        det = create_detector(name)
        for label, img in images.items():
            crop_faces(img, det, 150, 0.25)  # warm-up (loads models)
            det_t, full_t = [], []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                faces = det.detect(img)
                det_t.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                crops = crop_faces(img, det, 150, 0.25)
                full_t.append(time.perf_counter() - t0)
            rows.append(
                {
                    "backend": name,
                    "image": label,
                    "faces": len(faces),
                    "detect_ms": 1000 * float(np.median(det_t)),
                    "detect_align_ms": 1000 * float(np.median(full_t)),
                    "crops": len(crops),
                }
            )
    cols = [
        ("backend", "backend", "s"),
        ("image", "image", "s"),
        ("faces", "faces", "d"),
        ("detect_ms", "detect ms", ".1f"),
        ("detect_align_ms", "detect+align ms", ".1f"),
    ]
    print(table(rows, cols))
    recall = recall_rows(args.repeats)
    if recall:
        print(
            table(
                recall,
                [
                    ("backend", "backend", "s"),
                    ("found", "faces found", "d"),
                    ("expected", "faces there", "d"),
                    ("false_in_landscape", "in landscape", "d"),
                    ("ms_per_photo", "ms/photo", ".1f"),
                ],
            )
        )
    write_results(
        args.out,
        {
            "benchmark": "face detection and 5-point alignment (median of repeats); recall on the labelled photos",
            "rows": rows,
            "recall": recall,
            "machine": machine(),
            "reproduce": ".venv/bin/python benchmarks/detect_align.py",
        },
    )


# photo -> faces in it (../shared/data/faces/README.md)
EXPECTED = {
    "0-f1-su-ph.jpg": 1,
    "0-f15-hao-ph.jpg": 1,
    "15-f13-anc-ph.jpg": 1,
    "45-m7-di-ph.jpg": 1,
    "obama.jpg": 1,
    "obama2.jpg": 1,
    "obama3.jpg": 1,
    "biden.jpg": 1,
    "single_face.jpg": 1,
    "multi_face.jpg": 5,
    "BWPictureHuman.jpg": 1,
    "Image_with_alpha.png": 1,
    "32bit.png": 1,
    "free-mountain-vector-01.jpg": 0,
}


def recall_rows(repeats: int) -> list[dict]:
    """Faces found per backend over the labelled photos (capped at the count each photo has), and ms per photo."""
    from facenet2expnet.data.images import read_image
    from facenet2expnet.face import DETECTORS, create_detector

    folder = os.path.join(os.path.dirname(ROOT), "shared", "data", "faces")
    photos = {n: read_image(os.path.join(folder, n)) for n in EXPECTED if os.path.exists(os.path.join(folder, n))}
    if not photos:
        return []
    rows = []
    for name in sorted(DETECTORS):
        det = create_detector(name).ensure_loaded()
        found, times, per_photo = 0, [], {}
        for photo, img in photos.items():
            t = []
            for _ in range(max(1, repeats // 2)):
                t0 = time.perf_counter()
                n = len(det.detect(img))
                t.append(time.perf_counter() - t0)
            times.append(float(np.median(t)))
            per_photo[photo] = n
            found += min(n, EXPECTED[photo])
        rows.append(
            {
                "backend": name,
                "found": found,
                "expected": sum(EXPECTED[p] for p in photos),
                "false_in_landscape": per_photo.get("free-mountain-vector-01.jpg", 0),
                "ms_per_photo": 1000 * float(np.mean(times)),
                "per_photo": per_photo,
            }
        )
    return rows


if __name__ == "__main__":
    main()
