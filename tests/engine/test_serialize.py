"""Model files: plain data in, the same network out, and nothing else admitted."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from engine.serialize import (
    FORMAT_VERSION,
    ModelFileError,
    UnsafeModelError,
    atomic_write_bytes,
    dump_plain,
    export_npz,
    load_model,
    load_plain,
    save_model,
)
from engine.trained_model import ModelMismatchError
from engine.training.run import TrainingConfig, train_model
from tests.engine.training_toys import TOY_SPEC, toy_dataset


@pytest.fixture(scope="module")
def dataset():
    return toy_dataset()


@pytest.fixture(scope="module")
def trained(dataset):
    config = TrainingConfig(dataset="toy", arch=TOY_SPEC, epochs=2, batch_size=16, lr=0.01)
    return train_model(config, dataset)


def test_round_trip_gives_the_same_predictions_and_metadata(trained, dataset, tmp_path):
    path = save_model(trained, tmp_path / "model.pkl")
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict_proba(dataset.x_test),
                                  trained.predict_proba(dataset.x_test))
    meta = loaded.meta
    assert meta["format"] == "cnn-studio-model" and meta["format_version"] == FORMAT_VERSION
    assert meta["class_names"] == ["top", "middle", "bottom"]
    assert meta["input_shape"] == [8, 8, 1]
    assert meta["preprocessing"]["kind"] == "digits"
    assert set(meta["preprocessing"]["normalizer"]) >= {"mean", "std"}
    assert meta["metrics"]["test_accuracy"] == trained.meta["metrics"]["test_accuracy"]
    assert len(meta["metrics"]["confusion_matrix"]) == 3
    assert meta["training"]["seed"] == 0 and meta["training"]["epochs"] == 2
    assert len(meta["dataset"]["fingerprint"]) == 64
    assert meta["engine_version"] and meta["created"][:2] == "20"
    assert meta["spec"][0]["type"] == "conv2d"


def test_the_file_holds_only_plain_data_and_arrays(trained, tmp_path):
    path = save_model(trained, tmp_path / "model.pkl")
    globals_used = set()

    class Recording(pickle.Unpickler):
        def find_class(self, module, name):
            globals_used.add(f"{module}.{name}")
            return super().find_class(module, name)

    # a plain unpickler (no CNN Studio code) reads it without importing anything at all
    with open(path, "rb") as f:
        envelope = Recording(f).load()
    assert envelope["format_version"] == 2
    assert envelope["payload_sha256"] == hashlib.sha256(envelope["payload"]).hexdigest()
    raw = Recording(io.BytesIO(envelope["payload"])).load()
    assert globals_used == set()
    tag, dtype, shape, data = raw["state"]["conv1.W"]
    assert (tag, dtype) == ("ndarray", "float32")
    np.testing.assert_array_equal(np.frombuffer(data, "<f4").reshape(shape),
                                  trained.model.state_dict()["conv1.W"])


class _RunsAShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _CallsEval:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


def test_a_pickle_that_runs_a_command_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"format": "cnn-studio-model",
                                   "payload": _RunsAShellCommand(marker)}))
    with pytest.raises(UnsafeModelError, match=r"refused to open.*system.*Nothing in it was "
                       "executed"):
        load_model(path)
    assert not marker.exists()
    # the same file through plain pickle would have run the command: the test can fail
    with open(path, "rb") as f:
        pickle.load(f)
    assert marker.exists()


def test_builtins_eval_is_refused_too(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([_CallsEval()]))
    with pytest.raises(UnsafeModelError, match=r"builtins\.eval"):
        load_plain(path)


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "objects.pkl"
    path.write_bytes(pickle.dumps({"a": np.array([1, "x"], dtype=object)}))
    with pytest.raises(UnsafeModelError):
        load_plain(path)


def test_other_files_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_model(tmp_path / "missing.pkl")
    dump_plain({"hello": 1}, tmp_path / "other.pkl")
    with pytest.raises(ModelFileError, match="not a CNN Studio model file"):
        load_model(tmp_path / "other.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04this is not a pickle")
    with pytest.raises(ModelFileError, match=r"junk\.pkl is damaged"):
        load_model(tmp_path / "junk.pkl")


def test_truncated_and_future_files(trained, tmp_path):
    path = save_model(trained, tmp_path / "model.pkl")
    data = path.read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "cut.pkl")
    payload = load_plain(path)
    payload["format_version"] = FORMAT_VERSION + 1
    dump_plain(payload, tmp_path / "future.pkl")
    with pytest.raises(ModelFileError, match="update the app"):
        load_model(tmp_path / "future.pkl")


def test_npz_export_round_trip(trained, dataset, tmp_path):
    path = export_npz(trained, tmp_path / "model.npz")
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["class_names"] == ["top", "middle", "bottom"] and "state" not in meta
    with np.load(path, allow_pickle=False) as arrays:
        assert "conv1.W" in arrays.files and "bn1.running_mean" in arrays.files
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict_proba(dataset.x_test),
                                  trained.predict_proba(dataset.x_test))


def test_another_shape_or_class_count_is_a_clear_error(trained):
    trained.check_dataset(toy_dataset(n_train=3, n_test=3))
    with pytest.raises(ModelMismatchError, match=r"8x8x1 images in 3 classes.*8x8x3"):
        trained.check_dataset(toy_dataset(n_train=3, n_test=3, shape=(8, 8, 3)))
    with pytest.raises(ModelMismatchError, match="takes 8x8x1 images, got 9x9x1"):
        trained.predict_proba(np.zeros((1, 9, 9, 1), np.uint8))


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "file.bin"
    atomic_write_bytes(path, b"old")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_a_version_1_model_file_still_opens_with_the_same_network(trained, dataset, tmp_path):
    """What the previous writer produced: the payload pickled with NumPy's own array pickles."""
    from engine.serialize import model_payload

    payload = model_payload(trained)
    payload["format_version"] = 1
    path = tmp_path / "v1.pkl"
    path.write_bytes(pickle.dumps(payload, protocol=4))
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict_proba(dataset.x_test),
                                  trained.predict_proba(dataset.x_test))
    assert loaded.meta.class_names == ["top", "middle", "bottom"]


