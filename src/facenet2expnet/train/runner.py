"""A whole experiment: dataset -> folds -> (teacher features) -> one model per fold -> report.

Run dir layout::

    config.json                     the resolved TrainConfig
    folds/fold_XX/last.pt           resumable training state (atomic writes)
    folds/fold_XX/best.{safetensors,json}   the selected model, self-describing
    folds/fold_XX/metrics.csv, predictions.csv, result.json (written last: the fold is done)
    metrics.csv                     every epoch of every fold, both stages
    report.json, report.md, confusion_matrix.png
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from ..data.datasets import load_dataset, parse_dataset_spec
from ..data.protocols import NO_SUBJECTS_WARNING, make_folds, resolve_protocol
from ..errors import FaceNet2ExpNetError
from ..eval.metrics import macro_recall
from ..files import atomic_write_json, atomic_write_text, read_json
from .config import RUNTIME_FIELDS, TrainConfig
from .distributed import Dist
from .methods import METHODS
from .run_report import finish_run, fold_summary, read_metrics, start_line


def _resolve_config(cfg: TrainConfig, out_dir: str, resume: bool, dist: Dist) -> tuple[TrainConfig, bool]:
    """The run dir is keyed by its resolved config: resuming with another one is an error, never a silent mix; the
    same config again resumes. -> (the config to run, whether it resumes).

    Every rank checks (so that every rank raises the same error); rank 0 alone writes a new run's config.
    """
    path = os.path.join(out_dir, "config.json")
    # a run that failed before its first fold started (a protocol the data cannot serve, say) trained nothing:
    # the corrected command, whatever its settings, takes the folder over, with no --resume needed
    untouched = not os.path.exists(os.path.join(out_dir, "folds"))
    exists = os.path.exists(path) and not (untouched and not resume)
    dist.barrier()  # all ranks looked before rank 0 writes
    if exists and not resume:
        saved = TrainConfig.from_dict(read_json(path), source=path)
        if saved.key() != cfg.key():
            diff = "; ".join(f"{k}: run has {a!r}, now {b!r}" for k, (a, b) in list(saved.diff(cfg).items())[:4])
            raise FaceNet2ExpNetError(
                f"{out_dir} already holds another run ({diff}); choose another --out, or `--resume --out {out_dir}` "
                "to continue that run with its own settings"
            )
        resume = True  # the same command again: a partial run continues where it stopped
    if exists:
        saved = TrainConfig.from_dict(read_json(path), source=path)
        if saved.key() != cfg.key():
            diff = "; ".join(f"{k}: run has {a!r}, now {b!r}" for k, (a, b) in saved.diff(cfg).items())
            raise FaceNet2ExpNetError(
                f"--resume {out_dir}: the configuration differs from the run's ({diff}). Resume with the "
                f"run's own settings (`--resume --out {out_dir}` alone uses them), or start a new --out"
            )
        # runtime fields (device, cache dir, parallel mode) may change between invocations
        return TrainConfig.from_dict({**saved.to_dict(), **{k: getattr(cfg, k) for k in RUNTIME_FIELDS}}), True
    if dist.is_main:
        os.makedirs(out_dir, exist_ok=True)
        atomic_write_json(path, cfg.to_dict())
        atomic_write_text(os.path.join(out_dir, "config.key"), cfg.key() + "\n")
    dist.barrier()
    return cfg, resume


def start_fingerprint(cfg: TrainConfig) -> dict | None:
    """The weights a run starts from (``--init-trunk``): its name and the sha256 of its weights file, or None for
    random weights. A bundled name keeps its name across package versions while its weights change."""
    from ..files import file_sha256
    from ..models.pretrained import resolve_model

    if cfg.trunk is None:
        return None
    path = resolve_model(cfg.trunk)
    weights = os.path.splitext(path)[0] + ".safetensors"
    return {"init_trunk": cfg.trunk, "sha256": file_sha256(weights if os.path.exists(weights) else path)}


def _check_start(cfg: TrainConfig, out_dir: str, resume: bool, dist: Dist) -> None:
    """A resumed run continues from the weights it began with: the config names its start, ``start.json`` pins
    that start's weights (a run from before start.json was written is not checked)."""
    path = os.path.join(out_dir, "start.json")
    now = start_fingerprint(cfg) or {}
    if resume and os.path.exists(path):
        began = read_json(path) or {}
        if began.get("sha256") != now.get("sha256"):
            raise FaceNet2ExpNetError(
                f"{out_dir}: the start {cfg.trunk!r} has other weights than when this run began (sha256 "
                f"{str(began.get('sha256'))[:12]}, now {str(now.get('sha256'))[:12]}: an upgraded package or a "
                "retrained file), so its folds so far came from other weights; start a new --out"
            )
    elif dist.is_main and not os.path.exists(os.path.join(out_dir, "folds")):
        atomic_write_json(path, now)
    dist.barrier()


