"""The gate catches real bugs: every faulty adapter of ``tests/faulty.py`` is flagged by a default run.

"Default run" is exactly the cases ``adam-conformance run`` generates with no options (every clause,
every dtype, its default --seed and --max-examples). Each faulty adapter runs them in-process; its
fault must be caught -- FAIL, or ERROR where the bug crashes -- on the clause it breaks: a case
tagged with that clause, or a failure the verdict charges to it (``extra["deviates"]``). The faithful
``NumpyLowPrecisionAdapter`` must pass every case that catches a fault, so this module fails when the
error model is too loose (the fault slips through) and when it is too tight (the catch is a false
alarm that faithful code trips too).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import faulty
import numpy as np
import pytest

from adapters.base import Ran
from adapters.numpy_lowp import NumpyLowPrecisionAdapter
from conformance import gate
from conformance.cases import Case
from conformance.clauses import BY_ID, FAMILIES, select
from conformance.cli import build_parser
from conformance.commands import config_from_args
from conformance.compare import ERROR, FAIL, PASS, Verdict, judge
from conformance.dtypes import parse_dtypes
from conformance.expected import Expected, expected
from conformance.generate import generate

REPO = Path(__file__).resolve().parent.parent
BAD = (FAIL, ERROR)
FAITHFUL = NumpyLowPrecisionAdapter()

# Faults the default run is known NOT to catch, with the reason (strict: an XPASS means the gap closed).
# Faults the default run is known not to catch (none now: validation values are enumerated in full).
KNOWN_GAPS: dict[type, str] = {}


class DefaultRun:
    """The default run's cases, the reference's answer for each (computed once), and the faithful verdicts."""

    def __init__(self) -> None:
        args = build_parser().parse_args(["run"])  # the CLI's own defaults, not copies of them
        clauses = tuple(c.id for c in select(args.clauses))
        self.cases: list[Case] = generate(clauses, parse_dtypes(args.dtypes), args.seed, args.max_examples)
        self.expected: dict[str, Expected] = {c.id: expected(c) for c in self.cases}
        self.outcomes = {c.id: FAITHFUL.run(c) for c in self.cases}
        self._caught: dict[tuple[type, str], list[tuple[Case, Verdict]]] = {}
        self.faithful: dict[str, Verdict] = {c.id: judge(c, self.expected[c.id], self.outcomes[c.id])
                                             for c in self.cases}

    def catches(self, adapter: Any, clause: str) -> list[tuple[Case, Verdict]]:
        """The cases on which ``adapter`` is flagged on ``clause``.

        Judging is what costs (about 7 ms a case, the adapter's run under 1 ms); a fault changes few
        cases, and an outcome bit for bit the faithful adapter's has the faithful verdict (``judge`` is a
        function of case, expectation and outcome), so only the outcomes that differ are judged."""
        key = (type(adapter), clause)  # two tests ask about the same fault: judged once
        if key not in self._caught:
            self._caught[key] = self._catches(adapter, clause)
        return self._caught[key]

    def _catches(self, adapter: Any, clause: str) -> list[tuple[Case, Verdict]]:
        out = []
        for c in self.cases:
            got = adapter.run(c)
            v = self.faithful[c.id] if _same(got, self.outcomes[c.id]) else judge(c, self.expected[c.id], got)
            if v.verdict in BAD and (clause in c.clauses or clause in v.extra.get("deviates", ())):
                out.append((c, v))
        return out


def _same_array(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()  # -0.0 and NaN payloads too


def _same(a: Any, b: Any) -> bool:
    """Two outcomes identical bit for bit (same kind, texts, dtypes, steps and arrays)."""
    if type(a) is not type(b):
        return False
    if not isinstance(a, Ran):
        return bool(a == b)
    if dict(a.dtypes) != dict(b.dtypes) or len(a.steps) != len(b.steps):
        return False
    for sa, sb in zip(a.steps, b.steps, strict=True):
        if sa.keys() != sb.keys():
            return False
        for name, st in sa.items():
            other = sb[name]
            if type(st) is not type(other) or len(st) != len(other):
                return False
            if not all(_same_array(x, y) for x, y in zip(st, other, strict=True)):
                return False
    return True


@pytest.fixture(scope="module")
def default_run() -> DefaultRun:
    return DefaultRun()


def test_default_run_is_what_the_cli_runs(default_run: DefaultRun) -> None:
    args = build_parser().parse_args(["run"])
    assert args.seed is None and gate._given_seed(config_from_args(args)) == 0  # no --seed: 0 (fresh in explore)
    cfg = config_from_args(args)
    assert (cfg.max_examples, cfg.clauses, cfg.dtypes) == (6, None, None)  # every clause, every dtype
    assert {c.dtype for c in default_run.cases} == {"float64", "float32", "float16", "bfloat16"}
    assert {k for c in default_run.cases for k in c.clauses} == set(BY_ID)


def test_faults_span_every_clause_family() -> None:
    assert len(faulty.FAULTS) >= 25
    assert {clause.split("-")[0] for clause in faulty.FAULTS.values()} == set(FAMILIES)
    for adapter, clause in faulty.FAULTS.items():
        assert clause in BY_ID
        assert adapter.name.startswith("faulty-") and adapter.dtypes in (faulty.DTYPES, faulty.HALF)
        assert clause in (adapter.impl.__doc__ or ""), f"{adapter.impl.__name__}'s docstring names no clause"


def _fault_params() -> list[Any]:
    out = []
    for adapter, clause in faulty.FAULTS.items():
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[adapter])] if adapter in KNOWN_GAPS else []
        out.append(pytest.param(adapter, clause, marks=marks, id=adapter.name))
    return out


@pytest.mark.parametrize(("adapter_cls", "clause"), _fault_params())
def test_default_run_catches_fault(default_run: DefaultRun, adapter_cls: type, clause: str) -> None:
    caught = default_run.catches(adapter_cls(), clause)
    assert caught, f"{adapter_cls.name}: a default run never flags {clause} (the error model lets the fault through)"
    # The faithful implementation runs float32/float16/bfloat16: where it runs, it must pass every
    # case that caught the fault -- otherwise the "catch" is a false alarm, not a detection.
    checked = [(c, v) for c, v in caught if c.dtype in FAITHFUL.dtypes]
    assert checked, f"{adapter_cls.name}: caught only in dtypes the faithful adapter cannot confirm"
    alarms = [f"{c.id} ({c.dtype}): faithful {default_run.faithful[c.id].verdict}: "
              f"{default_run.faithful[c.id].message}" for c, _ in checked
              if default_run.faithful[c.id].verdict != PASS]
    assert not alarms, "the faithful adapter is flagged on the cases that catch the fault:\n" + "\n".join(alarms)


# ---- half precision: what the E2/E3 slip let through ----------------------------------------------

HALF_FAULTS = (faulty.FaultyHyperInStorage, faulty.FaultyBeta2InStorage, faulty.FaultyFrozenV, faulty.FaultyFrozenW)


@pytest.mark.parametrize("adapter_cls", HALF_FAULTS, ids=lambda a: a.name)
def test_half_precision_faults_caught_in_float16_and_bfloat16(default_run: DefaultRun, adapter_cls: type) -> None:
    """Before the E2/E3 fix beta2 held in bfloat16 (v stays 0) and in float16 (v 2.3% low) passed every case."""
    caught = default_run.catches(adapter_cls(), faulty.FAULTS[adapter_cls])
    dtypes = {c.dtype for c, _ in caught}
    assert {"float16", "bfloat16"} <= dtypes, f"{adapter_cls.name}: caught only in {sorted(dtypes)}"


# ---- attribution: a failure is charged to the clause whose alternative reading explains it ----------

def _explained(default_run: DefaultRun, adapter: Any) -> list[tuple[Case, Verdict]]:
    out = []
    for c in default_run.cases:
        if c.dtype not in adapter.dtypes:
            continue
        v = judge(c, default_run.expected[c.id], adapter.run(c))
        if v.verdict == FAIL:
            out.append((c, v))
    return out


def test_decoupled_decay_is_charged_to_dec_l2(default_run: DefaultRun) -> None:
    """AdamW-style decay fails DEC-FILTER / DEC-LOSS-SCALE cases too; the reading charges them to DEC-L2."""
    fails = _explained(default_run, faulty.FaultyDecoupledDecay())
    elsewhere = [(c, v) for c, v in fails if "DEC-L2" not in c.clauses]
    assert elsewhere, "no failure outside DEC-L2 cases to attribute"
    wrong = [f"{c.id} {c.clauses}: deviates {v.extra.get('deviates')}" for c, v in elsewhere
             if v.extra.get("deviates") != ["DEC-L2"]]
    assert not wrong, "decoupled decay charged elsewhere:\n" + "\n".join(wrong)


@pytest.mark.parametrize("adapter_cls", (faulty.FaultyHyperInStorage, faulty.FaultyBeta2InStorage),
                         ids=lambda a: a.name)
def test_storage_dtype_hyperparameters_are_charged_to_upd_dtype(default_run: DefaultRun, adapter_cls: type) -> None:
    """Hyperparameters held in the half dtype were explained as 'eps added after bias correction'."""
    fails = _explained(default_run, adapter_cls())
    explained = [(c, v) for c, v in fails if v.extra.get("deviates")]
    assert len(explained) >= len(fails) // 2, f"{len(explained)} of {len(fails)} failures explained"
    wrong = [f"{c.id}: {v.extra['explained_by']}" for c, v in explained if "UPD-DTYPE" not in v.extra["deviates"]]
    assert not wrong, "charged to another clause:\n" + "\n".join(wrong)


# ---- end to end, through the CLI -----------------------------------------------------------------

def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("adam-conformance")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "conformance.cli"]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([*cmd, *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    runs = {}
    for name, clause in (("FaultyBiasOffByOne", "UPD-BIAS"), ("FaultySparseLastWins", "SPR-DUPLICATES")):
        out = tmp_path_factory.mktemp(name)
        proc = _cli("run", "--adapter", f"tests/faulty.py:{name}", "--clauses", clause, "--max-examples", "3",
                    "--out", str(out), "--quiet", "--no-shrink")
        runs[name] = (out, proc)
    return runs


@pytest.mark.parametrize(("name", "clause"), [("FaultyBiasOffByOne", "UPD-BIAS"),
                                              ("FaultySparseLastWins", "SPR-DUPLICATES")])
def test_cli_run_flags_fault(cli_runs: dict[str, Any], name: str, clause: str) -> None:
    out, proc = cli_runs[name]
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    assert records and {r["adapter"] for r in records} == {getattr(faulty, name).name}
    fails = [r for r in records if r["verdict"] == FAIL and (clause in r["clauses"] or clause in r["deviates"])]
    assert fails, f"no FAIL record for {clause} in {out / 'results.jsonl'}"
    for r in fails:
        assert (out / r["case_file"]).is_file()


def test_cli_replay_of_saved_failure(cli_runs: dict[str, Any]) -> None:
    out, _ = cli_runs["FaultyBiasOffByOne"]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    rec = next(r for r in records if r["verdict"] == FAIL)
    proc = _cli("replay", str(out / rec["case_file"]), "--adapter", "tests/faulty.py:FaultyBiasOffByOne")
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert f"case {rec['case_id']}" in proc.stdout
    assert "faulty-bias-t2: FAIL" in proc.stdout
    assert "trajectory diff" in proc.stdout and "worst ratio" in proc.stdout
    first = rec["first_failing_step"]
    assert first is not None
    rows = [line for line in proc.stdout.splitlines() if re.match(rf"^[\s│|]*{first}\s+[│|]\s*w\d", line)]
    assert rows, f"no table row for step {first}, the first failing step, in:\n{proc.stdout}"
