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


# numbers that come from outside this project's runs, each with its source in the text beside it
EXTERNAL = PAPER | {"99.38%"}  # dlib's reported LFW accuracy (docs/teachers.md)


def _json_numbers(factors=(1, 100)) -> set:
    """Every number of every results JSON and bundled-model card, times each of ``factors`` (as fractions and as
    percentages by default), rounded to 0-3 decimals; and the mean of every list of numbers (the docs quote means of
    per-fold lists)."""
    import glob
    import json

    out = set()

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
            nums = [x for x in v if isinstance(x, (int, float)) and not isinstance(x, bool)]
            if nums:
                walk(sum(nums) / len(nums))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.update(round(f * float(v), d) for f in factors for d in range(4))

    paths = glob.glob(os.path.join(ROOT, "benchmarks", "results", "*.json"))
    paths += glob.glob(os.path.join(ROOT, "src", "facenet2expnet", "pretrained", "*.json"))
    for path in paths:
        walk(json.load(open(path)))
    return out


def test_every_percentage_in_the_docs_is_in_a_results_json():
    """A percentage in docs/*.md (the generated benchmarks.md aside) is a value of a committed JSON (or the mean of
    one of its lists), or one of the few external numbers named beside it."""
    known = _json_numbers()
    stray = []
    for path in DOCS[1:]:
        if path.endswith("benchmarks.md"):
            continue
        for n, line in enumerate(open(path), 1):
            for m in re.finditer(r"(\d+\.(\d+))%", line):
                if m.group(0) not in EXTERNAL and round(float(m.group(1)), len(m.group(2))) not in known:
                    stray.append(f"{os.path.relpath(path, ROOT)}:{n} {m.group(0)}")
    assert not stray, "percentages with no JSON source: " + ", ".join(stray)


def test_the_default_model_is_chosen_on_splits_no_table_reports():
    """Issues 27 and 39: the default of from_pretrained(), predict and serve is what cross_dataset.default_model()
    picks: the fast int8 export, no slower than mini-Xception at batch 1 through the public API (inference.json),
    with the best score on SFEW Train and CK+48's selection half, never on the reported SFEW Val or report half."""
    import json
    import sys

    from facenet2expnet.models.pretrained import DEFAULT_MODEL, bundled_names

    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from cross_dataset import ck_halves, default_model

    results = os.path.join(ROOT, "benchmarks", "results")
    cross_json = json.load(open(os.path.join(results, "cross_dataset.json")))
    cross = {r["model"]: r for r in cross_json["rows"]}
    api = json.load(open(os.path.join(results, "inference.json")))["public_api"]
    fast_int8 = [n for n in bundled_names() if n.endswith("-fast-int8")]
    assert fast_int8 and all(n in cross for n in fast_int8), "every fast int8 export needs its cross-dataset row"
    assert all("selection_score" in cross[n] for n in fast_int8) and "Train" in cross_json["selected_on"]
    assert "Val" not in cross_json["selected_on"] and "Val" in cross_json["reported_on"]
    assert DEFAULT_MODEL == default_model({n: cross[n] for n in fast_int8}, api)
    select, report = ck_halves([f"S{i:03d}" for i in range(10)])
    assert not select & report and len(select | report) == 10


# the other quantities the docs quote: milliseconds, ratios, p-values and CPU-hours (seconds in a JSON count as
# milliseconds x 1000 and as hours / 3600)
UNITS = {
    "ms": r"(\d+(?:\.(\d+))?) ?ms\b",
    "ratio": r"(\d+\.(\d+)) ?[×x]\b",
    "p-value": r"\bp ?[=<] ?(0\.(\d+))",
    "CPU-hours": r"(\d+(?:\.(\d+))?) CPU-hours?",
}
EXTERNAL_UNITS = set()  # none today: a figure from a paper or a peer goes here with its source beside it


def test_every_ms_ratio_p_value_and_cpu_hours_in_the_docs_is_in_a_results_json():
    known = _json_numbers(factors=(1, 100, 1000, 1 / 3600))
    stray = []
    for path in DOCS:
        if path.endswith("benchmarks.md"):  # generated from the JSON (test_generated_docs_match_their_json)
            continue
        for n, line in enumerate(open(path), 1):
            for unit, rx in UNITS.items():
                for m in re.finditer(rx, line):
                    if m.group(0) in EXTERNAL_UNITS:
                        continue
                    if round(float(m.group(1)), len(m.group(2) or "")) not in known:
                        stray.append(f"{os.path.relpath(path, ROOT)}:{n} {m.group(0)} ({unit})")
    assert not stray, "figures with no JSON source: " + ", ".join(stray)


def test_every_results_row_names_a_clean_commit_or_says_it_is_historic():
    """Issue 39: a row with a command comes from a clean commit of this history (its own `code` or its file's), or
    it says "historic": true; a file with no machine or code says so too (scripts/mark_historic.py)."""
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "mark_historic.py"), "--check"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
