"""Hand-made hostile files, by family: each must be refused with one line, never crash or hang."""

from __future__ import annotations

import hashlib
import pickle
import struct

import numpy as np


def _v2(content: object, file_format: str) -> bytes:
    payload = pickle.dumps(content, protocol=4)
    return pickle.dumps({"format": file_format, "format_version": 2, "payload": payload,
                         "payload_sha256": hashlib.sha256(payload).hexdigest()}, protocol=4)


def _unicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


# An object array over 16 forged pointer bytes, built by the numpy.ndarray constructor that the
# version-1 loader admitted as a callable, placed where the loader reads it (format_version).
OBJECT_ARRAY_OVER_RAW_BYTES = (
    b"\x80\x02}(" + _unicode("format") + _unicode("cnn-studio-model") + _unicode("format_version")
    + b"cnumpy\nndarray\n(K\x02\x85cnumpy\ndtype\n" + _unicode("O") + b"\x85RC\x10"
    + b"\x41" * 16 + b"tRu.")
# 60 bytes that crashed the version-1 loader (SIGSEGV): an object array over 8 forged pointer
# bytes, passed as the shape of another numpy.ndarray call, which reads the "pointer".
POINTER_AS_SHAPE = (
    b"\x80\x04cnumpy\nndarray\n\x94h\x00(K\x01\x85cnumpy\ndtype\n" + _unicode("O")
    + b"\x85RC\x08" + b"\x41" * 8 + b"tR\x85R.")
# The same through _reconstruct + BUILD with an object dtype and bytes as its data.
RECONSTRUCT_OBJECT = (
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
    b"(K\x01K\x02\x85cnumpy\ndtype\n" + _unicode("O8") + b"K\x00K\x01\x87R\x89C\x10"
    + b"\x41" * 16 + b"tb.")
# A version-1 array of 2**62 elements whose data is 4 bytes.
V1_HUGE_SHAPE = (
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
    b"(K\x01J\xff\xff\xff\x7fJ\xff\xff\xff\x7f\x86cnumpy\ndtype\n" + _unicode("f4")
    + b"K\x00K\x01\x87R\x89C\x04\0\0\0\0tb.")
# A BUILD that tries to overwrite the attributes of a name the loader hands out.
BUILD_ON_A_NUMPY_NAME = b"\x80\x02cnumpy\ndtype\n}" + _unicode("__init__") + b"K\x01sb."


def _reference_bomb(depth: int) -> list:
    x: list = []
    for _ in range(depth):
        x = [x, x]
    return x


def _self_reference() -> tuple[list, dict]:
    loop: list = []
    loop.append(loop)
    table: dict = {}
    table["me"] = table
    return loop, table


def crafted_cases(model: dict, checkpoint: dict) -> list[tuple[str, str, bytes]]:
    """(family, which loader: "model" | "checkpoint", file bytes) for every crafted case.

    ``model`` and ``checkpoint``: the decoded content of the fuzzed originals (to place hostile
    values among otherwise valid fields)."""
    m_fmt, c_fmt = "cnn-studio-model", "cnn-studio-checkpoint"
    loop, table = _self_reference()
    bomb = _reference_bomb(60)
    cases: list[tuple[str, str, bytes]] = []

    def both(family: str, make) -> None:
        cases.append((family, "model", make(model, m_fmt)))
        cases.append((family, "checkpoint", make(checkpoint, c_fmt)))

    def with_value(key: str, value: object):
        return lambda content, fmt: _v2({**content, key: value}, fmt)

    for raw in (POINTER_AS_SHAPE, OBJECT_ARRAY_OVER_RAW_BYTES, RECONSTRUCT_OBJECT,
                BUILD_ON_A_NUMPY_NAME):
        cases += [("constructor abuse over raw bytes", "model", raw),
                  ("constructor abuse over raw bytes", "checkpoint", raw)]
    both("constructor abuse over raw bytes", lambda c, f: _v2(
        {"format": f, "x": ("ndarray", "float32", (2,), b"\0" * 8)}, f)[:-1] + b"\x93.")
    both("object dtypes", lambda c, f: pickle.dumps(
        {**c, "format_version": 1, "x": np.array([1, "a"], dtype=object)}, protocol=4))
    both("object dtypes", with_value("x", ("ndarray", "object", (2,), b"\x41" * 16)))
    both("object dtypes", with_value("x", ("ndarray", "<U4", (1,), b"\0" * 16)))
    both("object dtypes", lambda c, f: pickle.dumps(
        {**c, "format_version": 1, "x": np.zeros(2, dtype=[("a", "O")])}, protocol=2))
    both("reference bombs", with_value("history", bomb))
    both("reference bombs", lambda c, f: pickle.dumps(
        {"format": f, "format_version": 1, "state": bomb}, protocol=4))
    both("self-reference", with_value("history", loop))
    both("self-reference", with_value("metrics", table))
    both("deep nesting", lambda c, f: b"\x80\x02" + b"]" * 50_000 + b"a" * 49_999 + b".")
    both("deep nesting", with_value("history", _nested_dicts(400)))
    both("huge shapes", with_value("x", ("ndarray", "float32", (1 << 31, 1 << 31), b"")))
    both("huge shapes", with_value("x", ("ndarray", "float64", (1 << 62, 4), b"\0" * 32)))
    cases.append(("huge shapes", "model", _v2({**model, "input_shape": [10**6, 10**6, 3]},
                                              m_fmt)))
    cases.append(("huge shapes", "model", _v2(
        {**model, "spec": [{"type": "flatten"}, {"type": "dense", "units": 10**9}]}, m_fmt)))
    cases.append(("huge shapes", "model", _v2(
        {**model, "spec": [{"type": "conv2d", "filters": 10**7, "kernel_size": 3}]}, m_fmt)))
    both("huge shapes", lambda c, f: b"\x80\x04N\x94r\xff\xff\xff\xff.")  # memo index 2**32-1
    both("huge shapes", lambda c, f: b"\x80\x04\x8e" + struct.pack("<Q", 1 << 62) + b"ab.")
    both("huge shapes", lambda c, f: V1_HUGE_SHAPE)
    both("code", lambda c, f: b"\x80\x02cos\nsystem\n" + _unicode("true") + b"\x85R.")
    both("code", lambda c, f: b"\x80\x02cbuiltins\neval\n" + _unicode("1") + b"\x85R.")
    both("code", lambda c, f: b"\x80\x02(cos\nsystem\n" + _unicode("true") + b"o.")
    both("code", lambda c, f: b"\x80\x02" + _unicode("x") + b"Q.")  # persistent id
    both("code", lambda c, f: b"\x80\x02\x82\x01.")  # EXT1
    return cases


def _nested_dicts(depth: int) -> bytes:
    """A pickle-able value nested ``depth`` dicts deep, built without recursion."""
    inner: dict = {}
    for _ in range(depth):
        inner = {"d": inner}
    return inner
