"""What wave 13 closed: red team round 8, against the per-dtype "nothing judged" rule and the plugin.

- The pytest plugin told a problem scoped to a family or dtype from one that fails every item by parsing
  its text, which begins with the adapter's name. An adapter that cannot run here, named
  ``"<spec>: judged no NOPE case ("``, turned its "cannot run here" line into a problem about a family no
  item has, and the session was green beside any adapter that ran. The gate now hands the scope over as
  fields (``RunResult.gaps``, ``gate.gaps`` in run.json) and the plugin reads only those.
- A baseline pattern written for registered adapters (``torch-cpu-*``) waived an adapter that named
  itself into it (``torch-cpu-evil``), wrong on every case: exit 0. Such a name is now exit 2.
- ``-k`` picking items that are not a clauses x dtypes grid dropped the failures of the grid's other
  cells, which the gate judged: green while the gate said exit 1.
- A requested dtype an adapter leaves out with no reason given was said nowhere; an UNSUPPORTED item's
  skip reason dropped the record's message.
- "Judged nothing" was kept per clause family: an adapter that answered one case of each family and
  declined the rest at run time left 7 of 9 requested clauses unjudged, green. Every clause a case carries
  now needs a judged case in each declared dtype (unless declared unsupported), and SPR-DENSE-EQUIV's
  cases carry the sparse parameter alone, so a sparse-only optimizer meets that clause in every dtype.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conformance.model import Record
from conformance.pytest_plugin import AdapterRun, assign, read_run
from conformance.runner import Gap

pytest_plugins = ["pytester"]

EPS = ("--clauses", "UPD-EPS,UPD-MOMENTS", "--max-examples", 2, "--no-corpus", "--no-shrink", "--quiet")

ADAPTERS = textwrap.dedent('''
    import dataclasses

    from adapters.base import Ran, StepState, Unsupported
    from adapters.numpy_lowp import NumpyLowPrecisionAdapter


    def shifted(out):
        if not isinstance(out, Ran):
            return out
        return Ran([{n: StepState(s.w + 1.0, s.m, s.v) for n, s in st.items()} for st in out.steps], out.dtypes)


    class Sneaky(NumpyLowPrecisionAdapter):
        """Cannot run here, and names itself so that its line reads as a family problem."""

        def available(self):
            return False, "the accelerator is busy"


    class GlobTaker(NumpyLowPrecisionAdapter):
        """Wrong on every case; named into a baseline pattern written for torch's adapters."""

        name = "torch-cpu-evil"
        dtypes = ("float32",)

        def run(self, case):
            return shifted(super().run(case))


    class Silent(NumpyLowPrecisionAdapter):
        """Leaves float16 out and says nothing about it."""

        name = "silent-away"

        def info(self):
            return dataclasses.replace(super().info(), dtypes=("float32",), notes={})


    class NoEps(NumpyLowPrecisionAdapter):
        """Faithful, but declines at run time every case that carries UPD-EPS."""

        name = "no-eps"
        dtypes = ("float32",)

        def run(self, case):
            if "UPD-EPS" in case.clauses:
                return Unsupported("not in this build")
            return super().run(case)


    class BrokenHalfEps(NumpyLowPrecisionAdapter):
        """Wrong on UPD-EPS in float16 only."""

        name = "broken-half-eps"
        dtypes = ("float32", "float16")

        def run(self, case):
            out = super().run(case)
            return shifted(out) if case.dtype == "float16" and case.clauses[0] == "UPD-EPS" else out
