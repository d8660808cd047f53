"""Adapter names: the entry-point table, installed plugins, syntax checks that import nothing, the generics.

The gate process validates --adapter values and lists names without importing a backend or a user module
(those are imported only in worker processes), so ``check_syntax`` and ``names`` are checked in a fresh
interpreter for what they import. The built-ins are registered in pyproject.toml exactly as a plugin
package registers its adapters; ``registry.BUILTIN`` must be the same table (a source checkout that is not
installed still resolves every built-in).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from conformance import registry
from conformance.registry import AdapterSpecError, check_syntax

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "jax", "optax", "mindspore", "adapters.torch_adam", "adapters.optax_adam",
         "adapters.mindspore_adam", "conformance.zoo.faithful_torch")


def test_pyproject_entry_points_are_the_builtin_table() -> None:
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["adam_conformance.adapters"]
    assert table == registry.BUILTIN


def test_every_builtin_entry_resolves_to_an_object() -> None:
    import importlib

    for name, value in registry.BUILTIN.items():
        module, _, attr = value.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), name


def _fresh(code: str, cwd: Path = ROOT, path: str | None = None) -> dict:
    env_path = f"import sys; sys.path.insert(0, {path!r})\n" if path else ""
    out = subprocess.run([sys.executable, "-c", env_path + textwrap.dedent(code)], cwd=cwd, capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_check_syntax_and_names_import_nothing() -> None:
    got = _fresh(f"""
        import json, sys
        from conformance import registry
        names = registry.names()
        for s in ("torch-cpu-single", "optax:optax:adam", "torch:conformance.zoo.faithful_torch:FaithfulAdam",
                  "examples/kit_numpy.py:adapter", "examples.my_adam:EpsHatAdam"):
            registry.check_syntax(s)
        print(json.dumps({{"names": list(names), "loaded": [m for m in {list(HEAVY)!r} if m in sys.modules]}}))
    """)
    assert got["loaded"] == []
    assert got["names"][: len(registry.BUILTIN)] == list(registry.BUILTIN)


@pytest.mark.parametrize("spec, says", [
    ("", "empty adapter name"),
    ("nope", "unknown adapter"),
    ("torch:", "expected torch:package.module:CLASS"),
    ("torch:mod", "expected torch:package.module:CLASS"),
    ("optax:mod:", "expected optax:package.module:FUNCTION"),
    ("optax:1mod:fn", "expected optax:package.module:FUNCTION"),
    ("no/such/file.py:A", "no such file"),
    ("examples/kit_numpy.py:not-a-name", "is not a Python name"),
    ("pkg.mod:", "unknown adapter"),
])
def test_check_syntax_refuses_with_one_line(spec: str, says: str) -> None:
    with pytest.raises(AdapterSpecError) as e:
        check_syntax(spec)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_optax_prefix_is_stripped_once() -> None:
    """Issue 10: ``--adapter optax:optax:adam`` (module optax, function adam) failed: stripped twice."""
    pytest.importorskip("optax")
    a = registry.resolve("optax:optax:adam")
    assert a.name == "optax:optax:adam"
    from adapters.generic_optax import load

    assert load("optax:optax:adam").name == load("optax:adam").name == "optax:optax:adam"


def test_an_installed_plugin_is_listed_and_resolved(tmp_path: Path) -> None:
    """A distribution's entry point in ``adam_conformance.adapters`` is a name --adapter accepts."""
    dist = tmp_path / "myplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[adam_conformance.adapters]\nmy-numpy = myplug_mod:adapter\n"
                                           "reference = myplug_mod:adapter\n")
    (tmp_path / "myplug_mod.py").write_text("from examples.kit_numpy import adapter\n")
    got = _fresh("""
        import json
        from conformance import registry
        registry.check_syntax("my-numpy")
        a = registry.resolve("my-numpy")
        print(json.dumps({"names": list(registry.names()), "name": a.name,
                          "reference": type(registry.resolve("reference")).__name__}))
    """, path=str(tmp_path))
    assert "my-numpy" in got["names"] and got["names"].count("reference") == 1
    assert got["name"] == "numpy-kit"
    assert got["reference"] == "ReferenceAdapter"  # a built-in name wins over a plugin's
