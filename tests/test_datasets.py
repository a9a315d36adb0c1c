"""Loaders on synthetic trees of every layout (and broken variants), protocols, real-data counts."""

import json
import os

import numpy as np
import pytest
import scipy.io
from conftest import shared, write_face
from hypothesis import given, settings
from hypothesis import strategies as st

from facenet2expnet.cli.main import main
from facenet2expnet.data import Dataset, Sample, load_dataset, make_folds, parse_dataset_spec
from facenet2expnet.errors import BadImagesError, DatasetLayoutError, FaceNet2ExpNetError, UnknownNameError

CK48_CLASSES = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]


def make_ckplus48(root, n_subjects=12, seq_per_subject=2):
    k = 0
    for s in range(n_subjects):
        for q in range(seq_per_subject):
            cls = CK48_CLASSES[(s + q) % 7]
            for fr in range(3):
                write_face(root / cls / f"S{s + 10:03d}_{q + 1:03d}_{fr + 20:08d}.png", seed=k)
                k += 1
    return root


def make_ckplus_original(root, codes):
    """codes: {(subject, seq): code or None}; each sequence gets 5 frames."""
    k = 0
    for (subj, seq), code in codes.items():
        for fr in range(1, 6):
            write_face(root / "cohn-kanade-images" / subj / seq / f"{subj}_{seq}_{fr:08d}.png", seed=k, size=32)
            k += 1
        (root / "Emotion" / subj / seq).mkdir(parents=True, exist_ok=True)
        if code is not None:
            (root / "Emotion" / subj / seq / f"{subj}_{seq}_00000005_emotion.txt").write_text(f"   {code:.7e}\n")
    return root


# ---------------------------------------------------------------- CK+48


def test_ckplus48_records(tmp_path):
    ds = load_dataset("ckplus48", make_ckplus48(tmp_path / "ck48"))
    assert len(ds) == 12 * 2 * 3
    assert ds.class_names == CK48_CLASSES
    s = ds.samples[0]
    assert s.subject.startswith("S") and s.sequence.startswith(s.subject + "_") and s.frame >= 20
    assert len({x.sequence for x in ds.samples}) == 24


def test_ckplus48_ck6_excludes_contempt_explicitly(tmp_path):
    ds = load_dataset("ckplus48", make_ckplus48(tmp_path / "ck48"), classes="ck6")
    assert "contempt" not in ds.class_names
    excluded = [p for p in ds.problems if p.kind == "excluded"]
    assert excluded and "contempt" in excluded[0].message


def test_ckplus48_bad_name_and_bad_class(tmp_path):
    root = make_ckplus48(tmp_path / "ck48", n_subjects=2)
    write_face(root / "happy" / "not_a_ck_name.png")
    with pytest.raises(DatasetLayoutError, match="S###_###"):
        load_dataset("ckplus48", root)
    root2 = make_ckplus48(tmp_path / "ck48b", n_subjects=2)
    write_face(root2 / "smirk" / "S001_001_00000001.png")
    with pytest.raises(DatasetLayoutError, match="smirk.*known names: anger"):
        load_dataset("ckplus48", root2)


def test_corrupt_image_reported_then_skipped_explicitly(tmp_path):
    root = make_ckplus48(tmp_path / "ck48", n_subjects=3)
    bad = root / "anger" / "S099_001_00000001.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(BadImagesError) as err:
        load_dataset("ckplus48", root)
    assert str(bad) in str(err.value) and "--skip-bad" in str(err.value)
    ds = load_dataset("ckplus48", root, skip_bad=True)
    assert all(s.path != str(bad) for s in ds.samples)
    assert [p.path for p in ds.problems if p.kind == "unreadable"] == [str(bad)]


def test_empty_folder_and_duplicates_reported(tmp_path):
    root = make_ckplus48(tmp_path / "ck48", n_subjects=3)
    (root / "fear").mkdir(exist_ok=True)
    for f in (root / "fear").iterdir():
        f.unlink()
    src = next((root / "happy").iterdir()) if (root / "happy").exists() else next((root / "anger").iterdir())
    dup = src.parent / "S050_001_00000001.png"
    dup.write_bytes(src.read_bytes())
    ds = load_dataset("ckplus48", root)
    kinds = {p.kind for p in ds.problems}
    assert "empty-folder" in kinds and "duplicate" in kinds
    assert any(str(dup) in p.message for p in ds.problems if p.kind == "duplicate")


