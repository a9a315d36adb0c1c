"""Training under torchrun: 2 processes with gloo on CPU, on a tiny synthetic dataset.

Data-parallel training of one global batch matches one process (with global BatchNorm statistics and
no dropout, whose masks are drawn per process); only rank 0 writes; fold-parallel cross-validation
gives the sequential run's per-fold accuracies; a run stopped after an epoch resumes under torchrun to
the unbroken run's final state; the sharded teacher-feature store is the single-process store.
"""

import glob
import os
import subprocess

import pytest
import torch
from conftest import write_face

pytestmark = pytest.mark.slow

CLASSES = ["happy", "sadness", "surprise"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """ckplus48 layout: 3 classes, 6 subjects, 2 frames: 36 faces."""
    root = tmp_path_factory.mktemp("dist") / "ck48"
    for s in range(6):
        for c, cls in enumerate(CLASSES):
            for fr in range(2):
                write_face(str(root / cls / f"S{s + 1:03d}_{c + 1:03d}_{fr + 10:08d}.png"), seed=100 * c + 10 * s + fr)
    return root


def _train(tiny, out, cache, nproc=1, extra=(), env=None):
    args = [
        "train",
        "--dataset",
        f"ckplus48:{tiny}",
        "--classes",
        ",".join(CLASSES),
        "--folds",
        "3",
        "--max-folds",
        "1",
        "--arch",
        "fast",
        "--stage1-epochs",
        "1",
        # SGD: Adam (the stage-1 default) divides each step by the gradient's running scale, which turns the
        # ranks' float32 rounding of near-zero gradients into visible weight differences (3e-5 after one epoch)
        "--stage1-optimizer",
        "sgd",
        "--lr-stage1",
        "0.05",
        # float32 on every CPU: the tolerances below are float32 rounding (--amp auto is bf16 on CPUs with bf16)
        "--amp",
        "off",
        *(() if "--batch-size" in extra else ("--batch-size", "8")),
        "--dropout",
        "0",
        "--sync-bn",
        "--val-fraction",
        "0.34",
        "--cache-dir",
        str(cache),
        "--threads",
        "1",
        "--no-progress",
        "--out",
        str(out),
        *extra,
    ]
    from facenet2expnet.train.distributed import launch_command

    cmd = launch_command(nproc)
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(cmd + args, env=full_env, capture_output=True, text=True, timeout=300)


def _params(run, fold=0):
    state = torch.load(os.path.join(run, "folds", f"fold_{fold:02d}", "last.pt"), map_location="cpu", weights_only=True)
    return state["model"]


def _close(a, b, tol=1e-5):
    assert a.keys() == b.keys()
    worst = max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())
    assert worst <= tol, f"parameters differ by {worst}"


@pytest.mark.parametrize(
    "method",
    [
        ("--method", "fn2en", "--stage2-epochs", "0"),
        ("--method", "scratch", "--stage2-epochs", "1", "--batch-size", "64"),
    ],
    ids=["stage1", "stage2"],
)
def test_data_parallel_matches_one_process_and_only_rank0_writes(tiny, tmp_path, method):
    """One epoch of each stage (fn2en's stage 1 alone; scratch's refining), 2 processes against 1.

    The tolerance is rounding: two ranks sum a batch's gradient as two partial sums and an all-reduce, one
    process as one sum, and float32 addition is not associative. After one optimizer step that leaves the
    weights a few float32 ulps apart (measured on AMD EPYC: 1.3e-7, with
    ATEN_CPU_CAPABILITY=default and avx2), so 1e-5 bounds it with room. A second step amplifies it: with
    augmented (non-integer) faces a near-tie in a max pooling or a ReLU can route a gradient elsewhere, and on
    AMD EPYC the weights then differed by 3.6e-4 after two steps of batch 8 (the test before 2026-12-04).
    So refining is checked over one step (the whole training split in one batch of 64); stage 1, on plain and
    mirrored faces, keeps its several steps of batch 8 (within 1e-5 here and where the suite was written).
    """
    one = _train(tiny, tmp_path / "one", tmp_path / "cache1", extra=method)
    assert one.returncode == 0, one.stderr[-3000:]
    log = tmp_path / "writes.log"
    two = _train(tiny, tmp_path / "two", tmp_path / "cache2", nproc=2, extra=method, env={"FN2EN_WRITE_LOG": str(log)})
    assert two.returncode == 0, two.stderr[-3000:]
    _close(_params(tmp_path / "one"), _params(tmp_path / "two"))
    # every file of the run was written by rank 0; rank 1 wrote only its teacher-feature shard's progress
    writes = [line.split(" ", 1) for line in log.read_text().splitlines()]
    summary = "pretrain.json" if "fn2en" in method else "report.json"
    assert any(r == "0" and p.endswith(summary) for r, p in writes)
    assert all(r == "0" or "/shard-1-of-2." in p for r, p in writes), [w for w in writes if w[0] != "0"]
    import json

    report = json.load(open(tmp_path / "two" / summary))
    assert (
        report["world_size"] == 2
        and report["global_batch_size"] == (64 if "64" in method else 8)
        and report["parallel"] == "data"
    )
    if "fn2en" in method:  # the sharded store holds the single-process store's bytes, in its layout, shards gone
        (s1,), (s2,) = glob.glob(str(tmp_path / "cache1" / "*")), glob.glob(str(tmp_path / "cache2" / "*"))
        assert os.path.basename(s1) == os.path.basename(s2) and sorted(os.listdir(s1)) == sorted(os.listdir(s2))
        assert (
            open(os.path.join(s1, "features.npy"), "rb").read() == open(os.path.join(s2, "features.npy"), "rb").read()
        )
        assert any("/shard-1-of-2." in p for r, p in writes if r == "1")


