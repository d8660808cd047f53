"""What wave 9 closed on the gate's surfaces.

A misspelt user module (``--adapter torch:mypkgg.optim:MyAdam``) used to start every worker and give
exit 1 with every case an ERROR: now it is refused in one line, exit 2, before --out is touched, and
without importing anything in the gate process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance import registry
from conformance.errors import UsageError

pytest_plugins = ["pytester"]

TINY = ("--clauses", "UPD-MOMENTS", "--dtypes", "float32", "--max-examples", 1, "--no-corpus", "--no-shrink",
        "--quiet")


# ---- a user module that is nowhere on the path ------------------------------------------------------------

@pytest.mark.parametrize("spec", ["torch:no_such_pkg_w9.optim:MyAdam", "optax:no_such_pkg_w9:my_adam",
                                  "no_such_pkg_w9.adapters:adapter"])
def test_a_module_nowhere_on_the_path_is_refused_before_out_is_touched(cli: Any, tmp_path: Path,
                                                                      spec: str) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text("{}")  # what a previous run left: it must survive the refusal
    proc = cli("run", "--adapter", spec, *TINY, "--out", out)
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = cli.usage_error(proc)
    assert "no module named 'no_such_pkg_w9'" in line and spec in line
    assert (out / "run.json").read_text() == "{}"


def test_the_check_imports_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "loud_w9.py").write_text("raise SystemExit('imported in the gate process')\n")
    pkg = tmp_path / "loudpkg_w9"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise SystemExit('imported in the gate process')\n")
    monkeypatch.chdir(tmp_path)  # the working directory is searched first, as the worker does
    for spec in ("torch:loud_w9:Adam", "loudpkg_w9.missing:adapter", "optax:loudpkg_w9.sub:f"):
        registry.check_findable(spec)  # found, and not imported
    assert "loud_w9" not in sys.modules and "loudpkg_w9" not in sys.modules


def test_registered_names_files_and_installed_modules_pass() -> None:
    for spec in ("reference", "torch:conformance.zoo.faithful_torch:FaithfulAdam", "examples/kit_numpy.py:adapter",
                 "optax:json:loads"):
        registry.check_findable(spec)
    with pytest.raises(UsageError, match="no module named 'no_such_pkg_w9'"):
        registry.check_findable("torch:no_such_pkg_w9:X")


def test_a_missing_submodule_of_a_real_package_is_still_the_workers_to_report(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", "--adapter", "torch:conformance.zoo.no_such_w9:X", *TINY, "--out", out)
    assert proc.returncode == 1, proc.stderr[-2000:]
    recs = cli.records(out)
    assert recs and all(r["verdict"] == "ERROR" and "conformance.zoo.no_such_w9" in r["message"] for r in recs)


def test_the_python_api_refuses_it_too(tmp_path: Path) -> None:
    import conformance
    with pytest.raises(UsageError, match="no module named 'no_such_pkg_w9'"):
        conformance.run(conformance.RunConfig(adapters=["torch:no_such_pkg_w9:X"], out=tmp_path / "r",
                                              clauses="UPD-MOMENTS", dtypes="float32", max_examples=1))
    assert not (tmp_path / "r").exists()



def test_the_plugin_refuses_a_misspelt_module_in_one_line(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("--adam-adapter", "torch:no_such_pkg_w9:Cls", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and "no module named 'no_such_pkg_w9'" in errors[0], result.stderr.str()
    assert not (pytester.path / "reports").exists()


def test_replay_refuses_a_misspelt_module_in_one_line(cli: Any) -> None:
    case = next((Path(__file__).resolve().parent.parent / "reports" / "published" / "failures").glob("*.json"))
    proc = cli("replay", case, "--adapter", "torch:no_such_pkg_w9:X")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "no module named 'no_such_pkg_w9'" in cli.usage_error(proc)


# ---- red teams (wave 9): an implementation declining the cases it would fail ----------------------------

DODGERS = '''
from concurrent.futures import Future

import torch
from adapters.torch_adam import Skip
from conformance.zoo.faithful_torch import FaithfulAdam

_calls = {"dense": 0, "sparse": 0}


def _layout(opt):
    for g in opt.param_groups:
        for p in g["params"]:
            if p.grad is not None:
                return "sparse" if p.grad.is_sparse else "dense"
    return None


class DenseDodger(FaithfulAdam):
    """Refuses only the first dense step it is ever asked; then plain SGD (wrong)."""

    @torch.no_grad()
    def step(self, closure=None):
        if _layout(self) == "dense":
            _calls["dense"] += 1
            if _calls["dense"] == 1:
                raise RuntimeError("dense gradients are not supported, use sparse")
            for g in self.param_groups:
                for p in g["params"]:
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-g["lr"])
            return None
        return super().step(closure)


class SparseDodger(FaithfulAdam):
    """Refuses only the first sparse step (the adapter's probe): SPR-* would be declared refused."""

    @torch.no_grad()
    def step(self, closure=None):
        if _layout(self) == "sparse":
            _calls["sparse"] += 1
            if _calls["sparse"] == 1:
                raise RuntimeError("sparse gradients are not supported")
        return super().step(closure)


class SelectiveRefuser(FaithfulAdam):
    """Refuses sparse gradients in the probe and wherever weight decay is asked; Adam elsewhere."""

    @torch.no_grad()
    def step(self, closure=None):
        if _layout(self) == "sparse":
            _calls["sparse"] += 1
            if _calls["sparse"] == 1 or any(g["weight_decay"] for g in self.param_groups):
                raise RuntimeError("sparse gradients are not supported")
        return super().step(closure)


class SkipDodger(FaithfulAdam):
    """Raises the torch adapter's own Skip wherever weight decay is asked."""

    @torch.no_grad()
    def step(self, closure=None):
        if any(g["weight_decay"] for g in self.param_groups):
            raise Skip("the learning-rate sequence has 1 values; update 2 needs one more")
        return super().step(closure)


class SkipInGroups(FaithfulAdam):
    """Raises the adapter's Skip when the adapter reads its param_groups (not from step())."""

    @property
    def param_groups(self):
        if getattr(self, "_armed", False) and any(g["weight_decay"] for g in self.__dict__["_groups"]):
            raise Skip("no counterpart")
        return self.__dict__["_groups"]

    @param_groups.setter
    def param_groups(self, value):
        self.__dict__["_groups"] = value
        self._armed = True


class _State(dict):
    pass


class SkipThroughTheStdlib(FaithfulAdam):
    """Hands the adapter a state whose ``get`` is a Future's ``result``: the stdlib raises the Skip."""

    @torch.no_grad()
    def step(self, closure=None):
        super().step(closure)
        if any(g["weight_decay"] for g in self.param_groups):
            fut = Future()
            fut.set_exception(Skip("weight_decay: no counterpart"))
            for g in self.param_groups:
                for p in g["params"]:
                    st = _State(self.state[p])
                    st.get = fut.result
                    self.state[p] = st
'''


@pytest.fixture()
def dodgers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytest.importorskip("torch")
    (tmp_path / "dodgers_w9.py").write_text(DODGERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    sys.modules.pop("dodgers_w9", None)
    return tmp_path


def _torch_user(cls: str) -> Any:
    from adapters.generic_torch import load
    return load(f"dodgers_w9:{cls}")


def _dense_case(hyper: dict[str, Any]) -> Any:
    from conformance.cases import Case, ParamSpec, encode_value
    return Case(("UPD-MOMENTS",), "float32", (ParamSpec("w", (2,), [0.5, -1.0]),), "steps",
                {k: encode_value(v) for k, v in hyper.items()}, None, None,
                tuple({"w": {"dense": [0.1 * (i + 1), -0.2]}} for i in range(2)), "a dense case")


def test_a_users_class_cannot_refuse_dense_gradients_by_design(dodgers: Path) -> None:
    from adapters.base import Raised, Ran
    a = _torch_user("DenseDodger")
    assert "dense" not in a.refused_layouts  # no dense probe for a user's class: its dense cases are judged
    first, second = a.run(_dense_case({"learning_rate": 0.1})), a.run(_dense_case({"learning_rate": 0.1}))
    assert isinstance(first, Raised) and isinstance(second, Ran), (first, second)


def test_a_probe_refusal_that_is_not_kept_is_an_error(dodgers: Path) -> None:
    from adapters.base import Raised
    a = _torch_user("SparseDodger")
    assert "sparse" in a.refused_layouts  # the probe was refused ...
    out = a.run(_dense_case({"learning_rate": 0.1}))  # ... and this case's gradients, made sparse, were not
    assert isinstance(out, Raised) and out.type == "InconsistentRefusal", out


def test_a_selective_refusal_cannot_hide_the_cases_it_would_fail(dodgers: Path) -> None:
    from adapters.base import Raised, Ran
    a = _torch_user("SelectiveRefuser")
    assert isinstance(a.run(_dense_case({"learning_rate": 0.1, "weight_decay": 0.1})), Ran)  # refused, consistently
    out = a.run(_dense_case({"learning_rate": 0.1}))  # sparse taken here: the refusal was no design
    assert isinstance(out, Raised) and out.type == "InconsistentRefusal", out


@pytest.mark.parametrize("cls", ["SkipDodger", "SkipInGroups", "SkipThroughTheStdlib"])
def test_the_adapters_own_decline_raised_by_the_class_is_a_raise(dodgers: Path, cls: str) -> None:
    from adapters.base import Raised, Ran
    a = _torch_user(cls)
    assert isinstance(a.run(_dense_case({"learning_rate": 0.1})), Ran)
    out = a.run(_dense_case({"learning_rate": 0.1, "weight_decay": 0.1}))
    assert isinstance(out, Raised) and out.type == "adapters.torch_adam.Skip", out


def test_a_dense_dodger_is_not_conformant(cli: Any, dodgers: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", "--adapter", "torch:dodgers_w9:DenseDodger", "--clauses", "UPD-MOMENTS", "--dtypes", "float32",
               "--max-examples", 2, "--no-corpus", "--no-shrink", "--quiet", "--out", out)
    assert proc.returncode == 1, proc.stderr[-2000:]
    recs = cli.records(out)
    assert recs and all(r["verdict"] in ("FAIL", "ERROR") for r in recs), [r["verdict"] for r in recs]


OPTAX_DODGERS = '''
import inspect
from unittest import mock

import optax
from adapters.optax_adam import NoCounterpart


def adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8):
    if not 0.0 < b1 < 1.0:  # it would fail the beta refusals: it declines them in the adapter's words instead
        raise NoCounterpart("optax has no counterpart for this argument")
    return optax.adam(learning_rate, b1, b2, eps)


