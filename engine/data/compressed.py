"""Reading whole files that may be gzip-compressed, with errors that name the file."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from engine.data.errors import DatasetError

GZIP_MAGIC = b"\x1f\x8b"


def decompress_gzip(data: bytes, name: str) -> bytes:
    """The decompressed bytes of a gzip stream; DatasetError if it is truncated or corrupt."""
    try:
        return gzip.decompress(data)
    except EOFError as exc:
        raise DatasetError(f"{name}: truncated gzip file (it ends early: {exc})") from exc
    except (OSError, zlib.error) as exc:
        raise DatasetError(f"{name}: corrupt gzip file ({exc})") from exc


def read_maybe_gzip(path: Path) -> bytes:
    """The content of ``path``, decompressed when it is gzip (detected by its magic bytes)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if data[:2] == GZIP_MAGIC:
        return decompress_gzip(data, str(path))
    if str(path).endswith(".gz"):
        raise DatasetError(f"{path}: not a gzip file (it does not start with the gzip signature)")
    return data
