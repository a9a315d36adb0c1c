"""Recognizer API, predict CLI (images, folders, video, formats, bad inputs), ONNX export parity, the bundled model."""

import csv
import importlib.util
import io
import json
import os

import numpy as np
import pytest
import torch
from conftest import shared, write_face

from facenet2expnet.cli.main import main
from facenet2expnet.data.preprocess import Preprocessing
from facenet2expnet.infer import ExpressionRecognizer
from facenet2expnet.models import create_model, list_models, save_checkpoint

CLASSES = ["anger", "happy", "surprise"]


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("compact", len(CLASSES), target_shape=(128, 8, 8)).eval()
    path = str(tmp_path_factory.mktemp("ckpt") / "tiny")
    pp = Preprocessing(size=48, channels="L", mean=(128.0,), std=(64.0,), face_padding=0.25)
    save_checkpoint(
        model,
        path,
        {"classes": CLASSES, "preprocessing": pp.to_dict(), "method": "scratch", "teacher": None, "tap": None},
    )
    return path


def test_recognizer_on_cropped_arrays(tiny_ckpt):
    rec = ExpressionRecognizer.from_pretrained(tiny_ckpt, detect=False)
    faces = [np.random.default_rng(i).integers(0, 255, (60, 50, 3), dtype=np.uint8) for i in range(5)]
    probs = rec.predict_proba(faces)
    assert len(probs) == 5 and all(p.shape == (1, 3) for p in probs)
    assert np.allclose([p.sum() for p in probs], 1.0, atol=1e-5)
    out = rec.predict(faces[0])
    assert out[0]["label"] in CLASSES and set(out[0]["probabilities"]) == set(CLASSES)
    # batching does not change the answer
    single = np.concatenate([rec.predict_proba(f) for f in faces])
    assert np.allclose(single, np.concatenate(probs), atol=1e-5)


def test_recognizer_params_only_in_init():
    rec = ExpressionRecognizer(model="nowhere", detector="opencv")
    assert rec.model == "nowhere"
    assert not [k for k in vars(rec) if k.endswith("_")]  # nothing loaded (no learned attribute) in the constructor


