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

from facenet2expnet.infer.backend import DEFAULT_MODEL  # noqa: E402
from facenet2expnet.serve.app import ServeSettings, create_app  # noqa: E402


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def client():
    settings = ServeSettings(detector="opencv", max_bytes=1_000_000, max_pixels=1_000_000)
    with TestClient(create_app(settings)) as c:  # the lifespan loads the model once
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
    r = client.post("/v1/predict", json={"images": ["%%% not base64"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_json"
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
    with TestClient(create_app(ServeSettings(detector="opencv"))) as c:
        r = c.get("/healthz", headers={"Origin": "http://example.test"})
        assert "access-control-allow-origin" not in r.headers
    with TestClient(create_app(ServeSettings(detector="opencv", cors=["http://example.test"]))) as c:
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


@pytest.mark.slow
@pytest.mark.realdata
def test_page_in_headless_chromium(live_server, tmp_path):
    """Upload multi_face.jpg on the page: the boxes and labels it draws are /v1/predict's; a screenshot is kept."""
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    photo = shared("faces", "multi_face.jpg")
    driver = _browser()
    try:
        driver.get(live_server + "/")
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
        driver.find_element(By.ID, "file").send_keys(str(photo))
        WebDriverWait(driver, 120).until(lambda d: d.find_element(By.ID, "stage").get_attribute("data-done"))
        boxes = driver.find_elements(By.CSS_SELECTOR, ".face-box")
        shown = [(json.loads(b.get_attribute("data-box")), b.get_attribute("data-label")) for b in boxes]
        shot = tmp_path / "serve_page.png"
        driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    with open(photo, "rb") as f:
        api = httpx.post(
            live_server + "/v1/predict", files=[("files", ("multi_face.jpg", f.read(), "image/jpeg"))], timeout=120
        ).json()
    want = [(f["box"], f["label"]) for f in api["results"][0]["faces"]]
    assert len(shown) == len(want) >= 4 and shown == want
    assert shot.stat().st_size > 10_000
    if os.environ.get("FN2EN_SCREENSHOT_DIR"):  # the README's screenshot is made by this test
        shutil.copy(shot, os.path.join(os.environ["FN2EN_SCREENSHOT_DIR"], "serve_page.png"))


def test_predict_precropped_faces_without_detection(client):
    """`detect=false`: each upload is one face crop (what an app that crops its own faces sends)."""
    crop = _png(np.random.default_rng(0).integers(0, 255, (48, 48), dtype=np.uint8))
    r = client.post("/v1/predict", files=[("files", ("c.png", crop, "image/png"))], data={"detect": "false"})
    faces = r.json()["results"][0]["faces"]
    assert r.status_code == 200 and len(faces) == 1 and faces[0]["box"] is None
    j = client.post("/v1/predict", json={"images": [base64.b64encode(crop).decode()], "detect": False}).json()
    assert j["results"][0]["faces"][0]["label"] == faces[0]["label"]
