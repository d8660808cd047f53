"""The pytest plugin as a user meets it: ``pytest --adam-adapter ...`` in a project of their own.

The pure part (which record counts under which item, and what the item then reports) is tested
directly on records; the rest runs pytest in a temporary project (``pytester``), with a faithful and
a faulty ``torch.optim.Optimizer`` written there (the faulty one adds eps after bias correction, as
``torch.optim.Adam`` does), and NumPy adapters from ``conformance.zoo`` where a test is about the
plugin's plumbing (``-x``, ``-k``, xdist, an adapter that cannot run) rather than about torch.
Each run is kept small (two clauses, float32, two examples): its cost is the adapter workers' start.
"""

from __future__ import annotations

import importlib.util
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.model import Record
from conformance.pytest_plugin import AdapterRun, as_plugin_flags, assign, worst_first

pytest_plugins = ["pytester"]

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_XDIST = importlib.util.find_spec("xdist") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed (pip install -e '.[torch]')")

SMALL = ("--adam-clauses", "UPD-EPS,UPD-MOMENTS", "--adam-dtypes", "float32", "--adam-max-examples", "2")
FAULTY_NP = "conformance.zoo.numpy_faults:FaultyEpsAfterBias"
FAITHFUL_NP = "conformance.zoo.numpy_faults:FaithfulAdapter"

TORCH_MODULE = '''
"""A user's own optimizers: one faithful to mindspore.nn.Adam, one with torch's epsilon placement."""
import math

from conformance.zoo.faithful_torch import FaithfulAdam


class EpsAfterBias(FaithfulAdam):
    """eps added to sqrt(v_hat): in the spec's form, eps * sqrt(1 - beta2^t)."""

    def _update(self, p, grad, lr, b1, b2, eps, wd, nesterov):
        t = self.state[p].get("step", 0) + 1
        super()._update(p, grad, lr, b1, b2, eps * math.sqrt(1.0 - b2**t), wd, nesterov)
'''

NOT_HERE = '''
from adapters.base import Adapter


class NotHere(Adapter):
    name = "not-here"

    def available(self):
        return False, "needs hardware this machine lacks"

    def info(self):
        raise RuntimeError("never asked")

    def run(self, case):
        raise RuntimeError("never run")
'''


def literal(text: str) -> str:
    """``text`` as an fnmatch pattern that matches only itself (brackets are character classes there)."""
    return re.sub(r"[][*?]", lambda m: f"[{m.group()}]", text)


def rec(verdict: str, clauses: tuple[str, ...] = ("UPD-EPS",), deviates: tuple[str, ...] = (), **kw: object) -> Record:
    return Record(case_id=kw.pop("case_id", "UPD-000000000000"), adapter="a", clauses=clauses,  # type: ignore[arg-type]
                  dtype=kw.pop("dtype", "float32"), verdict=verdict, deviates=deviates, **kw)  # type: ignore[arg-type]


def adapter_run(records: list[Record], keys: list[tuple[str, str]], **kw: object) -> AdapterRun:
    args: dict = {"spec": "torch:m:C", "name": "a", "out": Path("."), "by_key": assign(records, keys), "wide": [],
                  "scoped": {}, "xpass": [], "unavailable": False, "allow_unavailable": False}
    args.update(kw)
    return AdapterRun(**args)


# ---- which records count where, and what an item then says --------------------------------------------

def test_a_failure_counts_under_its_charged_clauses_and_a_pass_under_all() -> None:
    keys = [("UPD-EPS", "float32"), ("UPD-MOMENTS", "float32"), ("UPD-EPS", "float16")]
    fail = rec("FAIL", ("UPD-MOMENTS", "UPD-EPS"), deviates=("UPD-EPS",), case_id="UPD-00000000000a")
    ok = rec("PASS", ("UPD-MOMENTS", "UPD-EPS"), case_id="UPD-00000000000b")
    got = assign([fail, ok], keys)
    assert got[("UPD-EPS", "float32")] == [fail, ok]
    assert got[("UPD-MOMENTS", "float32")] == [ok]
    assert got[("UPD-EPS", "float16")] == []


def test_a_failure_charged_only_to_unselected_clauses_counts_under_the_cases_own() -> None:
    fail = rec("FAIL", ("UPD-MOMENTS",), deviates=("UPD-BIAS",))
    assert assign([fail], [("UPD-MOMENTS", "float32")])[("UPD-MOMENTS", "float32")] == [fail]


def test_worst_first_puts_errors_then_the_largest_ratio_first() -> None:
    a = rec("FAIL", ratio=3.0, case_id="UPD-00000000000a")
    b = rec("FAIL", ratio="inf", case_id="UPD-00000000000b")  # as results.jsonl holds a non-finite ratio
    c = rec("ERROR", case_id="UPD-00000000000c")
    d = rec("FAIL", ratio=50.0, case_id="UPD-00000000000d")
    assert [r.case_id[-1] for r in worst_first([a, b, c, d])] == ["c", "b", "d", "a"]


