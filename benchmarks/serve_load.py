"""Load and soak test of `facenet2expnet serve`, against a server it starts on 127.0.0.1 (never another address).

    .venv/bin/python benchmarks/serve_load.py [--requests 60] [--soak-seconds 180]

1. Latency (p50/p95) and throughput at concurrency 1, 4 and 16, for 48 px face crops (sent with detect=false,
   so that the model scores each one) and for 512 px photos (detection on), each with micro-batching on (the
   default, up to 32 faces and 5 ms) and off (batches of one request).
2. A soak: valid and invalid uploads mixed (non-images, empty files, too large, too many pixels), from 8
   clients for a bounded time. It records every status code, checks that there is no 5xx and that every
   valid request was answered, and samples the server's resident memory (growth must stay under a bound).

Hostile input, one case at a time and several at once, is benchmarks/serve_abuse.py. Bounded in count and time;
the server runs in a child process and is stopped at the end.
Writes benchmarks/results/serve.json.
"""

import argparse
import io
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from common import ROOT, machine, now, parse_args, table, write_results

HOST = "127.0.0.1"  # the only address this benchmark sends to
MEMORY_BOUND_MB = 100  # allowed growth of the server's resident memory over the soak


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(
    port: int, batching: bool, limits: tuple = ("--max-mb", "2", "--max-megapixels", "4")
) -> subprocess.Popen:
    import httpx

    cmd = [sys.executable, "-m", "facenet2expnet", "serve", "--host", HOST, "--port", str(port), "--quiet", *limits] + (
        [] if batching else ["--max-batch", "1", "--max-wait-ms", "0"]
    )
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(600):
        try:
            if httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start: " + proc.stderr.read().decode()[-2000:])


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024


