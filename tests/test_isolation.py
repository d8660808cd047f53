"""Isolation: an adapter that raises, hangs, aborts, segfaults or returns garbage costs ERROR records, never the run.

One run drives the faithful ``reference-f32`` alongside every faulty adapter of ``broken_adapters``;
each fault must become one ERROR record per case, with a reason that says what happened, while
every other (case, adapter) pair still gets its record and the healthy adapter still passes.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from broken_adapters import HANG_CASE_ENV

SEED, CLAUSE, N = 0, "UPD-MOMENTS", 3
SMALL = ("--clauses", CLAUSE, "--dtypes", "float32", "--max-examples", N, "--seed", SEED, "--quiet", "--no-shrink")

# adapter class -> (adapter name, what its ERROR message must say)
FAULTS = {
    "RaiseAtConstruct": ("broken-raise-construct", r"raised RuntimeError at construction: broken constructor"),
    "RaiseAtStep": ("broken-raise-step", r"raised ZeroDivisionError at step 1: broken step"),
    "RaiseInRun": ("broken-raise-in-run", r"raised KeyError.*adapter error.*adapter bug"),
    "NanOutput": ("broken-nan", r"non-finite w of 'w\d+' at step 1"),
    "WrongShape": ("broken-shape", r"breaks the protocol.*w has shape \[[\d, ]*\], the parameter's is \[[\d, ]*\]"),
    "Unpicklable": ("broken-unpicklable", r"breaks the protocol.*Ran\.dtypes\['lock'\] is lock"),
    "Abort": ("broken-abort", r"worker process was killed by SIGABRT"),
    "Segfault": ("broken-segfault", r"worker process was killed by SIGSEGV"),
    "Hang": ("broken-hang", r"timed out after 3 s"),
}


def _hang_case(cli: Any, out: Path) -> str:
    """The middle case of the run: the one ``HangOnOneCase`` hangs on (cases after it must still run).
    Taken from a run with the same options (HangOnOneCase is faithful without the variable): the case
    set is the CLI's, not one generated in this process."""
    proc = cli("run", "--adapter", "reference-f32", "--adapter", cli.adapter("HangOnOneCase"), *SMALL, "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cases = list(dict.fromkeys(r["case_id"] for r in cli.records(out)))
    assert len(cases) >= 3
    return cases[1]


@pytest.fixture(scope="module")
def faulty_run(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("isolation")
    out = tmp / "run"
    hang_case = _hang_case(cli, tmp / "probe")
    adapters = ["--adapter", "reference-f32"]
    for cls in [*FAULTS, "HangOnOneCase"]:
        adapters += ["--adapter", cli.adapter(cls)]
    proc = cli("run", *adapters, *SMALL, "--timeout", 3, "--out", out, env={HANG_CASE_ENV: hang_case})
    records = cli.records(out)
    by_adapter: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_adapter.setdefault(r["adapter"], []).append(r)
    return {"proc": proc, "out": out, "records": records, "by": by_adapter, "hang_case": hang_case,
            "cases": [r["case_id"] for r in by_adapter.get("reference-f32", [])]}


def test_faulty_run_finishes_with_exit_1(faulty_run: dict[str, Any]) -> None:
    proc = faulty_run["proc"]
    assert proc.returncode == 1, proc.stderr[-3000:]
    meta = json.loads((faulty_run["out"] / "run.json").read_text())
    assert meta["complete"] is True


def test_every_case_adapter_pair_has_exactly_one_record(faulty_run: dict[str, Any]) -> None:
    cases = faulty_run["cases"]
    assert len(cases) >= N
    names = ["reference-f32", *(name for name, _ in FAULTS.values()), "broken-hang-one"]
    assert sorted(faulty_run["by"]) == sorted(names)
    pairs = Counter((r["case_id"], r["adapter"]) for r in faulty_run["records"])
    assert set(pairs) == {(c, a) for c in cases for a in names}
    assert set(pairs.values()) == {1}


def test_healthy_adapter_passes_alongside_the_faults(faulty_run: dict[str, Any]) -> None:
    recs = faulty_run["by"]["reference-f32"]
    assert recs and all(r["verdict"] == "PASS" for r in recs), [r["message"] for r in recs]


@pytest.mark.parametrize("cls", list(FAULTS))
def test_fault_becomes_error_records_with_a_reason(faulty_run: dict[str, Any], cls: str) -> None:
    name, pattern = FAULTS[cls]
    recs = faulty_run["by"][name]
    assert [r["case_id"] for r in recs] == faulty_run["cases"]
    for r in recs:
        assert r["verdict"] == "ERROR", r
        assert re.search(pattern, r["message"]), r["message"]
        # the failing case is saved for replay, and the record says how to replay it
        assert (faulty_run["out"] / r["case_file"]).is_file()
        assert f"broken_adapters.py:{cls}" in r["replay"]


def test_hang_on_one_case_costs_one_record(faulty_run: dict[str, Any]) -> None:
    recs = {r["case_id"]: r for r in faulty_run["by"]["broken-hang-one"]}
    hang = faulty_run["hang_case"]
    assert recs[hang]["verdict"] == "ERROR"
    assert "timed out after 3 s" in recs[hang]["message"]
    rest = [r for cid, r in recs.items() if cid != hang]
    # the case after the hang ran in a fresh worker and passed
    assert len(rest) >= 2 and all(r["verdict"] == "PASS" for r in rest), [r["message"] for r in rest]
    order = [r["case_id"] for r in faulty_run["by"]["broken-hang-one"]]
    assert order.index(hang) < len(order) - 1


def test_hang_is_bounded_by_the_timeout(faulty_run: dict[str, Any]) -> None:
    for r in faulty_run["by"]["broken-hang"]:
        assert r["seconds"] == pytest.approx(3.0, abs=0.5)


def test_adapter_bug_is_not_reported_as_a_library_error_at_step_1(faulty_run: dict[str, Any]) -> None:
    """An exception from the adapter's own ``run`` (worker stage "adapter") happened before or around any
    update; the record must not claim the implementation raised "at step 1"."""
    for r in faulty_run["by"]["broken-raise-in-run"]:
        assert "adapter error" in r["message"]
        assert "at step 1" not in r["message"], r["message"]


def test_healthy_adapter_with_abort_in_the_same_invocation(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", "--adapter", "reference-f32", "--adapter", cli.adapter("Abort"), *SMALL, "--timeout", 30,
               "--out", out)
    assert proc.returncode == 1, proc.stderr[-3000:]
    recs = cli.records(out)
    healthy = [r for r in recs if r["adapter"] == "reference-f32"]
    aborted = [r for r in recs if r["adapter"] == "broken-abort"]
    assert len(healthy) >= N and all(r["verdict"] == "PASS" for r in healthy)
    assert [r["case_id"] for r in aborted] == [r["case_id"] for r in healthy]
    assert all(r["verdict"] == "ERROR" and "killed by SIGABRT" in r["message"] for r in aborted)


# ---- faults while loading an adapter: never a traceback, never a passing gate -------------------------


def _assert_load_fault(cli: Any, proc: Any, out: Path, words: tuple[str, ...]) -> None:
    """Either the run refuses to start (exit 2, one line) or every case is an ERROR (exit 1) -- both
    naming the cause. A traceback, or UNSUPPORTED records with exit 0, is a gate that lets a broken
    implementation through."""
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode in (1, 2), (proc.returncode, proc.stderr[-3000:])
    if proc.returncode == 2:
        line = cli.usage_error(proc)
        assert any(w in line for w in words), line
        return
    recs = cli.records(out)
    assert len(recs) >= N
    for r in recs:
        assert r["verdict"] == "ERROR", (r["verdict"], r["message"])
        assert any(w in r["message"] for w in words), r["message"]


def test_adapter_that_cannot_be_created(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", "--adapter", cli.adapter("AdapterInitFails"), *SMALL, "--out", out)
    _assert_load_fault(cli, proc, out, ("ImportError", "libmissing"))


def test_adapter_whose_info_raises_in_the_worker(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", "--adapter", cli.adapter("InfoRaises"), *SMALL, "--out", out)
    _assert_load_fault(cli, proc, out, ("RuntimeError", "cannot query the library version"))


def test_adapter_whose_worker_dies_while_loading(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", "--adapter", cli.adapter("LoadAborts"), *SMALL, "--timeout", 30, "--out", out)
    _assert_load_fault(cli, proc, out, ("killed by SIGABRT while loading",))


def test_adapter_that_hangs_while_loading(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", "--adapter", cli.adapter("LoadHangs"), *SMALL, "--timeout", 30, "--load-timeout", 3,
               "--out", out)
    _assert_load_fault(cli, proc, out, ("timed out",))
    assert "while loading" in proc.stderr and "own processes" in proc.stderr, "the hang hint names the likely cause"
