"""The README's five lines that run an exported model with ONNX Runtime, run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data.images import read_image
from engine.data.preprocess import image_to_input
from engine.onnx import export_onnx
from engine.serialize import load_model
from tests.onnx.helpers import ASSETS

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("onnxruntime")


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Run an exported model with ONNX Runtime", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_lines_classify_a_photo_as_the_engine_does(tmp_path):
    code = readme_example()
    assert len(code.strip().splitlines()) == 5
    trained = load_model(ASSETS / "cifar10.pkl")
    export_onnx(trained, tmp_path / "cifar10.onnx")
    # A smooth 32x32 colour picture (the model's own size, so both sides see the same pixels).
    yy, xx = np.mgrid[0:32, 0:32]
    picture = np.stack([yy * 8, xx * 8, 255 - (yy + xx) * 4], axis=-1).clip(0, 255)
    Image.fromarray(picture.astype(np.uint8)).save(tmp_path / "photo.jpg", quality=95)

    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    x = image_to_input(read_image(tmp_path / "photo.jpg"), trained.input_shape, trained.kind)
    expected = trained.class_names[int(trained.predict_proba(x[None])[0].argmax())]
    assert result.stdout.strip() == expected
