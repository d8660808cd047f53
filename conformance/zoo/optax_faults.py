"""Deliberately faulty optax factories: the faithful factory's update with one realistic bug each.

Run through the generic ``--adapter optax:conformance.zoo.optax_faults:FUNCTION`` adapter, so the selftest
proves the generic optax machinery delivers a user factory's bug to the judge. Every factory has
``optax.adam``'s keyword signature (``learning_rate, b1, b2, eps, nesterov``) and takes traced
hyperparameters (nothing branches on their values). ``FAULTS`` maps each factory to the clause it
breaks; each docstring names it. The update is the one in ``faithful_optax`` (epsilon-hat form, half
types computed in float32), rebuilt here from hooks so each fault changes one line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from .faithful_optax import FaithfulAdamState, compute_dtype, numerator, read_lr, step_size


def _adam(learning_rate: Any, b1: Any, b2: Any, eps: Any, nesterov: bool, *,
          lr_at: Callable[[Any, Any], Any] = read_lr,
          size: Callable[[Any, Any, Any, Any], Any] = step_size,
          moments: Callable[[Any, Any, Any, Any, Any], tuple[Any, Any]] | None = None,
          num: Callable[[Any, Any, Any, bool], Any] = numerator,
          denom: Callable[[Any, Any, Any], Any] | None = None,
          held: Callable[[Any, Any], Any] = lambda x, dtype: x,
          out: Callable[[Any], Any] = lambda u: u) -> optax.GradientTransformation:
    """The faithful update with hooks: every default reproduces ``faithful_optax.faithful_adam``."""
    moments = moments or (lambda m, v, g, b1, b2: (b1 * m + (1.0 - b1) * g, b2 * v + (1.0 - b2) * g * g))
    denom = denom or (lambda v, eps, t: jnp.sqrt(v) + eps)

    def init(params: Any) -> FaithfulAdamState:
        return FaithfulAdamState(jnp.zeros([], jnp.int32), jax.tree.map(jnp.zeros_like, params),
                                 jax.tree.map(jnp.zeros_like, params))

    def update(grads: Any, state: FaithfulAdamState, params: Any = None) -> tuple[Any, FaithfulAdamState]:
        del params
        lr = lr_at(learning_rate, state.count)
        t = state.count + 1
        l = size(lr, b1, b2, t)

        def one(g: Any, m: Any, v: Any) -> tuple[Any, Any, Any]:
            c = compute_dtype(g)
            hb1, hb2, heps = (held(x, g.dtype) for x in (b1, b2, eps))
            g32, m32, v32 = g.astype(c), m.astype(c), v.astype(c)
            m_new, v_new = moments(m32, v32, g32, hb1, hb2)
            u = out(-(l * num(m_new, g32, hb1, nesterov)) / denom(v_new, heps, t))
            return u.astype(g.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype)

        res = jax.tree.map(one, grads, state.mu, state.nu)
        pick: Callable[[int], Any] = lambda k: jax.tree.map(lambda _, o: o[k], grads, res)  # noqa: E731
        return pick(0), FaithfulAdamState(t, pick(1), pick(2))

    return optax.GradientTransformation(init, update)


def eps_after_bias_correction(learning_rate: Any = 1e-3, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
                              nesterov: bool = False) -> optax.GradientTransformation:
    """UPD-EPS: optax.adam's placement, eps added after bias correction (eps*sqrt(1-b2^t) in eps-hat terms)."""
    return _adam(learning_rate, b1, b2, eps, nesterov,
                 denom=lambda v, e, t: jnp.sqrt(v) + e * jnp.sqrt(1.0 - b2 ** t.astype(jnp.result_type(float))))


def no_bias_correction(learning_rate: Any = 1e-3, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
                       nesterov: bool = False) -> optax.GradientTransformation:
    """UPD-BIAS: the step size is lr itself (no sqrt(1-b2^t)/(1-b1^t))."""
    return _adam(learning_rate, b1, b2, eps, nesterov, size=lambda lr, b1, b2, t: lr)


def bias_correction_one_ahead(learning_rate: Any = 1e-3, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
                              nesterov: bool = False) -> optax.GradientTransformation:
    """UPD-BIAS: the bias correction uses t+1 (the count after this update, plus one)."""
    return _adam(learning_rate, b1, b2, eps, nesterov, size=lambda lr, b1, b2, t: step_size(lr, b1, b2, t + 1))


def squared_first_moment(learning_rate: Any = 1e-3, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
                         nesterov: bool = False) -> optax.GradientTransformation:
    """UPD-MOMENTS: v averages m*m (the updated first moment squared) instead of g*g."""
    def moments(m: Any, v: Any, g: Any, b1: Any, b2: Any) -> tuple[Any, Any]:
        m_new = b1 * m + (1.0 - b1) * g
        return m_new, b2 * v + (1.0 - b2) * m_new * m_new
    return _adam(learning_rate, b1, b2, eps, nesterov, moments=moments)


def nesterov_stale_moment(learning_rate: Any = 1e-3, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
                          nesterov: bool = False) -> optax.GradientTransformation:
    """UPD-NESTEROV: the look-ahead numerator is b1*g + (1-b1)*m -- the two weights swapped."""
    return _adam(learning_rate, b1, b2, eps, nesterov,
                 num=lambda m, g, b1, nest: b1 * g + (1.0 - b1) * m if nest else m)


def hyperparameters_in_storage_dtype(learning_rate: Any = 1e-3, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
                                     nesterov: bool = False) -> optax.GradientTransformation:
    """UPD-DTYPE: beta1, beta2 and eps are cast to the gradient's dtype inside the update (bfloat16: beta2
    becomes 1.0 and v stays 0; float16: 1 - beta2 is 2.3% small)."""
    return _adam(learning_rate, b1, b2, eps, nesterov,
                 held=lambda x, dtype: jnp.asarray(x).astype(dtype).astype(jnp.float32)
                 if dtype in (jnp.float16, jnp.bfloat16) else x)


def update_never_applied(learning_rate: Any = 1e-3, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
                         nesterov: bool = False) -> optax.GradientTransformation:
    """UPD-DTYPE: the update is computed but zeros are returned (a half update flushed away): w never moves."""
    return _adam(learning_rate, b1, b2, eps, nesterov, out=jnp.zeros_like)


def schedule_one_ahead(learning_rate: Any = 1e-3, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
                       nesterov: bool = False) -> optax.GradientTransformation:
    """LR-SCHEDULE: a schedule is read at count + 1 (the count after this update), not at the count of
    updates done so far."""
    return _adam(learning_rate, b1, b2, eps, nesterov,
                 lr_at=lambda lr, count: lr(count + 1) if callable(lr) else lr)


FAULTS: dict[Callable[..., optax.GradientTransformation], str] = {
    eps_after_bias_correction: "UPD-EPS",
    no_bias_correction: "UPD-BIAS",
    bias_correction_one_ahead: "UPD-BIAS",
    squared_first_moment: "UPD-MOMENTS",
    nesterov_stale_moment: "UPD-NESTEROV",
    hyperparameters_in_storage_dtype: "UPD-DTYPE",
    update_never_applied: "UPD-DTYPE",
    schedule_one_ahead: "LR-SCHEDULE",
}
