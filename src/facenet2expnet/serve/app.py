"""``facenet2expnet serve``: a small REST API and web page on FastAPI.

    POST /v1/predict   images as multipart (field ``files``, one or more) or JSON {"images": [base64, ...]};
                       optional ``model`` (a loaded model's name) and ``detect`` (false: each image is a face crop)
                       -> {"model", "classes", "results": [{"image", "faces": [face record, ...]}]}
    GET  /v1/models    classes and preprocessing of the loaded models
    GET  /healthz      liveness
    GET  /             the web page (one self-contained HTML file, no CDN)
    GET  /docs         OpenAPI documentation

Every error, ours and the framework's (404, 405, 422, a broken multipart body), has one shape,
``{"error": {"code", "message"}}``, with a 4xx status; no input gets a 500. Limits bind before the
work: the body is read in chunks and refused past ``max_request_bytes`` (with or without a
Content-Length), each image's size is read from its header before decoding (``max_pixels``; also
past PIL's own decompression-bomb guard), and all images of a request together get
``max_request_pixels``. The body and its files stay in memory (the multipart parser is told never
to spool to disk), images are decoded one at a time, and no path is taken from a request. A request
whose ``Origin`` is not the server's own is refused (403) unless ``--cors`` allows that origin, so
a web page on another site cannot make the local server work. Models load once, when the server
starts (not at import, not in a constructor).
"""

import base64
import binascii
import io
import json
import os
import queue
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from ..errors import FaceNet2ExpNetError
from ..models.pretrained import DEFAULT_MODEL


@dataclass
class ServeSettings:
    models: list = field(default_factory=lambda: [DEFAULT_MODEL])  # names or paths
    detector: str = "blazeface"
    max_bytes: int = 10 * 2**20  # per file
    max_pixels: int = 40_000_000  # per image
    max_files: int = 16
    max_request_bytes: int = 48 * 2**20  # the whole body, multipart or JSON (base64 inflates images by 4/3)
    max_request_pixels: int = 64_000_000  # all images of one request together
    max_video_bytes: int = 64 * 2**20  # one video upload (POST /v1/video)
    # an image over this many pixels is reduced by a whole factor while it is decoded (JPEG: decoded at that
    # scale) before faces are found in it: a 40 MP photo would otherwise take ~450 MB; boxes and landmarks are
    # given in the original image's pixels all the same
    work_pixels: int = 16_000_000
    video_max_frames: int = 600  # sampled frames scored per video, at most
    max_batch: int = 32  # faces per forward pass across concurrent requests
    # how long the batcher waits for more requests: 0 (score what is queued, no wait) since serve_load measured a
    # 5 ms wait costing latency and throughput with the int8 default on CPU (a face costs ~0.3 ms)
    max_wait_ms: float = 0.0
    detectors: int = 4  # face detectors loaded at start: requests detecting at the same time
    cors: list = field(default_factory=list)  # allowed origins; none: CORS off


class BadInput(FaceNet2ExpNetError):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


