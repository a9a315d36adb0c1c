"""Small helpers shared by the package, the benchmarks and the scripts."""

import os

from facenet2expnet.paths import portable


def test_portable_paths_say_where_not_which_machine(monkeypatch, tmp_path):
    """Commands written into results and model cards name paths relative to the repository, beside it, or under ~."""
    home, root = tmp_path / "home", tmp_path / "work" / "repo"
    monkeypatch.setenv("HOME", str(home))
    text = f"train --out {home}/runs/x --data {tmp_path}/work/shared/d --config {root}/recipes/a.toml"
    assert portable(text, str(root)) == "train --out ~/runs/x --data ../shared/d --config recipes/a.toml"
    monkeypatch.setenv("HOME", os.sep)  # a home at the file system's root is left alone
    assert portable(f"{home}/runs/x", str(root)) == f"{home}/runs/x"
