"""Teachers: dlib port parity and identity, taps, VGG-Face formats, frozen-ness, the feature store."""

import os

import numpy as np
import pytest
import scipy.io
import torch
from conftest import shared, write_face

from facenet2expnet.data import load_dataset
from facenet2expnet.errors import FaceNet2ExpNetError, UnknownNameError
from facenet2expnet.files import find_model_file
from facenet2expnet.teachers import create_teacher
from facenet2expnet.teachers.cache import extract_features
from facenet2expnet.teachers.dlib_format import DlibFormatError, _Reader, read_dlib_network
from facenet2expnet.teachers.dlib_resnet import TAP_SHAPES_150, TAPS, DlibResNet29
from facenet2expnet.teachers.vggface import CONV_NAMES, VGGFace16, load_vggface


@pytest.fixture(scope="module")
def dlib_teacher():
    return create_teacher("dlib-resnet29", layer="level2")


# ---------------------------------------------------------------- dlib format and port


def test_dlib_integer_encoding():
    # 0x01 0x02 = +2; 0x81 0x04 = -4; 0x02 0x00 0x01 = 256; mantissa/exponent reals
    r = _Reader(bytes([0x01, 0x02, 0x81, 0x04, 0x02, 0x00, 0x01, 0x01, 0x10, 0x81, 0x04]), "mem")
    assert (r.int(), r.int(), r.int(), r.real()) == (2, -4, 256, 1.0)


def test_dlib_reader_rejects_other_files(tmp_path):
    bad = tmp_path / "x.dat"
    bad.write_bytes(b"\x01\x01\x05hello" + b"\x00" * 20)
    with pytest.raises(DlibFormatError, match="unsupported dlib network file"):
        read_dlib_network(str(bad))


def test_dlib_file_structure():
    info, layers = read_dlib_network(find_model_file("dlib_face_recognition_resnet_model_v1.dat"))
    assert info["size"] == (150, 150)
    assert np.allclose(info["mean_rgb"], (122.782, 117.001, 104.298), atol=1e-3)
    kinds = [lay.kind for lay in layers]
    assert kinds.count("con") == 29 and kinds.count("affine") == 29 and kinds.count("add_prev") == 14
    downs = [lay for lay in layers if lay.kind == "con" and lay.fields["stride_y"] == 2]
    assert all(lay.fields["padding_y"] == 0 for lay in downs)  # stride-2 convs have no padding


@pytest.mark.parametrize("tap", TAPS)
def test_dlib_tap_shapes(tap):
    torch.manual_seed(0)
    net = DlibResNet29().eval()
    out = net.forward_features(torch.randn(2, 3, 150, 150), [tap])
    assert tuple(out[tap].shape[1:]) == TAP_SHAPES_150[tap]
    assert torch.isfinite(out[tap]).all()


def test_dlib_unknown_layer():
    with pytest.raises(UnknownNameError, match="level2"):
        create_teacher("dlib-resnet29", layer="pool5")
    with pytest.raises(UnknownNameError, match="dlib-resnet29, vggface16"):
        create_teacher("facenet")


def test_dlib_weights_checksum(tmp_path):
    src = find_model_file("dlib_face_recognition_resnet_model_v1.dat")
    dst = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"
    data = bytearray(open(src, "rb").read())
    data[-100] ^= 0xFF
    dst.write_bytes(bytes(data))
    with pytest.raises(FaceNet2ExpNetError, match="sha256"):
        create_teacher("dlib-resnet29", weights=str(dst))
    with pytest.raises(FaceNet2ExpNetError, match="does not exist"):
        create_teacher("dlib-resnet29", weights=str(tmp_path / "missing.dat"))


@pytest.mark.slow
@pytest.mark.realdata
def test_dlib_parity_and_identity_against_dlib():
    pytest.importorskip("dlib", reason="dlib-bin is a test dependency; install requirements-test.txt")
    from facenet2expnet.teachers.verify import verify_dlib_port

    r = verify_dlib_port(str(shared("faces")))
    assert len(r["images"]) >= 10
    assert r["max_abs_diff"] <= 1e-4, r["images"]
    ident = r["identity"]
    assert ident["same_person_max"] < 0.6 < ident["different_person_min"]


