"""The ferplus dataset kind, its protocol (epoch chosen on validation carved from train, train duplicates reported
apart) and the label modes that train on the annotators' votes (train/labels.py)."""

import csv
import hashlib

import numpy as np
import pytest
import torch
from conftest import shared
from PIL import Image

from facenet2expnet.data.datasets import load_dataset
from facenet2expnet.data.datasets.ferplus import FERPLUS_VOTES
from facenet2expnet.data.protocols import make_folds
from facenet2expnet.errors import DatasetLayoutError, FaceNet2ExpNetError
from facenet2expnet.train.config import TrainConfig
from facenet2expnet.train.labels import LABEL_MODES, LabelTargets, vote_distribution
from facenet2expnet.train.runner import run_experiment

FIELDS = [
    "path",
    "image",
    "fer2013_row",
    "usage",
    "label",
    *FERPLUS_VOTES,
    "unknown",
    "NF",
    "ms_strict_majority",
    "pixel_md5",
]
FOLDERS = ["neutral", "happiness", "surprise"]  # three of FER+'s eight class folders


def _face(cls_index: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:48]
    base = [np.sin(xx / 2.0), np.sin(yy / 2.0), np.cos((xx + yy) / 3.0)][cls_index]
    return np.clip(128 + 90 * base + rng.normal(0, 15, (48, 48)), 0, 255).astype(np.uint8)


def make_ferplus(root, per_class=(12, 4), votes=True, duplicate=True):
    """FER+ layout with 3 classes: train/ and valid/, each with votes.csv; one valid face repeats a train face."""
    row = 0
    for split, n in zip(("train", "valid"), per_class):
        rows = []
        for c, folder in enumerate(FOLDERS):
            for i in range(n):
                dup = duplicate and split == "valid" and i == 0  # repeats train face 0 of its class
                img = _face(c, 1000 * c + (0 if dup else i + (500 if split == "valid" else 0)))
                name = f"fer{row:07d}.png"
                path = root / split / folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(path)
                counts = dict.fromkeys(FERPLUS_VOTES, 0)
                counts[folder] = 7
                counts[FERPLUS_VOTES[(FERPLUS_VOTES.index(folder) + 1) % 3]] = 2  # a minority vote
                rows.append(
                    {
                        "path": f"{folder}/{name}",
                        "image": name,
                        "fer2013_row": row,
                        "usage": split,
                        "label": folder,
                        **counts,
                        "unknown": 1,
                        "NF": 0,
                        "ms_strict_majority": 1,
                        "pixel_md5": hashlib.md5(img.tobytes()).hexdigest(),
                    }
                )
                row += 1
        if votes:
            with open(root / split / "votes.csv", "w", newline="") as f:
                w = csv.DictWriter(f, FIELDS)
                w.writeheader()
                w.writerows(rows)
    return root


