"""Detection, alignment and `prepare`: real photos where ../shared/data exists, synthetic images always."""

import csv
import os

import numpy as np
import pytest
from conftest import shared, write_face
from PIL import Image

from facenet2expnet.cli.main import main
from facenet2expnet.data import load_dataset, make_folds
from facenet2expnet.data.images import ImageReadError, read_image
from facenet2expnet.errors import DatasetLayoutError, UnknownNameError
from facenet2expnet.face import DETECTORS, align_face, create_detector, crop_faces, landmarks_from_box
from facenet2expnet.face.align import chip_to_image_matrix, similarity_transform, template_points

SINGLE = [
    "0-f1-su-ph.jpg",
    "0-f15-hao-ph.jpg",
    "15-f13-anc-ph.jpg",
    "45-m7-di-ph.jpg",
    "single_face.jpg",
    "obama.jpg",
    "obama2.jpg",
    "obama3.jpg",
    "biden.jpg",
]


@pytest.fixture(scope="module")
def dlib_detector():
    pytest.importorskip("dlib", reason="the dlib backend needs dlib-bin")
    return create_detector("dlib")


# ---------------------------------------------------------------- synthetic: reading and geometry


def test_read_image_modes(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0  # transparent pixel -> white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.shape == (8, 8, 3) and tuple(out[1, 1]) == (200, 0, 0) and tuple(out[0, 0]) == (255, 255, 255)
    Image.fromarray((np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)).save(tmp_path / "b.png")
    g16 = read_image(tmp_path / "b.png", "L")
    assert g16.dtype == np.uint8 and g16.max() == round(63000 / 257)
    Image.new("CMYK", (6, 5), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    assert read_image(tmp_path / "c.jpg").shape == (5, 6, 3)
    # EXIF orientation 6 (rotate 90 CW): a 4x2 file becomes 2x4
    img = Image.new("RGB", (4, 2))
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(tmp_path / "d.jpg", exif=exif)
    assert read_image(tmp_path / "d.jpg").shape == (4, 2, 3)
    (tmp_path / "e.jpg").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(ImageReadError, match="e.jpg"):
        read_image(tmp_path / "e.jpg")


def test_similarity_transform_recovers_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, t = 0.3, 1.7, np.array([12.0, -4.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rot.T + t
    s, a, tt = similarity_transform(src, dst)
    assert abs(s - scale) < 1e-9 and abs(a - angle) < 1e-9 and np.allclose(tt, t)


def test_align_puts_landmarks_on_template():
    """Warp a synthetic image with dots at known landmarks: the dots land on the template."""
    img = np.zeros((400, 500, 3), np.uint8)
    tpl = template_points(150, 0.25)
    angle, scale, t = 0.2, 1.6, np.array([120.0, 60.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    lm = scale * tpl @ rot.T + t
    for x, y in lm:
        img[int(round(y)) - 2 : int(round(y)) + 3, int(round(x)) - 2 : int(round(x)) + 3] = 255
    chip = align_face(img, lm, 150, 0.25)
    for tx, ty in tpl:
        win = chip[int(ty) - 4 : int(ty) + 5, int(tx) - 4 : int(tx) + 5, 0]
        assert win.max() > 100, "landmark dot not found near its template position"


def test_landmarks_from_box_and_registry():
    lm = landmarks_from_box((0, 0, 100, 100))
    assert lm.shape == (5, 2) and lm[0, 0] > lm[2, 0]  # image-right eye first, as dlib's predictor
    assert set(DETECTORS) >= {"dlib", "opencv"}
    with pytest.raises(UnknownNameError, match="dlib, opencv"):
        create_detector("mtcnn")


def test_no_face_and_tiny_images_give_empty_lists():
    flat = np.full((300, 300, 3), 127, np.uint8)
    for name in ("opencv", "blazeface"):
        det = create_detector(name)
        assert det.detect(flat) == []
        assert det.detect(np.zeros((8, 8, 3), np.uint8)) == []


# ---------------------------------------------------------------- real photos


@pytest.mark.realdata
@pytest.mark.parametrize("name", SINGLE)
def test_single_face_photos(name, dlib_detector):
    path = shared("faces", name)
    faces = crop_faces(str(path), dlib_detector, 150, 0.25)
    assert len(faces) == 1
    face, chip = faces[0]
    assert chip.shape == (150, 150, 3)
    # eyes of the aligned crop within a few pixels of the template: map the detected landmarks into the chip
    m = chip_to_image_matrix(face.landmarks, 150, 0.25)
    a, t = m[:, :2], m[:, 2]
    in_chip = (face.landmarks - t) @ np.linalg.inv(a).T
    eyes = [0, 1, 2, 3]
    err = np.linalg.norm(in_chip[eyes] - template_points(150, 0.25)[eyes], axis=1).max()
    assert err < (8.0 if name.startswith("45-") else 6.0), (
        err
    )  # 45 degrees of yaw cannot fit a frontal template exactly


@pytest.mark.slow
@pytest.mark.realdata
def test_multi_face_landscape_and_odd_files(dlib_detector):
    multi = str(shared("faces", "multi_face.jpg"))
    assert len(dlib_detector.detect(multi)) == 4  # at dlib's default threshold one of the five is missed
    faces = create_detector("dlib", threshold=-0.5).detect(multi)
    assert len(faces) == 5
    assert [f.area for f in faces] == sorted((f.area for f in faces), reverse=True)  # largest first
    assert dlib_detector.detect(str(shared("faces", "free-mountain-vector-01.jpg"))) == []
    for name in ("Image_with_alpha.png", "32bit.png"):
        assert len(dlib_detector.detect(str(shared("faces", name)))) >= 1
    big = create_detector("opencv").detect(str(shared("faces", "BWPictureHuman.jpg")))  # 2560x1912 grey
    assert len(big) >= 1 and big[0].box[2] > 1280 * 0.5  # boxes are in original-image pixels


@pytest.mark.slow
@pytest.mark.realdata
def test_our_chips_keep_teacher_parity(dlib_detector):
    """Our aligned 150 px chips give nearly dlib's own descriptors, and the identity check still holds."""
    pytest.importorskip("dlib")
    import torch

    from facenet2expnet.teachers import create_teacher
    from facenet2expnet.teachers.verify import dlib_chips

    teacher = create_teacher("dlib-resnet29", layer="embedding")
    names = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"]
    paths = [str(shared("faces", n)) for n in names]
    ref_chips = dlib_chips(paths)

    def embed(chip):
        x = teacher.preprocessing.normalize(
            torch.from_numpy(np.ascontiguousarray(chip.transpose(2, 0, 1)))[None].float()
        )
        return teacher(x)[0].numpy()

    ours = {n: embed(crop_faces(p, dlib_detector, 150, 0.25)[0][1]) for n, p in zip(names, paths)}
    for n, p in zip(names, paths):
        assert np.linalg.norm(ours[n] - embed(ref_chips[p])) < 0.1
    for a in names[:3]:
        for b in names[:3]:
            assert np.linalg.norm(ours[a] - ours[b]) < 0.6
        assert np.linalg.norm(ours[a] - ours["biden.jpg"]) > 0.6


# ---------------------------------------------------------------- prepare


def _ckplus_tree_from_photos(root, photos, mountain):
    """A raw CK+ layout whose frames are real photos (and one landscape: no face)."""
    seqs = [
        ("S010", "001", 5, photos[0]),
        ("S011", "002", 7, photos[1]),
        ("S013", "001", 5, photos[1]),
        ("S014", "003", 7, photos[0]),
        ("S012", "001", 3, mountain),
    ]
    for subj, seq, code, photo in seqs:
        d = root / "cohn-kanade-images" / subj / seq
        d.mkdir(parents=True)
        for fr in range(1, 4):
            Image.open(photo).convert("RGB").save(d / f"{subj}_{seq}_{fr:08d}.png")
        e = root / "Emotion" / subj / seq
        e.mkdir(parents=True)
        (e / f"{subj}_{seq}_00000003_emotion.txt").write_text(f"{code:.7e}\n")
    return root


def _prepare_cli(root, out) -> int:
    return main(
        ["prepare", "--dataset", f"ckplus:{root}", "--out", str(out), "--size", "64", "--workers", "1", "--no-progress"]
    )


@pytest.mark.slow
@pytest.mark.realdata
def test_prepare_raw_ckplus_and_train_on_it(tmp_path, capsys):
    pytest.importorskip("dlib")
    photos = [shared("faces", "0-f15-hao-ph.jpg"), shared("faces", "obama.jpg")]
    root = _ckplus_tree_from_photos(tmp_path / "ck", photos, shared("faces", "free-mountain-vector-01.jpg"))
    out = tmp_path / "prep"
    assert _prepare_cli(root, out) == 0
    printed = capsys.readouterr().out
    folder = printed.strip().split("prepared:")[-1]
    rows = list(csv.DictReader(open(os.path.join(folder, "manifest.csv"))))
    assert len(rows) == 15 and sorted({r["status"] for r in rows}) == ["no_face", "ok"]
    assert all(r["landmarks"] and r["box"] for r in rows if r["status"] == "ok")
    ds = load_dataset("prepared", str(out))
    assert len(ds) == 12 and {p.kind for p in ds.problems} == {
        "no-face",
        "duplicate",
    }  # 3 identical frames per sequence
    assert read_image(ds.samples[0].path).shape == (64, 64, 3)
    # resume: a second run reuses everything
    assert _prepare_cli(root, out) == 0
    assert "resuming: 15/15" in capsys.readouterr().out
    # the training CLI accepts it
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--dataset",
                f"prepared:{out}",
                "--method",
                "probe",
                "--folds",
                "2",
                "--val-fraction",
                "0.0",
                "--cache-dir",
                str(tmp_path / "cache"),
                "--out",
                str(run),
                "--no-progress",
            ]
        )
        == 0
    )
    assert os.path.exists(run / "report.json")


@pytest.mark.slow
def test_prepare_precropped_synthetic_parallel(tmp_path):
    """A cropped dataset skips detection; two spawn workers; corrupt files are reported as failed."""
    for i in range(6):
        write_face(tmp_path / "ck48" / ["happy", "anger"][i % 2] / f"S{i:03d}_001_{i:08d}.png", seed=i)
    bad = tmp_path / "ck48" / "happy" / "S099_001_00000001.png"
    bad.write_bytes(b"not an image")
    msgs = []
    from facenet2expnet.face.prepare import prepare_dataset

    folder = prepare_dataset(
        "ckplus48",
        str(tmp_path / "ck48"),
        str(tmp_path / "prep"),
        size=32,
        channels="L",
        workers=2,
        progress=False,
        log=msgs.append,
    )
    rows = list(csv.DictReader(open(os.path.join(folder, "manifest.csv"))))
    assert sorted(r["status"] for r in rows) == ["failed"] + ["precropped"] * 6
    assert any("failed" in m and "S099_001" in m for m in msgs)
    ds = load_dataset("prepared", folder)
    assert len(ds) == 6 and read_image(ds.samples[0].path, "L").shape == (32, 32)
    assert [p.kind for p in ds.problems] == ["failed"]
    assert len(make_folds(ds, folds=3, val_fraction=0.0)) == 3


def test_prepare_keeps_the_whole_image_when_asked(tmp_path, monkeypatch):
    """SFEW-style already-aligned faces: an image where the detector finds nothing is skipped by default and
    kept (its centre square, resized, status whole_image) with no_face="whole"; both are listed as problems."""
    from facenet2expnet.face.detect import DETECTORS, FaceDetector
    from facenet2expnet.face.prepare import prepare_dataset

    class BlindDetector(FaceDetector):
        name = "blind-test"

        def load(self):
            pass

        def _detect(self, rgb):
            return []

    monkeypatch.setitem(DETECTORS, "blind-test", BlindDetector)
    for split, red in (("Train", 255), ("Val", 200)):
        img = np.zeros((90, 60, 3), np.uint8)
        img[15:75, :, 0] = red  # the centre 60x60 square is red, the bands above and below black
        d = tmp_path / "sfew" / split / "Happy"
        d.mkdir(parents=True)
        Image.fromarray(img).save(d / "a.png")
    kw = dict(size=30, channels="RGB", detector="blind-test", workers=1, progress=False, log=lambda m: None)
    skipped = prepare_dataset("sfew", str(tmp_path / "sfew"), str(tmp_path / "p1"), **kw)
    rows = list(csv.DictReader(open(os.path.join(skipped, "manifest.csv"))))
    assert [r["status"] for r in rows] == ["no_face", "no_face"]
    with pytest.raises(DatasetLayoutError, match="no labelled images"):  # nothing left to train on, said so
        load_dataset("prepared", skipped)
    kept = prepare_dataset("sfew", str(tmp_path / "sfew"), str(tmp_path / "p2"), no_face="whole", **kw)
    assert kept != skipped  # a different setting is a different cache
    ds = load_dataset("prepared", kept)
    assert len(ds) == 2 and sorted(s.split for s in ds.samples) == ["train", "val"]
    assert [p.kind for p in ds.problems] == ["whole-image", "whole-image"]
    chips = [read_image(s.path, "RGB") for s in ds.samples]
    assert all(c.shape == (30, 30, 3) and c[..., 0].min() >= 200 for c in chips)  # the centre square, not squashed
    with pytest.raises(ValueError, match="no_face"):
        prepare_dataset("sfew", str(tmp_path / "sfew"), str(tmp_path / "p3"), no_face="keep", **kw)


def test_prepare_and_predict_make_the_same_face_chip(tmp_path, monkeypatch):
    """One pipeline: the chip that `prepare` writes and the one the recognizer classifies, from the same photo,
    are byte-identical (same read, detect + align, channel mode)."""
    import cv2

    from facenet2expnet.face.detect import DETECTORS, Face, FaceDetector
    from facenet2expnet.face.prepare import prepare_dataset
    from facenet2expnet.infer import ExpressionRecognizer

    class FixedDetector(FaceDetector):  # finds one face where the synthetic photo has it
        name = "fixed-test"

        def load(self):
            pass

        def _detect(self, rgb):
            return [Face((60.0, 40.0, 160.0, 150.0), 1.0)]

    monkeypatch.setitem(DETECTORS, "fixed-test", FixedDetector)
    photo = write_face(str(tmp_path / "photos" / "happy" / "p1.png"), seed=3, size=240, mode="RGB")
    folder = prepare_dataset(
        "folder",
        str(tmp_path / "photos"),
        str(tmp_path / "prep"),
        size=48,
        channels="L",
        detector="fixed-test",
        detect="always",
        workers=1,
        progress=False,
        log=lambda m: None,
    )
    crop = cv2.imread(os.path.join(folder, "crops", "0000000.png"), cv2.IMREAD_UNCHANGED)
    rec = ExpressionRecognizer.from_pretrained(detector="fixed-test")  # the bundled model: 48 px grey, padding 0.25
    _, chips = rec.faces_and_chips(photo)
    assert crop.shape == chips[0].shape == (48, 48) and crop.dtype == chips[0].dtype == np.uint8
    assert np.array_equal(crop, chips[0])


@pytest.mark.realdata
def test_blazeface_finds_all_five_faces_and_none_in_the_landscape():
    """The default detector: 5 of 5 faces in multi_face.jpg (HOG misses the one in sunglasses), none in the landscape,
    each with dlib's 5 landmarks inside its box, so that alignment is the same as with dlib's detector."""
    det = create_detector()
    assert det.name == "blazeface"
    faces = det.detect(str(shared("faces", "multi_face.jpg")))
    assert len(faces) == 5 and all(f.score > 0.5 for f in faces)
    for f in faces:
        x0, y0, x1, y1 = f.box
        assert f.landmarks.shape == (5, 2)
        assert (
            (f.landmarks[:, 0] > x0 - 10)
            & (f.landmarks[:, 0] < x1 + 10)
            & (f.landmarks[:, 1] > y0 - 10)
            & (f.landmarks[:, 1] < y1 + 10)
        ).all()
    assert det.detect(str(shared("faces", "free-mountain-vector-01.jpg"))) == []
    for name in ("0-f1-su-ph.jpg", "obama.jpg", "Image_with_alpha.png"):
        assert len(det.detect(str(shared("faces", name)))) == 1


def test_blazeface_decoding_and_weighted_nms():
    """Anchors, box decoding and weighted NMS on hand-made network outputs (no photo needed)."""
    from facenet2expnet.face.blazeface import GRID, INPUT, anchors, decode, weighted_nms

    a = anchors()
    assert (
        a.shape == (GRID * GRID, 2)
        and np.allclose(a[0], [0.5 / GRID, 0.5 / GRID])
        and np.allclose(a[GRID], [0.5 / GRID, 1.5 / GRID])
    )
    raw = np.zeros((1, GRID * GRID, 16), np.float32)
    logits = np.full((1, GRID * GRID, 1), -10.0, np.float32)
    i, j = 10 * GRID + 20, 10 * GRID + 21  # two neighbouring anchors that see the same face
    for k, dx in ((i, 0.0), (j, -4.0)):  # the second one's regression points back at the same centre
        raw[0, k, :4] = [dx, 0.0, 40.0, 40.0]
        raw[0, k, 4:6] = [-8.0, -6.0]  # first keypoint: left and up of the centre
    logits[0, i], logits[0, j] = 4.0, 2.0
    boxes, scores, kps = decode(raw, logits, min_score=0.5)
    assert len(boxes) == 2
    cx, cy = a[i] * INPUT
    np.testing.assert_allclose(boxes[0], [cx - 20, cy - 20, cx + 20, cy + 20], atol=1e-4)
    np.testing.assert_allclose(kps[0, 0], [cx - 8, cy - 6], atol=1e-4)
    merged = weighted_nms(boxes, scores, kps)
    assert len(merged) == 1 and merged[0][1] == pytest.approx(1 / (1 + np.exp(-4.0)))
    np.testing.assert_allclose(merged[0][0], boxes[0], atol=1e-3)  # both members predict the same box


@pytest.mark.realdata
def test_blazeface_finds_a_face_that_fills_the_frame():
    """A tight, aligned face crop (SFEW's kind) is too large for the full-range model as it is; the detector looks
    again inside a border and finds it."""
    from facenet2expnet.data.images import read_image

    det = create_detector("blazeface")
    img = read_image(str(shared("faces", "0-f15-hao-ph.jpg")))
    x0, y0, x1, y1 = (int(v) for v in det.detect(img)[0].box)
    m = (y1 - y0) // 10  # inside the face box: the face fills the whole crop
    tight = np.ascontiguousarray(img[y0 + m : y1 - m, x0 + m : x1 - m])
    assert det._boxes(tight) == []  # the model alone misses it
    faces = det.detect(tight)
    assert len(faces) == 1 and faces[0].box[2] - faces[0].box[0] > 0.5 * tight.shape[1]
