"""The docs and the data agree: the generated page and the README's results block are what the committed JSON
renders to, no placeholder is left, and the README quotes no percentage outside its generated block but the
paper's own."""

import importlib.util
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [os.path.join(ROOT, "README.md")] + [
    os.path.join(ROOT, "docs", f) for f in sorted(os.listdir(os.path.join(ROOT, "docs"))) if f.endswith(".md")
]
PLACEHOLDERS = re.compile(r"\b(INT8ACC|TODO|TBD|FIXME|XXX)\b|\?\?")
PAPER = {"98.6%", "96.8%", "87.71%", "88.9%", "55.15%"}  # the paper's reported numbers (arXiv 1609.06591)


@pytest.fixture(scope="module")
def render():
    spec = importlib.util.spec_from_file_location(
        "render_benchmarks", os.path.join(ROOT, "scripts", "render_benchmarks.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.WRITE_FIGURES["on"] = False  # compare text only; the figures stay as committed
    return mod


@pytest.mark.slow
def test_generated_docs_match_their_json(render):
    for path, text in render.render().items():
        assert open(path).read() == text, (
            f"{os.path.relpath(path, ROOT)} differs from what its JSON renders to: "
            "run .venv/bin/python scripts/render_benchmarks.py"
        )


def test_no_placeholder_is_left():
    found = [f"{os.path.relpath(p, ROOT)}: {m.group(0)}" for p in DOCS for m in PLACEHOLDERS.finditer(open(p).read())]
    assert not found, found


def test_readme_quotes_numbers_only_from_its_generated_block(render):
    text = open(os.path.join(ROOT, "README.md")).read()
    outside = text.split(render.README_BEGIN)[0] + text.split(render.README_END)[1]
    stray = sorted(set(re.findall(r"\d+(?:\.\d+)?%", outside)) - PAPER)
    assert not stray, f"percentages in the README outside the generated results block: {stray}"
