"""The reference is self-contained (numpy + the standard library only) and whole-array on big tensors.

What it costs there is measured by ``benchmarks/reference.py``, as a ratio to a bare NumPy Adam step;
a timed assertion here failed under the test run's own load (1.05 s against 0.22 s alone) and said
nothing about the reference."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import reference as ref

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference"
FORBIDDEN = ("torch", "jax", "jaxlib", "mindspore", "optax", "tensorflow", "keras", "conformance", "adapters",
             "hypothesis", "pandas", "mpmath", "scipy")


def test_one_step_on_ten_million_elements():
    n = 10**7
    w0 = np.linspace(-1.0, 1.0, n)
    g = np.cos(np.arange(n, dtype=np.float64))
    opt = ref.Adam([ref.Param("w", w0)], learning_rate=0.01, weight_decay=0.01, received_as="float64")
    tr = opt.run([{"w": g}])
    s = tr.steps[0]["w"]
    assert s.w.shape == (n,)
    assert s.w.dtype == np.float64
    # spot-check it really computed the step (first step: lr*g_eff/(|g_eff| + eps/sqrt(1-b2)))
    k = 12345
    ge = g[k] + 0.01 * w0[k]
    assert abs(w0[k] - s.w[k] - 0.01 * ge / (abs(ge) + 1e-8 / np.sqrt(0.001))) < 1e-12
    # and everywhere, whole-array: the same step written as bare NumPy expressions
    from benchmarks.reference import bare_step

    np.testing.assert_allclose(s.w, bare_step(w0, g), rtol=0, atol=1e-15)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "; import sys; print('\\n'.join(sorted(sys.modules)))"],
                         cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    return set(out.stdout.split())


def test_reference_imports_only_numpy_and_stdlib():
    baseline = _modules_after("pass")
    loaded = _modules_after("import reference")
    assert "reference" in loaded and "numpy" in loaded
    tops = {m.split(".")[0] for m in loaded}
    bad = sorted(t for t in tops if t in FORBIDDEN)
    assert not bad, f"importing reference loaded {bad}"
    # Anything the import added beyond the bare interpreter is numpy, the stdlib, or reference itself.
    allowed = set(sys.stdlib_module_names) | {"numpy", "reference"}
    extra = sorted({m.split(".")[0] for m in loaded - baseline} - allowed)
    assert not extra, f"importing reference loaded non-stdlib modules {extra}"


def test_no_reference_file_imports_adapters_or_conformance():
    files = sorted(REFERENCE.glob("**/*.py"))
    assert files
    allowed = set(sys.stdlib_module_names) | {"numpy"}
    for f in files:
        text = f.read_text()
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert "adapters" not in stripped and "conformance" not in stripped, f"{f.name}: {line}"
        for node in ast.walk(ast.parse(text, filename=str(f))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in allowed, f"{f.name}: import {alias.name}"
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    assert node.module.split(".")[0] in allowed, f"{f.name}: from {node.module} import"
                else:  # relative: must stay inside the reference package
                    assert node.level == 1, f"{f.name}: relative import escapes reference/ (level {node.level})"


@given(st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from(
    [3.4028234663852886e38, 3.4028235677973362e38, 3.4028235677973366e38, -3.4028235677973366e38, 1.4e-45, 7e-46]),
    st.sampled_from(["float64", "float32", "float16", "bfloat16"]))
def test_round_scalar_is_round_to_on_one_number(x: float, dtype: str) -> None:
    """round_scalar's shortcut for float64/float32 (no arrays) gives round_to's value, bit for bit."""
    from reference.precision import round_scalar, round_to

    got, want = round_scalar(x, dtype), float(round_to(x, dtype))
    assert np.float64(got).tobytes() == np.float64(want).tobytes() or (np.isnan(got) and np.isnan(want))
