"""``facenet2expnet serve``: a small REST API and web page on FastAPI.

    POST /v1/predict   images as multipart (field ``files``, one or more) or JSON {"images": [base64, ...]};
                       optional ``model`` (a loaded model's name) and ``detect`` (false: each image is a face crop)
                       -> {"model", "classes", "results": [{"image", "faces": [face record, ...]}]}
    GET  /v1/models    classes and preprocessing of the loaded models
    GET  /healthz      liveness
    GET  /             the web page (one self-contained HTML file, no CDN)
    GET  /docs         OpenAPI documentation

Every error, ours and the framework's (404, 405, 422, a broken multipart body), has one shape,
``{"error": {"code", "message"}}``, with a 4xx status (or 503 ``busy`` with ``Retry-After``); no input gets a 500.
What uvicorn refuses before the app sees it (a malformed request line or Content-Length) is the transport's
plain-text 400, as docs/serving.md says. Limits bind before the work (serve/limits.py): the body is read in chunks
and refused past ``max_request_bytes``; each image's size is read from its header before decoding (``max_pixels``)
and every decoder reduces to ``work_pixels``; a JSON body deeper than ``max_json_depth`` is refused unparsed; and
every request reserves its worst case from a server-wide memory budget first. Who may call: serve/security.py
(the Host allow-list, the same-origin rule, the optional API key). ``HEAD`` works on every ``GET`` route. Models
load once, when the server starts (not at import, not in a constructor).
"""

import base64
import binascii
import json
import os
import queue
from contextlib import asynccontextmanager, contextmanager
from importlib import resources

from ..errors import FaceNet2ExpNetError
from ..models.pretrained import DEFAULT_MODEL
from .errors import ERROR_CODES, BadInput, cut_name, error_response
from .limits import MemoryBudget, check_request_pixels, decode_cost, decode_image, json_depth
from .security import KEYED_PREFIX, GuardMiddleware, allowed_hosts
from .settings import ServeSettings


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
        crop. The route has checked every header against the pixel limits already (``check_request_pixels``), to
        reserve the decode's worst case before this runs; each decode checks its own image again."""
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
            raise BadInput(
                404, "unknown_model", f"no model {cut_name(name)} is loaded; loaded: {', '.join(self.recognizers)}"
            )
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
            check_video_frames(path, name, self.settings.max_video_pixels)
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


def create_app(settings: ServeSettings | None = None):
    """The FastAPI application; models load in its lifespan (when the server starts)."""
    from fastapi import FastAPI
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
        'Errors: {"error": {"code", "message"}} with a 4xx status (503 with Retry-After when busy). A server started '
        "with --api-key-file wants 'Authorization: Bearer <key>' on the /v1/ routes (the Authorize button here).",
    )
    app.state.service = service
    budget = MemoryBudget(settings.memory_budget, settings.queue_timeout_s)
    app.state.budget = budget
    _add_middleware(app, settings)
    _add_error_handlers(app)
    _add_api_routes(app, service, budget, settings)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return _static("index.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response(_static("favicon.svg"), media_type="image/svg+xml")

    _add_docs(app)
    if settings.api_key:
        _document_the_key(app)
    return app


def _add_middleware(app, settings: ServeSettings) -> None:
    """CORS where --cors allows origins; outermost first: HEAD answered as GET without its body, then the host,
    origin and key rules (serve/security.py)."""
    if settings.cors:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors, allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    app.add_middleware(
        GuardMiddleware,
        hosts=allowed_hosts(settings.host, settings.allowed_hosts),
        cors=settings.cors,
        api_key=settings.api_key,
        respond=error_response,
    )
    app.add_middleware(HeadAsGet)


def _add_api_routes(app, service: "Service", budget: MemoryBudget, settings: ServeSettings) -> None:
    """/healthz, /v1/models, /v1/predict and /v1/video; the work routes hold their worst case in ``budget``."""
    from fastapi import Request
    from fastapi.concurrency import run_in_threadpool

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "models": list(service.recognizers)}

    @app.get("/v1/models")
    def models():
        return service.models()

    @app.post("/v1/predict", openapi_extra=PREDICT_OPENAPI, responses=RESPONSES)
    async def predict(request: Request):
        """Faces and their expressions in one or more images (multipart field `files`, or JSON base64)."""
        held = 0
        try:  # the body's worst case is held while it is read and parsed, then the largest decode's while decoding
            held += await budget.reserve(body_cost(request, settings), "this request's body")
            images, options = await _read_images(request, settings)
            query = _checked_options({k: v for k, v in request.query_params.items() if k in OPTIONS})
            options = {**query, **options}
            headers = check_request_pixels(images, settings)  # every header read once, before any decode
            if headers:
                worst = max(decode_cost(w, h, mode, settings.work_pixels) for w, h, mode in headers)
                held += await budget.reserve(worst, "the request's largest image")
            return await run_in_threadpool(service.predict, images, options.get("model"), options.get("detect", True))
        finally:
            await budget.release(held)

    @app.post("/v1/video", openapi_extra=VIDEO_OPENAPI, responses=RESPONSES)
    async def video(request: Request):
        """A short video (multipart field `file`): its per-face timeline summary, as `predict --summary` makes."""
        held = 0
        try:  # the body (held until the answer: it becomes the temporary file) and one decoded frame's copies
            frame = settings.max_video_pixels * 3 * 4
            held += await budget.reserve(body_cost(request, settings, video=True) + frame, "this video")
            name, data, options = await _read_video(request, settings)
            return await run_in_threadpool(service.video, name, data, options)
        finally:
            await budget.release(held)


