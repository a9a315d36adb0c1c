"""Run reports: report.json, report.md, the confusion-matrix figure, and the cross-run comparison table."""

from __future__ import annotations

import os

import numpy as np

from ..files import atomic_write_json, atomic_write_text, read_json, save_figure
from ..formatting import format_table
from .metrics import confusion_matrix, macro_recall, mean_std, per_class_recall, row_normalize


def _pct(r) -> str:
    return "n/a" if r is None else f"{100 * r:.1f}"


def _fold_line(f: dict) -> str:
    """A report.md row: accuracy, validation accuracy of the chosen epoch, and stage 1's held-out R² if it ran."""
    chosen = "" if f.get("best_epoch") is None else f" (epoch {f['best_epoch']} of {f.get('stage2_epochs')})"
    r2 = "" if f.get("stage1_val_r2") is None else f"{f['stage1_val_r2']:.3f}"
    return (
        f"| {f['fold']} | {100 * f['accuracy']:.2f}% | {f['n_test']} | {_pct(f.get('val_accuracy'))}%{chosen} | {r2} |"
    )


def build_report(
    method: str,
    dataset: str,
    protocol: str,
    class_names: list[str],
    fold_results: list[dict],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    extra: dict | None = None,
) -> dict:
    cm = confusion_matrix(y_true, y_pred, len(class_names))
    acc_mean, acc_std = mean_std([f["accuracy"] for f in fold_results])
    recall = per_class_recall(cm)
    return {
        "method": method,
        "dataset": dataset,
        "protocol": protocol,
        "classes": list(class_names),
        "folds": [
            {
                "fold": f["fold"],
                "accuracy": f["accuracy"],
                "n_test": f["n_test"],
                "val_accuracy": f.get("best_val_acc"),
                **({"subsets": f["subsets"]} if f.get("subsets") else {}),
                # what the fold trained: epochs (as its training set's size set them), trunk, stage-1 fit
                **{k: f[k] for k in FOLD_FIELDS if k in f},
            }
            for f in fold_results
        ],  # val_accuracy: the selected epoch's (or C's), for choosing between runs without the test fold
        "accuracy_mean": acc_mean,
        "accuracy_std": acc_std,
        "accuracy_pooled": float(np.trace(cm) / max(cm.sum(), 1)),
        "confusion_matrix": cm.tolist(),
        "per_class_recall": {c: (None if np.isnan(r) else float(r)) for c, r in zip(class_names, recall)},
        **(extra or {}),
    }


FOLD_FIELDS = (
    "best_epoch",
    "select",
    "n_train",
    "n_val",
    "stage1_epochs",
    "stage2_epochs",
    "init_trunk",
    "stage1_val_r2",
    "stage1_train_r2",
    "amp_bf16",
)


