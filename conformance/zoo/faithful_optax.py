"""A faithful user-written optax factory: mindspore.nn.Adam's update behind ``optax.adam``'s signature.

Why it exists: the generic ``optax:MOD:FN`` adapter is only trustworthy if a *correct* factory run through
it passes every clause the adapter declares native or emulated. This is that factory, written as an optax
user writes one (init/update over pytrees, a learning rate that is a float or a schedule ``count -> lr``
read at the count of updates done so far). It is neither ``optax.adam`` (whose epsilon form differs from
the spec) nor the reference (it imports no reference code). Faulty variants in the zoo wrap the small
functions below (``step_size``, ``numerator``, ``read_lr`` ...).

Arithmetic: float16/bfloat16 moments and weights computed in float32 from the stored values and stored
back in the parameter dtype; float32/float64 in their own dtype. Hyperparameters may be Python floats or
traced scalars (the adapter compiles once per structure), so nothing here branches on their values.
"""

from __future__ import annotations

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


def faithful_adam(learning_rate: Any = 1e-3, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
                  nesterov: bool = False) -> optax.GradientTransformation:
    """Adam with the epsilon-hat form and the spec's nesterov look-ahead; ``learning_rate`` may be a schedule."""

    def init(params: Any) -> FaithfulAdamState:
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
