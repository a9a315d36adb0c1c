"""The resolved configuration of a training run, saved as ``config.json`` in the run dir."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..errors import FaceNet2ExpNetError, UnknownNameError

METHODS = ("fn2en", "scratch", "finetune", "probe")


@dataclass
class TrainConfig:
    dataset: str  # KIND:ROOT
    method: str = "fn2en"
    config: str = "compact"  # expression-net config (fn2en, scratch)
    protocol: str = "subject-kfold"
    folds: int = 10
    max_folds: int | None = None  # run only the first N folds (quick looks; reports say so)
    seed: int = 0
    val_fraction: float = 0.1
    classes: str | None = None
    skip_bad: bool = False
    check_images: bool = True  # decode every image once while loading (corrupt files named up front)
    teacher: str = "dlib-resnet29"
    teacher_weights: str | None = None
    layer: str | None = None  # teacher tap; None = the teacher's default
    projection: bool | None = None  # learned 1x1 projection onto the tap's channels; None = the config's default
    target_norm: str = "none"  # "none" (the paper's plain L2) or "channel" (per-channel standardized targets)
    stage1_epochs: int = 30
    stage2_epochs: int = 30  # fn2en with 0: stage-1 pre-training only (writes folds/fold_XX/trunk.*; no labels used)
    init_trunk: str | None = None  # fn2en/scratch: start from the trunk of this checkpoint (e.g. a stage-1 pre-training run)
    batch_size: int = 64
    stage1_optimizer: str = "sgd"  # "sgd" (SGD, Nesterov momentum) or "adam" (Adam, no weight decay): see docs/method.md
    lr_stage1: float = 0.05  # for adam, 1e-3 is the usual choice
    lr_stage2: float = 0.01
    finetune_backbone_lr_scale: float = 0.1
    refine_trunk_lr_scale: float = 1.0  # fn2en stage 2: learning-rate factor of the pre-trained trunk (head: 1)
    weight_decay: float = 5e-4
    momentum: float = 0.9
    label_smoothing: float = 0.0
    dropout: float = 0.5
    augment: bool = True
    eval_flip: bool = False  # validation/test score each face as the mean of its and its mirror's logits
    cache_dir: str = "cache/teacher"
    probe_C: list = field(default_factory=lambda: [0.001, 0.01, 0.1, 1.0])

    def __post_init__(self):
        if self.method not in METHODS:
            raise UnknownNameError("method", self.method, METHODS)
        if self.stage1_optimizer not in ("sgd", "adam"):
            raise UnknownNameError("stage-1 optimizer", self.stage1_optimizer, ("adam", "sgd"))
        if self.stage2_epochs == 0 and self.method != "fn2en":
            raise FaceNet2ExpNetError(f"--stage2-epochs 0 (stage-1 pre-training only) needs --method fn2en, not {self.method}")
        if self.init_trunk and self.method not in ("fn2en", "scratch"):
            raise FaceNet2ExpNetError(f"--init-trunk starts the expression net (fn2en or scratch) from a pre-trained trunk; "
                                      f"{self.method} does not use one")
        if self.eval_flip and self.method == "probe":
            raise FaceNet2ExpNetError("--eval-flip scores the mirror of each face with the trained net; the probe classifies cached "
                                      "teacher features of the image alone. Drop --eval-flip for --method probe")
        if self.target_norm not in ("none", "channel"):
            raise UnknownNameError("target normalization", self.target_norm, ("none", "channel"))

    @property
    def pretrain_only(self) -> bool:
        """Stage 1 alone (fn2en with no refining epochs): no labels used, the product is the trunk."""
        return self.method == "fn2en" and self.stage2_epochs == 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
