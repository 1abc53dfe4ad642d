"""Datasets for CNN Studio: readers for each published format, download, cache, preprocessing.

    from engine import data
    ds = data.load("mnist")              # or "fashion-mnist", "cifar10", "numtadb", or a path
    ds.x_train  # (N, H, W, C) uint8       ds.y_train  # (N,) int64

``load(name_or_path, data_dir=None, cache_dir=None, progress=None)``: progress is called as
``progress(done, total, message)`` (total 0 when unknown). Errors a user can cause raise
:class:`DatasetError` (a ``ValueError``) naming the file and the problem; a missing dataset raises
:class:`DatasetNotFound` saying where it was looked for and what to do.

NumPy and the standard library only; Pillow is imported lazily, when an image file is decoded.
"""

from __future__ import annotations

from engine.data import augment, normalize, preprocess, split
from engine.data.augment import Augmenter
from engine.data.dataset import KIND_INPUT_SHAPES, Dataset
from engine.data.errors import DatasetError, DatasetNotFound
from engine.data.images import read_image
from engine.data.normalize import Normalizer
from engine.data.paths import default_cache_dir, default_data_dir, resolve_data_dir
from engine.data.preprocess import colour_to_input, digit_to_mnist, image_to_input
from engine.data.registry import (
    DATASETS,
    DatasetStatus,
    Progress,
    dataset_input_shape,
    download,
    download_dataset,
    list_datasets,
    load,
    locate,
)
from engine.data.split import stratified_split

DATASET_NAMES = tuple(DATASETS)

__all__ = [
    "DATASETS",
    "DATASET_NAMES",
    "KIND_INPUT_SHAPES",
    "Augmenter",
    "Dataset",
    "DatasetError",
    "DatasetNotFound",
    "DatasetStatus",
    "Normalizer",
    "Progress",
    "augment",
    "colour_to_input",
    "dataset_input_shape",
    "default_cache_dir",
    "default_data_dir",
    "digit_to_mnist",
    "download",
    "download_dataset",
    "image_to_input",
    "list_datasets",
    "load",
    "locate",
    "normalize",
    "preprocess",
    "read_image",
    "resolve_data_dir",
    "split",
    "stratified_split",
]