def image_size(data: bytes, name: str, settings: ServeSettings) -> tuple[int, int]:
    """(width, height) from the image's header, with the per-file and per-image limits; nothing is decoded."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise BadInput(400, "empty_file", f"{name}: the file is empty")
    if len(data) > settings.max_bytes:
        raise BadInput(
            413, "file_too_large", f"{name}: {len(data)} bytes, over the limit of {settings.max_bytes} bytes per file"
        )
    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only
            w, h = img.size
    except Image.DecompressionBombError as exc:  # PIL refuses to open over twice its own pixel limit
        raise BadInput(413, "too_many_pixels", f"{name}: {exc}; the limit is {settings.max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadInput(400, "not_an_image", f"{name}: not a readable image ({exc.__class__.__name__})") from None
    if w * h > settings.max_pixels:
        raise BadInput(
            413, "too_many_pixels", f"{name}: {w}x{h} = {w * h} pixels, over the limit of {settings.max_pixels}"
        )
    return w, h


def decode_image(data: bytes, name: str, settings: ServeSettings) -> tuple[np.ndarray, float]:
    """Upload bytes -> (RGB uint8 array, scale), checking size and pixel count before decoding (never touching the
    disk). An image over ``settings.work_pixels`` is reduced by a whole factor as it is decoded; ``scale`` is what
    its pixel coordinates are multiplied by to be the original's (1.0 when it was not reduced)."""
    import math
    import warnings

    from PIL import Image

    from ..data.images import read_image

    w, h = image_size(data, name, settings)
    factor = math.ceil(math.sqrt(w * h / settings.work_pixels)) if w * h > settings.work_pixels else 1
    try:
        with warnings.catch_warnings():  # the size is checked above, against our own limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if factor > 1:
                    img.draft(img.mode, (w // factor, h // factor))  # JPEG: decoded at 1/2, 1/4 or 1/8 scale
                img.load()
                n = img.width * img.height
                rest = math.ceil(math.sqrt(n / settings.work_pixels)) if n > settings.work_pixels else 1
                if rest == 1:  # small enough as decoded (JPEG: by the draft)
                    return read_image(img, "RGB"), w / img.width
                small = img.reduce(rest)  # what the draft left (PNG, WebP...: all of it)
            del img
            _return_freed_memory()  # the full-size decode's blocks go back before the next copies are made
            return read_image(small, "RGB"), w / small.width
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadInput(400, "not_an_image", f"{name}: the image data is broken ({exc.__class__.__name__})") from None


def _return_freed_memory() -> None:
    """glibc keeps freed heap memory for reuse; after a large decode, give it back to the system (malloc_trim), so
    that one big image does not raise the server's resident memory for the rest of the request. No-op elsewhere."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rescaled(face: dict, scale: float) -> dict:
    """A face record of a reduced image in the original image's pixel coordinates."""
    if scale == 1.0:
        return face
    face = dict(face)
    if face.get("box"):
        face["box"] = [round(v * scale, 1) for v in face["box"]]
    if face.get("landmarks"):
        face["landmarks"] = [[round(x * scale, 1), round(y * scale, 1)] for x, y in face["landmarks"]]
    return face


def check_request_pixels(images: list[tuple[str, bytes]], settings: ServeSettings) -> None:
    """Every image's header read and checked, and their pixels added up, before any is decoded."""
    sizes = [image_size(data, n, settings) for n, data in images]
    total = sum(w * h for w, h in sizes)
    if total > settings.max_request_pixels:
        raise BadInput(
            413,
            "too_many_pixels",
            f"the request's {len(images)} images have {total} pixels in all, over the limit of "
            f"{settings.max_request_pixels} per request; send them in several requests",
        )


class Service:
    """The loaded models (one recognizer and one batcher each) and a pool of face detectors, all loaded at start."""

    def __init__(self, settings: ServeSettings):
        self.settings = settings
        self.recognizers, self.batchers = {}, {}
        self._detectors: queue.Queue = queue.Queue()

    def start(self) -> None:
        from ..infer import ExpressionRecognizer
        from .batcher import Batcher

        for m in self.settings.models:
            rec = ExpressionRecognizer.from_pretrained(m, detector=self.settings.detector)
            name = os.path.splitext(os.path.basename(m))[0] if m else (rec.meta_.get("name") or DEFAULT_MODEL)
            self.recognizers[name] = rec
            self.batchers[name] = Batcher(rec.probabilities, self.settings.max_batch, self.settings.max_wait_ms)
            self.batchers[name].start()
        self.default = next(iter(self.recognizers))
        from ..face import create_detector

        for _ in range(self.settings.detectors):  # loaded once, here: a request never waits for a model file to load
            self._detectors.put(create_detector(self.settings.detector).ensure_loaded())

    def stop(self) -> None:
        for b in self.batchers.values():
            b.stop()

    @contextmanager
    def detector(self):
        """Borrow one of the pool's detectors (a detector keeps state: one request at a time uses each)."""
        det = self._detectors.get()
        try:
            yield det
        finally:
            self._detectors.put(det)

    def predict(self, images: list[tuple[str, bytes]], model: str | None, detect: bool = True) -> dict:
        """[(name, bytes)] -> the response body. Runs in a worker thread. ``detect=False``: each image is one face
        crop."""
        name, rec = self.recognizer(model)
        if not images:
            raise BadInput(
                400, "no_images", "send one or more images: multipart field 'files', or JSON {'images': [base64, ...]}"
            )
        if len(images) > self.settings.max_files:
            raise BadInput(
                413,
                "too_many_files",
                f"{len(images)} images in one request, over the limit of {self.settings.max_files}",
            )
        check_request_pixels(images, self.settings)
        results, batcher = [], self.batchers[name]
        batcher.begin()  # the batcher waits for requests in flight only
        try:
            for n, data in images:  # decoded one at a time: one image's pixels in memory per request
                rgb, scale = decode_image(data, n, self.settings)
                with self.detector() as det:
                    faces, chips = rec.faces_and_chips(rgb, detector=det, detect=detect)
                del rgb
                probs = batcher.submit(chips)
                results.append(
                    {"image": n, "faces": [_rescaled(r.to_dict(), scale) for r in rec.records(n, faces, probs)]}
                )
        finally:
            batcher.end()
        return {"model": name, "classes": rec.classes_, "results": results}

    def recognizer(self, model: str | None):
        name = model or self.default
        if name not in self.recognizers:
            raise BadInput(404, "unknown_model", f"no model {name!r} is loaded; loaded: {', '.join(self.recognizers)}")
        return name, self.recognizers[name]

    def video(self, name: str, data: bytes, options: dict) -> dict:
        """A video's summary, as `predict --summary` makes it. OpenCV reads videos from files only, so the upload
        is written to a temporary file in the system's temp folder, read frame by frame (memory stays flat in the
        video's length) and deleted when the answer is ready."""
        import tempfile

        from ..infer.media import VIDEO_EXTENSIONS
        from ..infer.predict import video_summary

        model, rec = self.recognizer(options.get("model"))
        ext = os.path.splitext(name)[1].lower()
        if ext not in VIDEO_EXTENSIONS:
            raise BadInput(
                415, "not_a_video", f"{name}: not a video file name; send one of {', '.join(VIDEO_EXTENSIONS)}"
            )
        with tempfile.TemporaryDirectory(prefix="fn2en-video-") as tmp:
            path = os.path.join(tmp, "upload" + ext)
            with open(path, "wb") as f:
                f.write(data)
            del data
            try:
                s = video_summary(
                    rec,
                    path,
                    options.get("every", 10),
                    os.path.join(tmp, "out"),
                    max_frames=self.settings.video_max_frames,
                    plot=False,
                )
            except FaceNet2ExpNetError as exc:
                raise BadInput(400, "not_a_video", f"{name}: {exc}".replace(path, name)) from None
        s.pop("files")
        return {"model": model, "classes": rec.classes_, "video": name, **{**s, "video": name}}

    def models(self) -> dict:
        return {
            "default": self.default,
            "models": [
                {
                    "name": n,
                    "classes": r.classes_,
                    "preprocessing": r.preprocessing_.to_dict(),
                    "backend": r.backend_.kind,
                    "arch": (r.meta_.get("arch") or {}).get("name"),
                    "card": r.meta_.get("card"),
                }
                for n, r in self.recognizers.items()
            ],
        }


ERROR_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
}


def error_response(status: int, code: str, message: str):
    """The one error shape of every 4xx/5xx answer: ours, and the framework's own (404, 405, 422...)."""
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def origin_allowed(origin: str, host: str | None, scheme: str, allowed: list) -> bool:
    """A request from the server's own page (``Origin`` equal to scheme://Host) or an origin ``--cors`` names."""
    return origin in allowed or "*" in allowed or (host is not None and origin.lower() == f"{scheme}://{host}".lower())


def create_app(settings: ServeSettings | None = None):
    """The FastAPI application; models load in its lifespan (when the server starts)."""
    from fastapi import FastAPI, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import HTMLResponse, Response

    settings = settings or ServeSettings()
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app):
        await run_in_threadpool(service.start)
        yield
        service.stop()

    app = FastAPI(
        title="facenet2expnet",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="Facial expression recognition: one record per face (box, landmarks, label, probabilities). "
        'Errors: {"error": {"code", "message"}} with a 4xx status.',
    )
    app.state.service = service
    if settings.cors:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors, allow_methods=["GET", "POST"], allow_headers=["*"]
        )

    _add_origin_check(app, settings)
    _add_error_handlers(app)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "models": list(service.recognizers)}

    @app.get("/v1/models")
    def models():
        return service.models()

    @app.post("/v1/predict", openapi_extra=PREDICT_OPENAPI, responses=RESPONSES)
    async def predict(request: Request):
        """Faces and their expressions in one or more images (multipart field `files`, or JSON base64)."""
        images, options = await _read_images(request, settings)
        query = _checked_options({k: v for k, v in request.query_params.items() if k in OPTIONS})
        options = {**query, **options}
        return await run_in_threadpool(service.predict, images, options.get("model"), options.get("detect", True))

    @app.post("/v1/video", openapi_extra=VIDEO_OPENAPI, responses=RESPONSES)
    async def video(request: Request):
        """A short video (multipart field `file`): its per-face timeline summary, as `predict --summary` makes."""
        name, data, options = await _read_video(request, settings)
        return await run_in_threadpool(service.video, name, data, options)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return _static("index.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response(_static("favicon.svg"), media_type="image/svg+xml")

    _add_docs(app)
    return app


def _add_origin_check(app, settings: ServeSettings) -> None:
    from fastapi import Request

    @app.middleware("http")
    async def same_origin_only(request: Request, call_next):
        # A page on another site can POST to this server (a "simple" request needs no preflight): refuse it
        # before any work, unless --cors allows that origin. Requests without Origin (curl, scripts) pass.
        origin = request.headers.get("origin")
        if origin is not None and not origin_allowed(
            origin, request.headers.get("host"), request.url.scheme, settings.cors
        ):
            return error_response(
                403,
                "cross_origin",
                f"requests from {origin} are refused: this server answers its "
                "own page and non-browser clients; start it with --cors ORIGIN to allow that origin",
            )
        return await call_next(request)


def _add_error_handlers(app) -> None:
    """Every error answer in the one shape, the framework's own too."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, exc: BadInput):
        return error_response(exc.status, exc.code, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return error_response(exc.status_code, ERROR_CODES.get(exc.status_code, "error"), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        where = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()[:5])
        return error_response(422, "invalid_request", f"the request is not valid: {where}")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):  # a bug of ours: still the one shape, and no traceback out
        return error_response(500, "internal_error", f"the server failed on this request ({exc.__class__.__name__})")


def _static(name: str) -> str:
    return resources.files("facenet2expnet.serve").joinpath(f"static/{name}").read_text()


def _add_docs(app) -> None:
    """/docs: Swagger UI from the swagger-ui-bundle package's own files (no CDN, nothing copied here); without
    that package, /docs says so and /openapi.json is still served."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        swagger_ui_path = None
    if swagger_ui_path is not None:
        from fastapi.staticfiles import StaticFiles

        app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs():
        if swagger_ui_path is None:
            return HTMLResponse(
                "<p>Interactive docs need <code>pip install swagger-ui-bundle</code>; the API is "
                "described in <a href='/openapi.json'>/openapi.json</a>.</p>"
            )
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="facenet2expnet API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
        )


