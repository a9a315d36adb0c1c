"""Training end to end on a tiny synthetic dataset: fn2en, scratch, finetune, probe; resume; NaN; report schema."""

import csv
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from facenet2expnet.cli.main import main
from facenet2expnet.errors import FaceNet2ExpNetError, UnknownNameError
from facenet2expnet.files import atomic_write_csv
from facenet2expnet.models import create_model, list_models, load_checkpoint
from facenet2expnet.train.checkpoint import TrainState
from facenet2expnet.train.config import TrainConfig
from facenet2expnet.train.loop import TrainingDivergedError
from facenet2expnet.train.runner import run_experiment

CLASSES = ["happy", "sadness", "surprise"]


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    """ckplus48 layout, 3 classes with distinct textures, 8 subjects x 1 sequence per class x 2 frames = 48 images."""
    root = tmp_path_factory.mktemp("synth") / "ck48"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:48]
    for s in range(8):
        for c, cls in enumerate(CLASSES):
            for fr in range(2):
                if c == 0:
                    img = 128 + 90 * np.sin(xx / 2.0 + rng.uniform(0, 6))
                elif c == 1:
                    img = 128 + 90 * np.sin(yy / 2.0 + rng.uniform(0, 6))
                else:
                    img = 255 * (((xx - 24 - rng.integers(-4, 5)) ** 2 + (yy - 24) ** 2) < 150)
                img = np.clip(img + rng.normal(0, 15, img.shape), 0, 255).astype(np.uint8)
                path = root / cls / f"S{s + 1:03d}_{c + 1:03d}_{fr + 10:08d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(path)
    return root


def _cfg(root, tmp_path, **kw):
    base = dict(
        dataset=f"ckplus48:{root}",
        protocol="subject-kfold",  # what these tests were written against (auto picks loso for 8 people)
        arch="compact",  # the small net these tests were written against (the default is res48 since 12-04)
        classes="happy,sadness,surprise",
        folds=4,
        max_folds=1,
        stage1_epochs=4,
        stage2_epochs=6,
        batch_size=16,
        stage1_optimizer="sgd",  # what these tests were written against (the default is Adam at 1e-3 since 12-04)
        lr_stage1=0.05,
        lr_stage2=0.02,
        cache_dir=str(tmp_path / "cache"),
        val_fraction=0.34,
    )
    base.update(kw)
    return TrainConfig(**base)


