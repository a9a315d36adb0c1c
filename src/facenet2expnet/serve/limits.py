"""What a request may cost, checked before the work: sizes and pixels read from headers, images reduced while they
are decoded, the JSON body's depth, and the server-wide memory budget that admits, queues or refuses requests."""

import asyncio
import io
import math

import numpy as np

from .errors import BadInput
from .settings import ServeSettings

# PIL's Image.reduce averages blocks of pixels; these modes it cannot (a palette index or a 1-bit pixel has no mean,
# and 16-bit grey is not among its modes): they are first shrunk by nearest-neighbour sampling, which keeps the mode
NO_REDUCE_MODES = ("1", "P", "PA", "I;16", "I;16B", "I;16L", "I;16N")
# bytes per pixel of a decoded image by mode (PIL's storage; 4 for the 32-bit and padded modes)
MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2, "LA": 2, "PA": 2, "La": 2}


def image_header(data: bytes, name: str, settings: ServeSettings) -> tuple[int, int, str]:
    """(width, height, pixel mode) from the image's header, with the per-file and per-image limits; nothing is
    decoded."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise BadInput(400, "empty_file", f"{name}: the file is empty")
    if len(data) > settings.max_bytes:
        raise BadInput(
            413, "file_too_large", f"{name}: {len(data)} bytes, over the limit of {settings.max_bytes} bytes per file"
        )
    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only
            (w, h), mode = img.size, img.mode
    except Image.DecompressionBombError as exc:  # PIL refuses to open over twice its own pixel limit
        raise BadInput(413, "too_many_pixels", f"{name}: {exc}; the limit is {settings.max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadInput(400, "not_an_image", f"{name}: not a readable image ({exc.__class__.__name__})") from None
    if w * h > settings.max_pixels:
        raise BadInput(
            413, "too_many_pixels", f"{name}: {w}x{h} = {w * h} pixels, over the limit of {settings.max_pixels}"
        )
    return w, h, mode


def decode_image(data: bytes, name: str, settings: ServeSettings) -> tuple[np.ndarray, float]:
    """Upload bytes -> (RGB uint8 array, scale), checking size and pixel count before decoding (never touching the
    disk). An image over ``settings.work_pixels`` is reduced by a whole factor as it is decoded; ``scale`` is what
    its pixel coordinates are multiplied by to be the original's (1.0 when it was not reduced)."""
    import warnings

    from PIL import Image

    from ..data.images import read_image

    w, h, _ = image_header(data, name, settings)
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
                small = _shrunk(img, rest)  # what the draft left (PNG, WebP...: all of it)
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


def check_request_pixels(images: list[tuple[str, bytes]], settings: ServeSettings) -> list[tuple[int, int, str]]:
    """Every image's header read and checked, and their pixels added up, before any is decoded. -> each image's
    (width, height, mode), from which its decode's worst case follows (``decode_cost``)."""
    headers = [image_header(data, n, settings) for n, data in images]
    total = sum(w * h for w, h, _ in headers)
    if total > settings.max_request_pixels:
        raise BadInput(
            413,
            "too_many_pixels",
            f"the request's {len(images)} images have {total} pixels in all, over the limit of "
            f"{settings.max_request_pixels} per request; send them in several requests",
        )
    return headers


