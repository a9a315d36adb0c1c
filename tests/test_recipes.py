"""Every benchmark recipe (benchmarks/recipes/<dataset>/<name>.toml) is a valid config whose [recipe] table
names only recipes that exist and options that `prepare` takes: a typo fails here, not hours into a run."""

import inspect
import os
import tomllib

import pytest

from facenet2expnet.face.prepare import prepare_dataset
from facenet2expnet.train.config import read_config_file

RECIPES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "recipes")
NAMES = sorted(
    os.path.relpath(os.path.join(d, f), RECIPES)[: -len(".toml")]
    for d, _, files in os.walk(RECIPES)
    for f in files
    if f.endswith(".toml")
)
META_KEYS = {"description", "trunk_from", "control", "prepare"}


def test_there_are_recipes_for_every_benchmark_dataset():
    assert {n.split("/")[0] for n in NAMES} >= {"ckplus48", "fer2013", "sfew"}


@pytest.mark.parametrize("name", NAMES)
def test_recipe_is_a_valid_config_with_a_valid_recipe_table(name):
    path = os.path.join(RECIPES, name + ".toml")
    fields = read_config_file(path)  # unknown fields and invalid values raise
    assert fields["dataset"].split(":")[0] in {"ckplus48", "fer2013", "sfew"}
    with open(path, "rb") as f:
        meta = tomllib.load(f)["recipe"]
    assert set(meta) <= META_KEYS and meta["description"].strip()
    for key in ("trunk_from", "control"):
        if key in meta:
            assert meta[key] in NAMES, f"{name}: {key} names no recipe: {meta[key]}"
    if "trunk_from" in meta:  # the run starts from that recipe's product (stage 1 may go on), no other trunk
        assert "init_trunk" not in fields and fields["method"] in ("fn2en", "scratch")
    if "prepare" in meta:
        accepted = set(inspect.signature(prepare_dataset).parameters) - {"kind", "root", "out", "log", "progress"}
        assert set(meta["prepare"]) <= accepted
