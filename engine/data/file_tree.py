"""A folder or a ``.zip`` seen the same way: relative POSIX paths of files and folders, and a
function that reads a file's bytes. Hidden entries and macOS ``__MACOSX`` folders are skipped."""

from __future__ import annotations

import contextlib
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from engine.data.errors import DatasetError
from engine.data.images import read_bytes


class FileTree:
    """files: sorted relative paths; dirs: every folder (implied ones too); read(rel) -> bytes;
    label: the directory or zip, for messages."""

    def __init__(self, files: list[str], dirs: set[str], read: Callable[[str], bytes],
                 label: str) -> None:
        self.files = files
        self.dirs = dirs
        self.read = read
        self.label = label
        self._file_set = set(files)

    def has_file(self, rel: str) -> bool:
        return rel in self._file_set

    def children(self, parent: str) -> list[str]:
        """Immediate sub-folder names of ``parent`` ("" for the root)."""
        depth = 0 if not parent else parent.count("/") + 1
        prefix = f"{parent}/" if parent else ""
        return sorted(d.split("/")[depth] for d in self.dirs
                      if d.startswith(prefix) and d.count("/") == depth)


def _skip(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def zip_names(path: Path) -> list[str]:
    """The member names of a zip; DatasetError when it is not one."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"{path}: not a readable zip archive ({exc})") from exc


@contextlib.contextmanager
def open_tree(path: Path) -> Iterator[FileTree]:
    """The tree under a directory, or inside a zip archive (kept open while in use)."""
    path = Path(path)
    if path.is_dir():
        files, dirs = [], set()
        for item in path.rglob("*"):
            rel = item.relative_to(path).as_posix()
            if _skip(PurePosixPath(rel).parts):
                continue
            (dirs.add(rel) if item.is_dir() else files.append(rel))
        yield FileTree(sorted(files), dirs, lambda rel: read_bytes(path / rel), str(path))
        return
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"{path}: not a readable zip archive or image folder ({exc})") from exc
    with archive:
        files, dirs = [], set()
        for info in archive.infolist():
            rel = info.filename.rstrip("/")
            parts = PurePosixPath(rel).parts
            if not rel or _skip(parts):
                continue
            if info.is_dir():
                dirs.add(rel)
            else:
                files.append(rel)
            dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))

        def read(rel: str) -> bytes:
            try:
                return archive.read(rel)
            except (zipfile.BadZipFile, OSError, EOFError, KeyError, zlib.error) as exc:
                raise DatasetError(f"{path}!{rel}: cannot read from the zip ({exc})") from exc

        yield FileTree(sorted(files), dirs, read, str(path))
