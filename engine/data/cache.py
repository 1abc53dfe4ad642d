"""Decoded datasets cached as one uncompressed ``.npz`` per dataset in a writable cache folder.

An entry is keyed by the dataset name, a format version and the identity (path, size, mtime) of
every source file, so editing or replacing a source invalidates it. Entries are written to a
temporary file and renamed into place, so a failed or interrupted decode never leaves a partial
cache; an unreadable entry is deleted and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from engine.data.dataset import Dataset

# Bump when a loader changes what it produces, so stale caches are ignored.
CACHE_VERSION = 1
_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def source_key(name: str, sources: list[Path], extra: str = "") -> str:
    """A stable key for the sources' identity: path, size and modification time of each file."""
    digest = hashlib.sha256(f"{CACHE_VERSION}|{name}|{extra}".encode())
    for path in sources:
        path = Path(path).resolve()
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            stat = file.stat()
            digest.update(f"|{file}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


class DatasetCache:
    """Read and write decoded datasets in ``cache_dir``."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)

    def path_for(self, name: str, key: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
        return self.cache_dir / f"{safe}-{key}.npz"

    def load(self, name: str, key: str) -> Dataset | None:
        """The cached dataset, or None when absent or unreadable (then the entry is removed)."""
        path = self.path_for(name, key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in _ARRAYS}
                meta = json.loads(str(npz["meta"]))
            return Dataset(**arrays, **meta, from_cache=True)
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            warnings.warn(f"ignoring unreadable cache {path}: {exc}", stacklevel=2)
            path.unlink(missing_ok=True)
            return None

    def save(self, dataset: Dataset, key: str) -> Path | None:
        """Write ``dataset`` atomically; returns the path, or None if the folder is not writable."""
        path = self.path_for(dataset.name, key)
        meta = {
            "name": dataset.name,
            "class_names": list(dataset.class_names),
            "ascii_names": list(dataset.ascii_names),
            "kind": dataset.kind,
            "source": dataset.source,
            "notes": dataset.notes,
        }
        tmp_name = None
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp",
                                            dir=self.cache_dir)
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, meta=np.array(json.dumps(meta)),
                         **{k: getattr(dataset, k) for k in _ARRAYS})
            os.replace(tmp_name, path)
            tmp_name = None
        except OSError as exc:
            warnings.warn(f"could not write the dataset cache in {self.cache_dir}: {exc}",
                          stacklevel=2)
            return None
        finally:
            if tmp_name is not None:
                Path(tmp_name).unlink(missing_ok=True)
        self._remove_stale(dataset.name, keep=path)
        return path

    def _remove_stale(self, name: str, keep: Path) -> None:
        prefix = keep.stem.rsplit("-", 1)[0]
        for old in self.cache_dir.glob(f"{prefix}-{'?' * 20}.npz"):
            if old != keep:
                old.unlink(missing_ok=True)

    def entries(self) -> list[Path]:
        """Cache files present (for the `datasets` listing)."""
        return sorted(self.cache_dir.glob("*.npz")) if self.cache_dir.is_dir() else []
