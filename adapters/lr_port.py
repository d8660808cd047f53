"""MindSpore's learning-rate schedules as a user porting a model would write them.

Adapters whose library has no equivalent schedule (torch LambdaLR, an optax callable) evaluate
these. They are a port, written from MindSpore's ``construct`` methods and ``nn.dynamic_lr``
builders, not a copy of the reference: adapters never import the reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any


def _p(s: float, d: float, stair: bool) -> float:
    return math.floor(s / d) if stair else s / d


LR_SCHEDULES: dict[str, Callable[..., float]] = {
    "ExponentialDecayLR": lambda s, learning_rate, decay_rate, decay_steps, is_stair=False:
        learning_rate * math.pow(decay_rate, _p(s, decay_steps, is_stair)),
    "NaturalExpDecayLR": lambda s, learning_rate, decay_rate, decay_steps, is_stair=False:
        learning_rate * math.exp(-decay_rate * (_p(s, decay_steps, True) * decay_steps if is_stair else s)),
    "InverseDecayLR": lambda s, learning_rate, decay_rate, decay_steps, is_stair=False:
        learning_rate / (1.0 + decay_rate * _p(s, decay_steps, is_stair)),
    "CosineDecayLR": lambda s, min_lr, max_lr, decay_steps:
        min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.sin(math.pi * (min(s, decay_steps) / decay_steps + 0.5))),
    "PolynomialDecayLR": lambda s, learning_rate, end_learning_rate, decay_steps, power, update_decay_steps=False:
        (learning_rate - end_learning_rate)
        * math.pow(1.0 - (s / (decay_steps * max(math.ceil(s / decay_steps), 1)) if update_decay_steps
                          else min(s, decay_steps) / decay_steps), power) + end_learning_rate,
    "WarmUpLR": lambda s, learning_rate, warmup_steps: learning_rate * min(s, warmup_steps) / warmup_steps,
}


def schedule_at(name: str, args: Mapping[str, Any], step: int) -> float:
    """A LearningRateSchedule's value at global step ``step`` (0 at the first update)."""
    return float(LR_SCHEDULES[name](float(step), **args))


def _epoch_values(fn: Callable[[int], float], total_step: int, step_per_epoch: int) -> list[float]:
    return [fn(i // step_per_epoch) for i in range(total_step)]


def dynamic_lr_list(name: str, args: Mapping[str, Any]) -> list[float]:
    """The list an ``nn.dynamic_lr`` builder returns (what the optimizer receives)."""
    a = dict(args)
    if name == "piecewise_constant_lr":
        out: list[float] = []
        prev = 0
        for stop, lr in zip(a["milestone"], a["learning_rates"]):
            out.extend([lr] * (stop - prev))
            prev = stop
        return out
    total, spe = a.pop("total_step"), a.pop("step_per_epoch")
    if name == "cosine_decay_lr":
        lo, hi, d = a["min_lr"], a["max_lr"], a["decay_epoch"]
        return _epoch_values(lambda e: lo + 0.5 * (hi - lo) * (1 + math.cos(math.pi * min(e, d) / d)), total, spe)
    if name == "warmup_lr":
        lr, w = a["learning_rate"], a["warmup_epoch"]
        return _epoch_values(lambda e: lr * min(e, w) / w, total, spe)
    lr, d = a["learning_rate"], a["decay_epoch"]
    if name == "polynomial_decay_lr":
        end, power = a["end_learning_rate"], a["power"]
        if a.get("update_decay_epoch", False):
            return _epoch_values(lambda e: (lr - end) * (1 - e / (d * max(math.ceil(e / d), 1))) ** power + end,
                                 total, spe)
        return _epoch_values(lambda e: (lr - end) * (1 - min(e, d) / d) ** power + end, total, spe)
    rate, stair = a["decay_rate"], a.get("is_stair", False)
    if name == "exponential_decay_lr":
        return _epoch_values(lambda e: lr * rate ** _p(e, d, stair), total, spe)
    if name == "natural_exp_decay_lr":
        return _epoch_values(lambda e: lr * math.e ** (-rate * (math.floor(e / d) * d if stair else e)), total, spe)
    if name == "inverse_decay_lr":
        return _epoch_values(lambda e: lr / (1 + rate * _p(e, d, stair)), total, spe)
    raise ValueError(f"unknown dynamic_lr builder {name!r}")