def test_wrong_layout_says_what_was_expected(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "readme.txt").write_text("hi")
    with pytest.raises(DatasetLayoutError, match="expected cohn-kanade-images.*found: readme.txt"):
        load_dataset("ckplus", tmp_path / "x")
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        load_dataset("ckplus48", tmp_path / "nope")
    with pytest.raises(UnknownNameError, match="known dataset kinds: .*ckplus48"):
        load_dataset("ck", tmp_path)


# ---------------------------------------------------------------- CK+ original


def test_ckplus_original_labels_last_frames_and_neutral(tmp_path):
    codes = {("S005", "001"): 3, ("S005", "002"): None, ("S010", "001"): 2, ("S011", "004"): 7}
    root = make_ckplus_original(tmp_path / "ck", codes)
    ds = load_dataset("ckplus", root)  # ck7
    assert len(ds) == 3 * 3  # 3 labelled sequences x last 3 frames
    assert {s.frame for s in ds.samples} == {3, 4, 5}
    assert sorted({ds.class_names[s.label] for s in ds.samples}) == ["contempt", "disgust", "surprise"]
    assert any(p.kind == "unlabelled" and "1 sequences" in p.message for p in ds.problems)

    ds8 = load_dataset("ckplus", root, classes="ck8", frames=1)
    names = [ds8.class_names[s.label] for s in ds8.samples]
    assert names.count("neutral") == 3 and ds8.class_names[0] == "neutral"
    assert all(s.frame == 1 for s in ds8.samples if ds8.class_names[s.label] == "neutral")

    ds6 = load_dataset("ckplus", root, classes="ck6")
    assert "contempt" not in ds6.class_names and len(ds6) == 6
    assert sum(p.kind == "excluded" for p in ds6.problems) == 3


def test_ckplus_bad_emotion_file(tmp_path):
    root = make_ckplus_original(tmp_path / "ck", {("S005", "001"): 3})
    next((root / "Emotion" / "S005" / "001").iterdir()).write_text("happy\n")
    with pytest.raises(DatasetLayoutError, match="emotion code"):
        load_dataset("ckplus", root)


# ---------------------------------------------------------------- Oulu, TFD, SFEW


def test_oulu_last_three_frames(tmp_path):
    base = tmp_path / "oulu" / "OriginalImg" / "VL" / "Strong"
    for p in ("P001", "P002"):
        for emo in ("Anger", "Happiness", "Surprise"):
            for fr in range(6):
                write_face(base / p / emo / f"{fr:03d}.jpeg", seed=fr, mode="RGB")
    ds = load_dataset("oulu", tmp_path / "oulu")
    assert len(ds) == 2 * 3 * 3 and len(ds.class_names) == 6
    assert {s.frame for s in ds.samples} == {3, 4, 5}
    assert {s.subject for s in ds.samples} == {"P001", "P002"}
    with pytest.raises(DatasetLayoutError, match="OriginalImg/VL/Strong"):
        load_dataset("oulu", tmp_path)