# ---- the request bodies and responses, for /openapi.json (the handlers read the body themselves, within limits)
_FACE = {
    "type": "object",
    "properties": {
        "source": {"type": "string"},
        "face": {"type": "integer"},
        "box": {
            "type": "array",
            "items": {"type": "number"},
            "nullable": True,
            "description": "x0, y0, x1, y1 in pixels",
        },
        "landmarks": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}, "nullable": True},
        "detection_score": {"type": "number", "nullable": True},
        "label": {"type": "string"},
        "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
    },
}
_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}
    },
}
_OPTIONS = {
    "model": {"type": "string", "description": "a loaded model's name (GET /v1/models); default: the first"},
    "detect": {"type": "boolean", "description": "false: each image is already a face crop", "default": True},
}
PREDICT_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        **_OPTIONS,
                    },
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["images"],
                    "properties": {
                        "images": {
                            "type": "array",
                            "items": {
                                "type": "string",
                                "description": "base64 (line breaks and a data: URL prefix allowed)",
                            },
                        },
                        **_OPTIONS,
                    },
                }
            },
        },
    }
}
VIDEO_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "model": _OPTIONS["model"],
                        "every": {"type": "integer", "description": "score every Nth frame (default 10)"},
                    },
                }
            }
        },
    }
}
RESPONSES = {
    200: {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "model": {"type": "string"},
                        "classes": {"type": "array", "items": {"type": "string"}},
                        "results": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"image": {"type": "string"}, "faces": {"type": "array", "items": _FACE}},
                            },
                        },
                    },
                }
            }
        }
    },
    **{
        code: {"description": why, "content": {"application/json": {"schema": _ERROR}}}
        for code, why in (
            (400, "bad input (not an image, broken body, unknown field)"),
            (403, "a cross-origin request"),
            (404, "unknown model"),
            (413, "over a size or pixel limit"),
            (415, "not multipart or JSON"),
        )
    },
}


