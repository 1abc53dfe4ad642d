"""MNIST-format IDX files: gzipped and raw, validated; every bad input names the file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from engine import data
from engine.data import idx
from engine.data.errors import DatasetError
from tests.data.fixtures import idx_bytes, write_idx, write_mnist


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_from_idx_files(tmp_path, gz):
    written = write_mnist(tmp_path / "data" / "mnist", gz=gz)
    ds = data.load("mnist", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert ds.x_train.shape == (20, 28, 28, 1) and ds.x_train.dtype == np.uint8
    assert ds.y_train.dtype == np.int64 and ds.input_shape == (28, 28, 1)
    np.testing.assert_array_equal(ds.x_train[..., 0], written["x_train"])
    np.testing.assert_array_equal(ds.y_test, written["y_test"])
    assert ds.class_names == [str(d) for d in range(10)] and ds.kind == "digits"
    assert ds.source == str(tmp_path / "data" / "mnist")


def test_fashion_mnist_is_grey_with_named_classes(tmp_path):
    write_mnist(tmp_path / "fashion-mnist", gz=True)
    ds = data.load("fashion-mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert ds.kind == "grey" and ds.class_names[0] == "T-shirt/top" and len(ds.y_test) == 10


def test_parse_idx_reads_big_endian_int32():
    array = np.arange(6, dtype=np.int32).reshape(2, 3) - 3
    np.testing.assert_array_equal(idx.parse_idx(idx_bytes(array.astype(">i4")), "x"), array)


def test_wrong_magic_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x00\x01\x08\x03" + b"\x00" * 20)
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.*wrong magic"):
        idx.read_idx(path)


def test_truncated_idx_data_is_refused(tmp_path):
    path = tmp_path / "imgs.idx"
    path.write_bytes(idx_bytes(np.zeros((3, 4, 4), np.uint8))[:-5])
    with pytest.raises(DatasetError, match=r"imgs.idx: IDX data truncated"):
        idx.read_idx(path)


def test_truncated_gzip_is_refused(tmp_path):
    path = tmp_path / "imgs.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((30, 8, 8), np.uint8)))[:-20])
    with pytest.raises(DatasetError, match=r"imgs.gz: truncated gzip"):
        idx.read_idx(path)


def test_corrupt_gzip_is_refused(tmp_path):
    data = bytearray(gzip.compress(idx_bytes(np.arange(300, dtype=np.uint8).reshape(3, 10, 10))))
    data[12:20] = b"\xff" * 8
    path = tmp_path / "imgs.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"imgs.gz: (corrupt|truncated) gzip"):
        idx.read_idx(path)


def test_image_label_count_mismatch_names_both_files(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(folder)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(DatasetError, match=r"holds 20 images but .*train-labels.* 19 labels"):
        data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*")), "no cache may be left after an error"


def test_labels_out_of_range_are_refused(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(10, 12, np.uint8))
    with pytest.raises(DatasetError, match=r"labels must be 0\.\.9"):
        data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")


def test_a_folder_of_idx_files_loads_by_path(tmp_path):
    write_mnist(tmp_path / "digits", gz=False)
    ds = data.load(tmp_path / "digits", cache_dir=tmp_path / "cache")
    assert ds.name == "digits" and len(ds.y_train) == 20