def test_tfd_official_folds(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    labs_ex = rng.integers(1, 8, n)
    labs_ex[:10] = -1  # unlabelled part
    folds = np.zeros((n, 5), int)
    for f in range(5):
        folds[10:, f] = rng.integers(1, 4, n - 10)
    scipy.io.savemat(
        tmp_path / "TFD_48x48.mat",
        {
            "images": rng.integers(0, 255, (n, 48, 48), dtype=np.uint8),
            "labs_ex": labs_ex[:, None],
            "labs_id": (np.arange(n) // 4)[:, None],
            "folds": folds,
        },
    )
    ds = load_dataset("tfd", tmp_path)
    assert len(ds) == 50 and ds.samples[0].array.shape == (48, 48)
    fs = make_folds(ds, "official")
    assert len(fs) == 5
    for f in fs:
        assert len(set(f.train) & set(f.test)) == 0 and len(f.train) + len(f.val) + len(f.test) == 50
    scipy.io.savemat(tmp_path / "bad.mat", {"images": np.zeros((2, 4, 4))})
    with pytest.raises(DatasetLayoutError, match="lacks the variables"):
        load_dataset("tfd", tmp_path / "bad.mat")


def test_sfew_splits(tmp_path):
    for split in ("Train", "Val"):
        for emo in ("Angry", "Happy", "Neutral", "Sad"):
            for i in range(4):
                write_face(tmp_path / split / emo / f"{emo}_{i}.png", seed=i, mode="RGB")
    ds = load_dataset("sfew", tmp_path)
    assert len(ds) == 32 and len(ds.class_names) == 7
    (f,) = make_folds(ds, "official")
    splits = np.array([s.split for s in ds.samples])
    assert set(splits[f.test]) == {"val"} and set(splits[f.train]) == {"train"} and set(splits[f.val]) == {"train"}
    with pytest.raises(FaceNet2ExpNetError, match="no subject ids"):
        make_folds(ds, "subject-kfold")


def test_sfew_movies_stand_in_for_subjects(tmp_path):
    """Released SFEW names are Movie_clip_frame (also Movie-clip_frame, Movie_clip__frame): the movie is the
    subject, so the validation split carved from Train holds out whole movies, never frames of a training clip."""
    names = [
        "Airheads_000519240_00000005",
        "Airheads_000519240_00000011",
        "OceansThirteen-010619400_00000087",
        "IAmSam_013827920__00000055",
        "Harry_Potter_001_00000002",
        "Up_004_00000001",
        "Up_005_00000003",
        "Big_002_00000004",
        "Big_002_00000009",
        "Heat_003_00000001",
    ]
    for i, name in enumerate(names):
        for split, emo in (("Train", "Happy"), ("Train", "Sad"), ("Val", "Angry")):
            write_face(tmp_path / split / emo / f"{name}.png", seed=i + 100 * len(split + emo), mode="RGB")
    ds = load_dataset("sfew", tmp_path)
    by_name = {os.path.basename(s.path)[:-4]: s for s in ds.samples}
    assert (by_name["Airheads_000519240_00000011"].subject, by_name["Airheads_000519240_00000011"].sequence) == (
        "Airheads",
        "Airheads_000519240",
    )
    assert by_name["OceansThirteen-010619400_00000087"].subject == "OceansThirteen"
    assert by_name["IAmSam_013827920__00000055"].frame == 55
    assert by_name["Harry_Potter_001_00000002"].subject == "Harry_Potter"
    (f,) = make_folds(ds, "official", val_fraction=0.3)
    movies = lambda idx: {ds.samples[i].subject for i in idx}  # noqa: E731
    assert f.val.size and not movies(f.val) & movies(f.train)


# ---------------------------------------------------------------- FER2013


def test_fer2013_csv_and_folders(tmp_path):
    rows = ["emotion,pixels,Usage"]
    for i in range(30):
        px = " ".join(str((i * 7 + j) % 256) for j in range(48 * 48))
        rows.append(f"{i % 7},{px},{['Training', 'PublicTest', 'PrivateTest'][i % 3]}")
    (tmp_path / "fer2013.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset("fer2013", tmp_path)
    assert len(ds) == 30 and ds.samples[0].array.shape == (48, 48)
    (f,) = make_folds(ds, "official")
    assert len(f.train) == len(f.val) == len(f.test) == 10

    fold_root = tmp_path / "folders"
    for cls in ("angry", "happy", "sad"):
        for i in range(3):
            write_face(fold_root / "train" / cls / f"Training_{i}.jpg", seed=i)
            write_face(fold_root / "test" / cls / f"PublicTest_{i}.jpg", seed=i + 10)
    ds2 = load_dataset("fer2013", fold_root)
    assert sorted({s.split for s in ds2.samples}) == ["publictest", "train"]
    assert ds2.class_names[0] == "anger" and ds2.class_names[4] == "sadness"
    (f2,) = make_folds(ds2, "official")
    # no PrivateTest: validation is carved from Training, and PublicTest is only the test
    assert "validation carved from Training" in f2.note
    assert set(f2.val) <= {i for i, s in enumerate(ds2.samples) if s.split == "train"} and len(f2.val) > 0
    assert set(f2.test) == {i for i, s in enumerate(ds2.samples) if s.split == "publictest"}
    assert not set(f2.train) & set(f2.val)
    write_face(fold_root / "test" / "happy" / "Other_1.jpg")
    with pytest.raises(DatasetLayoutError, match="PublicTest_"):
        load_dataset("fer2013", fold_root)


def test_fer2013_csv_bad_row(tmp_path):
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n1,1 2 3,Training\n")
    with pytest.raises(DatasetLayoutError, match="row 2 has 3 pixels"):
        load_dataset("fer2013", tmp_path)


# ---------------------------------------------------------------- RAF-DB, JAFFE, users' data


def test_rafdb(tmp_path):
    lines = []
    for i in range(6):
        name = f"{'train' if i < 4 else 'test'}_{i:05d}.jpg"
        write_face(tmp_path / "Image" / "aligned" / name.replace(".jpg", "_aligned.jpg"), seed=i, mode="RGB")
        lines.append(f"{name} {i % 7 + 1}")
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    ds = load_dataset("rafdb", tmp_path)
    assert len(ds) == 6 and ds.class_names[0] == "surprise"
    assert [s.split for s in ds.samples].count("test") == 2


def test_jaffe_loso(tmp_path):
    k = 0
    for subj in ("KA", "KL", "KM"):
        for code in ("AN", "HA", "NE", "SU"):
            write_face(tmp_path / f"{subj}.{code}1.{k}.tiff", seed=k)
            k += 1
    ds = load_dataset("jaffe", tmp_path)
    assert len(ds) == 12 and {s.subject for s in ds.samples} == {"KA", "KL", "KM"}
    fs = make_folds(ds, "loso", val_fraction=0.5)
    assert len(fs) == 3
    for f in fs:
        assert len({ds.samples[i].subject for i in f.test}) == 1


def test_generic_folder_and_csv(tmp_path):
    for cls in ("calm", "excited"):
        for subj in ("ann", "bob", "cid"):
            write_face(tmp_path / "own" / cls / f"{subj}_{cls}.png")
    ds = load_dataset("folder", tmp_path / "own", subject_pattern=r"^([a-z]+)_")
    assert ds.class_names == ["calm", "excited"] and {s.subject for s in ds.samples} == {"ann", "bob", "cid"}
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("path,label,subject\nown/calm/ann_calm.png,calm,ann\nown/excited/bob_excited.png,excited,bob\n")
    ds2 = load_dataset("csv", csv_path)
    assert len(ds2) == 2 and ds2.samples[1].subject == "bob"
    csv_path.write_text("file,label\nx.png,calm\n")
    with pytest.raises(DatasetLayoutError, match="needs columns path and label"):
        load_dataset("csv", csv_path)


def test_parse_dataset_spec():
    assert parse_dataset_spec("ckplus48:/a/b:c") == ("ckplus48", "/a/b:c")
    with pytest.raises(DatasetLayoutError, match="KIND:ROOT"):
        parse_dataset_spec("ckplus48")
    with pytest.raises(UnknownNameError, match="ckplus48"):
        parse_dataset_spec("ck:/x")


# ---------------------------------------------------------------- protocols


def _synthetic_dataset(labels, subjects):
    samples = [
        Sample(label=int(lab), path=f"/x/{i}.png", subject=str(s)) for i, (lab, s) in enumerate(zip(labels, subjects))
    ]
    return Dataset("synthetic", "/x", [f"c{i}" for i in range(max(labels) + 1)], samples)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 30)), min_size=30, max_size=200),
    st.integers(2, 10),
    st.integers(0, 999),
)
def test_no_subject_in_two_folds(pairs, k, seed):
    labels, subjects = zip(*pairs)
    ds = _synthetic_dataset(labels, subjects)
    n_subj = len(set(subjects))
    if n_subj < k:
        with pytest.raises(FaceNet2ExpNetError, match="fewer folds"):
            make_folds(ds, "subject-kfold", folds=k, seed=seed)
        return
    folds = make_folds(ds, "subject-kfold", folds=k, seed=seed, val_fraction=0.0 if n_subj - n_subj // k < 2 else 0.2)
    subj = np.array([s.subject for s in ds.samples])
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested.tolist()) == list(range(len(ds)))  # every sample tested exactly once
    for f in folds:
        train_s, val_s, test_s = set(subj[f.train]), set(subj[f.val]), set(subj[f.test])
        assert not (train_s & test_s) and not (val_s & test_s) and not (train_s & val_s)
        assert len(f.train) + len(f.val) + len(f.test) == len(ds)
    for a in range(k):
        for b in range(a + 1, k):
            assert not set(subj[folds[a].test]) & set(subj[folds[b].test])


