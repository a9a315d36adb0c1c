"""The server's one error shape, ``{"error": {"code", "message"}}``, and the exception that carries it."""

from ..errors import FaceNet2ExpNetError

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "busy",
}


class BadInput(FaceNet2ExpNetError):
    """A request the server refuses: its status, a stable ``code`` for programs, a message for people, and any
    headers the answer needs (``Retry-After`` on a 503, ``WWW-Authenticate`` on a 401)."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers


def error_response(status: int, code: str, message: str, headers: dict | None = None):
    """The one error shape of every 4xx/5xx answer: ours, and the framework's own (404, 405, 422...)."""
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def cut_name(name: str, limit: int = 40) -> str:
    """A name from a request, quoted and cut to ``limit`` characters for a message (a 10 MB name is not echoed)."""
    return repr(name) if len(name) <= limit else repr(name[:limit]) + f"... ({len(name)} characters)"
