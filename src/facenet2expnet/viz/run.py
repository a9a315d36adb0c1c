"""``facenet2expnet visualize RUN_DIR [--compare RUN_DIR ...]``: every figure of a run, from its run dir alone.

What it draws (``--what``, default all):

* ``neurons``    the paper's neuron visualization: for the N most class-selective units of the
                 top conv layer, the receptive-field patches of their top-k test images and the
                 class histogram of those patches; each run side by side, plus the teacher's tap;
                 and a selectivity score per model (mean fraction of top-k patches sharing the
                 majority class);
* ``saliency``   Grad-CAM on the last conv layer, a grid per class;
* ``embedding``  PCA (and t-SNE) of the penultimate features of the test set, coloured by
                 expression and by subject, with silhouette scores by expression vs subject;
* ``curves``     losses and accuracies of both stages per fold, stage boundary marked;
* ``confusion``  row-normalized confusion matrices and per-class recall, all runs on one figure.

Writes PNGs, ``visualization.json`` (the scores) and ``index.html`` into ``--out``.
"""

from __future__ import annotations

import html
import os

import numpy as np
import torch

from ..data.datasets import load_dataset, parse_dataset_spec
from ..data.preprocess import Preprocessing
from ..errors import FaceNet2ExpNetError
from ..eval.selectivity import pca_2d, silhouette, top_images, unit_peaks, unit_selectivity
from ..files import atomic_write_json, atomic_write_text, read_csv_rows, read_json
from . import figures
from .gradcam import grad_cam

WHAT = ("neurons", "saliency", "embedding", "curves", "confusion")


class RunView:
    """A finished run dir: its config, report, dataset and one fold's model and test set."""

    def __init__(self, run_dir: str, fold: int = 0):
        from ..models.registry import load_checkpoint

        self.dir = run_dir
        fold_dir = os.path.join(run_dir, "folds", f"fold_{fold:02d}")
        for f in (os.path.join(run_dir, "config.json"), os.path.join(fold_dir, "result.json")):
            if not os.path.exists(f):
                raise FaceNet2ExpNetError(f"{f} is missing: not a run dir, or fold {fold} is not finished")
        self.config = read_json(os.path.join(run_dir, "config.json"))
        report = os.path.join(run_dir, "report.json")  # absent while other folds still train
        self.report = read_json(report) if os.path.exists(report) else None
        self.name = self.config["method"]
        self.result = read_json(os.path.join(fold_dir, "result.json"))
        self.model, self.meta = (None, None)
        if os.path.exists(os.path.join(fold_dir, "best.json")):
            self.model, self.meta = load_checkpoint(os.path.join(fold_dir, "best"))
        kind, root = parse_dataset_spec(self.config["dataset"])
        kw = {"classes": self.config["classes"]} if self.config.get("classes") else {}
        self.dataset = load_dataset(kind, root, check_images=False, **kw)
        self.test_index = np.array(self.result["test_index"], dtype=np.int64)

    @property
    def class_names(self):
        return self.dataset.class_names

    def test_images(self, pp: Preprocessing) -> np.ndarray:
        return np.stack(
            [pp.load(self.dataset.samples[i].path or self.dataset.samples[i].array) for i in self.test_index]
        )

    def metrics(self) -> list[dict]:
        return read_csv_rows(os.path.join(self.dir, "metrics.csv"))


@torch.no_grad()
def _features(forward, x: torch.Tensor, bs: int = 64) -> np.ndarray:
    return torch.cat([forward(x[i : i + bs]) for i in range(0, len(x), bs)]).float().numpy()


def receptive_boxes(forward, input_shape, out_hw) -> np.ndarray:
    """out_h x out_w x 4 input boxes (y0, y1, x0, x1) seen by each output position, from input gradients."""
    x = torch.zeros((1,) + tuple(input_shape), requires_grad=True)
    out = forward(x)
    h, w = out_hw
    boxes = np.zeros((h, w, 4), dtype=np.int64)
    for i in range(h):
        for j in range(w):
            (g,) = torch.autograd.grad(out[0, :, i, j].sum(), x, retain_graph=True)
            nz = g.abs().sum((0, 1)).numpy() > 0
            ys, xs = np.nonzero(nz)
            if len(ys) == 0:
                boxes[i, j] = (0, input_shape[1], 0, input_shape[2])
            else:
                boxes[i, j] = (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)
    return boxes


