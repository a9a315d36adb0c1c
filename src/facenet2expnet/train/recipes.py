"""Recipes: a TOML file of ``TrainConfig`` fields and a ``[recipe]`` table, the one loader of the CLI and benchmarks.

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

import os

from ..errors import FaceNet2ExpNetError

META_KEYS = ("description", "trunk_from", "control", "prepare")


def read_recipe(path: str) -> tuple[dict, dict]:
    """(the file's config fields, its [recipe] table) of a recipe file (or any --config file: an empty table)."""
    from .config import read_config_file

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
