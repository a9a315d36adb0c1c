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

from __future__ import annotations

from contextlib import asynccontextmanager

from .errors import error_response
from .limits import MemoryBudget
from .openapi import add_docs, document_the_key
from .routes import add_error_handlers, add_page_routes, add_predict_route, add_status_routes
from .security import GuardMiddleware, allowed_hosts
from .service import Service
from .settings import ServeSettings
from .video import add_video_route

# What the app serves: each entry adds its routes to the app (reading app.state's service, budget and settings).
# A new route is a function in the module of its job, and one entry here.
ROUTES = (add_status_routes, add_predict_route, add_video_route, add_page_routes, add_docs)


def create_app(settings: ServeSettings | None = None):
    """The FastAPI application; models load in its lifespan (when the server starts)."""
    from fastapi import FastAPI
    from fastapi.concurrency import run_in_threadpool

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
    app.state.service, app.state.settings = service, settings
    app.state.budget = MemoryBudget(settings.memory_budget, settings.queue_timeout_s)
    _add_middleware(app, settings)
    add_error_handlers(app)
    for add_routes in ROUTES:
        add_routes(app)
    if settings.api_key:
        document_the_key(app)
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


def _version() -> str:
    from .. import __version__

    return __version__
