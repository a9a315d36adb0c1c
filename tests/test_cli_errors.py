"""Every user mistake the CLI can meet is one `error:` line that names the fix: no traceback, nothing left behind."""

import os

import pytest
from conftest import write_face

from facenet2expnet.cli.main import main


@pytest.fixture(scope="module")
def ck(tmp_path_factory):
    root = tmp_path_factory.mktemp("ck") / "ck48"
    for s in range(4):
        for c, cls in enumerate(["happy", "sadness"]):
            write_face(str(root / cls / f"S{s + 1:03d}_{c + 1:03d}_00000010.png"), seed=10 * s + c)
    return root


def _files(tmp_path):
    (tmp_path / "bad.toml").write_text("arch = \n")
    (tmp_path / "bad.json").write_text('{"arch": 3')
    (tmp_path / "typo.toml").write_text('archh = "fast"\n')
    (tmp_path / "model.txt").write_text("x")


CASES = [  # (argv with {ck} and {tmp}, words the error must contain)
    (["train", "--dataset", "ckplus48", "--out", "{tmp}/r"], ["KIND:ROOT", "after a colon"]),
    (["train", "--dataset", "nokind:{ck}", "--out", "{tmp}/r"], ["unknown dataset kind 'nokind'", "ckplus48"]),
    (["train", "--dataset", "ckplus48:{tmp}/nowhere", "--out", "{tmp}/r"], ["does not exist"]),
    (
        ["train", "--dataset", "ckplus48:{ck}", "--arch", "nope", "--out", "{tmp}/r"],
        ["unknown expression net", "res48"],
    ),
    (["train", "--dataset", "ckplus48:{ck}", "--teacher", "nope", "--out", "{tmp}/r"], ["unknown teacher", "dlib"]),
    (["train", "--dataset", "ckplus48:{ck}", "--layer", "nope", "--out", "{tmp}/r"], ["layer 'nope'", "level2"]),
    (["train", "--config", "{tmp}/missing.toml", "--out", "{tmp}/r"], ["no such file"]),
    (["train", "--config", "{tmp}/bad.toml", "--out", "{tmp}/r"], ["not valid TOML"]),
    (["train", "--config", "{tmp}/bad.json", "--out", "{tmp}/r"], ["not valid JSON"]),
    (["train", "--config", "{tmp}/typo.toml", "--out", "{tmp}/r"], ["unknown field(s) archh", "--help"]),
    (["train", "--out", "{tmp}/none", "--resume"], ["holds no run", "drop --resume"]),
    (["train", "--out", "{tmp}/r"], ["no dataset", "--dataset KIND:ROOT"]),
    (["predict", "--model", "nope", "{tmp}/bad.toml"], ["no bundled model 'nope'", "checkpoint path"]),
    (["predict", "{tmp}/nowhere.jpg"], ["does not exist"]),
    (["export", "nope", "--onnx", "{tmp}/m.onnx"], ["no bundled model 'nope'"]),
    (["serve", "--model", "{tmp}/model.txt"], ["not a model file", ".onnx"]),
    (["datasets", "info", "nokind", "{ck}"], ["unknown dataset kind"]),
    (["prepare", "--dataset", "ckplus48", "--out", "{tmp}/p"], ["KIND:ROOT"]),
    (["compare", "{tmp}/nowhere"], ["no report.json"]),
]


@pytest.mark.parametrize("argv,words", CASES, ids=[" ".join(a[:3]) for a, _ in CASES])
def test_cli_mistake_is_one_error_line(argv, words, ck, tmp_path, capsys):
    _files(tmp_path)
    argv = [a.format(ck=ck, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert all(w in err[0] for w in words), err[0]
    assert not os.path.exists(tmp_path / "r"), "a failed train left a run dir behind"