def _bundle(run_dir, name, out_dir, *flags):
    """scripts/bundle_model.py RUN [flags] --name NAME --out-dir OUT in a subprocess -> the card (it must succeed)."""
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "bundle_model.py")
    argv = [sys.executable, script, run_dir, *flags, "--name", name, "--out-dir", str(out_dir)]
    r = subprocess.run(argv, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.load(open(os.path.join(out_dir, name + ".json")))["card"]


def _metrics(run_dir):
    import csv

    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


REPORT_KEYS = {
    "method",
    "dataset",
    "protocol",
    "classes",
    "folds",
    "accuracy_mean",
    "accuracy_std",
    "confusion_matrix",
    "per_class_recall",
}


def _check_report(run_dir, method):
    report = json.load(open(os.path.join(run_dir, "report.json")))
    assert REPORT_KEYS <= set(report)
    assert report["method"] == method and report["classes"] == CLASSES and report["protocol"] == "subject-kfold"
    assert all({"fold", "accuracy", "n_test"} <= set(f) for f in report["folds"])
    assert all(0.0 <= f["val_accuracy"] <= 1.0 for f in report["folds"])  # the selected epoch's, for choosing runs
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (3, 3) and cm.sum() == sum(f["n_test"] for f in report["folds"])
    assert 0.0 <= report["accuracy_mean"] <= 1.0 and set(report["per_class_recall"]) == set(CLASSES)
    for name in ("report.md", "confusion_matrix.png"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 100
    return report


@pytest.mark.slow
def test_fn2en_end_to_end(synth_root, tmp_path):
    run = str(tmp_path / "fn2en")
    report = run_experiment(_cfg(synth_root, tmp_path), run, progress=False, log=lambda m: None)
    _check_report(run, "fn2en")
    assert "only the first 1 of 4 folds were run" in report["notes"]  # a cap below the fold count is said
    rows = _metrics(run)
    s1 = [float(r["train_loss"]) for r in rows if r["stage"] == "stage1"]
    s2 = [float(r["train_loss"]) for r in rows if r["stage"] == "stage2"]
    assert len(s1) == 4 and len(s2) == 6
    assert s1[-1] < s1[0] and s2[-1] < s2[0]  # both stages learn
    assert report["teacher"]["name"] == "dlib-resnet29" and report["teacher"]["layer"] == "level2"
    # the selected checkpoint rebuilds itself and says what it is
    model, meta = load_checkpoint(os.path.join(run, "folds", "fold_00", "best"))
    assert meta["classes"] == CLASSES and meta["tap"] == "level2" and meta["preprocessing"]["size"] == 48
    assert model(torch.zeros(2, 1, 48, 48)).shape == (2, 3)
    # calibrated on the fold's validation faces: the temperature travels in best.json, and the recognizer applies it
    fold = json.load(open(os.path.join(run, "folds", "fold_00", "result.json")))
    cal = fold["calibration"]
    assert meta["temperature"] == cal["temperature"] > 0 and cal["fitted_on_faces"] == fold["n_val"]
    assert 0 <= cal["test_ece_calibrated"] <= 1 and 0 <= cal["val_ece_calibrated"] <= cal["val_ece"] + 0.05
    from facenet2expnet.eval.calibration import softmax
    from facenet2expnet.infer import ExpressionRecognizer
    from facenet2expnet.infer.backend import scores

    rec = ExpressionRecognizer.from_pretrained(os.path.join(run, "folds", "fold_00", "best.json"), detect=False)
    faces = [np.asarray(Image.open(p)) for p in sorted((synth_root / CLASSES[0]).iterdir())[:4]]
    x = rec.preprocessing_.batch(faces).numpy()
    expected = softmax(scores(rec.backend_, x), cal["temperature"])
    assert np.allclose(np.concatenate(rec.predict_proba(faces)), expected, atol=1e-5)
    # bundled, its card carries the carved validation that chose the epoch (what calibration.py fits a temperature on)
    card = _bundle(run, "m", tmp_path / "pretrained")
    chosen = json.load(open(os.path.join(run, "report.json")))["folds"][0]["val_accuracy"]
    assert card["val_acc"] == chosen and card["n_val"] == fold["n_val"] > 0


@pytest.mark.slow
def test_stage1_trains_trunk_only(synth_root, tmp_path, monkeypatch):
    """Stage 1 must not touch the head: its weights stay at their initial values."""
    seen = {}
    real = TrainState._save

    def spy(self, model, opt_state, gen):
        if self.stage_index == 1 and self.epoch == 0 and "head" not in seen:
            seen["head"] = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("head.")}
        real(self, model, opt_state, gen)

    monkeypatch.setattr(TrainState, "_save", spy)
    cfg = _cfg(synth_root, tmp_path, stage2_epochs=1)
    torch.manual_seed(cfg.seed * 1009 + 0)
    init = create_model("compact", 3, target_shape=(128, 8, 8))
    run_experiment(cfg, str(tmp_path / "r"), progress=False, log=lambda m: None)
    assert seen["head"] and all(torch.equal(v, init.state_dict()[k]) for k, v in seen["head"].items())


@pytest.mark.slow
def test_scratch_finetune_probe_and_compare(synth_root, tmp_path, capsys):
    runs = []
    for method, kw in (
        ("scratch", {"eval_flip": True}),
        ("finetune", {"stage2_epochs": 2, "lr_stage2": 0.01}),
        ("probe", {}),
    ):
        run = str(tmp_path / method)
        run_experiment(_cfg(synth_root, tmp_path, method=method, **kw), run, progress=False, log=lambda m: None)
        _check_report(run, method)
        runs.append(run)
    rows = _metrics(runs[0])
    assert {r["stage"] for r in rows} == {"stage2"}  # scratch has no stage 1
    # --eval-flip travels with the checkpoint, so the recognizer scores faces the way validation did
    assert load_checkpoint(os.path.join(runs[0], "folds", "fold_00", "best"))[1]["preprocessing"]["test_flip"] is True
    assert load_checkpoint(os.path.join(runs[1], "folds", "fold_00", "best"))[1]["preprocessing"]["test_flip"] is False
    assert main(["compare"] + runs) == 0
    out = capsys.readouterr().out
    assert all(m in out for m in ("scratch", "finetune", "probe"))


@pytest.mark.slow
def test_resume_after_interruption(synth_root, tmp_path, monkeypatch):
    cfg = _cfg(synth_root, tmp_path, stage1_epochs=2, stage2_epochs=3)
    full = run_experiment(cfg, str(tmp_path / "full"), progress=False, log=lambda m: None)

    # kill the run after its 4th checkpoint: stage 1 epochs 1-2, end of stage 1, stage 2 epoch 1
    real, calls = TrainState._save, {"n": 0}

    def dying(self, model, opt_state, gen):
        real(self, model, opt_state, gen)
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(TrainState, "_save", dying)
    run = str(tmp_path / "killed")
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, run, progress=False, log=lambda m: None)
    monkeypatch.setattr(TrainState, "_save", real)
    assert os.path.exists(os.path.join(run, "folds", "fold_00", "last.pt"))
    assert not os.path.exists(os.path.join(run, "report.json"))
    # the killed invocation's epochs, as its metrics.csv recorded them, made slow: the resumed run's time must include
    # them
    killed_csv = os.path.join(run, "folds", "fold_00", "metrics.csv")
    killed_rows = list(csv.DictReader(open(killed_csv, newline="")))
    assert len(killed_rows) == 3
    for r in killed_rows:
        r["seconds"] = "1000"
    atomic_write_csv(killed_csv, killed_rows, list(killed_rows[0]))
    logs = []
    resumed = run_experiment(cfg, run, progress=False, log=logs.append)  # the same command again continues it
    assert any("resuming at stage2 epoch 2" in m for m in logs)
    assert 3000 <= resumed["seconds"] < 3000 + 600
    rows = _metrics(run)
    assert [(r["stage"], r["epoch"]) for r in rows] == [
        ("stage1", "1"),
        ("stage1", "2"),
        ("stage2", "1"),
        ("stage2", "2"),
        ("stage2", "3"),
    ]
    # deterministic on CPU: the resumed run ends where the uninterrupted one did
    assert resumed["confusion_matrix"] == full["confusion_matrix"]
    assert abs(float(rows[-1]["train_loss"]) - float(_metrics(str(tmp_path / "full"))[-1]["train_loss"])) < 1e-4


@pytest.mark.slow
def test_nan_loss_stops_cleanly(synth_root, tmp_path):
    # SGD at a huge rate diverges within an epoch (Adam's normalized steps would only wander)
    cfg = _cfg(synth_root, tmp_path, stage1_optimizer="sgd", lr_stage1=1e12, stage1_epochs=3)
    with pytest.raises(TrainingDivergedError, match=r"fold 0, stage1, epoch \d+: the loss became (nan|inf)"):
        run_experiment(cfg, str(tmp_path / "nan"), progress=False, log=lambda m: None)
    assert (
        main(
            [
                "train",
                "--dataset",
                f"ckplus48:{synth_root}",
                "--classes",
                "happy,sadness,surprise",
                "--out",
                str(tmp_path / "nan2"),
                "--folds",
                "4",
                "--max-folds",
                "1",
                "--stage1-optimizer",
                "sgd",
                "--lr-stage1",
                "1e12",
                "--stage1-epochs",
                "2",
                "--cache-dir",
                str(tmp_path / "cache"),
                "--no-progress",
            ]
        )
        == 2
    )


