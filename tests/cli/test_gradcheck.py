"""`python main.py gradcheck`: per-layer errors, PASS, and a non-zero exit on failure."""

from __future__ import annotations

import json

from cli import run_cli
from engine.layers.activations import ReLU


def test_preset_passes(capsys):
    assert run_cli(["gradcheck", "--arch", "numpy-net2"]) == 0
    out = capsys.readouterr().out
    assert "gradient check of numpy-net2: float64, input 4x10x10x1" in out
    for name in ("conv1", "relu1", "pool1", "conv2", "flatten1", "dense1", "dense2"):
        assert f"\n{name} " in out
    assert "PASS: largest relative error" in out


def test_spec_file_and_failure_exit_code(tmp_path, capsys, monkeypatch):
    path = tmp_path / "net.json"
    spec = [
        {"type": "conv2d", "filters": 2, "kernel_size": 3},
        {"type": "relu"},
        {"type": "flatten"},
        {"type": "dense", "units": "num_classes"},
    ]
    path.write_text(json.dumps({"name": "mine", "layers": spec}))
    assert run_cli(["gradcheck", "--arch", str(path), "--input-shape", "5,5,2"]) == 0
    assert "PASS" in capsys.readouterr().out

    right = ReLU.backward
    monkeypatch.setattr(ReLU, "backward", lambda self, dout: 3 * right(self, dout))
    assert run_cli(["gradcheck", "--arch", str(path), "--input-shape", "5,5,2"]) == 1
    out = capsys.readouterr().out
    assert "<-- FAIL" in out and "FAIL: largest relative error" in out


def test_unknown_arch(capsys):
    assert run_cli(["gradcheck", "--arch", "nope"]) == 1
    assert "error: unknown architecture 'nope'" in capsys.readouterr().err
