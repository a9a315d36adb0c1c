"""The ``facenet2expnet`` command: the table of subcommands and the one error handler. Heavy modules are
imported inside each command."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import FaceNet2ExpNetError
from . import compare, datasets, demo, export, models, predict, prepare, serve, teacher, train, visualize
from .common import TRAIN_EXTRA

# The subcommands, in the order `--help` lists them: each module adds its parser (`add_parser(sub)`, which sets
# the function that runs it). A new subcommand is a module of this package and one entry here.
COMMANDS = (datasets, teacher, train, compare, prepare, predict, export, visualize, serve, models, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facenet2expnet", description="FaceNet2ExpNet: expression recognition regularized by a face net"
    )
    parser.add_argument("--version", action="version", version=f"facenet2expnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def argv_command(argv: list[str] | None) -> str:
    words = argv if argv is not None else sys.argv[1:]
    return " ".join(w for w in words[:2] if not w.startswith("-"))


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
    except ModuleNotFoundError as exc:  # the light install (no torch): say which extra brings the module
        if (exc.name or "").split(".")[0] not in TRAIN_EXTRA:
            raise
        print(
            f"error: `facenet2expnet {argv_command(argv)}` needs {exc.name}, which the light install leaves out: "
            "pip install 'facenet2expnet[train]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
