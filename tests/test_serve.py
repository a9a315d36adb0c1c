"""`facenet2expnet serve`: the REST API (every bad input gets its 4xx and the server keeps serving), micro-batching,
and the web page driven in headless Chromium."""

import base64
import io
import json
import os
import shutil
import socket
import threading
import time

import numpy as np
import pytest
from conftest import shared, write_face
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from facenet2expnet.models.pretrained import DEFAULT_MODEL  # noqa: E402
from facenet2expnet.serve.app import create_app  # noqa: E402
from facenet2expnet.serve.settings import ServeSettings  # noqa: E402


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def client():
    settings = ServeSettings(detector="opencv", max_bytes=1_000_000, max_pixels=1_000_000)
    with TestClient(create_app(settings), base_url="http://localhost") as c:  # the lifespan loads the model once
        yield c


@pytest.fixture(scope="module")
def face_png(tmp_path_factory):
    """A real photo where ../shared exists (a face the Haar detector finds), else a synthetic grey face."""
    try:
        path = shared("faces", "0-f15-hao-ph.jpg")
        img = Image.open(path).convert("RGB")
        img.thumbnail((600, 600))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=92)
        return buf.getvalue()
    except pytest.skip.Exception:
        path = write_face(str(tmp_path_factory.mktemp("face") / "f.png"), size=200, mode="RGB")
        return open(path, "rb").read()


def test_health_models_and_docs(client):
    assert client.get("/healthz").json()["status"] == "ok"
    m = client.get("/v1/models").json()
    assert m["default"] == DEFAULT_MODEL and m["models"][0]["backend"] == "onnx" and len(m["models"][0]["classes"]) == 7
    assert m["models"][0]["preprocessing"]["size"] == 48
    assert client.get("/docs").status_code == 200 and "/v1/predict" in client.get("/openapi.json").text
    page = client.get("/")
    assert (
        page.status_code == 200
        and "getUserMedia" in page.text
        and "http" not in page.text.split("<script>")[1].split("fetch(")[0]
    )


def test_predict_multipart_and_base64_agree_with_the_recognizer(client, face_png):
    from facenet2expnet.infer import ExpressionRecognizer

    r = client.post(
        "/v1/predict", files=[("files", ("a.png", face_png, "image/png")), ("files", ("b.png", face_png, "image/png"))]
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["image"] for x in body["results"]] == ["a.png", "b.png"]
    j = client.post("/v1/predict", json={"images": [base64.b64encode(face_png).decode()]}).json()
    rec = ExpressionRecognizer.from_pretrained("fer2013-fn2en-fast-int8", detector="opencv")
    want = rec.predict(np.asarray(Image.open(io.BytesIO(face_png)).convert("RGB")))
    for got in (body["results"][0]["faces"], j["results"][0]["faces"]):
        assert [f["label"] for f in got] == [f["label"] for f in want]
        for g, w in zip(got, want):
            assert g["box"] == w["box"] and abs(sum(g["probabilities"].values()) - 1) < 1e-4
            assert max(abs(g["probabilities"][c] - w["probabilities"][c]) for c in rec.classes_) < 1e-5


