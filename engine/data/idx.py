"""MNIST and Fashion-MNIST: the IDX format, gzipped or raw.

An IDX file is: two zero bytes, a type code, the number of dimensions, one big-endian int32 per
dimension, then the data in C order (http://yann.lecun.com/exdb/mnist/).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.data.compressed import read_maybe_gzip
from engine.data.errors import DatasetError

_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# The published names, and the variant (dot before "idx") some mirrors use.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def parse_idx(data: bytes, name: str) -> np.ndarray:
    """Decode the bytes of one IDX file into an array of its declared shape and type."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise DatasetError(
            f"{name}: not an IDX file (wrong magic number {data[:4].hex() or 'empty'}; "
            "expected 0000 then a type code and the number of dimensions)"
        )
    dtype = _TYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DatasetError(f"{name}: IDX header is truncated or declares no dimensions")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise DatasetError(
            f"{name}: IDX data {problem}: header declares shape {dims} ({expected} bytes), "
            f"file holds {actual} bytes"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzipped or raw)."""
    return parse_idx(read_maybe_gzip(path), str(path))


def read_idx_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one split -> x (N, H, W, 1) uint8, y (N,) int64, validated."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(
            f"{images_path}: expected uint8 images of shape (N, H, W), got {images.dtype} "
            f"{images.shape}"
        )
    if labels.ndim != 1:
        raise DatasetError(f"{labels_path}: expected a 1-D label array, got shape {labels.shape}")
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
            "labels: the counts must match"
        )
    return images[..., None], labels.astype(np.int64)


def find_split_files(folder: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) files of ``split`` in ``folder``, gzipped or raw, or None."""
    found = []
    for stem in SPLIT_FILES[split]:
        variants = (stem, stem.replace("-idx", ".idx"))
        candidates = [folder / f"{v}{ext}" for v in variants for ext in (".gz", "")]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found[0], found[1]


def find_idx_files(folder: Path) -> list[Path] | None:
    """The four IDX files (train images, train labels, test images, test labels), or None."""
    train = find_split_files(folder, "train")
    test = find_split_files(folder, "test")
    if train is None or test is None:
        return None
    return [*train, *test]


def read_idx_dataset(files: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four IDX files -> x_train, y_train, x_test, y_test."""
    x_train, y_train = read_idx_split(files[0], files[1])
    x_test, y_test = read_idx_split(files[2], files[3])
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(
            f"{files[2]}: test images are {x_test.shape[1:3]} but training images are "
            f"{x_train.shape[1:3]}"
        )
    return x_train, y_train, x_test, y_test
