"""Training: the config (``config``) and how files and flags make it (``recipes``), the two stages (``stages``),
where a net starts (``starts``), the epoch loop (``loop``), label modes (``labels``), images in memory
(``images``), augmentation, checkpoints and resume, distributed runs, knowledge distillation, the linear probe,
the run harness (``runner``) and what a run says (``run_report``)."""