def test_unknown_names_list_valid_ones(synth_root, tmp_path):
    with pytest.raises(UnknownNameError, match="finetune, fn2en, probe, scratch"):
        _cfg(synth_root, tmp_path, method="distill")
    with pytest.raises(UnknownNameError, match="compact, fast, paper, res48, res48w, res96"):
        create_model("tiny", 3)
    with pytest.raises(UnknownNameError, match="level2"):
        run_experiment(
            _cfg(synth_root, tmp_path, layer="conv9"), str(tmp_path / "x"), progress=False, log=lambda m: None
        )


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model(name):
    """No NaN, shapes as documented, every parameter gets a gradient."""
    torch.manual_seed(0)
    target = (512, 7, 7) if name == "paper" else (128, 8, 8)
    model = create_model(name, 7, target_shape=target)
    size = 64 if name == "paper" else 48  # the paper net is exercised at a small size to stay fast
    x = torch.randn(2, model.in_channels, size, size)
    f = model.forward_features(x)
    assert tuple(f.shape[1:]) == target
    out = model.forward_head(f)
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_multiply_adds_counts_convs_and_linear_layers():
    """By hand: a 3x3 conv 1 -> 2 on 4 x 4 (padding 1) is 4*4*2 outputs x 9 = 288, a grouped 1x1 conv 2 -> 2 (groups 2)
    32 x 1 = 32, the 32 -> 3 linear layer 96; pooling and BatchNorm add nothing. The cards' figures follow."""
    from facenet2expnet.models import multiply_adds

    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, padding=1),
        torch.nn.BatchNorm2d(2),
        torch.nn.Conv2d(2, 2, 1, groups=2),
        torch.nn.Flatten(),
        torch.nn.Linear(32, 3),
    )
    net.train()
    assert multiply_adds(net, (1, 4, 4)) == 288 + 32 + 96 and net.training  # the mode is put back
    assert round(multiply_adds(create_model("fast", 7)) / 1e6, 1) == 18.5  # docs/models.md
    assert round(multiply_adds(create_model("res48", 7)) / 1e6) == 76
    assert multiply_adds(create_model("res48w", 7)) > 2 * multiply_adds(create_model("res48", 7))


def test_projection_option_maps_to_tap_channels():
    model = create_model("compact", 5, target_shape=(256, 4, 4), projection=True)
    f = model.forward_features(torch.randn(2, 1, 48, 48))
    assert tuple(f.shape[1:]) == (256, 4, 4) and isinstance(model.project, torch.nn.Conv2d)
    f.sum().backward()
    assert model.project.weight.grad is not None


def test_projection_default_comes_from_the_config_and_travels_with_the_checkpoint(tmp_path):
    """fast projects its 64 channels onto the tap's by default, compact does not; either can be overridden,
    and the checkpoint rebuilds what was trained, not the config's default."""
    from facenet2expnet.models.registry import save_checkpoint

    assert isinstance(create_model("fast", 7).project, torch.nn.Conv2d)
    assert isinstance(create_model("compact", 7).project, torch.nn.Identity)
    plain = create_model("fast", 7, projection=False)
    assert isinstance(plain.project, torch.nn.Identity) and plain.trunk[-3].out_channels == 128
    save_checkpoint(plain, str(tmp_path / "plain"), {})
    rebuilt, _ = load_checkpoint(str(tmp_path / "plain"))
    assert isinstance(rebuilt.project, torch.nn.Identity) and rebuilt.arch["projection"] is False


@pytest.mark.slow
@pytest.mark.parametrize("flag, projected", [([], True), (["--no-projection"], False)])
def test_train_cli_fast_config_projection_flag(synth_root, tmp_path, flag, projected):
    run = tmp_path / "fast"
    assert (
        main(
            [
                "train",
                "--dataset",
                f"ckplus48:{synth_root}",
                "--classes",
                "happy,sadness,surprise",
                "--out",
                str(run),
                "--folds",
                "4",
                "--max-folds",
                "1",
                "--arch",
                "fast",
                "--stage1-epochs",
                "1",
                "--stage2-epochs",
                "1",
                "--batch-size",
                "16",
                "--cache-dir",
                str(tmp_path / "cache"),
                "--no-progress",
                *flag,
            ]
        )
        == 0
    )
    model, meta = load_checkpoint(str(run / "folds" / "fold_00" / "best.json"))
    assert meta["arch"]["name"] == "fast" and meta["arch"]["projection"] is projected
    assert isinstance(model.project, torch.nn.Conv2d) is projected


def test_paper_config_trunk_is_pool5_at_224():
    model = create_model("paper", 8, target_shape=(512, 7, 7))
    assert model.input_size == 224
    with torch.no_grad():
        assert tuple(model.trunk(torch.zeros(1, 3, 224, 224)).shape) == (1, 512, 7, 7)


@pytest.mark.slow
def test_stage1_adam_option(synth_root, tmp_path):
    cfg = _cfg(synth_root, tmp_path, stage1_optimizer="adam", lr_stage1=1e-3, stage1_epochs=3, stage2_epochs=1)
    run = str(tmp_path / "adam")
    run_experiment(cfg, run, progress=False, log=lambda m: None)
    s1 = [float(r["train_loss"]) for r in _metrics(run) if r["stage"] == "stage1"]
    assert len(s1) == 3 and s1[-1] < s1[0]
    with pytest.raises(UnknownNameError, match="adam, sgd"):
        _cfg(synth_root, tmp_path, stage1_optimizer="rmsprop")


@pytest.mark.slow
def test_stage1_pretraining_then_init_trunk(synth_root, tmp_path):
    """--stage2-epochs 0 writes a trunk (no labels, no test); --init-trunk starts fn2en from exactly those weights."""
    from facenet2expnet.errors import FaceNet2ExpNetError
    from facenet2expnet.train.loop import build_model
    from facenet2expnet.train.starts import load_trunk

    pre = str(tmp_path / "pre")
    summary = run_experiment(
        _cfg(synth_root, tmp_path, stage1_epochs=2, stage2_epochs=0), pre, progress=False, log=lambda m: None
    )
    assert summary["pretrain_only"] and not os.path.exists(os.path.join(pre, "report.json"))
    fold = summary["folds"][0]
    assert fold["stage1_val_mse"] > 0 and "accuracy" not in fold
    trunk_path = os.path.join(pre, "folds", "fold_00", "trunk.json")
    trunk, meta = load_checkpoint(trunk_path)
    assert meta["stage1_val_mse"] == fold["stage1_val_mse"]

    # the copy: every trunk weight equal, the head left alone (a different class count is fine)
    cfg = _cfg(synth_root, tmp_path, init_trunk=trunk_path)
    model, _ = build_model(cfg, 5, (128, 8, 8))
    before_head = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("head.")}
    load_trunk(model, trunk_path)
    for k, v in trunk.state_dict().items():
        if not k.startswith("head."):
            assert torch.equal(model.state_dict()[k], v), k
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before_head.items())

    # a run from it, with no further stage 1, trains and reports
    run = str(tmp_path / "refine")
    report = run_experiment(
        _cfg(synth_root, tmp_path, init_trunk=trunk_path, stage1_epochs=0, stage2_epochs=2),
        run,
        progress=False,
        log=lambda m: None,
    )
    assert report["config"]["init_trunk"] == trunk_path and len(report["folds"]) == 1

    # mismatches and misuse are named
    with pytest.raises(FaceNet2ExpNetError, match="does not match"):
        load_trunk(build_model(_cfg(synth_root, tmp_path, projection=True), 3, (64, 4, 4))[0], trunk_path)
    with pytest.raises(FaceNet2ExpNetError, match="needs --method fn2en"):
        _cfg(synth_root, tmp_path, method="scratch", stage2_epochs=0)
    with pytest.raises(FaceNet2ExpNetError, match="Drop --eval-flip for --method probe"):
        _cfg(synth_root, tmp_path, method="probe", eval_flip=True)
    with pytest.raises(FaceNet2ExpNetError, match="finetune does not use one"):
        _cfg(synth_root, tmp_path, method="finetune", init_trunk=trunk_path)
    assert (
        _cfg(synth_root, tmp_path, method="scratch", init_trunk=trunk_path).init_trunk == trunk_path
    )  # e.g. a model refined elsewhere


