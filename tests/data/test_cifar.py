"""CIFAR-10's pickled batches (folder and tar.gz) and its image-folder tree (folder and zip)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from engine import data
from engine.data import cifar
from engine.data.errors import DatasetError
from tests.data.fixtures import (
    CIFAR_NAMES,
    Evil,
    image_tree,
    write_cifar_batches,
    write_cifar_tar,
    write_tree,
    write_zip,
)


@pytest.mark.parametrize("protocol", [2, 4])
def test_batches_folder_round_trips_pixels(tmp_path, protocol):
    written = write_cifar_batches(tmp_path / "cifar10" / "cifar-10-batches-py", n=3,
                                  protocol=protocol)
    ds = data.load("cifar10", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert ds.x_train.shape == (15, 32, 32, 3) and ds.x_test.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(ds.x_train, written["x_train"])
    np.testing.assert_array_equal(ds.y_test, written["y_test"])
    assert ds.class_names == CIFAR_NAMES and ds.kind == "colour"


def test_official_tar_gz(tmp_path):
    written = write_cifar_tar(tmp_path / "cifar10" / "cifar-10-python.tar.gz", n=2)
    ds = data.load("cifar10", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(ds.x_test, written["x_test"])
    assert ds.source.endswith("cifar-10-python.tar.gz")


def test_tar_gz_by_path(tmp_path):
    written = write_cifar_tar(tmp_path / "cifar-10-python.tar.gz", n=2)
    ds = data.load(tmp_path / "cifar-10-python.tar.gz", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(ds.y_train, written["y_train"])


def test_a_batch_that_is_not_one_is_refused(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    write_cifar_batches(folder, n=2)
    (folder / "data_batch_3").write_bytes(pickle.dumps({"rows": [1, 2, 3]}, protocol=2))
    with pytest.raises(DatasetError, match=r"data_batch_3: not a CIFAR-10 batch"):
        data.load("cifar10", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_a_batch_of_wrong_shape_is_refused():
    batch = {"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}
    with pytest.raises(DatasetError, match=r"b1: not a CIFAR-10 batch .*\(2, 100\)"):
        cifar.parse_batch(pickle.dumps(batch, protocol=2), "b1")


def test_garbage_bytes_are_not_a_batch():
    with pytest.raises(DatasetError, match=r"b1: not a valid pickle|b1: refused"):
        cifar.parse_batch(b"this is not a pickle", "b1")


def test_malicious_batch_is_refused_without_running_anything(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    write_cifar_batches(folder, n=2)
    marker = tmp_path / "pwned"
    (folder / "test_batch").write_bytes(pickle.dumps({"data": Evil(marker)}, protocol=2))
    with pytest.raises(DatasetError, match=r"test_batch: refused .*(posix|os|nt)\.system"):
        data.load("cifar10", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert not marker.exists()


def test_image_folder_zip_with_train_and_test(tmp_path):
    files = {f"train/{k}": v for k, v in image_tree({"cat": 3, "dog": 2}, seed=1).items()}
    files |= {f"test/{k}": v for k, v in image_tree({"cat": 1, "dog": 1}, seed=2).items()}
    write_zip(tmp_path / "cifar10" / "cifar10-jpg.zip", files,
              dirs=("train", "train/cat", "train/dog", "test", "test/cat", "test/dog"))
    ds = data.load("cifar10", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert ds.x_train.shape == (5, 32, 32, 3) and ds.x_test.shape == (2, 32, 32, 3)
    assert ds.class_names == ["cat", "dog"] and list(ds.y_train) == [0, 0, 0, 1, 1]
    assert ds.name == "cifar10"


def test_image_folder_directory_named_cifar(tmp_path):
    files = {f"train/{k}": v for k, v in image_tree({"a": 2, "b": 2}, seed=3).items()}
    files |= {f"test/{k}": v for k, v in image_tree({"a": 1, "b": 1}, seed=4).items()}
    write_tree(tmp_path / "cifar10", files)
    ds = data.load("cifar10", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert len(ds.y_train) == 4 and len(ds.y_test) == 2


def test_batches_are_preferred_over_the_jpg_zip(tmp_path):
    write_cifar_batches(tmp_path / "cifar10" / "cifar-10-batches-py", n=1)
    write_zip(tmp_path / "cifar10" / "cifar10-jpg.zip", {"x.txt": b""})
    assert data.locate("cifar10", tmp_path).format == "cifar-batches"


@pytest.mark.parametrize("cut", [0.5, 0.97])
def test_truncated_tar_gz_names_the_file(tmp_path, cut):
    path = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    write_cifar_tar(path, n=2)
    data_bytes = path.read_bytes()
    path.write_bytes(data_bytes[: int(len(data_bytes) * cut)])
    with pytest.raises(DatasetError, match=r"cifar-10-python.tar.gz: not a (readable tar|CIFAR)"):
        data.load("cifar10", data_dir=tmp_path, cache_dir=tmp_path / "cache")
