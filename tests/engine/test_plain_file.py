"""Format version 2: plain values only, checksummed, bounded; version 1 still opens safely."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest

from engine.data.safe_pickle import PickleLimits, PickleRefusedError, restricted_loads
from engine.plain_file import (
    PlainFileError,
    UnsafeFileError,
    dump_plain,
    load_plain,
    loads_plain,
    plain_bytes,
)

CONTENT = {"format": "x", "a": np.arange(6, dtype=np.float32).reshape(2, 3),
           "b": [1, 2.5, "t", None, True, b"raw"], "c": {"d": np.array([1, -2], np.int64)}}


def _same(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b and type(a) is type(b)


def test_round_trip_is_exact_and_arrays_are_writable(tmp_path):
    dump_plain(CONTENT, tmp_path / "f.pkl")
    out = load_plain(tmp_path / "f.pkl")
    assert _same(CONTENT, out)
    out["a"][0, 0] = 7  # the optimizer updates loaded state in place


def test_big_endian_arrays_come_back_native():
    out = loads_plain(plain_bytes({"a": np.arange(3, dtype=">f8")}, "x"), "f")
    assert out["a"].dtype == np.float64 and out["a"].tolist() == [0, 1, 2]


def test_version_1_files_open_with_arrays_rebuilt_from_bytes():
    data = pickle.dumps({"format_version": 1, "a": np.arange(4, dtype=np.int16),
                         "f": np.asfortranarray(np.arange(6.0).reshape(2, 3))}, protocol=4)
    out = loads_plain(data, "old.pkl")
    assert out["a"].tolist() == [0, 1, 2, 3]
    assert out["f"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_every_flipped_payload_byte_is_refused_as_damaged():
    data = bytearray(plain_bytes(CONTENT, "x"))
    start = data.index(b"payload") + 20
    for offset in range(start, len(data) - 4, 7):
        damaged = bytearray(data)
        damaged[offset] ^= 0x10
        with pytest.raises(PlainFileError, match=r"^f\.pkl.* damaged"):
            loads_plain(bytes(damaged), "f.pkl")


def _envelope(payload: bytes) -> bytes:
    return pickle.dumps({"format": "x", "format_version": 2, "payload": payload,
                         "payload_sha256": hashlib.sha256(payload).hexdigest()}, protocol=4)


@pytest.mark.parametrize("content, message", [
    ({"a": ("ndarray", "object", (1,), b"\0" * 8)}, "not allowed"),
    ({"a": ("ndarray", "float32", (1 << 40, 1 << 40), b"")}, "shape|elements"),
    ({"a": ("ndarray", "float32", (3,), b"\0" * 8)}, "needs 12 bytes"),
    ({"a": ("ndarray", "float32", (-1,), b"")}, "shape"),
    ({"a": ("other", 1)}, "not an array"),
    ({"a": {1.5: 2}}, "key"),
])
def test_malformed_arrays_are_refused_before_allocation(content, message):
    with pytest.raises(PlainFileError, match=message):
        loads_plain(_envelope(pickle.dumps(content, protocol=4)), "f.pkl")


def test_a_global_inside_the_payload_is_unsafe_even_with_a_good_checksum():
    payload = pickle.dumps({"a": np.arange(2)}, protocol=4)
    with pytest.raises(UnsafeFileError, match="refused to open"):
        loads_plain(_envelope(payload), "f.pkl")


def test_reference_bomb_self_reference_and_depth_are_refused_quickly():
    x: list = []
    for _ in range(40):  # 2**40 paths: walking them would never end
        x = [x, x]
    with pytest.raises(PickleRefusedError, match="shared-reference"):
        restricted_loads(pickle.dumps(x), allow_numpy=False)
    loop: list = []
    loop.append(loop)
    with pytest.raises(PickleRefusedError, match="itself"):
        restricted_loads(pickle.dumps(loop), allow_numpy=False)
    deep = b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b"."  # lists nested 100,000 deep
    with pytest.raises(PickleRefusedError, match="deeper"):
        restricted_loads(deep, allow_numpy=False)


def test_a_huge_memo_index_is_refused_before_unpickling():
    data = b"\x80\x04N\x94r\xff\xff\xff\xff."  # LONG_BINPUT 2**32-1
    with pytest.raises(PickleRefusedError, match="memo"):
        restricted_loads(data, allow_numpy=False)


def test_limits_on_values_and_size():
    with pytest.raises(PickleRefusedError, match="more than 10 values"):
        restricted_loads(pickle.dumps(list(range(20))), allow_numpy=False,
                         limits=PickleLimits(max_items=10))
    with pytest.raises(PickleRefusedError, match="larger than"):
        restricted_loads(pickle.dumps(b"x" * 100), allow_numpy=False,
                         limits=PickleLimits(max_bytes=50))


def test_files_are_written_with_the_umask(tmp_path):
    import os

    old = os.umask(0o027)
    try:
        dump_plain({"a": 1}, tmp_path / "f.pkl")
    finally:
        os.umask(old)
    assert (tmp_path / "f.pkl").stat().st_mode & 0o777 == 0o640


def test_a_failed_write_names_the_file_not_the_temporary_and_leaves_nothing(tmp_path):
    from engine.atomic_files import atomic_write_bytes

    (tmp_path / "a-file").write_text("x")
    with pytest.raises(OSError) as info:
        atomic_write_bytes(tmp_path / "a-file" / "m.pkl", b"data")
    assert str(info.value).startswith(f"cannot write {tmp_path / 'a-file' / 'm.pkl'}: ")
    assert ".tmp" not in str(info.value) and "Errno" not in str(info.value)
    (tmp_path / "m.pkl").write_bytes(b"old")
    with pytest.raises(UnicodeEncodeError):
        from engine.atomic_files import atomic_write_text

        atomic_write_text(tmp_path / "m.pkl", "\udce9 not encodable")
    assert (tmp_path / "m.pkl").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "m.pkl"]


@pytest.mark.parametrize(("data", "reason"), [
    (pickle.dumps({"state": b"x" * 4000}, protocol=4)[:2000], "it is cut short"),
    (b"\x80\x04h\x65.", "its pickle instructions do not fit together"),  # memo 101 never put
    (b"\x80\x04", "it is cut short"),
])
def test_damage_is_said_in_words_not_in_the_pickle_library_s_text(tmp_path, data, reason):
    path = tmp_path / "m.pkl"
    path.write_bytes(data)
    with pytest.raises(PlainFileError) as info:
        load_plain(path)
    assert str(info.value) == f"{path} is damaged: {reason}"
