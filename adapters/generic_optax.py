"""``--adapter optax:package.module:function``: any optax factory with ``optax.adam``'s hyperparameters.

The function must return an ``optax.GradientTransformation`` from keyword arguments
``learning_rate, b1, b2, eps``; when it also has a ``nesterov`` keyword, ``use_nesterov`` is passed
through. Weight decay, the beta/gamma filter, groups, loss scaling, centralization, sparse densifying
and the state readout (any state node with ``mu`` and ``nu`` fields) are ``optax_adam``'s machinery.

One compile per structure needs the factory to accept traced hyperparameters (as optax's own
factories do). A factory that branches on their Python values (``if b1 > ...``) is detected once by
tracing it; it is then called with the case's literal values and jitted once per case (said in
``info().notes``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .base import Adapter, Support, import_user_object
from .optax_adam import OptaxAdapter, libs

REQUIRED = ("learning_rate", "b1", "b2", "eps")


def import_factory(spec: str) -> tuple[str, Callable[..., Any]]:
    """"[optax:]package.module:function" -> (module, function); every problem is one ValueError line.

    The ``optax:`` prefix is stripped only when a module:function follows it, so the registry (which
    strips it already) and direct callers both work, and ``optax:adam`` means module ``optax``.
    """
    body = spec[len("optax:"):] if spec.startswith("optax:") and spec.count(":") >= 2 else spec
    try:
        _, _, optax = libs()
    except ImportError:
        raise ValueError("optax adapter needs jax and optax: pip install jax optax") from None
    module, fn = import_user_object(body, "optax", "function")
    attr = body.partition(":")[2]
    if not callable(fn):
        raise ValueError(f"module {module!r} has no function {attr!r}; check the function name")
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        raise ValueError(f"{module}:{attr} has no inspectable signature; wrap it in a plain function") from None
    missing = [k for k in REQUIRED if k not in params]
    if missing:
        raise ValueError(f"{module}:{attr} lacks keyword argument(s) {missing}; the adapter calls "
                         "factory(learning_rate=, b1=, b2=, eps=)")
    try:
        tx = fn(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8)
    except Exception as e:
        raise ValueError(f"{module}:{attr}(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8) raised "
                         f"{type(e).__name__}: {e}") from None
    if not isinstance(tx, optax.GradientTransformation):
        raise ValueError(f"{module}:{attr} returned {type(tx).__name__}, not an optax.GradientTransformation")
    return module, fn


class OptaxFactoryAdapter(OptaxAdapter):
    """A user-named optax factory on CPU, driven exactly like ``optax-cpu`` drives ``optax.adam``."""

    def __init__(self, spec: str) -> None:
        super().__init__()
        self._environment = super().available()  # before the user's module runs (see TorchClassAdapter)
        module, fn = import_factory(spec)
        self._fn = fn
        self.name = f"optax:{module}:{fn.__name__}"
        self._nesterov = "nesterov" in inspect.signature(fn).parameters
        nest = ", nesterov=use_nesterov" if self._nesterov else ""
        self.description = f"{module}.{fn.__name__}(learning_rate, b1, b2, eps{nest}) under jax.jit on cpu"

    def factory(self) -> Callable[..., Any]:
        return self._fn

    def available(self) -> tuple[bool, str]:
        return self._environment

    def support(self) -> tuple[dict[str, Support], dict[str, str]]:
        """As optax-cpu, except that weight-decay validation is no property of a factory without weight_decay."""
        s, n = super().support()
        for c in ("VAL-WD-TYPE", "VAL-WD-RANGE"):
            s[c] = Support.UNSUPPORTED
            n[c] = ("the factory has no weight_decay argument: the decay is the adapter's "
                    "optax.add_decayed_weights, so a refused weight_decay would judge optax, not the factory")
        return s, n

    def accepts_nesterov(self) -> bool:
        return self._nesterov

    def injectable(self) -> bool:
        """Trace one update with abstract hyperparameters (jax.eval_shape: nothing compiled, not counted)."""
        if self._injectable is None:
            jax, jnp, _ = libs()
            p = {"w": jnp.ones(2, dtype="float32")}
            hp = {"learning_rate": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8}

            def probe(hp: Any) -> Any:
                tx = self._fn(**hp)
                return tx.update(p, tx.init(p), p)

            try:
                jax.eval_shape(probe, hp)
                self._injectable = True
            except Exception:
                self._injectable = False
        return self._injectable


def load(spec: str) -> Adapter:
    """The adapter for "[optax:]package.module:function" (ValueError with what to fix when it cannot load)."""
    return OptaxFactoryAdapter(spec)