def neuron_panel(
    name: str, forward, images: np.ndarray, pp: Preprocessing, labels: np.ndarray, n_units: int, k: int
) -> dict:
    """Top-k patches and class histograms of the ``n_units`` most selective units of ``forward``'s output."""
    x = pp.batch(images)
    acts = _features(forward, x)  # N x C x H x W
    peaks, argmax = unit_peaks(acts)
    sel = unit_selectivity(peaks, labels, k)
    score = float(sel.mean())
    # the most selective units, ties broken by how strongly they fire
    order = np.lexsort((-peaks.mean(0), -sel))[:n_units]
    boxes = receptive_boxes(lambda t: forward(t), x.shape[1:], acts.shape[2:])
    top = top_images(peaks, k)
    units = []
    for u in order:
        patches = []
        for img_i in top[u]:
            pos = argmax[img_i, u]
            y0, y1, x0, x1 = boxes[pos // acts.shape[3], pos % acts.shape[3]]
            patches.append(images[img_i][y0:y1, x0:x1])
        units.append(
            {"unit": int(u), "selectivity": float(sel[u]), "patches": patches, "labels": labels[top[u]].tolist()}
        )
    return {"name": name, "score": score, "units": units, "n_units_total": int(acts.shape[1])}


def _penultimate(model, x: torch.Tensor) -> np.ndarray:
    """The head's input to its last linear layer (after ReLU/dropout in eval mode)."""
    head = model.head
    with torch.no_grad():
        f = model.forward_features(x)
        for layer in list(head)[:-1]:
            f = layer(f)
    return f.numpy()


def visualize_runs(
    run_dirs: list[str],
    out: str,
    what=WHAT,
    fold: int = 0,
    n_units: int = 8,
    k: int = 9,
    teacher: bool = True,
    log=print,
) -> dict:
    unknown = set(what) - set(WHAT)
    if unknown:
        from ..errors import UnknownNameError

        raise UnknownNameError("figure kind", sorted(unknown)[0], WHAT)
    os.makedirs(out, exist_ok=True)
    views = [RunView(d, fold) for d in run_dirs]
    figs, scores = [], {"fold": fold}  # figs: (title, path) in the order the index shows them
    trained = [v for v in views if v.model is not None]
    if "confusion" in what:
        figs += _confusion_figures(views, out)
    if "curves" in what:
        figs += _curve_figures(views, out)
    if "neurons" in what and trained:
        figs += _neuron_figures(trained, out, scores, fold, n_units, k, teacher, log)
    if "saliency" in what:
        figs += [_saliency_figure(v, out) for v in trained]
    if "embedding" in what:
        scores["silhouette"] = {}
        for v in trained:
            figs += _embedding_figures(v, out, scores)
    atomic_write_json(os.path.join(out, "visualization.json"), scores)
    _index_html(out, figs, scores, [v.dir for v in views])
    for v in views:  # the run's report links its figures
        _link_report(v.dir, out, figs)
    return {"figures": [p for _, p in figs], "scores": scores}


def _confusion_figures(views, out: str) -> list[tuple]:
    finished = [v.report for v in views if v.report is not None]
    if not finished:
        return []
    path = figures.confusion_and_recall(finished, os.path.join(out, "confusion_recall.png"))
    return [("Confusion matrices and per-class recall", path)]


def _curve_figures(views, out: str) -> list[tuple]:
    figs = []
    for v in views:
        rows = v.metrics()
        if rows:
            path = figures.training_curves(rows, os.path.join(out, f"curves_{v.name}.png"), v.name)
            figs.append((f"Training curves: {v.name}", path))
    return figs


def _neuron_figures(
    trained, out: str, scores: dict, fold: int, n_units: int, k: int, teacher: bool, log
) -> list[tuple]:
    """The most selective units of each model's top conv layer (and the teacher's tap), with their top test patches."""
    panels = []
    for v in trained:
        pp = Preprocessing.from_dict(v.meta["preprocessing"])
        labels = v.dataset.labels[v.test_index]
        panels.append(neuron_panel(v.name, v.model.forward_features, v.test_images(pp), pp, labels, n_units, k))
        log(f"{v.name}: selectivity {panels[-1]['score']:.3f}")
    v = trained[0]
    labels = v.dataset.labels[v.test_index]
    if teacher and v.meta.get("teacher"):
        from ..teachers import create_teacher

        t = v.meta["teacher"]
        tt, layer = create_teacher(t["name"], layer=t["layer"]), t["layer"]
        forward = lambda z: tt.net.forward_features(z, [layer])[layer]  # noqa: E731
        images = v.test_images(tt.preprocessing)
        panels.append(
            neuron_panel(f"teacher {t['name']}:{layer}", forward, images, tt.preprocessing, labels, n_units, k)
        )
        log(f"teacher: selectivity {panels[-1]['score']:.3f}")
    scores["selectivity"] = {p["name"]: p["score"] for p in panels}
    scores["selectivity_k"] = k
    scores["majority_class_share"] = float(np.bincount(labels).max() / len(v.test_index))
    title = f"most selective units, top-{k} test patches, fold {fold}"
    path = figures.neuron_grid(panels, v.class_names, os.path.join(out, "neurons.png"), title)
    return [("Neuron visualization (top conv layer)", path)]


def _saliency_figure(v, out: str) -> tuple:
    """Grad-CAM of up to 6 test faces per true class."""
    pp = Preprocessing.from_dict(v.meta["preprocessing"])
    images = v.test_images(pp)
    labels = v.dataset.labels[v.test_index]
    rows = []
    for c, cname in enumerate(v.class_names):
        idx = np.flatnonzero(labels == c)[:6]
        if len(idx) == 0:
            continue
        cams = grad_cam(v.model, pp.batch(images[idx]), torch.full((len(idx),), c, dtype=torch.long))
        rows.append({"class": cname, "images": [images[i] for i in idx], "cams": list(cams)})
    title = f"Grad-CAM on the last conv layer ({v.name}), true class per row"
    return (f"Grad-CAM: {v.name}", figures.saliency_grid(rows, os.path.join(out, f"gradcam_{v.name}.png"), title))


def _embedding_figures(v, out: str, scores: dict) -> list[tuple]:
    """PCA (and t-SNE) of penultimate features by expression and by subject; silhouettes into ``scores``."""
    pp = Preprocessing.from_dict(v.meta["preprocessing"])
    feats = _penultimate(v.model, pp.batch(v.test_images(pp)))
    labels = v.dataset.labels[v.test_index]
    subjects = [v.dataset.samples[i].subject for i in v.test_index]
    xy = pca_2d(feats)
    path = os.path.join(out, f"embedding_expression_{v.name}.png")
    title = f"{v.name}: PCA of penultimate features, by expression"
    figs = [(f"Embedding by expression: {v.name}", figures.embedding_scatter(xy, labels, v.class_names, path, title))]
    entry = {"expression": silhouette(feats, labels)}
    if all(s is not None for s in subjects):
        names = sorted(set(subjects))
        sid = np.array([names.index(s) for s in subjects])
        path = os.path.join(out, f"embedding_subject_{v.name}.png")
        title = f"{v.name}: PCA of penultimate features, by subject"
        fig = figures.embedding_scatter(xy, sid, names, path, title, legend=len(names) <= 12)
        figs.append((f"Embedding by subject: {v.name}", fig))
        entry["subject"] = silhouette(feats, sid)
    if len(feats) >= 10:
        from sklearn.manifold import TSNE

        perplexity = min(30, max(2, len(feats) // 4))
        ts = TSNE(n_components=2, perplexity=perplexity, random_state=0, init="pca").fit_transform(feats)
        path = os.path.join(out, f"tsne_expression_{v.name}.png")
        fig = figures.embedding_scatter(ts, labels, v.class_names, path, f"{v.name}: t-SNE, by expression")
        figs.append((f"t-SNE by expression: {v.name}", fig))
    scores["silhouette"][v.name] = entry
    return figs


def _index_html(out: str, figs, scores, runs) -> None:
    items = "\n".join(
        f'<h2>{html.escape(t)}</h2>\n<img src="{html.escape(os.path.basename(p))}" alt="{html.escape(t)}">'
        for t, p in figs
    )
    rows = ""
    for model, s in scores.get("selectivity", {}).items():
        rows += f"<tr><td>{html.escape(model)}</td><td>selectivity</td><td>{s:.3f}</td></tr>\n"
    for model, s in scores.get("silhouette", {}).items():
        for by, val in s.items():
            rows += f"<tr><td>{html.escape(model)}</td><td>silhouette by {by}</td><td>{val:.3f}</td></tr>\n"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>facenet2expnet: figures</title>
<style>body{{font-family:sans-serif;max-width:1400px;margin:2em auto}} img{{max-width:100%;border:1px solid #ddd}}
td,th{{padding:4px 10px}}</style>
</head><body>
<h1>facenet2expnet figures</h1>
<p>Runs: {", ".join(html.escape(r) for r in runs)} (fold {scores.get("fold")}).</p>
<table border="1" cellspacing="0"><tr><th>model</th><th>score</th><th>value</th></tr>
{rows}</table>
{items}
</body></html>
"""
    atomic_write_text(os.path.join(out, "index.html"), page)


def _link_report(run_dir: str, out: str, figs) -> None:
    path = os.path.join(run_dir, "report.md")
    if not os.path.exists(path):
        return
    text = open(path).read().split("\n## Figures\n")[0].rstrip("\n")
    links = "\n".join(f"- [{t}]({os.path.relpath(p, run_dir)})" for t, p in figs)
    atomic_write_text(
        path,
        f"{text}\n\n## Figures\n\n{links}\n- [all "
        f"figures]({os.path.relpath(os.path.join(out, 'index.html'), run_dir)})\n",
    )
