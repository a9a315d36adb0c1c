"""Micro-batching: face chips from concurrent requests share one forward pass.

Each request detects and aligns its faces on its own (in the server's thread pool), then hands its
chips to the ``Batcher``; one worker thread waits up to ``max_wait_ms`` for more chips (from other
requests) up to ``max_batch`` faces, scores them in one call to the model, and gives every request
its own rows back. The model is loaded once and only this thread runs it.

It waits only for requests that are on their way: each request says when it starts (``begin``) and
ends (``end``), and a batch is scored at once when every request in flight has handed in its chips.
A lone request is therefore never held back by the wait (measured before this: 10.6 ms at one
client against 4.9 ms without batching, for a 48 px crop). The server's default wait is 0: a batch is
what queued while the previous one ran (see ``benchmarks/results/serve.json``).
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

import numpy as np


class Batcher:
    def __init__(self, score, max_batch: int = 32, max_wait_ms: float = 5.0):
        """``score``: list of chips -> faces x classes probabilities (the recognizer's, for one model)."""
        self.score, self.max_batch, self.max_wait = score, max_batch, max_wait_ms / 1000.0
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self.batches = 0  # forward passes run, and the faces they scored (for the load benchmark)
        self.faces = 0
        self._in_flight = 0  # requests begun and not ended: the most a batch can still gather
        self._lock = threading.Lock()

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1

    def end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fn2en-batcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def submit(self, chips: list[np.ndarray]) -> np.ndarray:
        """Score one request's chips (blocking): faces x classes."""
        if not chips:
            return np.zeros((0, 0), np.float32)
        fut: Future = Future()
        self._queue.put((chips, fut))
        return fut.result()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            jobs, n = [item], len(item[0])
            deadline = time.monotonic() + self.max_wait
            # gather more requests until the batch is full, the wait is over, or no other request is on its way
            while n < self.max_batch and len(jobs) < self._in_flight:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                jobs.append(nxt)
                n += len(nxt[0])
            self._score(jobs)

    def _score(self, jobs: list) -> None:
        try:
            probs = self.score([c for chips, _ in jobs for c in chips])
            self.batches, self.faces = self.batches + 1, self.faces + len(probs)
        except Exception as exc:  # every waiting request gets the error, and the worker keeps serving
            for _, fut in jobs:
                fut.set_exception(exc)
            return
        k = 0
        for chips, fut in jobs:
            fut.set_result(probs[k : k + len(chips)])
            k += len(chips)