def test_init_trunk_from_a_bundled_model_by_name(synth_root, tmp_path):
    """--init-trunk fer2013-fn2en-fast starts from the bundled model's trunk (refine it on your own data);
    its int8 ONNX export has no torch weights and is refused by name."""
    from facenet2expnet.errors import FaceNet2ExpNetError
    from facenet2expnet.models.pretrained import resolve_model
    from facenet2expnet.train.loop import build_model
    from facenet2expnet.train.starts import load_trunk

    bundled, _ = load_checkpoint(resolve_model("fer2013-fn2en-fast"))
    model, _ = build_model(_cfg(synth_root, tmp_path, arch="fast"), 3, (128, 8, 8))
    load_trunk(model, "fer2013-fn2en-fast")
    trunk = {k: v for k, v in bundled.state_dict().items() if not k.startswith("head.")}
    assert trunk and all(torch.equal(model.state_dict()[k], v) for k, v in trunk.items())
    with pytest.raises(FaceNet2ExpNetError, match="ONNX export"):
        load_trunk(model, "fer2013-fn2en-fast-int8")


def test_head_init_keep_is_a_warm_restart_of_the_whole_net(synth_root, tmp_path):
    """--head-init keep (scripts/cycle.py's warm restarts) copies every weight, the last layer too; other classes
    than the start's, or no start, are refused with the flag that works."""
    from facenet2expnet.errors import FaceNet2ExpNetError
    from facenet2expnet.models.pretrained import resolve_model
    from facenet2expnet.train.config import TrainConfig
    from facenet2expnet.train.loop import build_model
    from facenet2expnet.train.starts import load_trunk

    bundled, meta = load_checkpoint(resolve_model("fer2013-fn2en-fast"))
    model, _ = build_model(_cfg(synth_root, tmp_path, arch="fast"), len(meta["classes"]), (128, 8, 8))
    load_trunk(model, "fer2013-fn2en-fast", head="keep", classes=meta["classes"])
    assert all(torch.equal(model.state_dict()[k], v) for k, v in bundled.state_dict().items())
    with pytest.raises(FaceNet2ExpNetError, match="--head-init probe"):
        load_trunk(model, "fer2013-fn2en-fast", head="keep", classes=list(reversed(meta["classes"])))
    other, _ = build_model(_cfg(synth_root, tmp_path, arch="res48"), len(meta["classes"]), (128, 8, 8))
    with pytest.raises(FaceNet2ExpNetError, match=r"\(fast, .*does not match this run's \(res48.*same --arch"):
        load_trunk(other, "fer2013-fn2en-fast", head="keep", classes=meta["classes"])  # another architecture
    with pytest.raises(FaceNet2ExpNetError, match="--init-trunk MODEL"):
        TrainConfig(dataset=f"ckplus48:{synth_root}", method="scratch", head_init="keep")


def test_stage1_targets_follow_their_images():
    """Each stage-1 input gets the teacher features of that very image (or of its mirror when flipped)."""
    from facenet2expnet.train.stages import stage1_targets

    rng = np.random.default_rng(0)
    store = rng.normal(size=(50, 2, 3, 2, 2)).astype(np.float16)
    for _ in range(20):
        idx = rng.choice(50, size=17, replace=False)  # a shuffled batch, as the loader draws it
        mirrored = rng.random(17) < 0.5
        got = stage1_targets(store, idx, mirrored).numpy()
        want = np.stack([store[i, int(m)] for i, m in zip(idx, mirrored)]).astype(np.float32)
        np.testing.assert_array_equal(got, want)


