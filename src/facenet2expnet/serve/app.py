"""``facenet2expnet serve``: a small REST API and web page on FastAPI.

    POST /v1/predict   images as multipart (field ``files``, one or more) or JSON {"images": [base64, ...]};
                       optional ``model`` (a loaded model's name) and ``detect`` (false: each image is a face crop)
                       -> {"model", "classes", "results": [{"image", "faces": [face record, ...]}]}
    GET  /v1/models    classes and preprocessing of the loaded models
    GET  /healthz      liveness
    GET  /             the web page (one self-contained HTML file, no CDN)
    GET  /docs         OpenAPI documentation

Bad input never gets a 500: a non-image, an empty file, a file over the upload limit, an image over
the pixel limit (the decompression-bomb guard: the size is read from the header, before decoding),
or an unknown model each get a JSON error ``{"error": {"code", "message"}}`` with a 4xx status.
Uploads are decoded in memory and never written to disk; no path is taken from a request. Models
load once, when the server starts (not at import, not in a constructor).
"""

import base64
import binascii
import io
import os
import queue
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from ..errors import FaceNet2ExpNetError
from ..infer.backend import DEFAULT_MODEL


@dataclass
class ServeSettings:
    models: list = field(default_factory=lambda: [DEFAULT_MODEL])  # names or paths
    detector: str = "blazeface"
    max_bytes: int = 10 * 2**20  # per file
    max_pixels: int = 40_000_000
    max_files: int = 16
    max_batch: int = 32  # faces per forward pass across concurrent requests
    max_wait_ms: float = 5.0  # how long the batcher waits for more requests
    detectors: int = 4  # face detectors loaded at start: requests detecting at the same time
    cors: list = field(default_factory=list)  # allowed origins; none: CORS off


class BadInput(FaceNet2ExpNetError):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


def decode_image(data: bytes, name: str, settings: ServeSettings) -> np.ndarray:
    """Upload bytes -> RGB uint8 array, checking size and pixel count before decoding (never touching the disk)."""
    from PIL import Image, UnidentifiedImageError

    from ..data.images import read_image

    if not data:
        raise BadInput(400, "empty_file", f"{name}: the file is empty")
    if len(data) > settings.max_bytes:
        raise BadInput(
            413, "file_too_large", f"{name}: {len(data)} bytes, over the limit of {settings.max_bytes} bytes per file"
        )
    try:
        img = Image.open(io.BytesIO(data))  # reads the header only
        w, h = img.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadInput(400, "not_an_image", f"{name}: not a readable image ({exc.__class__.__name__})") from None
    if w * h > settings.max_pixels:
        raise BadInput(
            413, "too_many_pixels", f"{name}: {w}x{h} = {w * h} pixels, over the limit of {settings.max_pixels}"
        )
    try:
        img.load()
        return read_image(img, "RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadInput(400, "not_an_image", f"{name}: the image data is broken ({exc.__class__.__name__})") from None


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
        """[(name, bytes)] -> the response body. Runs in a worker thread. ``detect=False``: each image is one face crop."""
        name = model or self.default
        if name not in self.recognizers:
            raise BadInput(404, "unknown_model", f"no model {name!r} is loaded; loaded: {', '.join(self.recognizers)}")
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
        rec, arrays = self.recognizers[name], [decode_image(data, n, self.settings) for n, data in images]
        results = []
        for (n, _), rgb in zip(images, arrays):
            with self.detector() as det:
                faces, chips = rec.faces_and_chips(rgb, detector=det, detect=detect)
            probs = self.batchers[name].submit(chips)
            results.append({"image": n, "faces": [r.to_dict() for r in rec.records(n, faces, probs)]})
        return {"model": name, "classes": rec.classes_, "results": results}

    def models(self) -> dict:
        return {"default": self.default, "models": [
            {"name": n, "classes": r.classes_, "preprocessing": r.preprocessing_.to_dict(), "backend": r.backend_.kind,
             "arch": (r.meta_.get("arch") or {}).get("name"), "card": r.meta_.get("card")}
            for n, r in self.recognizers.items()
        ]}  # fmt: skip


def create_app(settings: ServeSettings | None = None):
    """The FastAPI application; models load in its lifespan (when the server starts)."""
    from fastapi import FastAPI, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import HTMLResponse, JSONResponse

    settings = settings or ServeSettings()
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app):
        await run_in_threadpool(service.start)
        yield
        service.stop()

    app = FastAPI(title="facenet2expnet", version=_version(), lifespan=lifespan,
                  description="Facial expression recognition: one record per face (box, landmarks, label, probabilities).")  # fmt: skip
    app.state.service = service
    if settings.cors:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors, allow_methods=["GET", "POST"], allow_headers=["*"]
        )

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, exc: BadInput):
        return JSONResponse({"error": {"code": exc.code, "message": str(exc)}}, status_code=exc.status)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "models": list(service.recognizers)}

    @app.get("/v1/models")
    def models():
        return service.models()

    @app.post("/v1/predict")
    async def predict(request: Request):
        images, options = await _read_images(request, settings)
        model = options.get("model") or request.query_params.get("model")
        detect = str(options.get("detect", request.query_params.get("detect", "true"))).lower() not in (
            "false",
            "0",
            "no",
        )
        return await run_in_threadpool(service.predict, images, model, detect)

    @app.get("/", response_class=HTMLResponse)
    def page():
        return resources.files("facenet2expnet.serve").joinpath("static/index.html").read_text()

    return app


async def _read_images(request, settings: ServeSettings) -> tuple[list[tuple[str, bytes]], dict]:
    """The request's images as (name, bytes), from multipart or JSON/base64, and its options (model, detect)."""
    ctype = request.headers.get("content-type", "")
    length = int(request.headers.get("content-length") or 0)
    if length > settings.max_bytes * settings.max_files * 1.4 + 2**16:  # base64 inflates by 4/3
        raise BadInput(
            413, "request_too_large", f"the request is {length} bytes, over what {settings.max_files} files may take"
        )
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=settings.max_files + 1)
        files = [f for f in form.getlist("files") if hasattr(f, "read")]
        images = [(f.filename or f"file{i}", await f.read(settings.max_bytes + 1)) for i, f in enumerate(files)]
        return images, {k: form.get(k) for k in ("model", "detect") if isinstance(form.get(k), str)}
    if ctype.startswith("application/json"):
        try:
            body = await request.json()
            images = [(f"image{i}", base64.b64decode(s, validate=True)) for i, s in enumerate(body.get("images", []))]
        except (ValueError, binascii.Error, AttributeError, TypeError):
            raise BadInput(
                400, "bad_json", "JSON body must be {'images': [base64 string, ...], 'model': optional name}"
            ) from None
        return images, {k: body[k] for k in ("model", "detect") if k in body}
    raise BadInput(
        415, "unsupported_media_type", f"send multipart/form-data or application/json, not {ctype or 'no content type'}"
    )


def _version() -> str:
    from .. import __version__

    return __version__
