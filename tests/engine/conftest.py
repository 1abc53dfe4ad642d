"""Fixtures shared by the engine's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine import threads


@pytest.fixture
def restore_threads() -> Iterator[None]:
    """The engine's thread count and parallel mode as they were before the test."""
    n, mode = threads.get_num_threads(), threads.get_parallel_mode()
    yield
    threads.set_num_threads(n)
    threads.set_parallel_mode(mode)