def plot_confusion(cm, class_names: list[str], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    norm = row_normalize(cm)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
    for ax, data, sub, fmt in ((axes[0], cm, "counts", "d"), (axes[1], norm, "row-normalized (recall)", ".2f")):
        im = ax.imshow(data, cmap="Blues", vmin=0)
        ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
        ax.set_yticks(range(len(class_names)), class_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(sub)
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                v = data[i, j]
                ax.text(
                    j,
                    i,
                    format(v, fmt),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if v > data.max() * 0.6 else "black",
                )
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def write_report(run_dir: str, report: dict) -> None:
    atomic_write_json(os.path.join(run_dir, "report.json"), report)
    acc = 100 * report["accuracy_mean"]
    title = f"{report['method']} on {report['dataset']} ({report['protocol']}): {acc:.2f}% mean accuracy"
    plot_confusion(report["confusion_matrix"], report["classes"], os.path.join(run_dir, "confusion_matrix.png"), title)
    lines = [
        f"# {report['method']} on {report['dataset']}",
        "",
        f"- protocol: {report['protocol']}, {len(report['folds'])} fold(s)",
        f"- accuracy: **{100 * report['accuracy_mean']:.2f}% ± {100 * report['accuracy_std']:.2f}** (mean ± std over "
        f"folds); "
        f"pooled over all test samples {100 * report['accuracy_pooled']:.2f}%",
    ]
    macro = macro_recall(report["per_class_recall"].values())  # a class's None: no test face of it
    if not np.isnan(macro):
        lines.append(f"- macro recall (the mean of the per-class recalls): {_pct(macro)}%")
    lines += _calibration_lines(report["folds"])
    for warning in report.get("warnings", []):
        lines.append(f"- **warning:** {warning}")
    for k in ("command", "notes", "seconds"):
        if report.get(k):
            lines.append(f"- {k}: `{report[k]}`" if k == "command" else f"- {k}: {report[k]}")
    if report["folds"] and report["folds"][0].get("init_trunk"):
        lines.append(f"- started from the trunk of `{report['folds'][0]['init_trunk']}`")
    if report.get("baselines"):  # what the training bought: the same folds, no training or a linear probe
        lines += ["", "| compared with, on the same folds | accuracy |", "|---|---:|"]
        lines.append(f"| this run ({report['method']}) | {_pct(report['accuracy_mean'])}% |")
        for b in report["baselines"].values():
            shown = f"{_pct(b['accuracy_mean'])}%" if "accuracy_mean" in b else f"skipped: {b.get('skipped')}"
            lines.append(f"| {b['what']} | {shown} |")
    # per fold: the stage-1 fit (R² > 0: better than predicting the teacher's mean map) and the epoch validation chose
    lines += [
        "",
        "| fold | accuracy | n_test | validation (chosen epoch) | stage-1 R² held out |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [_fold_line(f) for f in report["folds"]]
    lines += [
        f"| {f['fold']}, {name.replace('_', ' ')} | {_pct(sub['accuracy'])}% | {sub['n']} |"
        for f in report["folds"]
        for name, sub in f.get("subsets", {}).items()
    ]
    lines += ["", "| class | recall |", "|---|---:|"]
    lines += [f"| {c} | {_pct(r)}% |" for c, r in report["per_class_recall"].items()]
    lines += ["", "![confusion matrix](confusion_matrix.png)", ""]
    skipped = report.get("skipped_images", [])
    if skipped:  # what `prepare` (or the loader) left out, each with its reason: nothing is dropped silently
        lines += [f"## {len(skipped)} image(s) not trained on", "", "| image | why |", "|---|---|"]
        lines += [f"| `{p['source']}` | {p['kind']}: {p['message']} |" for p in skipped]
        lines.append("")
    atomic_write_text(os.path.join(run_dir, "report.md"), "\n".join(lines))


def _calibration_lines(folds: list[dict]) -> list[str]:
    """The temperature each fold fitted on its validation faces, and what it did to the test faces' calibration."""
    cal = [f["calibration"] for f in folds if (f.get("calibration") or {}).get("test_ece") is not None]
    if not cal:
        return []
    temps = sorted(c["temperature"] for c in cal)
    before, after = (100 * sum(c[k] for c in cal) / len(cal) for k in ("test_ece", "test_ece_calibrated"))
    return [
        f"- calibration: each fold divides its logits by a temperature fitted on its validation faces "
        f"({temps[0]:.2f}-{temps[-1]:.2f}); expected calibration error on the test faces {before:.1f}% -> "
        f"{after:.1f}% (the probabilities `predict` and `serve` return are these)"
    ]


def compare_runs(run_dirs: list[str]) -> tuple[str, list[dict]]:
    """One table across runs (methods), from their report.json files: accuracy, stage-1 fidelity, per-class recall."""
    from ..errors import FaceNet2ExpNetError

    rows = []
    for d in run_dirs:
        path = os.path.join(d, "report.json")
        if not os.path.exists(path):
            raise FaceNet2ExpNetError(f"{d} has no report.json: the run is unfinished or not a run dir")
        r = read_json(path)
        rows.append(
            {
                "run": d,
                "method": r["method"],
                "dataset": r["dataset"],
                "protocol": r["protocol"],
                "folds": len(r["folds"]),
                "accuracy_mean": r["accuracy_mean"],
                "accuracy_std": r["accuracy_std"],
                "stage1_val_r2": r.get("stage1_val_r2"),
                "stage1_val_cos": r.get("stage1_val_cos"),
                "per_class_recall": r["per_class_recall"],
            }
        )
    classes = list(rows[0]["per_class_recall"]) if rows else []
    cells = [
        {
            **r,
            "acc": 100 * r["accuracy_mean"],
            "std": 100 * r["accuracy_std"],
            **{c: None if r["per_class_recall"].get(c) is None else 100 * r["per_class_recall"][c] for c in classes},
        }
        for r in rows
    ]
    cols = [
        ("method", "method", "<s", 10),
        ("dataset", "dataset", "<s", 10),
        ("protocol", "protocol", "<s", 14),
        ("folds", "folds", "d", 5),
        ("acc", "accuracy %", ".2f"),
        ("std", "± std", ".2f", 6),
        ("stage1_val_r2", "st.1 R²", ".3f", 8),
        ("stage1_val_cos", "st.1 cos", ".3f", 8),
    ]
    cols += [(c, c[:8], ".1f", 8) for c in classes]
    return format_table(cells, cols), rows
