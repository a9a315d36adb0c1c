"""``facenet2expnet prepare``: detect and align every image of a dataset once, into a reusable cache.

``OUT/<settings-hash>/`` holds ``settings.json``, ``crops/NNNNNNN.png``, ``progress.jsonl`` (one
line per finished image, appended as workers finish, so a killed run resumes) and, at the end,
``manifest.csv`` (source path, label, subject, sequence, frame, split, box, landmarks, score,
status, crop). Load the result as a dataset with ``prepared:OUT``.

Statuses: ``ok`` (largest face aligned), ``no_face``, ``failed`` (unreadable file: the reason
is kept), ``precropped`` (the dataset is already cropped: resized, no detection) and
``whole_image`` (no face found, and ``no_face="whole"`` kept the image's centre square: for
datasets of faces that someone else already aligned, such as SFEW 2.0, where a benchmark must
score every test image).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter

import cv2
import numpy as np

from ..data.datasets import load_dataset
from ..data.prepared import MANIFEST_FIELDS
from ..files import atomic_write_bytes, atomic_write_csv, atomic_write_json, stable_hash

PRECROPPED_KINDS = ("ckplus48", "fer2013", "tfd")

_worker = {}


def _init_worker(detector_name: str, threads: int) -> None:
    from .detect import create_detector

    cv2.setNumThreads(threads)
    _worker["detector"] = create_detector(detector_name)


def _process(job):
    from ..data.images import ImageReadError, read_image
    from ..data.preprocess import center_square, fit
    from . import face_chips

    index, source, array, out_path, size, padding, channels, detect, no_face = job
    row = {"index": index, "status": "ok", "reason": "", "box": "", "landmarks": "", "score": "", "crop": ""}
    try:
        rgb = read_image(source if array is None else array, "RGB")
    except (ImageReadError, ValueError) as exc:
        return {**row, "status": "failed", "reason": str(exc)}
    if detect:
        faces = face_chips(rgb, _worker["detector"], size, padding, channels)
        if faces:
            face, lm, chip = faces[0]  # the largest
            row.update(
                box=json.dumps(face.to_dict()["box"]),
                landmarks=json.dumps(np.round(lm, 2).tolist()),
                score=round(face.score, 4),
                reason=f"{len(faces)} faces, kept the largest" if len(faces) > 1 else "",
            )
        elif no_face == "whole":
            chip = fit(center_square(rgb), size, channels)
            row.update(status="whole_image", reason="no face found: kept the centre square of the whole image")
        else:
            return {**row, "status": "no_face"}
    else:
        chip = fit(rgb, size, channels)
        row["status"] = "precropped"
    ok, buf = cv2.imencode(".png", chip if chip.ndim == 2 else cv2.cvtColor(chip, cv2.COLOR_RGB2BGR))
    atomic_write_bytes(out_path, buf.tobytes())
    row["crop"] = os.path.relpath(out_path, os.path.dirname(os.path.dirname(out_path)))
    return row


def prepare_dataset(
    kind: str,
    root: str,
    out: str,
    size: int = 150,
    padding: float = 0.25,
    channels: str = "RGB",
    detector: str = "blazeface",
    detect: str = "auto",
    workers: int = 2,
    progress: bool = True,
    log=print,
    no_face: str = "skip",
    **load_kw,
) -> str:
    """Run detection + alignment over a dataset; return the cache folder (``prepared:`` that folder).

    ``no_face``: ``"skip"`` leaves an image without a face out of the samples (listed as a problem);
    ``"whole"`` keeps its centre square instead (status ``whole_image``, also listed as a problem).
    """
    if no_face not in ("skip", "whole"):
        raise ValueError(f"no_face must be 'skip' or 'whole', got {no_face!r}")
    ds = load_dataset(kind, root, check_images=False, **load_kw)
    do_detect = {"auto": kind not in PRECROPPED_KINDS, "always": True, "never": False}[detect]
    settings = {
        "format": 1,
        "kind": kind,
        "root": os.path.abspath(root),
        "size": size,
        "padding": padding,
        "channels": channels,
        "detector": detector if do_detect else None,
        "load_options": load_kw,
        "class_names": ds.class_names,
        "files_sha256": stable_hash([s.key for s in ds.samples]),
        **({"no_face": no_face} if no_face != "skip" else {}),  # absent by default: older caches keep their key
    }
    key = stable_hash(settings)[:16]
    folder = os.path.join(out, key)
    os.makedirs(os.path.join(folder, "crops"), exist_ok=True)
    atomic_write_json(os.path.join(folder, "settings.json"), {**settings, "key": key})
    prog_path = os.path.join(folder, "progress.jsonl")
    done = _read_progress(prog_path)
    if done:
        log(f"resuming: {len(done)}/{len(ds)} images already prepared in {folder}")
    jobs = [
        (i, s.path, s.array, os.path.join(folder, "crops", f"{i:07d}.png"), size, padding, channels, do_detect, no_face)
        for i, s in enumerate(ds.samples)
        if i not in done
    ]
    _run_jobs(jobs, done, prog_path, len(ds), detector, workers, progress)
    _write_manifest(ds, done, folder, log)
    return folder


def _read_progress(prog_path: str) -> dict:
    """index -> row of every image a previous (killed) run finished."""
    done = {}
    if os.path.exists(prog_path):
        with open(prog_path) as f:
            for line in f:
                try:  # a line cut by a kill is simply redone
                    r = json.loads(line)
                    done[r["index"]] = r
                except json.JSONDecodeError:
                    pass
    return done


def _run_jobs(jobs: list, done: dict, prog_path: str, total: int, detector: str, workers: int, progress: bool) -> None:
    """Process the jobs (in a spawn pool of ``workers``, or here), appending each finished row to progress.jsonl."""
    from multiprocessing import get_context

    from tqdm import tqdm

    with open(prog_path, "a") as prog:
        bar = tqdm(total=total, initial=len(done), desc="prepare", unit="img", disable=not progress, file=sys.stderr)

        def record(r):
            done[r["index"]] = r
            prog.write(json.dumps(r) + "\n")
            prog.flush()
            bar.update(1)

        if workers > 1 and len(jobs) > 1:
            with get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(detector, 1)) as pool:
                for r in pool.imap_unordered(_process, jobs, chunksize=8):
                    record(r)
        else:
            _init_worker(detector, cv2.getNumThreads())
            for job in jobs:
                record(_process(job))
        bar.close()


def _write_manifest(ds, done: dict, folder: str, log) -> None:
    manifest = [
        {
            **done[i],
            "source": s.path if s.path is not None else s.key,
            "label": ds.class_names[s.label],
            "subject": s.subject or "",
            "sequence": s.sequence or "",
            "frame": "" if s.frame is None else s.frame,
            "split": s.split or "",
        }
        for i, s in enumerate(ds.samples)
    ]
    atomic_write_csv(os.path.join(folder, "manifest.csv"), manifest, MANIFEST_FIELDS)
    counts = Counter(done[i]["status"] for i in range(len(ds)))
    log(f"prepared {len(ds)} images -> {folder}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for i in range(len(ds)):
        if done[i]["status"] == "failed":
            log(f"  failed: {ds.samples[i].path}: {done[i]['reason']}")
    for status, what in (("no_face", "no face in"), ("whole_image", "no face, whole image kept, in")):
        missed = [ds.samples[i].path or ds.samples[i].key for i in range(len(ds)) if done[i]["status"] == status]
        if missed:
            log(f"  {what} {len(missed)} image(s), e.g. {', '.join(missed[:5])}")
