"""Paths and provenance: which code made a result (``code_version``) and commands written for the record."""

from __future__ import annotations

import os


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


def portable(text: str, root: str) -> str:
    """``text`` with paths under ``root`` made relative to it, paths beside it as ``../`` and the rest of the
    home directory as ``~/`` (commands for the record, not for this machine). Where these overlap, the longest
    prefix wins: a home inside the directory that holds the checkout (a clone in /tmp, a test's home under /tmp)
    is still written as ``~/``."""
    import re

    home = os.path.expanduser("~")
    prefixes = {root + os.sep: "", os.path.dirname(root) + os.sep: ".." + os.sep}
    if home not in ("", os.sep):
        prefixes[home + os.sep] = "~" + os.sep
    ordered = sorted(prefixes, key=len, reverse=True)  # one pass, longest first: no path is rewritten twice
    return re.sub("|".join(map(re.escape, ordered)), lambda m: prefixes[m.group(0)], str(text))
