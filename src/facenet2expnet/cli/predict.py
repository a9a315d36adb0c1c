"""`facenet2expnet predict`: expressions in photos, folders, videos or a webcam."""

from __future__ import annotations

import sys


def cmd_predict(args) -> int:
    from ..files import atomic_write_text
    from ..infer import ExpressionRecognizer
    from ..infer.predict import format_records, run_predict, summary

    if not args.inputs and args.webcam is None:
        print("error: give images, folders or videos, or --webcam", file=sys.stderr)
        return 2
    from ..models.pretrained import BUNDLED, DEFAULT_MODEL

    model = args.model or (BUNDLED if args.explain else DEFAULT_MODEL)  # Grad-CAM needs the torch model
    rec = ExpressionRecognizer.from_pretrained(
        model, detector=args.detector, detect=not args.no_detect, device=args.device
    )
    result = run_predict(
        rec,
        args.inputs,
        every=args.every,
        annotate=args.annotate,
        progress=not args.no_progress,
        webcam=args.webcam,
        max_frames=args.max_frames,
        explain=args.explain,
        summary=args.summary,
    )
    text = format_records(result["records"], rec.classes_, args.format)
    if args.output:
        atomic_write_text(args.output, text)
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    print(summary(result), file=sys.stderr)
    return 0 if result["records"] or result["summaries"] or not (result["failed"] or result["no_face"]) else 1


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="recognize expressions in photos, folders, videos or a webcam")
    p.add_argument("inputs", nargs="*", help="image files, folders (searched recursively) or video files")
    p.add_argument(
        "--model",
        help="bundled model name or checkpoint path (.json/.safetensors from train, .onnx from export); "
        "default: the bundled FER2013 model's int8 export (fer2013-fn2en-fast-int8; the float model with --explain)",
    )
    p.add_argument(
        "--detector", default="blazeface", help="blazeface (default: BlazeFace CNN), dlib (HOG) or opencv (Haar)"
    )
    p.add_argument("--no-detect", action="store_true", help="inputs are already cropped faces")
    p.add_argument(
        "--device", default="cpu", help="torch checkpoints: cpu (default), cuda, cuda:N or auto; ONNX models run on CPU"
    )
    p.add_argument("--every", type=int, default=10, help="videos: every Nth frame (default 10)")
    p.add_argument("--max-frames", type=int, help="videos: stop after this many sampled frames")
    p.add_argument("--webcam", type=int, nargs="?", const=0, help="use camera N (default 0) where one exists")
    p.add_argument("--format", default="csv", choices=["csv", "json"])
    p.add_argument("--output", "-o", help="write the records here instead of stdout")
    p.add_argument("--annotate", metavar="DIR", help="write annotated images/videos (boxes and labels) into DIR")
    p.add_argument(
        "--explain", metavar="DIR", help="write a Grad-CAM figure of each image's faces into DIR (images only)"
    )
    p.add_argument(
        "--summary",
        metavar="DIR",
        nargs="?",
        const="summaries",
        help="videos: stream them into a timeline CSV per face track, expression shares (JSON) and a plot in DIR "
        "(default ./summaries), with memory constant in the video's length, instead of printing every record",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_predict)
