"""Formatting for people: plain-text tables."""

from __future__ import annotations


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
