"""Seeded mutations of a model or checkpoint file: case number -> (family, bytes, must_match).

``must_match`` is True when the mutation leaves the checksum as it was: such a file must load
identical to the original or be refused. Mutations that re-sign the payload (recompute its
SHA-256, as someone editing a file on purpose would) make a well-formed file with other
content; those must load or be refused, and a loaded network must still be consistent.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import pickletools

import numpy as np

BYTE_FAMILIES = ("flip", "truncate", "insert", "delete", "outer-opcode")
SIGNED_FAMILIES = ("signed-flip", "signed-opcode", "field-type-swap")
FAMILIES = BYTE_FAMILIES + SIGNED_FAMILIES

_SWAP_VALUES = (7, -1, 2.5, float("nan"), "text", b"raw", None, True, [], {}, [1, "x"],
                {"k": 1}, ("ndarray", "float32", (1,), b"\0\0\0\0"))


def _opcode_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every opcode in ``data`` (a valid pickle)."""
    ops = [pos for _, _, pos in pickletools.genops(io.BytesIO(data))]
    return list(zip(ops, [*ops[1:], len(data)], strict=True))


def _opcode_mutation(data: bytes, rng: np.random.Generator) -> bytes:
    spans = _opcode_spans(data)
    start, end = spans[int(rng.integers(len(spans)))]
    choice = int(rng.integers(4))
    if choice == 0:  # another opcode byte in its place
        return data[:start] + bytes([int(rng.integers(256))]) + data[start + 1:]
    if choice == 1:  # the opcode twice
        return data[:end] + data[start:end] + data[end:]
    if choice == 2:  # the opcode dropped
        return data[:start] + data[end:]
    other_start, other_end = spans[int(rng.integers(len(spans)))]
    if other_start < start:
        start, end, other_start, other_end = other_start, other_end, start, end
    if other_start < end:
        return data
    return (data[:start] + data[other_start:other_end] + data[end:other_start]
            + data[start:end] + data[other_end:])


def _flip(data: bytes, rng: np.random.Generator, count: int) -> bytes:
    out = bytearray(data)
    for _ in range(count):
        out[int(rng.integers(len(out)))] ^= int(rng.integers(1, 256))
    return bytes(out)


def _swap_a_field(content: object, rng: np.random.Generator) -> object:
    """``content`` with one value, anywhere in the tree, replaced by a value of another type."""
    paths: list[tuple] = []

    def collect(obj: object, path: tuple) -> None:
        paths.append(path)
        if isinstance(obj, dict):
            for key, value in obj.items():
                collect(value, (*path, key))
        elif isinstance(obj, list):
            for i, value in enumerate(obj):
                collect(value, (*path, i))

    collect(content, ())
    path = paths[1 + int(rng.integers(len(paths) - 1))]
    swapped = pickle.loads(pickle.dumps(content))
    holder = swapped
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = _SWAP_VALUES[int(rng.integers(len(_SWAP_VALUES)))]
    return swapped


def _resign(envelope: dict, payload: bytes) -> bytes:
    out = dict(envelope, payload=payload, payload_sha256=hashlib.sha256(payload).hexdigest())
    return pickle.dumps(out, protocol=4)


def mutate(original: bytes, case: int, seed: int) -> tuple[str, bytes, bool]:
    """The ``case``-th mutation of ``original`` (a version-2 file), from seed ``seed``."""
    rng = np.random.default_rng([seed, case])
    family = FAMILIES[case % len(FAMILIES)]
    n = len(original)
    if family == "flip":
        return family, _flip(original, rng, 1 + int(rng.integers(4))), True
    if family == "truncate":
        return family, original[:int(rng.integers(n))], True
    if family == "insert":
        at = int(rng.integers(n + 1))
        junk = rng.integers(0, 256, 1 + int(rng.integers(16))).astype(np.uint8).tobytes()
        return family, original[:at] + junk + original[at:], True
    if family == "delete":
        at = int(rng.integers(n))
        return family, original[:at] + original[at + 1 + int(rng.integers(16)):], True
    if family == "outer-opcode":
        return family, _opcode_mutation(original, rng), True
    envelope = pickle.loads(original)  # our own trusted original: plain pickle is fine here
    payload = envelope["payload"]
    if family == "signed-flip":
        return family, _resign(envelope, _flip(payload, rng, 1 + int(rng.integers(3)))), False
    if family == "signed-opcode":
        return family, _resign(envelope, _opcode_mutation(payload, rng)), False
    swapped = _swap_a_field(pickle.loads(payload), rng)
    return family, _resign(envelope, pickle.dumps(swapped, protocol=4)), False
