"""`facenet2expnet models`: the registered expression nets and the bundled models (no torch needed)."""

from __future__ import annotations

import json

from .common import TRAIN_EXTRA


def cmd_models(args) -> int:
    """The registered expression nets (size and cost) and the bundled models (what they are, how accurate)."""

    from ..models.pretrained import describe_bundled

    bundled, nets, missing = describe_bundled(), None, None
    try:  # the nets' sizes are counted on the nets themselves, which need torch; the bundled models' cards do not
        from ..models.registry import describe_models

        nets = describe_models()
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in TRAIN_EXTRA:
            raise
        missing = f"the registered nets' sizes need {exc.name}: pip install 'facenet2expnet[train]'"
    if args.json:
        print(
            json.dumps(
                {"nets": nets, "bundled": bundled, **({"nets_unavailable": missing} if missing else {})}, indent=1
            )
        )
        return 0
    if nets is None:
        print(f"expression nets: {missing}")
    else:
        print("expression nets (create_model NAME; --arch NAME), 7 classes:")
        print(f"  {'name':<10} {'input':<10} {'multiply-adds':>14} {'parameters':>11}")
    for r in nets or []:
        print(f"  {r['name']:<10} {r['input']:<10} {r['multiply_adds'] / 1e6:>12.1f} M {r['parameters'] / 1e6:>9.2f} M")
    print("\nbundled models (from_pretrained(NAME); --model NAME):")
    for r in bundled:
        acc = "" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f}% on {r['dataset']}"
        if acc and "int8" in r["runtime"]:
            acc += " (float model's)"  # the card travels with the export; measure it with benchmarks/inference.py
        default = f"  [default: {', '.join(r['default_for'])}]" if r["default_for"] else ""
        calibrated = f"T {r['temperature']:.2f}" if r.get("temperature") else "uncalibrated" if acc else ""
        print(f"  {r['name']:<30} {r['runtime']:<18} {r['net']:<8} {acc:<38} {calibrated:<13} {r['mib']} MiB{default}")
    print("\nT: the temperature that calibrates a model's probabilities, fitted on its validation faces")
    print("cards, numbers and caveats: docs/models.md")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="the registered expression nets and the bundled models")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_models)
