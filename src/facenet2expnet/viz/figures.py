"""Figures (matplotlib, Agg): every function takes arrays, writes one PNG atomically, returns its path."""

from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> str:
    from ..files import save_figure

    return save_figure(fig, path, dpi=100)


def neuron_grid(panels: list[dict], class_names: list[str], path: str, title: str) -> str:
    """panels: one per model: {"name", "units": [{"unit", "selectivity", "patches": [HxW(x3) uint8], "labels": [int]}],
    "score"}.

    Each row is a unit: its top patches, then the class histogram of those patches.
    """
    plt = _plt()
    n_units = max(len(p["units"]) for p in panels)
    k = max(len(u["patches"]) for p in panels for u in p["units"])
    fig = plt.figure(figsize=(len(panels) * (k * 0.55 + 2.2), n_units * 0.75 + 1.2))
    outer = fig.add_gridspec(1, len(panels), wspace=0.15)
    for pi, panel in enumerate(panels):
        inner = outer[pi].subgridspec(n_units, k + 3, wspace=0.05, hspace=0.15)
        for ui, unit in enumerate(panel["units"]):
            for j, patch in enumerate(unit["patches"]):
                ax = fig.add_subplot(inner[ui, j])
                ax.imshow(patch, cmap="gray" if patch.ndim == 2 else None, vmin=0, vmax=255)
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(
                        f"u{unit['unit']}\n{unit['selectivity']:.2f}", fontsize=6, rotation=0, labelpad=14, va="center"
                    )
                if ui == 0 and j == 0:
                    ax.set_title(f"{panel['name']}  (selectivity {panel['score']:.3f})", fontsize=8, loc="left")
            ax = fig.add_subplot(inner[ui, k + 1 :])
            counts = np.bincount(unit["labels"], minlength=len(class_names))
            ax.bar(range(len(class_names)), counts, color="tab:blue")
            ax.set_xticks(range(len(class_names)))
            ax.set_xticklabels([c[:3] for c in class_names] if ui == n_units - 1 else [], fontsize=5)
            ax.tick_params(axis="y", labelsize=5)
            if ui == n_units - 1:
                ax.set_xlabel("class of top patches", fontsize=6)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def saliency_grid(rows: list[dict], path: str, title: str) -> str:
    """rows: {"class", "images": [uint8], "cams": [float HxW in 0..1]}: overlays, one row per class."""
    plt = _plt()
    n = max(len(r["images"]) for r in rows) if rows else 1
    fig, axes = plt.subplots(len(rows), n, figsize=(max(4.0, 1.6 * n), 1.7 * len(rows) + 0.4), squeeze=False)
    for i, r in enumerate(rows):
        for j in range(n):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(r["images"]):
                img = r["images"][j]
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
                ax.imshow(
                    r["cams"][j],
                    cmap="jet",
                    alpha=0.45,
                    vmin=0,
                    vmax=1,
                    extent=(-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5),
                )
            if j == 0:
                ax.set_ylabel(r["class"], fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def embedding_scatter(xy: np.ndarray, groups, group_names, path: str, title: str, legend: bool = True) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    groups = np.asarray(groups)
    cmap = plt.get_cmap("tab10" if len(group_names) <= 10 else "tab20")
    for gi, name in enumerate(group_names):
        m = groups == gi
        if m.any():
            ax.scatter(xy[m, 0], xy[m, 1], s=9, color=cmap(gi % cmap.N), label=str(name), alpha=0.8)
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    ax.set_title(title, fontsize=10)
    if legend and len(group_names) <= 12:
        ax.legend(fontsize=7, markerscale=1.5, loc="best")
    fig.tight_layout()
    return _save(fig, path)


def training_curves(rows: list[dict], path: str, title: str) -> str:
    """rows: metrics.csv dicts. Losses and accuracies of both stages per fold, stage boundary marked."""
    plt = _plt()
    folds = sorted({int(r["fold"]) for r in rows})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    boundary = None
    for f in folds:
        fr = [r for r in rows if int(r["fold"]) == f]
        x = np.arange(1, len(fr) + 1)
        s1 = sum(1 for r in fr if r["stage"] == "stage1")
        boundary = s1 if s1 else boundary
        tl = [float(r["train_loss"]) for r in fr]
        vl = [float(r["val_loss"]) if r["val_loss"] not in ("", None) else np.nan for r in fr]
        axes[0].plot(
            x[:s1], tl[:s1], color="tab:purple", alpha=0.5, lw=1, label="stage 1 train (MSE)" if f == folds[0] else None
        )
        axes[0].plot(
            x[:s1],
            vl[:s1],
            color="tab:purple",
            alpha=0.5,
            lw=1,
            ls="--",
            label="stage 1 val (MSE)" if f == folds[0] else None,
        )
        axes[1].plot(
            x[s1:], tl[s1:], color="tab:blue", alpha=0.5, lw=1, label="stage 2 train (CE)" if f == folds[0] else None
        )
        axes[1].plot(
            x[s1:], vl[s1:], color="tab:orange", alpha=0.5, lw=1, label="stage 2 val (CE)" if f == folds[0] else None
        )
        ta = [float(r["train_acc"]) if r["train_acc"] not in ("", None) else np.nan for r in fr]
        va = [float(r["val_acc"]) if r["val_acc"] not in ("", None) else np.nan for r in fr]
        axes[2].plot(x, ta, color="tab:blue", alpha=0.5, lw=1, label="train acc" if f == folds[0] else None)
        axes[2].plot(x, va, color="tab:orange", alpha=0.5, lw=1, label="val acc" if f == folds[0] else None)
    for ax, t in zip(axes, ("stage 1 loss", "stage 2 loss", "accuracy")):
        if boundary:
            ax.axvline(boundary + 0.5, color="gray", ls=":", lw=1)
        ax.set_xlabel("epoch (both stages)")
        ax.set_title(t, fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("loss")
    axes[2].set_ylabel("accuracy")
    fig.suptitle(f"{title} ({len(folds)} fold(s); dotted line: stage 1 -> stage 2)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def confusion_and_recall(reports: list[dict], path: str) -> str:
    """Row-normalized confusion matrix per method, plus per-class recall bars of all methods."""
    from ..eval.metrics import row_normalize

    plt = _plt()
    n = len(reports)
    classes = reports[0]["classes"]
    fig, axes = plt.subplots(1, n + 1, figsize=(4.3 * (n + 1), 4.3))
    for ax, r in zip(axes[:n], reports):
        cm = row_normalize(np.array(r["confusion_matrix"]))
        ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(
                    j,
                    i,
                    f"{cm[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if cm[i, j] > 0.6 else "black",
                )
        ax.set_xticks(range(len(classes)), [c[:4] for c in classes], rotation=45, fontsize=7)
        ax.set_yticks(range(len(classes)), [c[:4] for c in classes], fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{r['method']}: {100 * r['accuracy_mean']:.1f}%", fontsize=9)
    ax = axes[n]
    w = 0.8 / n
    for i, r in enumerate(reports):
        rec = [r["per_class_recall"][c] if r["per_class_recall"][c] is not None else 0 for c in classes]
        ax.bar(np.arange(len(classes)) + i * w - 0.4 + w / 2, rec, w, label=r["method"])
    ax.set_xticks(range(len(classes)), [c[:5] for c in classes], rotation=45, fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("recall")
    ax.set_title("per-class recall", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)
