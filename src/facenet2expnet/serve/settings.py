"""``ServeSettings``: every limit and choice of ``facenet2expnet serve``, with its default and why."""

from dataclasses import dataclass, field

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
    # each video frame is decoded whole by OpenCV (no reduced decode): a frame over this many pixels is refused
    # before any is read (4K UHD is 8.3 MP); an 8192 x 8192 frame would take 200 MB, and its copies more
    max_video_pixels: int = 8_400_000
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
    # the server's memory for requests in flight: each reserves its worst case (body, decode) before the work and
    # waits for room; one that finds none within queue_timeout_s gets 503 with Retry-After (serve/limits.py)
    memory_budget: int = 1024 * 2**20
    queue_timeout_s: float = 10.0
    # the JSON body's nesting: {"images": [...]} is 2 deep; deeper is refused before it is parsed
    max_json_depth: int = 8
    host: str = "127.0.0.1"  # the bind address: one of the hosts the server answers to
    allowed_hosts: list = field(default_factory=list)  # more Host names it answers to (--allowed-host); "*": any
    api_key: str | None = None  # when set, /v1/ routes want "Authorization: Bearer <key>" (serve/security.py)
