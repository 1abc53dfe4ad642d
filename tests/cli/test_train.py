"""`python main.py train`: progress, model file, Ctrl-C checkpoint and resume, defaults, errors."""

from __future__ import annotations

import shlex
import signal

import numpy as np
import pytest

from cli import build_parser, run_cli
from cli import train as train_cli
from engine.serialize import load_model
from engine.training.config import recommended_config


def train_args(arch, tmp_path, out="model.pkl", *extra):
    return ["train", "--dataset", "toy", "--arch", arch, "--epochs", "2", "--batch-size", "16",
            "--lr", "0.01", "--optimizer", "adam", "--schedule", "cosine", "--augment",
            "--out", str(tmp_path / out), "--checkpoint-dir", str(tmp_path / "ckpt"), *extra]


def test_train_prints_progress_and_epochs_and_saves_the_model(toy_data, toy_arch, tmp_path,
                                                              capsys):
    assert run_cli(train_args(toy_arch, tmp_path)) == 0
    out = capsys.readouterr().out
    assert "epoch 1/2  batch 7/7  loss" in out and "img/s  ETA" in out  # progress line
    assert "epoch 1/2: loss" in out and "epoch 2/2: loss" in out and "val_acc" in out
    assert "test accuracy:" in out and "saved" in out
    model = load_model(tmp_path / "model.pkl")
    assert model.meta["training"]["augment"] is True
    assert model.meta["training"]["schedule"] == "cosine"


def test_ctrl_c_writes_a_checkpoint_and_the_printed_command_resumes_exactly(
        toy_data, toy_arch, tmp_path, capsys, monkeypatch):
    assert run_cli(train_args(toy_arch, tmp_path, "whole.pkl")) == 0
    capsys.readouterr()

    original = train_cli.ProgressPrinter.on_batch_end

    def press_ctrl_c_at_step_3(self, batch, logs):
        original(self, batch, logs)
        if logs["step"] == 3:
            signal.raise_signal(signal.SIGINT)

    with monkeypatch.context() as patch:
        patch.setattr(train_cli.ProgressPrinter, "on_batch_end", press_ctrl_c_at_step_3)
        code = run_cli(train_args(toy_arch, tmp_path, "resumed.pkl"))
    out = capsys.readouterr().out
    assert code == 130
    assert "stopped after batch 3 of epoch 1" in out and not (tmp_path / "resumed.pkl").exists()
    command = out.split("resume with: ")[1].splitlines()[0]
    argv = shlex.split(command)
    assert argv[:4] == ["python", "main.py", "train", "--resume"]

    assert run_cli(argv[2:]) == 0
    assert "resuming epoch 1 after batch 3" in capsys.readouterr().out
    whole = load_model(tmp_path / "whole.pkl").model.state_dict()
    resumed = load_model(tmp_path / "resumed.pkl").model.state_dict()
    assert all(np.array_equal(whole[k], resumed[k]) for k in whole)


def test_without_arch_and_epochs_the_recommended_settings_are_used():
    args = build_parser().parse_args(["train", "--dataset", "mnist"])
    assert train_cli.config_from_args(args) == recommended_config("mnist")
    args = build_parser().parse_args(["train", "--dataset", "mnist", "--epochs", "1",
                                      "--no-augment", "--lr", "0.2"])
    config = train_cli.config_from_args(args)
    assert (config.epochs, config.augment, config.lr) == (1, False, 0.2)
    assert config.arch == recommended_config("mnist").arch


@pytest.mark.parametrize(("argv", "message"), [
    (["train"], "say which data to train on"),
    (["train", "--dataset", "toy", "--arch", "no-such-net"], "unknown architecture"),
    (["train", "--dataset", "toy", "--out", "model.txt"], "--out must end in .pkl or .npz"),
    (["train", "--dataset", "elsewhere"], "unknown dataset"),
    (["train", "--resume", "missing.pkl"], "no such file"),
    (["train", "--dataset", "toy", "--epochs", "0"], "epochs must be"),
])
def test_user_errors_are_one_clear_line(toy_data, argv, message, capsys):
    assert run_cli(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--dataset", "--arch", "--epochs", "--batch-size", "--lr", "--optimizer",
                   "--schedule", "--augment", "--seed", "--threads", "--val-split",
                   "--data-dir", "--out", "--checkpoint-dir", "--resume"):
        assert option in out


class _Terminal:
    """A stand-in for sys.stdout on a terminal: records what is written."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.written.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_progress_line_is_rewritten_in_place_on_a_terminal_stdout(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    printer = train_cli.ProgressPrinter()  # no stream given: sys.stdout, a terminal here
    logs = {"epoch": 0, "epochs": 1, "batches_per_epoch": 4, "loss": 0.5, "accuracy": 0.25,
            "images_per_sec": 100.0, "eta_seconds": 3.0, "step": 0, "batch": 0}
    printer.on_train_begin(logs)
    printer.on_batch_end(3, logs)
    printer.on_train_end(logs)
    assert printer.live
    line, cleared = terminal.written[0], terminal.written[-1]
    assert line.startswith("\repoch 1/1  batch 4/4  loss 0.5000") and "\n" not in line
    assert cleared.replace(" ", "") == "\r\r"  # the live line is wiped, not left behind


@pytest.mark.parametrize("options", [["--lr", "1000", "--optimizer", "sgd"],
                                     ["--lr", "1e6", "--warmup-epochs", "2"]])
def test_a_diverging_run_exits_nonzero_and_keeps_the_existing_model(
        toy_data, toy_arch, tmp_path, capsys, options):
    (tmp_path / "model.pkl").write_bytes(b"the good model from yesterday")
    argv = ["train", "--dataset", "toy", "--arch", toy_arch, "--epochs", "12", "--batch-size",
            "16", "--checkpoint-every", "1", "--out", str(tmp_path / "model.pkl"),
            "--checkpoint-dir", str(tmp_path / "ckpt"), *options]
    assert run_cli(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: training stopped: the ")
    assert "try a lower one" in err[-1] and "no model was saved" in err[-1]
    assert not any("Warning" in line or line.startswith(" ") for line in err)  # routed
    assert (tmp_path / "model.pkl").read_bytes() == b"the good model from yesterday"
    assert (tmp_path / "ckpt").is_dir()