@dataclass
class Inputs:
    """What every fold of a run reads: the dataset, its folds, the teacher's targets and the images in memory."""

    ds: object
    folds: list
    tap_shape: tuple
    targets: object = None  # N x 2 x C x H x W teacher features (memory-mapped), for fn2en and the probe
    teacher_desc: dict | None = None
    cache_seconds: float = 0.0
    images: object = None  # N x C x S x S uint8, for the methods that train a net
    votes: object = None  # N x K annotator vote shares, for the label modes that train on them
    protocol: str = ""  # the protocol the run uses (``auto`` resolved)
    all_folds: int = 0  # how many folds the protocol has (``--max-folds`` may run fewer)

    @property
    def complete(self) -> bool:
        """Every fold of the protocol runs (not a ``--max-folds`` look)."""
        return len(self.folds) == self.all_folds


def run_experiment(
    cfg: TrainConfig, out_dir: str, resume: bool = False, progress: bool = True, log=print, command: str | None = None
) -> dict | None:
    """Resolve the config against the run dir, load the inputs once, train (or resume) every fold, report.

    Under torchrun the processes join one group here (docs/distributed.md); rank 0 writes the run's files
    and returns the report, the other ranks return None.
    """
    import torch

    t_start = time.time()
    torch.use_deterministic_algorithms(True, warn_only=True)
    cfg.require_dataset()
    check_names(cfg)  # before the run dir is written: a typo leaves nothing behind
    dist = Dist.start(cfg.device)
    try:
        cfg, resume = _resolve_config(cfg, out_dir, resume, dist)
        _check_start(cfg, out_dir, resume, dist)
        log = log if dist.is_main else (lambda m: None)
        log(start_line(cfg))
        inp = load_inputs(cfg, progress and dist.is_main, log, dist)
        # a resumed run's time: this invocation's wall time plus the epochs that earlier invocations recorded
        # (their start-up is not counted; an epoch cut short by the kill is re-run and counted once)
        earlier_seconds = sum(float(r["seconds"]) for r in read_metrics(out_dir, inp.folds)) if resume else 0.0
        finished = _finished_record(out_dir) if resume else None
        results = run_folds(cfg, inp, out_dir, resume, progress, log, dist)
        if not dist.is_main:
            return None
        seconds = time.time() - t_start + earlier_seconds
        report = finish_run(cfg, inp, results, out_dir, command, seconds, dist, log, finished)
        if will_refit(cfg, inp):
            refit(cfg, inp, results, report, out_dir, resume, progress, log, dist)
        return report
    finally:
        dist.stop()


def run_folds(cfg: TrainConfig, inp: "Inputs", out_dir: str, resume: bool, progress: bool, log, dist: Dist) -> list:
    """Every fold: one after another (each data-parallel over the ranks), or spread over the ranks (``parallel =
    folds``)."""
    if cfg.parallel == "folds" and dist.world > 1:
        mine = [f for f in inp.folds if f.index % dist.world == dist.rank]
        for fold in mine:  # this rank trains its folds alone, and writes them
            run_fold(cfg, inp, fold, out_dir, resume, progress and dist.is_main, log, dist.local())
        dist.barrier()
        # rank 0 merges: every fold is done now, so each one's saved result is read back
        return (
            [run_fold(cfg, inp, f, out_dir, True, False, log, dist.local()) for f in inp.folds] if dist.is_main else []
        )
    results, spent, trained, refits = [], 0.0, 0, will_refit(cfg, inp)
    for k, fold in enumerate(inp.folds):
        t0 = time.time()
        r = run_fold(cfg, inp, fold, out_dir, resume, progress, log, dist)
        results.append(r)
        if r is not None and not r.get("resumed_done"):
            spent, trained = spent + time.time() - t0, trained + 1
        left = len(inp.folds) - k - 1 + refits
        if trained and left:
            eta = _duration(spent / trained * left)
            log(f"fold {k + 1} of {len(inp.folds)} done; about {eta} left ({left} to train)")
    return results


