"""The seed's "Raises" section, one small check per line, plus the malformed-group rules.

Messages name the argument so a user reading a failure knows which one was refused. Where the seed
is silent, the exception type is MindSpore 2.10's (SPEC-NOTES section 1, rule 1; the decisions of
section 5: non-finite hyperparameters, iterators, duplicates, ``[]``/None, a bare Parameter).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .schedules import DynamicLR, Schedule

GROUP_KEYS = ("params", "lr", "weight_decay", "grad_centralization", "order_params")


def _is_real(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_learning_rate(lr: object, name: str = "learning_rate") -> None:
    """VAL-LR-TYPE, VAL-LR-RANGE."""
    if isinstance(lr, (Schedule, DynamicLR)):
        return
    if isinstance(lr, (int, float)):  # bool is an int: MindSpore takes True as 1.0
        if not math.isfinite(lr) or lr < 0:  # SPEC-NOTES 5: inf and nan are not legal values
            raise ValueError(f"{name} must be a finite float or int >= 0, got {lr!r}")
        return
    if isinstance(lr, np.ndarray):
        if lr.ndim > 1:
            raise ValueError(f"{name} as a Tensor must be 0-d or 1-d, got {lr.ndim}-d")
        return
    if isinstance(lr, Iterable) and not isinstance(lr, (str, bytes, Mapping)):
        return
    raise TypeError(f"{name} must be int, float, Tensor, Iterable or LearningRateSchedule, got {type(lr).__name__}")


def check_float(value: object, name: str) -> None:
    """VAL-FLOAT-TYPE: beta1, beta2, eps and loss_scale must be floats (an int is not)."""
    if not isinstance(value, float):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}")


def check_beta(value: object, name: str) -> None:
    """VAL-BETA-RANGE: the open interval (0, 1); nan is not in it."""
    check_float(value, name)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in the open interval (0.0, 1.0), got {value!r}")


def check_positive(value: object, name: str) -> None:
    """VAL-POSITIVE: eps and loss_scale must be > 0 (and finite: SPEC-NOTES section 5)."""
    check_float(value, name)
    if not 0.0 < value < math.inf:
        raise ValueError(f"{name} must be a finite float greater than 0, got {value!r}")


def check_weight_decay(value: object, name: str = "weight_decay") -> None:
    """VAL-WD-TYPE (a bool is not a number here, as MindSpore's type check), VAL-WD-RANGE (finite, >= 0)."""
    if not _is_real(value):
        raise TypeError(f"{name} must be a float or int, got {type(value).__name__}")
    if not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a finite value >= 0, got {value!r}")


def check_bool(value: object, name: str) -> None:
    """VAL-BOOL-TYPE."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")


def read_params(params: object, param_type: type) -> list[Any]:
    """VAL-PARAM-TYPE: the ``params`` argument read once into a list (an iterator is consumed here).

    Interpretation (SPEC-NOTES section 5): any iterable of Parameters or dicts, a one-shot iterator
    included; None or an empty iterable is a ValueError; a bare Parameter, a str or a mapping is a
    TypeError.
    """
    if params is None:
        raise ValueError("params must be a non-empty list of Parameter or dict, got None")
    if isinstance(params, param_type):
        raise TypeError("params must be a list of Parameter or dict, got a bare Parameter (put it in a list)")
    if not isinstance(params, Iterable) or isinstance(params, (str, bytes, Mapping)):
        raise TypeError(f"params must be a list of Parameter or dict, got {type(params).__name__}")
    items = list(params)
    if not items:
        raise ValueError("params must be a non-empty list of Parameter or dict, got an empty list")
    return items


def check_params(items: list[Any], param_type: type, learning_rate: object = None) -> None:
    """VAL-PARAM-TYPE and VAL-GROUP on the params list ``read_params`` made."""
    for i, item in enumerate(items):
        if not isinstance(item, (param_type, dict)):
            raise TypeError(f"params[{i}] must be a Parameter or a dict, got {type(item).__name__}")
    if any(isinstance(item, dict) for item in items):
        if not all(isinstance(item, dict) for item in items):
            raise TypeError("params must be all Parameters or all group dicts, not a mix")
        check_groups(items, param_type, learning_rate)
        return
    names = [p.name for p in items]
    dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if dup is not None:  # SPEC-NOTES 5: ValueError ungrouped (RuntimeError across groups)
        raise ValueError(f"params lists parameter {dup!r} more than once")


def read_learning_rate(lr: object) -> object:
    """A one-shot iterator learning rate read once into a list (MindSpore converts it to a 1-d tensor)."""
    return list(lr) if isinstance(lr, Iterator) else lr


def _sequence_length(lr: object) -> int | None:
    """Length of a sequence learning rate (a list becomes a 1-d tensor), None for other forms."""
    if isinstance(lr, np.ndarray):
        return lr.size if lr.ndim == 1 else None
    if isinstance(lr, (list, tuple)):
        return len(lr)
    return None


def check_groups(groups: Sequence[dict[str, Any]], param_type: type, learning_rate: object = None) -> None:
    """VAL-GROUP: malformed group dicts raise at construction.

    Interpretation (seed silent, MindSpore's rule; SPEC-NOTES 5): sequence learning rates of the groups
    must all have the length of the first one, or of ``learning_rate`` when that is a 1-d tensor, a
    list or a tuple (MindSpore converts a list to a 1-d tensor before it compares lengths).
    """
    seen: list[str] = []
    length = _sequence_length(learning_rate)
    order: list[Any] | None = None
    for k, group in enumerate(groups):
        unknown = [key for key in group if key not in GROUP_KEYS]
        if unknown:
            raise KeyError(f"group {k} has unknown key(s) {unknown}; allowed: {list(GROUP_KEYS)}")
        if "order_params" in group:
            if len(group) > 1:
                raise ValueError(f"group {k}: an order_params dict may hold no other key, got {sorted(group)}")
            order = list(group["order_params"])
            continue
        if "params" not in group:
            raise KeyError(f"group {k} has no 'params' key")
        members = group["params"]
        if isinstance(members, param_type) or not isinstance(members, Iterable) or isinstance(members, (str, Mapping)):
            raise TypeError(f"group {k}: 'params' must be a list of Parameter, got {type(members).__name__}")
        members = list(members)
        if not members:
            raise ValueError(f"group {k}: 'params' must not be empty")
        for i, p in enumerate(members):
            if not isinstance(p, param_type):
                raise TypeError(f"group {k}: params[{i}] must be a Parameter, got {type(p).__name__}")
            if p.name in seen:
                raise RuntimeError(f"group {k}: parameter {p.name!r} is already in another group")
            seen.append(p.name)
        if "lr" in group:
            check_learning_rate(group["lr"], f"group {k} lr")
            n = _sequence_length(group["lr"])
            if n is not None:
                if length is not None and n != length:
                    raise ValueError(f"group {k} lr is a sequence of {n} values; the other sequence learning "
                                     f"rates have {length}")
                length = n
        if "weight_decay" in group:
            check_weight_decay(group["weight_decay"], f"group {k} weight_decay")
        if "grad_centralization" in group:
            check_bool(group["grad_centralization"], f"group {k} grad_centralization")
    if order:  # an empty order_params list is ignored
        names = [getattr(p, "name", None) for p in order]
        if len(names) != len(seen) or sorted(map(str, names)) != sorted(seen):
            raise ValueError("order_params must list every grouped parameter exactly once, "
                             f"got {names} for {seen}")


def check_constructor(params: object, learning_rate: object, beta1: object, beta2: object, eps: object,
                      use_locking: object, use_nesterov: object, weight_decay: object, loss_scale: object,
                      param_type: type) -> tuple[list[Any], object]:
    """Every seed "Raises" line, in the order the constructor's arguments are listed.

    Returns the params list and the learning rate as read (each iterator consumed exactly once), for
    the constructor to use instead of the arguments.
    """
    learning_rate = read_learning_rate(learning_rate)
    check_learning_rate(learning_rate)
    items = read_params(params, param_type)
    check_params(items, param_type, learning_rate)
    check_beta(beta1, "beta1")
    check_beta(beta2, "beta2")
    check_positive(eps, "eps")
    check_bool(use_locking, "use_locking")
    check_bool(use_nesterov, "use_nesterov")
    check_weight_decay(weight_decay)
    check_positive(loss_scale, "loss_scale")
    return items, learning_rate
