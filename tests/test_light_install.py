"""The light install (`pip install facenet2expnet`, no [train] extra): the README's first Python lines and `predict`
run, and torch is never imported; what needs torch says which extra to install, in one line."""

import importlib.util
import os
import site
import subprocess
import sys
import venv

import pytest
from conftest import write_face

pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the [train] extra's modules (pyproject.toml), hidden in the new venv; the light dependencies come from this one
HIDDEN = ("torch", "safetensors", "matplotlib", "sklearn", "onnx", "onnxscript")

BLOCKER = f'''
import sys


class _Hidden:
    """Makes the [train] extra's modules absent, as in a venv that never installed them."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HIDDEN!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _Hidden())
'''

README_LINES = """
import sys
import numpy as np
from facenet2expnet.infer import ExpressionRecognizer
from facenet2expnet.errors import FaceNet2ExpNetError

rec = ExpressionRecognizer.from_pretrained()        # the README's lines, as written there
faces = rec.predict(sys.argv[1])
probs = rec.predict_proba([sys.argv[1], sys.argv[1]])
assert len(probs) == 2 and all(p.shape[1] == len(rec.classes_) for p in probs)
crop = ExpressionRecognizer.from_pretrained(detect=False).predict_proba(np.zeros((48, 48), np.uint8))
assert crop.shape == (1, len(rec.classes_))
try:
    ExpressionRecognizer.from_pretrained("fer2013-fn2en-fast")   # a torch checkpoint
    raise SystemExit("a torch checkpoint loaded without torch")
except FaceNet2ExpNetError as exc:
    assert "pip install 'facenet2expnet[train]'" in str(exc), exc
assert not [m for m in sys.modules if m.split(".")[0] in %r], "a [train] module was imported"
print("LIGHT_OK", rec.backend_.kind)
""" % (HIDDEN,)


@pytest.fixture(scope="module")
def light_venv(tmp_path_factory):
    """A new venv: the package installed into it (no dependencies), the light ones seen from this venv, the
    [train] extra's hidden."""
    root = tmp_path_factory.mktemp("light")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    target = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            # build with this venv's setuptools where it has one (offline); else pip fetches it from the registry
            *(["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []),
            "--target",
            target,
            ROOT,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    with open(os.path.join(target, "zz_light_deps.pth"), "w") as f:  # after the package: its own copy wins
        f.write("\n".join(site.getsitepackages()) + "\n")
    with open(os.path.join(target, "hide_train_extra.py"), "w") as f:
        f.write(BLOCKER)
    with open(os.path.join(target, "00_hide.pth"), "w") as f:
        f.write("import hide_train_extra\n")
    return env_dir


def test_readme_python_lines_and_predict_without_torch(light_venv, tmp_path):
    py = light_venv / "bin" / "python"
    cli = [str(py), "-m", "facenet2expnet"]  # --target installs put the console script elsewhere
    photo = write_face(str(tmp_path / "face.png"), size=160, mode="RGB")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    r = subprocess.run(
        [str(py), "-c", README_LINES, photo], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )
    assert r.returncode == 0 and "LIGHT_OK onnx" in r.stdout, r.stderr[-3000:]
    where = subprocess.run(
        [str(py), "-c", "import facenet2expnet; print(facenet2expnet.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    ).stdout
    assert str(light_venv) in where  # the installed package ran, not the source tree
    p = subprocess.run(
        [*cli, "predict", photo, "--no-detect", "--format", "json", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert p.returncode == 0 and '"label"' in p.stdout, p.stderr[-3000:]
    t = subprocess.run(
        [*cli, "train", "--dataset", f"ckplus48:{tmp_path}", "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    err = t.stderr.strip().splitlines()
    assert t.returncode == 2 and len(err) == 1 and "pip install 'facenet2expnet[train]'" in err[0], t.stderr[-2000:]


def test_every_command_that_does_not_train_runs_without_torch_or_names_the_extra(light_venv, tmp_path):
    """`models`, `datasets`, `predict`, `prepare`, `serve --help`... run in the light install; those that need torch
    by nature (teacher features, export, figures) say so in one line with the extra to install."""
    py = light_venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    photo = write_face(str(tmp_path / "photos" / "happy" / "face.png"), size=160, mode="RGB")

    def run(*args):
        return subprocess.run(
            [str(py), "-m", "facenet2expnet", *args], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
        )

    m = run("models")
    assert m.returncode == 0 and "fer2013-fn2en-fast-int8" in m.stdout, m.stderr[-2000:]
    assert "pip install 'facenet2expnet[train]'" in m.stdout  # the nets' sizes need torch, and it says so
    j = run("models", "--json")
    assert j.returncode == 0 and '"nets": null' in j.stdout and '"bundled"' in j.stdout, j.stderr[-2000:]
    works = [
        ("datasets", "list"),
        ("predict", photo, "--no-detect", "--format", "json", "--no-progress"),
        (
            "prepare",
            "--dataset",
            f"folder:{tmp_path / 'photos'}",
            "--out",
            str(tmp_path / "cache"),
            "--detector",
            "opencv",
        ),
        ("serve", "--help"),
        ("demo", "--help"),
        ("compare", "--help"),
    ]
    for args in works:
        r = run(*args)
        assert r.returncode == 0, (args, r.stderr[-2000:])
    for args in (("teacher", "list"), ("export", "fer2013-fn2en-fast", "--onnx", str(tmp_path / "m.onnx"))):
        r = run(*args)
        err = r.stderr.strip().splitlines()
        if r.returncode != 0:  # needs torch by nature: one line, naming the extra
            assert r.returncode == 2 and len(err) == 1 and "pip install 'facenet2expnet[train]'" in err[0], (
                args,
                r.stderr,
            )
