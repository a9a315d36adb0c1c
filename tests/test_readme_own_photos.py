"""The README's "Train on your own photos", command by command, on a folder made here: a real face (scikit-image's
astronaut, shipped with it) in two expressions' folders, three people each. Only the epochs are cut, for time."""

import json
import os
import re
import shlex

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from facenet2expnet.cli.main import build_parser, main
from facenet2expnet.cli.serve import serve_settings

pytestmark = pytest.mark.slow
README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def readme_commands() -> list[list[str]]:
    """The facenet2expnet commands of the section's bash blocks (continuation lines joined), as argv lists."""
    section = open(README).read().split("## Train on your own photos", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    lines = [line.split("#", 1)[0].strip() for b in blocks for line in b.replace("\\\n", " ").splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith(".venv/bin/facenet2expnet")]


def make_photos(root, person_folders: bool = True):
    """my_photos/<class>/<person>/<n>.jpg (or <class>/<person>_<n>.jpg): the astronaut photo, mirrored and re-lit
    per image."""
    from skimage import data

    base = Image.fromarray(data.astronaut())
    for c, cls in enumerate(["happy", "sadness"]):
        for p, person in enumerate(["alice", "bob", "carol"]):
            for n in range(2):
                img = base.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if (n + p) % 2 else base
                img = ImageEnhance.Brightness(img).enhance(0.7 + 0.15 * c + 0.1 * n)
                path = root / cls / person / f"{n}.jpg" if person_folders else root / cls / f"{person}_{n}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                img.save(path, quality=90)


NO_TORCH = """
import sys

class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return None

sys.meta_path.insert(0, _NoTorch())
from facenet2expnet.infer import ExpressionRecognizer

rec = ExpressionRecognizer.from_pretrained(sys.argv[1])
faces = rec.predict(sys.argv[2])
assert rec.backend_.kind == "onnx" and "torch" not in sys.modules
print("LABELS", ",".join(f["label"] for f in faces))
"""


@pytest.mark.parametrize("person_folders", [True, False], ids=["class-person-image", "class-image"])
def test_the_readme_commands_on_a_folder_of_photos(tmp_path, monkeypatch, person_folders, capsys):
    import subprocess
    import sys

    from fastapi.testclient import TestClient

    from facenet2expnet.infer import ExpressionRecognizer
    from facenet2expnet.serve.app import create_app

    monkeypatch.chdir(tmp_path)
    make_photos(tmp_path / "my_photos", person_folders)
    photo = str(next((tmp_path / "my_photos" / "happy").rglob("*.jpg")))
    commands = readme_commands()
    assert [c[0] for c in commands] == ["prepare", "train", "predict", "serve", "export"]
    assert commands[1] == ["train", "--dataset", "prepared:cache/mine", "--out", "runs/mine"]  # at its defaults
    for argv in commands:
        argv = [photo if a == "photo.jpg" else a for a in argv]
        if argv[0] == "train":
            argv += ["--stage2-epochs", "1", "--no-progress"]  # the one change: epochs, for time
        if argv[0] == "prepare":
            argv += ["--no-progress"]
        if argv[0] == "serve":  # the server the command would start, asked in-process
            with TestClient(
                create_app(serve_settings(build_parser().parse_args(argv))), base_url="http://localhost"
            ) as c:
                r = c.post("/v1/predict", files=[("files", ("p.jpg", open(photo, "rb").read(), "image/jpeg"))])
            assert r.status_code == 200 and r.json()["results"][0]["faces"][0]["label"] in ("happy", "sadness")
            continue
        assert main(argv) == 0, argv
    out = capsys.readouterr()
    run = tmp_path / "runs" / "mine"
    report = (run / "report.md").read_text()
    if person_folders:
        assert "protocol: loso, 3 fold(s)" in report and "optimistic" not in out.out  # one fold per person
    else:  # no person folders: folds of images, and one warning line that says why that may flatter
        assert "protocol: image-kfold" in report and "optimistic" in out.out and "<class>/<person>/<image>" in out.out
    assert np.isfinite(float(re.search(r"\*\*([\d.]+)%", report).group(1)))
    # what the training bought: the bundled model untrained and a probe on the face net, on the same folds
    assert "| the bundled fer2013-fn2en-fast, no training |" in report and "| a linear probe on the face net" in report
    assert "macro recall" in report
    # one model to use, trained on every photo, as torch weights and as ONNX for the light install
    assert all((run / f).exists() for f in ("model.json", "model.safetensors", "model.onnx"))
    card = json.loads((run / "model.json").read_text())["card"]
    assert card["faces"] == 12 and 0 <= card["cross_validated_accuracy"] <= 1 and card["onnx"]["runtime"]
    assert os.path.exists(tmp_path / "mine-int8.onnx") and os.path.exists(tmp_path / "mine-int8.json")
    # the run folder through the ONNX file in a process without torch, and through torch: the same labels
    no_torch = subprocess.run([sys.executable, "-c", NO_TORCH, str(run), photo], capture_output=True, text=True)
    assert no_torch.returncode == 0, no_torch.stderr[-2000:]
    with_torch = ExpressionRecognizer.from_pretrained(str(run / "model.json")).predict(photo)
    assert no_torch.stdout.split("LABELS ")[1].strip() == ",".join(f["label"] for f in with_torch)
