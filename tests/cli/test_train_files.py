"""`train`: resume overrides, folders checked before training, leftovers removed, SIGTERM."""

from __future__ import annotations

import os
import shlex
import signal

import pytest

from cli import run_cli
from cli import train as train_cli
from engine.serialize import load_model
from tests.cli.test_train import train_args


def _stop_at_step_3(monkeypatch, signum=signal.SIGINT):
    original = train_cli.ProgressPrinter.on_batch_end

    def raise_signal_at_step_3(self, batch, logs):
        original(self, batch, logs)
        if logs["step"] == 3:
            signal.raise_signal(signum)

    monkeypatch.setattr(train_cli.ProgressPrinter, "on_batch_end", raise_signal_at_step_3)


def test_sigterm_stops_with_a_checkpoint_and_a_resume_command(toy_data, toy_arch, tmp_path,
                                                              capsys, monkeypatch):
    with monkeypatch.context() as patch:
        _stop_at_step_3(patch, signal.SIGTERM)
        assert run_cli(train_args(toy_arch, tmp_path)) == 130
    out = capsys.readouterr().out
    assert "terminate signal: stopping after this batch" in out
    assert "stopped after batch 3 of epoch 1" in out and "resume with: " in out
    assert (tmp_path / "ckpt" / "checkpoint.pkl").is_file()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored


def test_resume_takes_lr_epochs_and_schedule_and_records_them(toy_data, toy_arch, tmp_path,
                                                              capsys, monkeypatch):
    with monkeypatch.context() as patch:
        _stop_at_step_3(patch)
        assert run_cli(train_args(toy_arch, tmp_path)) == 130
    command = capsys.readouterr().out.split("resume with: ")[1].splitlines()[0]
    argv = [*shlex.split(command)[2:], "--lr", "0.001", "--epochs", "3", "--schedule",
            "constant"]
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    assert "3 epochs" in out and "lr 0.001 (constant)" in out and "epoch 3/3" in out
    meta = load_model(tmp_path / "model.pkl").meta
    assert meta.training["lr"] == 0.001 and meta.training["epochs"] == 3
    assert meta["resumes"] == [{"at": [0, 3], "changes": {
        "lr": [0.01, 0.001], "epochs": [2, 3], "schedule": ["cosine", "constant"]}}]


def test_resume_refuses_other_settings_and_too_few_epochs(toy_data, toy_arch, tmp_path, capsys,
                                                          monkeypatch):
    with monkeypatch.context() as patch:
        _stop_at_step_3(patch)
        assert run_cli(train_args(toy_arch, tmp_path)) == 130
    capsys.readouterr()
    resume = ["train", "--resume", str(tmp_path / "ckpt"), "--out", str(tmp_path / "m.pkl")]
    assert run_cli([*resume, "--batch-size", "8", "--seed", "3"]) == 1
    err = capsys.readouterr().err
    assert "only --lr, --epochs and --schedule can change: remove --batch-size, --seed" in err
    (tmp_path / "ckpt2").mkdir()
    with monkeypatch.context() as patch:
        original = train_cli.ProgressPrinter.on_epoch_end

        def stop_after_epoch_2(self, epoch, logs):
            original(self, epoch, logs)
            if epoch == 1:
                signal.raise_signal(signal.SIGINT)

        patch.setattr(train_cli.ProgressPrinter, "on_epoch_end", stop_after_epoch_2)
        run_cli(train_args(toy_arch, tmp_path, "x.pkl", "--epochs", "3", "--checkpoint-dir",
                           str(tmp_path / "ckpt2")))
    capsys.readouterr()
    assert run_cli(["train", "--resume", str(tmp_path / "ckpt2"), "--epochs", "1"]) == 1
    assert "--epochs must be at least 2" in capsys.readouterr().err


def test_out_and_checkpoint_dir_are_checked_before_training(toy_data, toy_arch, tmp_path,
                                                           capsys):
    (tmp_path / "a-file").write_text("x")
    for argv in (train_args(toy_arch, tmp_path, "a-file/model.pkl"),
                 [*train_args(toy_arch, tmp_path), "--checkpoint-dir",
                  str(tmp_path / "a-file" / "ckpt")]):
        assert run_cli(argv) == 1
        captured = capsys.readouterr()
        assert "training custom" not in captured.out  # refused before the run started
        assert captured.err.startswith("error: --") and "a-file" in captured.err
        assert captured.err.count("\n") == 1 and ".tmp" not in captured.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_folder_is_refused_before_training(toy_data, toy_arch, tmp_path,
                                                          capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert run_cli(train_args(toy_arch, tmp_path, "ro/model.pkl")) == 1
        assert "--out: cannot write in" in capsys.readouterr().err
    finally:
        folder.chmod(0o755)


def test_leftovers_of_killed_writes_are_removed_at_start(toy_data, toy_arch, tmp_path):
    (tmp_path / "ckpt").mkdir()
    dead = [tmp_path / ".model.pkl.99999999.abcd_123.tmp",  # a writer that is gone
            tmp_path / "ckpt" / ".checkpoint.pkl.k2j4h5g6.tmp"]  # named before the pid was
    alive = tmp_path / f".model.pkl.{os.getppid()}.zzzzzzzz.tmp"  # a writer still running
    others = [tmp_path / ".other.pkl.99999999.abcdefgh.tmp", tmp_path / "notes.tmp"]
    for path in [*dead, alive, *others]:
        path.write_bytes(b"partial")
    assert run_cli(train_args(toy_arch, tmp_path)) == 0
    assert not any(path.exists() for path in dead)
    assert alive.exists() and all(path.exists() for path in others)


def test_files_written_honour_the_umask(toy_data, toy_arch, tmp_path):
    old = os.umask(0o077)
    try:
        assert run_cli(train_args(toy_arch, tmp_path)) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "model.pkl").stat().st_mode & 0o777 == 0o600
    old = os.umask(0o022)
    try:
        assert run_cli(train_args(toy_arch, tmp_path)) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "model.pkl").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "ckpt" / "checkpoint.pkl").stat().st_mode & 0o777 == 0o644
