"""Habits the project keeps: short functions in src/, and nothing heavy at import time."""

import ast
import pathlib
import subprocess
import sys

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "facenet2expnet"


def test_no_function_in_src_is_longer_than_80_lines():
    long = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                long.append(
                    f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
                )
    assert not long, "split these into named steps: " + "; ".join(long)


def test_importing_the_package_and_its_cli_loads_no_heavy_module():
    """Nothing happens at import time: no torch, no model, no process group (each command imports what it uses)."""
    code = ("import sys, facenet2expnet, facenet2expnet.cli, facenet2expnet.train.config\n"
            "print(sorted(m for m in ('torch', 'onnxruntime', 'dlib', 'cv2', 'fastapi') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out
