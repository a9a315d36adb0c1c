"""The README's "Train on your own photos", command by command, on a folder made here: a real face (scikit-image's
astronaut, shipped with it) in two expressions' folders, three people each. Only the epochs are cut, for time."""

import os
import re
import shlex

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from facenet2expnet.cli import build_parser, main, serve_settings

pytestmark = pytest.mark.slow
README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def readme_commands() -> list[list[str]]:
    """The facenet2expnet commands of the section's bash block (continuation lines joined), as argv lists."""
    section = open(README).read().split("## Train on your own photos", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```bash\n(.*?)```", section, re.S)[0].replace("\\\n", " ")
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith(".venv/bin/facenet2expnet")]


def make_photos(root):
    """my_photos/<class>/<person>/<n>.jpg: the astronaut photo, mirrored and re-lit per image."""
    from skimage import data

    base = Image.fromarray(data.astronaut())
    for c, cls in enumerate(["happy", "sadness"]):
        for p, person in enumerate(["alice", "bob", "carol"]):
            for n in range(2):
                img = base.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if (n + p) % 2 else base
                img = ImageEnhance.Brightness(img).enhance(0.7 + 0.15 * c + 0.1 * n)
                path = root / cls / person / f"{n}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                img.save(path, quality=90)


def test_the_readme_commands_on_a_folder_of_photos(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from facenet2expnet.serve.app import create_app

    monkeypatch.chdir(tmp_path)
    make_photos(tmp_path / "my_photos")
    photo = str(tmp_path / "my_photos" / "happy" / "alice" / "0.jpg")
    commands = readme_commands()
    assert [c[0] for c in commands] == ["prepare", "train", "predict", "serve", "export"]
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
    report = (tmp_path / "runs" / "mine" / "report.md").read_text()
    assert "protocol: loso, 3 fold(s)" in report  # one fold per person
    assert os.path.exists(tmp_path / "mine-int8.onnx") and os.path.exists(tmp_path / "mine-int8.json")
    assert np.isfinite(float(re.search(r"\*\*([\d.]+)%", report).group(1)))
