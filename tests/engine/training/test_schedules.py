"""Learning-rate schedules: values at chosen steps."""

from __future__ import annotations

import math

import pytest

from engine.training.schedules import make_schedule


def test_constant_with_warmup():
    lr = make_schedule("constant", 0.1, 100, warmup_steps=10)
    assert lr(0) == pytest.approx(0.01)
    assert lr(5) == pytest.approx(0.01 + 0.09 * 0.5)
    assert lr(10) == lr(99) == pytest.approx(0.1)


def test_step_default_milestones_and_step_size():
    lr = make_schedule("step", 1.0, 100)
    assert [lr(49), lr(50), lr(74), lr(75)] == pytest.approx([1.0, 0.1, 0.1, 0.01])
    lr = make_schedule("step", 1.0, 100, step_size=30, gamma=0.5)
    assert [lr(29), lr(30), lr(90)] == pytest.approx([1.0, 0.5, 0.125])


def test_cosine():
    lr = make_schedule("cosine", 0.2, 101)
    assert lr(0) == pytest.approx(0.2)
    assert lr(50) == pytest.approx(0.1)
    assert lr(100) == pytest.approx(0.0, abs=1e-12)
    assert lr(25) == pytest.approx(0.1 * (1 + math.cos(math.pi / 4)))


def test_onecycle():
    lr = make_schedule("onecycle", 0.4, 101, warmup_steps=20)
    assert lr(0) == pytest.approx(0.04)
    assert lr(10) == pytest.approx(0.04 + 0.36 / 2)
    assert lr(20) == pytest.approx(0.4)
    assert lr(100) == pytest.approx(0.4 / 1000)
    values = [lr(s) for s in range(101)]
    assert max(values) == pytest.approx(0.4)
    assert values[20:] == sorted(values[20:], reverse=True)


def test_onecycle_default_warmup_is_a_quarter():
    lr = make_schedule("onecycle", 1.0, 200)
    assert lr(50) == pytest.approx(1.0)
    assert lr(49) < 1.0 and lr(51) < 1.0


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("linear", 0.1, 10), {}, "unknown schedule 'linear'"),
        (("cosine", 0.1, 0), {}, "total_steps must be a positive integer"),
        (("cosine", 0.1, 10), {"warmup_steps": 10}, "warmup_steps must be an integer"),
        (("cosine", -0.1, 10), {}, "base_lr must be a positive number"),
        (("cosine", 0.1, 10), {"gamma": 0.5}, "bad options for schedule 'cosine'"),
    ],
)
def test_validation(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_schedule(*args, **kwargs)
