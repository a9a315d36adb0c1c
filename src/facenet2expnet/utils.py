"""Small shared helpers: atomic writes (files, JSON, CSV, figures), hashing, JSON and CSV reading, tables, paths."""

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


def stable_hash(obj) -> str:
    """sha256 of a JSON-serializable object, independent of dict order."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=_json_default).encode()).hexdigest()


def code_version() -> str:
    """The git commit of the source tree (with "+dirty" when it has uncommitted changes), or "unknown"."""
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit + ("+dirty" if dirty else "")) if commit else "unknown"


def file_sha256(path: str, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def save_figure(fig, path: str, dpi: int = 100, **savefig_kw) -> str:
    """Write a matplotlib figure atomically (PNG) and close it; ``savefig_kw`` go to ``fig.savefig``."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png", **savefig_kw)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def read_csv_rows(path: str) -> list[dict]:
    """Rows of a CSV file with a header (e.g. a run's metrics.csv); [] when the file does not exist."""
    import csv

    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def portable(text: str, root: str) -> str:
    """``text`` with paths under ``root`` made relative to it, paths beside it as ``../`` and the rest of the
    home directory as ``~/`` (commands for the record, not for this machine)."""
    text = str(text).replace(root + os.sep, "").replace(os.path.dirname(root) + os.sep, ".." + os.sep)
    home = os.path.expanduser("~")
    return text.replace(home + os.sep, "~" + os.sep) if home not in ("", os.sep) else text


def format_table(rows: list[dict], cols: list[tuple]) -> str:
    """A plain-text table. ``cols``: (key, header, format spec[, width]); a missing value prints blank.
    A format spec starting with "<" left-aligns text (e.g. "<s")."""
    specs = [(c[0], c[1], c[2], c[3] if len(c) > 3 else max(len(c[1]), 10)) for c in cols]

    def cell(v, fmt, w):
        if v is None or v == "":
            return " " * w
        if fmt.startswith("<"):
            return f"{format(v, fmt[1:]):<{w}}"[:w]
        return f"{format(v, fmt):>{w}}"

    head = "  ".join(f"{h:<{w}}" if f.startswith("<") else f"{h:>{w}}" for _, h, f, w in specs)
    lines = [head, "-" * len(head)]
    lines += ["  ".join(cell(r.get(k), f, w) for k, _, f, w in specs) for r in rows]
    return "\n".join(lines)


def resolve_device(name: str = "auto", local_rank: int = 0):
    """``--device`` -> a torch device. ``auto``: CUDA where available (this process's GPU under torchrun), else CPU."""
    import torch

    from .errors import FaceNet2ExpNetError

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FaceNet2ExpNetError(f"--device {name}: this torch has no CUDA device; use --device cpu (or auto)")
    if not (name == "cpu" or name.startswith("cuda:")):
        raise FaceNet2ExpNetError(f"--device {name}: use auto, cpu, cuda or cuda:N")
    return torch.device(name)
