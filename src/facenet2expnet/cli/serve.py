"""`facenet2expnet serve`: the REST API, its flags turned into ServeSettings."""

from __future__ import annotations

import sys


def serve_settings(args):
    """`serve`'s flags -> ServeSettings, every model name resolved (a wrong one is one error line, here)."""
    from ..models.pretrained import DEFAULT_MODEL, resolve_model
    from ..serve.security import read_api_key
    from ..serve.settings import ServeSettings

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

    from ..serve.app import create_app
    from ..serve.security import API_KEY_ENV, is_loopback

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


def add_parser(sub) -> None:
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
