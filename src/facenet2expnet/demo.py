"""``make demo``: recognize expressions with the bundled model, offline.

With no input, it uses photos that ship inside an installed dependency (scikit-image's
``skimage.data.astronaut()``), prints a table, and writes an annotated PNG and a JSON next to
it in ``demo_out/``. With ``--input`` (``make demo INPUT=path``), it runs on a photo, folder or
video of the user's instead.
"""

from __future__ import annotations

import os
import sys

import cv2


def _table(records: list[dict], classes: list[str]) -> str:
    from .formatting import format_table

    rows = [
        {
            **r["probabilities"],
            "src": os.path.basename(str(r.get("source", "")))[:20] + (f"#{r['frame']}" if "frame" in r else ""),
            "face": r["face"],
            "label": r["label"],
        }
        for r in records
    ]
    cols = [("src", "source", "<s", 28), ("face", "face", "d", 4), ("label", "label", "<s", 9)]
    return format_table(rows, cols + [(c, c[:8], ".3f", 8) for c in classes])


def run_demo(data: str | None = None, input: str | None = None, out: str = "demo_out") -> int:
    from .files import atomic_write_bytes, atomic_write_json
    from .infer import ExpressionRecognizer
    from .infer.media import draw_faces
    from .infer.predict import run_predict, summary
    from .models.pretrained import DEFAULT_MODEL

    rec = ExpressionRecognizer.from_pretrained()
    os.makedirs(out, exist_ok=True)
    if input is not None:
        result = run_predict(rec, [input], annotate=out)
        print(_table(result["records"], rec.classes_))
        atomic_write_json(os.path.join(out, "predictions.json"), result)
        print(summary(result))
        print(f"wrote {os.path.join(out, 'predictions.json')}")
        return 0 if result["records"] else 1
    from skimage import data as skdata

    photos = {"astronaut": skdata.astronaut()}  # Eileen Collins, NASA (public domain), shipped with scikit-image
    records = []
    for name, rgb in photos.items():
        recs = rec.predict(rgb)
        for r in recs:
            r["source"] = f"skimage.data.{name}()"
        records += recs
        png = os.path.join(out, f"{name}_annotated.png")
        ok, buf = cv2.imencode(".png", cv2.cvtColor(draw_faces(rgb, recs), cv2.COLOR_RGB2BGR))
        atomic_write_bytes(png, buf.tobytes())
        print(f"wrote {png}")
    print(_table(records, rec.classes_))
    path = os.path.join(out, "predictions.json")
    atomic_write_json(path, {"model": rec.model or DEFAULT_MODEL, "classes": rec.classes_, "records": records})
    print(f"wrote {path}")
    if not records:
        print("no face found in the demo photos", file=sys.stderr)
        return 1
    return 0
