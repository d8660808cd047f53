"""``--adapter torch:package.module:Class``: any torch Optimizer with torch.optim.Adam's constructor.

The class must take ``(params, lr, betas=(b1, b2), eps, weight_decay)``; when its signature also has a
bool ``nesterov`` or ``use_nesterov`` parameter, ``use_nesterov`` is passed through. Everything else
(groups, emulations, state readout from ``exp_avg``/``exp_avg_sq``) is the torch adapter's machinery.
"""

from __future__ import annotations

import inspect
from typing import Any

from .base import Adapter, import_user_object
from .torch_adam import TorchOptimizerAdapter

NESTEROV_NAMES = ("use_nesterov", "nesterov")


def nesterov_parameter(cls: type) -> str | None:
    """The name of a bool nesterov parameter of ``cls``'s constructor (default or annotation bool), or None."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return None
    for name in NESTEROV_NAMES:
        p = sig.parameters.get(name)
        if p is not None and (isinstance(p.default, bool) or p.annotation in (bool, "bool")):
            return name
    return None


def import_optimizer(spec: str) -> tuple[str, type]:
    """"package.module:Class" -> (module, the class); every problem is one ValueError line saying what to fix."""
    try:
        import torch
    except ImportError:
        raise ValueError("torch adapter needs torch: pip install torch") from None
    module, cls = import_user_object(spec, "torch", "Class")
    attr = spec.partition(":")[2]
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ValueError(f"{module}:{attr} is not a torch.optim.Optimizer subclass")
    return module, cls


class TorchClassAdapter(TorchOptimizerAdapter):
    """A user-named torch Optimizer subclass on CPU, constructed like torch.optim.Adam."""

    refusable_layouts = ("sparse",)  # a user's Adam that refuses dense gradients is judged, and ERRORs

    def __init__(self, spec: str) -> None:
        # Decided before the user's module runs: code under test that hides torch at import time
        # (``sys.modules["torch"] = None``) must not make its own run "unavailable here" and skipped.
        self._environment = super()._backend()
        module, cls = import_optimizer(spec)
        self._cls = cls
        self.name = f"torch:{module}:{cls.__name__}"
        self.nesterov_kwarg = nesterov_parameter(cls)
        nest = f", {self.nesterov_kwarg}=use_nesterov" if self.nesterov_kwarg else ""
        self.description = f"{module}.{cls.__name__}(params, lr, betas, eps, weight_decay{nest}) on cpu"

    def optimizer_class(self) -> Any:
        return self._cls

    def _backend(self) -> tuple[bool, str]:
        return self._environment

    def no_nesterov_reason(self) -> str:
        return f"{self._cls.__name__} has no bool nesterov/use_nesterov parameter"


def load(spec: str) -> Adapter:
    """The adapter for "package.module:Class" (ValueError with what to fix when it cannot be loaded)."""
    return TorchClassAdapter(spec)
