"""How a ``TrainConfig`` is made from files and flags: recipes (a TOML file of fields and a ``[recipe]`` table, the
one loader of the CLI and benchmarks), ``--config`` files, and one flag per field (``add_config_flags``).

``benchmarks/recipes/<dataset>/<name>.toml`` holds the recipes the benchmarks ran. The ``[recipe]`` table says
what the fields cannot:

* ``description``; ``control`` (the recipe it is compared with);
* ``trunk_from``: the run starts from the trunk another recipe's run made (its ``folds/fold_00/trunk.json``, or
  ``best.json`` for a refined run), found under a runs folder as ``RUNS/<that recipe's name>``;
* ``prepare``: the dataset goes through ``facenet2expnet prepare`` first, with these options, into
  ``RUNS/prepared/<kind>`` (made once, then reused).

``facenet2expnet train --config RECIPE`` resolves both as the benchmarks do: it reuses the product of the run a
recipe starts from, or refuses with the command to run first; it never starts a long run of its own.
"""

from __future__ import annotations

import json
import os

from ..errors import FaceNet2ExpNetError

META_KEYS = ("description", "trunk_from", "control", "prepare")


def read_recipe(path: str) -> tuple[dict, dict]:
    """(the file's config fields, its [recipe] table) of a recipe file (or any --config file: an empty table)."""
    fields, meta = read_config_file(path, with_recipe=True)
    unknown = sorted(set(meta) - set(META_KEYS))
    if unknown:
        raise FaceNet2ExpNetError(
            f"{path}: unknown [recipe] key(s) {', '.join(unknown)}; known: {', '.join(META_KEYS)}"
        )
    return fields, meta


def recipes_root(path: str) -> str:
    """The folder recipe names are relative to: the one holding the recipe's dataset folder."""
    return os.path.dirname(os.path.dirname(os.path.abspath(path)))


def recipe_path(name: str, root: str) -> str:
    path = os.path.join(root, name + ".toml")
    if not os.path.exists(path):
        known = sorted(
            os.path.relpath(os.path.join(d, f), root)[:-5]
            for d, _, fs in os.walk(root)
            for f in fs
            if f.endswith(".toml")
        )
        raise FaceNet2ExpNetError(f"no recipe {name!r} ({path}); recipes: {', '.join(known)}")
    return path


def product(name: str, root: str, runs: str) -> tuple[str, str]:
    """(the checkpoint recipe ``name``'s run makes, the file that says the run finished), under ``runs``."""
    fields, _ = read_recipe(recipe_path(name, root))
    pretrain = fields.get("stage2_epochs") == 0
    run = os.path.join(runs, name)
    done = os.path.join(run, "pretrain.json" if pretrain else "report.json")
    return os.path.join(run, "folds", "fold_00", "trunk.json" if pretrain else "best.json"), done


def resolve(path: str, fields: dict, meta: dict, runs: str, trunk: bool = True, prepare: bool = True) -> dict:
    """``fields`` with what the [recipe] table asks resolved: ``init_trunk`` from ``trunk_from`` (unless the fields
    or the command line give one), ``dataset`` from ``prepare``. A trunk whose run is missing is a clear error."""
    fields = dict(fields)
    if meta.get("trunk_from") and trunk and not fields.get("init_trunk"):
        root = recipes_root(path)
        ckpt, done = product(meta["trunk_from"], root, runs)
        if not os.path.exists(done):
            src = os.path.relpath(recipe_path(meta["trunk_from"], root))
            raise FaceNet2ExpNetError(
                f"{path} starts from the trunk of recipe {meta['trunk_from']}, which has not run under {runs}: run "
                f"`facenet2expnet train --config {src} --out {os.path.join(runs, meta['trunk_from'])}` first "
                "(or pass --runs DIR where it ran, or --init-trunk CHECKPOINT)"
            )
        fields["init_trunk"] = ckpt
    if meta.get("prepare") and prepare and not str(fields.get("dataset", "")).startswith("prepared:"):
        fields["dataset"] = "prepared:" + prepared_dataset(fields["dataset"], meta["prepare"], runs)
    return fields


def prepared_dataset(spec: str, options: dict, runs: str, log=print) -> str:
    """The folder of ``facenet2expnet prepare --dataset SPEC`` with the recipe's options, made (or resumed) in
    RUNS/prepared/<kind>; the equivalent command is printed so that the step can be reproduced."""
    from ..data.datasets import parse_dataset_spec
    from ..face.prepare import prepare_dataset

    kind, root = parse_dataset_spec(spec)
    out = os.path.join(runs, "prepared", kind)
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in options.items())
    log(f"prepare: facenet2expnet prepare --dataset {spec} --out {out} {flags}")
    return prepare_dataset(kind, root, out, progress=False, **options)


