"""Training: the config (``config``), the stage-1/stage-2 loop (``loop``), label modes (``labels``), images in
memory (``images``), augmentation, checkpoints and resume, distributed runs, knowledge distillation, the linear
probe and the run harness (``runner``)."""