def test_item_outcomes() -> None:
    key = ("UPD-EPS", "float32")
    bad = rec("FAIL", ratio=7.0, message="w off", replay="adam-conformance replay f.json --adapter torch:m:C")
    o = adapter_run([rec("PASS"), bad], [key]).outcome(key)
    assert o.kind == "failed" and "1 of 2 case(s) fail" in o.message and "x the bound" in o.message
    assert o.replay == bad.replay and f"replay: {bad.replay}" in o.message

    waived = rec("XFAIL", raw_verdict="FAIL", baseline="deviation #1 (a: UPD-EPS)", message="known deviation")
    assert adapter_run([waived, rec("PASS")], [key]).outcome(key).kind == "xfailed"

    class Entry:  # a baseline entry the gate found waiving nothing (XPASS)
        adapter, dtypes, case, clauses, reason = "a", (), None, ("UPD-E*",), "old"

        def label(self) -> str:
            return "deviation #1 (a: UPD-E*)"

    o = adapter_run([rec("PASS")], [key], xpass=[Entry()]).outcome(key)
    assert o.kind == "failed" and o.message.startswith("[XPASS(strict)] deviation #1")
    moments = ("UPD-MOMENTS", "float32")
    assert adapter_run([rec("PASS", ("UPD-MOMENTS",))], [moments], xpass=[Entry()]).outcome(moments).kind == "passed"

    assert adapter_run([rec("UNSUPPORTED", unsupported_by="declaration")], [key]).outcome(key).kind == "skipped"
    assert adapter_run([], [key]).outcome(key).kind == "skipped"
    fam = adapter_run([rec("UNSUPPORTED")], [key, ("DEC-L2", "float32")], scoped={("UPD", ""): "a: judged no UPD case"})
    assert fam.outcome(key).kind == "failed" and fam.outcome(("DEC-L2", "float32")).kind == "skipped"
    keys = [key, ("DEC-L2", "float32"), ("UPD-EPS", "float16"), ("DEC-L2", "float16")]
    half = adapter_run([rec("UNSUPPORTED")], keys, scoped={("", "float16"): "a: judged no float16 case (1 ...)"})
    assert [half.outcome(k).kind for k in keys] == ["skipped", "skipped", "failed", "failed"]
    both = adapter_run([rec("UNSUPPORTED")], keys, scoped={("DEC", "float16"): "a: judged no DEC case in float16 (1"})
    assert [both.outcome(k).kind for k in keys] == ["skipped", "skipped", "skipped", "failed"]

    gone = adapter_run([], [key], wide=["x cannot run here: no GPU (it was requested; pass --adam-allow-unavailable "
                                        "to skip adapters that cannot run)"], unavailable=True)
    assert gone.outcome(key).kind == "failed"
    gone.allow_unavailable = True
    assert gone.outcome(key).kind == "skipped" and "it was requested" not in gone.outcome(key).message


def test_gate_messages_name_the_plugins_flags() -> None:
    assert as_plugin_flags("--clauses 'X' selects no clause; pass --allow-unavailable") == (
        "--adam-clauses 'X' selects no clause; pass --adam-allow-unavailable")
    assert as_plugin_flags("--adam-clauses stays") == "--adam-clauses stays"


# ---- pytest in a temporary project: options and collection (no gate run) ------------------------------

def test_without_adam_adapter_the_plugin_adds_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own="def test_own():\n    assert True\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["collected 1 item"])
    assert "adam-conformance::" not in result.stdout.str() and "=== adam-conformance ===" not in result.stdout.str()


def test_adam_options_without_an_adapter_only_warn(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own="def test_own():\n    assert True\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--adam-seed", "3")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*adam-conformance: --adam-seed given without --adam-adapter: the gate does not run*"])


