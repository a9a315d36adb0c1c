"""Every benchmark recipe (benchmarks/recipes/<dataset>/<name>.toml) is a valid config whose [recipe] table
names only recipes that exist and options that `prepare` takes: a typo fails here, not hours into a run."""

import inspect
import os
import tomllib

import pytest

from facenet2expnet.face.prepare import prepare_dataset
from facenet2expnet.train.recipes import read_config_file

TRUNK = "fn2en-res48-trunk"  # the bundled label-free stage-1 trunk
RECIPES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "recipes")
NAMES = sorted(
    os.path.relpath(os.path.join(d, f), RECIPES)[: -len(".toml")]
    for d, _, files in os.walk(RECIPES)
    for f in files
    if f.endswith(".toml")
)
from facenet2expnet.train.recipes import META_KEYS  # noqa: E402


def test_there_are_recipes_for_every_benchmark_dataset():
    assert {n.split("/")[0] for n in NAMES} >= {"ckplus48", "fer2013", "sfew"}


@pytest.mark.parametrize("name", NAMES)
def test_recipe_is_a_valid_config_with_a_valid_recipe_table(name):
    path = os.path.join(RECIPES, name + ".toml")
    fields = read_config_file(path)  # unknown fields and invalid values raise
    assert fields["dataset"].split(":")[0] in {"ckplus48", "fer2013", "ferplus", "sfew"}
    with open(path, "rb") as f:
        meta = tomllib.load(f)["recipe"]
    assert set(meta) <= set(META_KEYS) and meta["description"].strip()
    for key in ("trunk_from", "control"):
        if key in meta:
            assert meta[key] in NAMES, f"{name}: {key} names no recipe: {meta[key]}"
    if "trunk_from" in meta:  # the run starts from that recipe's product (stage 1 may go on), no other trunk
        assert "init_trunk" not in fields and fields["method"] in ("fn2en", "scratch")
    if "prepare" in meta:
        accepted = set(inspect.signature(prepare_dataset).parameters) - {"kind", "root", "out", "log", "progress"}
        assert set(meta["prepare"]) <= accepted


def test_fn2en_without_stage1_or_trunk_is_called_scratch():
    from facenet2expnet.errors import FaceNet2ExpNetError
    from facenet2expnet.train.config import TrainConfig

    for kw in ({"init_trunk": "none"}, {"arch": "compact"}):  # compact has no bundled label-free trunk
        with pytest.raises(FaceNet2ExpNetError, match="this is scratch"):
            TrainConfig(dataset="ckplus48:x", method="fn2en", stage1_epochs=0, **kw)
    TrainConfig(dataset="ckplus48:x", method="scratch", stage1_epochs=0)  # the same net, named honestly


def test_fn2en_defaults_take_the_suites_start_and_the_label_free_and_paper_paths_are_one_flag():
    from facenet2expnet.train.config import TrainConfig

    default = TrainConfig(dataset="ckplus48:x")  # the start and recipe benchmarks/small_sets.py chose
    assert (default.method, default.arch, default.trunk, default.stage1_epochs) == (
        "fn2en",
        "res48",
        "ferplus-fn2en-accurate",
        0,
    )
    assert (default.head_init, default.stage2_epochs, default.select) == ("probe", 0, "size")
    assert not default.runs_stage1 and not default.pretrain_only
    label_free = TrainConfig(dataset="ckplus48:x", init_trunk=TRUNK)  # one flag: the label-free trunk, refined
    assert (label_free.head_init, label_free.stage2_epochs, label_free.select) == ("random", None, "val")
    assert label_free.refine_trunk_lr_scale == 0.1 and not label_free.runs_stage1
    paper = TrainConfig(dataset="ckplus48:x", init_trunk="none")  # the one flag: stage 1 on the run's own faces
    assert paper.trunk is None and paper.stage1_epochs is None and paper.runs_stage1
    assert TrainConfig(dataset="ckplus48:x", stage1_epochs=5).trunk is None  # asking for a stage 1 asks for it alone
    assert TrainConfig(dataset="ckplus48:x", stage2_epochs=0).trunk is None  # stage 1 alone makes a trunk
    assert TrainConfig(dataset="ckplus48:x", method="scratch").trunk is None  # fn2en's control: random weights
    again = TrainConfig.from_dict(default.to_dict())  # a saved config resolves to itself (resume)
    assert again.key() == default.key()


@pytest.mark.parametrize(
    "n_train, stage1, stage2",
    [(24, 100, 60), (200, 100, 58), (795, 30, 15), (26000, 5, 10)],
)
def test_epochs_scale_with_the_training_set(n_train, stage1, stage2):
    from facenet2expnet.train.config import TrainConfig

    cfg = TrainConfig(dataset="ckplus48:x", init_trunk="none").for_training_set(n_train)
    assert (cfg.stage1_epochs, cfg.stage2_epochs) == (stage1, stage2)
    given = TrainConfig(dataset="ckplus48:x", stage2_epochs=7).for_training_set(n_train)
    assert given.stage2_epochs == 7  # epochs a config gives are kept


def test_a_recipe_whose_trunk_has_not_run_refuses_with_the_command(tmp_path, capsys):
    from facenet2expnet.cli.main import main

    recipe = os.path.join(RECIPES, "ckplus48", "res48_fn2en_fer_stage1_trunk_lr01.toml")
    assert main(["train", "--config", recipe, "--out", str(tmp_path / "r"), "--runs", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "starts from the trunk of recipe fer2013/stage1_res48" in err
    assert "facenet2expnet train --config" in err and "stage1_res48.toml" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_a_recipe_with_trunk_from_runs_from_that_runs_trunk(tmp_path):
    """`train --config` finds the trunk a recipe names under --runs, as the benchmarks do, and starts from it."""
    import json

    from conftest import write_face

    from facenet2expnet.cli.main import main

    data = tmp_path / "ck48"
    for s in range(6):
        for c, cls in enumerate(["happy", "sadness"]):
            for fr in range(2):
                write_face(str(data / cls / f"S{s + 1:03d}_{c + 1:03d}_{fr + 10:08d}.png"), seed=100 * c + 10 * s + fr)
    root = tmp_path / "recipes" / "synth"
    root.mkdir(parents=True)
    common = (
        f'dataset = "ckplus48:{data}"\nfolds = 3\nmax_folds = 1\narch = "fast"\nbatch_size = 8\n'
        f'cache_dir = "{tmp_path / "cache"}"\nval_fraction = 0.34\n'
    )
    (root / "stage1.toml").write_text(
        common + 'method = "fn2en"\nstage1_epochs = 1\nstage2_epochs = 0\n[recipe]\ndescription = "stage 1 alone"\n'
    )
    (root / "refine.toml").write_text(
        common + 'method = "fn2en"\nstage1_epochs = 0\nstage2_epochs = 1\n'
        '[recipe]\ndescription = "from its trunk"\ntrunk_from = "synth/stage1"\n'
    )
    runs = tmp_path / "runs"
    args = ["--runs", str(runs), "--no-progress"]
    assert main(["train", "--config", str(root / "refine.toml"), "--out", str(tmp_path / "early"), *args]) == 2
    assert main(["train", "--config", str(root / "stage1.toml"), "--out", str(runs / "synth" / "stage1"), *args]) == 0
    assert main(["train", "--config", str(root / "refine.toml"), "--out", str(tmp_path / "r"), *args]) == 0
    cfg = json.load(open(tmp_path / "r" / "config.json"))
    assert cfg["init_trunk"] == str(runs / "synth" / "stage1" / "folds" / "fold_00" / "trunk.json")
