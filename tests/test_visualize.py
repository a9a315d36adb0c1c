"""Visualization on a tiny synthetic run; the selectivity and silhouette scores on hand-made features."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from facenet2expnet.cli.main import main
from facenet2expnet.eval.selectivity import selectivity_score, silhouette, unit_selectivity
from facenet2expnet.train.config import TrainConfig
from facenet2expnet.train.runner import run_experiment


def test_selectivity_on_known_answer():
    labels = np.array([0] * 10 + [1] * 10)
    peaks = np.zeros((20, 3))
    peaks[:10, 0] = np.arange(10) + 1  # unit 0 fires only for class 0: top-5 all class 0
    peaks[10:, 1] = np.arange(10) + 1  # unit 1 only for class 1
    peaks[::2, 2] = 5.0  # unit 2: alternating classes... its top-4 are images 0,2,4,6 (class 0) at equal value
    peaks[[1, 11], 2] = 9.0  # ...but its two strongest images are one of each class
    sel = unit_selectivity(peaks, labels, k=4)
    assert sel[0] == 1.0 and sel[1] == 1.0
    assert sel[2] == 0.75  # images 1, 11, then 0, 2: classes 0, 1, 0, 0 -> majority 3 of 4
    assert selectivity_score(peaks, labels, k=4) == pytest.approx((1 + 1 + 0.75) / 3)


def test_silhouette_on_known_answer():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.1, (20, 2))
    b = rng.normal(0, 0.1, (20, 2)) + [10, 0]
    feats = np.concatenate([a, b])
    by_cluster = np.array([0] * 20 + [1] * 20)
    by_random = np.tile([0, 1], 20)
    assert silhouette(feats, by_cluster) > 0.95
    assert abs(silhouette(feats, by_random)) < 0.1


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("viz")
    root = base / "ck48"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:48]
    for s in range(6):
        for c, cls in enumerate(["happy", "surprise"]):
            for fr in range(2):
                img = 128 + 90 * np.sin((xx if c == 0 else yy) / 2.0 + rng.uniform(0, 6)) + rng.normal(0, 10, (48, 48))
                p = root / cls / f"S{s + 1:03d}_{c + 1:03d}_{fr:08d}.png"
                p.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(p)
    runs = []
    for method in ("fn2en", "scratch"):
        cfg = TrainConfig(
            dataset=f"ckplus48:{root}",
            classes="happy,surprise",
            method=method,
            folds=3,
            max_folds=1,
            stage1_epochs=2,
            stage2_epochs=2,
            batch_size=8,
            cache_dir=str(base / "cache"),
            val_fraction=0.5,
        )
        run_experiment(cfg, str(base / method), progress=False, log=lambda m: None)
        runs.append(str(base / method))
    return runs


@pytest.mark.slow
def test_visualize_writes_every_figure(tiny_runs, tmp_path, capsys):
    out = tmp_path / "figs"
    assert (
        main(["visualize", tiny_runs[0], "--compare", tiny_runs[1], "--units", "3", "--top-k", "3", "--out", str(out)])
        == 0
    )
    expected = {
        "confusion_recall.png": (1290, 430),
        "curves_fn2en.png": (1500, 420),
        "curves_scratch.png": (1500, 420),
        "neurons.png": None,
        "gradcam_fn2en.png": None,
        "gradcam_scratch.png": None,
        "embedding_expression_fn2en.png": (640, 520),
        "embedding_subject_fn2en.png": (640, 520),
    }
    for name, size in expected.items():
        path = out / name
        assert path.exists() and path.stat().st_size > 5000, name
        with Image.open(path) as im:
            if size:
                assert im.size == size, (name, im.size)
            assert np.asarray(im.convert("L")).std() > 5  # not a blank canvas
    scores = json.load(open(out / "visualization.json"))
    assert set(scores["selectivity"]) == {"fn2en", "scratch", "teacher dlib-resnet29:level2"}
    assert all(0.5 <= v <= 1.0 for v in scores["selectivity"].values())  # two classes: at least half share the majority
    assert set(scores["silhouette"]["fn2en"]) == {"expression", "subject"}
    page = (out / "index.html").read_text()
    assert "neurons.png" in page and "selectivity" in page
    assert "## Figures" in open(os.path.join(tiny_runs[0], "report.md")).read()
    assert main(["visualize", tiny_runs[0], "--what", "nonsense", "--out", str(out)]) == 2
