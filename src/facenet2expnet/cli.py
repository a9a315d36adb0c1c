"""The ``facenet2expnet`` command. Heavy modules are imported inside each command."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .errors import FaceNet2ExpNetError


def _add_dataset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--classes", help="class set (ck6, ck7, ck8, basic7, oulu6) or comma-separated names")
    p.add_argument("--skip-bad", action="store_true", help="leave out unreadable images (they are listed) instead of failing")
    p.add_argument("--no-check", action="store_true", help="do not decode every image while loading (faster; errors surface later)")


def _dataset_kwargs(args) -> dict:
    kw = {"skip_bad": args.skip_bad, "check_images": not args.no_check}
    if getattr(args, "classes", None):
        kw["classes"] = args.classes
    return kw


def cmd_datasets_info(args) -> int:
    from .data.info import dataset_info, format_info
    from .data.loaders import load_dataset

    ds = load_dataset(args.kind, args.root, **_dataset_kwargs(args))
    info = dataset_info(ds, protocol=args.protocol, folds=args.folds, seed=args.seed)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def cmd_datasets_list(args) -> int:
    from .data.loaders import LOADERS

    for kind, fn in sorted(LOADERS.items()):
        print(f"{kind:<10} {(fn.__doc__ or '').strip().splitlines()[0]}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(data=args.data, input=args.input, out=args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facenet2expnet", description="FaceNet2ExpNet: expression recognition regularized by a face net")
    parser.add_argument("--version", action="version", version=f"facenet2expnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("datasets", help="inspect datasets", description="Inspect datasets and their protocols")
    dsub = p.add_subparsers(dest="datasets_command", metavar="SUBCOMMAND")
    q = dsub.add_parser("info", help="counts per class, subject, sequence, split, and fold sizes")
    q.add_argument("kind", help="dataset kind (see `facenet2expnet datasets list`)")
    q.add_argument("root", help="dataset root folder or file")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.add_argument("--protocol", choices=["subject-kfold", "official", "loso"], help="protocol for fold sizes (default: subject-kfold where subjects exist, else official)")
    q.add_argument("--folds", type=int, default=10)
    q.add_argument("--seed", type=int, default=0)
    _add_dataset_options(q)
    q.set_defaults(func=cmd_datasets_info)
    q = dsub.add_parser("list", help="the dataset kinds we can load")
    q.set_defaults(func=cmd_datasets_list)

    p = sub.add_parser("demo", help="the main job on an embedded default (what `make demo` runs)")
    p.add_argument("--data", default="../shared/data", help="folder holding ckplus48/ (default ../shared/data)")
    p.add_argument("--input", help="a photo, folder or video of your own")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # a group without its subcommand: show that group's help
        parser.parse_args((argv or sys.argv[1:]) + ["--help"])
        return 2
    try:
        return int(args.func(args) or 0)
    except FaceNet2ExpNetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
