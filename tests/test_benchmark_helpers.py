"""The benchmark scripts' shared helpers (benchmarks/common.py) that turn run dirs into results rows."""

import os

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


@pytest.fixture
def common(monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    import common

    return common


def _metrics(tmp_path, lines):
    fold = tmp_path / "run" / "folds" / "fold_00"
    fold.mkdir(parents=True)
    header = "fold,stage,epoch,lr,train_loss,train_acc,val_loss,val_acc,val_r2,val_cos,train_r2,train_cos,seconds"
    (fold / "metrics.csv").write_text("\n".join([header, *lines]) + "\n")
    return str(tmp_path / "run")


def test_epoch_curve_keeps_one_stage_in_epoch_order_with_blanks_as_none(common, tmp_path):
    run = _metrics(
        tmp_path,
        [
            "0,stage1,1,0.001,0.5,,0.4,,0.20,0.88,0.21,0.88,10",
            "0,stage1,2,0.001,0.4,,0.3,,0.35,0.90,,0.90,10",
            "0,stage2,1,0.02,1.2,0.5,1.1,0.55,,,,,20",
        ],
    )
    assert common.epoch_curve(run, "stage1", ("val_r2", "train_r2")) == {
        "val_r2": [0.20, 0.35],
        "train_r2": [0.21, None],
    }
    assert common.refining_curve(run) == {"val_acc": [0.55], "train_acc": [0.5]}


def test_epoch_curve_of_a_run_without_metrics_is_empty(common, tmp_path):
    assert common.epoch_curve(str(tmp_path / "missing"), "stage1", ("val_r2",)) == {"val_r2": []}
