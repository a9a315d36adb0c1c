"""`facenet2expnet prepare`: detect, align and crop the faces of a photo folder once, for training."""

from __future__ import annotations


def cmd_prepare(args) -> int:
    from ..data.datasets import parse_dataset_spec
    from ..face.prepare import prepare_dataset

    kind, root = parse_dataset_spec(args.dataset)
    kw = {"classes": args.classes} if args.classes else {}
    folder = prepare_dataset(
        kind,
        root,
        args.out,
        size=args.size,
        padding=args.padding,
        channels=args.channels,
        detector=args.detector,
        detect=args.detect,
        workers=args.workers,
        progress=not args.no_progress,
        no_face=args.no_face,
        **kw,
    )
    print(f"use it as --dataset prepared:{folder}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "prepare", help="detect and align every image of a dataset once (for raw CK+, Oulu-CASIA, SFEW, photos)"
    )
    p.add_argument("--dataset", required=True, help="KIND:ROOT")
    p.add_argument("--out", required=True, help="cache dir; the result is a sub-folder keyed by the settings")
    p.add_argument("--size", type=int, default=150, help="crop side in pixels (default 150, the dlib teacher's chip)")
    p.add_argument(
        "--padding", type=float, default=0.25, help="padding around the 5-point template (default 0.25, dlib's)"
    )
    p.add_argument("--channels", default="RGB", choices=["RGB", "L"])
    p.add_argument(
        "--detector", default="blazeface", help="blazeface (default: BlazeFace CNN), dlib (HOG) or opencv (Haar)"
    )
    p.add_argument(
        "--detect",
        default="auto",
        choices=["auto", "always", "never"],
        help="auto: skip detection for already-cropped datasets (ckplus48, fer2013, tfd)",
    )
    p.add_argument(
        "--no-face",
        default="skip",
        choices=["skip", "whole"],
        help="an image without a detected face: skip it (default) or keep its centre square "
        "(for already-aligned faces such as SFEW, so that every test image is scored)",
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--classes", help="class set or comma-separated names")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_prepare)