@pytest.mark.parametrize(
    "files, status, code",
    [
        ([("files", ("x.txt", b"not an image at all", "text/plain"))], 400, "not_an_image"),
        ([("files", ("e.png", b"", "image/png"))], 400, "empty_file"),
        ([("files", ("big.png", b"\x89PNG" + b"0" * 1_100_000, "image/png"))], 413, "file_too_large"),
        ([("files", ("huge.png", "HUGE", "image/png"))], 413, "too_many_pixels"),
        ([("files", ("cut.png", "CUT", "image/png"))], 400, "not_an_image"),
        ([], 400, "no_images"),
    ],
)
def test_bad_input_gets_its_4xx_and_the_server_keeps_serving(client, face_png, files, status, code):
    if files and files[0][1][1] == "HUGE":  # 1200 x 1000 = 1.2 MP of one colour: a small file over the pixel limit
        files = [("files", ("huge.png", _png(np.zeros((1000, 1200, 3), np.uint8)), "image/png"))]
    if files and files[0][1][1] == "CUT":  # a valid header, then the data stops
        files = [("files", ("cut.png", face_png[: len(face_png) // 3], "image/png"))]
    r = (
        client.post("/v1/predict", files=files)
        if files
        else client.post("/v1/predict", files={"model": (None, "fer2013-fn2en-fast-int8")})
    )
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    assert client.post("/v1/predict", files=[("files", ("ok.png", face_png, "image/png"))]).status_code == 200


def test_other_errors(client, face_png):
    r = client.post("/v1/predict?model=nope", files=[("files", ("a.png", face_png, "image/png"))])
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_model" and "fer2013-fn2en-fast-int8" in r.text
    # several faults at once: the cheapest check that reads no pixels answers first (the model, before the pixels)
    huge = _png(np.zeros((1000, 1200, 3), np.uint8))
    r = client.post("/v1/predict?model=nope", files=[("files", ("huge.png", huge, "image/png"))])
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_model"
    r = client.post("/v1/predict", json={"images": ["%%% not base64"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_base64"
    r = client.post("/v1/predict", content=b"raw", headers={"content-type": "application/octet-stream"})
    assert r.status_code == 415
    r = client.post("/v1/predict", files=[("files", (f"{i}.png", face_png, "image/png")) for i in range(17)])
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_files"


def test_concurrent_requests_share_forward_passes(client, face_png):
    """Requests from concurrent clients are micro-batched: fewer forward passes than requests, same answers."""
    batcher = next(iter(client.app.state.service.batchers.values()))
    before_batches, before_faces = batcher.batches, batcher.faces
    out = [None] * 12

    def one(i):
        out[i] = client.post("/v1/predict", files=[("files", ("a.png", face_png, "image/png"))]).json()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = out[0]["results"][0]["faces"]
    for o in out:  # the same answer whatever the batch a face was scored in (to float rounding)
        got = o["results"][0]["faces"]
        assert [(f["box"], f["label"]) for f in got] == [(f["box"], f["label"]) for f in first]
        assert all(
            abs(g["probabilities"][c] - w["probabilities"][c]) < 1e-5
            for g, w in zip(got, first)
            for c in w["probabilities"]
        )
    faces = batcher.faces - before_faces
    assert faces == 12 * len(out[0]["results"][0]["faces"])
    if faces:
        assert batcher.batches - before_batches <= 12


def test_cors_is_off_unless_asked():
    with TestClient(create_app(ServeSettings(detector="opencv")), base_url="http://localhost") as c:
        r = c.get("/healthz", headers={"Origin": "http://example.test"})
        assert "access-control-allow-origin" not in r.headers
    with TestClient(
        create_app(ServeSettings(detector="opencv", cors=["http://example.test"])), base_url="http://localhost"
    ) as c:
        r = c.get("/healthz", headers={"Origin": "http://example.test"})
        assert r.headers.get("access-control-allow-origin") == "http://example.test"


# ---------------------------------------------------------------- the page in a real browser


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip(
            "no Chromium and chromedriver here (`apt-get install chromium chromium-driver`; .ci/run installs them)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(driver), options=opts)


@pytest.fixture
def live_server():
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(ServeSettings()), host="127.0.0.1", port=port, log_level="warning")
    )
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    for _ in range(600):
        if server.started:
            break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    t.join(timeout=10)


def _shown_boxes(driver, item):
    from selenium.webdriver.common.by import By

    boxes = item.find_elements(By.CSS_SELECTOR, ".face-box")
    return [(json.loads(b.get_attribute("data-box")), b.get_attribute("data-label")) for b in boxes]


def _wait_items(driver, n, timeout=180):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def done(d):
        items = d.find_elements(By.CSS_SELECTOR, "#stage .item")
        return items if len(items) == n and all(i.get_attribute("data-done") for i in items) else False

    return WebDriverWait(driver, timeout).until(done)


def _box_on_face(driver, item):
    """Each drawn box, in screen pixels, against the face box scaled from the photo's pixels to the shown photo."""
    return driver.execute_script(
        """const img = arguments[0].querySelector('img'), r = img.getBoundingClientRect(),
          s = r.width / img.naturalWidth;
        return Array.from(arguments[0].querySelectorAll('.face-box')).map((b) => { const q = b.getBoundingClientRect(),
          [x0, y0] = JSON.parse(b.dataset.box); return [q.left - r.left - x0 * s, q.top - r.top - y0 * s]; });""",
        item,
    )


@pytest.mark.slow
@pytest.mark.realdata
def test_page_in_headless_chromium(live_server, tmp_path):
    """The page as a person uses it: one photo (its boxes and labels are /v1/predict's), several photos at once,
    the same photo twice, a file the browser cannot decode (the server's error shown, no stale result), a window
    resize (boxes stay on the faces), a short video (its timeline), the favicon, no overlap; screenshots kept."""
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    photo, other, video = (
        shared("faces", "multi_face.jpg"),
        shared("faces", "obama.jpg"),
        shared("faces", "single_face.mp4"),
    )
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(open(photo, "rb").read()[:300])  # a JPEG header, then nothing: no browser decodes it
    shots = {}
    driver = _browser()
    try:
        driver.get(live_server + "/")
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
        drop, cam = (driver.find_element(By.ID, i).rect for i in ("drop", "webcam"))
        assert drop["y"] + drop["height"] <= cam["y"], "the drop zone overlaps the webcam button"
        upload = driver.find_element(By.ID, "file")
        upload.send_keys(str(photo))
        (item,) = _wait_items(driver, 1)
        shown = _shown_boxes(driver, item)
        shots["serve_page.png"] = driver.get_screenshot_as_png()
        driver.set_window_size(800, 900)  # smaller: the photo shrinks, and the boxes must follow
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, "#stage img").rect["width"] < 700)
        offsets = _box_on_face(driver, item)
        driver.set_window_size(1200, 900)
        upload.send_keys(str(photo))  # the same file again is a new choice
        (again,) = _wait_items(driver, 1)
        assert _shown_boxes(driver, again) == shown
        upload.send_keys("\n".join([str(photo), str(other), str(broken)]))  # several at once
        items = _wait_items(driver, 3)
        assert [len(_shown_boxes(driver, i)) > 0 for i in items] == [True, True, False]
        assert "broken.jpg" in items[2].text and items[2].find_elements(By.CSS_SELECTOR, ".note.error")
        assert "broken.jpg" in driver.find_element(By.ID, "faces").text  # the error, not the previous faces
        assert "error" in driver.find_element(By.ID, "status").get_attribute("class")
        shots["serve_page_several.png"] = driver.get_screenshot_as_png()
        upload.send_keys(str(video))
        (vid,) = _wait_items(driver, 1, timeout=300)
        assert vid.find_elements(By.CSS_SELECTOR, "svg.timeline polyline") and "sampled frames" in vid.text
        assert "share of faces" in driver.find_element(By.ID, "faces").text
        shots["serve_page_video.png"] = driver.get_screenshot_as_png()
        icon = driver.execute_script("return fetch('/favicon.ico').then((r) => r.status)")
    finally:
        driver.quit()
    with open(photo, "rb") as f:
        api = httpx.post(
            live_server + "/v1/predict", files=[("files", ("multi_face.jpg", f.read(), "image/jpeg"))], timeout=120
        ).json()
    want = [(f["box"], f["label"]) for f in api["results"][0]["faces"]]
    assert len(shown) == len(want) >= 4 and shown == want
    assert offsets and max(abs(v) for o in offsets for v in o) <= 3  # within 3 screen pixels after the resize
    assert icon == 200
    for name, png in shots.items():
        assert len(png) > 10_000
        (tmp_path / name).write_bytes(png)
        if os.environ.get("FN2EN_SCREENSHOT_DIR"):  # the README's screenshots are made by this test
            shutil.copy(tmp_path / name, os.path.join(os.environ["FN2EN_SCREENSHOT_DIR"], name))


def test_predict_precropped_faces_without_detection(client):
    """`detect=false`: each upload is one face crop (what an app that crops its own faces sends)."""
    crop = _png(np.random.default_rng(0).integers(0, 255, (48, 48), dtype=np.uint8))
    r = client.post("/v1/predict", files=[("files", ("c.png", crop, "image/png"))], data={"detect": "false"})
    faces = r.json()["results"][0]["faces"]
    assert r.status_code == 200 and len(faces) == 1 and faces[0]["box"] is None
    j = client.post("/v1/predict", json={"images": [base64.b64encode(crop).decode()], "detect": False}).json()
    assert j["results"][0]["faces"][0]["label"] == faces[0]["label"]


# ---------------------------------------------------------------- a server that holds under abuse


def _png_header(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h pixels, with one tiny IDAT chunk: what a pixel bomb sends (a few bytes that
    would decode to w x h)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def _shape(r, status: int | None = None, code: str | None = None):
    """Every error answer: a 4xx and {"error": {"code", "message"}}."""
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"} and body["error"]["message"]
    assert status is None or r.status_code == status, r.text[:300]
    assert code is None or body["error"]["code"] == code, r.text[:300]


@pytest.fixture(scope="module")
def strict():
    settings = ServeSettings(
        detector="opencv",
        max_bytes=400_000,
        max_pixels=1_000_000,
        max_request_pixels=1_500_000,
        max_request_bytes=600_000,
        max_video_bytes=300_000,
    )
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        yield c


def test_framework_errors_have_the_one_shape(strict, face_png):
    _shape(strict.get("/nowhere"), 404, "not_found")
    _shape(strict.get("/v1/predict"), 405, "method_not_allowed")
    _shape(strict.post("/v1/predict", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data"}), 400)
    long_name = [("files", ("n" * 5000 + ".png", face_png[:100], "image/png"))]
    _shape(strict.post("/v1/predict", files=long_name), 400)
    _shape(strict.post("/v1/predict", json={"images": [], "model": ["a", "list"]}), 400, "bad_field")
    _shape(strict.post("/v1/predict", json={"images": [], "model": {"an": "object"}}), 400, "bad_field")
    _shape(strict.post("/v1/predict", json=[1, 2]), 400, "bad_json")
    _shape(strict.post("/v1/predict", json={"imagez": []}), 400, "unknown_field")
    _shape(strict.post("/v1/predict?detect=maybe", json={"images": []}), 400, "bad_field")
    assert strict.get("/healthz").status_code == 200


def test_limits_bind_before_the_work(strict, face_png):
    small = _png(np.zeros((700, 800, 3), np.uint8))  # 0.56 MP each: two fit the per-request budget, three do not
    assert (
        strict.post("/v1/predict", files=[("files", (f"{i}.png", small, "image/png")) for i in range(2)]).status_code
        == 200
    )
    r = strict.post("/v1/predict", files=[("files", (f"{i}.png", small, "image/png")) for i in range(3)])
    _shape(r, 413, "too_many_pixels")
    assert "per request" in r.json()["error"]["message"]
    # a PNG over PIL's own bomb guard (179 MP) is over our limit too: 413, not "not an image"
    _shape(
        strict.post("/v1/predict", files=[("files", ("bomb.png", _png_header(20000, 20000), "image/png"))]),
        413,
        "too_many_pixels",
    )
    # a file over the per-file limit names its own size
    big = b"\x89PNG" + b"0" * 450_000
    r = strict.post("/v1/predict", files=[("files", ("big.png", big, "image/png"))])
    _shape(r, 413, "file_too_large")
    assert str(len(big)) in r.json()["error"]["message"]
    # the body cap, with a Content-Length and without one (chunked: cut off while streaming)
    _shape(
        strict.post("/v1/predict", content=b"x" * 700_000, headers={"content-type": "application/json"}),
        413,
        "request_too_large",
    )

    def chunks():
        for _ in range(100):
            yield b"y" * 100_000

    _shape(
        strict.post("/v1/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"}),
        413,
        "request_too_large",
    )
    assert strict.post("/v1/predict", files=[("files", ("ok.png", face_png, "image/png"))]).status_code == 200


def test_nothing_spools_to_disk(strict, face_png, monkeypatch):
    """Multipart files stay in memory (the parser is told so): no temporary file is made for a 300 KB upload."""
    import tempfile

    made = []
    real = tempfile.SpooledTemporaryFile

    class Watch(real):
        def rollover(self):
            made.append(self)
            return super().rollover()

    monkeypatch.setattr("starlette.formparsers.SpooledTemporaryFile", Watch)
    padded = face_png + b"\x00" * (300_000 - len(face_png))  # trailing bytes after the image's end are ignored
    assert strict.post("/v1/predict", files=[("files", ("p.jpg", padded, "image/jpeg"))]).status_code == 200
    assert made == []


def test_base64_as_users_have_it_and_media_types_any_case(strict, face_png):
    raw = base64.encodebytes(face_png).decode()  # what `base64` prints: a line break every 76 characters
    assert "\n" in raw
    ok = strict.post(
        "/v1/predict", json={"images": [raw, "data:image/jpeg;base64," + base64.b64encode(face_png).decode()]}
    )
    assert ok.status_code == 200, ok.text
    r = strict.post("/v1/predict", content=json.dumps({"images": [raw]}), headers={"content-type": "Application/JSON"})
    assert r.status_code == 200, r.text
    _shape(strict.post("/v1/predict", json={"images": ["data:image/png,notbase64"]}), 400, "bad_json")


def test_other_sites_cannot_make_the_server_work(face_png):
    settings = ServeSettings(detector="opencv", cors=["http://allowed.test"])
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        files = [("files", ("a.png", face_png, "image/png"))]
        _shape(c.post("/v1/predict", files=files, headers={"Origin": "http://evil.test"}), 403, "cross_origin")
        _shape(c.post("/v1/predict", files=files, headers={"Origin": "null"}), 403, "cross_origin")
        assert c.post("/v1/predict", files=files, headers={"Origin": "http://localhost"}).status_code == 200  # its own
        assert c.post("/v1/predict", files=files, headers={"Origin": "http://allowed.test"}).status_code == 200
        assert c.post("/v1/predict", files=files).status_code == 200  # curl and scripts send no Origin


def test_docs_work_offline_and_document_the_bodies(strict):
    page = strict.get("/docs")
    assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text
    js = strict.get("/docs/assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    spec = strict.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]
    assert set(spec["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert "results" in spec["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    assert {"400", "403", "413"} <= set(spec["responses"])
    icon = strict.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")


def test_video_upload_gives_the_summary(strict, tmp_path):
    import cv2

    path = tmp_path / "v.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (96, 96))
    rng = np.random.default_rng(0)
    for _ in range(24):
        w.write(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8))
    w.release()
    r = strict.post("/v1/video", files={"file": ("v.mp4", path.read_bytes(), "video/mp4")}, data={"every": "4"})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["video"] == "v.mp4" and s["sampled_frames"] == 6 and set(s["series"]["probabilities"]) == set(s["classes"])
    assert "files" not in s and str(tmp_path) not in r.text
    _shape(strict.post("/v1/video", files={"file": ("v.txt", b"abc", "text/plain")}), 415, "not_a_video")
    _shape(strict.post("/v1/video", files={"file": ("v.mp4", b"not a video", "video/mp4")}), 400, "not_a_video")
    _shape(strict.post("/v1/video", files={"file": ("v.mp4", b"0" * 400_000, "video/mp4")}), 413, "request_too_large")
    _shape(
        strict.post("/v1/video", files={"file": ("v.mp4", b"abc", "video/mp4")}, data={"every": "0"}), 400, "bad_field"
    )


def test_random_bodies_never_get_a_500(strict, face_png):
    """Property-based (hypothesis, bounded): random multipart and JSON bodies, field names and types, random bytes,
    truncated images and huge headers: every answer is a 2xx, or a 4xx with the one error shape."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    names = st.sampled_from(["files", "model", "detect", "file", "x", "n" * 300])
    payloads = st.one_of(
        st.binary(max_size=512),
        st.sampled_from(
            [
                face_png,
                face_png[:200],
                face_png[: len(face_png) // 2],
                _png_header(9000, 9000),
                _png_header(1, 1),
                b"GIF89a" + b"\xff" * 40,
            ]
        ),
    )
    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=30),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=10,
    )

    def check(r):
        if r.status_code >= 300:
            _shape(r)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(parts=st.lists(st.tuples(names, st.booleans(), payloads), max_size=4))
    def multipart(parts):
        files = [(n, ("f.png", p, "image/png")) if as_file else (n, (None, p)) for n, as_file, p in parts]
        check(strict.post("/v1/predict", files=files) if files else strict.post("/v1/predict", data={"x": "1"}))

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(
        doc=st.one_of(
            json_values,
            st.fixed_dictionaries({"images": json_values}, optional={"model": json_values, "detect": json_values}),
        )
    )
    def json_bodies(doc):
        check(strict.post("/v1/predict", json=doc))

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(
        body=st.binary(max_size=2048),
        ctype=st.sampled_from(
            ["multipart/form-data; boundary=zz", "application/json", "MULTIPART/FORM-DATA", "text/plain", ""]
        ),
    )
    def raw_bodies(body, ctype):
        check(strict.post("/v1/predict", content=body, headers={"content-type": ctype}))

    multipart()
    json_bodies()
    raw_bodies()
    assert strict.get("/healthz").status_code == 200


def test_a_large_image_is_reduced_but_boxes_are_in_its_own_pixels(client, face_png):
    """Over work_pixels an image is reduced while decoding (memory), and its boxes come back in its own pixels:
    a JPEG (decoded at a smaller scale) and a PNG (reduced after decoding)."""
    with TestClient(
        create_app(ServeSettings(detector="opencv", work_pixels=300_000)), base_url="http://localhost"
    ) as small:
        for fmt in ("JPEG", "PNG"):
            _reduced_image_case(small, client, face_png, fmt)


def _reduced_image_case(small, client, face_png, fmt):
    img = Image.open(io.BytesIO(face_png)).convert("RGB")
    k = 1.8  # 512 px -> 921 px: over the 300,000 working pixels
    big = img.resize((round(img.width * k), round(img.height * k)))
    buf = io.BytesIO()
    big.save(buf, format=fmt, quality=95)
    got = small.post("/v1/predict", files=[("files", ("big", buf.getvalue(), "image/png"))]).json()["results"][0][
        "faces"
    ]
    want = client.post("/v1/predict", files=[("files", ("a", face_png, "image/png"))]).json()["results"][0]["faces"]
    assert len(got) == len(want)
    for g, w in zip(got, want):  # the same faces, at k times the coordinates (to the detector's rounding)
        assert max(abs(a - k * b) for a, b in zip(g["box"], w["box"])) <= 0.08 * k * (w["box"][2] - w["box"][0])


def test_batcher_waits_only_for_requests_in_flight():
    """A lone request is scored at once (no max_wait); requests in flight together share one forward pass."""
    from facenet2expnet.serve.batcher import Batcher

    calls = []
    b = Batcher(lambda chips: calls.append(len(chips)) or np.zeros((len(chips), 2), np.float32), 32, max_wait_ms=500)
    b.start()
    try:
        b.begin()
        t0 = time.perf_counter()
        b.submit([np.zeros((4, 4))])
        b.end()
        assert time.perf_counter() - t0 < 0.25 and calls == [1]  # not held for the 500 ms wait
        for _ in range(3):
            b.begin()
        out = []
        threads = [threading.Thread(target=lambda: out.append(b.submit([np.zeros((4, 4))] * 2))) for _ in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert calls[1:] == [6] and [o.shape for o in out] == [(2, 2)] * 3  # one pass for the three requests
    finally:
        b.stop()
