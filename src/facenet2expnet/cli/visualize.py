"""`facenet2expnet visualize`: a run's figures (curves, confusion, selectivity, Grad-CAM, embeddings)."""

from __future__ import annotations

import json


def cmd_visualize(args) -> int:
    from ..viz.run import WHAT, visualize_runs

    what = args.what.split(",") if args.what else list(WHAT)
    r = visualize_runs(
        [args.run] + (args.compare or []),
        args.out,
        what=what,
        fold=args.fold,
        n_units=args.units,
        k=args.top_k,
        teacher=not args.no_teacher,
    )
    print(f"{len(r['figures'])} figures and index.html in {args.out}")
    print(json.dumps(r["scores"], indent=2))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "visualize", help="figures of a run: neuron selectivity, Grad-CAM, embeddings, curves, confusion"
    )
    p.add_argument("run", help="run dir (from `train`)")
    p.add_argument("--compare", nargs="+", help="more run dirs (other methods, same dataset) drawn side by side")
    p.add_argument(
        "--what", help="comma-separated subset of neurons,saliency,embedding,curves,confusion (default: all)"
    )
    p.add_argument("--fold", type=int, default=0, help="fold whose model and test set are drawn (default 0)")
    p.add_argument("--units", type=int, default=8, help="most selective units shown per model")
    p.add_argument("--top-k", type=int, default=9, help="top patches per unit (also the k of the selectivity score)")
    p.add_argument("--no-teacher", action="store_true", help="leave the teacher's tap out of the neuron figure")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_visualize)
