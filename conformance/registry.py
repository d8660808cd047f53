"""Adapter names and loaders: built-ins, installed plugins, ``torch:``/``optax:`` generics, user files/modules.

The only place that knows adapters by name -- to find them, never to judge them. Names come from the
entry-point group ``adam_conformance.adapters`` (an installed package registers ``NAME = "module:attr"``,
where attr is an Adapter subclass, instance, or zero-argument factory); the built-ins are registered
the same way in this project's pyproject.toml, and ``BUILTIN`` below is the same table, so a source
checkout that is not installed still resolves them. A built-in name always wins over a plugin's.

``check_syntax``, ``check_findable`` and ``names`` import nothing (no adapter module, no library): the
gate process calls them, and user modules are imported only in worker processes, by ``resolve``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import keyword
import os
import sys
from pathlib import Path
from typing import Any

from adapters.base import Adapter

from .errors import UsageError

GROUP = "adam_conformance.adapters"
TORCH = tuple(f"torch-{d}-{v}" for d in ("cpu", "cuda") for v in ("single", "foreach", "fused"))
# name -> "module:attr", exactly as [project.entry-points."adam_conformance.adapters"] in pyproject.toml.
BUILTIN: dict[str, str] = {
    "reference": "conformance.selfcheck:ReferenceAdapter",
    "reference-f32": "adapters.numpy_lowp:NumpyLowPrecisionAdapter",
    "mindspore": "adapters.mindspore_adam:MindSporeAdam",
    "mindspore-target-cpu": "adapters.mindspore_adam:MindSporeAdamTargetCPU",
    **{n: f"adapters.builtins:{n.replace('-', '_')}" for n in (*TORCH, "torch-sparseadam")},
    "optax-cpu": "adapters.optax_adam:OptaxCPU",
    "optax-gpu": "adapters.optax_adam:OptaxGPU",
}
GENERIC: dict[str, tuple[str, str]] = {
    "torch": ("adapters.generic_torch", "load"),
    "optax": ("adapters.generic_optax", "load"),
}


class AdapterSpecError(UsageError):
    """An --adapter value that names nothing loadable; the message says what to write instead."""


@functools.cache
def plugins() -> dict[str, str]:
    """Installed entry points of ``adam_conformance.adapters``: name -> "module:attr" (nothing imported)."""
    try:
        eps = importlib.metadata.entry_points(group=GROUP)
    except Exception:  # broken metadata of some installed distribution: plugins unavailable, built-ins work
        return {}
    return {ep.name: ep.value for ep in eps}


def names() -> tuple[str, ...]:
    """Every adapter name --adapter accepts by itself: the built-ins, then installed plugins (sorted)."""
    return (*BUILTIN, *sorted(n for n in plugins() if n not in BUILTIN))


def _is_module_path(text: str) -> bool:
    return bool(text) and all(p.isidentifier() and not keyword.iskeyword(p) for p in text.split("."))


def _usage(spec: str, why: str) -> AdapterSpecError:
    plugged = [n for n in names() if n not in BUILTIN]
    known = f"built-ins are {', '.join(BUILTIN)}" + (f"; installed plugins: {', '.join(plugged)}" if plugged else "")
    return AdapterSpecError(f"--adapter {spec}: {why}; {known}; or use "
                            "torch:MODULE:CLASS, optax:MODULE:FUNCTION, path/to/file.py:NAME, package.module:NAME")


def check_syntax(spec: str) -> None:
    """Validate an --adapter spelling without importing anything; AdapterSpecError (one line) when it is wrong.

    Accepted: a registered name (built-in or plugin), ``torch:MODULE:CLASS``, ``optax:MODULE:FUNCTION``,
    ``path/to/file.py:NAME`` (the file must exist) and ``package.module:NAME``.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise _usage(str(spec), "empty adapter name")
    if spec in BUILTIN or spec in plugins():
        return
    prefix, _, rest = spec.partition(":")
    if prefix in GENERIC:
        module, sep, attr = rest.partition(":")
        what = "CLASS" if prefix == "torch" else "FUNCTION"
        if not (sep and _is_module_path(module) and attr.isidentifier()):
            raise AdapterSpecError(f"--adapter {spec}: expected {prefix}:package.module:{what} "
                                   f"(e.g. {prefix}:mypkg.optim:{'MyAdam' if prefix == 'torch' else 'my_adam'})")
        return
    target, sep, attr = spec.rpartition(":")
    if sep and target.endswith(".py"):
        if not attr.isidentifier():
            raise AdapterSpecError(f"--adapter {spec}: {attr!r} is not a Python name")
        if not Path(target).is_file():
            raise AdapterSpecError(f"--adapter {spec}: no such file {target}")
        return
    if sep and _is_module_path(target) and attr.isidentifier():
        return
    raise _usage(spec, "unknown adapter")


def check_findable(spec: str) -> None:
    """Refuse a user module whose top-level package is nowhere on the path the worker will search.

    ``check_syntax`` first. A registered name or a ``FILE.py:NAME`` passes (the file was checked). Called
    before a run touches its output, so a misspelt module is one line and exit 2, not a run whose every
    case is an ERROR.

    Only the top-level name is looked up, by the path finders alone (``PathFinder.find_spec``): that
    reads directory listings and executes nothing, so the code under test still never runs in the gate
    process. A missing submodule of a package that exists is found only by importing the package, which
    is the worker's job (every case is then an ERROR naming the import failure).
    """
    if spec in BUILTIN or spec in plugins():
        return
    prefix, _, rest = spec.partition(":")
    target, _, _ = spec.rpartition(":")
    module = rest.partition(":")[0] if prefix in GENERIC else target
    if not _is_module_path(module) or (prefix not in GENERIC and target.endswith(".py")):
        return
    top = module.split(".")[0]
    if top in sys.modules or top in sys.builtin_module_names:
        return
    search = [os.getcwd(), *sys.path]  # the worker puts the working directory first, as ``python -m`` does
    try:
        found = (importlib.machinery.PathFinder.find_spec(top, search) is not None
                 or importlib.util.find_spec(top) is not None)  # meta-path finders too (editable installs)
    except Exception:  # a finder that fails: the worker's import will say what is wrong
        return
    if not found:
        raise AdapterSpecError(f"--adapter {spec}: no module named {top!r} in the working directory "
                               f"({os.getcwd()}) or on the Python path; check the spelling, or install it "
                               "in this environment")


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


def _from_entry(name: str, value: str) -> Adapter:
    module, _, attr = value.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as e:
        raise AdapterSpecError(f"--adapter {name}: loading the registered {value} failed: "
                               f"{type(e).__name__}: {e}".splitlines()[0]) from None
    return _instantiate(obj, name)


def resolve(spec: str) -> Adapter:
    """An adapter from its --adapter spelling: NAME, torch:MOD:CLS, optax:MOD:FN, FILE.py:NAME, MOD:NAME."""
    _cwd_importable()
    if spec in BUILTIN:
        return _from_entry(spec, BUILTIN[spec])
    if spec in plugins():
        return _from_entry(spec, plugins()[spec])
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
    raise _usage(spec, "unknown adapter")


def builtin_names() -> tuple[str, ...]:
    return tuple(BUILTIN)
