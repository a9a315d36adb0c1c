"""The work behind the routes: the models and a pool of face detectors, loaded once when the server
starts, and what predict and video do with them (off the event loop)."""

from __future__ import annotations

import os
import queue
from contextlib import contextmanager

from ..errors import FaceNet2ExpNetError
from ..models.pretrained import DEFAULT_MODEL
from .errors import BadInput, cut_name
from .limits import decode_image
from .settings import ServeSettings
from .video import check_video_frames


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

    def predict(self, images: list[tuple[str, bytes]], name: str, detect: bool = True) -> dict:
        """[(name, bytes)] -> the response body from the loaded model ``name``. Runs in a worker thread.
        ``detect=False``: each image is one face crop. The route has run ``checked_request`` (which named the model)
        and checked every header against the pixel limits (``check_request_pixels``), to reserve the decode's worst
        case before this runs; each decode checks its own image again."""
        rec, results, batcher = self.recognizers[name], [], self.batchers[name]
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

    def checked_request(self, images: list[tuple[str, bytes]], model: str | None):
        """The checks that read no pixels (the model, the number of images) -> (name, recognizer). The route runs them
        before the pixel limits, so a request with several faults is told the cheapest one first."""
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
        return name, rec

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