''')


ADAPTERS_FILE = "round8_w13.py"  # conftest.adapters_file writes ADAPTERS there


def rec(verdict: str, clause: str, dtype: str, **kw: Any) -> Record:
    return Record(case_id=kw.pop("case_id", "UPD-000000000000"), adapter="a", clauses=(clause,), dtype=dtype,
                  verdict=verdict, **kw)


def result(records: list[Record], problems: list[str], gaps: list[Gap] = ()) -> Any:  # type: ignore[assignment]
    return SimpleNamespace(meta={"adapters": [{"name": "a"}]}, records=records, problems=problems, gaps=list(gaps),
                           baseline_problems=[], warnings=[], out=".", counts=lambda: {})


# ---- the plugin reads a problem's scope from fields, never from its text --------------------------------

def test_a_problem_that_only_looks_scoped_fails_every_item() -> None:
    keys = [("UPD-EPS", "float32"), ("DEC-L2", "float32")]
    fake = "a: judged no NOPE case ( cannot run here: busy"
    got = read_run("x.py:A", result([rec("PASS", "UPD-EPS", "float32")], [fake]), keys, None, False)
    assert got.scoped == {} and got.wide == [fake]
    assert [got.outcome(k).kind for k in keys] == ["failed", "failed"]


def test_a_gap_fails_exactly_the_items_of_its_scope() -> None:
    keys = [("UPD-EPS", "float32"), ("UPD-EPS", "float16"), ("DEC-L2", "float16")]
    line = "a: judged no DEC case in float16 (2 admitted by its declaration were all declined at run time)"
    got = read_run("x.py:A", result([rec("UNSUPPORTED", "UPD-EPS", "float32")], [line], [Gap("a", "DEC", "float16",
                                                                                              line)]),
                   keys, None, False)
    assert got.wide == [] and got.scoped == {("DEC", "float16"): line}
    assert [got.outcome(k).kind for k in keys] == ["skipped", "skipped", "failed"]


def test_a_failure_no_selected_item_owns_fails_the_items() -> None:
    keys = [("UPD-EPS", "float32"), ("UPD-MOMENTS", "float16")]  # -k picked two cells of a 2 x 2 grid
    records = [rec("PASS", "UPD-EPS", "float32", case_id="UPD-00000000000a"),
               rec("PASS", "UPD-MOMENTS", "float16", case_id="UPD-00000000000b"),
               rec("FAIL", "UPD-EPS", "float16", case_id="UPD-00000000000c", deviates=("UPD-EPS",))]
    got = read_run("x.py:A", result(records, []), keys, None, False)
    assert len(got.wide) == 1 and "1 failing case(s) that no selected item owns (UPD-EPS in float16)" in got.wide[0]
    assert [got.outcome(k).kind for k in keys] == ["failed", "failed"]


def test_an_unsupported_items_skip_reason_carries_the_records_message() -> None:
    key = ("UPD-EPS", "float32")
    run = AdapterRun("x.py:A", "a", Path("."), assign([rec("UNSUPPORTED", *key, unsupported_by="outcome",
                                                           message="not in this build")], [key]),
                     [], {}, [], False, False)
    o = run.outcome(key)
    assert o.kind == "skipped" and "outcome: not in this build" in o.message, o.message


def test_the_gate_hands_over_its_gaps_with_their_scope(tmp_path: Path) -> None:
    import conformance
    from conformance.pytest_plugin import read_result

    f = tmp_path / "decliner_w13.py"
    f.write_text(textwrap.dedent('''
        from adapters.base import Unsupported
        from adapters.numpy_lowp import NumpyLowPrecisionAdapter


        class NoHalfDec(NumpyLowPrecisionAdapter):
            name = "no-half-dec"
            dtypes = ("float32", "float16")

            def run(self, case):
                if case.dtype == "float16" and case.clauses[0].startswith("DEC-"):
                    return Unsupported("no DEC in float16 today")
                return super().run(case)
    '''))
    got = conformance.run(conformance.RunConfig(adapters=[f"{f}:NoHalfDec"], clauses="UPD-MOMENTS,DEC-L2",
                                                dtypes="float32,float16", max_examples=1, out=tmp_path / "r",
                                                corpus=False, shrink=False))
    assert got.exit_code == 1
    assert [(g.adapter, g.family, g.dtype) for g in got.gaps] == [("no-half-dec", "DEC", "float16")]
    assert got.gaps[0].problem in got.problems
    assert read_result(tmp_path / "r").gaps == got.gaps  # run.json carries them for the plugin's xdist workers
    assert json.loads((tmp_path / "r" / "run.json").read_text())["gate"]["gaps"][0]["family"] == "DEC"


def test_a_sneaky_name_no_longer_makes_a_session_green(pytester: pytest.Pytester, adapters_file: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    spec = f"{pytester.path / 'sneaky.py'}:Sneaky"
    (pytester.path / "sneaky.py").write_text(adapters_file.read_text().replace(
        '"""Cannot run here, and names itself', f'name = "{spec}: judged no NOPE case ("\n\n        """Cannot'))
    got = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--adam-adapter", "reference-f32",
                                        "--adam-adapter", spec,
                                        "--adam-clauses", "UPD-EPS,UPD-MOMENTS", "--adam-dtypes", "float32",
                                        "--adam-max-examples", "1", "--adam-out", "out")
    got.assert_outcomes(passed=2, failed=2)  # reference-f32 passes; Sneaky was requested and cannot run


# ---- the gate ------------------------------------------------------------------------------------------

def test_a_name_inside_a_baseline_pattern_for_registered_adapters_is_refused(cli: Any, tmp_path: Path,
                                                                             adapters_file: Path) -> None:
    bl = tmp_path / "bl.toml"
    bl.write_text('[[deviation]]\nadapter = "torch-cpu-*"\nclauses = ["UPD-EPS"]\nverdicts = ["FAIL"]\n'
                  'reason = "eps after bias correction"\n')
    proc = cli("run", "--adapter", f"{adapters_file}:GlobTaker", "--baseline", bl, "--dtypes", "float32", *EPS,
               "--out", tmp_path / "r")
    line = cli.usage_error(proc)
    assert "calls itself 'torch-cpu-evil', which deviation #1 (torch-cpu-*: UPD-EPS) in the baseline" in line, line
    own = tmp_path / "own.toml"  # an entry naming it exactly is the user's own, and judges as before
    own.write_text(bl.read_text().replace("torch-cpu-*", "torch-cpu-evil"))
    proc = cli("run", "--adapter", f"{adapters_file}:GlobTaker", "--baseline", own, "--dtypes", "float32", *EPS,
               "--out", tmp_path / "r2")
    assert proc.returncode == 1, proc.stderr[-2000:]  # UPD-MOMENTS fails too, and nothing waives it


def test_a_dtype_left_out_without_a_reason_is_said(cli: Any, tmp_path: Path, adapters_file: Path) -> None:
    out = tmp_path / "r"
    proc = cli("run", "--adapter", f"{adapters_file}:Silent", "--dtypes", "float32,float16", *EPS, "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "note: silent-away does not run float16: no reason given" in proc.stderr + proc.stdout
    assert "- silent-away does not run float16: no reason given" in (out / "summary.md").read_text()


def test_a_failure_outside_the_k_selection_fails_the_session(pytester: pytest.Pytester, adapters_file: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    got = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--adam-adapter", f"{adapters_file}:BrokenHalfEps",
                                        "--adam-clauses", "UPD-EPS,UPD-MOMENTS", "--adam-dtypes", "float32,float16",
                                        "--adam-max-examples", "1", "--adam-out", "out",
                                        "-k", "UPD-EPS-float32 or UPD-MOMENTS-float16")
    got.assert_outcomes(failed=2, deselected=2)
    got.stdout.fnmatch_lines(["*no selected item owns (UPD-EPS in float16)*"])


def test_a_clause_declined_wholesale_is_not_green_where_its_family_is_judged(cli: Any, tmp_path: Path,
                                                                           adapters_file: Path) -> None:
    proc = cli("run", "--adapter", f"{adapters_file}:NoEps", "--dtypes", "float32", *EPS, "--out", tmp_path / "r")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "no-eps: judged no UPD-EPS case in float32 (" in proc.stderr, proc.stderr[-2000:]
    assert "judged no UPD case" not in proc.stderr  # the family is judged: only the clause is named
    gaps = json.loads((tmp_path / "r" / "run.json").read_text())["gate"]["gaps"]
    assert [(g["family"], g["dtype"]) for g in gaps] == [("UPD-EPS", "float32")]
    keys = [("UPD-EPS", "float32"), ("UPD-MOMENTS", "float32")]
    run = read_run("x.py:A", result([rec("PASS", "UPD-MOMENTS", "float32")], [gaps[0]["problem"]],
                                    [Gap("a", "UPD-EPS", "float32", gaps[0]["problem"])]), keys, None, False)
    assert [run.outcome(k).kind for k in keys] == ["failed", "passed"]


def test_every_sparse_clause_meets_a_sparse_only_optimizer_in_every_dtype() -> None:
    from conformance.dtypes import NAMES
    from conformance.generate import generate

    for clause in ("SPR-DUPLICATES", "SPR-DENSE-EQUIV"):
        for dt in NAMES:
            cases = generate([clause], [dt], 0, 6)
            alone = [c for c in cases if clause in c.clauses and len(c.param_values()) == 1]
            assert alone, (clause, dt)


# ---- a merge of shards judges the whole run, as the unsharded gate does --------------------------------

SHARDED = textwrap.dedent('''
    from adapters.base import Ran, StepState, Unsupported
    from adapters.numpy_lowp import NumpyLowPrecisionAdapter


    class FewEps(NumpyLowPrecisionAdapter):
        """Judges the UPD-EPS cases whose ID ends in 0-7 (each off by 1.0: a known deviation) and declines
        the others: a shard can hold none of the judged ones, the whole run never does."""

        name = "few-eps"
        dtypes = ("float32",)

        def run(self, case):
            if "UPD-EPS" not in case.clauses:
                return super().run(case)
            if case.id[-1] not in "01234567":
                return Unsupported("not this one")
            out = super().run(case)
            return Ran([{n: StepState(s.w + 1.0, s.m, s.v) for n, s in st.items()} for st in out.steps], out.dtypes)
