"""The bundled models and the one resolver from a name or path to a model file.

``resolve_model`` is the one resolver from a name or path to a file: the recognizer, the CLI's
``predict`` and ``export``, training (``--init-trunk``, ``--distill-from``) and the benchmarks all go
through it. It imports no torch, so the light install (onnxruntime only) uses it too.
"""

from __future__ import annotations

import os

from ..errors import FaceNet2ExpNetError

# The one default model of `from_pretrained()`, `predict`, `serve` and `make demo`: the int8 export of the fast
# FER2013 model. As accurate on FER2013 PublicTest as its float model (65.48% vs 65.28%), faster, and it runs on
# onnxruntime, so the light install (no torch) can use it.
DEFAULT_MODEL = "fer2013-fn2en-fast-int8"
# Its float (torch) checkpoint: what needs torch weights (explain's Grad-CAM, --init-trunk, --distill-from) names it.
BUNDLED = "fer2013-fn2en-fast"
# The bundled label-free stage-1 trunk of each student that has one: `train --method fn2en` refines from it unless
# told otherwise (FER2013 Training faces regressed onto the face net, labels unused; its card says how well).
LABEL_FREE_TRUNKS = {"res48": "fn2en-res48-trunk"}
# The start `train --method fn2en` takes for each student when none is given: what benchmarks/small_sets.py chose
# (benchmarks/results/small_sets.json names the winner; tests/test_small_sets.py checks the two agree). For res48:
# ferplus-fn2en-accurate, FaceNet2ExpNet on FER+ (stage 1 on the face net's features of FER2013's training faces,
# then refined with FER+'s labels); with its head's last layer fitted on the user's faces it beat every other start
# and recipe on the suite's draws, the label-free trunk included (which stays one flag away: --init-trunk).
DEFAULT_STARTS = {"res48": "ferplus-fn2en-accurate"}


def has_trained_head(name_or_path: str) -> bool:
    """Whether a start (a bundled name, a checkpoint, a run folder) carries a head trained with expression labels;
    a label-free stage-1 trunk does not. A start that cannot be read counts as a trunk (loading it names the
    problem later)."""
    import json

    try:
        path = resolve_model(name_or_path)
        with open(os.path.splitext(path)[0] + ".json") as f:
            return not json.load(f).get("trunk_only")
    except (FaceNet2ExpNetError, OSError, ValueError):
        return False


def pretrained_dir() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained")


def bundled_names() -> list[str]:
    here = pretrained_dir()
    return sorted(f[:-5] for f in os.listdir(here) if f.endswith(".json")) if os.path.isdir(here) else []


# (int8, ONNX, stage-1 trunk) -> how a bundled model runs
RUNTIMES = {
    (True, True, False): "onnxruntime, int8",
    (False, True, False): "onnxruntime",
    (False, False, False): "torch",
    (False, False, True): "torch, stage-1 trunk",
}


def describe_bundled() -> list[dict]:
    """One row per model shipped in the package: its runtime, net, card accuracy, size and whether it is a default."""
    from ..files import read_json

    rows = []
    for name in bundled_names():
        base = bundled_model_path(name)
        meta = read_json(base + ".json")
        onnx = os.path.exists(base + ".onnx")
        weights = base + (".onnx" if onnx else ".safetensors")
        card = meta.get("card") or {}
        rows.append(
            {
                "name": name,
                "runtime": RUNTIMES[(bool(meta.get("quantization")), onnx, bool(meta.get("trunk_only")))],
                "net": meta["arch"].get("name", meta["arch"].get("kind", "")),
                "classes": len(meta["classes"]),
                "dataset": card.get("dataset"),
                "accuracy": card.get("accuracy"),
                "notes": card.get("notes", ""),
                "mib": round(os.path.getsize(weights) / 2**20, 1) if os.path.exists(weights) else None,
                "temperature": meta.get("temperature"),  # fitted on validation (benchmarks/calibration.py), or None
                "default_for": ["from_pretrained(), predict, serve"] if name == DEFAULT_MODEL else [],
            }
        )
    return rows


def bundled_model_path(name: str = DEFAULT_MODEL) -> str:
    """PATH (without extension) of a model shipped in the package."""
    path = os.path.join(pretrained_dir(), name)
    if not os.path.exists(path + ".json"):
        raise FaceNet2ExpNetError(
            f"no bundled model {name!r}; bundled: {', '.join(bundled_names()) or 'none'}; "
            "or pass a checkpoint path (.json/.safetensors from train, .onnx from export)"
        )
    return path


def resolve_model(name_or_path: str | None = None) -> str:
    """A model's file: ``PATH.onnx`` for an export, ``PATH.json`` for a torch checkpoint.

    Accepts a bundled name, a path with or without its extension, or None (the default bundled model).
    A stem with an .onnx and no .safetensors beside its JSON (the bundled int8 model) is an export.
    """
    m = name_or_path or DEFAULT_MODEL
    if os.path.isdir(m):  # a run folder: the model `train` refit on every face, as ONNX where it was exported
        stem = os.path.join(m, "model")
        if not (os.path.exists(stem + ".json") or os.path.exists(stem + ".onnx")):
            raise FaceNet2ExpNetError(
                f"model {m}: a folder without model.json or model.onnx; give a finished `train` run (it writes "
                f"them after its folds, unless --no-refit), a model file, or a bundled name"
            )
        return stem + (".onnx" if os.path.exists(stem + ".onnx") else ".json")
    if m.endswith(".safetensors"):
        path = m.removesuffix(".safetensors") + ".json"
    elif m.endswith((".onnx", ".json")):
        path = m
    elif os.path.isfile(m):
        raise FaceNet2ExpNetError(
            f"model {m}: not a model file; give a checkpoint (.json/.safetensors from `train`), an export (.onnx "
            f"from `export`) or a bundled name ({', '.join(bundled_names())})"
        )
    else:  # a stem: here, or a bundled model's
        stem = m if os.path.exists(m + ".json") or os.path.exists(m + ".onnx") else bundled_model_path(m)
        export = os.path.exists(stem + ".onnx") and not os.path.exists(stem + ".safetensors")
        path = stem + (".onnx" if export else ".json")
    if not os.path.exists(path):
        raise FaceNet2ExpNetError(f"model {name_or_path!r}: {path} does not exist")
    return path


def resolve_checkpoint(name_or_path: str, purpose: str) -> str:
    """``resolve_model`` for uses that need torch weights (exporting, a trunk to start from, a teacher to distil
    from): an ONNX export is refused, and ``purpose`` (e.g. ``--init-trunk``) names the use in the error. A run
    folder gives its torch checkpoint, RUN/model.json."""
    if os.path.isdir(name_or_path) and os.path.exists(os.path.join(name_or_path, "model.json")):
        return os.path.join(name_or_path, "model.json")
    path = resolve_model(name_or_path)
    if path.endswith(".onnx"):
        raise FaceNet2ExpNetError(
            f"{purpose} {name_or_path}: {path} is an ONNX export, which has no torch weights; name a torch checkpoint "
            f"(.json/.safetensors from train, or a bundled float model such as {BUNDLED})"
        )
    return path