def test_eval_flip_scores_a_face_and_its_mirror_alike():
    """Test-time mirroring averages the logits of each face and its mirror, so a face and its mirror score alike."""
    import dataclasses

    from facenet2expnet.models.registry import default_preprocessing
    from facenet2expnet.train.stages import predict_logits

    torch.manual_seed(0)
    model = create_model("compact", 3, target_shape=(128, 8, 8))
    pp = default_preprocessing("compact")
    faces = torch.randint(0, 256, (4, 1, 48, 48), dtype=torch.uint8)
    images = torch.cat([faces, faces.flip(3)])  # rows 4..7 mirror rows 0..3
    idx = np.arange(8)
    plain = predict_logits(model, images, idx, pp)
    averaged = predict_logits(model, images, idx, dataclasses.replace(pp, test_flip=True))
    assert not torch.allclose(plain[:4], plain[4:], atol=1e-4)  # the net itself is not mirror-symmetric
    torch.testing.assert_close(averaged[:4], averaged[4:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(averaged[:4], 0.5 * (plain[:4] + plain[4:]), atol=1e-5, rtol=1e-5)


def _sample_value(f):
    """A valid non-default value for config field ``f`` (what a user might type)."""
    import typing

    from facenet2expnet.train.config import field_defaults

    default = field_defaults()[f.name]
    choices = f.metadata.get("choices")
    if choices:
        return [c for c in choices if c != default][0]
    hint = typing.get_type_hints(TrainConfig)[f.name]
    base = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    typ = base[0]
    if typ is bool:
        return not default
    if typ is int:
        return (default or 0) + 2
    if typ is float:
        return round((default or 0.0) + 0.25, 4) if f.name not in ("scale_min",) else 0.8
    if typing.get_args(typ) == (str,):  # list[str]: paths
        return ["runs/a/best.json", "runs/b/best.json"]
    if typ is list or typing.get_origin(typ) is list:
        return [0.5, 2.0]
    return "ckplus48:/data/x" if f.name == "dataset" else f"value-of-{f.name}"


@pytest.mark.slow
def test_every_config_field_has_a_generated_flag():
    """Walk every TrainConfig field: its flag exists, parses to the field's type, and lands in the config."""
    import argparse
    import dataclasses

    from facenet2expnet.cli.main import build_parser
    from facenet2expnet.train.recipes import config_from_args, flag_name

    parser = build_parser()
    for f in dataclasses.fields(TrainConfig):
        value = _sample_value(f)
        if isinstance(value, bool):
            argv = [flag_name(f.name) if value else "--no-" + f.name.replace("_", "-")]
        elif isinstance(value, list):
            argv = [flag_name(f.name), *map(str, value)]
        else:
            argv = [flag_name(f.name), str(value)]
        args = parser.parse_args(["train", "--out", "x", *argv])
        assert getattr(args, f.name) == value, f.name
        kw = {}
        if f.name in ("init_trunk", "aux_weight", "distill_from"):
            kw = {"method": "fn2en"}
        d = dataclasses.asdict(TrainConfig(**kw))
        d.update({f.name: value})
        if f.name == "method" and value != "fn2en":
            d["stage2_epochs"] = 3
        cfg = config_from_args(argparse.Namespace(**{f.name: value}), base={k: v for k, v in d.items() if k != f.name})
        assert getattr(cfg, f.name) == value, f.name
    # help text comes from the field
    help_text = parser._subparsers._group_actions[0].choices["train"].format_help()
    assert (
        "our extension: weight of the stage-1 loss" in help_text
        and "--dropout" in help_text
        and "--probe-C" in help_text
    )


def test_config_file_and_flags_layer(tmp_path, synth_root):
    """--config FILE sets fields; flags typed on the command line override it; unknown fields are named."""
    import argparse

    from facenet2expnet.errors import FaceNet2ExpNetError
    from facenet2expnet.train.recipes import config_from_args

    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'method = "scratch"\narch = "fast"\ndropout = 0.25\n\n[recipe]\ndescription = "ignored by train"\n'
    )
    cfg = config_from_args(argparse.Namespace(config=str(recipe), dropout=0.1, dataset="ckplus48:x"))
    assert (cfg.method, cfg.arch, cfg.dropout) == ("scratch", "fast", 0.1)
    (tmp_path / "bad.toml").write_text("dropuot = 0.2\n")
    with pytest.raises(FaceNet2ExpNetError, match="unknown field.*dropuot"):
        config_from_args(argparse.Namespace(config=str(tmp_path / "bad.toml")))
    with pytest.raises(FaceNet2ExpNetError, match="--arch fast"):
        config_from_args(argparse.Namespace(config="fast"))


@pytest.mark.slow
def test_resume_with_a_changed_config_is_a_named_error(synth_root, tmp_path):
    run = str(tmp_path / "run")
    cfg = _cfg(synth_root, tmp_path, method="scratch", stage2_epochs=1)
    first = run_experiment(cfg, run, progress=False, log=lambda m: None)
    assert open(os.path.join(run, "config.key")).read().strip() == cfg.key()
    changed = _cfg(synth_root, tmp_path, method="scratch", stage2_epochs=1, dropout=0.2)
    with pytest.raises(Exception, match=r"configuration differs.*dropout: run has 0.5, now 0.2"):
        run_experiment(changed, run, resume=True, progress=False, log=lambda m: None)
    # the same config resumes (a runtime field such as the cache dir does not count); so does the CLI with --out alone
    same = _cfg(synth_root, tmp_path, method="scratch", stage2_epochs=1, cache_dir=str(tmp_path / "elsewhere"))
    report_path = os.path.join(run, "report.json")
    json.dump({**json.load(open(report_path)), "code": "0123abc"}, open(report_path, "w"))  # trained by older code
    again = run_experiment(same, run, resume=True, progress=False, log=lambda m: None)
    assert again["accuracy_mean"] == first["accuracy_mean"]
    assert again["seconds"] == first["seconds"] > 0  # re-reading a finished run adds no time to what it cost
    assert again["code"] == "0123abc"  # and names the code that trained it, not the code that re-read it
    assert main(["train", "--out", run, "--resume", "--no-progress"]) == 0
    assert main(["train", "--out", run, "--resume", "--no-progress", "--lr-stage2", "0.5"]) == 2


def test_bundled_model_card_commands_parse_as_written():
    """Every command on a bundled model's card is a valid `facenet2expnet train` command line today."""
    import glob
    import shlex

    from facenet2expnet.cli.main import build_parser
    from facenet2expnet.train.recipes import config_from_args

    here = os.path.join(os.path.dirname(load_checkpoint.__code__.co_filename), "..", "pretrained")
    metas = [json.load(open(p)) for p in glob.glob(os.path.join(here, "*.json"))]
    commands = [
        (m["arch"]["name"], m["card"][k])
        for m in metas
        for k in ("command", "stage1_command")
        if m.get("card", {}).get(k)
    ]
    assert len(commands) >= 4  # the fast and the accurate model, each with its stage-1 command
    for arch, command in commands:
        argv = shlex.split(command)
        assert argv[:2] == ["facenet2expnet", "train"], command
        args = build_parser().parse_args(argv[1:])  # exits (SystemExit) on an unknown flag
        cfg = config_from_args(args)
        assert cfg.dataset.split(":")[0] in ("fer2013", "ferplus") and cfg.arch == arch, command  # trains this net


def test_refining_knobs_run_together(synth_root, tmp_path):
    """The accurate recipe's knobs and our extension train together: mixup, random erasing, label smoothing,
    warm-up, a constant schedule and the stage-1 loss kept while refining (aux_weight)."""
    cfg = _cfg(
        synth_root,
        tmp_path,
        stage1_epochs=1,
        stage2_epochs=3,
        mixup=0.2,
        erasing=0.5,
        label_smoothing=0.1,
        warmup_epochs=1,
        schedule="constant",
        aux_weight=0.5,
        arch="res48",
        target_norm="channel",
    )
    run = str(tmp_path / "knobs")
    report = run_experiment(cfg, run, progress=False, log=lambda m: None)
    rows = _metrics(run)
    lrs = [float(r["lr"]) for r in rows if r["stage"] == "stage2"]
    assert lrs == [0.01, 0.02, 0.02]  # warm-up epoch at half the rate, then constant
    assert all(np.isfinite(float(r["train_loss"])) for r in rows) and report["stage1_val_r2"] is not None
    with pytest.raises(Exception, match="aux-weight keeps fn2en's stage-1 loss"):
        _cfg(synth_root, tmp_path, method="scratch", aux_weight=0.5)


def test_distillation_loss_is_hintons_soft_term():
    """T² KL(teacher ‖ student) at temperature T: zero for equal logits, and its gradient is T (p_s - p_t) / B."""
    from facenet2expnet.train.distill import distillation_loss

    torch.manual_seed(0)
    s, t = torch.randn(5, 7, requires_grad=True), torch.randn(5, 7)
    assert distillation_loss(t.clone(), t, 4.0).abs().item() < 1e-6
    loss = distillation_loss(s, t, 4.0)
    loss.backward()
    want = 4.0 * (torch.softmax(s.detach() / 4, 1) - torch.softmax(t / 4, 1)) / 5
    assert loss.item() > 0 and torch.allclose(s.grad, want, atol=1e-6)


def test_distillation_teachers_stay_frozen_and_change_the_training(synth_root, tmp_path):
    """Refining with --distill-from: the teachers (ours, loaded from checkpoints) get no gradient and keep their
    weights, sit outside the optimizer, and the soft term changes what the student learns. Bad teachers are
    named with the fix."""
    from facenet2expnet.train import stages
    from facenet2expnet.train.distill import FrozenEnsemble

    teacher_run = str(tmp_path / "teacher")
    run_experiment(
        _cfg(synth_root, tmp_path, method="scratch", stage2_epochs=2), teacher_run, progress=False, log=lambda m: None
    )
    teacher_ckpt = os.path.join(teacher_run, "folds", "fold_00", "best.json")
    before = {k: v.clone() for k, v in load_checkpoint(teacher_ckpt)[0].state_dict().items()}

    seen = {}
    real_load = FrozenEnsemble.load

    def spy(*a, **kw):  # keep the ensemble the run builds, to inspect it after training
        seen["ens"] = real_load(*a, **kw)
        return seen["ens"]

    optimizers = []
    real_sgd = stages.sgd

    def spy_sgd(groups, lr, cfg):
        optimizers.append(real_sgd(groups, lr, cfg))
        return optimizers[-1]

    import unittest.mock as mock

    plain, distilled = str(tmp_path / "plain"), str(tmp_path / "distilled")
    run_experiment(
        _cfg(synth_root, tmp_path, method="scratch", stage2_epochs=2), plain, progress=False, log=lambda m: None
    )
    with mock.patch.object(FrozenEnsemble, "load", side_effect=spy), mock.patch.object(stages, "sgd", spy_sgd):
        cfg = _cfg(
            synth_root,
            tmp_path,
            method="scratch",
            stage2_epochs=2,
            distill_from=[teacher_ckpt, teacher_ckpt],
            distill_weight=0.7,
            distill_temperature=3.0,
        )
        run_experiment(cfg, distilled, progress=False, log=lambda m: None)
    ens = seen["ens"]
    assert len(ens.models) == 2 and all(not m.training for m in ens.models)
    assert all(not p.requires_grad and p.grad is None for p in ens.parameters())
    for m in ens.models:
        assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())  # weights untouched
    in_optimizer = {id(p) for o in optimizers for g in o.param_groups for p in g["params"]}
    assert not in_optimizer & {id(p) for p in ens.parameters()}
    losses = [[float(r["train_loss"]) for r in _metrics(d)] for d in (plain, distilled)]
    assert losses[0] != losses[1]  # same seed and batches: only the soft term differs
    saved = json.load(open(os.path.join(distilled, "folds", "fold_00", "best.json")))
    assert saved["config"]["distill_from"] == [teacher_ckpt, teacher_ckpt]

    with pytest.raises(FaceNet2ExpNetError, match="are not this run's"):
        run_experiment(
            _cfg(synth_root, tmp_path, method="scratch", classes="happy,surprise", distill_from=[teacher_ckpt]),
            str(tmp_path / "x1"),
            progress=False,
            log=lambda m: None,
        )
    with pytest.raises(FaceNet2ExpNetError, match="ONNX export"):
        FrozenEnsemble.load(["fer2013-fn2en-fast-int8"], ["a"], None)
    with pytest.raises(FaceNet2ExpNetError, match="probe"):
        _cfg(synth_root, tmp_path, method="probe", distill_from=[teacher_ckpt])
    with pytest.raises(FaceNet2ExpNetError, match="need 0 < weight <= 1"):
        _cfg(synth_root, tmp_path, method="scratch", distill_from=[teacher_ckpt], distill_weight=1.5)


