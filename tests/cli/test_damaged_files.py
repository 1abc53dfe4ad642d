"""The malformed files that used to end in tracebacks: each is now one line, exit status 1."""

from __future__ import annotations

import json

import pytest

from cli import run_cli
from engine.plain_file import dump_plain, load_plain
from engine.serialize import export_npz, save_model
from engine.training.checkpoint import CHECKPOINT_FORMAT
from engine.training.run import TrainingConfig, train_model
from tests.engine.training_toys import TOY_SPEC, toy_dataset


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    folder = tmp_path_factory.mktemp("damaged")
    config = TrainingConfig(dataset="toy", arch=TOY_SPEC, epochs=1, batch_size=16, lr=0.05)
    trained = train_model(config, toy_dataset(), checkpoint_dir=folder / "ckpt")
    return save_model(trained, folder / "model.pkl"), folder / "ckpt" / "checkpoint.pkl", trained


def _edited(source, target, change, file_format):
    content = load_plain(source)
    change(content)
    dump_plain(content, target, file_format=file_format)
    return target


CHECKPOINT_CHANGES = {
    "lacks extra": lambda c: c.pop("extra"),
    "lacks model": lambda c: c.pop("model"),
    "lacks optimizer": lambda c: c.pop("optimizer"),
    "lacks epoch": lambda c: c.pop("epoch"),
    "model is a list": lambda c: c.update(model=[1, 2]),
    "config is a list": lambda c: c["extra"].update(config=[1]),
    "config has unknown settings": lambda c: c["extra"]["config"].update(bogus=1),
    "sums lack keys": lambda c: c.update(sums={}),
    "optimizer state malformed": lambda c: c.update(optimizer={"x": "y"}),
}
MODEL_CHANGES = {
    "class_names an int": lambda c: c.update(class_names=7),
    "state a list": lambda c: c.update(state=[1, 2]),
    "no preprocessing": lambda c: c.pop("preprocessing"),
    "malformed normaliser": lambda c: c["preprocessing"].update(normalizer={"mean": "x"}),
    "spec not a list": lambda c: c.update(spec=5),
    "input_shape a text": lambda c: c.update(input_shape="big"),
}


def _assert_one_line(capsys, *needles):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and " object at 0x" not in err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize("case", sorted(CHECKPOINT_CHANGES))
def test_damaged_checkpoints_are_one_line_errors(toy_data, originals, tmp_path, case, capsys):
    _, checkpoint, _ = originals
    bad = _edited(checkpoint, tmp_path / "checkpoint.pkl", CHECKPOINT_CHANGES[case],
                  CHECKPOINT_FORMAT)
    assert run_cli(["train", "--resume", str(bad), "--out", str(tmp_path / "m.pkl")]) == 1
    _assert_one_line(capsys, str(bad))


def test_a_byte_flipped_checkpoint_is_refused_as_damaged(toy_data, originals, tmp_path, capsys):
    _, checkpoint, _ = originals
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0x40
    (tmp_path / "c.pkl").write_bytes(bytes(data))
    assert run_cli(["train", "--resume", str(tmp_path / "c.pkl")]) == 1
    _assert_one_line(capsys, "c.pkl is damaged")


@pytest.mark.parametrize("case", sorted(MODEL_CHANGES))
@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_damaged_model_files_are_one_line_errors(toy_data, originals, tmp_path, case, command,
                                                 capsys):
    model, _, _ = originals
    bad = _edited(model, tmp_path / "bad.pkl", MODEL_CHANGES[case], "cnn-studio-model")
    argv = [command, str(bad)] + ([str(tmp_path)] if command == "predict" else [])
    assert run_cli(argv) == 1
    _assert_one_line(capsys, str(bad))


def test_broken_exports_are_one_line_errors(toy_data, originals, tmp_path, capsys):
    _, _, trained = originals
    path = export_npz(trained, tmp_path / "m.npz")
    (tmp_path / "m.json").write_text(json.dumps([1, 2]))
    assert run_cli(["evaluate", str(path)]) == 1
    _assert_one_line(capsys, "not a CNN Studio export")
    path = export_npz(trained, tmp_path / "m.npz")
    path.write_bytes(path.read_bytes()[:200])  # truncated
    assert run_cli(["evaluate", str(path)]) == 1
    _assert_one_line(capsys, "damaged or not an .npz")
    path.unlink()
    assert run_cli(["evaluate", str(path)]) == 1
    _assert_one_line(capsys, "no such file")


def test_an_npz_declaring_a_huge_array_is_refused_before_reading(toy_data, originals, tmp_path,
                                                                 capsys):
    import io
    import zipfile

    _, _, trained = originals
    path = export_npz(trained, tmp_path / "m.npz")
    header = io.BytesIO()
    import numpy as np

    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (1 << 20, 1 << 20)})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("huge.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\0" * 64)
    assert run_cli(["evaluate", str(path)]) == 1
    _assert_one_line(capsys, "damaged or not an .npz")
