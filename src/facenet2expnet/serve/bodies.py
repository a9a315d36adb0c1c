"""Reading request bodies within limits: chunks capped as they arrive, multipart and JSON/base64 images, the
options a request may give, and what a body may cost in memory."""

from __future__ import annotations

import base64
import binascii
import json

from .errors import BadInput, cut_name
from .limits import json_depth
from .settings import ServeSettings


def body_cost(request, settings: ServeSettings, video: bool = False) -> int:
    """The most a request's body may hold in memory while it is read and parsed: its declared length (else the
    limit) times the copies made of it: multipart 2 (the body, its parts), JSON 3 (the body, the parsed strings,
    the decoded images)."""
    limit = settings.max_video_bytes + 2**16 if video else settings.max_request_bytes
    length = request.headers.get("content-length", "")
    n = min(int(length), limit) if length.isdigit() else limit
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return n * (3 if media == "application/json" else 2)


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


async def read_images(request, settings: ServeSettings) -> tuple[list[tuple[str, bytes]], dict]:
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
    return images, checked_options(options)


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


def checked_options(options: dict) -> dict:
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
