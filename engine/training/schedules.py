"""Learning-rate schedules: ``make_schedule(...)`` returns ``lr_at(step) -> float``.

``step`` counts optimizer steps from 0 to ``total_steps - 1``; steps past the end keep the
last value. Every schedule may start with a linear warm-up over ``warmup_steps``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

SCHEDULES = ("constant", "step", "cosine", "onecycle", "triangle")


def _warmup(base_lr: float, warmup_steps: int, start_lr: float) -> Callable[[int], float]:
    def lr_at(step: int) -> float:
        return start_lr + (base_lr - start_lr) * (step / warmup_steps)

    return lr_at


def make_schedule(
    name: str,
    base_lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    **kw: Any,
) -> Callable[[int], float]:
    """Return ``lr_at(step)`` for one of :data:`SCHEDULES`.

    - ``constant``: ``base_lr`` (after the warm-up, if any).
    - ``step``: multiply by ``gamma`` (default 0.1) at each of ``milestones`` (step numbers;
      default: at 50 % and 75 % of the run); ``step_size=k`` instead decays every k steps.
    - ``cosine``: half a cosine from ``base_lr`` down to ``min_lr`` (default 0).
    - ``onecycle``: linear rise from ``base_lr / div_factor`` (default 10) to ``base_lr`` over
      ``warmup_steps`` (default: ``pct_start`` = 25 % of the run), then a cosine descent to
      ``base_lr / final_div_factor`` (default 1000) at the last step.
    - ``triangle``: airbench's: ``base_lr`` times a factor rising linearly from ``start``
      (0.2) at step 0 to 1 at step ``int(peak * total_steps)`` (peak 0.23), then falling
      linearly to ``end`` (0.07) at step ``total_steps``; its rise is its own warm-up
      (``warmup_steps`` is not used).

    For constant / step / cosine the warm-up rises linearly from ``base_lr / warmup_div``
    (default 10) to ``base_lr``.
    """
    key = str(name).lower()
    if key not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r} (choose from: {', '.join(SCHEDULES)})")
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
    if not isinstance(warmup_steps, int) or not 0 <= warmup_steps < total_steps:
        raise ValueError(
            f"warmup_steps must be an integer in [0, total_steps), got {warmup_steps!r}"
        )
    if not isinstance(base_lr, int | float) or base_lr <= 0:
        raise ValueError(f"base_lr must be a positive number, got {base_lr!r}")
    base_lr = float(base_lr)
    builder = {
        "constant": _constant,
        "step": _step,
        "cosine": _cosine,
        "onecycle": _onecycle,
        "triangle": _triangle,
    }[key]
    try:
        return builder(base_lr, total_steps, warmup_steps, **kw)
    except TypeError as exc:
        raise ValueError(f"bad options for schedule {key!r}: {exc}") from exc


def _with_warmup(
    after: Callable[[int], float], base_lr: float, warmup_steps: int, warmup_div: float
) -> Callable[[int], float]:
    if not warmup_steps:
        return after
    rise = _warmup(base_lr, warmup_steps, base_lr / warmup_div)

    def lr_at(step: int) -> float:
        return rise(step) if step < warmup_steps else after(step)

    return lr_at


def _constant(
    base_lr: float, total_steps: int, warmup_steps: int, warmup_div: float = 10.0
) -> Callable[[int], float]:
    return _with_warmup(lambda step: base_lr, base_lr, warmup_steps, warmup_div)


def _step(
    base_lr: float,
    total_steps: int,
    warmup_steps: int,
    gamma: float = 0.1,
    milestones: Sequence[int] | None = None,
    step_size: int | None = None,
    warmup_div: float = 10.0,
) -> Callable[[int], float]:
    if step_size is not None:
        if step_size < 1:
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")

        def after(step: int) -> float:
            return base_lr * gamma ** (step // step_size)

    else:
        marks = (
            sorted(milestones)
            if milestones is not None
            else [int(total_steps * 0.5), int(total_steps * 0.75)]
        )

        def after(step: int) -> float:
            return base_lr * gamma ** sum(step >= m for m in marks)

    return _with_warmup(after, base_lr, warmup_steps, warmup_div)


def _cosine(
    base_lr: float,
    total_steps: int,
    warmup_steps: int,
    min_lr: float = 0.0,
    warmup_div: float = 10.0,
) -> Callable[[int], float]:
    span = max(total_steps - 1 - warmup_steps, 1)

    def after(step: int) -> float:
        t = min(max(step - warmup_steps, 0) / span, 1.0)
        return min_lr + (base_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * t))

    return _with_warmup(after, base_lr, warmup_steps, warmup_div)


def _onecycle(
    base_lr: float,
    total_steps: int,
    warmup_steps: int,
    pct_start: float = 0.25,
    div_factor: float = 10.0,
    final_div_factor: float = 1000.0,
) -> Callable[[int], float]:
    if not warmup_steps:
        warmup_steps = max(1, min(round(total_steps * pct_start), total_steps - 1))
    start_lr = base_lr / div_factor
    end_lr = base_lr / final_div_factor
    span = max(total_steps - 1 - warmup_steps, 1)
    rise = _warmup(base_lr, warmup_steps, start_lr)

    def lr_at(step: int) -> float:
        if step < warmup_steps:
            return rise(step)
        t = min((step - warmup_steps) / span, 1.0)
        return end_lr + (base_lr - end_lr) * 0.5 * (1 + math.cos(math.pi * t))

    return lr_at


def _triangle(
    base_lr: float,
    total_steps: int,
    warmup_steps: int,
    start: float = 0.2,
    peak: float = 0.23,
    end: float = 0.07,
) -> Callable[[int], float]:
    top = int(peak * total_steps)
    if not 0 < top < total_steps:
        raise ValueError(f"peak must fall inside the run, got {peak!r} of {total_steps} steps")

    def lr_at(step: int) -> float:
        step = min(step, total_steps)
        if step < top:
            return base_lr * (start + (1.0 - start) * step / top)
        return base_lr * (1.0 + (end - 1.0) * (step - top) / (total_steps - top))

    return lr_at
