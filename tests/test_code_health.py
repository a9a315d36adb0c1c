"""Habits the project keeps: short functions and lines in src/, benchmarks/, scripts/ and tests/, few `fmt: skip`
markers, and nothing heavy at import time."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "facenet2expnet"
CODE = [p for d in ("src", "benchmarks", "scripts", "tests") for p in sorted((ROOT / d).rglob("*.py"))]


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in CODE:
        if path.parts[-2] == "tests" and path.name.startswith("test_"):
            continue  # a test reads top to bottom; its length is its scenario
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                long.append(
                    f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
                )
    assert not long, "split these into named steps: " + "; ".join(long)


def test_no_module_of_the_package_is_longer_than_400_lines():
    """One job per file: a module past 400 lines holds several, and splits by job (issue 40)."""
    long = [f"{p.relative_to(ROOT)} ({n})" for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400]
    assert not long, "split these by job: " + "; ".join(long)


def test_importing_the_package_and_its_cli_loads_no_heavy_module():
    """Nothing happens at import time: no torch, no model, no process group (each command imports what it uses)."""
    code = (
        "import sys, facenet2expnet, facenet2expnet.cli.main, facenet2expnet.train.config\n"
        "print(sorted(m for m in ('torch', 'onnxruntime', 'dlib', 'cv2', 'fastapi') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out


def test_lines_fit_in_120_characters_and_fmt_skip_stays_rare():
    """ruff's line length (pyproject.toml) for every line, strings and comments too; `# fmt: skip` only where a
    layout is truly needed (fewer than 10)."""
    long, skips = [], 0
    for path in CODE:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if len(line) > 120:
                long.append(f"{path.relative_to(ROOT)}:{n} ({len(line)})")
            skips += line.rstrip().endswith("# fmt: skip")
    assert not long, "wrap these: " + ", ".join(long)
    assert skips < 10, f"{skips} `# fmt: skip` markers"
