"""Own photos as users lay them out, and the bad input they bring: each trains, or fails before its first epoch
with one line that names what works, leaving the run folder free for the corrected command."""

import json

import pytest
from conftest import write_face

from facenet2expnet.cli.main import main

QUICK = ["--stage2-epochs", "1", "--no-progress", "--arch", "fast", "--method", "scratch", "--no-baselines"]


def _photos(root, spec: dict):
    """spec: class -> {person (None: no person folder): number of photos}."""
    k = 0
    for cls, people in spec.items():
        for person, n in people.items():
            for i in range(n):
                folder = root / cls / person if person else root / cls
                write_face(str(folder / f"{person or 'p'}_{i}.png"), seed=k, size=64)
                k += 1
    return root


def _train(root, out, *extra):
    return main(["train", "--dataset", f"folder:{root}", "--out", str(out), *QUICK, *extra])


def test_one_person_trains_on_folds_of_images_and_loso_names_what_works(tmp_path, capsys):
    root = _photos(tmp_path / "me", {"happy": {"al": 4}, "sadness": {"al": 4}})
    assert _train(root, tmp_path / "loso", "--protocol", "loso") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "two or more people" in err[0] and "--protocol image-kfold" in err[0]
    # the failed run trained nothing: the corrected command takes its folder over
    assert _train(root, tmp_path / "loso", "--protocol", "image-kfold", "--no-refit") == 0
    assert _train(root, tmp_path / "auto", "--no-refit") == 0  # auto picks the folds that work
    out = capsys.readouterr().out
    assert "image-kfold (--protocol auto)" in out and "optimistic" in out
    assert "nearly blind" in out  # scratch chose its epoch on a validation split of a few faces: the report says so
    assert "nearly blind" in (tmp_path / "auto" / "report.md").read_text()
    report = json.loads((tmp_path / "auto" / "report.json").read_text())
    assert report["protocol"] == "image-kfold"


def test_unusual_class_names_two_classes_and_a_class_of_one_photo(tmp_path, capsys):
    root = _photos(
        tmp_path / "odd", {"très heureux": {None: 5}, "sad face": {None: 5}, "fear": {None: 1}}
    )  # spaces, non-ASCII letters, and a class with a single photo
    assert _train(root, tmp_path / "run") == 0
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["classes"] == ["fear", "sad face", "très heureux"] and card["card"]["faces"] == 11
    assert (tmp_path / "run" / "model.onnx").exists()
    two = _photos(tmp_path / "two", {"happy": {None: 4}, "sadness": {None: 4}})
    assert _train(two, tmp_path / "two_run", "--no-refit") == 0


def test_a_run_folder_with_another_run_is_refused_and_the_same_command_resumes(tmp_path, capsys):
    root = _photos(tmp_path / "p", {"happy": {"a": 3, "b": 3}, "sadness": {"a": 3, "b": 3}})
    assert _train(root, tmp_path / "run", "--no-refit") == 0
    first = json.loads((tmp_path / "run" / "report.json").read_text())["accuracy_mean"]
    capsys.readouterr()
    assert _train(root, tmp_path / "run", "--no-refit") == 0  # the same command: a finished run is read back
    assert "done already" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "report.json").read_text())["accuracy_mean"] == first
    assert _train(root, tmp_path / "run", "--no-refit", "--dropout", "0.1") == 2
    err = capsys.readouterr().err
    assert "already holds another run" in err and "dropout" in err


@pytest.mark.parametrize("missing", ["manifest.csv"])
def test_a_prepared_folder_that_is_not_one_says_so(tmp_path, capsys, missing):
    (tmp_path / "cache").mkdir()
    assert main(["train", "--dataset", f"prepared:{tmp_path / 'cache'}", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "prepare" in err[0]
