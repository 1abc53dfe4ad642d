"""CIFAR-10: the official pickled batches (``cifar-10-python.tar.gz`` or ``cifar-10-batches-py/``)
and the image-folder tree (``train/<class>/*.jpg``, ``test/...``, a directory or a ``.zip``).

A batch is a pickled dict {"data": uint8 (10000, 3072) rows of R, G, B planes, "labels": list of
int, "batch_label", "filenames"}; ``batches.meta`` holds "label_names". Batches are read with the
restricted unpickler, which admits only those contents.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.data import image_folder
from engine.data.dataset import Dataset
from engine.data.errors import DatasetError
from engine.data.safe_pickle import safe_loads

CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
TAR_NAME = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"


def _is_batches_dir(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (*TRAIN_BATCHES, TEST_BATCH))


def find_cifar(folder: Path) -> tuple[str, Path] | None:
    """The best CIFAR-10 copy in ``folder``: (format, path) or None.

    The pickled batches are preferred (exact pixels, fastest), then an image-folder tree.
    """
    if _is_batches_dir(folder / BATCHES_DIR):
        return "cifar-batches", folder / BATCHES_DIR
    if _is_batches_dir(folder):
        return "cifar-batches", folder
    if (folder / TAR_NAME).is_file():
        return "cifar-tar", folder / TAR_NAME
    zips = sorted(p for p in folder.glob("*.zip") if "cifar" in p.name.lower())
    if zips:
        return "image-folder", zips[0]
    if "cifar" in folder.name.lower() and (folder / "train").is_dir():
        return "image-folder", folder
    return None


def detect_cifar(path: Path) -> str | None:
    """The CIFAR format of a user-given path (batches folder or tar.gz), or None."""
    if path.is_dir():
        return "cifar-batches" if _is_batches_dir(path) else None
    if path.name.endswith((".tar.gz", ".tgz", ".tar")):
        return "cifar-tar"
    return None


def parse_batch(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> x (N, 32, 32, 3) uint8, y (N,) int64."""
    batch = safe_loads(data, name)
    if not isinstance(batch, dict):
        raise DatasetError(f"{name}: not a CIFAR-10 batch (the pickle holds a "
                           f"{type(batch).__name__}, not a dict)")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    pixels, labels = batch.get("data"), batch.get("labels")
    if not isinstance(pixels, np.ndarray) or labels is None:
        raise DatasetError(f"{name}: not a CIFAR-10 batch (no 'data' array and 'labels'; keys "
                           f"are {sorted(map(str, batch))})")
    if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != 3072:
        raise DatasetError(f"{name}: not a CIFAR-10 batch ('data' is {pixels.dtype} "
                           f"{pixels.shape}, expected uint8 (N, 3072))")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetError(f"{name}: 'labels' must be a list of integers")
    if len(labels) != len(pixels):
        raise DatasetError(f"{name}: {len(pixels)} images but {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(f"{name}: labels must be 0..9, found {labels.min()}..{labels.max()}")
    x = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), labels.astype(np.int64)


def _parse_meta(data: bytes, name: str) -> list[str]:
    meta = safe_loads(data, name)
    names = meta.get("label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != 10:
        raise DatasetError(f"{name}: not a CIFAR-10 batches.meta (no 10 'label_names')")
    return [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]


def _read_members(path: Path) -> dict[str, bytes]:
    """The batch files' bytes from a batches folder or the official tar.gz."""
    wanted = {*TRAIN_BATCHES, TEST_BATCH, META}
    found: dict[str, bytes] = {}
    if path.is_dir():
        for name in wanted:
            if (path / name).is_file():
                found[name] = (path / name).read_bytes()
        return found
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted:
                    handle = archive.extractfile(member)
                    if handle is not None:
                        found[base] = handle.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: not a readable tar archive ({exc})") from exc
    return found


def read_batches(path: Path, progress: Callable[[int, int, str], None] | None = None
                 ) -> Dataset:
    members = _read_members(path)
    missing = [n for n in (*TRAIN_BATCHES, TEST_BATCH) if n not in members]
    if missing:
        raise DatasetError(f"{path}: not a CIFAR-10 python archive (missing {', '.join(missing)})")
    parts = []
    for i, name in enumerate((*TRAIN_BATCHES, TEST_BATCH)):
        parts.append(parse_batch(members[name], f"{path}/{name}"))
        if progress:
            progress(i + 1, 6, f"reading {name}")
    names = _parse_meta(members[META], f"{path}/{META}") if META in members else CLASS_NAMES
    x_train = np.concatenate([p[0] for p in parts[:5]])
    y_train = np.concatenate([p[1] for p in parts[:5]])
    return Dataset("cifar10", x_train, y_train, parts[5][0], parts[5][1], names, "colour",
                   str(path))


def read_cifar(fmt: str, path: Path, progress: Callable[[int, int, str], None] | None = None
               ) -> Dataset:
    """Read CIFAR-10 in format ``fmt`` ("cifar-batches", "cifar-tar" or "image-folder")."""
    if fmt in ("cifar-batches", "cifar-tar"):
        return read_batches(path, progress)
    return image_folder.read_image_folder(path, kind="colour", input_shape=(32, 32, 3),
                                          progress=progress, name="cifar10")