MEDIA_TYPES = ("multipart/form-data", "application/json")
OPTIONS = ("model", "detect")  # besides the images, what a request may say


async def read_body(request, limit: int) -> bytes:
    """The whole body, read in chunks and refused as soon as it passes ``limit`` bytes (with or without a
    Content-Length: a chunked upload is cut off, not read to its end first)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise BadInput(413, "request_too_large", f"the request is {length} bytes, over the limit of {limit} bytes")
    chunks, n = [], 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > limit:
            raise BadInput(413, "request_too_large", f"the request is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_images(request, settings: ServeSettings) -> tuple[list[tuple[str, bytes]], dict]:
    """The request's images as (name, bytes), from multipart or JSON/base64, and its options (model, detect)."""
    ctype = request.headers.get("content-type", "")
    media = ctype.split(";", 1)[0].strip().lower()  # media types are case-insensitive
    if media not in MEDIA_TYPES:
        raise BadInput(
            415,
            "unsupported_media_type",
            f"send multipart/form-data or application/json, not {ctype or 'no content type'}",
        )
    body = await read_body(request, settings.max_request_bytes)
    images, options = await (_multipart(request, body, settings) if media == MEDIA_TYPES[0] else _json(body))
    return images, _checked_options(options)


async def parse_form(request, body: bytes, max_files: int, max_fields: int):
    """A capped, already read multipart body -> its form, every file part in memory; a broken body is a 400, one
    with more files than ``max_files`` a 413."""
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def stream():
        yield body

    parser = MultiPartParser(
        request.headers, stream(), max_files=max_files, max_fields=max_fields, max_part_size=64 * 1024
    )
    parser.spool_max_size = len(body) + 1  # every file part stays in memory: the body is capped already
    try:
        return await parser.parse()
    except MultiPartException as exc:
        if "Too many files" in str(exc):
            raise BadInput(413, "too_many_files", f"over the limit of {max_files} files per request") from None
        raise BadInput(400, "bad_multipart", f"the multipart body could not be read: {exc}") from None
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise BadInput(
            400, "bad_multipart", f"the multipart body could not be read ({exc.__class__.__name__})"
        ) from None