def _spec(learning_rate, b1=0.9, b2=0.999, eps=1e-8):
    ...


class _Effects:
    def __iter__(self):
        return self

    def __next__(self):  # the stdlib's mock raises an exception its side effect returns
        kw = mocked.call_args.kwargs
        if not 0.0 < kw.get("b1", 0.9) < 1.0:
            return NoCounterpart("no counterpart")
        return optax.adam(**kw)


mocked = mock.Mock(spec=_spec, side_effect=_Effects())
mocked.__signature__ = inspect.signature(_spec)
mocked.__name__ = "mocked"
'''

KIT_DODGER = '''
from adapters.kit import NoCounterpart
from examples.kit_numpy import TinyAdamAdapter
import kit_library_w9


class Declares(TinyAdamAdapter):
    name = "kit-declares"

    def plan(self, case):
        p = super().plan(case)
        if p.hyper["beta1"] == 0.0:
            raise NoCounterpart("the adapter's author says: no beta1=0 in this library")  # a declaration
        return p


class DeclinesInConstruct(TinyAdamAdapter):
    name = "kit-declines-late"

    def construct(self, plan):
        if plan.hyper["beta1"] == 0.0:
            raise NoCounterpart("too late: the library is being built")
        return super().construct(plan)


class LibraryDeclines(TinyAdamAdapter):
    name = "kit-library-declines"

    def construct(self, plan):
        kit_library_w9.check(plan.hyper)  # the library raises the kit's decline: not the adapter's to make
        return super().construct(plan)
