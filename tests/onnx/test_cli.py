"""`python main.py export MODEL --onnx OUT` and `python main.py import IN.onnx --out MODEL`."""

from __future__ import annotations

import numpy as np
import onnx

from cli import run_cli
from engine.serialize import load_model
from tests.onnx.helpers import ASSETS


def test_export_then_import_on_the_command_line(tmp_path, capsys):
    onnx_path, model_path = tmp_path / "mnist.onnx", tmp_path / "back.pkl"
    assert run_cli(["export", str(ASSETS / "mnist.pkl"), "--onnx", str(onnx_path)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {onnx_path} (ONNX opset 17" in out
    assert "image float32 [N, 28, 28, 1] in 0..1 -> logits, probabilities over 10 classes" in out
    onnx.checker.check_model(onnx.load(onnx_path), full_check=True)

    assert run_cli(["import", str(onnx_path), "--out", str(model_path)]) == 0
    out = capsys.readouterr().out
    arch = load_model(ASSETS / "mnist.pkl").meta["arch_name"]
    assert f"{arch}: 422,090 parameters" in out
    assert "classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in out and f"wrote {model_path}" in out
    original, back = load_model(ASSETS / "mnist.pkl"), load_model(model_path)
    images = np.random.default_rng(0).integers(0, 256, (20, 28, 28, 1), dtype=np.uint8)
    np.testing.assert_array_equal(back.predict_proba(images), original.predict_proba(images))
    # the imported file is an ordinary model file: evaluate / predict / the app open it
    assert back.kind == "digits" and back.class_names == original.class_names


def test_import_can_name_the_classes(tmp_path, capsys):
    onnx_path, model_path = tmp_path / "mnist.onnx", tmp_path / "named.pkl"
    assert run_cli(["export", str(ASSETS / "mnist.pkl"), "--onnx", str(onnx_path)]) == 0
    names = "zero,one,two,three,four,five,six,seven,eight,nine"
    assert run_cli(["import", str(onnx_path), "--out", str(model_path),
                    "--class-names", names]) == 0
    assert load_model(model_path).class_names == names.split(",")
    capsys.readouterr()
    assert run_cli(["import", str(onnx_path), "--out", str(tmp_path / "x.pkl"),
                    "--class-names", "a,b"]) == 1
    assert capsys.readouterr().err.strip() == "error: the model has 10 classes, got 2 names"
    assert not (tmp_path / "x.pkl").exists()
