"""What wave 12 closed: a declared dtype that nothing judged.

The "nothing judged" rule asked for a judged case in every clause family, not in every declared dtype.
An adapter that declares a dtype and then declines each of its cases at run time was green as long as
its other dtypes were judged. The published run showed it: MindSpore declared bfloat16, every one of its
236 bfloat16 cases per variant came back "cannot build bfloat16 Parameters", and the gate said exit 0.
Now each declared dtype needs a judged case, and the MindSpore adapter says why it cannot run bfloat16
here (its NumPy bfloat16 support does not match the NumPy installed) instead of declaring it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.base import AdapterInfo
from conformance.cases import Case
from conformance.runner import declared_skip

pytest_plugins = ["pytester"]

TINY = ("--clauses", "UPD-MOMENTS,DEC-L2", "--max-examples", 1, "--no-corpus", "--no-shrink", "--quiet")

HALF_DECLINER = textwrap.dedent('''
    import dataclasses

    from adapters.base import Unsupported
    from adapters.numpy_lowp import NumpyLowPrecisionAdapter


    class Declares(NumpyLowPrecisionAdapter):
        """Faithful in float32; declares float16 and then declines every float16 case."""

        name = "half-decliner"

        def run(self, case):
            if case.dtype == "float16":
                return Unsupported("not in float16 today")
            return super().run(case)


    class Honest(NumpyLowPrecisionAdapter):
        """The same float32 work, with float16 declared away and the reason given."""

        name = "half-honest"

        def info(self):
            info = super().info()
            return dataclasses.replace(info, dtypes=("float32",), notes={"float16": "no half kernels here"})
''')


ADAPTERS, ADAPTERS_FILE = HALF_DECLINER, "half_decliner_w12.py"  # conftest.adapters_file writes them


def test_a_declared_dtype_declined_wholesale_is_not_green(cli: Any, tmp_path: Path, adapters_file: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", "--adapter", f"{adapters_file}:Declares", "--dtypes", "float32,float16", *TINY, "--out", out)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "half-decliner: judged no float16 case" in proc.stderr, proc.stderr[-2000:]
    recs = cli.records(out)
    assert {r["verdict"] for r in recs if r["dtype"] == "float32"} == {"PASS"}  # only the dtype is at fault
    assert {r["verdict"] for r in recs if r["dtype"] == "float16"} == {"UNSUPPORTED"}


def test_a_dtype_declared_away_with_a_reason_stays_green_and_says_why(cli: Any, tmp_path: Path,
                                                                       adapters_file: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", "--adapter", f"{adapters_file}:Honest", "--dtypes", "float32,float16", *TINY, "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "note: half-honest does not run float16: no half kernels here" in proc.stderr + proc.stdout
    half = [r for r in cli.records(out) if r["dtype"] == "float16"]
    assert half and all(r["verdict"] == "UNSUPPORTED" and r["unsupported_by"] == "declared" for r in half)
    assert all(r["message"].endswith("(float32): no half kernels here") for r in half), half[0]["message"]


def test_declared_skip_names_the_dtype_reason_only_when_given() -> None:
    from conformance.generate import generate

    case: Case = generate(["UPD-MOMENTS"], ["float16"], 0, 1)[0]
    bare = AdapterInfo("a", "", {}, "cpu", ("float32",))
    noted = AdapterInfo("a", "", {}, "cpu", ("float32",), notes={"float16": "why not"})
    assert declared_skip(case, bare) == "float16 not among the dtypes it runs (float32)"
    assert declared_skip(case, noted) == "float16 not among the dtypes it runs (float32): why not"


# ---- MindSpore's bfloat16 -------------------------------------------------------------------------------

def test_mindspore_declares_bfloat16_exactly_when_nn_adam_can_be_built_with_it() -> None:
    pytest.importorskip("mindspore")
    from adapters import mindspore_adam as m

    ms = m._ms()
    why = m._no_numpy_bfloat16()
    p = m._parameter(np.array([1.0078125, -3.140625, 0.0, -0.0, np.inf]), "bfloat16", "w")
    assert p.dtype == ms.bfloat16
    got = m._to_f64(p)
    np.testing.assert_array_equal(got, [1.0078125, -3.140625, 0.0, -0.0, np.inf])
    assert np.signbit(got[3])
    try:
        ms.nn.Adam([p], learning_rate=0.1)
        built = ""
    except TypeError as e:
        built = str(e)
    info = m.MindSporeAdam().info()
    if why:  # this environment: the adapter's check and nn.Adam agree, and the reports say why
        assert built, "nn.Adam took bfloat16 Parameters, yet the adapter declared bfloat16 away"
        assert "bfloat16" not in info.dtypes and info.notes["bfloat16"] == why
        assert {"float64", "float32", "float16"} <= set(info.dtypes)
    else:
        assert not built, built
        assert "bfloat16" in info.dtypes and "bfloat16" not in info.notes


def test_mindspore_cannot_build_is_an_error_never_a_decline(cli: Any, tmp_path: Path) -> None:
    """Were a declared dtype's Parameters unbuildable, every case of it would be an adapter ERROR."""
    pytest.importorskip("mindspore")
    f = tmp_path / "ms_unbuildable_w12.py"
    f.write_text(textwrap.dedent('''
        from adapters import mindspore_adam as m


        def _broken(values, dtype, name):
            raise TypeError("no " + dtype + " Parameters here")


        class Adapter(m.MindSporeAdam):
            name = "ms-unbuildable"

            def run(self, case):
                m._parameter = _broken
                return super().run(case)
    '''))
    out = tmp_path / "run"
    proc = cli("run", "--adapter", f"{f}:Adapter", "--dtypes", "float32", "--clauses", "UPD-MOMENTS",
               "--max-examples", 1, "--no-corpus", "--no-shrink", "--quiet", "--out", out)
    assert proc.returncode == 1, proc.stderr[-2000:]
    recs = cli.records(out)
    assert recs and all(r["verdict"] == "ERROR" and "cannot build float32 Parameters" in r["message"] for r in recs), \
        [(r["verdict"], r["message"]) for r in recs]


