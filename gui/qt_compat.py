"""Work-arounds for defects of the installed Qt binding.

PySide6 6.12.0 on Python 3.11 returns ``True`` from ``SignalInstance.emit()`` without taking a
reference, so every emit from Python lowers the reference count of ``True`` by one. After a
few thousand emits (one training run) the interpreter aborts with "bool_dealloc: deallocating
True or False". :func:`emit` gives the reference back when — and only when — the running
binding has the defect (it is measured once, at import). Python 3.12+ makes ``True`` immortal,
and a fixed PySide6 makes the check come out false, so then this is a plain ``emit``.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance

_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


class _Probe(QObject):
    signal = Signal()


def _emit_drops_a_reference() -> bool:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(4):
        probe.signal.emit()
    return sys.getrefcount(True) < before


EMIT_DROPS_TRUE = _emit_drops_a_reference()
if EMIT_DROPS_TRUE:
    for _ in range(4):  # what the probe took
        _incref(True)


def emit(signal: SignalInstance, *args: Any) -> None:
    """``signal.emit(*args)``, keeping the interpreter's count of ``True`` right."""
    result = signal.emit(*args)
    if EMIT_DROPS_TRUE and result is True:
        _incref(True)