def test_random_erasing_and_mixup():
    from facenet2expnet.train.augment import mixup_pairs, random_erasing

    gen = torch.Generator().manual_seed(0)
    x = torch.full((400, 1, 48, 48), 7.0)
    erased = random_erasing(x, gen, p=0.5)
    changed = (erased != 7.0).flatten(1).any(1)
    assert 0.4 < changed.float().mean() < 0.6  # about half the images
    share = (erased != 7.0).flatten(1).float().mean(1)[changed]
    assert share.min() > 0.005 and share.max() < 0.3  # one rectangle of 2-25% of the area
    assert random_erasing(x, gen, p=0.0).equal(x)
    a = torch.arange(8.0).view(8, 1, 1, 1).expand(8, 1, 4, 4)
    mixed, perm, lam = mixup_pairs(a, gen, alpha=0.4)
    assert 0.0 <= lam <= 1.0 and sorted(perm.tolist()) == list(range(8))
    torch.testing.assert_close(mixed, lam * a + (1 - lam) * a[perm])


def test_a_bundled_stage1_trunk_starts_runs_and_is_no_recognizer(synth_root, tmp_path):
    """scripts/bundle_model.py --trunk: the trunk in float16 without its (untrained) head and a card; --init-trunk
    takes it and copies its weights (to float16 rounding); the recognizer refuses it with the command to use."""
    from facenet2expnet.errors import FaceNet2ExpNetError
    from facenet2expnet.infer import ExpressionRecognizer
    from facenet2expnet.train.loop import build_model
    from facenet2expnet.train.starts import load_trunk

    pre = str(tmp_path / "pre")
    run_experiment(
        _cfg(synth_root, tmp_path, stage1_epochs=1, stage2_epochs=0), pre, progress=False, log=lambda m: None
    )
    out = tmp_path / "pretrained"
    card = _bundle(pre, "t", out, "--trunk")
    assert card["kind"] == "stage1-trunk" and card["epochs"] == 1 and card["val_r2"] is not None
    trunk, _ = load_checkpoint(str(out / "t.json"))
    original, _ = load_checkpoint(os.path.join(pre, "folds", "fold_00", "trunk.json"))
    model, _ = build_model(_cfg(synth_root, tmp_path), 3, (128, 8, 8))
    load_trunk(model, str(out / "t.json"))
    for k, v in original.state_dict().items():
        if not k.startswith("head.") and v.is_floating_point():
            assert torch.allclose(model.state_dict()[k], v, rtol=1e-3, atol=1e-3), k
    with pytest.raises(FaceNet2ExpNetError, match="stage-1 trunk"):
        ExpressionRecognizer.from_pretrained(str(out / "t.json"))


