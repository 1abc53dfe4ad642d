"""Decoded datasets cached as ``.npy`` arrays, one folder per dataset, in a writable cache folder.

An entry is keyed by the dataset name, a format version and the identity (path, size, mtime) of
every source file, so editing or replacing a source invalidates it. Entries are written to a
temporary folder and renamed into place, so a failed or interrupted decode never leaves a partial
cache; an unreadable entry is deleted and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from engine.atomic_files import remove_stale_temps, temp_prefix
from engine.data.dataset import Dataset

# Bump when a loader changes what it produces, so stale caches are ignored.
CACHE_VERSION = 3
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
    """Read and write decoded datasets in ``cache_dir``: one folder per entry holding
    ``x_train.npy``, ``y_train.npy``, ``x_test.npy``, ``y_test.npy`` and ``meta.json``.

    Entries are memory-mapped copy-on-write when read, so loading is nearly instant and the
    arrays are still writable (changes stay private to the process).
    """

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)

    def path_for(self, name: str, key: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
        return self.cache_dir / f"{safe}-{key}"

    def has(self, name: str, key: str) -> bool:
        return (self.path_for(name, key) / "meta.json").is_file()

    def load(self, name: str, key: str) -> Dataset | None:
        """The cached dataset, or None when absent or unreadable (then the entry is removed)."""
        remove_stale_temps(self.cache_dir)  # folders of cache writes that were killed
        path = self.path_for(name, key)
        if not (path / "meta.json").is_file():
            return None
        try:
            meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
            arrays = {k: np.asarray(np.load(path / f"{k}.npy", mmap_mode="c",
                                            allow_pickle=False)) for k in _ARRAYS}
            return Dataset(**arrays, **meta, from_cache=True)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(f"ignoring unreadable cache {path}: {exc}", stacklevel=2)
            shutil.rmtree(path, ignore_errors=True)
            return None

    def save(self, dataset: Dataset, key: str) -> Path | None:
        """Write ``dataset`` atomically (a temporary folder renamed into place); returns the
        entry's folder, or None if the cache folder is not writable."""
        path = self.path_for(dataset.name, key)
        meta = {
            "name": dataset.name,
            "class_names": list(dataset.class_names),
            "ascii_names": list(dataset.ascii_names),
            "kind": dataset.kind,
            "source": dataset.source,
            "notes": dataset.notes,
        }
        tmp = None
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(self.cache_dir)  # folders of writes that were killed
            tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(path.name), suffix=".tmp",
                                        dir=self.cache_dir))
            tmp.chmod(0o755)  # mkdtemp makes it private; the arrays are not secret
            for k in _ARRAYS:
                np.save(tmp / f"{k}.npy", np.ascontiguousarray(getattr(dataset, k)))
            # meta.json last: an entry without it is never read.
            (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            if self.has(dataset.name, key):
                return path  # another process wrote the same entry first
            warnings.warn(f"could not write the dataset cache in {self.cache_dir}: {exc}",
                          stacklevel=2)
            return None
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        self._remove_stale(keep=path)
        return path

    def _remove_stale(self, keep: Path) -> None:
        prefix = keep.name.rsplit("-", 1)[0]
        for old in self.cache_dir.glob(f"{prefix}-{'?' * 20}"):
            if old != keep:
                # ignore_errors: another process may still have the old arrays mapped (Windows).
                shutil.rmtree(old, ignore_errors=True)
        for legacy in self.cache_dir.glob(f"{prefix}-{'?' * 20}.npz"):  # version 1 entries
            legacy.unlink(missing_ok=True)

    def entries(self) -> list[Path]:
        """Cache entries present (for the `datasets` listing)."""
        if not self.cache_dir.is_dir():
            return []
        return sorted(p for p in self.cache_dir.iterdir() if (p / "meta.json").is_file())
