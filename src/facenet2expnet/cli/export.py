"""`facenet2expnet export`: a model to ONNX (float or int8) with its preprocessing."""

from __future__ import annotations


def cmd_export(args) -> int:
    import os

    from ..export.onnx_export import export_onnx
    from ..models.pretrained import resolve_checkpoint

    path = resolve_checkpoint(args.model, "export")
    os.makedirs(os.path.dirname(os.path.abspath(args.onnx)), exist_ok=True)
    if not args.int8:
        meta = export_onnx(path, args.onnx, opset=args.opset, test_flip=args.test_flip)
        print(
            f"wrote {args.onnx} and its metadata ({len(meta['classes'])} classes, input "
            f"{meta['preprocessing']['size']} px)"
        )
        return 0
    from ..export.onnx_quantize import calibration_files, export_int8

    faces = calibration_files(args.int8, args.calibration_faces)
    meta = export_int8(path, args.onnx, faces, opset=args.opset, test_flip=args.test_flip)
    print(
        f"wrote {args.onnx} (int8, calibrated on {len(faces)} faces; kept in float: "
        f"{', '.join(meta['quantization']['kept_in_float'])}) "
        "and its metadata"
    )
    return 0


def add_parser(sub) -> None:
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