@pytest.mark.parametrize("change, message", [
    (lambda p: p.update(class_names=7), "class names|class_names"),
    (lambda p: p.update(state=[1, 2]), "state must be"),
    (lambda p: p.pop("preprocessing"), "lacks preprocessing"),
    (lambda p: p["preprocessing"].update(normalizer={"mean": "x"}), "normaliser is malformed"),
    (lambda p: p.update(input_shape=[10**6, 10**6, 3]), "input_shape"),
    (lambda p: p.update(spec=[{"type": "dense", "units": 10**9}]), "needs up to"),
])
def test_malformed_model_fields_get_one_line_errors(trained, tmp_path, change, message):
    from engine.serialize import model_payload

    payload = model_payload(trained)
    change(payload)
    dump_plain(payload, tmp_path / "bad.pkl", file_format="cnn-studio-model")
    with pytest.raises(ModelFileError, match=message) as info:
        load_model(tmp_path / "bad.pkl")
    assert "\n" not in str(info.value) and str(tmp_path / "bad.pkl") in str(info.value)


def test_malformed_exports_get_one_line_errors(trained, tmp_path):
    path = export_npz(trained, tmp_path / "m.npz")
    (tmp_path / "m.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="not a CNN Studio export"):
        load_model(path)
    path = export_npz(trained, tmp_path / "m.npz")
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ModelFileError, match=r"damaged or not an \.npz"):
        load_model(path)


def test_a_preset_s_name_survives_saving_and_opening(tmp_path):
    from engine.spec import build_model, load_preset
    from engine.trained_model import TrainedModel

    model = build_model(load_preset("lenet5"), input_shape=(28, 28, 1), num_classes=10)
    meta = {"class_names": [str(i) for i in range(10)], "input_shape": [28, 28, 1],
            "preprocessing": {"kind": "digits", "normalizer": {"mean": [0.1], "std": [0.3]}}}
    path = save_model(TrainedModel(model, meta), tmp_path / "m.pkl")
    assert load_model(path).model.arch_name == "lenet5"


@pytest.mark.parametrize("name", ["mnist", "numtadb", "cifar10"])
def test_shipped_models_name_their_preset(name):
    trained = load_model(Path(__file__).resolve().parents[2] / "assets" / f"{name}.pkl")
    assert trained.model.arch_name == trained.meta.training["arch"]


def test_class_names_can_be_renamed_and_are_checked():
    trained = load_model(Path(__file__).resolve().parents[2] / "assets" / "mnist.pkl")
    renamed = trained.with_class_names([f"digit {i}" for i in range(10)])
    assert renamed.class_names[3] == "digit 3" and trained.class_names[3] == "3"
    assert renamed.model is trained.model and renamed.meta.training == trained.meta.training
    with pytest.raises(ValueError, match="10 classes, got 9 names"):
        trained.with_class_names(list("abcdefghi"))
    with pytest.raises(ValueError, match="given twice: a"):
        trained.with_class_names(list("abcdefghia"))
    with pytest.raises(ValueError, match="a class name is empty"):
        trained.with_class_names(["", *"abcdefghi"])