@pytest.mark.slow
def test_the_papers_stage1_fits_at_its_defaults(synth_root, tmp_path, capsys):
    """`--init-trunk none` (stage 1 from random weights on the run's own faces) with every other setting at its
    default fits the teacher better than its mean map (held-out R² > 0) on a tiny set, and the run says so."""
    out = tmp_path / "paper"
    argv = ["train", "--dataset", f"ckplus48:{synth_root}", "--init-trunk", "none", "--out", str(out)]
    argv += ["--folds", "4", "--max-folds", "1", "--val-fraction", "0.34"]  # the tiny set's folds, not the training
    argv += ["--stage2-epochs", "2", "--cache-dir", str(tmp_path / "cache"), "--no-progress"]  # refining: for time
    assert main(argv) == 0
    fold = json.load(open(out / "report.json"))["folds"][0]
    assert fold["init_trunk"] is None and fold["stage1_epochs"] == 100, fold  # 2 steps an epoch: the cap
    assert fold["stage1_val_r2"] > 0 and fold["stage1_train_r2"] > 0, fold
    printed = capsys.readouterr().out
    assert "fn2en: res48 from random weights, stage 1 on these faces first" in printed  # the run's first line
    assert f"stage 1 R² {fold['stage1_val_r2']:.3f} held out" in printed and "chosen, validation" in printed
    assert f"{fold['stage1_val_r2']:.3f} |" in (out / "report.md").read_text()


def test_fn2en_at_its_defaults_probes_the_chosen_start_and_the_label_free_trunk_is_one_flag_away(
    synth_root, tmp_path, capsys, monkeypatch
):
    """`train --dataset D --out R`: fn2en from the start the small-set suite chose (ferplus-fn2en-accurate), its
    head but the last layer loaded, that layer fitted by logistic regression, nothing refined, and no teacher pass.
    `--init-trunk fn2en-res48-trunk`: the label-free trunk, a new head, the trunk refined at a tenth of the head's
    rate."""
    from facenet2expnet.train import loop, stages

    seen = {}
    real_load, real_sgd, real_probe = loop.load_trunk, stages.sgd, loop.fit_head_by_probe

    def spy_load(model, path, **kw):
        seen["trunk"], seen["head"] = path, kw.get("head")
        real_load(model, path, **kw)

    def spy_sgd(groups, lr, cfg):
        seen["scales"] = sorted(g["lr_scale"] for g in groups)
        return real_sgd(groups, lr, cfg)

    def spy_probe(*a, **kw):
        seen["probed"] = True
        return real_probe(*a, **kw)

    monkeypatch.setattr(loop, "load_trunk", spy_load)
    monkeypatch.setattr(stages, "sgd", spy_sgd)
    monkeypatch.setattr(loop, "fit_head_by_probe", spy_probe)
    common = ["--dataset", f"ckplus48:{synth_root}", "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    common += ["--folds", "4", "--max-folds", "1", "--val-fraction", "0.34", "--no-baselines"]
    assert main(["train", *common, "--out", str(tmp_path / "default")]) == 0
    assert seen["trunk"] == "ferplus-fn2en-accurate" and seen["head"] == "probe" and seen["probed"]
    assert "scales" not in seen  # no refining step at all
    assert not (tmp_path / "cache").exists() or not os.listdir(tmp_path / "cache")  # no teacher features
    fold = json.load(open(tmp_path / "default" / "report.json"))["folds"][0]
    assert fold["init_trunk"] == "ferplus-fn2en-accurate" and fold["stage2_epochs"] == 0
    assert "the start the small-set suite chose" in capsys.readouterr().out
    seen.clear()
    label_free = ["--init-trunk", "fn2en-res48-trunk", "--stage2-epochs", "1", "--out", str(tmp_path / "lf")]
    assert main(["train", *common, *label_free]) == 0
    assert seen == {"trunk": "fn2en-res48-trunk", "head": "random", "scales": [0.1, 1.0]}
    assert "bundled label-free stage-1 trunk fn2en-res48-trunk" in capsys.readouterr().out


def test_amp_auto_is_bf16_only_where_the_cpu_has_bf16_hardware(tmp_path):
    """--amp auto must not pick emulated bf16 (several times slower on AVX2-only CPUs): the flags decide."""
    from facenet2expnet.devices import cpu_info, native_bf16, resolve_amp
    from facenet2expnet.train.config import upgraded

    cpu = torch.device("cpu")
    avx2_only = ["fpu", "sse2", "avx", "avx2", "fma"]
    assert not resolve_amp("auto", cpu, avx2_only) and not native_bf16(cpu, avx2_only + ["avx512f"])
    assert resolve_amp("auto", cpu, avx2_only + ["avx512f", "avx512_bf16"]) and resolve_amp("auto", cpu, ["amx_bf16"])
    assert resolve_amp("bf16", cpu, avx2_only) and not resolve_amp("off", cpu, ["avx512_bf16"])
    with pytest.raises(UnknownNameError, match="known amps: auto, bf16, off"):
        resolve_amp("fp8", cpu)
    # a machine's own flags are read from /proc/cpuinfo (a fake one here), and an unreadable file means none
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n")
    assert cpu_info(str(fake)) == {"model": "Test CPU", "flags": ["fpu", "avx2", "avx512_bf16"]}
    assert cpu_info(str(tmp_path / "missing")) == {"model": "", "flags": []}
    # run dirs and checkpoints written when --amp was a switch still load, with the same meaning
    assert upgraded({"amp": True})["amp"] == "bf16" and upgraded({"amp": False})["amp"] == "off"
    assert TrainConfig.from_dict({"dataset": "x:y", "amp": False}).amp == "off"


def test_a_cycle_continues_the_committed_chain_and_keeps_the_better_weights(synth_root, tmp_path, monkeypatch):
    """scripts/cycle.py: a chain starts from a finished run (refused if its validation was carved otherwise), each
    cycle warm-restarts the committed checkpoint, and the checkpoint is replaced only when validation improves;
    the history keeps every cycle with its cost."""
    import importlib.util

    from facenet2expnet.errors import FaceNet2ExpNetError

    spec = importlib.util.spec_from_file_location(
        "cycle", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "cycle.py")
    )
    cycle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cycle)
    fields = dict(method="scratch", stage2_epochs=2, select="val", head_init="random")
    seed = str(tmp_path / "seed")
    run_experiment(_cfg(synth_root, tmp_path, **fields), seed, progress=False, log=lambda m: None)
    recipe = tmp_path / "cycle.toml"
    recipe.write_text(
        "\n".join(
            f"{k} = {json.dumps(v)}"
            for k, v in {**_cfg(synth_root, tmp_path, **fields).to_dict(), "stage2_epochs": 1}.items()
            if k not in ("init_trunk", "head_init", "refit", "baselines", "distill_from") and v is not None
        )
    )
    monkeypatch.setenv("HOME", str(tmp_path))  # runs under the home are written as ~/..., and read where they are
    monkeypatch.setattr(cycle, "CHAINS", {"t": str(recipe)})
    monkeypatch.setattr(cycle, "CHAINS_DIR", str(tmp_path / "chains"))
    monkeypatch.setattr(cycle, "HISTORY", str(tmp_path / "cycles.json"))
    with pytest.raises(FaceNet2ExpNetError, match="no checkpoint yet"):
        cycle.main(["t"])
    other = str(tmp_path / "other")
    run_experiment(_cfg(synth_root, tmp_path, seed=1, **fields), other, progress=False, log=lambda m: None)
    with pytest.raises(FaceNet2ExpNetError, match="carved its validation differently"):
        cycle.main(["t", "--seed-run", other])
    assert cycle.main(["t", "--seed-run", seed]) == 0
    assert cycle.main(["t", "--threads", "1", "--out", str(tmp_path / "runs")]) == 0
    history = json.load(open(tmp_path / "cycles.json"))["t"]["cycles"]
    assert [h["cycle"] for h in history] == [0, 1] and history[0]["replaced"]
    assert history[1]["start"].endswith(os.path.join("chains", "t", "model.json")) and history[1]["seconds"] > 0
    assert history[0]["run"] == "~/seed" and history[1]["run"] == "~/runs/t-cycle01"
    assert history[1]["replaced"] == (history[1]["val_acc"] > history[0]["val_acc"])
    kept = str(tmp_path / "runs" / "t-cycle01") if history[1]["replaced"] else seed
    # the next cycle's length doubles after each cycle that was not kept (else it would repeat itself exactly)
    runs = [[True], [True, False], [True, False, False]]
    assert [cycle.cycle_epochs([{"replaced": r, "recipe": "a"} for r in seq], 10, "a") for seq in runs] == [10, 20, 40]
    assert cycle.cycle_epochs([{"replaced": True}, {"replaced": False, "recipe": "a"}], 10, "b") == 10  # new recipe
    chain, meta = load_checkpoint(str(tmp_path / "chains" / "t" / "model.json"))
    best, _ = load_checkpoint(os.path.join(kept, "folds", "fold_00", "best.json"))
    assert meta["weights_dtype"] == "float16"
    for k, v in best.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(chain.state_dict()[k], v, rtol=1e-2, atol=1e-2), k


