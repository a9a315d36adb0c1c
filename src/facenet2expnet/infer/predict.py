"""``facenet2expnet predict``: run a recognizer over files, folders, videos or a webcam; write CSV/JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import sys

import cv2

from ..data.images import ImageReadError, read_image
from ..errors import FaceNet2ExpNetError
from ..files import atomic_write_bytes
from .media import draw_faces, expand_inputs, is_video_file, open_webcam, video_frames, video_info


def run_predict(
    recognizer,
    inputs: list[str],
    every: int = 10,
    annotate: str | None = None,
    progress: bool = True,
    webcam: int | None = None,
    max_frames: int | None = None,
    log=None,
    explain: str | None = None,
    summary: str | None = None,
) -> dict:
    """Returns {"records": [...], "no_face": [...], "failed": [{path, reason}], "annotated": [...], "summaries": [...]}.

    With ``summary`` (a folder), videos are streamed into per-video summaries there (infer/summary.py) instead of
    into ``records``, so that memory stays flat however long they are.
    """
    from tqdm import tqdm

    if log is None:  # progress lines go to stderr: stdout carries the CSV/JSON records

        def log(msg):
            print(msg, file=sys.stderr)

    result = {"records": [], "no_face": [], "failed": [], "annotated": [], "summaries": []}
    if annotate:
        os.makedirs(annotate, exist_ok=True)
    if webcam is not None:
        # live: every Nth frame until --max-frames or Ctrl-C; each record is printed as it comes
        cap = open_webcam(webcam)
        try:
            _video(recognizer, f"webcam:{webcam}", every, annotate, result, max_frames, capture=cap, live=log)
        except KeyboardInterrupt:
            log("stopped")
        finally:
            cap.release()
    files = expand_inputs(inputs) if inputs else []
    bar = tqdm(files, desc="predict", unit="file", disable=not progress or len(files) < 2, file=sys.stderr)
    for path in bar:
        try:
            if is_video_file(path) and summary:
                result["summaries"].append(video_summary(recognizer, path, every, summary, max_frames))
            elif is_video_file(path):
                _video(recognizer, path, every, annotate, result, max_frames)
            else:
                rgb = read_image(path, "RGB")
                recs = recognizer.predict(rgb)
                for r in recs:
                    r["source"] = path
                if not recs:
                    result["no_face"].append(path)
                result["records"] += recs
                if annotate:
                    out = os.path.join(annotate, os.path.splitext(os.path.basename(path))[0] + "_annotated.png")
                    ok, buf = cv2.imencode(".png", cv2.cvtColor(draw_faces(rgb, recs), cv2.COLOR_RGB2BGR))
                    atomic_write_bytes(out, buf.tobytes())
                    result["annotated"].append(out)
                if explain and recs:
                    result.setdefault("explained", []).append(_explain(recognizer, rgb, path, explain))
        except (ImageReadError, FaceNet2ExpNetError) as exc:
            result["failed"].append({"path": path, "reason": str(exc)})
    return result


def _explain(recognizer, rgb, path, out_dir) -> str:
    from ..viz.figures import saliency_grid

    os.makedirs(out_dir, exist_ok=True)
    faces = recognizer.explain(rgb)
    rows = [
        {"class": f"face {j}: {f['label']} {100 * f['p']:.0f}%", "images": [f["chip"]], "cams": [f["cam"]]}
        for j, f in enumerate(faces)
    ]
    out = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + "_gradcam.png")
    return saliency_grid(rows, out, f"Grad-CAM of the predicted class: {os.path.basename(path)}")


def _video(recognizer, path, every, annotate, result, max_frames, capture=None, live=None):
    writer = None
    if annotate:
        if capture is None:
            info = video_info(path)
        else:
            info = {
                "fps": capture.get(cv2.CAP_PROP_FPS) or 25.0,
                "width": int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                "height": int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            }
        stem = os.path.splitext(os.path.basename(path))[0].replace(":", "_")
        out = os.path.join(annotate, stem + "_annotated.mp4")
        writer = cv2.VideoWriter(
            out, cv2.VideoWriter_fourcc(*"mp4v"), max(1.0, info["fps"] / every), (info["width"], info["height"])
        )
    for fr in video_frames(path, every, max_frames, capture=capture):
        recs = recognizer.predict(fr.rgb)
        for r in recs:
            r.update(source=path, frame=fr.index, time_s=round(fr.time_s, 3))
        if not recs:
            result["no_face"].append(f"{path}#frame={fr.index}")
        result["records"] += recs
        if live is not None:
            live(
                f"frame {fr.index}: "
                + (", ".join(f"{r['label']} {100 * r['probabilities'][r['label']]:.0f}%" for r in recs) or "no face")
            )
        if writer is not None:
            writer.write(cv2.cvtColor(draw_faces(fr.rgb, recs), cv2.COLOR_RGB2BGR))
    if writer is not None:
        writer.release()
        result["annotated"].append(out)


def video_summary(
    recognizer, path: str, every: int, out_dir: str, max_frames: int | None = None, plot: bool = True
) -> dict:
    """Stream a video's sampled frames into its timeline, shares and plot (nothing kept per frame).

    -> the summary, with ``series`` (the plot's data: mean probabilities over time) added."""
    from .summary import VideoSummary

    vs = VideoSummary(path, out_dir, recognizer.classes_)
    try:
        for fr in video_frames(path, every, max_frames):
            vs.add(fr.index, fr.time_s, recognizer.predict(fr.rgb))
    except BaseException:
        vs.abort()
        raise
    return {**vs.close(plot=plot), "series": vs.series()}


def format_records(records: list[dict], classes: list[str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(records, indent=2)
    buf = io.StringIO()
    cols = ["source", "frame", "time_s", "face", "label", "box", "detection_score"] + [f"p_{c}" for c in classes]
    w = csv.writer(buf)
    w.writerow(cols)
    for r in records:
        w.writerow(
            [
                r.get("source"),
                r.get("frame", ""),
                r.get("time_s", ""),
                r.get("face"),
                r["label"],
                json.dumps(r["box"]) if r["box"] else "",
                r.get("detection_score") or "",
            ]
            + [r["probabilities"][c] for c in classes]
        )
    return buf.getvalue()


def summary(result: dict) -> str:
    listed, summarized = len(result["records"]), sum(v["faces"] for v in result.get("summaries", []))
    lines = [f"{listed + summarized} face(s) recognized"]
    if summarized:  # one count: faces listed one per row, and faces counted into the videos' summaries
        lines[0] += f" ({listed} listed, {summarized} in video summaries)"
    if result["no_face"]:
        lines.append(
            f"no face in {len(result['no_face'])}: "
            + ", ".join(result["no_face"][:10])
            + (" ..." if len(result["no_face"]) > 10 else "")
        )
    for f in result["failed"]:
        lines.append(f"failed: {f['path']}: {f['reason']}")
    for a in result["annotated"]:
        lines.append(f"annotated: {a}")
    for v in result.get("summaries", []):
        top = max(v["share"], key=v["share"].get) if v["faces"] else "no face"
        lines.append(
            f"summary of {v['video']}: {v['faces']} faces in {v['sampled_frames']} sampled frames, {v['tracks']} "
            f"track(s), "
            f"mostly {top}; files: {', '.join(v['files'].values())}"
        )
    for a in result.get("explained", []):
        lines.append(f"explained: {a}")
    return "\n".join(lines)
