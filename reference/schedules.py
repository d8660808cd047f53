"""MindSpore's learning-rate schedules as data, evaluated the way MindSpore executes them.

A schedule is plain data -- a name and keyword arguments -- so a case can carry it in JSON and
every adapter can map it onto its own library's schedule. The formulas are the ones MindSpore 2.10
runs (``learning_rate_schedule.py`` ``construct`` and ``dynamic_lr.py``), not its docstrings: e.g.
NaturalExpDecayLR decays with ``rate * s``, not ``rate * s / decay_steps`` (SPEC-NOTES section 3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple


class Schedule(NamedTuple):
    """A ``LearningRateSchedule`` called with the global step (0 at the first update)."""

    name: str
    args: Mapping[str, Any]


class DynamicLR(NamedTuple):
    """An ``nn.dynamic_lr`` list builder: the optimizer receives the list it returns."""

    name: str
    args: Mapping[str, Any]


def _exponential_decay(s: float, learning_rate: float, decay_rate: float, decay_steps: int,
                       is_stair: bool = False) -> float:
    p = s / decay_steps
    if is_stair:
        p = math.floor(p)
    return learning_rate * decay_rate**p


def _natural_exp_decay(s: float, learning_rate: float, decay_rate: float, decay_steps: int,
                       is_stair: bool = False) -> float:
    # MindSpore multiplies the rate by the step itself; decay_steps only matters for the staircase.
    p = math.floor(s / decay_steps) * decay_steps if is_stair else s
    return learning_rate * math.exp(-decay_rate * p)


def _inverse_decay(s: float, learning_rate: float, decay_rate: float, decay_steps: int,
                   is_stair: bool = False) -> float:
    p = s / decay_steps
    if is_stair:
        p = math.floor(p)
    return learning_rate / (1.0 + decay_rate * p)


def _cosine_decay(s: float, min_lr: float, max_lr: float, decay_steps: int) -> float:
    p = min(s, decay_steps) / decay_steps
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * p))


def _polynomial_decay(s: float, learning_rate: float, end_learning_rate: float, decay_steps: int,
                      power: float, update_decay_steps: bool = False) -> float:
    if update_decay_steps:
        d = decay_steps * max(math.ceil(s / decay_steps), 1)
        p = s / d
    else:
        p = min(s, decay_steps) / decay_steps
    return (learning_rate - end_learning_rate) * (1.0 - p) ** power + end_learning_rate


def _warmup(s: float, learning_rate: float, warmup_steps: int) -> float:
    return learning_rate * min(s, warmup_steps) / warmup_steps


SCHEDULES: dict[str, Callable[..., float]] = {
    "ExponentialDecayLR": _exponential_decay,
    "NaturalExpDecayLR": _natural_exp_decay,
    "InverseDecayLR": _inverse_decay,
    "CosineDecayLR": _cosine_decay,
    "PolynomialDecayLR": _polynomial_decay,
    "WarmUpLR": _warmup,
}


def schedule_value(schedule: Schedule, step: int) -> float:
    """The learning rate a schedule gives at global step ``step`` (0 for the first update)."""
    try:
        fn = SCHEDULES[schedule.name]
    except KeyError:
        raise ValueError(f"unknown schedule {schedule.name!r}; known: {', '.join(SCHEDULES)}") from None
    try:
        return float(fn(float(step), **schedule.args))
    except OverflowError:  # Python floats raise where float64 arithmetic gives inf
        return math.inf


def _epochs(total_step: int, step_per_epoch: int) -> list[int]:
    return [i // step_per_epoch for i in range(total_step)]


def piecewise_constant_lr(milestone: list[int], learning_rates: list[float]) -> list[float]:
    out: list[float] = []
    last = 0
    for item, lr in zip(milestone, learning_rates, strict=True):
        out += [lr] * (item - last)
        last = item
    return out


def exponential_decay_lr(learning_rate: float, decay_rate: float, total_step: int, step_per_epoch: int,
                         decay_epoch: int, is_stair: bool = False) -> list[float]:
    return [learning_rate * decay_rate ** (math.floor(e / decay_epoch) if is_stair else e / decay_epoch)
            for e in _epochs(total_step, step_per_epoch)]


def natural_exp_decay_lr(learning_rate: float, decay_rate: float, total_step: int, step_per_epoch: int,
                         decay_epoch: int, is_stair: bool = False) -> list[float]:
    # decay_epoch is ignored unless is_stair, as in MindSpore.
    return [learning_rate * math.e ** (-decay_rate * (math.floor(e / decay_epoch) * decay_epoch
                                                      if is_stair else e))
            for e in _epochs(total_step, step_per_epoch)]


def inverse_decay_lr(learning_rate: float, decay_rate: float, total_step: int, step_per_epoch: int,
                     decay_epoch: int, is_stair: bool = False) -> list[float]:
    return [learning_rate / (1 + decay_rate * (math.floor(e / decay_epoch) if is_stair else e / decay_epoch))
            for e in _epochs(total_step, step_per_epoch)]


def cosine_decay_lr(min_lr: float, max_lr: float, total_step: int, step_per_epoch: int,
                    decay_epoch: int) -> list[float]:
    delta = 0.5 * (max_lr - min_lr)
    return [min_lr + delta * (1 + math.cos(math.pi * min(e, decay_epoch) / decay_epoch))
            for e in _epochs(total_step, step_per_epoch)]


def polynomial_decay_lr(learning_rate: float, end_learning_rate: float, total_step: int, step_per_epoch: int,
                        decay_epoch: int, power: float, update_decay_epoch: bool = False) -> list[float]:
    out = []
    for e in _epochs(total_step, step_per_epoch):
        if update_decay_epoch:
            d, p = decay_epoch * max(math.ceil(e / decay_epoch), 1), e
        else:
            d, p = decay_epoch, min(e, decay_epoch)
        out.append((learning_rate - end_learning_rate) * (1 - p / d) ** power + end_learning_rate)
    return out


def warmup_lr(learning_rate: float, total_step: int, step_per_epoch: int, warmup_epoch: int) -> list[float]:
    return [learning_rate * min(e, warmup_epoch) / warmup_epoch for e in _epochs(total_step, step_per_epoch)]


DYNAMIC_LR: dict[str, Callable[..., list[float]]] = {
    "piecewise_constant_lr": piecewise_constant_lr,
    "exponential_decay_lr": exponential_decay_lr,
    "natural_exp_decay_lr": natural_exp_decay_lr,
    "inverse_decay_lr": inverse_decay_lr,
    "cosine_decay_lr": cosine_decay_lr,
    "polynomial_decay_lr": polynomial_decay_lr,
    "warmup_lr": warmup_lr,
}


def dynamic_lr_values(builder: DynamicLR) -> list[float]:
    """The Python list MindSpore's ``nn.dynamic_lr`` builder of that name returns."""
    try:
        fn = DYNAMIC_LR[builder.name]
    except KeyError:
        raise ValueError(f"unknown dynamic_lr builder {builder.name!r}; known: {', '.join(DYNAMIC_LR)}") from None
    try:
        return [float(x) for x in fn(**builder.args)]
    except OverflowError:  # as schedule_value: an overflowing list is a list of infs, value by value
        return [_overflowing(fn, builder.args, i) for i in range(int(builder.args.get("total_step", 0)))]


def _overflowing(fn: Callable[..., list[float]], args: Mapping[str, Any], i: int) -> float:
    try:
        return float(fn(**{**args, "total_step": i + 1})[-1])
    except OverflowError:
        return math.inf