async def _multipart(request, body: bytes, settings: ServeSettings) -> tuple[list, dict]:
    form = await parse_form(request, body, settings.max_files, len(OPTIONS) + 4)
    unknown = sorted(set(form.keys()) - {"files", *OPTIONS})
    if unknown:
        raise BadInput(
            400,
            "unknown_field",
            f"unknown form field(s) {', '.join(map(repr, unknown))}; "
            f"send images as 'files', and optionally {', '.join(OPTIONS)}",
        )
    images = []
    for i, f in enumerate(form.getlist("files")):
        if isinstance(f, str):
            raise BadInput(400, "bad_field", "'files' must be file uploads (multipart parts with a filename)")
        images.append(((f.filename or f"file{i}")[:200], await f.read()))
    options = {}
    for k in OPTIONS:
        v = form.get(k)
        if v is not None and not isinstance(v, str):
            raise BadInput(400, "bad_field", f"form field {k!r} must be text, not a file")
        if v is not None:
            options[k] = v
    return images, options


async def _read_video(request, settings: ServeSettings) -> tuple[str, bytes, dict]:
    """POST /v1/video: one multipart ``file`` (the video) and the options ``model`` and ``every``."""
    ctype = request.headers.get("content-type", "")
    if ctype.split(";", 1)[0].strip().lower() != MEDIA_TYPES[0]:
        raise BadInput(
            415, "unsupported_media_type", f"send the video as multipart/form-data, not {ctype or 'nothing'}"
        )
    body = await read_body(request, settings.max_video_bytes + 2**16)
    form = await parse_form(request, body, max_files=1, max_fields=4)
    f = form.get("file")
    if f is None or isinstance(f, str):
        raise BadInput(400, "no_video", "send the video as the multipart file field 'file'")
    unknown = sorted(set(form.keys()) - {"file", "model", "every"})
    if unknown:
        raise BadInput(
            400, "unknown_field", f"unknown form field(s) {', '.join(map(repr, unknown))}; known: file, model, every"
        )
    data = await f.read()
    if not data:
        raise BadInput(400, "empty_file", f"{f.filename}: the file is empty")
    options = _checked_options({"model": form["model"]} if isinstance(form.get("model"), str) else {})
    every = form.get("every", "10")
    if not (isinstance(every, str) and every.isdigit() and 1 <= int(every) <= 10_000):
        raise BadInput(400, "bad_field", f"'every' must be a whole number from 1 to 10000, not {every!r}")
    return (f.filename or "video.mp4")[:200], data, {**options, "every": int(every)}


