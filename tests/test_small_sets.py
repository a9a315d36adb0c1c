"""benchmarks/small_sets.py, the suite that chooses train's small-set defaults: its quick subset end to end on
synthetic CK+48 and SFEW folders (so that it cannot rot), and train's defaults against the winner its JSON names."""

import json
import os
import sys

import pytest
from conftest import write_face
from test_datasets import make_ckplus48

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


def _synthetic_sfew(root):
    """SFEW's layout (Train/Val/<Emotion>/Movie_clip_frame.png), 6 movies x 3 classes x 2 frames in Train."""
    k = 0
    for m in range(6):
        for emo in ("Happy", "Sad", "Surprise"):
            for f in range(2):
                write_face(root / "Train" / emo / f"Movie{m}_{m:03d}_{f:08d}.png", seed=k, size=64, mode="RGB")
                k += 1
    for emo in ("Happy", "Sad"):
        write_face(root / "Val" / emo / f"ValMovie_001_{k:08d}.png", seed=k, size=64, mode="RGB")
        k += 1
    return root


@pytest.mark.slow
def test_quick_subset_runs_end_to_end_on_synthetic_data(tmp_path, monkeypatch):
    import small_sets

    shared = tmp_path / "shared"
    make_ckplus48(shared / "ckplus48", n_subjects=16)
    _synthetic_sfew(shared / "sfew")
    one_epoch = {"stage2_epochs": 1, "batch_size": 8, "arch": "fast"}
    monkeypatch.setattr(small_sets, "DRAWS", [("ck", 0, 14, "ck7"), ("sfew", 0, 12, "basic7"), ("ck", 1, 15, "ck7")])
    monkeypatch.setattr(small_sets, "QUICK", 2)
    monkeypatch.setattr(
        small_sets,
        "METHODS",
        {
            "scratch": {"method": "scratch", **one_epoch},
            "lpft_fer2013_fast": {**small_sets.METHODS["lpft_fer2013_fast"], **one_epoch},
            "lp_fer2013_fast": small_sets.METHODS["lp_fer2013_fast"],
        },
    )
    out = tmp_path / "small_sets.json"
    argv = ["small_sets.py", "--quick", "--allow-dirty", "--runs", str(tmp_path / "runs"), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv + ["--shared", str(shared)])
    small_sets.main()
    result = json.loads(out.read_text())
    draws = result["draws"]
    assert [d["id"] for d in draws] == ["ck_0_14_ck7", "sfew_0_12_basic7"]  # the quick subset, in order
    for d in draws:
        assert set(d["methods"]) == {"scratch", "lpft_fer2013_fast", "lp_fer2013_fast"}
        for cell in d["methods"].values():
            assert 0 <= cell["accuracy_mean"] <= 1 and cell["fold_accuracies"] and cell["seconds"] >= 0
    assert draws[0]["methods"]["scratch"]["protocol"] == "subject-kfold"
    assert len(draws[0]["methods"]["scratch"]["fold_accuracies"]) == small_sets.FOLDS
    assert draws[1]["methods"]["scratch"]["protocol"] == "official"  # scored on the other movies' Train faces
    sfew_csv = (tmp_path / "runs" / "small_sets" / "sfew_0_12.csv").read_text()
    assert "ValMovie" not in sfew_csv and ",test" in sfew_csv and ",train" in sfew_csv  # never Val
    assert set(result["summary"]) >= {"scratch", "lpft_fer2013_fast", "lp_fer2013_fast"}
    assert "scratch vs lpft_fer2013_fast" in result["paired_tests"]
    assert result["winner"] in ("scratch", "lpft_fer2013_fast", "lp_fer2013_fast")  # every row is a train recipe
    best = max(result["summary"], key=lambda m: result["summary"][m]["mean"])
    assert result["summary"][result["winner"]]["mean"] == result["summary"][best]["mean"]
    # a second invocation finds every cell done: nothing is rerun, the JSON is the same
    before = out.read_text()
    small_sets.main()
    assert json.loads(out.read_text())["draws"] == json.loads(before)["draws"]


def test_train_defaults_are_the_recipe_the_suite_chose():
    """`train` at its defaults runs the recipe that benchmarks/results/small_sets.json names as the winner: the
    default config and the winner's row resolve to the same run (the same config key)."""
    import small_sets

    from facenet2expnet.train.config import TrainConfig

    result = json.load(open(os.path.join(ROOT, "benchmarks", "results", "small_sets.json")))
    assert result["winner"] == small_sets.TRAIN_DEFAULT == result["train_default"]
    assert {"fn2en", "probe", "scratch", "shortcut"} <= set(result["summary"])
    assert len(result["draws"]) >= small_sets.QUICK and result["summary"]["fn2en"]["row"] == result["winner"]
    default = TrainConfig(dataset="ckplus48:x")
    winner = TrainConfig.from_dict({"dataset": "ckplus48:x", **small_sets.METHODS[small_sets.TRAIN_DEFAULT]})
    assert default.key() == winner.key(), default.diff(winner)
