"""The one home of a training run's settings: ``TrainConfig``.

Each field carries its default and its help text; the ``train`` command's flags are generated
from the fields (``recipes.add_config_flags``), a ``--config FILE`` (TOML or JSON) sets any of
them, and flags given on the command line override the file. The resolved config is saved as
``config.json`` in the run dir, and its hash keys the run: ``--resume`` with a different
resolved config is an error, so an edited recipe never silently returns old numbers.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields

from ..data.protocols import PROTOCOLS
from ..errors import FaceNet2ExpNetError, UnknownNameError
from .methods import METHODS  # what each method needs and builds

STAGE1_LOSSES = ("l2", "cosine")
SCHEDULES = ("cosine", "constant")
# Epochs scale with the training set (``TrainConfig.for_training_set``): about this many optimizer steps, within
# these bounds. 750 refining steps at batch 16 are the 15 epochs validation chose on a CK+48 fold (~800 faces);
# a 200-face set gets 60 epochs, a 30,000-face set 10. Stage 1 from random weights needs more steps to fit.
REFINE_STEPS, REFINE_EPOCHS = 750, (10, 60)
STAGE1_STEPS, STAGE1_EPOCHS = 1500, (5, 100)
# Fields left to "auto" (head_init) or None (stage2_epochs) take the recipe that benchmarks/small_sets.py chose for
# the kind of start: an expression model (a bundled fn2en model or a run's model: its head was trained with labels)
# or a trunk (the label-free stage-1 trunk, a stage-1 run, random weights).
START_RECIPES = {
    # the suite's winner (lp_ferplus_accurate): the start's head but its last layer, which a logistic regression on the
    # user's faces replaces, and no refining (LP-FT and every refining recipe scored below it on the suite's draws)
    "expression model": {"head_init": "probe", "stage2_epochs": 0, "select": "size"},
    # a trunk without a trained head (the label-free trunk, a stage-1 run, random weights): a new head, refined
    "trunk": {"head_init": "random", "select": "val"},
}
NO_TRUNK = "none"  # --init-trunk none: fn2en's stage 1 from random weights on the run's own faces (the paper)
# Fields that change how a run is carried out, not what it computes: left out of the run's key.
RUNTIME_FIELDS = ("cache_dir", "check_images", "device", "parallel", "refit", "baselines")


def opt(default, help: str, choices: tuple | None = None, group: str = "training"):
    """A config field: its default, help text and (optionally) allowed values, in one place."""
    meta = {"help": help, "choices": choices, "group": group}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    # ---- data and protocol
    dataset: str = opt(None, "KIND:ROOT, e.g. ckplus48:../shared/data/ckplus48 (required)", group="data")
    protocol: str = opt(
        "auto",
        "evaluation protocol; auto: the dataset's official split where it has one, else leave one person out (up to "
        "12 people) or subject k-fold, else (no person folders) image k-fold, which warns that it may be optimistic",
        PROTOCOLS,
        group="data",
    )
    folds: int = opt(10, "number of folds (subject-kfold, image-kfold)", group="data")
    max_folds: int | None = opt(None, "run only the first N folds (a quick look; the report says so)", group="data")
    seed: int = opt(0, "seed of the folds, the initialization and the batches", group="data")
    val_fraction: float = opt(
        0.1,
        "share of the training side (by subject where there are subjects) held out for model selection",
        group="data",
    )
    classes: str | None = opt(None, "class set (ck6, ck7, ck8, basic7, oulu6) or comma-separated names", group="data")
    skip_bad: bool = opt(False, "leave out unreadable images (they are listed) instead of failing", group="data")
    check_images: bool = opt(
        True, "decode every image once while loading (corrupt files are named up front)", group="data"
    )
    # ---- method and networks
    method: str = opt(
        "fn2en",
        "fn2en (the paper), scratch (no stage 1), finetune (the face net), probe (linear on teacher features)",
        tuple(METHODS),
        group="model",
    )
    # res48: the student of the best validated recipe (CK+48 93.77%), and the one with a bundled label-free trunk
    arch: str = opt(
        "res48",
        "expression-net architecture (models registry: compact, fast, res48, res48w, res96, paper)",
        group="model",
    )
    dropout: float = opt(0.5, "dropout before the head's last layer", group="model")
    projection: bool | None = opt(
        None, "learned 1x1 projection onto the tap's channels (default: the architecture's)", group="model"
    )
    teacher: str = opt("dlib-resnet29", "the frozen face net (dlib-resnet29 or vggface16)", group="model")
    teacher_weights: str | None = opt(
        None, "teacher weights file (default: the bundled one where there is one)", group="model"
    )
    layer: str | None = opt(
        None, "teacher tap that stage 1 regresses onto (default: the teacher's default tap)", group="model"
    )
    init_trunk: str | None = opt(
        None,
        "fn2en/scratch: start from this checkpoint, run folder or bundled model. fn2en without it and without "
        "--stage1-epochs starts res48 from ferplus-fn2en-accurate (FaceNet2ExpNet on FER+: stage 1 on the face "
        "net's features of FER2013's faces, then FER+ labels) and fits its last layer on your faces, as the "
        "small-set suite chose; fn2en-res48-trunk: the label-free stage-1 trunk, refined with a new head; `none`: "
        "the paper's own path, stage 1 from random weights on your training faces",
        group="model",
    )
    # ---- stage 1: regress the trunk onto the teacher
    stage1_epochs: int | None = opt(
        None,
        "stage-1 epochs (fn2en); default: 0 from a trunk, else about 1,500 steps scaled to the training set "
        "(5 to 100 epochs)",
        group="stage 1",
    )
    # Adam at 1e-3: at SGD 0.05 (the defaults before 2026-12-04) stage 1 fitted nothing in 30 epochs (held-out R²
    # -1.9 to -2.1 on every CK+48 fold, issue 28); every stage-1 recipe measured here uses Adam at 1e-3
    stage1_optimizer: str = opt(
        "adam",
        "adam (no weight decay) or sgd (Nesterov momentum; use --lr-stage1 0.05)",
        ("sgd", "adam"),
        group="stage 1",
    )
    lr_stage1: float = opt(0.001, "stage-1 base learning rate", group="stage 1")
    stage1_loss: str = opt(
        "l2",
        "l2 (the paper's regression loss) or cosine (1 - cosine similarity per face)",
        STAGE1_LOSSES,
        group="stage 1",
    )
    target_norm: str = opt(
        "none",
        "none (the paper's plain targets) or channel (per-channel standardized targets)",
        ("none", "channel"),
        group="stage 1",
    )
    # ---- stage 2: refine with labels
    stage2_epochs: int | None = opt(
        None,
        "refining epochs; default: about 750 steps scaled to the training set (10 to 60 epochs); "
        "0 with fn2en: stage-1 pre-training only (writes folds/fold_XX/trunk.*)",
        group="stage 2",
    )
    select: str = opt(
        "auto",
        "how refining picks its weights: val (the epoch of best validation accuracy), last (no validation split: "
        "its faces train too, and the last epoch's weights are kept), size (last where validation would hold under "
        "100 faces, too few to choose an epoch; val above); auto: as the small-set suite chose for the start",
        ("auto", "val", "last", "size"),
        group="stage 2",
    )
    head_init: str = opt(
        "auto",
        "random (a new head), or probe: from a checkpoint (--init-trunk), keep its whole net but the last layer, and "
        "fit that layer by logistic regression on the training faces' features (with --stage2-epochs 0 that is the "
        "model; with more, refining starts there: LP-FT); auto: as the small-set suite chose for the start "
        "(START_RECIPES); keep: the start's whole net, its last layer too (a warm restart: same classes)",
        ("auto", "random", "probe", "keep"),
        group="stage 2",
    )
    head_probe_C: float = opt(0.1, "head_init probe: inverse L2 strength of the logistic regression", group="stage 2")
    # batch 16, 0.02 and the trunk at a tenth of the head's rate: the CK+48 recipe that validation chose (issue 28)
    lr_stage2: float = opt(0.02, "refining base learning rate", group="stage 2")
    refine_trunk_lr_scale: float = opt(
        0.1, "fn2en refining: learning-rate factor of the pre-trained trunk (head: 1)", group="stage 2"
    )
    finetune_backbone_lr_scale: float = opt(
        0.1, "finetune: learning-rate factor of the face net's layers (head: 1)", group="stage 2"
    )
    aux_weight: float = opt(
        0.0,
        "our extension: weight of the stage-1 loss kept as an auxiliary term while refining (fn2en)",
        group="stage 2",
    )
    distill_from: list[str] = opt(
        [],
        "our extension: checkpoints of ours (same classes and input) whose mean logits the refining also matches "
        "(knowledge distillation; train/distill.py)",
        group="stage 2",
    )
    distill_weight: float = opt(0.5, "distillation: share of the soft term, (1 - w) CE + w T² KL", group="stage 2")
    distill_temperature: float = opt(4.0, "distillation: softmax temperature of both nets' logits", group="stage 2")
    label_smoothing: float = opt(0.0, "label smoothing of the refining loss", group="stage 2")
    label_mode: str = opt(
        "majority",
        "what refining trains against: majority (one label per image), probability (a label drawn from the "
        "image's annotator votes each time) or crossentropy (the vote distribution as a soft target); the last "
        "two need votes (the ferplus kind); train/labels.py",
        ("majority", "probability", "crossentropy"),
        group="stage 2",
    )
    mixup: float = opt(0.0, "mixup alpha while refining (0: off)", group="stage 2")
    logit_adjust: float = opt(
        0.0,
        "our extension: logit-adjusted loss (Menon et al., ICLR 2021): refining's loss sees the logits plus this "
        "times the log of each class's share of the training faces, so rare classes need larger margins; "
        "predictions use the plain logits (0: off, 1: the paper's)",
        group="stage 2",
    )
    # ---- optimization, shared by both stages
    batch_size: int = opt(16, "batch size (per step)")
    weight_decay: float = opt(5e-4, "SGD weight decay")
    momentum: float = opt(0.9, "SGD (Nesterov) momentum")
    schedule: str = opt("cosine", "learning-rate schedule within a stage", SCHEDULES)
    warmup_epochs: int = opt(0, "linear learning-rate warm-up epochs at the start of each stage")
    # ---- augmentation while refining (stage 1 flips only: the teacher's targets exist for the image and its mirror)
    augment: bool = opt(True, "random rotation, shift and scale while refining (flips always)", group="augmentation")
    rotation_deg: float = opt(10.0, "largest random rotation, degrees", group="augmentation")
    shift: float = opt(0.1, "largest random shift, as a share of the side", group="augmentation")
    scale_min: float = opt(0.9, "smallest random scale", group="augmentation")
    scale_max: float = opt(1.1, "largest random scale", group="augmentation")
    erasing: float = opt(0.0, "probability of random erasing (a random rectangle set to noise)", group="augmentation")
    eval_flip: bool = opt(
        False, "score validation and test faces by the mean of their and their mirror's logits", group="augmentation"
    )
    # ---- where it runs (docs/distributed.md)
    device: str = opt("auto", "auto (CUDA where available), cpu, cuda or cuda:N", group="runtime")
    # auto: bf16 autocast where the device has bf16 hardware (CUDA; CPUs with avx512_bf16 or amx_bf16), where a
    # training step is about 1.8x faster at the same validation accuracy (benchmarks/train_throughput.py); fp32
    # elsewhere, since emulated bf16 is several times slower. Weights, the optimizer and the loss stay float32.
    amp: str = opt(
        "auto",
        "bf16 mixed precision of the training step: auto (where the device has bf16 hardware), bf16 (always), off",
        ("auto", "bf16", "off"),
        group="runtime",
    )
    parallel: str = opt(
        "data",
        "under torchrun: data (one model, DistributedDataParallel) or folds (rank r trains "
        "folds i with i % world == r)",
        ("data", "folds"),
        group="runtime",
    )
    sync_bn: bool = opt(
        False, "data-parallel: BatchNorm statistics over the global batch (matches one process)", group="runtime"
    )
    refit: bool = opt(
        True,
        "after the folds, train the recipe once more on every face and write RUN/model.json: the model to use (the "
        "fold models are the evidence of how good the recipe is)",
        group="runtime",
    )
    baselines: bool = opt(
        True,
        "report the bundled model's zero-shot accuracy and a linear probe on the face net, on the run's own folds",
        group="runtime",
    )
    # ---- baselines and plumbing
    probe_C: list = opt([0.001, 0.01, 0.1, 1.0], "probe: inverse regularization strengths tried on validation")
    cache_dir: str = opt("cache/teacher", "teacher feature stores (reused across runs)")

    def __post_init__(self):
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise UnknownNameError(f.name.replace("_", " "), getattr(self, f.name), choices)
        m = METHODS[self.method]
        self._resolve_trunk(m)
        if self.stage2_epochs == 0 and not m.stage1 and self.head_init != "probe":
            raise FaceNet2ExpNetError(
                f"--stage2-epochs 0 (stage-1 pre-training only) needs --method fn2en, not {self.method}; or "
                "--head-init probe --init-trunk MODEL for a linear probe on MODEL's features"
            )
        if self.head_init == "keep" and not (self.trunk and self.stage2_epochs != 0):
            raise FaceNet2ExpNetError(
                "--head-init keep continues a trained model's whole net (a warm restart): give --init-trunk MODEL "
                "(a bundled expression model or a run folder) and refining epochs (--stage2-epochs N)"
            )
        if self.head_init == "probe" and not self.trunk and not (m.stage1 and self.stage2_epochs != 0):
            raise FaceNet2ExpNetError(
                "--head-init probe fits the last layer of a start's head: give --init-trunk MODEL (a bundled "
                "expression model, e.g. ferplus-fn2en-accurate, or a run folder)"
            )
        if self.trunk and not m.takes_trunk:
            raise FaceNet2ExpNetError(
                f"--init-trunk starts the expression net (fn2en or scratch) from a pre-trained trunk; "
                f"{self.method} does not use one"
            )
        if self.eval_flip and not m.trains_net:
            raise FaceNet2ExpNetError(
                "--eval-flip scores the mirror of each face with the trained net; the probe classifies cached "
                "teacher features of the image alone. Drop --eval-flip for --method probe"
            )
        if self.aux_weight and not m.stage1:
            raise FaceNet2ExpNetError(
                f"--aux-weight keeps fn2en's stage-1 loss while refining; {self.method} has no stage 1"
            )
        if self.distill_from and not m.trains_net:
            raise FaceNet2ExpNetError(
                "--distill-from refines a net against our teachers' logits; the probe is a linear classifier on cached "
                "teacher features. Use --method fn2en, scratch or finetune"
            )
        if m.stage1 and self.stage1_epochs == 0 and not self.trunk:
            raise FaceNet2ExpNetError(
                "--method fn2en with --stage1-epochs 0 and no --init-trunk trains the net from random weights: "
                "this is scratch. Use --method scratch, or give --stage1-epochs N or --init-trunk CHECKPOINT"
            )
        if self.distill_from and not (0 < self.distill_weight <= 1 and self.distill_temperature > 0):
            raise FaceNet2ExpNetError(
                f"--distill-weight {self.distill_weight} / --distill-temperature {self.distill_temperature}: "
                "need 0 < weight <= 1 and temperature > 0"
            )
        if not 0 < self.scale_min <= self.scale_max:
            raise FaceNet2ExpNetError(
                f"--scale-min {self.scale_min} / --scale-max {self.scale_max}: need 0 < min <= max"
            )

    def _resolve_trunk(self, m) -> None:
        """fn2en refines from the architecture's bundled label-free trunk unless the config asks for a stage 1
        (``--stage1-epochs N``), another trunk, or none (``--init-trunk none``: the paper's own path). The name is
        written into the config, so the saved config.json says which trunk a run started from."""
        from ..models.pretrained import DEFAULT_STARTS, has_trained_head

        refines = self.stage2_epochs != 0 or self.head_init == "probe"
        if m.stage1 and refines and self.init_trunk is None and not self.stage1_epochs:
            if self.arch in DEFAULT_STARTS:
                self.init_trunk = DEFAULT_STARTS[self.arch]
        if self.trunk and self.stage1_epochs is None:
            self.stage1_epochs = 0  # from a trunk, stage 1 runs only when asked
        if "auto" in (self.head_init, self.select):  # the recipe the small-set suite chose for this kind of start
            kind = "expression model" if self.trunk and has_trained_head(self.trunk) else "trunk"
            for k, v in START_RECIPES[kind].items():
                if getattr(self, k) in (None, "auto"):
                    setattr(self, k, v)

    @property
    def trunk(self) -> str | None:
        """The checkpoint or bundled name the net starts from, or None (random weights)."""
        return None if self.init_trunk in (None, NO_TRUNK) else self.init_trunk

    def for_training_set(self, n_train: int) -> "TrainConfig":
        """This config with the epochs left to their default (None) set from the training set's size: about
        REFINE_STEPS (STAGE1_STEPS) optimizer steps, within REFINE_EPOCHS (STAGE1_EPOCHS). Deterministic, so a
        resumed run gets the same numbers; the fold's result records them."""
        import dataclasses
        import math

        steps_per_epoch = max(1, math.ceil(n_train / self.batch_size))

        def epochs(steps: int, bounds: tuple[int, int]) -> int:
            return min(bounds[1], max(bounds[0], round(steps / steps_per_epoch)))

        changes = {}
        if self.stage1_epochs is None:
            changes["stage1_epochs"] = epochs(STAGE1_STEPS, STAGE1_EPOCHS) if METHODS[self.method].stage1 else 0
        if self.stage2_epochs is None:
            changes["stage2_epochs"] = epochs(REFINE_STEPS, REFINE_EPOCHS)
        return dataclasses.replace(self, **changes) if changes else self

    @property
    def runs_stage1(self) -> bool:
        """Whether stage 1 trains (it needs the teacher's features): fn2en with stage-1 epochs, or none given and
        no trunk to start from (then the training set's size sets them)."""
        return METHODS[self.method].stage1 and self.stage1_epochs != 0

    def require_dataset(self) -> None:
        if not self.dataset:
            raise FaceNet2ExpNetError("no dataset: give --dataset KIND:ROOT (or `dataset = ...` in the --config file)")

    @property
    def pretrain_only(self) -> bool:
        """Stage 1 alone (fn2en with no refining epochs, no probed head): no labels used, the product is the trunk.
        With ``--head-init probe`` and no refining epochs the product is the linear probe on the start's features."""
        return METHODS[self.method].stage1 and self.stage2_epochs == 0 and self.head_init != "probe"

    def to_dict(self) -> dict:
        return asdict(self)

    def key(self) -> str:
        """Hash of everything that changes the numbers a run produces (not the RUNTIME_FIELDS)."""
        from ..files import stable_hash

        return stable_hash({k: v for k, v in self.to_dict().items() if k not in RUNTIME_FIELDS})

    def diff(self, other: "TrainConfig") -> dict:
        """field -> (ours, theirs), for the fields that change a run's key."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if k not in RUNTIME_FIELDS and a[k] != b.get(k)}

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> "TrainConfig":
        d = upgraded(d)
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise FaceNet2ExpNetError(
                f"{source}: unknown field(s) {', '.join(unknown)}; the fields are listed by "
                "`facenet2expnet train --help`"
            )
        return cls(**d)


def upgraded(d: dict) -> dict:
    """A saved config in today's field names and values: run dirs written before 2026-11-29 call ``arch`` ``config``;
    before 2026-12-07 ``amp`` was a bool."""
    d = dict(d)
    if "config" in d and "arch" not in d:
        d["arch"] = d.pop("config")
    if isinstance(d.get("amp"), bool):  # before 2026-12-07 --amp was a switch, and acted on CUDA only
        d["amp"] = "bf16" if d["amp"] else "off"
    return d


def field_defaults() -> dict:
    return {f.name: (f.default if f.default is not MISSING else f.default_factory()) for f in fields(TrainConfig)}
