"""`facenet2expnet compare`: one table across run folders."""

from __future__ import annotations

import json


def cmd_compare(args) -> int:
    from ..eval.report import compare_runs

    table, rows = compare_runs(args.runs)
    print(json.dumps(rows, indent=2) if args.json else table)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="one table across run dirs (methods)")
    p.add_argument("runs", nargs="+", help="run dirs holding report.json")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)
