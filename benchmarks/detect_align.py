"""Detection + alignment speed per backend, at 512x512 and 1920x1080, on this machine.

    .venv/bin/python benchmarks/detect_align.py [--repeats 5]

Images: scikit-image's astronaut photo (512x512, one face) and the same photo placed on a
1920x1080 canvas. Prints a table (ms per image, faces found) and writes JSON.
"""

import argparse
import os
import time

import numpy as np
from common import ROOT, machine, table, write_results


def main():
    import cv2
    from skimage import data as skdata

    from facenet2expnet.face import DETECTORS, create_detector, crop_faces

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "detect_align.json"))
    args = ap.parse_args()
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
    print(
        table(
            rows,
            [
                ("backend", "backend", "s"),
                ("image", "image", "s"),
                ("faces", "faces", "d"),
                ("detect_ms", "detect ms", ".1f"),
                ("detect_align_ms", "detect+align ms", ".1f"),
            ],
        )
    )
    write_results(
        args.out,
        {
            "benchmark": "face detection and 5-point alignment (median of repeats)",
            "rows": rows,
            "machine": machine(),
            "reproduce": ".venv/bin/python benchmarks/detect_align.py",
        },
    )


if __name__ == "__main__":
    main()
