"""What a run's accuracy should be compared with, on the run's own folds: the bundled model with no training at all
(zero-shot) and a linear probe on the face net's features. Both cost seconds; the report shows them beside the
trained model, so that a user sees what the training bought.
"""

from __future__ import annotations

import os

import numpy as np

from ..data.classes import canonical
from ..errors import UnknownNameError
from ..eval.metrics import accuracy

ZERO_SHOT_MODEL = "fer2013-fn2en-fast"  # the float model of the default recognizer (its int8 export scores alike)
PROBE_MAX_FACES = 5000  # above, the face-net probe baseline is skipped (its teacher pass is ~90 faces/s)


def _canonical(name: str) -> str | None:
    """A class name as the bundled models spell it (happiness -> happy), or None for a name we do not know."""
    try:
        return canonical(name)
    except UnknownNameError:
        return None


def zero_shot(ds, folds, model_name: str = ZERO_SHOT_MODEL) -> dict:
    """The bundled model's accuracy on each fold's test faces, choosing among the run's classes that it knows. A
    run class it does not know (e.g. contempt for a 7-class model) makes that class's faces count as errors."""
    import torch

    from ..models.pretrained import resolve_checkpoint
    from ..models.registry import load_checkpoint
    from .images import load_images
    from .stages import predict_logits

    model, meta = load_checkpoint(resolve_checkpoint(model_name, "zero-shot baseline"))
    from ..data.preprocess import Preprocessing

    pp = Preprocessing.from_dict(meta["preprocessing"])
    theirs = {_canonical(c): i for i, c in enumerate(meta["classes"])}
    ours = [theirs.get(_canonical(c)) for c in ds.class_names]  # run class -> the model's column, or None
    known = [i for i, col in enumerate(ours) if col is not None]
    if not known:
        return {"model": model_name, "skipped": f"none of the run's classes is one of {model_name}'s"}
    images = load_images(ds, pp, progress=False)
    test = np.concatenate([f.test for f in folds])
    logits = predict_logits(model.to(memory_format=torch.channels_last), images, test, pp).numpy()
    pred = np.array(known)[logits[:, [ours[i] for i in known]].argmax(1)]  # among the run's known classes
    by_index = dict(zip(test.tolist(), pred.tolist()))
    accs = [accuracy(ds.labels[f.test], np.array([by_index[i] for i in f.test])) for f in folds]
    unknown = [c for c, col in zip(ds.class_names, ours) if col is None]
    return {
        "model": model_name,
        "accuracy_mean": float(np.mean(accs)),
        "fold_accuracies": accs,
        **({"classes_it_does_not_know": unknown} if unknown else {}),
    }


def face_net_probe(cfg, ds, folds, out_dir: str, log) -> dict:
    """Logistic regression on the face net's cached tap features, regularization chosen on each fold's validation
    split (the ``probe`` method's own fit), on the run's folds."""
    from ..teachers import create_teacher
    from ..teachers.cache import extract_features
    from .probe import probe_fold

    teacher = create_teacher(cfg.teacher, weights=cfg.teacher_weights, layer=cfg.layer)
    store = extract_features(teacher, ds, cfg.cache_dir, progress=False, log=lambda m: None)
    quiet = lambda m: None  # noqa: E731 - the per-C lines belong to a probe run, not to this summary
    accs = [
        probe_fold(
            f,
            store.features,
            ds.labels,
            cfg.probe_C,
            os.path.join(out_dir, "baselines", "probe", f"fold_{f.index:02d}"),
            log=quiet,
        )["accuracy"]
        for f in folds
    ]
    return {"teacher": cfg.teacher, "accuracy_mean": float(np.mean(accs)), "fold_accuracies": accs}


# name -> (what it is, how to compute it); the runner runs each where the run is not that baseline itself
BASELINES = {
    "zero_shot": (f"the bundled {ZERO_SHOT_MODEL}, no training", lambda cfg, ds, folds, out, log: zero_shot(ds, folds)),
    "face_net_probe": ("a linear probe on the face net's features", face_net_probe),
}


def run_baselines(cfg, ds, folds, out_dir: str, log) -> dict:
    """Every baseline on the run's folds; one that fails is reported as skipped, with the reason (never fatal)."""
    from ..errors import FaceNet2ExpNetError

    out = {}
    for name, (what, fn) in BASELINES.items():
        if name == "face_net_probe" and cfg.method == "probe":
            continue
        if name == "face_net_probe" and len(ds) > PROBE_MAX_FACES:  # the face net's pass would cost more than seconds
            out[name] = {
                "what": what,
                "skipped": f"{len(ds)} faces: the face net's features would take a while; "
                "run `train --method probe` for this baseline",
            }
            continue
        try:
            out[name] = {"what": what, **fn(cfg, ds, folds, out_dir, log)}
        except (FaceNet2ExpNetError, OSError, ValueError) as exc:
            out[name] = {"what": what, "skipped": str(exc)}
    return out