def test_logit_adjusted_loss_shifts_the_loss_by_the_class_prior(synth_root, tmp_path):
    """--logit-adjust tau: the loss sees logits + tau * log(prior of the training faces), rare classes gaining a
    margin; predictions and accuracy use the plain logits. A short run trains with it end to end."""
    from facenet2expnet.data.protocols import Fold
    from facenet2expnet.train.distributed import Dist
    from facenet2expnet.train.stages import Refine

    labels = np.array([0] * 6 + [1] * 3 + [2] * 1)
    fold = Fold(0, np.arange(10), np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    cfg = _cfg(synth_root, tmp_path, method="scratch", logit_adjust=0.5)
    refine = Refine(cfg, fold, None, labels, None, None, Dist())
    prior = (np.array([6, 3, 1, 0]) + 1.0) / 14.0  # a fourth class with no training face: still finite
    assert np.allclose(refine.logit_adjustment(4).numpy(), 0.5 * np.log(prior), atol=1e-6)
    run = str(tmp_path / "la")
    run_experiment(
        _cfg(synth_root, tmp_path, method="scratch", stage2_epochs=2, logit_adjust=1.0),
        run,
        progress=False,
        log=lambda m: None,
    )
    assert json.load(open(os.path.join(run, "config.json")))["logit_adjust"] == 1.0
    assert json.load(open(os.path.join(run, "report.json")))["accuracy_mean"] > 0.5  # 3 classes: chance is 1/3


def test_a_resumed_run_refuses_a_start_whose_weights_changed(synth_root, tmp_path):
    """start.json pins the sha256 of the weights a run started from: the same command resumes while they are the
    same, and is refused (never a run of mixed starts) once the file under that name was replaced."""
    import shutil

    from safetensors.torch import load_file, save_file

    from facenet2expnet.errors import FaceNet2ExpNetError
    from facenet2expnet.files import file_sha256

    fields = dict(method="scratch", stage2_epochs=1, select="val", head_init="random")
    seed = str(tmp_path / "seed")
    run_experiment(_cfg(synth_root, tmp_path, **fields), seed, progress=False, log=lambda m: None)
    start = tmp_path / "start"
    for ext in (".json", ".safetensors"):
        shutil.copy(os.path.join(seed, "folds", "fold_00", "best" + ext), str(start) + ext)
    warm = _cfg(synth_root, tmp_path, **{**fields, "head_init": "keep", "init_trunk": str(start) + ".json"})
    run = str(tmp_path / "warm")
    first = run_experiment(warm, run, progress=False, log=lambda m: None)
    pinned = json.load(open(os.path.join(run, "start.json")))
    assert pinned["sha256"] == file_sha256(str(start) + ".safetensors")
    again = run_experiment(warm, run, resume=True, progress=False, log=lambda m: None)
    assert again["accuracy_mean"] == first["accuracy_mean"]
    weights = load_file(str(start) + ".safetensors")
    save_file({k: v + 1 if v.is_floating_point() else v for k, v in weights.items()}, str(start) + ".safetensors")
    with pytest.raises(FaceNet2ExpNetError, match="other weights than when this run began.*new --out"):
        run_experiment(warm, run, resume=True, progress=False, log=lambda m: None)
