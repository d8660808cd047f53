"""Adapter names and loaders: built-ins, ``torch:``/``optax:`` generics, and user files/modules.

The only place that knows adapters by name -- to find them, never to judge them.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.base import Adapter

TORCH = tuple(f"torch-{d}-{v}" for d in ("cpu", "cuda") for v in ("single", "foreach", "fused"))
BUILTIN: dict[str, tuple[str, str, tuple[Any, ...]]] = {
    "reference": ("conformance.selfcheck", "ReferenceAdapter", ()),
    "reference-f32": ("adapters.numpy_lowp", "NumpyLowPrecisionAdapter", ()),
    "mindspore": ("adapters.mindspore_adam", "MindSporeAdam", ()),
    "mindspore-target-cpu": ("adapters.mindspore_adam", "MindSporeAdamTargetCPU", ()),
    **{n: ("adapters.torch_adam", "make", (n,)) for n in (*TORCH, "torch-sparseadam")},
    "optax-cpu": ("adapters.optax_adam", "OptaxCPU", ()),
    "optax-gpu": ("adapters.optax_adam", "OptaxGPU", ()),
}
GENERIC: dict[str, tuple[str, str]] = {
    "torch": ("adapters.generic_torch", "load"),
    "optax": ("adapters.generic_optax", "load"),
}


class AdapterSpecError(ValueError):
    """An --adapter value that names nothing loadable; the message says what to write instead."""


def _make(factory: Any, spec: str) -> Any:
    try:
        return factory()
    except Exception as e:  # the user's constructor failing is a usage problem, said in one line
        raise AdapterSpecError(f"--adapter {spec}: creating the adapter failed: {type(e).__name__}: {e}") from None


def _instantiate(obj: Any, spec: str) -> Adapter:
    if isinstance(obj, Adapter):
        return obj
    if isinstance(obj, type) and issubclass(obj, Adapter):
        return _make(obj, spec)
    if callable(obj):
        made = _make(obj, spec)
        if isinstance(made, Adapter):
            return made
    raise AdapterSpecError(f"--adapter {spec}: {obj!r} is not an Adapter subclass, instance or factory "
                           "(see docs/adapters.md)")


def _from_file(path: str, attr: str, spec: str) -> Adapter:
    p = Path(path)
    if not p.is_file():
        raise AdapterSpecError(f"--adapter {spec}: no such file {path}")
    mod_name = f"_adam_conformance_user_{abs(hash(str(p.resolve())))}"
    try:
        loader_spec = importlib.util.spec_from_file_location(mod_name, p)
        assert loader_spec and loader_spec.loader
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module
        loader_spec.loader.exec_module(module)
    except Exception as e:
        raise AdapterSpecError(f"--adapter {spec}: importing {path} failed: {type(e).__name__}: {e}") from None
    if not hasattr(module, attr):
        raise AdapterSpecError(f"--adapter {spec}: {path} defines no {attr!r}")
    return _instantiate(getattr(module, attr), spec)


def _from_module(module_name: str, attr: str, spec: str) -> Adapter:
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise AdapterSpecError(f"--adapter {spec}: cannot import {module_name}: {type(e).__name__}: {e}") from None
    if not hasattr(module, attr):
        raise AdapterSpecError(f"--adapter {spec}: module {module_name} defines no {attr!r}")
    return _instantiate(getattr(module, attr), spec)


def _cwd_importable() -> None:
    """User modules are named relative to where the command runs, as with ``python -m``."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def resolve(spec: str) -> Adapter:
    """An adapter from its --adapter spelling: NAME, torch:MOD:CLS, optax:MOD:FN, FILE.py:NAME, MOD:NAME."""
    _cwd_importable()
    if spec in BUILTIN:
        module, attr, args = BUILTIN[spec]
        factory: Callable[..., Any] = getattr(importlib.import_module(module), attr)
        return factory(*args)
    prefix, _, rest = spec.partition(":")
    if prefix in GENERIC and rest:
        module, attr = GENERIC[prefix]
        try:
            return getattr(importlib.import_module(module), attr)(rest)
        except ValueError as e:
            raise AdapterSpecError(f"--adapter {spec}: {e}") from None
    target, sep, attr = spec.rpartition(":")
    if sep and target.endswith(".py"):
        return _from_file(target, attr, spec)
    if sep and target and attr:
        return _from_module(target, attr, spec)
    raise AdapterSpecError(f"--adapter {spec}: unknown adapter; built-ins are {', '.join(BUILTIN)}; or use "
                           "torch:MODULE:CLASS, optax:MODULE:FUNCTION, path/to/file.py:NAME, package.module:NAME")


def builtin_names() -> tuple[str, ...]:
    return tuple(BUILTIN)