# ---- a family declined in one dtype, and the case set that lets a sparse-only optimizer be judged ---------

def test_a_family_declined_in_one_dtype_is_not_green(cli: Any, tmp_path: Path) -> None:
    f = tmp_path / "dec_decliner_w12.py"
    f.write_text(textwrap.dedent('''
        from adapters.base import Unsupported
        from adapters.numpy_lowp import NumpyLowPrecisionAdapter


        class Adapter(NumpyLowPrecisionAdapter):
            name = "dec-decliner"

            def run(self, case):
                if case.dtype == "float16" and case.family == "DEC":
                    return Unsupported("no decay in float16 today")
                return super().run(case)
    '''))
    out = tmp_path / "run"
    proc = cli("run", "--adapter", f"{f}:Adapter", "--dtypes", "float32,float16", *TINY, "--out", out)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "dec-decliner: judged no DEC case in float16" in proc.stderr, proc.stderr[-2000:]
    assert "judged no float16 case" not in proc.stderr and "judged no DEC case (" not in proc.stderr


def test_every_dtype_has_an_all_sparse_duplicates_case() -> None:
    """SPR-DUPLICATES cases carry no dense parameter unless a group needs one: a sparse-only optimizer
    (SparseAdam refuses dense gradients) meets the SPR family in every dtype. Before, the float32 and
    bfloat16 streams drew a dense parameter beside the sparse one in every case, and SparseAdam's
    duplicate and lazy-row deviations in bfloat16 went unseen."""
    from conformance.generate import generate

    dtypes = ["float64", "float32", "float16", "bfloat16"]
    cases = generate(["SPR-DUPLICATES"], dtypes, 0, 6)
    for dt in dtypes:
        mine = [c for c in cases if c.dtype == dt and c.clauses == ("SPR-DUPLICATES",)]
        assert mine and all(all(c.is_sparse(n) for n in c.names) for c in mine), \
            (dt, [[(n, c.is_sparse(n)) for n in c.names] for c in mine])
    dense_beside = generate(["SPR-DENSE-EQUIV"], dtypes, 0, 6)  # the mixed layout is still drawn there
    assert any(not c.is_sparse(n) for c in dense_beside for n in c.names)


def test_the_plugin_fails_the_items_of_a_dtype_declined_wholesale(pytester: pytest.Pytester) -> None:
    f = pytester.path / "half_decliner_plugin_w12.py"
    f.write_text(HALF_DECLINER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--adam-adapter", f"{f}:Declares",
                                           "--adam-clauses", "UPD-MOMENTS", "--adam-dtypes", "float32,float16",
                                           "--adam-max-examples", "1", "-rA")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-3000:]
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*FAILED*UPD-MOMENTS*float16*"])
    assert "judged no float16 case" in result.stdout.str()
