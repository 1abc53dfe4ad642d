"""The training-step benchmark (python -m engine.fast.bench): what it prints and what it times."""

from __future__ import annotations

import re

import pytest

from engine.fast import bench


def test_time_leaves_the_lead_step_untimed():
    calls: list[str] = []
    ticks = iter([10.0, 13.0])  # start and stop of the timed steps

    def step():
        calls.append("step")

    def clock():
        calls.append("clock")
        return next(ticks)

    assert bench.time_steps(step, 3, clock) == pytest.approx(3.0)
    assert calls == ["step", "clock", "step", "step", "step", "clock"]


def test_bench_prints_the_layer_table_and_the_figures(capsys, restore_threads):
    assert bench.main(["--arch", "seed-cifar-1epoch", "--runs", "1", "--steps", "1",
                       "--warmup", "0", "--no-torch"]) == 0
    out = capsys.readouterr().out
    for layer in ("conv1", "bn1", "relu1", "pool1", "flatten1", "dense1", "dense2"):
        assert re.search(rf"^{layer}\s+\S+\s+\d+\.\d\d\s+\d+\.\d\d$", out, re.M), layer
    rate = re.search(r"^engine :\s+(\d+) img/s", out, re.M)
    assert rate and int(rate.group(1)) > 0
    assert re.search(r"peak NumPy memory of a training step .*: first step \d+\.\d MiB, "
                     r"second step \d+\.\d MiB", out)
    assert re.search(r"one 28x28 image through digits-bn \(inference\): \d+\.\d\d ms", out)
    assert "pytorch:" not in out


def test_bench_times_pytorch_for_a_preset_with_every_new_layer(capsys, restore_threads):
    pytest.importorskip("torch")
    assert bench.main(["--arch", "airbench93", "--runs", "1", "--steps", "1", "--warmup", "0",
                       "--batch", "4"]) == 0
    out = capsys.readouterr().out
    for layer in ("whiten1", "gelu1", "scale1"):
        assert re.search(rf"^{layer}\s+\S+\s+\d+\.\d\d\s+\d+\.\d\d$", out, re.M), layer
    assert re.search(r"^pytorch:\s+\d+ img/s", out, re.M)
    assert re.search(r"^airbench93\s+\S+\s+\d+\s+\d+\s+\d+\.\d\dx$", out, re.M)


def test_whitening_frozen_times_the_step_without_the_whitening_backward(capsys,
                                                                       restore_threads):
    args = ["--arch", "airbench93", "--runs", "1", "--steps", "1", "--warmup", "0",
            "--batch", "2", "--no-torch"]
    for extra, backward_ran in (([], True), (["--whitening-frozen"], False)):
        assert bench.main(args + extra) == 0
        out = capsys.readouterr().out
        row = re.search(r"^whiten1\s+\S+\s+\d+\.\d\d\s+(\d+\.\d\d)$", out, re.M)
        assert (float(row.group(1)) > 0) is backward_ran, extra


def test_python_m_engine_bench_is_the_benchmark():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "engine.bench", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("usage: python -m engine.bench") and "--whitening-frozen" in out
