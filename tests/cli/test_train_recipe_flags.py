"""`train` flags for airbench's training settings (--tta, --lookahead, --translate, --flip,
--label-smoothing, --sum-loss, --nesterov): each reaches the TrainingConfig and the model file;
mirrors on digits and bad values are one-line errors."""

from __future__ import annotations

import pytest

from cli import build_parser, run_cli
from cli import train as train_cli
from engine.serialize import load_model
from engine.training.config import config_for


def _config(*flags, dataset="cifar10", arch="airbench93"):
    args = build_parser().parse_args(["train", "--dataset", dataset, "--arch", arch, *flags])
    return train_cli.config_from_args(args)


def test_without_the_flags_the_preset_recipe_stands():
    assert _config() == config_for("cifar10", "airbench93")
    assert _config(dataset="mnist", arch="digits-bn") == config_for("mnist", "digits-bn")


@pytest.mark.parametrize(("flags", "field", "value", "base"), [
    (["--no-lookahead"], "lookahead", False, "airbench93"),
    (["--lookahead"], "lookahead", True, "digits-bn"),
    (["--no-sum-loss"], "sum_loss", False, "airbench93"),
    (["--sum-loss"], "sum_loss", True, "digits-bn"),
    (["--translate", "3"], "translate", 3, "airbench93"),
    (["--translate", "0"], "translate", 0, "airbench93"),
    (["--tta", "mirror"], "tta", "mirror", "airbench93"),
    (["--tta", "none"], "tta", "none", "airbench93"),
    (["--tta", "translate"], "tta", "translate", "digits-bn"),
    (["--label-smoothing", "0.05"], "label_smoothing", 0.05, "airbench93"),
    (["--no-nesterov"], "nesterov", False, "digits-bn"),
    (["--flip", "random"], ("alternating_flip", "random_flip"), (False, True), "airbench93"),
    (["--flip", "none"], ("alternating_flip", "random_flip"), (False, False), "airbench93"),
    (["--flip", "alternating"], ("alternating_flip", "random_flip"), (True, False),
     "digits-bn"),
])
def test_each_flag_reaches_the_training_config(flags, field, value, base):
    before = config_for("cifar10", base)
    config = _config(*flags, arch=base)
    fields = field if isinstance(field, tuple) else (field,)
    values = value if isinstance(field, tuple) else (value,)
    assert tuple(getattr(config, f) for f in fields) == values
    changed = {k for k, v in config.to_dict().items() if v != before.to_dict()[k]}
    assert changed <= set(fields) and changed  # that field, nothing else
    assert tuple(getattr(before, f) for f in fields) != values


def test_the_flags_are_recorded_in_the_model_file(toy_data, toy_arch, tmp_path, capsys):
    argv = ["train", "--dataset", "toy-rgb", "--arch", toy_arch, "--epochs", "2",
            "--batch-size", "16", "--optimizer", "sgd", "--lr", "0.05", "--nesterov",
            "--lookahead", "--sum-loss", "--translate", "1", "--flip", "random",
            "--label-smoothing", "0.1", "--tta", "mirror_translate",
            "--out", str(tmp_path / "m.pkl"), "--checkpoint-dir", str(tmp_path / "ckpt")]
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    assert ("translate 1, random flip, label smoothing 0.1, summed loss, lookahead, "
            "TTA mirror_translate") in out
    training = load_model(tmp_path / "m.pkl").meta["training"]
    assert {k: training[k] for k in ("nesterov", "lookahead", "sum_loss", "translate",
                                     "alternating_flip", "random_flip", "label_smoothing",
                                     "tta")} == {
        "nesterov": True, "lookahead": True, "sum_loss": True, "translate": 1,
        "alternating_flip": False, "random_flip": True, "label_smoothing": 0.1,
        "tta": "mirror_translate"}

    argv[argv.index("random")] = "alternating"
    argv[argv.index("--lookahead")] = "--no-lookahead"
    assert run_cli([*argv[:-4], "--out", str(tmp_path / "a.pkl"), "--checkpoint-dir",
                    str(tmp_path / "ckpt2")]) == 0
    training = load_model(tmp_path / "a.pkl").meta["training"]
    assert (training["alternating_flip"], training["random_flip"], training["lookahead"]) == (
        True, False, False)


@pytest.mark.parametrize(("flags", "message"), [
    (["--flip", "alternating"], "a mirrored digit is another symbol"),
    (["--flip", "random"], "a mirrored digit is another symbol"),
    (["--tta", "mirror"], "a mirrored digit is another symbol"),
    (["--tta", "mirror_translate"], "a mirrored digit is another symbol"),
    (["--translate", "9"], "translate must be a whole number of pixels in 0..8"),
    (["--label-smoothing", "1"], "label smoothing must be in [0, 1)"),
])
def test_invalid_combinations_are_one_line_errors(toy_data, toy_arch, tmp_path, flags,
                                                  message, capsys):
    argv = ["train", "--dataset", "toy", "--arch", toy_arch, "--epochs", "1",
            "--out", str(tmp_path / "m.pkl"), "--checkpoint-dir", str(tmp_path / "ckpt"),
            *flags]
    assert run_cli(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "m.pkl").exists()


def test_digits_accept_translation_only_tta_and_no_flip(toy_data, toy_arch, tmp_path):
    argv = ["train", "--dataset", "toy", "--arch", toy_arch, "--epochs", "1",
            "--batch-size", "32", "--tta", "translate", "--flip", "none", "--translate", "1",
            "--out", str(tmp_path / "m.pkl"), "--checkpoint-dir", str(tmp_path / "ckpt")]
    assert run_cli(argv) == 0
    assert load_model(tmp_path / "m.pkl").meta["training"]["tta"] == "translate"


@pytest.mark.parametrize("flags", [["--no-lookahead"], ["--flip", "none"], ["--tta", "none"],
                                   ["--translate", "2"], ["--sum-loss"]])
def test_a_resumed_run_refuses_them(toy_data, flags, capsys):
    assert run_cli(["train", "--resume", "somewhere.pkl", *flags]) == 1
    err = capsys.readouterr().err
    assert "only --lr, --epochs and --schedule can change" in err and flags[0].replace(
        "--no-", "--") in err


def test_help_documents_the_flags(capsys):
    with pytest.raises(SystemExit):
        run_cli(["train", "--help"])
    out = capsys.readouterr().out
    for option in ("--tta {none,mirror,translate,mirror_translate}", "--lookahead, --no-lookahead",
                   "--translate PIXELS", "--flip {alternating,random,none}", "--label-smoothing",
                   "--sum-loss, --no-sum-loss", "--nesterov, --no-nesterov"):
        assert option in out, option
