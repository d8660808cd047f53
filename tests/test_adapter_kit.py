"""The adapter kit and the worked example of docs/adapters.md, run as written.

``examples/kit_numpy.py`` is the complete example the docs show (the docs' code block must be that file,
byte for byte); run through the gate's own loader it must PASS every clause it declares native or
emulated in every dtype it declares. A one-line fault in its library must be caught, and protocol slips
in an adapter (a missing state, a wrong shape, a dtype the kit cannot name) must come out as the
*adapter's* error, never as the library's nonconformance.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from adapters.base import Raised, Ran, Support, Unsupported
from adapters.kit import KitError, dtype_name, learning_rate, merged_hyperparameters
from conformance.cases import Case, IterValue, ParamSpec, ScheduleValue, TensorValue
from conformance.clauses import CLAUSES
from conformance.compare import ERROR, FAIL, PASS, UNSUPPORTED, judge
from conformance.expected import expected
from conformance.generate import generate
from conformance.registry import resolve

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "kit_numpy.py"
SPEC = "examples/kit_numpy.py:adapter"


def test_docs_show_the_example_file_as_it_is() -> None:
    doc = (ROOT / "docs" / "adapters.md").read_text()
    blocks = re.findall(r"<!-- example: examples/kit_numpy.py -->\n```python\n(.*?)```\n", doc, re.S)
    assert blocks, "docs/adapters.md lost its worked example block"
    assert blocks[0] == EXAMPLE.read_text()


def test_worked_example_passes_every_declared_clause() -> None:
    adapter = resolve(SPEC)
    info = adapter.info()
    passed: Counter[tuple[str, str]] = Counter()
    problems = []
    for case in generate([c.id for c in CLAUSES], info.dtypes, 0, 3):
        if any(info.support_for(c) is Support.UNSUPPORTED for c in case.clauses):
            continue
        v = judge(case, expected(case), adapter.run(case))
        if v.verdict == PASS:
            passed.update((c, case.dtype) for c in case.clauses)
        elif v.verdict != UNSUPPORTED:
            problems.append(f"{case.id} {case.dtype} {case.clauses}: {v.verdict} {v.message[:200]}")
    assert not problems, "\n".join(problems[:20])
    for c in CLAUSES:
        if info.support_for(c.id) is not Support.UNSUPPORTED and c.id not in info.notes:
            assert all(passed[(c.id, d)] for d in info.dtypes), (c.id, {d: passed[(c.id, d)] for d in info.dtypes})


def _case(**hyper) -> Case:
    return Case(clauses=("UPD-EPS",), dtype="float64", params=(ParamSpec("w", (3,), [0.5, -1.0, 2.0]),),
                hyper=hyper, grads=({"w": {"dense": [0.1, -0.2, 0.3]}}, {"w": {"dense": [0.3, 0.1, -0.1]}}))


def test_a_one_line_fault_in_the_library_is_caught(monkeypatch) -> None:
    import examples.kit_numpy as ex

    c = _case(learning_rate=0.1, eps=0.01)
    assert judge(c, expected(c), ex.adapter.run(c)).verdict == PASS
    real_sqrt = np.sqrt
    monkeypatch.setattr(ex.np, "sqrt", lambda v: real_sqrt(v) + 1e-3)  # eps added twice, in effect
    assert judge(c, expected(c), ex.TinyAdamAdapter().run(c)).verdict == FAIL


@pytest.mark.parametrize("slip, says", [
    (lambda opt: {}, "no state for parameter 'w'"),
    (lambda opt: {"w": (np.zeros(4), None, None)}, "in shape (4,)"),
    (lambda opt: {"w": ([1, 2, 3], None, None)}, "cannot name dtype"),
])
def test_protocol_slips_are_the_adapters_error(slip, says) -> None:
    import examples.kit_numpy as ex

    class Slipping(ex.TinyAdamAdapter):
        def read(self, opt):
            return slip(opt)

    c = _case(learning_rate=0.1)
    out = Slipping().run(c)
    assert isinstance(out, Raised) and out.stage == "adapter" and says in out.message, out
    assert "numpy-kit" in out.message
    v = judge(c, expected(c), out)
    assert v.verdict == ERROR and v.error_kind == "adapter"


@pytest.mark.parametrize("given, name", [
    ("float32", "float32"), (np.float16, "float16"), (np.dtype("float64"), "float64"), ("torch.bfloat16", "bfloat16"),
    ("bf16", "bfloat16"), ("mindspore.float32", "float32"), ("Float16", "float16"),
])
def test_dtype_names_are_normalised(given, name) -> None:
    assert dtype_name(given) == name


def test_an_unknown_dtype_names_the_adapter() -> None:
    with pytest.raises(KitError, match=r"^my-adapter: cannot name dtype"):
        dtype_name("int8", "my-adapter")


def test_defaults_merged_and_lr_forms() -> None:
    h = merged_hyperparameters(_case(beta1=0.5))
    assert h["beta1"] == 0.5 and h["beta2"] == 0.999 and h["eps"] == 1e-8 and h["loss_scale"] == 1.0
    assert learning_rate(True).at(3) == 1.0
    assert learning_rate(TensorValue(np.asarray(0.25))).kind == "fixed"
    seq = learning_rate(IterValue((0.1, 0.2)))
    assert (seq.kind, seq.at(1)) == ("sequence", 0.2)
    assert learning_rate(TensorValue(np.ones((2, 2)))).kind == "literal"
    sched = learning_rate(ScheduleValue("WarmUpLR", {"learning_rate": 0.1, "warmup_steps": 4}))
    assert sched.dynamic and sched.at(2) == pytest.approx(0.05)


def test_sequence_past_its_end_is_unsupported() -> None:
    import examples.kit_numpy as ex

    out = ex.adapter.run(_case(learning_rate=[0.1]))
    assert isinstance(out, Unsupported) and "update 2" in out.reason


def test_groups_and_filter_are_the_kits_data() -> None:
    import examples.kit_numpy as ex

    c = Case(clauses=("DEC-FILTER",), dtype="float64",
             params=(ParamSpec("w", (2,), [1.0, 2.0]), ParamSpec("gamma", (2,), [1.0, 2.0])),
             hyper={"learning_rate": 0.1, "weight_decay": 0.5},
             grads=({"w": {"dense": [0.1, 0.1]}, "gamma": {"dense": [0.1, 0.1]}},))
    out = ex.adapter.run(c)
    assert isinstance(out, Ran)
    assert judge(c, expected(c), out).verdict == PASS
    assert not np.allclose(out.steps[0]["w"].m, out.steps[0]["gamma"].m)  # only w was decayed


def test_the_documented_command_finds_exactly_the_documented_deviation(cli, tmp_path) -> None:
    """The docs' command, as written: exit 1, and the one deviation the example's docstring names -- eps added
    in float16 underflows to 0, and a dead element computes 0/0 -- with every other case passing."""
    out = tmp_path / "run"
    proc = cli("run", "--adapter", SPEC, "--dtypes", "float64,float32,float16", "--out", out, "--quiet")
    assert proc.returncode == 1, proc.stderr[-3000:]
    records = cli.records(out)
    bad = [r for r in records if r["verdict"] not in (PASS, UNSUPPORTED)]
    got = [(r["verdict"], r["dtype"], r["clauses"][0], r.get("error_kind")) for r in bad]
    assert got == [(ERROR, "float16", "UPD-EPS", "nonfinite")], [(r["dtype"], r["clauses"], r["message"]) for r in bad]
    assert "dead-elements" in json.loads((out / bad[0]["case_file"]).read_text())["title"]
    assert sum(r["verdict"] == PASS for r in records) > 500