# ---------------------------------------------------------------- VGG-Face


def _random_vgg():
    torch.manual_seed(1)
    return VGGFace16(num_classes=11, fc_dim=16, width_div=16)


def test_vggface_state_dict_roundtrip(tmp_path):
    net = _random_vgg()
    torch.save(net.state_dict(), tmp_path / "vgg_face_caffe_names.pth")
    loaded = load_vggface(str(tmp_path / "vgg_face_caffe_names.pth"))
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    torch.save({"conv1_1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(FaceNet2ExpNetError, match="Caffe layer names"):
        load_vggface(str(tmp_path / "bad.pth"))


def test_vggface_matconvnet_roundtrip(tmp_path):
    net = _random_vgg()
    sd = {k: v.numpy() for k, v in net.state_dict().items()}
    layers = np.empty(len(CONV_NAMES) + 3 + 5, dtype=object)
    i = 0
    for name in CONV_NAMES + ["fc6", "fc7", "fc8"]:
        w = sd[f"{name}.weight"]
        if name == "fc6":
            w = w.reshape(w.shape[0], -1, 7, 7)
        elif name.startswith("fc"):
            w = w[:, :, None, None]
        weights = np.empty(2, dtype=object)
        weights[0], weights[1] = w.transpose(2, 3, 1, 0), sd[f"{name}.bias"]  # H x W x In x Out
        layers[i] = {"name": name, "type": "conv", "weights": weights}
        i += 1
        if name.endswith("_1"):
            layers[i] = {"name": f"relu{i}", "type": "relu", "weights": np.empty(0, dtype=object)}
            i += 1
    layers = layers[:i]
    scipy.io.savemat(tmp_path / "vgg-face.mat", {"layers": layers})
    loaded = load_vggface(str(tmp_path / "vgg-face.mat"))
    for k, v in net.state_dict().items():
        assert torch.allclose(v, loaded.state_dict()[k]), k
    x = torch.randn(1, 3, 224, 224)
    assert torch.allclose(net(x), loaded(x), atol=1e-5)


def test_vggface_pool5_shape():
    net = VGGFace16(fc_dim=8).eval()  # full-width conv trunk, tiny FC: pool5 is what matters
    out = net.forward_features(torch.randn(1, 3, 224, 224), ["pool5"])
    assert tuple(out["pool5"].shape) == (1, 512, 7, 7)


def test_vggface_needs_weights():
    with pytest.raises(FaceNet2ExpNetError, match="weights=PATH"):
        create_teacher("vggface16")


# ---------------------------------------------------------------- frozen teacher


def test_teacher_is_frozen_and_gets_no_gradient(dlib_teacher):
    student = torch.nn.Sequential(torch.nn.Conv2d(3, 128, 3, stride=4), torch.nn.AdaptiveAvgPool2d(8))
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    dlib_teacher.train()  # must not leave eval mode
    assert not dlib_teacher.training and not dlib_teacher.net.training
    x = torch.randn(4, 3, 150, 150, requires_grad=True)
    for _ in range(2):
        target = dlib_teacher(x)
        loss = torch.nn.functional.mse_loss(student(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert not target.requires_grad
    assert all(not p.requires_grad and p.grad is None for p in dlib_teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())
    opt_params = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not opt_params & {id(p) for p in dlib_teacher.parameters()}


# ---------------------------------------------------------------- feature store


def _tiny_dataset(tmp_path, n=10):
    for i in range(n):
        write_face(tmp_path / "ck" / ["happy", "anger"][i % 2] / f"S{i:03d}_001_{i:08d}.png", seed=i)
    return load_dataset("ckplus48", tmp_path / "ck")


@pytest.mark.slow
def test_feature_store_build_reuse_resume_rebuild(tmp_path, dlib_teacher, monkeypatch):
    ds = _tiny_dataset(tmp_path)
    out = str(tmp_path / "store")
    store = extract_features(dlib_teacher, ds, out, batch_size=4, progress=False)
    feats = np.array(store.features)  # a copy: the file is corrupted on purpose below
    assert feats.shape == (10, 2, 128, 8, 8) and np.isfinite(feats).all()
    assert not np.allclose(feats[:, 0], feats[:, 1])  # mirrors differ from the originals
    # the stored values are the teacher's own output
    pp = dlib_teacher.preprocessing
    x = pp.to_tensor([ds.samples[3].path])
    assert np.allclose(feats[3, 0], dlib_teacher(x)[0].numpy(), atol=2e-2, rtol=1e-2)
    assert np.allclose(feats[3, 1], dlib_teacher(x.flip(3))[0].numpy(), atol=2e-2, rtol=1e-2)

    # reuse: no recomputation
    calls = []
    monkeypatch.setattr(
        dlib_teacher.preprocessing.__class__,
        "load",
        lambda self, s: calls.append(s) or np.zeros((150, 150, 3), np.uint8),
    )
    again = extract_features(dlib_teacher, ds, out, batch_size=4, progress=False)
    assert again.path == store.path and calls == []
    monkeypatch.undo()

    # corruption: flip bytes in the features file -> detected and rebuilt
    fpath = os.path.join(store.path, "features.npy")
    raw = bytearray(open(fpath, "rb").read())
    raw[-10:] = b"\x00" * 10 if raw[-10:] != b"\x00" * 10 else b"\x01" * 10
    open(fpath, "wb").write(bytes(raw))
    msgs = []
    rebuilt = extract_features(dlib_teacher, ds, out, batch_size=4, progress=False, log=msgs.append)
    assert any("corrupt or stale" in m for m in msgs)
    assert np.allclose(np.asarray(rebuilt.features), feats)

    # resume: a run killed after the first batch continues where it stopped
    out2 = str(tmp_path / "store2")
    real_net = dlib_teacher.forward
    n_calls = {"n": 0}

    def dying_forward(x):
        n_calls["n"] += 1
        if n_calls["n"] == 2:
            raise KeyboardInterrupt
        return real_net(x)

    monkeypatch.setattr(dlib_teacher, "forward", dying_forward)
    with pytest.raises(KeyboardInterrupt):
        extract_features(dlib_teacher, ds, out2, batch_size=4, progress=False)
    monkeypatch.undo()
    msgs = []
    resumed = extract_features(dlib_teacher, ds, out2, batch_size=4, progress=False, log=msgs.append)
    assert any("resuming feature extraction at 4/10" in m for m in msgs)
    assert np.allclose(np.asarray(resumed.features), feats)

    # a different layer is a different store
    other = extract_features(create_teacher("dlib-resnet29", layer="level1"), ds, out, batch_size=8, progress=False)
    assert other.path != store.path and other.tap_shape == (256, 4, 4)


def test_feature_store_key_ignores_root_spelling(tmp_path, dlib_teacher, monkeypatch):
    ds = _tiny_dataset(tmp_path, n=4)
    a = extract_features(dlib_teacher, ds, str(tmp_path / "store"), progress=False)
    monkeypatch.chdir(tmp_path)
    relative = load_dataset("ckplus48", "ck")  # the same files, named relative to another folder
    b = extract_features(dlib_teacher, relative, str(tmp_path / "store"), progress=False)
    assert a.path == b.path and list(b.rows(relative)) == [0, 1, 2, 3]


def test_the_default_tap_is_the_one_validation_chose():
    """Issue 39: benchmarks/tap_selection.py picks the tap by the probe's accuracy on each fold's validation
    subjects (never on the test folds); the dlib teacher's default tap is that choice."""
    import json
    import os

    from facenet2expnet.teachers import TEACHERS

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = json.load(open(os.path.join(root, "benchmarks", "results", "tap_selection.json")))
    scored = {k: v for k, v in result["layers"].items() if "validation_accuracy_mean" in v}
    assert scored and "validation" in result["chosen_on"]
    assert result["chosen"] == max(scored, key=lambda k: scored[k]["validation_accuracy_mean"])
    assert TEACHERS["dlib-resnet29"].default_tap == result["chosen"]
