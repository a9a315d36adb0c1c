"""`facenet2expnet demo`: the main job on an embedded default (what `make demo` runs)."""

from __future__ import annotations


def cmd_demo(args) -> int:
    from ..demo import run_demo

    return run_demo(input=args.input, out=args.out)


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="the main job on an embedded default (what `make demo` runs)")
    p.add_argument("--input", help="a photo, folder or video of your own (default: scikit-image's astronaut photo)")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.set_defaults(func=cmd_demo)
