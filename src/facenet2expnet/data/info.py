"""Dataset summary for ``facenet2expnet datasets info``."""

from __future__ import annotations

from collections import Counter

import numpy as np

from .protocols import make_folds, resolve_protocol
from .records import Dataset


def dataset_info(ds: Dataset, protocol: str | None = None, folds: int = 10, seed: int = 0) -> dict:
    subjects = Counter(s.subject for s in ds.samples if s.subject is not None)
    sequences = {s.sequence for s in ds.samples if s.sequence is not None}
    splits = Counter(s.split for s in ds.samples if s.split is not None)
    per_subject = np.array(sorted(subjects.values())) if subjects else np.array([0])
    info = {
        "kind": ds.kind,
        "root": ds.root,
        "images": len(ds),
        "subjects": len(subjects),
        "sequences": len(sequences),
        "classes": list(ds.class_names),
        "class_counts": ds.class_counts(),
        "splits": dict(sorted(splits.items())),
        "images_per_subject": {
            "min": int(per_subject.min()),
            "median": float(np.median(per_subject)),
            "max": int(per_subject.max()),
        },
        "problems": dict(Counter(p.kind for p in ds.problems)),
        "problem_examples": [f"{p.kind}: {p.message}" for p in ds.problems[:5]],
    }
    protocol = resolve_protocol(ds, protocol or "auto")
    if protocol is not None:
        fs = make_folds(ds, protocol, folds=folds, seed=seed)
        info["protocol"] = protocol
        info["folds"] = [f.sizes() for f in fs]
        notes = sorted({f.note for f in fs if f.note})
        if notes:
            info["protocol_notes"] = notes
    return info


def format_info(info: dict) -> str:
    lines = [
        f"{info['kind']} at {info['root']}",
        f"  images {info['images']}   subjects {info['subjects']}   sequences {info['sequences']}   classes "
        f"{len(info['classes'])}",
    ]
    width = max(len(c) for c in info["classes"])
    lines.append("  per class:")
    lines += [f"    {name:<{width}}  {n:>6}" for name, n in info["class_counts"].items()]
    if info["splits"]:
        lines.append("  per split: " + ", ".join(f"{k} {v}" for k, v in info["splits"].items()))
    if info["subjects"]:
        s = info["images_per_subject"]
        lines.append(f"  images per subject: min {s['min']}, median {s['median']:g}, max {s['max']}")
    if "folds" in info:
        lines.append(f"  protocol {info['protocol']}: {len(info['folds'])} fold(s)")
        lines.append("    fold   train    val   test")
        lines += [f"    {f['fold']:>4} {f['train']:>7} {f['val']:>6} {f['test']:>6}" for f in info["folds"]]
        lines += [f"    note: {n}" for n in info.get("protocol_notes", [])]
    if info["problems"]:
        lines.append("  problems: " + ", ".join(f"{k} {v}" for k, v in info["problems"].items()))
        lines += [f"    {e[:200]}" for e in info["problem_examples"]]
    return "\n".join(lines)
