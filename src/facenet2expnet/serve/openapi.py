"""/docs and /openapi.json: the request bodies and responses the handlers read themselves, described for
OpenAPI, the bearer scheme where a key is set, and Swagger UI from local files."""

from __future__ import annotations

from .security import KEYED_PREFIX


def document_the_key(app) -> None:
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


def add_docs(app) -> None:
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