def test_fold_parallel_gives_the_sequential_accuracies(tiny, tmp_path):
    extra = ("--max-folds", "2", "--parallel", "folds", "--method", "fn2en", "--stage2-epochs", "2")
    seq = _train(tiny, tmp_path / "seq", tmp_path / "cache", extra=extra)
    assert seq.returncode == 0, seq.stderr[-3000:]
    par = _train(tiny, tmp_path / "par", tmp_path / "cache", nproc=2, extra=extra)
    assert par.returncode == 0, par.stderr[-3000:]
    import json

    a = [f["accuracy"] for f in json.load(open(tmp_path / "seq" / "report.json"))["folds"]]
    b = [f["accuracy"] for f in json.load(open(tmp_path / "par" / "report.json"))["folds"]]
    assert len(a) == 2 and a == b
    for fold in (0, 1):  # each fold trained by its own rank, to the same weights
        _close(_params(tmp_path / "seq", fold), _params(tmp_path / "par", fold), tol=0.0)


def test_a_stopped_run_resumes_under_torchrun_to_the_unbroken_state(tiny, tmp_path):
    extra = ("--method", "fn2en", "--stage2-epochs", "2")
    full = _train(tiny, tmp_path / "full", tmp_path / "cache", nproc=2, extra=extra)
    assert full.returncode == 0, full.stderr[-3000:]
    cut = _train(
        tiny, tmp_path / "cut", tmp_path / "cache", nproc=2, extra=extra, env={"FN2EN_FAULT_AFTER_EPOCHS": "2"}
    )
    assert cut.returncode != 0 and "FN2EN_FAULT_AFTER_EPOCHS=2" in cut.stderr
    assert not (tmp_path / "cut" / "report.json").exists()
    resumed = _train(tiny, tmp_path / "cut", tmp_path / "cache", nproc=2, extra=(*extra, "--resume"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _close(_params(tmp_path / "full"), _params(tmp_path / "cut"), tol=0.0)
    rows = open(tmp_path / "cut" / "metrics.csv").read().splitlines()
    assert len(rows) == 1 + 3  # header, stage 1 epoch 1, stage 2 epochs 1-2: none lost, none twice


@pytest.mark.parametrize("dims", [2, 4])
def test_dist_batchnorm_is_batchnorm_on_one_process(dims):
    from facenet2expnet.train.distributed import DistBatchNorm1d, DistBatchNorm2d

    torch.manual_seed(0)
    bn, dbn = (
        (torch.nn.BatchNorm1d(4), DistBatchNorm1d(4)) if dims == 2 else (torch.nn.BatchNorm2d(4), DistBatchNorm2d(4))
    )
    x = torch.randn(6, 4, 5, 5)[(...,) + ((0, 0) if dims == 2 else ())].requires_grad_()
    y1, y2 = bn(x), dbn(x)
    torch.testing.assert_close(y1, y2)
    torch.testing.assert_close(bn.running_var, dbn.running_var)
    torch.testing.assert_close(bn.running_mean, dbn.running_mean)
    g1 = torch.autograd.grad((y1 * torch.arange(y1.numel()).view_as(y1)).sum(), x)[0]
    g2 = torch.autograd.grad((y2 * torch.arange(y2.numel()).view_as(y2)).sum(), x)[0]
    torch.testing.assert_close(g1, g2)