def b64_image(s, i: int) -> bytes:
    """A base64 image as users send it: line breaks (what `base64` prints) and a ``data:...;base64,`` prefix allowed."""
    if not isinstance(s, str):
        raise BadInput(400, "bad_json", f"images[{i}] must be a base64 string, not {type(s).__name__}")
    if s.startswith("data:"):
        head, sep, s = s.partition(",")
        if not sep or not head.endswith(";base64"):
            raise BadInput(400, "bad_json", f"images[{i}]: a data: URL must be data:<type>;base64,<data>")
    try:
        return base64.b64decode("".join(s.split()), validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(400, "bad_base64", f"images[{i}] is not valid base64") from None


async def _json(body: bytes) -> tuple[list, dict]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadInput(
            400, "bad_json", "the body is not JSON; send {'images': [base64, ...], 'model': optional name}"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images", []), list):
        raise BadInput(400, "bad_json", "JSON body must be {'images': [base64 string, ...], 'model': optional name}")
    unknown = sorted(set(doc) - {"images", *OPTIONS})
    if unknown:
        raise BadInput(
            400, "unknown_field", f"unknown key(s) {', '.join(map(repr, unknown))}; known: images, {', '.join(OPTIONS)}"
        )
    images = [(f"image{i}", b64_image(s, i)) for i, s in enumerate(doc.get("images", []))]
    return images, {k: doc[k] for k in OPTIONS if k in doc and doc[k] is not None}


def _checked_options(options: dict) -> dict:
    """``model``: a name (text); ``detect``: true/false (JSON booleans, or the words in a form or query)."""
    if "model" in options and not isinstance(options["model"], str):
        raise BadInput(400, "bad_field", f"'model' must be a model name (text), not {type(options['model']).__name__}")
    if "detect" in options:
        v = options["detect"]
        words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if isinstance(v, bool):
            options["detect"] = v
        elif isinstance(v, str) and v.strip().lower() in words:
            options["detect"] = words[v.strip().lower()]
        else:
            raise BadInput(400, "bad_field", f"'detect' must be true or false, not {v!r}")
    return options


def _version() -> str:
    from .. import __version__

    return __version__