def will_refit(cfg: TrainConfig, inp: "Inputs") -> bool:
    """Whether the run ends with the refit on every face: --refit, a net to refit, a protocol of folds, every fold
    run (not after --max-folds, a quick look)."""
    trains = METHODS[cfg.method].trains_net  # the probe fits per fold and has no net to refit
    # an official split's one model is the product already: refitting would train on its reported test faces
    folds = inp.protocol != "official"
    return bool(cfg.refit and trains and folds and not cfg.pretrain_only and inp.complete)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _finished_record(out_dir: str) -> dict | None:
    """What made a run that had already ended (its report, or a stage-1-only run's summary), else None."""
    for name in ("report.json", "pretrain.json"):
        path = os.path.join(out_dir, name)
        if os.path.exists(path):
            return read_json(path)
    return None


def check_names(cfg: TrainConfig) -> None:
    """Every name a config gives (dataset kind and root, expression net, teacher and its tap) exists, or a named
    error."""
    from ..errors import UnknownNameError
    from ..teachers import TEACHERS

    kind, root = parse_dataset_spec(cfg.dataset)
    if not os.path.exists(os.path.expanduser(root)):
        raise FaceNet2ExpNetError(f"--dataset {cfg.dataset}: {root} does not exist; give the folder of the {kind} data")
    if METHODS[cfg.method].build is not None:
        METHODS[cfg.method].preprocessing(cfg)  # an unknown net raises UnknownNameError listing the registered ones
    if cfg.teacher not in TEACHERS:
        raise UnknownNameError("teacher", cfg.teacher, TEACHERS)
    layer = cfg.layer or TEACHERS[cfg.teacher].default_tap
    if layer not in TEACHERS[cfg.teacher].taps:
        raise UnknownNameError(f"{cfg.teacher} layer", layer, TEACHERS[cfg.teacher].taps)


def load_inputs(cfg: TrainConfig, progress: bool, log, dist: Dist | None = None) -> Inputs:
    """Dataset and folds; the teacher's cached features (fn2en, probe); the images in the model's preprocessing."""
    from ..teachers import TEACHERS, create_teacher

    kind, root = parse_dataset_spec(cfg.dataset)
    kw = {"classes": cfg.classes} if cfg.classes else {}
    ds = load_dataset(kind, root, skip_bad=cfg.skip_bad, check_images=cfg.check_images, **kw)
    protocol = resolve_protocol(ds, cfg.protocol)  # auto: what the dataset's layout allows
    folds = make_folds(ds, protocol, folds=cfg.folds, seed=cfg.seed, val_fraction=cfg.val_fraction)
    all_folds = len(folds)
    folds = folds[: cfg.max_folds] if cfg.max_folds else folds
    chosen = f"{protocol} (--protocol auto)" if cfg.protocol == "auto" else protocol
    log(f"{cfg.method} on {kind} ({len(ds)} images, {len(ds.class_names)} classes), {chosen}: {len(folds)} fold(s)")
    if protocol == "image-kfold":
        log(f"warning: {NO_SUBJECTS_WARNING}")
    check_names(cfg)  # the tap is checked for every method, scratch included (it sizes its trunk from the tap)
    spec = TEACHERS[cfg.teacher]
    layer = cfg.layer or spec.default_tap
    inp = Inputs(ds, folds, tuple(spec.tap_shapes[layer]), protocol=protocol, all_folds=all_folds)
    if cfg.label_mode != "majority":
        from .labels import vote_distribution

        inp.votes = vote_distribution(ds)
    method = METHODS[cfg.method]
    if method.uses_teacher:
        teacher = create_teacher(cfg.teacher, weights=cfg.teacher_weights, layer=layer)
        inp.teacher_desc = teacher.describe()
        # fn2en refining from a trunk, with no stage 1 and no auxiliary loss, never reads the teacher's features
        if method.teacher_features and (cfg.runs_stage1 or cfg.aux_weight > 0 or not method.trains_net):
            from ..teachers.cache import extract_features

            t0 = time.time()
            store = extract_features(
                teacher.to(dist.device if dist else "cpu"), ds, cfg.cache_dir, progress=progress, log=log, dist=dist
            )
            inp.cache_seconds = time.time() - t0
            if not np.array_equal(store.rows(ds), np.arange(len(ds))):
                raise FaceNet2ExpNetError(f"feature store {store.path} is not in dataset order; delete it and rerun")
            inp.targets, inp.tap_shape = store.features, store.tap_shape
    if len(inp.tap_shape) != 3 and method.conv_tap:
        raise FaceNet2ExpNetError(
            f"stage 1 needs a convolutional tap (C x H x W); {cfg.teacher}:{layer} is {inp.tap_shape}"
        )
    if method.trains_net:
        from .images import load_images

        inp.images = load_images(ds, method.preprocessing(cfg), progress=progress)  # no net built for this
    return inp


