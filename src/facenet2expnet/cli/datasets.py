"""`facenet2expnet datasets`: what a dataset holds (counts, subjects, folds) and which kinds load."""

from __future__ import annotations

import json

from .common import add_dataset_options, dataset_kwargs


def cmd_datasets_info(args) -> int:
    from ..data.datasets import load_dataset
    from ..data.info import dataset_info, format_info

    ds = load_dataset(args.kind, args.root, **dataset_kwargs(args))
    info = dataset_info(ds, protocol=args.protocol, folds=args.folds, seed=args.seed)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def cmd_datasets_list(args) -> int:
    from ..data.datasets import LOADERS

    for kind, fn in sorted(LOADERS.items()):
        print(f"{kind:<10} {(fn.__doc__ or '').strip().splitlines()[0]}")
    return 0


def add_parser(sub) -> None:
    from ..data.protocols import PROTOCOLS

    p = sub.add_parser("datasets", help="inspect datasets", description="Inspect datasets and their protocols")
    dsub = p.add_subparsers(dest="datasets_command", metavar="SUBCOMMAND")
    q = dsub.add_parser("info", help="counts per class, subject, sequence, split, and fold sizes")
    q.add_argument("kind", help="dataset kind (see `facenet2expnet datasets list`)")
    q.add_argument("root", help="dataset root folder or file")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        help="protocol for fold sizes (default: auto, what `train` picks for this dataset)",
    )
    q.add_argument("--folds", type=int, default=10)
    q.add_argument("--seed", type=int, default=0)
    add_dataset_options(q)
    q.set_defaults(func=cmd_datasets_info)
    q = dsub.add_parser("list", help="the dataset kinds we can load")
    q.set_defaults(func=cmd_datasets_list)