''')


def test_a_merge_judges_what_a_shard_alone_cannot(cli: Any, tmp_path: Path) -> None:
    f = tmp_path / "sharded_w13.py"
    f.write_text(SHARDED)
    bl = tmp_path / "bl.toml"
    bl.write_text('[[deviation]]\nadapter = "few-eps"\nclauses = ["UPD-EPS"]\nverdicts = ["FAIL"]\nreason = "w + 1"\n')
    args = ("--adapter", f"{f}:FewEps", "--baseline", bl, "--clauses", "UPD-EPS,UPD-MOMENTS", "--dtypes",
            "float32", "--max-examples", 6, "--no-corpus", "--no-shrink", "--quiet")
    whole = cli("run", *args, "--out", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr[-2000:]
    shards = [cli("run", *args, "--shard", f"{k}/3", "--out", tmp_path / f"s{k}") for k in (1, 2, 3)]
    said = " ".join(p.stderr for p in shards)
    assert "XPASS: deviation #1" in said or "judged no UPD-EPS case in float32" in said, said  # a shard alone
    merged = cli("report", "--merge", *(tmp_path / f"s{k}" for k in (1, 2, 3)), "--out", tmp_path / "m")
    assert merged.returncode == 0, merged.stdout[-2000:] + merged.stderr[-2000:]
    gate = json.loads((tmp_path / "m" / "run.json").read_text())["gate"]
    assert gate["exit_code"] == 0 and gate["problems"] == []

    # what the whole run would fail on, the merge fails on too: an entry nothing fails under, a clause
    # declined in every shard
    bl.write_text(bl.read_text() + '\n[[deviation]]\nadapter = "few-eps"\nclauses = ["UPD-MOMENTS"]\n'
                  'verdicts = ["FAIL"]\nreason = "never fails"\n')
    f.write_text(SHARDED.replace('"01234567"', '""'))
    for k in (1, 2, 3):
        cli("run", *args, "--shard", f"{k}/3", "--out", tmp_path / f"t{k}")
    merged = cli("report", "--merge", *(tmp_path / f"t{k}" for k in (1, 2, 3)), "--out", tmp_path / "m2")
    assert merged.returncode == 1
    problems = json.loads((tmp_path / "m2" / "run.json").read_text())["gate"]["problems"]
    assert "XPASS: deviation #2 (few-eps: UPD-MOMENTS) passes now -- delete this entry from the baseline" in problems
    assert any(p.startswith("few-eps: judged no UPD-EPS case in float32 (") for p in problems), problems


def test_a_merge_decides_an_xpass_from_each_shards_counts_and_keeps_it_without_them() -> None:
    from conformance.compat import merged_verdict

    line = "XPASS: deviation #1 (a: UPD-EPS) passes now -- delete this entry from the baseline"
    rec_ = {"adapter": "a", "case_id": "UPD-00000000000a", "clauses": ["UPD-EPS"], "dtype": "float32",
            "verdict": "XFAIL"}

    def shard(k: str, failed: int, counts: bool = True) -> dict[str, Any]:
        gate: dict[str, Any] = {"problems": [] if failed else [line], "baseline_problems": [] if failed else [line]}
        if counts:
            gate["baseline_counts"] = {"deviation #1 (a: UPD-EPS)": {"matched": 1, "failed": failed}}
        return {"shard": k, "gate": gate, "adapters": []}

    assert merged_verdict([shard("1/2", 1), shard("2/2", 0)], [rec_], True, [])["problems"] == []
    assert merged_verdict([shard("1/2", 0), shard("2/2", 0)], [rec_], True, [])["problems"] == [line]
    kept = merged_verdict([shard("1/2", 1, counts=False), shard("2/2", 0, counts=False)], [rec_], True, [])
    assert kept["problems"] == [f"shard 2/2: {line}"] and kept["exit_code"] == 1  # no counts: the shard's word