def _document_the_key(app) -> None:
    """With a key, /openapi.json declares a bearer scheme on the /v1/ routes, so /docs shows its Authorize button
    and sends the key with every try; the key itself is never in the document."""
    from fastapi.openapi.utils import get_openapi

    def openapi():
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the server's --api-key-file key"}
            }
            for path, ops in schema["paths"].items():
                if path.startswith(KEYED_PREFIX):
                    for op in ops.values():
                        op["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


class HeadAsGet:
    """``HEAD`` on every ``GET`` route: the request runs as ``GET`` and its answer goes out without the body (the
    headers, Content-Length included, are the GET's)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def headers_only(message):
            if message["type"] == "http.response.body":
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        return await self.app({**scope, "method": "GET"}, receive, headers_only)


def check_video_frames(path: str, name: str, max_pixels: int) -> None:
    """Refuse a video whose frames are over ``max_pixels`` before any frame is decoded: OpenCV decodes each frame
    whole, so the frame size bounds the memory a video takes (its length does not: frames are read one by one)."""
    import cv2

    cap = cv2.VideoCapture(path)
    try:
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if w * h > max_pixels:
        raise BadInput(
            413,
            "too_many_pixels",
            f"{name}: frames of {w}x{h} = {w * h} pixels, over the limit of {max_pixels} per video frame; "
            "send a smaller video (e.g. 4K or less), or start the server with a larger --max-video-megapixels",
        )


def body_cost(request, settings: ServeSettings, video: bool = False) -> int:
    """The most a request's body may hold in memory while it is read and parsed: its declared length (else the
    limit) times the copies made of it: multipart 2 (the body, its parts), JSON 3 (the body, the parsed strings,
    the decoded images)."""
    limit = settings.max_video_bytes + 2**16 if video else settings.max_request_bytes
    length = request.headers.get("content-length", "")
    n = min(int(length), limit) if length.isdigit() else limit
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return n * (3 if media == "application/json" else 2)


def _add_error_handlers(app) -> None:
    """Every error answer in the one shape, the framework's own too."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, exc: BadInput):
        return error_response(exc.status, exc.code, str(exc), exc.headers)

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
    images, options = await (
        _multipart(request, body, settings) if media == MEDIA_TYPES[0] else _json(body, settings.max_json_depth)
    )
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
            f"unknown form field(s) {', '.join(cut_name(u) for u in unknown[:5])}; "
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
            400,
            "unknown_field",
            f"unknown form field(s) {', '.join(cut_name(u) for u in unknown[:5])}; known: file, model, every",
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


async def _json(body: bytes, max_depth: int) -> tuple[list, dict]:
    depth = json_depth(body)  # before the parser, whose recursion a body nested 100,000 deep would exhaust
    if depth > max_depth:
        raise BadInput(
            400,
            "bad_json",
            f"the JSON body is nested {depth} levels deep, over the limit of {max_depth}; "
            "send {'images': [base64, ...], 'model': optional name}",
        )
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadInput(
            400, "bad_json", "the body is not JSON; send {'images': [base64, ...], 'model': optional name}"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images", []), list):
        raise BadInput(400, "bad_json", "JSON body must be {'images': [base64 string, ...], 'model': optional name}")
    unknown = sorted(set(doc) - {"images", *OPTIONS})
    if unknown:
        raise BadInput(
            400,
            "unknown_field",
            f"unknown key(s) {', '.join(cut_name(u) for u in unknown[:5])}; known: images, {', '.join(OPTIONS)}",
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
