"""onnxruntime's settings at batch 1 (issue 37, item 4): which graph optimization level and spin setting score one
face fastest, per bundled export, on this CPU.

    .venv/bin/python benchmarks/ort_settings.py [--rounds 7] [--calls 300] [--models NAME ...]

Each model's sessions (one intra-op thread, as the latency targets are stated) differ in one setting each: the graph
optimization level (``ORT_ENABLE_BASIC``, ``ORT_ENABLE_EXTENDED``, ``ORT_ENABLE_ALL``, onnxruntime's default and the
one ``OnnxBackend`` uses) and intra-op spinning (on, the default; off). They take turns, round by round, on the same
face (with its mirror where the export scores both), so a busy moment costs every setting alike; the median of the
rounds is reported, and ``vs_default`` divides it by the default setting's. The CPU's flags are in ``machine``: int8
kernels differ with VNNI, so a setting that wins here may not win on an AVX2-only CPU. Writes
benchmarks/results/ort_settings.json.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from common import ROOT, machine, now, parse_args, table, write_results

OUT = os.path.join(ROOT, "benchmarks", "results", "ort_settings.json")
MODELS = ["fer2013-fn2en-fast-int8", "fer2013-fn2en-accurate-int8", "ferplus-fn2en-accurate-int8"]
DEFAULT = ("ALL", "on")  # what OnnxBackend runs: onnxruntime's defaults


def session(path: str, level: str, spinning: str):
    """One single-threaded CPU session of ``path`` at optimization ``level`` with spinning ``on``/``off``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, f"ORT_ENABLE_{level}")
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning == "on" else "0")
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def one_face(backend) -> np.ndarray:
    """A real-sized input: one 48 px face (and its mirror, where the export scores both) as the recognizer feeds it."""
    pp = backend.preprocessing
    face = np.random.default_rng(0).integers(0, 256, (pp.size, pp.size), dtype=np.uint8)
    x = pp.batch_array([face])
    return np.concatenate([x, x[..., ::-1]]) if pp.test_flip else x


def time_model(name: str, rounds: int, calls: int) -> list[dict]:
    from facenet2expnet.infer.backend import load_backend

    backend = load_backend(name, threads=1)
    x = np.ascontiguousarray(one_face(backend), dtype=np.float32)
    settings = [(lv, sp) for lv in ("BASIC", "EXTENDED", "ALL") for sp in ("on", "off")]
    sessions = {s: session(backend.path, *s) for s in settings}
    out = {s: [] for s in settings}
    for _ in range(rounds):
        for s, sess in sessions.items():  # in turn, so that load on the machine falls on every setting alike
            for _ in range(calls // 10):
                sess.run(None, {"input": x})
            t0 = time.perf_counter()
            for _ in range(calls):
                sess.run(None, {"input": x})
            out[s].append((time.perf_counter() - t0) / calls * 1e3)
    base = float(np.median(out[DEFAULT]))
    return [
        {
            "model": name,
            "optimization": level,
            "spinning": spin,
            "faces_per_call": len(x),
            "ms_per_call": float(np.median(out[(level, spin)])),
            "vs_default": float(np.median(out[(level, spin)])) / base,
            "rounds_ms": [round(v, 4) for v in out[(level, spin)]],
        }
        for level, spin in settings
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=300, help="session runs per setting per round")
    args = parse_args(ap)
    rows = [r for m in args.models for r in time_model(m, args.rounds, args.calls)]
    cols = [
        ("model", "model", "<s", 28),
        ("optimization", "graph optimization", "<s"),
        ("spinning", "spinning", "<s"),
        ("ms_per_call", "ms per call", ".4f"),
        ("vs_default", "vs default", ".3f"),
    ]
    print(table(rows, cols))
    best = {m: min((r for r in rows if r["model"] == m), key=lambda r: r["ms_per_call"]) for m in args.models}
    write_results(
        OUT,
        {
            "benchmark": "onnxruntime settings at batch 1, one intra-op thread, settings in turn round by round",
            "default": {"optimization": DEFAULT[0], "spinning": DEFAULT[1]},
            "rows": rows,
            "fastest": {m: {k: r[k] for k in ("optimization", "spinning", "vs_default")} for m, r in best.items()},
            "finished": now(),
            "machine": machine(),
            "reproduce": ".venv/bin/python benchmarks/ort_settings.py --rounds "
            + f"{args.rounds} --calls {args.calls} --models "
            + " ".join(args.models),
        },
    )


if __name__ == "__main__":
    main()
