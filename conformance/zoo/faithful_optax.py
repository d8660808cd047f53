"""A faithful user-written optax factory: mindspore.nn.Adam's update behind ``optax.adam``'s signature.

Why it exists: the generic ``optax:MOD:FN`` adapter is only trustworthy if a *correct* factory run through
it passes every clause the adapter declares native or emulated. This is that factory, written as an optax
user writes one (init/update over pytrees, a learning rate that is a float or a schedule ``count -> lr``
read at the count of updates done so far). It is neither ``optax.adam`` (whose epsilon form differs from
the spec) nor the reference (it imports no reference code). Faulty variants in the zoo wrap the small
functions below (``step_size``, ``numerator``, ``read_lr`` ...).

Validation: the constructor arguments the factory receives are checked as nn.Adam checks them (MindSpore's
exception types) whenever they are concrete Python values; traced values (the adapter's one compile per
structure) are not branched on. ``init`` checks the params tree (non-empty, floating arrays only).

Arithmetic: float16/bfloat16 moments and weights computed in float32 from the stored values and stored
back in the parameter dtype; float32/float64 in their own dtype. Hyperparameters may be Python floats or
traced scalars (the adapter compiles once per structure), so nothing here branches on their values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

HALF = (jnp.float16, jnp.bfloat16)


class FaithfulAdamState(NamedTuple):
    count: Any  # updates done so far (int32 scalar)
    mu: Any
    nu: Any


def compute_dtype(x: Any) -> Any:
    return jnp.float32 if x.dtype in HALF else x.dtype


def read_lr(learning_rate: Any, count: Any) -> Any:
    """The lr of the update about to be made: a schedule is read at the count of updates done so far."""
    return learning_rate(count) if callable(learning_rate) else learning_rate


def step_size(lr: Any, b1: Any, b2: Any, t: Any) -> Any:
    """lr * sqrt(1 - b2^t) / (1 - b1^t) in float64 when x64 is on, else float32."""
    t = jnp.asarray(t, dtype=jnp.result_type(float))
    return lr * jnp.sqrt(1.0 - b2**t) / (1.0 - b1**t)


def numerator(m: Any, g: Any, b1: Any, nesterov: bool) -> Any:
    return b1 * m + (1.0 - b1) * g if nesterov else m


def _concrete(x: Any) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_hyper(learning_rate: Any, b1: Any, b2: Any, eps: Any, nesterov: Any) -> None:
    """nn.Adam's "Raises" for the arguments an optax factory has, on concrete values only."""
    lr = learning_rate
    if _concrete(lr) and not callable(lr):
        if isinstance(lr, (int, float)):
            if not math.isfinite(lr) or lr < 0:
                raise ValueError(f"learning_rate must be a finite float or int >= 0, got {lr!r}")
        elif hasattr(lr, "ndim"):
            if lr.ndim > 1:
                raise ValueError(f"learning_rate as an array must be 0-d or 1-d, got {lr.ndim}-d")
        else:
            raise TypeError(f"learning_rate must be int, float, an array or a schedule, got {type(lr).__name__}")
    for name, b in (("b1", b1), ("b2", b2)):
        if _concrete(b):
            if not isinstance(b, float):
                raise TypeError(f"{name} must be a float, got {type(b).__name__}")
            if not 0.0 < b < 1.0:
                raise ValueError(f"{name} must be in (0.0, 1.0), got {b!r}")
    if _concrete(eps):
        if not isinstance(eps, float):
            raise TypeError(f"eps must be a float, got {type(eps).__name__}")
        if not (eps > 0.0 and math.isfinite(eps)):
            raise ValueError(f"eps must be a finite float > 0, got {eps!r}")
    if not isinstance(nesterov, bool):
        raise TypeError(f"nesterov must be a bool, got {type(nesterov).__name__}")


def check_params(params: Any) -> None:
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError("params must be a non-empty tree of arrays")
    for leaf in leaves:
        if not (hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating)):
            raise TypeError(f"params must hold floating arrays, got {type(leaf).__name__}")


def faithful_adam(learning_rate: Any = 1e-3, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
                  nesterov: bool = False) -> optax.GradientTransformation:
    """Adam with the epsilon-hat form and the spec's nesterov look-ahead; ``learning_rate`` may be a schedule."""
    check_hyper(learning_rate, b1, b2, eps, nesterov)

    def init(params: Any) -> FaithfulAdamState:
        check_params(params)
        zeros = jax.tree.map(jnp.zeros_like, params)
        return FaithfulAdamState(jnp.zeros([], jnp.int32), zeros, jax.tree.map(jnp.zeros_like, params))

    def update(grads: Any, state: FaithfulAdamState, params: Any = None) -> tuple[Any, FaithfulAdamState]:
        del params
        lr = read_lr(learning_rate, state.count)
        t = state.count + 1
        l = step_size(lr, b1, b2, t)

        def one(g: Any, m: Any, v: Any) -> tuple[Any, Any, Any]:
            c = compute_dtype(g)
            g32, m32, v32 = g.astype(c), m.astype(c), v.astype(c)
            m_new = b1 * m32 + (1.0 - b1) * g32
            v_new = b2 * v32 + (1.0 - b2) * g32 * g32
            u = -(l * numerator(m_new, g32, b1, nesterov)) / (jnp.sqrt(v_new) + eps)
            return u.astype(g.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype)

        out = jax.tree.map(one, grads, state.mu, state.nu)
        pick: Callable[[int], Any] = lambda k: jax.tree.map(lambda _, o: o[k], grads, out)  # noqa: E731
        return pick(0), FaithfulAdamState(t, pick(1), pick(2))

    return optax.GradientTransformation(init, update)