def reset_peak(pid: int) -> None:
    """VmHWM (the peak resident memory) starts again from the current RSS (Linux: clear_refs 5)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def inputs() -> dict:
    """name -> (bytes, content type, valid?). Photos from ../shared/data/faces where present, else synthetic."""
    from PIL import Image

    def enc(arr, fmt="JPEG"):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format=fmt)
        return buf.getvalue()

    rng = np.random.default_rng(0)
    photo_path = os.path.join(os.path.dirname(ROOT), "shared", "data", "faces", "multi_face.jpg")
    if os.path.exists(photo_path):
        img = Image.open(photo_path).convert("RGB")
        img.thumbnail((512, 512))
        photo = enc(np.asarray(img))
    else:
        photo = enc(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8))
    face_dir = os.path.join(os.path.dirname(ROOT), "shared", "data", "fer2013", "test", "happy")
    faces = sorted(os.listdir(face_dir))[:1] if os.path.isdir(face_dir) else []
    crop = (
        open(os.path.join(face_dir, faces[0]), "rb").read()
        if faces
        else enc(rng.integers(0, 255, (48, 48), np.uint8), "PNG")
    )
    return {
        "crop48": (crop, "image/png", True),
        "photo512": (photo, "image/jpeg", True),
        "not_an_image": (b"%PDF-1.4 this is not an image", "application/pdf", False),
        "empty": (b"", "image/png", False),
        "too_large": (b"\xff\xd8" + bytes(3 * 2**20), "image/jpeg", False),
        "too_many_pixels": (enc(np.zeros((2100, 2100), np.uint8), "PNG"), "image/png", False),
    }


def post(client, url: str, name: str, item) -> tuple[int, float]:
    data, ctype, _ = item
    t0 = time.perf_counter()
    # a crop is one face already: detection off, so that every request runs the model
    r = client.post(url, files=[("files", (name, data, ctype))], data={"detect": "false"} if name == "crop48" else None)
    return r.status_code, time.perf_counter() - t0


def load_row(url: str, item, name: str, concurrency: int, requests: int) -> dict:
    import httpx

    with httpx.Client(timeout=120) as client, ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: post(client, url, name, item), range(concurrency)))  # warm-up: every client once
        t0 = time.perf_counter()
        results = list(pool.map(lambda _: post(client, url, name, item), range(requests)))
        wall = time.perf_counter() - t0
    lat = np.array([t for _, t in results]) * 1000
    return {
        "input": name,
        "concurrency": concurrency,
        "requests": requests,
        "ok": sum(s == 200 for s, _ in results),
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p95_ms": round(float(np.percentile(lat, 95)), 1),
        "requests_per_s": round(requests / wall, 2),
    }


def soak(url: str, pid: int, items: dict, seconds: float, clients: int = 8) -> dict:
    import httpx

    rng = np.random.default_rng(1)
    names = list(items)
    weights = np.array([4 if items[n][2] else 1 for n in names], float)
    stop = time.monotonic() + seconds
    memory = [rss_mb(pid)]

    def client_loop(k):
        out = []
        with httpx.Client(timeout=120) as client:
            local = np.random.default_rng(k)
            while time.monotonic() < stop and len(out) < 5000:  # bounded in time and count
                name = names[local.choice(len(names), p=weights / weights.sum())]
                status, _ = post(client, url, name, items[name])
                out.append((name, status))
        return out

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client_loop, k) for k in range(clients)]
        while not all(f.done() for f in futures):
            time.sleep(5)
            memory.append(rss_mb(pid))
        results = [r for f in futures for r in f.result()]
    memory.append(rss_mb(pid))
    del rng
    by = {}
    for name, status in results:
        by.setdefault(name, {}).setdefault(str(status), 0)
        by[name][str(status)] += 1
    valid = [s for n, s in results if items[n][2]]
    return {
        "seconds": seconds,
        "clients": clients,
        "requests": len(results),
        "status_by_input": by,
        "server_errors_5xx": sum(s >= 500 for _, s in results),
        "valid_requests": len(valid),
        "valid_answered_200": sum(s == 200 for s in valid),
        "rss_mb_start": round(memory[0], 1),
        "rss_mb_max": round(max(memory), 1),
        "rss_mb_end": round(memory[-1], 1),
        "rss_growth_mb": round(memory[-1] - memory[0], 1),
        "memory_bound_mb": MEMORY_BOUND_MB,
    }


def load_and_soak(items: dict, args) -> tuple[list, dict]:
    """The load rows, micro-batching on and off (a server each), and the soak (against the batching one)."""
    rows, soak_result = [], None
    for batching in (True, False):
        port = _free_port()
        proc = start_server(port, batching)
        url = f"http://{HOST}:{port}/v1/predict"
        try:
            for name in ("crop48", "photo512"):
                for c in (1, 4, 16):
                    rows.append({"batching": batching, **load_row(url, items[name], name, c, args.requests)})
                    print(rows[-1], flush=True)
            if batching:
                soak_result = soak(url, proc.pid, items, args.soak_seconds)
                print(soak_result, flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return rows, soak_result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=60, help="requests per load row")
    ap.add_argument("--soak-seconds", type=float, default=180)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "serve.json"))
    args = parse_args(ap)
    items = inputs()
    rows, soak_result = load_and_soak(items, args)
    cols = [
        ("batching", "batching", "", 8),
        ("input", "input", "<s", 9),
        ("concurrency", "clients", "d", 7),
        ("p50_ms", "p50 ms", ".1f"),
        ("p95_ms", "p95 ms", ".1f"),
        ("requests_per_s", "req/s", ".2f"),
    ]
    print(table(rows, cols))
    ok = soak_result["server_errors_5xx"] == 0 and soak_result["valid_answered_200"] == soak_result["valid_requests"]
    ok = ok and soak_result["rss_growth_mb"] < MEMORY_BOUND_MB
    print(
        f"soak: {soak_result['requests']} requests, {soak_result['server_errors_5xx']} 5xx, "
        f"{soak_result['valid_answered_200']}/{soak_result['valid_requests']} valid answered, "
        f"RSS {soak_result['rss_mb_start']} -> {soak_result['rss_mb_end']} MB: {'PASS' if ok else 'FAIL'}"
    )
    write_results(
        args.out,
        {
            "benchmark": "serve: latency, throughput (micro-batching on/off) and a soak with bad input",
            "server": f"facenet2expnet serve on {HOST} (default model: the int8 export, onnxruntime)",
            "rows": rows,
            "soak": {**soak_result, "passed": ok},
            "finished": now(),
            "machine": machine(),
            "reproduce": f".venv/bin/python benchmarks/serve_load.py --requests {args.requests} "
            f"--soak-seconds {args.soak_seconds:g}",
        },
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