def test_kfold_is_deterministic_and_balanced():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, 600)
    subjects = rng.integers(0, 100, 600)
    ds = _synthetic_dataset(labels, subjects)
    a = make_folds(ds, folds=10, seed=3)
    b = make_folds(ds, folds=10, seed=3)
    assert all((x.test == y.test).all() and (x.val == y.val).all() for x, y in zip(a, b))
    sizes = [len(f.test) for f in a]
    assert max(sizes) - min(sizes) <= 0.5 * np.mean(sizes)
    c = make_folds(ds, folds=10, seed=4)
    assert any((x.test.shape != y.test.shape) or (x.test != y.test).any() for x, y in zip(a, c))


# ---------------------------------------------------------------- CLI and real data


def test_cli_info_json_synthetic(tmp_path, capsys):
    root = make_ckplus48(tmp_path / "ck48", n_subjects=12)
    args = ["datasets", "info", "ckplus48", str(root), "--json"]
    assert main([*args, "--folds", "4", "--protocol", "subject-kfold"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["images"] == 72 and info["subjects"] == 12 and info["sequences"] == 24
    assert len(info["folds"]) == 4 and info["classes"] == CK48_CLASSES
    assert main(args) == 0  # auto: 12 people are few enough to leave one out at a time
    auto = json.loads(capsys.readouterr().out)
    assert auto["protocol"] == "loso" and len(auto["folds"]) == 12
    assert main(["datasets", "info", "ckplus48", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_version_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and "facenet2expnet 0." in capsys.readouterr().out


@pytest.mark.realdata
def test_real_ckplus48_counts(capsys):
    root = shared("ckplus48")
    assert main(["datasets", "info", "ckplus48", str(root), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["images"], info["subjects"], info["sequences"], len(info["classes"])) == (981, 118, 327, 7)
    assert sum(f["test"] for f in info["folds"]) == 981


@pytest.mark.realdata
def test_real_fer2013_counts():
    ds = load_dataset("fer2013", shared("fer2013"), check_images=False)
    splits = [s.split for s in ds.samples]
    assert splits.count("train") == 28709 and splits.count("publictest") == 3589


def test_atomic_writes_get_the_mode_of_a_plain_open(tmp_path):
    """Reports and checkpoints are written through a temp file; they must not stay private (mkstemp's 0600)."""
    import os
    import stat

    from facenet2expnet.files import atomic_write_json

    old = os.umask(0o022)
    try:
        atomic_write_json(str(tmp_path / "r.json"), {"a": 1})
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "r.json").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "plain.txt").st_mode) == 0o644
    assert json.load(open(tmp_path / "r.json")) == {"a": 1}


def test_paired_comparison_against_known_values():
    from facenet2expnet.eval.metrics import paired_comparison

    a = [0.90, 0.85, 0.95, 0.80, 0.92, 0.88, 0.91, 0.86, 0.94, 0.89]
    b = [0.88, 0.86, 0.90, 0.78, 0.90, 0.88, 0.85, 0.84, 0.93, 0.85]
    r = paired_comparison(a, b)
    assert (r["wins"], r["ties"], r["losses"]) == (8, 1, 1) and r["folds"] == 10
    assert r["mean_diff"] == pytest.approx(0.023, abs=1e-9)
    d = np.array(a) - np.array(b)
    t = d.mean() / (d.std(ddof=1) / np.sqrt(10))  # the paired t statistic by hand
    assert r["t"] == pytest.approx(t) and 0 < r["p_t"] < 0.05 and 0 < r["p_wilcoxon"] < 0.05
    same = paired_comparison(a, a)
    assert same["t"] is None and same["p_wilcoxon"] is None and same["ties"] == 10
    with pytest.raises(ValueError, match="equal-length"):
        paired_comparison([0.9], [0.8])


def test_mcnemar_against_hand_computed_binomial():
    """One test set: 10 images only a gets right, 2 only b gets right -> p = 2 * P(X <= 2), X ~ Bin(12, 1/2)."""
    from math import comb

    from facenet2expnet.eval.metrics import mcnemar

    a = np.array([1] * 10 + [0] * 2 + [1] * 30 + [0] * 8, bool)
    b = np.array([0] * 10 + [1] * 2 + [1] * 30 + [0] * 8, bool)
    r = mcnemar(a, b)
    assert (r["a_only"], r["b_only"], r["n"]) == (10, 2, 50) and r["acc_a"] == 0.8 and r["acc_b"] == 0.64
    assert r["p_mcnemar"] == pytest.approx(2 * sum(comb(12, k) for k in range(3)) / 2**12)
    assert mcnemar(a, a)["p_mcnemar"] == 1.0  # no discordant image: no evidence either way
    with pytest.raises(ValueError, match="equal-length"):
        mcnemar(a, b[:-1])
