"""The engine's thread settings: validation, the pool, and BLAS held to one thread."""

from __future__ import annotations

import threading

import pytest

import engine
from engine import threads


def test_set_and_get_num_threads(restore_threads):
    engine.set_num_threads(3)
    assert engine.get_num_threads() == 3
    engine.set_num_threads(1)
    assert engine.get_num_threads() == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_set_num_threads_refuses_bad_values(bad, restore_threads):
    with pytest.raises(ValueError, match="positive integer"):
        engine.set_num_threads(bad)


def test_parallel_mode(restore_threads):
    threads.set_parallel_mode("filters")
    assert threads.get_parallel_mode() == "filters"
    with pytest.raises(ValueError, match="got 'rows'"):
        threads.set_parallel_mode("rows")


def test_parallel_map_keeps_order_and_uses_several_threads(restore_threads):
    engine.set_num_threads(3)
    barrier = threading.Barrier(3, timeout=5)  # fails unless three tasks run at once

    def task(k: int) -> tuple[int, str]:
        barrier.wait()
        return k * k, threading.current_thread().name

    results = threads.parallel_map(task, [(k,) for k in range(3)])
    assert [r[0] for r in results] == [0, 1, 4]
    assert len({r[1] for r in results}) == 3


def test_parallel_chunks_does_every_chunk_once_and_a_free_thread_takes_more(restore_threads):
    engine.set_num_threads(2)
    held = threading.Event()
    done: list[tuple[int, int]] = []  # (part, chunk)

    def task(part: int, i: int) -> None:
        if i == 0:  # the first chunk holds its thread until the other has done the rest
            assert held.wait(timeout=5)
        done.append((part, i))
        if len(done) == 6:
            held.set()

    threads.parallel_chunks(task, 7)
    assert sorted(i for _, i in done) == list(range(7))
    slow = next(part for part, i in done if i == 0)
    assert [part for part, i in done if i != 0] == [1 - slow] * 6


def test_parallel_chunks_with_fewer_chunks_than_threads(restore_threads):
    engine.set_num_threads(3)
    parts: list[int] = []
    threads.parallel_chunks(lambda part, i: parts.append(part), 2)
    assert len(parts) == 2 and set(parts) <= {0, 1}
    threads.parallel_chunks(lambda part, i: parts.append(part), 0)
    assert len(parts) == 2


def test_blas_is_held_to_one_thread(restore_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    engine.set_num_threads(2)
    blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    assert blas, "no BLAS library found"
    assert all(p["num_threads"] == 1 for p in blas)


def test_split_range():
    assert threads.split_range(7, 3) == [(0, 2), (2, 4), (4, 7)]
    assert threads.split_range(2, 5) == [(0, 1), (1, 2)]
    assert threads.split_range(0, 2) == []
