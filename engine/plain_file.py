"""The file format of models and checkpoints (version 2): a pickle of plain values, checksummed.

A file is the pickle of one envelope dict of built-in values::

    {"format": "cnn-studio-model" | "cnn-studio-checkpoint", "format_version": 2,
     "payload_sha256": "<64 hex digits>", "payload": b"<pickle of the content>"}

The payload is itself a pickle of dict, list, str, int, float, bool, None and bytes only. An
array is the tuple ``("ndarray", dtype name, shape tuple, raw little-endian C-order bytes)`` with
the dtype from :data:`engine.data.safe_pickle.NUMERIC_DTYPES`; no other tuple occurs (the writer
turns tuples into lists). Both levels are read by :func:`engine.data.safe_pickle.restricted_loads`
in plain mode, which admits no global at all; the payload's SHA-256 is checked before it is
unpickled, so a damaged file is refused as damaged instead of loading changed numbers.

Version-1 files (a pickle of the content with NumPy's own array pickles) are still read, through
the same restricted unpickler in numpy mode: arrays are rebuilt from their bytes by CNN Studio,
never by NumPy's pickle hooks.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic_files import atomic_write_bytes
from engine.data.safe_pickle import (
    NUMERIC_DTYPES,
    PickleCallsError,
    PickleLimits,
    PickleRefusedError,
    PickleUnsafeError,
    checked_array,
    restricted_loads,
)

PLAIN_FORMAT_VERSION = 2
ARRAY_TAG = "ndarray"
_PICKLE_PROTOCOL = 4
FILE_LIMITS = PickleLimits()


class PlainFileError(ValueError):
    """A model or checkpoint file that cannot be read; the message names the file."""


class UnsafeFileError(PlainFileError):
    """A file that asks to import or call something a CNN Studio file never contains."""


def to_plain(obj: Any) -> Any:
    """``obj`` as built-in values and numeric NumPy arrays only (tuples become lists, NumPy
    scalars Python numbers); anything else is a bug in the caller and raises TypeError."""
    if obj is None or isinstance(obj, bool | int | float | str | bytes):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        if obj.dtype.name not in NUMERIC_DTYPES:
            raise TypeError(f"arrays of {obj.dtype} cannot go into a model file")
        return obj
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str | int):
                raise TypeError(f"dict keys must be str or int, got {type(key).__name__}")
            out[key] = to_plain(value)
        return out
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not plain data and cannot go into a model file")


def _encode_arrays(obj: Any) -> Any:
    """Plain data (from :func:`to_plain`) with every array as its (tag, dtype, shape, bytes)."""
    if isinstance(obj, np.ndarray):
        little = obj.astype(obj.dtype.newbyteorder("<"), order="C", copy=False)
        return (ARRAY_TAG, obj.dtype.name, tuple(int(n) for n in obj.shape), little.tobytes())
    if isinstance(obj, dict):
        return {key: _encode_arrays(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_encode_arrays(value) for value in obj]
    return obj


def decode_array(item: tuple) -> np.ndarray:
    """An array from its stored tuple; refuses any other tuple, dtype or inconsistent shape."""
    if len(item) != 4 or item[0] != ARRAY_TAG or not isinstance(item[1], str):
        raise PickleRefusedError("it holds a tuple that is not an array")
    _, dtype_name, shape, raw = item
    if dtype_name not in NUMERIC_DTYPES:
        raise PickleRefusedError(f"an array has the dtype {dtype_name[:20]}, which is not allowed")
    return checked_array(np.dtype(dtype_name).newbyteorder("<"), shape, raw, "C", FILE_LIMITS)


def plain_bytes(obj: Any, file_format: str) -> bytes:
    """The version-2 file content of ``obj`` (converted by :func:`to_plain`)."""
    payload = pickle.dumps(_encode_arrays(to_plain(obj)), protocol=_PICKLE_PROTOCOL)
    envelope = {"format": file_format, "format_version": PLAIN_FORMAT_VERSION,
                "payload_sha256": hashlib.sha256(payload).hexdigest(), "payload": payload}
    return pickle.dumps(envelope, protocol=_PICKLE_PROTOCOL)


def dump_plain(obj: Any, path: str | os.PathLike, file_format: str = "cnn-studio-data") -> None:
    """Write ``obj`` to ``path`` in format version 2, atomically."""
    atomic_write_bytes(path, plain_bytes(obj, file_format))


def _is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and value.get("format_version") == PLAIN_FORMAT_VERSION


def loads_plain(data: bytes, source: str) -> Any:
    """The content of a version-2 (or version-1) file's bytes; ``source`` names it in errors."""
    try:
        outer = restricted_loads(data, allow_numpy=False, limits=FILE_LIMITS)
    except PickleCallsError:
        return _loads_version1(data, source)  # NumPy's array pickles: version 1
    except PickleRefusedError as exc:
        raise _refusal(source, exc) from None
    if not _is_envelope(outer):
        return outer  # a version-1 file without arrays is plain data already
    payload, digest = outer.get("payload"), outer.get("payload_sha256")
    if not isinstance(payload, bytes) or not isinstance(digest, str):
        raise PlainFileError(f"{source} is damaged: its payload or checksum is missing")
    if hashlib.sha256(payload).hexdigest() != digest:
        raise PlainFileError(f"{source} is damaged: its content does not match its checksum")
    try:
        content = restricted_loads(payload, allow_numpy=False, limits=FILE_LIMITS,
                                   decode_tuple=decode_array)
    except PickleRefusedError as exc:
        raise _refusal(source, exc) from None
    if not isinstance(content, dict):
        raise PlainFileError(f"{source} is damaged: its content is not a table of fields")
    return content


def _loads_version1(data: bytes, source: str) -> Any:
    try:
        content = restricted_loads(data, allow_numpy=True, limits=FILE_LIMITS)
    except PickleRefusedError as exc:
        raise _refusal(source, exc) from None
    if isinstance(content, dict) and content.get("format_version", 1) != 1:
        raise PlainFileError(f"{source} is damaged: a version-2 file holds NumPy objects")
    return content


def _refusal(source: str, exc: PickleRefusedError) -> PlainFileError:
    text = str(exc)
    if isinstance(exc, PickleUnsafeError):
        return UnsafeFileError(f"{source}: refused to open: {text}")
    if text.startswith("it is damaged"):
        return PlainFileError(f"{source} is damaged: {text.removeprefix('it is damaged: ')}")
    return PlainFileError(f"{source} is damaged or not a CNN Studio file: {text}")


def load_plain(path: str | os.PathLike, max_bytes: int = FILE_LIMITS.max_bytes) -> Any:
    """Read a file written by :func:`dump_plain` (or a version-1 file), safely and bounded."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise PlainFileError(f"{path} is too large for a CNN Studio file ({size} bytes)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise PlainFileError(f"{path} is a folder, not a file") from None
    except PermissionError:
        raise PermissionError(f"{path} cannot be read (permission denied)") from None
    return loads_plain(data, str(path))
