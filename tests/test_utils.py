"""Small helpers shared by the package, the benchmarks and the scripts."""

import os

from facenet2expnet.paths import portable


def test_portable_paths_say_where_not_which_machine(monkeypatch, tmp_path):
    """Commands written into results and model cards name paths relative to the repository, beside it, or under ~."""
    home, root = tmp_path / "home", tmp_path / "work" / "repo"
    monkeypatch.setenv("HOME", str(home))
    text = f"train --out {home}/runs/x --data {tmp_path}/work/shared/d --config {root}/recipes/a.toml"
    assert portable(text, str(root)) == "train --out ~/runs/x --data ../shared/d --config recipes/a.toml"
    # a checkout beside the home's parent (a clone in /tmp, a test's home under /tmp): the home still reads ~/
    clone = tmp_path / "clone"
    assert (
        portable(f"--out {home}/runs/x --data {tmp_path}/shared/d", str(clone)) == "--out ~/runs/x --data ../shared/d"
    )
    monkeypatch.setenv("HOME", os.sep)  # a home at the file system's root is left alone
    assert portable(f"{home}/runs/x", str(root)) == f"{home}/runs/x"


def test_macro_recall_weighs_each_class_alike_and_leaves_out_classes_with_no_face():
    """eval/metrics.macro_recall, the one home of the figure the cards, reports and benchmarks quote."""
    import math

    import numpy as np

    from facenet2expnet.eval.metrics import confusion_matrix, macro_recall, per_class_recall

    # class 0: 9 of 10 right; class 1: 0 of 1 right; class 2: no face (NaN recall)
    truth = np.array([0] * 10 + [1])
    pred = np.array([0] * 9 + [1] + [0])
    recalls = per_class_recall(confusion_matrix(truth, pred, 3))
    assert math.isclose(macro_recall(recalls), (0.9 + 0.0) / 2)  # accuracy would say 9 of 11
    assert math.isclose(macro_recall({"a": 0.5, "b": None, "c": 1.0}.values()), 0.75)
    assert math.isnan(macro_recall([None, float("nan")]))
