"""Zero-argument factories for the built-in adapters that share one class (the torch family).

Entry points name ``module:attr`` and are called with no arguments; ``torch-cpu-single`` and its
siblings are one class with (device, variant), so each name gets a factory here. Importing this
module imports no backend (torch is imported when an adapter first needs it).
"""

from __future__ import annotations

from collections.abc import Callable

from .torch_adam import NAMES_TORCH, TorchOptimizerAdapter, make


def _factory(name: str) -> Callable[[], TorchOptimizerAdapter]:
    def build() -> TorchOptimizerAdapter:
        return make(name)

    build.__name__ = build.__qualname__ = name.replace("-", "_")
    build.__doc__ = f"The built-in adapter {name!r}."
    return build


for _name in NAMES_TORCH:
    globals()[_name.replace("-", "_")] = _factory(_name)

__all__ = [n.replace("-", "_") for n in NAMES_TORCH]