def _shrunk(img, factor: int, stripe_rows: int = 256):
    """``img`` made ``factor`` times smaller on each side (sizes rounded up, as Image.reduce does): block means where
    PIL can, nearest samples in the modes it cannot (NO_REDUCE_MODES: palette, 1-bit, 16-bit grey; they keep their
    mode for read_image). Done in stripes of ``stripe_rows`` output rows, because PIL reduces an image with alpha
    through a premultiplied copy of the whole of it: a 40 MP RGBA photo would cost another 160 MB at once."""
    from PIL import Image

    w, h = img.size
    out = Image.new(img.mode, (-(-w // factor), -(-h // factor)))
    if img.mode == "P":
        out.putpalette(img.getpalette())
    step = stripe_rows * factor
    for y0 in range(0, h, step):
        part = img.crop((0, y0, w, min(h, y0 + step)))
        if img.mode in NO_REDUCE_MODES:
            small = part.resize((-(-w // factor), -(-part.height // factor)), Image.Resampling.NEAREST)
        else:
            small = part.reduce(factor)
        out.paste(small, (0, y0 // factor))
    return out


def decode_cost(w: int, h: int, mode: str, work_pixels: int) -> int:
    """Bytes an image of ``w`` x ``h`` pixels in ``mode`` may hold while it is decoded and reduced: the full decode,
    its reduced copy and the RGB array of that copy (with room for the converter's own buffers)."""
    full = w * h * MODE_BYTES.get(mode, 4)
    work = min(w * h, work_pixels)
    return int(1.25 * full) + work * (4 + 3 + 3)


def json_depth(body: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in a JSON text, outside strings, without parsing it (vectorized over
    the bracket and quote positions only: a 48 MB body of base64 takes milliseconds and a few byte masks). A quote
    preceded by an odd run of backslashes is inside a string; a bracket is inside one when an odd number of
    unescaped quotes comes before it."""
    a = np.frombuffer(body, dtype=np.uint8)
    quotes = np.flatnonzero(a == 34)  # '"'
    if len(quotes):
        after_slash = np.flatnonzero(a[np.maximum(quotes - 1, 0)] == 92) if len(quotes) else []  # '\\'
        keep = np.ones(len(quotes), dtype=bool)
        for k in after_slash:  # rare outside attacks: count the backslash run before that quote
            i, run = quotes[k] - 1, 0
            while i >= 0 and a[i] == 92:
                run, i = run + 1, i - 1
            keep[k] = run % 2 == 0
        quotes = quotes[keep]
    opens = np.flatnonzero((a == 91) | (a == 123))  # '[' '{'
    closes = np.flatnonzero((a == 93) | (a == 125))  # ']' '}'
    opens = opens[np.searchsorted(quotes, opens) % 2 == 0]  # outside strings
    closes = closes[np.searchsorted(quotes, closes) % 2 == 0]
    if not len(opens):
        return 0
    pos = np.concatenate([opens, closes])
    step = np.concatenate([np.ones(len(opens), np.int64), -np.ones(len(closes), np.int64)])[np.argsort(pos)]
    return int(np.cumsum(step).max())


class MemoryBudget:
    """Bytes the requests in flight may hold together. A request reserves its worst case before the work and gives
    it back when it is answered; one that does not fit waits, in arrival order, up to ``timeout_s``, then gets 503
    with ``Retry-After``. A request whose worst case alone is over the whole budget gets 413 at once."""

    def __init__(self, limit: int, timeout_s: float):
        self.limit, self.timeout_s, self.used = limit, timeout_s, 0
        self._cond: asyncio.Condition | None = None  # made in the server's event loop, on first use

    async def reserve(self, nbytes: int, what: str) -> int:
        if nbytes > self.limit:
            raise BadInput(
                413,
                "over_memory_budget",
                f"{what} may need {nbytes / 2**20:.0f} MB to decode, over the server's memory budget of "
                f"{self.limit / 2**20:.0f} MB; send a smaller file, or start the server with a larger "
                "--memory-budget-mb",
            )
        self._cond = self._cond or asyncio.Condition()
        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(lambda: self.used + nbytes <= self.limit), self.timeout_s)
            except (asyncio.TimeoutError, TimeoutError):
                retry = max(1, math.ceil(self.timeout_s))
                raise BadInput(
                    503,
                    "busy",
                    f"the server is busy with other large requests (memory budget {self.limit / 2**20:.0f} MB in "
                    f"use); retry in {retry} s",
                    {"Retry-After": str(retry)},
                ) from None
            self.used += nbytes
        return nbytes

    async def release(self, nbytes: int) -> None:
        if not nbytes:
            return
        async with self._cond:
            self.used -= nbytes
            self._cond.notify_all()
