"""The routes but the video's: /healthz, /v1/models, /v1/predict (holding its worst case in the memory budget),
the web page, and the one error shape for every error, the framework's own too."""

# no `from __future__ import annotations`: FastAPI reads the handlers' annotations (Request) at run time
from importlib import resources

from .bodies import OPTIONS, body_cost, checked_options, read_images
from .errors import ERROR_CODES, BadInput, error_response
from .limits import check_request_pixels, decode_cost
from .openapi import PREDICT_OPENAPI, RESPONSES


def add_status_routes(app) -> None:
    """/healthz (liveness and the loaded models' names) and /v1/models (their classes and preprocessing)."""
    service = app.state.service

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "models": list(service.recognizers)}

    @app.get("/v1/models")
    def models():
        return service.models()


def add_predict_route(app) -> None:
    """/v1/predict: faces and expressions in images; it holds its worst case in the memory budget first."""
    from fastapi import Request
    from fastapi.concurrency import run_in_threadpool

    service, budget, settings = app.state.service, app.state.budget, app.state.settings

    @app.post("/v1/predict", openapi_extra=PREDICT_OPENAPI, responses=RESPONSES)
    async def predict(request: Request):
        """Faces and their expressions in one or more images (multipart field `files`, or JSON base64)."""
        held = 0
        try:  # the body's worst case is held while it is read and parsed, then the largest decode's while decoding
            held += await budget.reserve(body_cost(request, settings), "this request's body")
            images, options = await read_images(request, settings)
            query = checked_options({k: v for k, v in request.query_params.items() if k in OPTIONS})
            options = {**query, **options}
            name, _ = service.checked_request(images, options.get("model"))  # model and image count, before pixels
            headers = check_request_pixels(images, settings)  # every header read once, before any decode
            if headers:
                worst = max(decode_cost(w, h, mode, settings.work_pixels) for w, h, mode in headers)
                held += await budget.reserve(worst, "the request's largest image")
            return await run_in_threadpool(service.predict, images, name, options.get("detect", True))
        finally:
            await budget.release(held)


def add_error_handlers(app) -> None:
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


def add_page_routes(app) -> None:
    """/ (the web page, one self-contained HTML file) and its icon."""
    from fastapi.responses import HTMLResponse, Response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return static_text("index.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response(static_text("favicon.svg"), media_type="image/svg+xml")


def static_text(name: str) -> str:
    return resources.files("facenet2expnet.serve").joinpath(f"static/{name}").read_text()
