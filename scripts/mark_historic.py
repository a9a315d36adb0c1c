"""Mark what no clean commit made: every results row with a command whose tree was dirty, unrecorded, or is not in
this repository's history gets ``"historic": true``, and a results JSON with no recorded machine or code says so.

    .venv/bin/python scripts/mark_historic.py [--check]

A row is judged by its own ``code``, else by its file's top-level ``code``. Headline tables (the README's results
block) read no historic row; docs/benchmarks.md shows them, marked. ``--check`` changes nothing and exits 1 where a
mark is missing (what tests/test_docs.py runs).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def history() -> set[str] | None:
    """Every commit reachable in this clone, or None where git cannot say (then nothing is judged missing)."""
    try:
        shallow = subprocess.run(
            ["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        if shallow.returncode != 0 or shallow.stdout.strip() != "false":  # a shallow clone lacks old commits
            return None
        out = subprocess.run(["git", "rev-list", "--all"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return set(out.stdout.split()) if out.returncode == 0 else None


def clean(code: str | None, commits: set[str] | None) -> bool:
    if not code or code == "unknown" or code.endswith("+dirty"):
        return False
    return commits is None or code in commits


def marks(doc: dict, commits: set[str] | None) -> list[tuple[str, dict]]:
    """(where, row) of every row with a command that no clean commit made and that is not marked historic yet."""
    top = doc.get("code")
    found = []

    def walk(v, where):
        if isinstance(v, dict):
            if "command" in v and not clean(v.get("code") or top, commits) and not v.get("historic"):
                found.append((where, v))
            for k, x in v.items():
                walk(x, f"{where}/{k}")
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, f"{where}[{i}]")

    walk(doc, "")
    return found


def unmarked_file(doc: dict, commits: set[str] | None) -> bool:
    """A file with no machine, or no code at its top and none on its rows, that does not say it is historic."""
    if doc.get("historic"):
        return False
    return "machine" not in doc or not (clean(doc.get("code"), commits) or _rows_have_code(doc))


def _rows_have_code(doc) -> bool:
    rows = []

    def walk(v):
        if isinstance(v, dict):
            if "command" in v:
                rows.append(v)
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(doc)
    return bool(rows) and all(r.get("code") for r in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    from facenet2expnet.files import atomic_write_json

    commits = history()
    missing = []
    for path in sorted(glob.glob(os.path.join(RESULTS, "*.json"))):
        doc = json.load(open(path))
        rows = marks(doc, commits)
        whole = unmarked_file(doc, commits)
        name = os.path.relpath(path, ROOT)
        missing += [f"{name}{where}" for where, _ in rows] + ([f"{name} (no machine or code)"] if whole else [])
        if args.check or not (rows or whole):
            continue
        for _, row in rows:
            row["historic"] = True
        if whole:
            doc["historic"] = True
        atomic_write_json(path, doc)
        print(f"{name}: {len(rows)} row(s) marked historic" + (", and the file" if whole else ""))
    if args.check and missing:
        print("not marked historic:\n  " + "\n  ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