@pytest.mark.parametrize("args, says", [
    (("--adam-clauses", "NOPE"), "*--adam-clauses pattern(s) " + literal("['NOPE']") + " match no clause*"),
    (("--adam-dtypes", "float8"), "*float8*"),
    (("--adam-baseline", "missing.toml"), "*missing.toml*"),
])
def test_bad_adam_options_are_one_line_before_any_work(pytester: pytest.Pytester, args: tuple[str, ...],
                                                      says: str) -> None:
    pytester.makepyfile(mod="class Cls: ...")  # a module that exists: the bad option is what is refused
    result = pytester.runpytest_inprocess("--adam-adapter", "torch:mod:Cls", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr.str()
    result.stderr.fnmatch_lines([says])
    assert not (pytester.path / "reports").exists()


def test_one_item_per_adapter_clause_dtype_selectable_with_k(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(mod="class Cls: ...")
    args = ("--adam-adapter", "torch:mod:Cls", "--adam-adapter", "reference-f32", "--adam-clauses",
            "UPD-EPS,UPD-MOMENTS", "--adam-dtypes", "float32,float16", "--collect-only", "-q")
    result = pytester.runpytest_inprocess(*args)
    assert result.ret == pytest.ExitCode.OK
    ids = [line for line in result.stdout.lines if line.startswith("adam-conformance::")]
    assert len(ids) == 8 and ids[0] == "adam-conformance::adam[torch:mod:Cls-UPD-MOMENTS-float32]"
    picked = pytester.runpytest_inprocess(*args, "-k", "UPD-EPS and float16 and reference")
    assert [line for line in picked.stdout.lines if line.startswith("adam-conformance::")] == [
        "adam-conformance::adam[reference-f32-UPD-EPS-float16]"]


# ---- pytest in a temporary project: gate runs ---------------------------------------------------------

@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)  # never append to a real CI job summary
    pytester.makepyfile(myadam=TORCH_MODULE, nothere=NOT_HERE)
    return pytester


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess("-p", "no:cacheprovider", *args)


@needs_torch
def test_faithful_and_faulty_torch_optimizers(project: pytest.Pytester) -> None:
    """The issue's "done when": a faithful class passes, a faulty one fails with its diagnosis, in junit too."""
    result = run(project, "--adam-adapter", "torch:myadam:FaithfulAdam", "--adam-adapter", "torch:myadam:EpsAfterBias",
                 *SMALL, "--junitxml", "junit.xml")
    result.assert_outcomes(passed=3, failed=1)
    failing = "adam[torch:myadam:EpsAfterBias-UPD-EPS-float32]"
    result.stdout.fnmatch_lines([
        "UPD-EPS in float32: * case(s) fail (FAIL *)", "worst: UPD-* FAIL (error *x the bound): *",
        "replay: adam-conformance replay *failures/UPD-*.json --adapter torch:myadam:EpsAfterBias",
        f"FAILED adam-conformance::{literal(failing)}*"])
    replay = next(line for line in result.stdout.lines if line.startswith("replay: ")).split()[3]
    assert json.loads((project.path / replay).read_text())["clauses"]  # the case file it names is there
    cases = ET.parse(project.path / "junit.xml").getroot().iter("testcase")
    by_name = {c.get("name"): c for c in cases}
    assert len(by_name) == 4 and {c.get("classname") for c in by_name.values()} == {"adam-conformance"}
    assert [n for n, c in by_name.items() if c.find("failure") is not None] == [failing]
    props = {p.get("name"): p.get("value") for p in by_name[failing].iter("property")}
    assert props["adam_replay"].startswith("adam-conformance replay ")


@needs_torch
def test_baseline_entries_xfail_and_a_stale_one_fails_strictly(project: pytest.Pytester) -> None:
    project.makefile(".toml", baseline='''
[[deviation]]
adapter = "torch:myadam:EpsAfterBias"
clauses = ["UPD-EPS"]
verdicts = ["FAIL"]
reason = "torch's epsilon placement"

[[deviation]]
adapter = "torch:myadam:EpsAfterBias"
clauses = ["UPD-MOMENTS"]
verdicts = ["FAIL"]
reason = "fixed long ago"
''')
    result = run(project, "--adam-adapter", "torch:myadam:EpsAfterBias", *SMALL, "--adam-baseline", "baseline.toml",
                 "-rxf")
    result.assert_outcomes(xfailed=1, failed=1)
    result.stdout.fnmatch_lines([literal("[XPASS(strict)]") + " deviation #2 *UPD-MOMENTS* (fixed long ago)*",
                                 "XFAIL *EpsAfterBias-UPD-EPS-float32* known deviation*"])


def test_k_narrows_the_gate_and_x_stops_before_the_next_adapter_starts(project: pytest.Pytester) -> None:
    result = run(project, "--adam-adapter", FAULTY_NP, "--adam-adapter", FAITHFUL_NP, *SMALL, "-k", "UPD-EPS", "-x")
    result.assert_outcomes(failed=1, deselected=2)
    runs = [p for p in (project.path / "reports" / "adam-conformance").iterdir() if p.is_dir()]
    assert [p.name for p in runs] == ["conformance.zoo.numpy_faults_FaultyEpsAfterBias"]  # the faithful one never ran
    assert json.loads((runs[0] / "run.json").read_text())["clauses"] == ["UPD-EPS"]  # -k deselected UPD-MOMENTS


def test_an_adapter_that_cannot_run_here_fails_its_items_with_the_gates_line(project: pytest.Pytester) -> None:
    result = run(project, "--adam-adapter", "nothere.py:NotHere", "--adam-clauses", "UPD-EPS", "--adam-dtypes",
                 "float32", "--adam-max-examples", "1", "--adam-out", "out")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["not-here cannot run here: needs hardware this machine lacks (*"
                                 "--adam-allow-unavailable*"])


@pytest.mark.skipif(not HAS_XDIST, reason="pytest-xdist is not installed (pip install -e '.[test]')")
def test_xdist_judges_each_adapter_once(project: pytest.Pytester) -> None:
    result = run(project, "--adam-adapter", FAULTY_NP, "--adam-adapter", FAITHFUL_NP, *SMALL, "-n", "2")
    result.assert_outcomes(passed=3, failed=1)
    summary = [line for line in result.stdout.lines if " in " in line and "; reports in " in line]
    assert sorted(line.split(":", 2)[1] for line in summary) == ["FaithfulAdapter", "FaultyEpsAfterBias"]
