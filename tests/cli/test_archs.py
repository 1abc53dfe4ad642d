"""`python main.py archs`: lists every preset with its note, shapes and parameter count."""

from __future__ import annotations

import pytest

import engine
from cli import run_cli


def test_lists_every_preset(capsys):
    assert run_cli(["archs"]) == 0
    out = capsys.readouterr().out
    for name in engine.list_presets():
        assert f"{name}  (" in out
        assert engine.load_preset(name)["note"] in out
    assert "lenet5  (44,426 parameters for 28x28x1 input" in out
    chain = "28x28x1 -> 24x24x6 -> 12x12x6 -> 8x8x16 -> 4x4x16 -> 256 -> 120 -> 84 -> 10 logits"
    assert chain in out


def test_details_of_one_preset(capsys):
    assert run_cli(["archs", "numpy-net1"]) == 0
    out = capsys.readouterr().out
    assert "conv1     conv2d     26x26x4" in out
    assert "numpy-net1: 87,986 parameters" in out
    assert "recommended: epochs=" in out


def test_other_input_shape_and_dataset(capsys):
    assert run_cli(["archs", "vgg-cifar", "--input-shape", "28,28,1"]) == 0
    # convs 160 + 4,640 + 18,496 + 73,856; dense 7*7*128*10 + 10 = 62,730
    assert "vgg-cifar: 159,882 parameters" in capsys.readouterr().out
    assert run_cli(["archs", "--dataset", "mnist"]) == 0
    # conv 320, BN 64, dense 14*14*32*100 + 100 = 627,300, dense 1,010
    assert "seed-cifar-1epoch  (628,694 parameters for 28x28x1" in capsys.readouterr().out


def test_a_preset_that_does_not_fit_is_an_error(capsys):
    assert run_cli(["archs", "lenet5", "--input-shape", "8,8,1"]) == 1
    assert "error: layer 4 (conv2d): input 2x2 is smaller than the 5x5 kernel" in (
        capsys.readouterr().err
    )


def test_unknown_preset_and_bad_shape(capsys):
    assert run_cli(["archs", "resnet"]) == 1
    assert "error: unknown architecture 'resnet'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli(["archs", "--input-shape", "28,28"])
