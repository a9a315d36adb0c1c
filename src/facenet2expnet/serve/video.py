"""/v1/video: the route, its multipart upload read within limits, and frames over the pixel limit refused before
decoding."""

# no `from __future__ import annotations`: FastAPI reads the handlers' annotations (Request) at run time
from .bodies import MEDIA_TYPES, body_cost, checked_options, parse_form, read_body
from .errors import BadInput, cut_name
from .openapi import RESPONSES, VIDEO_OPENAPI
from .settings import ServeSettings


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


async def read_video(request, settings: ServeSettings) -> tuple[str, bytes, dict]:
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
    options = checked_options({"model": form["model"]} if isinstance(form.get("model"), str) else {})
    every = form.get("every", "10")
    if not (isinstance(every, str) and every.isdigit() and 1 <= int(every) <= 10_000):
        raise BadInput(400, "bad_field", f"'every' must be a whole number from 1 to 10000, not {every!r}")
    return (f.filename or "video.mp4")[:200], data, {**options, "every": int(every)}


def add_video_route(app) -> None:
    """/v1/video: a short video's per-face timeline; the body and one decoded frame are held in the budget first."""
    from fastapi import Request
    from fastapi.concurrency import run_in_threadpool

    service, budget, settings = app.state.service, app.state.budget, app.state.settings

    @app.post("/v1/video", openapi_extra=VIDEO_OPENAPI, responses=RESPONSES)
    async def video(request: Request):
        """A short video (multipart field `file`): its per-face timeline summary, as `predict --summary` makes."""
        held = 0
        try:  # the body (held until the answer: it becomes the temporary file) and one decoded frame's copies
            frame = settings.max_video_pixels * 3 * 4
            held += await budget.reserve(body_cost(request, settings, video=True) + frame, "this video")
            name, data, options = await read_video(request, settings)
            return await run_in_threadpool(service.video, name, data, options)
        finally:
            await budget.release(held)
