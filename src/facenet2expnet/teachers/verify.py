"""Parity and identity checks of our dlib ResNet-29 port against dlib itself (needs ``dlib-bin``)."""

from __future__ import annotations

import glob
import itertools
import os

import numpy as np
import torch

from ..data.images import read_image
from ..errors import FaceNet2ExpNetError
from ..files import find_model_file
from .registry import create_teacher


def _dlib():
    from ..face.detect import import_dlib

    return import_dlib("the parity check (it compares against dlib itself)", "or skip `teacher verify`")


def dlib_chips(paths: list[str], size: int = 150, padding: float = 0.25) -> dict[str, np.ndarray]:
    """dlib's own aligned chip (HOG detector, upsample 1, 5-point predictor) of the largest face of each photo."""
    dlib = _dlib()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(find_model_file("shape_predictor_5_face_landmarks.dat"))
    chips = {}
    for p in paths:
        img = read_image(p, "RGB")
        dets = detector(img, 1)
        if not dets:
            continue
        box = max(dets, key=lambda r: r.area())
        chips[p] = dlib.get_face_chip(img, predictor(img, box), size=size, padding=padding)
    return chips


def verify_dlib_port(faces_dir: str, weights: str | None = None) -> dict:
    """Embeddings of dlib and of our port on dlib's chips: max |difference|, plus the identity check."""
    dlib = _dlib()
    paths = sorted(p for p in glob.glob(os.path.join(faces_dir, "*")) if p.lower().endswith((".jpg", ".jpeg", ".png")))
    if not paths:
        raise FaceNet2ExpNetError(f"no photos (.jpg/.png) in {faces_dir}")
    chips = dlib_chips(paths)
    if not chips:
        raise FaceNet2ExpNetError(f"dlib found no face in the photos of {faces_dir}")
    teacher = create_teacher("dlib-resnet29", weights=weights, layer="embedding")
    reference = dlib.face_recognition_model_v1(teacher.weights_path)
    pp = teacher.preprocessing
    rows, ours_by_name = [], {}
    for p, chip in chips.items():
        ref = np.array(reference.compute_face_descriptor(chip))
        x = pp.normalize(torch.from_numpy(np.ascontiguousarray(chip.transpose(2, 0, 1)))[None].float())
        ours = teacher(x)[0].numpy()
        ours_by_name[os.path.basename(p)] = ours
        rows.append({"image": os.path.basename(p), "max_abs_diff": float(np.abs(ours - ref).max())})
    result = {"images": rows, "max_abs_diff": max(r["max_abs_diff"] for r in rows), "tolerance": 1e-4}
    obama = sorted(n for n in ours_by_name if n.startswith("obama"))
    if len(obama) >= 2 and "biden.jpg" in ours_by_name:
        same = [float(np.linalg.norm(ours_by_name[a] - ours_by_name[b])) for a, b in itertools.combinations(obama, 2)]
        diff = [float(np.linalg.norm(ours_by_name[a] - ours_by_name["biden.jpg"])) for a in obama]
        result["identity"] = {
            "same_person_max": max(same),
            "different_person_min": min(diff),
            "threshold": 0.6,
            "passed": max(same) < 0.6 < min(diff),
        }
    result["passed"] = result["max_abs_diff"] <= 1e-4 and result.get("identity", {}).get("passed", True)
    return result