def test_recognizer_loads_its_backend_and_detector_once(monkeypatch):
    """from_pretrained + many predict / predict_proba / faces_and_chips calls, also from threads at once: one backend
    load and one detector, never swapped under a caller (the server shares one recognizer between threads)."""
    import threading

    import facenet2expnet.face as face
    import facenet2expnet.infer.recognizer as recognizer

    loads, detectors = [], []
    real_load, real_detector = recognizer.load_backend, face.create_detector
    monkeypatch.setattr(recognizer, "load_backend", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    monkeypatch.setattr(face, "create_detector", lambda *a, **k: detectors.append(a) or real_detector(*a, **k))
    rec = ExpressionRecognizer.from_pretrained()
    backend = rec.backend_
    face48 = (np.random.default_rng(0).random((48, 48)) * 255).astype(np.uint8)
    photo = np.full((120, 160, 3), 128, np.uint8)
    for _ in range(3):
        rec.predict(photo)
        rec.predict_proba([photo, photo])
        rec.faces_and_chips(photo)
    lone = ExpressionRecognizer.from_pretrained(detect=False)
    threads = [threading.Thread(target=lambda: [lone.predict_proba([face48]) for _ in range(5)]) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(loads) == 2 and len(detectors) == 1 and rec.backend_ is backend
    assert "detector_" not in vars(lone)  # detect=False never loads a detector
    assert lone.predict_proba([face48])[0].shape == (1, len(lone.classes_))


def test_bundled_model_loads_offline():
    rec = ExpressionRecognizer.from_pretrained()
    assert len(rec.classes_) == 7 and rec.meta_["teacher"]["name"] == "dlib-resnet29"
    assert rec.preprocessing_.size == 48
    here = os.path.dirname(rec.backend_.path)
    size = sum(os.path.getsize(os.path.join(here, f)) for f in os.listdir(here))
    assert size <= 30 * 10**6  # every bundled model, export and trunk together (issue 27's bound on the package)
    rec2 = ExpressionRecognizer.from_pretrained(detect=False)
    p = rec2.predict_proba(np.full((48, 48), 128, np.uint8))
    assert p.shape == (1, 7) and abs(p.sum() - 1) < 1e-5


@pytest.mark.slow
@pytest.mark.realdata
def test_predict_cli_on_photos_annotated(tiny_ckpt, tmp_path, capsys):
    pytest.importorskip("dlib")
    photos = [
        str(shared("faces", n)) for n in ("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg")
    ]
    out_csv = tmp_path / "out.csv"
    assert (
        main(
            [
                "predict",
                "--model",
                tiny_ckpt,
                *photos,
                "--annotate",
                str(tmp_path / "ann"),
                "-o",
                str(out_csv),
                "--no-progress",
                "--explain",
                str(tmp_path / "explain"),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(open(out_csv)))
    assert [os.path.basename(r["source"]) for r in rows] == [os.path.basename(p) for p in photos]  # one face each
    for r in rows:
        assert abs(sum(float(r[f"p_{c}"]) for c in CLASSES) - 1) < 1e-3
    for p in photos:
        ann = tmp_path / "ann" / (os.path.splitext(os.path.basename(p))[0] + "_annotated.png")
        assert ann.exists() and ann.stat().st_size > 10000
        cam = tmp_path / "explain" / (os.path.splitext(os.path.basename(p))[0] + "_gradcam.png")
        assert cam.exists() and cam.stat().st_size > 5000


@pytest.mark.slow
@pytest.mark.realdata
def test_predict_video_one_record_per_sampled_frame(tiny_ckpt, tmp_path, capsys):
    pytest.importorskip("dlib")
    video = str(shared("faces", "single_face.mp4"))
    assert (
        main(
            [
                "predict",
                "--model",
                tiny_ckpt,
                video,
                "--every",
                "12",
                "--format",
                "json",
                "--no-progress",
                "--annotate",
                str(tmp_path / "ann"),
            ]
        )
        == 0
    )
    records = json.loads(capsys.readouterr().out)
    from facenet2expnet.infer.media import video_info

    sampled = len(range(0, video_info(video)["frames"], 12))
    assert len(records) == sampled and [r["frame"] for r in records] == list(range(0, 12 * sampled, 12))
    assert (tmp_path / "ann" / "single_face_annotated.mp4").stat().st_size > 1000


def test_predict_bad_and_faceless_inputs(tiny_ckpt, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    blank = np.full((200, 200, 3), 90, np.uint8)
    from PIL import Image

    Image.fromarray(blank).save(tmp_path / "in" / "blank.png")
    rc = main(["predict", "--model", tiny_ckpt, "--detector", "opencv", str(tmp_path / "in"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "broken.jpg" in err and "no face in 1" in err and "blank.png" in err
    assert main(["predict", "--model", tiny_ckpt, str(tmp_path / "missing.jpg")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_predict_formats_on_precropped(tiny_ckpt, tmp_path, capsys):
    for i in range(3):
        write_face(tmp_path / "crops" / f"f{i}.png", seed=i)
    assert (
        main(
            [
                "predict",
                "--model",
                tiny_ckpt,
                "--no-detect",
                str(tmp_path / "crops"),
                "--format",
                "json",
                "--no-progress",
            ]
        )
        == 0
    )
    recs = json.loads(capsys.readouterr().out)
    assert len(recs) == 3 and all(r["box"] is None for r in recs)
    assert main(["predict", "--model", tiny_ckpt, "--no-detect", str(tmp_path / "crops"), "--no-progress"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 3 and {f"p_{c}" for c in CLASSES} <= set(rows[0])


def test_webcam_absent_is_a_clear_error(tiny_ckpt, capsys):
    assert main(["predict", "--model", tiny_ckpt, "--webcam", "7"]) == 2
    assert "no camera at index 7" in capsys.readouterr().err


def _faces_for_parity():
    try:
        photos = [str(shared("faces", n)) for n in ("0-f1-su-ph.jpg", "obama.jpg", "biden.jpg")]
        from facenet2expnet.face import create_detector, crop_faces

        det = create_detector("opencv")
        return [crop_faces(p, det, 48, 0.25, channels="L")[0][1] for p in photos]
    except pytest.skip.Exception:
        return [np.random.default_rng(i).integers(0, 255, (48, 48), dtype=np.uint8) for i in range(3)]


@pytest.mark.slow
def test_onnx_export_parity_and_onnx_backend(tiny_ckpt, tmp_path):
    pytest.importorskip("onnxruntime")
    out = str(tmp_path / "m.onnx")
    assert main(["export", tiny_ckpt, "--onnx", out]) == 0
    meta = json.load(open(str(tmp_path / "m.json")))
    assert meta["classes"] == CLASSES and meta["preprocessing"]["size"] == 48
    chips = _faces_for_parity()
    torch_rec = ExpressionRecognizer.from_pretrained(tiny_ckpt, detect=False)
    onnx_rec = ExpressionRecognizer.from_pretrained(out, detect=False)
    a = np.concatenate(torch_rec.predict_proba(chips))
    b = np.concatenate(onnx_rec.predict_proba(chips))  # batch of 3 through the dynamic axis
    assert np.abs(a - b).max() <= 1e-4


@pytest.mark.parametrize("opset", [17, 18])
def test_pool_rewrite_keeps_outputs_and_skips_pools_that_do_not_tile(tmp_path, opset):
    """`pools_as_reduce_max` turns a 2x2/2 max pooling into Reshape + ReduceMax with the same outputs (any batch size),
    and leaves alone the poolings whose windows overlap or do not tile the map (3x3/2, and 2x2/2 on an odd side)."""
    pytest.importorskip("onnxruntime")
    import onnx
    import onnxruntime as ort

    from facenet2expnet.export.onnx_rewrite import pools_as_reduce_max

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.tiles, self.overlaps = torch.nn.MaxPool2d(2), torch.nn.MaxPool2d(3, 2)
            self.odd = torch.nn.MaxPool2d(2)

        def forward(self, x):  # N x 1 x 16 x 16 -> 8 x 8 (tiles) -> 3 x 3 (overlaps) -> 1 x 1 (odd side: floor)
            return self.odd(self.overlaps(self.tiles(self.conv(x)))).flatten(1)

    path = str(tmp_path / "pools.onnx")
    torch.onnx.export(
        Net().eval(),
        (torch.zeros(2, 1, 16, 16),),
        path,
        input_names=["input"],
        output_names=["out"],
        dynamic_axes={"input": {0: "batch"}, "out": {0: "batch"}},
        opset_version=opset,
        dynamo=False,
    )
    x = np.random.default_rng(0).standard_normal((5, 1, 16, 16)).astype(np.float32)
    before = ort.InferenceSession(path).run(None, {"input": x})[0]
    done = pools_as_reduce_max(path)
    ops = [n.op_type for n in onnx.load(path).graph.node]
    assert len(done) == 1 and ops.count("MaxPool") == 2 and ops.count("ReduceMax") == 1
    onnx.checker.check_model(onnx.load(path))
    sess = ort.InferenceSession(path)
    assert np.array_equal(sess.run(None, {"input": x})[0], before)
    assert np.array_equal(sess.run(None, {"input": x[:1]})[0], before[:1])
    assert pools_as_reduce_max(path) == []  # nothing left to rewrite; the file is untouched


def test_models_command_lists_nets_and_bundled_models(capsys):
    """`facenet2expnet models --json`: every registered net with its cost (the cards' 18.5 M for fast), and every
    bundled model with its runtime, card and which defaults it serves; the text form names both."""
    assert main(["models", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in out["nets"]] == list_models()
    fast = next(r for r in out["nets"] if r["name"] == "fast")
    assert round(fast["multiply_adds"] / 1e6, 1) == 18.5 and fast["input"] == "48 px L"
    bundled = {r["name"]: r for r in out["bundled"]}
    assert bundled["fer2013-fn2en-fast"]["default_for"] == []
    assert bundled["fer2013-fn2en-fast-int8"]["default_for"] == ["from_pretrained(), predict, serve"]
    assert bundled["fer2013-fn2en-accurate-int8"]["runtime"] == "onnxruntime, int8"
    assert (
        bundled["fn2en-res48-trunk"]["runtime"] == "torch, stage-1 trunk"
        and bundled["fn2en-res48-trunk"]["net"] == "res48"
    )
    assert bundled["ferplus-fn2en-fast"]["classes"] == 8
    assert (
        bundled["fer2013-fn2en-accurate"]["net"] == "res48" and 0.6 < bundled["fer2013-fn2en-accurate"]["accuracy"] < 1
    )
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "res48w" in text and "(float model's)" in text and "[default: from_pretrained(), predict, serve]" in text
    # each card's calibration: since 2026-12-08 every bundled recognizer has a temperature fitted on its validation
    default = bundled["fer2013-fn2en-fast-int8"]
    assert 0 < default["temperature"] < 5 and f"T {default['temperature']:.2f}" in text
    recognizers = [r for r in bundled.values() if r["accuracy"] is not None]
    assert len(recognizers) == 8 and all(0 < r["temperature"] < 5 for r in recognizers) and "uncalibrated" not in text


@pytest.mark.parametrize("name", [n for n in list_models() if n != "paper"])
def test_every_registered_model_exports_to_onnx_with_the_same_logits(tmp_path, name):
    """Each registered net (the 224 px `paper` net aside, for time) through `export_onnx`, pool rewrite included:
    onnxruntime's logits match torch's in eval mode on a batch of faces, and the metadata lists what was rewritten."""
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from facenet2expnet.export.onnx_export import export_onnx
    from facenet2expnet.models.registry import default_preprocessing

    torch.manual_seed(0)
    model = create_model(name, 7).eval()
    for m in model.modules():  # non-trivial BatchNorm statistics, so that folding them into the convs is tested
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    pp = default_preprocessing(name)
    ckpt = str(tmp_path / name)
    save_checkpoint(
        model,
        ckpt,
        {
            "classes": [str(i) for i in range(7)],
            "preprocessing": pp.to_dict(),
            "method": "scratch",
            "teacher": None,
            "tap": None,
        },
    )
    meta = export_onnx(ckpt, str(tmp_path / f"{name}.onnx"))
    x = torch.randn(3, pp.num_channels, pp.size, pp.size)
    with torch.no_grad():
        want = model(x).numpy()
    got = ort.InferenceSession(str(tmp_path / f"{name}.onnx")).run(None, {"input": x.numpy()})[0]
    assert np.isfinite(got).all() and np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    assert meta["graph_rewrites"]["max_pool_as_reduce_max"]  # every registered net has a tiling max pooling


@pytest.mark.slow
@pytest.mark.parametrize("which", ["fresh", "bundled"])
def test_torch_and_onnx_backends_give_the_same_logits(tiny_ckpt, tmp_path, which):
    """The ONNX graph ends at the logits, and both backends agree on them to 1e-4 (a fresh and the bundled model)."""
    pytest.importorskip("onnxruntime")
    from facenet2expnet.infer.backend import OnnxBackend, TorchBackend, load_backend
    from facenet2expnet.models.pretrained import resolve_model

    src = tiny_ckpt if which == "fresh" else "fer2013-fn2en-fast"
    out = str(tmp_path / "m.onnx")
    assert main(["export", src, "--onnx", out]) == 0
    tb, ob = load_backend(src), load_backend(out)
    assert isinstance(tb, TorchBackend) and isinstance(ob, OnnxBackend) and ob.session.get_outputs()[0].name == "logits"
    x = tb.preprocessing.batch(_faces_for_parity()).numpy()
    a, b = tb.logits(x), ob.logits(x)
    assert a.shape == (3, len(tb.classes)) and np.abs(a - b).max() <= 1e-4
    assert not np.allclose(a.sum(1), 1.0, atol=1e-3)  # logits, not probabilities
    # one resolver: a bundled name, a stem and each extension reach the same files
    assert resolve_model(out) == out and resolve_model(out[:-5]) == out
    if which == "bundled":
        assert resolve_model("fer2013-fn2en-fast").endswith("fer2013-fn2en-fast.json")
        assert resolve_model("fer2013-fn2en-fast-int8").endswith("fer2013-fn2en-fast-int8.onnx")


def test_test_flip_travels_with_the_checkpoint(tmp_path):
    """A model trained with --eval-flip scores a face by softmax(mean of its and its mirror's logits), on torch and
    ONNX."""
    torch.manual_seed(1)
    model = create_model("compact", len(CLASSES), target_shape=(128, 8, 8)).eval()
    pp = Preprocessing(size=48, channels="L", mean=(128.0,), std=(64.0,), test_flip=True)
    path = str(tmp_path / "flip")
    save_checkpoint(
        model,
        path,
        {"classes": CLASSES, "preprocessing": pp.to_dict(), "method": "scratch", "teacher": None, "tap": None},
    )
    faces = [np.random.default_rng(i).integers(0, 255, (48, 48), dtype=np.uint8) for i in range(3)]
    rec = ExpressionRecognizer.from_pretrained(path, detect=False)
    assert rec.preprocessing_.test_flip
    got = np.concatenate(rec.predict_proba(faces))
    x = pp.batch(faces)
    with torch.no_grad():
        want = torch.softmax(0.5 * (model(x) + model(x.flip(3))), 1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    mirrored = np.concatenate(rec.predict_proba([f[:, ::-1].copy() for f in faces]))
    np.testing.assert_allclose(mirrored, got, atol=1e-5)
    if importlib.util.find_spec("onnxruntime"):
        out = str(tmp_path / "flip.onnx")
        assert main(["export", path, "--onnx", out]) == 0
        onnx_got = np.concatenate(ExpressionRecognizer.from_pretrained(out, detect=False).predict_proba(faces))
        assert np.abs(onnx_got - got).max() <= 1e-4
        # --no-test-flip: an export that scores each face once (half the cost), softmax of the face's own logits
        once = str(tmp_path / "once.onnx")
        assert main(["export", path, "--onnx", once, "--no-test-flip"]) == 0
        rec_once = ExpressionRecognizer.from_pretrained(once, detect=False)
        once_meta = json.load(open(once[:-5] + ".json"))
        assert not rec_once.preprocessing_.test_flip and once_meta["preprocessing"]["test_flip"] is False
        assert "test_flip set to False at export" in once_meta["export_note"]
        with torch.no_grad():
            want_once = torch.softmax(model(x), 1).numpy()
        np.testing.assert_allclose(np.concatenate(rec_once.predict_proba(faces)), want_once, atol=1e-4)


def _synthetic_video(path, n=12):
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (64, 64))
    rng = np.random.default_rng(0)
    for _ in range(n):
        w.write(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    w.release()
    return path


def test_webcam_loop_with_a_camera(tiny_ckpt, tmp_path, monkeypatch, capsys):
    """Where a camera exists, frames are read live; here a video file stands in for the camera."""
    import cv2

    import facenet2expnet.infer.predict as predict

    video = _synthetic_video(tmp_path / "cam.mp4")
    monkeypatch.setattr(predict, "open_webcam", lambda index: cv2.VideoCapture(str(video)))
    assert (
        main(
            [
                "predict",
                "--model",
                tiny_ckpt,
                "--no-detect",
                "--webcam",
                "--every",
                "3",
                "--max-frames",
                "3",
                "--format",
                "json",
                "--annotate",
                str(tmp_path / "ann"),
                "--no-progress",
            ]
        )
        == 0
    )
    recs = json.loads(capsys.readouterr().out)
    assert [r["frame"] for r in recs] == [0, 3, 6] and all(r["source"] == "webcam:0" for r in recs)
    assert (tmp_path / "ann" / "webcam_0_annotated.mp4").stat().st_size > 0


def test_synthetic_video_file(tiny_ckpt, tmp_path, capsys):
    video = _synthetic_video(tmp_path / "clip.mp4", n=10)
    assert (
        main(
            [
                "predict",
                "--model",
                tiny_ckpt,
                "--no-detect",
                str(video),
                "--every",
                "4",
                "--format",
                "json",
                "--no-progress",
            ]
        )
        == 0
    )
    assert [r["frame"] for r in json.loads(capsys.readouterr().out)] == [0, 4, 8]


@pytest.mark.slow
def test_int8_export_of_the_bundled_model(tmp_path, capsys):
    """`export --int8 FACES`: a quantized ONNX model (first conv, pooling and the logits' Gemm kept in float, as
    documented) that
    runs in the recognizer like the float one and agrees with it on faces it was not calibrated on (of the same kind:
    uniform noise, far outside the calibrated ranges, moves probabilities by up to ~0.26)."""
    pytest.importorskip("onnxruntime")
    import onnx
    from PIL import Image

    _ = [write_face(str(tmp_path / "calib" / f"{i}.png"), seed=i) for i in range(40)]
    out = str(tmp_path / "new" / "int8.onnx")  # a folder that does not exist yet is made
    assert (
        main(
            [
                "export",
                "fer2013-fn2en-fast",
                "--onnx",
                out,
                "--int8",
                str(tmp_path / "calib"),
                "--calibration-faces",
                "32",
            ]
        )
        == 0
    )
    meta = json.load(open(str(tmp_path / "new" / "int8.json")))
    q = meta["quantization"]
    assert (
        q["calibration_faces"] == 32
        and any("trunk.0" in n for n in q["kept_in_float"])
        and q["kept_in_float"][-1].endswith("Gemm")
    )
    ops = {n.op_type for n in onnx.load(out).graph.node}
    assert "QLinearConv" in ops and "Conv" in ops  # the later convs quantized, the first one not
    assert "MaxPool" not in ops and meta["graph_rewrites"]["max_pool_as_reduce_max"]  # both pools as ReduceMax
    # faces like the calibration ones, not seen in calibration (the real-face test below covers photos)
    faces = [np.asarray(Image.open(write_face(str(tmp_path / "test" / f"{i}.png"), seed=100 + i))) for i in range(24)]
    float_probs = np.concatenate(
        ExpressionRecognizer.from_pretrained("fer2013-fn2en-fast", detect=False).predict_proba(faces)
    )
    int8_probs = np.concatenate(ExpressionRecognizer.from_pretrained(out, detect=False).predict_proba(faces))
    assert np.allclose(int8_probs.sum(1), 1, atol=1e-3)
    assert np.abs(int8_probs - float_probs).max() < 0.1
    assert (int8_probs.argmax(1) == float_probs.argmax(1)).mean() >= 0.8
    assert (
        main(
            [
                "export",
                "fer2013-fn2en-fast",
                "--onnx",
                str(tmp_path / "x.onnx"),
                "--int8",
                str(tmp_path / "nothing.png"),
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["fer2013-fn2en-fast", "fer2013-fn2en-accurate", "ferplus-fn2en-fast"])
def test_bundled_int8_model_runs_offline_like_the_float_one(tmp_path, name):
    """Each bundled model's `export --int8` (shipped beside it as NAME-int8) loads by name, runs on onnxruntime, has
    the float model's classes and preprocessing, and scores faces as the float model does when scored the same way
    (the accurate model's int8 export scores each face once, without its mirror: `export --no-test-flip`)."""
    pytest.importorskip("onnxruntime")
    from PIL import Image

    from facenet2expnet.eval.calibration import softmax
    from facenet2expnet.infer.backend import scores

    float_rec = ExpressionRecognizer.from_pretrained(name, detect=False)
    int8_rec = ExpressionRecognizer.from_pretrained(name + "-int8", detect=False)
    assert int8_rec.backend_.kind == "onnx" and int8_rec.meta_["quantization"]["weights"].startswith("int8")
    same_way = {**float_rec.meta_["preprocessing"], "test_flip": int8_rec.preprocessing_.test_flip}
    assert int8_rec.classes_ == float_rec.classes_ and int8_rec.meta_["preprocessing"] == same_way
    if int8_rec.preprocessing_.test_flip != float_rec.preprocessing_.test_flip:
        assert "test_flip set to" in int8_rec.meta_["export_note"]  # the card says its accuracy was measured otherwise
    faces = [np.asarray(Image.open(write_face(str(tmp_path / f"{i}.png"), seed=100 + i))) for i in range(24)]
    x = float_rec.preprocessing_.batch(faces).numpy()
    t = float(float_rec.meta_.get("temperature") or 1.0)  # the card's calibration, the same in both files
    float_probs = softmax(scores(float_rec.backend_, x, test_flip=int8_rec.preprocessing_.test_flip), t)
    int8_probs = np.concatenate(int8_rec.predict_proba(faces))
    assert np.allclose(int8_probs.sum(1), 1, atol=1e-3)
    assert np.abs(int8_probs - float_probs).max() < 0.1  # measured 0.04 (fast): the same weights, quantized
    assert (int8_probs.argmax(1) == float_probs.argmax(1)).mean() >= 0.8


@pytest.mark.realdata
@pytest.mark.slow
def test_int8_export_on_real_faces_keeps_the_accuracy(tmp_path):
    """Calibrated on FER2013 Training faces, the int8 bundled model labels FER2013 PublicTest faces as the float one
    does."""
    pytest.importorskip("onnxruntime")
    import glob

    root = shared("fer2013")
    train = sorted(glob.glob(str(root / "train" / "*" / "*.jpg")))[::100]  # 288 faces, every class
    test = sorted(glob.glob(str(root / "test" / "*" / "*.jpg")))[::10]  # 359 faces
    calib = tmp_path / "calib"
    calib.mkdir()
    for i, f in enumerate(train):
        os.symlink(f, calib / f"{i}.jpg")
    out = str(tmp_path / "int8.onnx")
    assert main(["export", "fer2013-fn2en-fast", "--onnx", out, "--int8", str(calib)]) == 0
    float_probs = np.concatenate(
        ExpressionRecognizer.from_pretrained("fer2013-fn2en-fast", detect=False).predict_proba(test)
    )
    int8_probs = np.concatenate(ExpressionRecognizer.from_pretrained(out, detect=False).predict_proba(test))
    agree = (int8_probs.argmax(1) == float_probs.argmax(1)).mean()
    assert agree >= 0.95
    # the shipped int8 model (calibrated on 512 Training faces) too
    bundled_probs = np.concatenate(
        ExpressionRecognizer.from_pretrained("fer2013-fn2en-fast-int8", detect=False).predict_proba(test)
    )
    assert (bundled_probs.argmax(1) == float_probs.argmax(1)).mean() >= 0.95


def test_int8_model_predicts_without_importing_torch(tmp_path):
    """The light install: `predict` with the bundled int8 model runs on onnxruntime and never imports torch."""
    pytest.importorskip("onnxruntime")
    import subprocess
    import sys

    face = write_face(str(tmp_path / "face.png"), seed=4)
    code = (
        "import sys\n"
        "from facenet2expnet.cli.main import main\n"
        f"rc = main(['predict', '--model', 'fer2013-fn2en-fast-int8', '--no-detect', '--no-progress', '--format', "
        f"'json', {face!r}])\n"
        "assert rc == 0, rc\n"
        "print('TORCH_IMPORTED' if 'torch' in sys.modules else 'TORCH_FREE')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().endswith("TORCH_FREE") and '"label"' in r.stdout


@pytest.mark.realdata
def test_video_summary_on_a_real_video(tmp_path, capsys):
    """--summary: a timeline per face track, the shares of each expression and a plot, from single_face.mp4."""
    video = shared("faces", "single_face.mp4")
    out = tmp_path / "sum"
    assert (
        main(["predict", str(video), "--summary", str(out), "--every", "15", "--detector", "opencv", "--no-progress"])
        == 0
    )
    s = json.load(open(out / "single_face_summary.json"))
    rows = list(csv.DictReader(open(out / "single_face_timeline.csv")))
    assert s["faces"] == len(rows) > 0 and s["sampled_frames"] >= len({r["frame"] for r in rows})
    assert abs(sum(s["share"].values()) - 1) < 1e-3 and s["tracks"] >= 1
    assert {r["track"] for r in rows} <= set(s["per_track"]) and all(float(r["time_s"]) >= 0 for r in rows)
    assert (out / "single_face_expressions.png").stat().st_size > 5000
    err = capsys.readouterr().err
    assert "summary of" in err
    # the counts agree: the faces summarized are the faces recognized (none listed one by one)
    assert f"{s['faces']} face(s) recognized (0 listed, {s['faces']} in video summaries)" in err


def test_video_summary_memory_is_flat_in_the_video_length(tmp_path, monkeypatch):
    """A 10x longer video does not need more memory: frames are streamed and the plot series is binned.

    The recognizer here is a stand-in that finds one face drifting across the frame (the model's cost is not
    what is measured); frames are really decoded, tracked, written and binned."""
    import tracemalloc

    import facenet2expnet.infer.summary as summary_mod
    from facenet2expnet.infer.predict import video_summary

    class Drifting:
        classes_ = ["anger", "happy", "neutral"]

        def predict(self, rgb):
            x = float(rgb.mean()) % 4  # a box that moves a little from frame to frame: one track
            p = {"anger": 0.2, "happy": 0.5, "neutral": 0.3}
            return [{"box": [10 + x, 10, 40 + x, 40], "label": "happy", "probabilities": p, "face": 0}]

    monkeypatch.setattr(summary_mod, "MAX_BINS", 32)  # the long video overflows the plot bins, which then merge
    rec, peaks = Drifting(), {}
    video_summary(rec, str(_synthetic_video(tmp_path / "warm.mp4", n=20)), every=1, out_dir=str(tmp_path / "warm"))
    for n in (200, 2000):
        video = _synthetic_video(tmp_path / f"v{n}.mp4", n=n)
        tracemalloc.start()
        s = video_summary(rec, str(video), every=1, out_dir=str(tmp_path / f"s{n}"))
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert s["sampled_frames"] == n and s["faces"] == n and s["tracks"] == 1 and s["share"]["happy"] == 1.0
        assert sum(1 for _ in open(tmp_path / f"s{n}" / f"v{n}_timeline.csv")) == n + 1
    assert peaks[2000] < peaks[200] + 300_000, peaks  # bounded, not 10x


def test_iou_tracker_keeps_a_face_on_its_track():
    from facenet2expnet.infer.summary import IouTracker

    t = IouTracker(min_iou=0.3, max_gap=2)
    assert t.update([(0, 0, 10, 10), (50, 50, 60, 60)]) == [0, 1]
    assert t.update([(52, 51, 62, 61), (1, 0, 11, 10)]) == [1, 0]  # order of detection does not matter
    assert t.update([]) == [] and t.update([]) == []
    assert t.update([(100, 100, 110, 110)]) == [2]
    assert t.update([(0, 0, 10, 10)]) == [3]  # track 0 ended after max_gap frames unseen
