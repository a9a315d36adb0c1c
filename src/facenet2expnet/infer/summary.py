"""Video summaries (``predict video.mp4 --summary DIR``): a timeline per face track, expression shares, a plot.

Frames are streamed: each sampled frame's faces are tracked (by box overlap with the tracks of the
frames before), written to the timeline CSV at once, and folded into running totals. Memory does
not grow with the video's length: the plot's series is kept in at most ``MAX_BINS`` time bins,
halving its resolution whenever it fills up.

Per video, in DIR: ``<stem>_timeline.csv`` (time, frame, track, label, box, probabilities),
``<stem>_summary.json`` (share of each expression over all faces seen, per track too) and
``<stem>_expressions.png`` (mean probability of each expression over time).
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np

from ..face.detect import box_iou
from ..files import atomic_write_json, save_figure

MAX_BINS = 512


class IouTracker:
    """Greedy box-overlap tracking: a face continues the track whose last box it overlaps most (IoU >= ``min_iou``);
    a track unseen for ``max_gap`` sampled frames ends. Faces without a box (no detection) all get track 0."""

    def __init__(self, min_iou: float = 0.3, max_gap: int = 5):
        self.min_iou, self.max_gap = min_iou, max_gap
        self.tracks: dict[int, tuple] = {}  # id -> (last box, frames since seen)
        self.next_id = 0

    def update(self, boxes: list) -> list[int]:
        ids, free = [], dict(self.tracks)
        for box in boxes:
            if box is None:
                ids.append(0)
                continue
            overlap = box_iou(box, [b for b, _ in free.values()]) if free else np.zeros(0)
            if len(overlap) and overlap.max() >= self.min_iou:  # the track it overlaps most (the first, on a tie)
                best = list(free)[int(overlap.argmax())]
                ids.append(best)
                del free[best]
            else:
                ids.append(self.next_id)
                self.next_id += 1
        seen = {i: b for i, b in zip(ids, boxes) if b is not None}
        self.tracks = {t: (seen[t], 0) if t in seen else (box, gap + 1) for t, (box, gap) in self.tracks.items()}
        self.tracks.update({t: (b, 0) for t, b in seen.items() if t not in self.tracks})
        self.tracks = {t: v for t, v in self.tracks.items() if v[1] <= self.max_gap}
        return ids


class VideoSummary:
    """Streams one video's face records into its timeline CSV and running totals."""

    def __init__(self, path: str, out_dir: str, classes: list[str]):
        os.makedirs(out_dir, exist_ok=True)
        self.path, self.classes = path, list(classes)
        stem = os.path.splitext(os.path.basename(path))[0].replace(":", "_")
        self.paths = {
            k: os.path.join(out_dir, f"{stem}_{k}") for k in ("timeline.csv", "summary.json", "expressions.png")
        }
        self._tmp = self.paths["timeline.csv"] + ".part"  # renamed when complete: a killed run leaves no half timeline
        self._file = open(self._tmp, "w", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(["time_s", "frame", "track", "label", "box"] + [f"p_{c}" for c in self.classes])
        self.tracker = IouTracker()
        self.counts = np.zeros(len(classes), np.int64)  # faces per predicted label
        self.track_counts: dict[int, np.ndarray] = {}
        self.frames = self.faces = 0
        # plot series: bins of equal frame count; each holds (sum of times, sum of mean probabilities, frames)
        self.bin_frames, self.bins = 1, []

    def add(self, frame: int, time_s: float, records: list[dict]) -> None:
        self.frames += 1
        ids = self.tracker.update([r["box"] for r in records])
        probs = np.array([[r["probabilities"][c] for c in self.classes] for r in records], np.float64).reshape(
            -1, len(self.classes)
        )
        for r, t, p in zip(records, ids, probs):
            k = self.classes.index(r["label"])
            self.counts[k] += 1
            self.track_counts.setdefault(t, np.zeros(len(self.classes), np.int64))[k] += 1
            self._csv.writerow(
                [f"{time_s:.3f}", frame, t, r["label"], json.dumps(r["box"]) if r["box"] else ""]
                + [f"{v:.5f}" for v in p]
            )
        self.faces += len(records)
        self._bin(time_s, probs.mean(0) if len(probs) else None)

    def _bin(self, time_s: float, mean_probs) -> None:
        if not self.bins or self.bins[-1][2] >= self.bin_frames:
            self.bins.append([0.0, np.zeros(len(self.classes)), 0, 0])  # time sum, prob sum, frames, frames with faces
        b = self.bins[-1]
        b[0] += time_s
        b[2] += 1
        if mean_probs is not None:
            b[1] += mean_probs
            b[3] += 1
        if len(self.bins) > MAX_BINS:  # full: merge neighbours, so that memory stays constant
            merged = []
            for i in range(0, len(self.bins), 2):
                pair = self.bins[i : i + 2]
                merged.append(
                    [sum(x[0] for x in pair), sum(x[1] for x in pair), sum(x[2] for x in pair), sum(x[3] for x in pair)]
                )
            self.bins, self.bin_frames = merged, self.bin_frames * 2

    def abort(self) -> None:
        """Stop without a summary (the partial timeline is removed)."""
        self._file.close()
        os.unlink(self._tmp)

    def series(self) -> dict:
        """The plot's data: bin mid-times and the mean probability of each class over the faces of each bin
        (None where a bin had no face)."""
        t = [round(b[0] / b[2], 3) for b in self.bins]
        probs = [(b[1] / b[3]).round(4).tolist() if b[3] else [None] * len(self.classes) for b in self.bins]
        return {"time_s": t, "probabilities": {c: [p[k] for p in probs] for k, c in enumerate(self.classes)}}

    def close(self, plot: bool = True) -> dict:
        """Finish the timeline and write the summary (and, with ``plot``, the figure: it needs matplotlib)."""
        self._file.close()
        os.replace(self._tmp, self.paths["timeline.csv"])
        share = (self.counts / max(self.faces, 1)).round(4)
        summary = {
            "video": self.path,
            "sampled_frames": self.frames,
            "faces": self.faces,
            "tracks": len(self.track_counts),
            "share": dict(zip(self.classes, share.tolist())),
            "per_track": {
                str(t): {"faces": int(c.sum()), "share": dict(zip(self.classes, (c / c.sum()).round(4).tolist()))}
                for t, c in sorted(self.track_counts.items())
            },
            "files": {k: os.path.basename(v) for k, v in self.paths.items()},
        }
        atomic_write_json(self.paths["summary.json"], summary)
        if plot:
            self._plot()
        return summary

    def _plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        series = self.series()
        t = np.array(series["time_s"])
        p = np.array([series["probabilities"][c] for c in self.classes], dtype=float).T.reshape(-1, len(self.classes))
        fig, ax = plt.subplots(figsize=(10, 3.6))
        for k, c in enumerate(self.classes):
            ax.plot(t, p[:, k], label=c, lw=1.4)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("mean probability over faces")
        ax.set_ylim(0, 1)
        ax.set_title(
            f"{os.path.basename(self.path)}: expressions over time ({self.faces} faces, {self.frames} sampled frames)"
        )
        ax.legend(ncol=len(self.classes), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22))
        fig.tight_layout()
        save_figure(fig, self.paths["expressions.png"], dpi=100)