# ---- the command line's config: recipes read configs (train/config.py), never the reverse


def fields_of(args) -> list:
    """The TrainConfig fields the command line gave."""
    from dataclasses import fields

    from .config import TrainConfig

    return [f for f in fields(TrainConfig) if hasattr(args, f.name)]


def config_from_args(args, base: dict | None = None):
    """defaults < ``base`` (a saved run's config) < the ``--config`` file < flags typed on the command line."""
    from .config import TrainConfig, field_defaults, upgraded

    d = field_defaults()
    d.update(upgraded(base or {}))
    if getattr(args, "config", None):
        if not args.config.endswith((".toml", ".json")) and not os.path.exists(args.config):
            raise FaceNet2ExpNetError(
                f"--config {args.config}: --config now takes a TOML or JSON file of config fields; "
                f"the expression-net architecture is --arch (e.g. --arch {args.config})"
            )
        fields, meta = read_recipe(args.config)
        given = {f.name for f in fields_of(args)}  # what the command line sets wins over what the recipe resolves
        d.update(
            resolve(
                args.config,
                fields,
                meta,
                getattr(args, "runs", None) or "runs",
                trunk="init_trunk" not in given,
                prepare="dataset" not in given,
            )
        )
    d.update({f.name: getattr(args, f.name) for f in fields_of(args)})
    return TrainConfig.from_dict(d, source="command line")


def read_config_file(path: str, with_recipe: bool = False):
    """Fields from a TOML or JSON file (a recipe). Unknown fields are an error (typos must not pass silently).

    A ``[recipe]`` table (train/recipes.py: description, which run's trunk to start from) sets no field; with
    ``with_recipe`` it is returned too: ``(fields, table)``.
    """
    if not os.path.exists(path):
        raise FaceNet2ExpNetError(f"--config {path}: no such file")
    if path.endswith(".toml"):
        import tomllib

        with open(path, "rb") as f:
            try:
                d = tomllib.load(f)
            except tomllib.TOMLDecodeError as exc:
                raise FaceNet2ExpNetError(f"--config {path}: not valid TOML ({exc})") from None
    elif path.endswith(".json"):
        with open(path) as f:
            try:
                d = json.load(f)
            except json.JSONDecodeError as exc:
                raise FaceNet2ExpNetError(f"--config {path}: not valid JSON ({exc})") from None
    else:
        raise FaceNet2ExpNetError(f"--config {path}: give a .toml or .json file of TrainConfig fields")
    meta = d.pop("recipe", None) or {}
    # validates names and values; a trunk the [recipe] table names stands in for init_trunk until it is resolved
    placeholder = {"init_trunk": "<trunk_from>"} if meta.get("trunk_from") and not d.get("init_trunk") else {}
    from .config import TrainConfig, field_defaults

    TrainConfig.from_dict({**field_defaults(), **d, **placeholder}, source=path)
    return (d, meta) if with_recipe else d


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_flags(parser) -> None:
    """One flag per TrainConfig field, generated: help, type and choices come from the field.

    Defaults are SUPPRESSed, so the parsed namespace holds only what the user typed and
    ``config_from_args`` can layer it over the defaults and a ``--config`` file.
    """
    import argparse
    import typing
    from dataclasses import fields

    from .config import TrainConfig, field_defaults

    hints, defaults, groups = typing.get_type_hints(TrainConfig), field_defaults(), {}
    for f in fields(TrainConfig):
        meta = f.metadata
        if meta["group"] not in groups:
            groups[meta["group"]] = parser.add_argument_group(f"config: {meta['group']}")
        g = groups[meta["group"]]
        default = defaults[f.name]
        help_text = meta["help"] + ("" if default is None else f" (default: {default})")
        kw = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text.replace("%", "%%")}
        base = [a for a in typing.get_args(hints[f.name]) if a is not type(None)] or [hints[f.name]]
        typ = base[0]
        if typ is bool:
            g.add_argument(flag_name(f.name), action=argparse.BooleanOptionalAction, **kw)
        elif typ is list or typing.get_origin(typ) is list:
            item = (typing.get_args(typ) or (float,))[0]  # list[str]: paths; a bare list: numbers
            g.add_argument(flag_name(f.name), nargs="+", type=item, metavar="X" if item is float else "PATH", **kw)
        else:
            g.add_argument(
                flag_name(f.name),
                type=typ,
                choices=meta["choices"],
                metavar=f.name.upper() if not meta["choices"] else None,
                **kw,
            )