def run_fold(cfg: TrainConfig, inp: Inputs, fold, out_dir: str, resume: bool, progress: bool, log, dist: Dist) -> dict:
    """One fold, or its saved result when a resumed run finished it already."""
    fold_dir = os.path.join(out_dir, "folds", f"fold_{fold.index:02d}")
    done = os.path.join(fold_dir, "result.json")
    if resume and os.path.exists(done):
        r = read_json(done)
        log(f"fold {fold.index}: done already" + ("" if cfg.pretrain_only else f", accuracy {r['accuracy']:.4f}"))
        return {**r, "resumed_done": True}
    if not METHODS[cfg.method].trains_net:  # the probe
        from .probe import probe_fold

        # the probe is one small fit per fold: rank 0 does it, the others wait
        r = (
            probe_fold(fold, inp.targets, inp.ds.labels, cfg.probe_C, fold_dir, seed=cfg.seed, log=log)
            if dist.is_main
            else None
        )
        dist.barrier()
    else:
        r = train_on(cfg, inp, fold, fold_dir, resume, progress, log, dist)
    if r is not None:
        log(f"fold {fold.index}: {fold_summary(r)}")
    return r


def refit_epochs(cfg: TrainConfig, results: list[dict]) -> int | None:
    """The refit's refining epochs: what the folds chose on validation (their median), or, where they kept their
    last weights, None: the same rule as theirs (the step budget scaled to the training set)."""
    chosen = [r["best_epoch"] for r in results if r.get("select") == "val" and r.get("best_epoch")]
    return int(np.median(chosen)) if chosen else cfg.stage2_epochs


def refit(cfg: TrainConfig, inp: Inputs, results: list[dict], report: dict, out_dir: str, resume, progress, log, dist):
    """The model a user ships, RUN/model.{json,safetensors}: the recipe trained once more on every face, with the
    schedule the folds ran, keeping its last weights (no face is left to choose on). Its card carries the
    cross-validated accuracy of the recipe, which is the honest estimate of how this model does on new people."""
    import dataclasses

    from ..data.protocols import Fold
    from ..models.registry import load_checkpoint, save_checkpoint

    every = np.arange(len(inp.ds))
    empty = np.array([], dtype=np.int64)
    fold = Fold(len(inp.folds), every, empty, empty, note="refit on every face")
    rcfg = dataclasses.replace(cfg, select="last", stage2_epochs=refit_epochs(cfg, results))
    log(f"refit: the recipe on all {len(every)} faces, to ship as {out_dir}/model.json")
    fold_dir = os.path.join(out_dir, "refit")
    if not (resume and os.path.exists(os.path.join(fold_dir, "result.json"))):
        train_on(rcfg, inp, fold, fold_dir, resume, progress, log, dist)
    if not dist.is_main:
        return
    model, meta = load_checkpoint(os.path.join(fold_dir, "best"))
    meta["card"] = {
        "dataset": cfg.dataset,
        "faces": int(len(every)),
        "class_counts": inp.ds.class_counts(),
        "protocol": inp.protocol,
        "cross_validated_accuracy": report["accuracy_mean"],
        "cross_validated_std": report["accuracy_std"],
        "macro_recall": macro_recall(report["per_class_recall"].values()),
        "folds": len(results),
        "epochs": meta.get("epoch"),
        "code": report.get("code"),
        "notes": "trained on every face of the dataset; the accuracy is the recipe's, cross-validated over the folds",
    }
    temps = [r["calibration"]["temperature"] for r in results if (r.get("calibration") or {}).get("temperature")]
    if temps:  # no face is left to fit one on: the folds' temperatures, each fitted on its validation faces
        meta["temperature"] = float(np.median(temps))
        meta["card"]["temperature"] = f"{meta['temperature']:.3f}, the median of the folds' (fitted on validation)"
    meta["name"] = os.path.basename(os.path.abspath(out_dir))
    save_checkpoint(model, os.path.join(out_dir, "model"), meta)


def train_on(cfg: TrainConfig, inp: Inputs, fold, fold_dir: str, resume, progress, log, dist) -> dict | None:
    """One net trained on ``fold`` with the run's inputs (a fold of the protocol, or the refit on every face)."""
    from .loop import train_fold

    return train_fold(
        cfg,
        fold,
        inp.images,
        inp.ds.labels,
        inp.ds.class_names,
        fold_dir,
        targets=inp.targets,
        tap_shape=inp.tap_shape,
        teacher_desc=inp.teacher_desc,
        resume=resume,
        progress=progress,
        log=log,
        dist=dist,
        votes=inp.votes,
    )