'''

KIT_LIBRARY = '''
from adapters.kit import NoCounterpart


def check(hyper):
    if hyper["beta1"] == 0.0:
        raise NoCounterpart("no counterpart")
'''


def _beta_refusal(dtype: str = "float32") -> Any:
    from conformance.validation_cases import refusals
    return next(c for c in refusals("VAL-BETA-RANGE", dtype) if c.hyperparameters().get("beta1") == 0.0)


@pytest.mark.parametrize("fn", ["adam", "mocked"])
def test_an_optax_factory_raising_the_adapters_decline_is_a_raise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  fn: str) -> None:
    pytest.importorskip("optax")
    from adapters.base import Raised
    from adapters.generic_optax import load
    (tmp_path / "optax_dodgers_w9.py").write_text(OPTAX_DODGERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("optax_dodgers_w9", None)
    out = load(f"optax_dodgers_w9:{fn}").run(_beta_refusal())
    assert isinstance(out, Raised) and out.type == "adapters.optax_adam.NoCounterpart", out


def test_a_kit_adapter_declines_in_plan_and_nowhere_later(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.base import Raised, Unsupported
    (tmp_path / "kit_dodger_w9.py").write_text(KIT_DODGER)
    (tmp_path / "kit_library_w9.py").write_text(KIT_LIBRARY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent))
    import kit_dodger_w9
    case = _beta_refusal("float64")
    assert isinstance(kit_dodger_w9.Declares().run(case), Unsupported)
    for late in (kit_dodger_w9.DeclinesInConstruct(), kit_dodger_w9.LibraryDeclines()):
        out = late.run(case)
        assert isinstance(out, Raised) and out.type == "adapters.kit.NoCounterpart", out


HIDES_TORCH = '''
import sys