def test_ferplus_loader_votes_and_protocol(tmp_path):
    ds = load_dataset("ferplus", str(make_ferplus(tmp_path / "fp")))
    assert ds.class_names == ["neutral", "happy", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
    assert ds.official_splits == ("train", "val") and len(ds) == 3 * 12 + 3 * 4
    first = ds.samples[0]
    assert len(first.meta["votes"]) == 8 and sum(first.meta["votes"]) == 9  # unknown / NF votes left out
    (fold,) = make_folds(ds, "official")
    # validation is carved from train (a tenth, stratified); valid is the reported split, which nothing chooses on
    valid = np.array([i for i, s in enumerate(ds.samples) if s.split == "val"])
    assert len(fold.train) + len(fold.val) == 36 and len(fold.val) == 3 and np.array_equal(fold.test, valid)
    assert not set(fold.val) & set(valid) and not set(fold.val) & set(fold.train)
    assert "carved from train" in fold.note
    # the valid face whose pixels repeat a train face (one per class here) is left out of the subset
    assert len(fold.subsets["no_train_duplicates"]) == 12 - 3
    q = vote_distribution(ds)
    assert np.allclose(q.sum(1), 1) and np.array_equal(q.argmax(1), ds.labels)
    assert np.isclose(q[0, ds.labels[0]], 7 / 9)


def test_ferplus_without_votes_and_a_bad_votes_file(tmp_path):
    ds = load_dataset("ferplus", str(make_ferplus(tmp_path / "nv", votes=False)))
    assert {p.kind for p in ds.problems} == {"no-votes", "duplicate"}  # said, not silent
    with pytest.raises(FaceNet2ExpNetError, match="label-mode majority"):
        vote_distribution(ds)
    bad = make_ferplus(tmp_path / "bad")
    (bad / "train" / "votes.csv").write_text("path,neutral\nx.png,1\n")
    with pytest.raises(DatasetLayoutError, match="needs columns"):
        load_dataset("ferplus", str(bad))
    with pytest.raises(DatasetLayoutError, match="expected train/"):
        load_dataset("ferplus", str(tmp_path / "nv" / "train"))


def test_label_modes_draw_what_they_say():
    labels = np.array([0, 1, 2, 1])
    votes = np.array([[1, 0, 0], [0.5, 0.5, 0], [0, 0, 1], [0.2, 0.8, 0]], dtype=np.float32)
    gen = torch.Generator().manual_seed(0)
    idx = np.array([3, 0, 1])
    assert LabelTargets(labels, "majority").batch(idx, gen).tolist() == [1, 0, 1]
    assert torch.allclose(LabelTargets(labels, "crossentropy", votes).batch(idx, gen), torch.from_numpy(votes[idx]))
    draws = torch.stack([LabelTargets(labels, "probability", votes).batch(np.array([1] * 50), gen) for _ in range(40)])
    share = (draws == 0).float().mean().item()  # face 1: half its votes for class 0
    assert 0.4 < share < 0.6 and set(draws.unique().tolist()) == {0, 1}
    with pytest.raises(FaceNet2ExpNetError, match="needs vote distributions"):
        LabelTargets(labels, "probability")
    assert set(LABEL_MODES) == set(TrainConfig.__dataclass_fields__["label_mode"].metadata["choices"])


@pytest.mark.parametrize("mode", ["crossentropy", "probability"])
def test_training_on_votes_reports_valid_both_ways(tmp_path, mode):
    root = make_ferplus(tmp_path / "fp")
    cfg = TrainConfig(
        dataset=f"ferplus:{root}",
        protocol="official",
        method="scratch",
        arch="fast",
        label_mode=mode,
        stage2_epochs=2,
        batch_size=12,
        lr_stage2=0.02,
        cache_dir=str(tmp_path / "cache"),
    )
    report = run_experiment(cfg, str(tmp_path / "run"), progress=False, log=lambda m: None)
    sub = report["folds"][0]["subsets"]["no_train_duplicates"]
    assert sub["n"] == 9 and 0 <= sub["accuracy"] <= 1
    assert "no train duplicates" in (tmp_path / "run" / "report.md").read_text()


def test_majority_mode_on_a_dataset_without_votes_is_unchanged_and_votes_modes_refuse(tmp_path):
    root = make_ferplus(tmp_path / "nv", votes=False)
    cfg = dict(
        dataset=f"ferplus:{root}",
        protocol="official",
        method="scratch",
        arch="fast",
        stage2_epochs=1,
        batch_size=12,
        cache_dir=str(tmp_path / "cache"),
    )
    with pytest.raises(FaceNet2ExpNetError, match="have none"):
        run_experiment(TrainConfig(**cfg, label_mode="crossentropy"), str(tmp_path / "a"), progress=False, log=print)


@pytest.mark.realdata
def test_real_ferplus_counts():
    ds = load_dataset("ferplus", str(shared("ferplus")), check_images=False)
    counts = ds.class_counts()
    assert len(ds) == 26937 + 3396 and counts["contempt"] == 162 + 24
    (fold,) = make_folds(ds, "official")
    assert len(fold.test) == 3396 and 3000 < len(fold.subsets["no_train_duplicates"]) < 3396
    assert abs(len(fold.val) - 2694) < 10 and len(fold.train) + len(fold.val) == 26937