import torch


class Gone(torch.optim.Optimizer):
    """Plain SGD, whose module makes ``import torch`` fail afterwards: "torch is not installed"."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for g in self.param_groups:
            for p in g["params"]:
                p.add_(p.grad, alpha=-g["lr"])


sys.modules["torch"] = None
'''


def _on_path(d: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([str(d), os.environ.get("PYTHONPATH", "")])}


def test_code_under_test_cannot_pose_as_not_installed(cli: Any, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "hides_torch_w9.py").write_text(HIDES_TORCH)
    out = tmp_path / "run"
    proc = cli("run", "--allow-unavailable", "--adapter", "reference", "--adapter", "torch:hides_torch_w9:Gone",
               *TINY, "--out", out, env=_on_path(tmp_path))
    assert proc.returncode == 1, proc.stderr[-2000:]
    gone = [r for r in cli.records(out) if r["adapter"] == "torch:hides_torch_w9:Gone"]
    assert gone and all(r["verdict"] == "ERROR" for r in gone)


@pytest.mark.parametrize("also, ret, outcomes", [
    ((), pytest.ExitCode.TESTS_FAILED, {"skipped": 1}),  # nothing could run: not green, as the gate says
    (("--adam-adapter", "reference-f32"), pytest.ExitCode.OK, {"passed": 1, "skipped": 1}),  # one ran: green
])
def test_a_plugin_session_is_green_only_if_some_adapter_could_run(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, also: tuple[str, ...], ret: pytest.ExitCode,
        outcomes: dict[str, int]) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    if os.path.exists("/dev/nvidia0"):
        pytest.skip("a CUDA device is here: torch-cuda-single can run")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--adam-adapter", "torch-cuda-single", *also,
                                           "--adam-allow-unavailable", "--adam-clauses", "UPD-MOMENTS",
                                           "--adam-dtypes", "float32", "--adam-max-examples", "1")
    assert result.ret == ret, result.stdout.str()[-2000:]
    result.assert_outcomes(**outcomes)
    if ret != pytest.ExitCode.OK:
        result.stdout.fnmatch_lines(["*nothing was judged: torch-cuda-single cannot run here*"])


# ---- a numeric waiver does not hide a failure of another kind ---------------------------------------------

def test_a_numeric_entry_does_not_waive_a_failure_with_no_ratio(tmp_path: Path) -> None:
    import tomli_w

    from conformance import baseline as bl
    path = tmp_path / "b.toml"
    path.write_text(tomli_w.dumps({"deviation": [{"adapter": "a", "clauses": ["UPD-EPS"], "verdicts": ["FAIL"],
                                                  "reason": "tiny eps deviation", "max_ratio": 1e-9}]}))
    entries = bl.load(path)
    r = {"case_id": "UPD-000000000000", "adapter": "a", "clauses": ["UPD-EPS"], "deviates": ["UPD-EPS"],
         "dtype": "float16", "verdict": "FAIL", "error_kind": None, "ratio": None, "kind": "steps",
         "message": "parameters changed dtype: {'w': 'float64'} (UPD-DTYPE)"}
    bl.apply(entries, r)
    assert r["verdict"] == "FAIL" and r["message"].startswith("regression: a failure with no measured error")
    fails, _ = bl.problems(entries)
    assert any(f.startswith("REGRESSION") for f in fails)
    text = bl.from_records([{**r, "verdict": "FAIL", "message": "x"}, {**r, "case_id": "UPD-000000000001",
                                                                       "ratio": 3.0}])
    assert "max_ratio" not in text  # a group with an unmeasured failure records no numeric bound


def test_a_dtype_change_is_charged_to_upd_dtype() -> None:
    from adapters.base import Ran, StepState
    from adapters.numpy_lowp import NumpyLowPrecisionAdapter
    from conformance import compare
    from conformance.cases import load
    from conformance.expected import expected
    case = load(Path(__file__).resolve().parent.parent / "reports" / "cases" / "DEC-c8f1d382bbfc.json")
    ran = NumpyLowPrecisionAdapter().run(case)
    assert isinstance(ran, Ran)
    assert compare.judge(case, expected(case), ran).verdict == "PASS"
    wider = Ran([{n: StepState(s.w, s.m, s.v) for n, s in step.items()} for step in ran.steps],
                {n: "float64" if case.dtype != "float64" else "float32" for n in ran.dtypes})
    v = compare.judge(case, expected(case), wider)
    assert v.verdict == "FAIL" and v.extra["deviates"] == ["UPD-DTYPE"], (v.verdict, v.extra)


# ---- near the top of the range: an infinity where the bound overflows, never NaN ---------------------------

def test_near_the_dtypes_largest_value_a_nan_is_an_error() -> None:
    import numpy as np

    from adapters.base import Ran, StepState
    from conformance import compare
    from conformance.cases import Case, ParamSpec, encode_value
    from conformance.expected import expected
    big = 65504.0  # float16's largest finite value: w sits at it, and one update's bound reaches past it
    case = Case(("UPD-MOMENTS",), "float16", (ParamSpec("w", (2,), [big, -big]),), "steps",
                {"learning_rate": encode_value(1.0)}, None, None, ({"w": {"dense": [-1.0, 1.0]}},), "near max")
    exp = expected(case)
    traj = exp.trajectory
    assert traj is not None
    want = traj.steps[0]["w"]
    prep = compare.Prepared(case, exp)
    lim = prep.slabs(0, 1)[("w", "w")].lim[0]
    if not (want.w[0] + lim[0] > big):
        pytest.skip("this bound does not reach past float16's largest value")

    def judged(w0: float, w1: float) -> str:
        got = Ran([{"w": StepState(np.array([w0, w1]), want.m, want.v)}], {"w": "float16"})
        return compare.judge(case, exp, got).verdict

    from conformance.dtypes import rounded
    w0, w1 = rounded(want.w, "float16")
    assert judged(w0, w1) == "PASS"
    assert judged(np.inf, -np.inf) == "FAIL"  # overflow on the bound's side: judged by its error, as before
    assert judged(np.nan, w1) == "ERROR"  # was PASS: a NaN's error compared as 0
    assert judged(w0, np.nan) == "ERROR"


# ---- a dtype name is the adapter's word; the values are the evidence -------------------------------------

def test_values_wider_than_the_reported_dtype_are_a_dtype_change() -> None:
    from adapters.base import Ran, StepState
    from adapters.numpy_lowp import NumpyLowPrecisionAdapter
    from conformance import compare
    from conformance.cases import Case, ParamSpec, encode_value
    from conformance.expected import expected
    case = Case(("UPD-MOMENTS",), "float16", (ParamSpec("w", (3,), [0.5, -1.0, 0.25]),), "steps",
                {"learning_rate": encode_value(0.01)}, None, None,
                tuple({"w": {"dense": [0.1 * (i + 1), -0.3, 0.7]}} for i in range(3)), "t")
    exp = expected(case)
    ran = NumpyLowPrecisionAdapter().run(case)
    assert isinstance(ran, Ran) and compare.judge(case, exp, ran).verdict == "PASS"
    assert exp.trajectory is not None
    exact = Ran([{"w": StepState(s["w"].w, s["w"].m, s["w"].v)} for s in exp.trajectory.steps], {"w": "float16"})
    v = compare.judge(case, exp, exact)  # float64 arithmetic reported as float16
    assert v.verdict == "FAIL" and "not representable in float16" in v.message and v.extra["deviates"] == ["UPD-DTYPE"]


def test_a_summary_cell_counts_the_declined_cases_beside_the_judged_ones() -> None:
    from conformance.report import tables
    recs = [{"adapter": "a", "clauses": ["UPD-MOMENTS"], "deviates": [], "verdict": v, "ratio": 0.5,
             "max_abs_err": 0.0, "dtype": d, "case_id": f"UPD-{i:012d}"}
            for i, (v, d) in enumerate([("PASS", "float32")] * 8 + [("UNSUPPORTED", "float16")] * 5)]
    cell = tables.pivot(recs).loc["UPD-MOMENTS", "a"]
    assert cell == "8 pass, 5 unsupported", cell


def test_a_catch_all_baseline_entry_is_said_in_the_warnings(tmp_path: Path) -> None:
    import tomli_w

    from conformance import baseline as bl
    path = tmp_path / "b.toml"
    path.write_text(tomli_w.dumps({"deviation": [
        {"adapter": "*", "clauses": ["*"], "verdicts": ["FAIL"], "reason": "everything"},
        {"adapter": "*", "clauses": ["UPD-EPS"], "verdicts": ["FAIL"], "reason": "one clause"}]}))
    _, warns = bl.problems(bl.load(path))
    said = [w for w in warns if "of every clause of every adapter" in w]
    assert len(said) == 1 and "#1" in said[0], warns


KIT_PARAM_DODGER = '''
import numpy as np
from adapters.kit import NoCounterpart
from examples.kit_numpy import TinyAdamAdapter, TinyParam


class PickyParam(TinyParam):
    """The library's parameter type: it declines float32 values in the kit's words."""

    def __init__(self, name, value):
        if value.dtype == np.float32:
            raise NoCounterpart("tensors are not supported here")
        super().__init__(name, value)


class PickyAdapter(TinyAdamAdapter):
    name = "kit-picky-param"

    def make_param(self, name, value, dtype):
        return PickyParam(name, value.astype(dtype))
'''


def test_a_kit_librarys_parameter_type_cannot_decline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.base import Raised
    (tmp_path / "kit_param_dodger_w9.py").write_text(KIT_PARAM_DODGER)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent))
    import kit_param_dodger_w9
    out = kit_param_dodger_w9.PickyAdapter().run(_dense_case({"learning_rate": 0.1}))
    assert isinstance(out, Raised) and out.type == "adapters.kit.NoCounterpart" and out.stage == "construct", out
