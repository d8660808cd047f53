"""The hostile-implementation suite (issue 8): code under test that tries to end, crash, confuse or fool
the gate must cost ERROR records (or fail the run), never the gate's exit code or its records.

Every kind is an adapter of ``tests/hostile_adapters.py`` run beside the faithful ``reference-f32``;
each test asserts the exit code and the records: exactly one record per (case, adapter), the healthy
adapter still PASSes, and the hostile one gets the verdict and error kind that says what it did. To
keep CI cheap, most kinds share one gate run (``batch``), the rest need a run of their own (shrinking,
``-j``, the memory limit, results-file tampering, torch).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hostile_adapters import ESCAPES, IMPORT_TIME, LEAK_MB, MALFORMED, MARKERS_ENV, dies_on

HOSTILE = "tests/hostile_adapters.py"
HEALTHY = "reference-f32"
SMALL = ("--clauses", "UPD-MOMENTS", "--dtypes", "float32", "--seed", 0, "--quiet", "--no-corpus", "--timeout", 10)
BATCH_TIMEOUT = 5  # seconds per case in the batch: what the worker that stalls between cases costs, per case
SLUG = {k: k.lower() for k in ESCAPES}
BASE_EXC = {"Exit0": "SystemExit", "Exit3": "SystemExit", "KeyboardInterrupt": "KeyboardInterrupt",
            "GeneratorExit": "GeneratorExit"}


def spec(cls: str) -> str:
    return f"{HOSTILE}:{cls}"


def by_adapter(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        out.setdefault(r["adapter"], []).append(r)
    return out


def pid_alive(pid: int) -> bool:
    """Running or stopped (a zombie, or no process at all, is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def run_dir(cli: Any, tmp: Path, adapters: list[str], *extra: Any, env: dict[str, str] | None = None,
            shrink: bool = False) -> dict[str, Any]:
    """One gate run; what it printed and wrote, and the markers its hostile adapters left."""
    out, markers = tmp / "run", tmp / "markers"
    markers.mkdir(parents=True, exist_ok=True)
    args: list[Any] = ["run", *SMALL, *extra, "--out", out, "--writable", markers]  # the workers leave markers
    if not shrink:
        args.append("--no-shrink")
    for a in adapters:
        args += ["--adapter", a]
    proc = cli(*args, env={MARKERS_ENV: str(markers), **(env or {})})
    records = cli.records(out) if (out / "results.jsonl").exists() else []
    meta = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    return {"proc": proc, "out": out, "records": records, "by": by_adapter(records), "meta": meta,
            "markers": sorted(p.name for p in markers.iterdir()), "markers_dir": markers}


def assert_one_record_per_pair(res: dict[str, Any], names: list[str]) -> list[str]:
    """Every named adapter has exactly one record for every case of the run; returns the cases."""
    cases = [r["case_id"] for r in res["by"][HEALTHY]]
    assert cases, res["proc"].stderr[-3000:]
    assert sorted(res["by"]) == sorted({HEALTHY, *names}), sorted(res["by"])
    pairs = Counter((r["case_id"], r["adapter"]) for r in res["records"])
    assert set(pairs) == {(c, a) for c in cases for a in {HEALTHY, *names}}
    assert set(pairs.values()) == {1}
    healthy = res["by"][HEALTHY]
    assert all(r["verdict"] == "PASS" for r in healthy), [r["message"] for r in healthy]
    return cases


# ---- the batch: exits, BaseExceptions, malformed outcomes, declarations, escapes, daemons -------------------

# label -> (spec, the adapter's name in the records, verdict, error_kind, message pattern)
Expect = tuple[str, str, str, str | None, str]


def _batch_expectations(tmp: Path) -> dict[str, Expect]:
    """What each hostile adapter of the batch must get; writes the import-time modules into ``tmp``."""
    from hostile_adapters import ESC_TEXT

    exp: dict[str, Expect] = {}

    def put(label: str, spec_: str, name: str | None, verdict: str, kind: str | None, pattern: str) -> None:
        exp[label] = (spec_, name or spec_, verdict, kind, pattern)

    for kind, slug in SLUG.items():
        exc = BASE_EXC.get(kind)
        died = r"exited with status 0 while loading"
        put(f"{kind}InStep", spec(f"{kind}InStep"), f"hostile-{slug}-step", "ERROR", "adapter" if exc else "crashed",
            rf"itself raised {exc}" if exc else r"exited with status 0")
        for where in ("Available", "Init"):  # a load failure: the records are named by the spec
            put(f"{kind}In{where}", spec(f"{kind}In{where}"), None, "ERROR", "load", rf"raised {exc}" if exc else died)
        f = tmp / f"import_{slug}.py"
        f.write_text(IMPORT_TIME[kind])
        put(f"{kind}AtImport", f"{f}:Adapter", None, "ERROR", "load", rf"raised {exc}" if exc else died)
    put("sys:exit", "sys:exit", None, "ERROR", "load", r"raised SystemExit")
    for name in MALFORMED:
        put(name, spec(name), f"hostile-{name.lower()}", "ERROR", "protocol", r"breaks the protocol")
    put("SurrogateText", spec("SurrogateText"), "hostile-surrogatetext", "ERROR", "raised",
        r"raised Runtime.Error at step 1")
    put("HugeOutcome", spec("HugeOutcome"), "hostile-hugeoutcome", "ERROR", "protocol", r"MiB of arrays \(limit 256")
    put("HugeMessage", spec("HugeMessage"), "hostile-hugemessage", "ERROR", "protocol", r"header of \d+ bytes")
    put("JunkOnChannel", spec("JunkOnChannel"), "hostile-junk-channel", "ERROR", "protocol", r"not a frame")
    put("BadSupportValue", spec("BadSupportValue"), "hostile-bad-support", "ERROR", "protocol",
        r"support\[UPD-MOMENTS\] = 'sorta'")
    put("StallsBetweenCases", spec("StallsBetweenCases"), "hostile-stalls", "ERROR", "timeout",
        rf"did not begin its next case within {BATCH_TIMEOUT} s")
    put("DiesHoldingChannel", spec("DiesHoldingChannel"), "hostile-dies-holding-channel", "ERROR", "crashed",
        r"exited with status 0")
    put("NoDtypes", spec("NoDtypes"), "hostile-no-dtypes", "UNSUPPORTED", None, r"not among the dtypes")
    put("AllUnsupported", spec("AllUnsupported"), "hostile-all-unsupported", "UNSUPPORTED", None,
        r"UPD-MOMENTS unsupported")
    put("DeclinesAtRunTime", spec("DeclinesAtRunTime"), "hostile-declines", "UNSUPPORTED", None, r"not today")
    for cls, name in (("WrongAnswer", "hostile-wrong"), ("DoubleFork", "hostile-double-fork"),
                      ("DoubleForkCleanEnv", "hostile-double-fork-clean-env"),
                      ("EscapeName", f"hostile-{ESC_TEXT}-name")):
        put(cls, spec(cls), name, "FAIL", None, r".")
    put("EscapeRaise", spec("EscapeRaise"), "hostile-escape-raise", "ERROR", "raised", r"(?s)message .* end")
    put("EscapeLoadError", spec("EscapeLoadError"), None, "ERROR", "load", r"RuntimeError: load ")
    return exp


def _labels() -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return list(_batch_expectations(Path(d)))


UNAVAILABLE = spec("EscapeUnavailable")  # requested, cannot run here: no records, the run fails naming it
HAS_GPU = os.path.exists("/dev/nvidia0")
RAISING = "torch:hostile_adapters:AlwaysRaisingAdam"  # the generic torch adapter over an always-raising step()
TESTS_PATH = {"PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def batch(cli: Any, tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: Any) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("hostile-batch")
    exp = _batch_expectations(tmp)
    requested = [UNAVAILABLE, RAISING] + ([] if HAS_GPU else ["torch-cuda-fused"])  # none of them runs here
    res = run_dir(cli, tmp, [HEALTHY, *(e[0] for e in exp.values()), *requested], "--max-examples", 2,
                  "--timeout", BATCH_TIMEOUT, env=TESTS_PATH)
    res["expect"] = exp
    return res


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    """No forced colour: with it, rich would write its own escapes and the ESC check would prove nothing."""
    mp = pytest.MonkeyPatch()
    for var in ("FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE"):
        mp.delenv(var, raising=False)
    yield mp
    mp.undo()


def test_batch_exit_code_and_one_record_per_pair(batch: dict[str, Any]) -> None:
    proc = batch["proc"]
    assert proc.returncode == 1, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    assert batch["meta"]["complete"] is True
    names = [e[1] for e in batch["expect"].values()]
    if RAISING in batch["by"]:  # torch missing: a load ERROR per case (otherwise: unavailable, no records)
        names.append(RAISING)
    assert_one_record_per_pair(batch, names)


@pytest.mark.parametrize("label", _labels())
def test_batch_kind(batch: dict[str, Any], label: str) -> None:
    _, name, verdict, kind, pattern = batch["expect"][label]
    recs = batch["by"].get(name)
    assert recs, (name, sorted(batch["by"]))
    for r in recs:
        assert (r["verdict"], r["error_kind"]) == (verdict, kind), (r["verdict"], r["error_kind"], r["message"])
        assert re.search(pattern, r["message"]), r["message"]
        if kind == "protocol":
            assert "adapter bug" in r["message"], r["message"]


def test_batch_run_fails_naming_what_judged_nothing(batch: dict[str, Any]) -> None:
    problems = "\n".join(batch["meta"]["gate"]["problems"])
    for name in ("hostile-no-dtypes", "hostile-all-unsupported", "hostile-declines", "hostile-escape-unavailable"):
        assert name in problems, problems
    assert "--allow-unavailable" in problems


def test_nothing_is_unpickled_anywhere(batch: dict[str, Any]) -> None:
    assert not [m for m in batch["markers"] if m.startswith("reduce-")], batch["markers"]


def test_no_escape_reaches_the_terminal(batch: dict[str, Any]) -> None:
    proc = batch["proc"]
    for stream in (proc.stderr, proc.stdout):
        assert "\x1b" not in stream and "\x00" not in stream and "\x07" not in stream
    assert "hostile-" in proc.stderr  # names were printed, made safe
    assert not re.search(r"^\s*conformant", proc.stderr, re.M)


def test_daemons_are_dead_after_the_run(batch: dict[str, Any]) -> None:
    daemons = [m for m in batch["markers"] if m.startswith("daemon-")]
    tags = {m.rsplit("-", 1)[0] for m in daemons}
    assert tags == {"daemon-hostile-double-fork", "daemon-hostile-double-fork-clean-env",
                    "daemon-hostile-dies-holding-channel"}, daemons
    alive = [m for m in daemons if pid_alive(int(m.rsplit("-", 1)[1]))]
    assert not alive, alive


# ---- tamper: the judge replaced at import, results.jsonl rewritten by a daemon -----------------------------

JUDGE_PATCHER = '''"""Replaces the judge wherever it can, at import time, then reports wrong answers."""
import conformance.compare, conformance.runner, conformance.protocol
from conformance.compare import Verdict
from hostile_adapters import WrongAnswer


def _always_pass(*args, **kwargs):
    return Verdict("PASS", "judged by the implementation itself")


conformance.compare.judge = conformance.runner.judge = _always_pass
conformance.protocol.outcome = lambda wire, case: None


class Patcher(WrongAnswer):
    name = "hostile-judge-patcher"
'''


@pytest.fixture(scope="module")
def tamper(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("hostile-tamper")
    patcher = tmp / "patch_judge.py"
    patcher.write_text(JUDGE_PATCHER)
    # Unconfined (--no-sandbox): the rewrite lands, and the gate's own check must catch it. With the
    # sandbox it cannot land at all (test_sandbox.py).
    return run_dir(cli, tmp, [HEALTHY, spec("WrongAnswer"), f"{patcher}:Patcher", spec("RewritesResults")],
                   "--max-examples", 2, "--no-sandbox", env=TESTS_PATH)


def test_tamper_run_fails_and_keeps_the_gates_records(cli: Any, tamper: dict[str, Any]) -> None:
    proc = tamper["proc"]
    assert proc.returncode == 1, proc.stderr[-3000:]
    names = ["hostile-wrong", "hostile-judge-patcher", "hostile-rewrites-results"]
    assert_one_record_per_pair(tamper, names)
    for name in names:
        assert {r["verdict"] for r in tamper["by"][name]} == {"FAIL"}, name
    summary = json.loads((tamper["out"] / "summary.json").read_text())
    assert {f["adapter"] for f in summary["failures"]} == set(names)


def test_results_rewrite_is_detected(tamper: dict[str, Any]) -> None:
    assert "rewrite-landed" in tamper["markers"], tamper["markers"]  # the attack did land while the gate held it
    problems = " ".join(tamper["meta"]["gate"]["problems"])
    assert "results.jsonl was modified" in problems, problems


# ---- shrinking: a failing case that exits when it is rerun ------------------------------------------------

@pytest.fixture(scope="module")
def shrinking(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("hostile-shrink")
    return run_dir(cli, tmp, [HEALTHY, spec("ExitsOnRerun")], "--max-examples", 7, shrink=True)


def test_exits_while_shrinking_keep_the_fail_records(cli: Any, shrinking: dict[str, Any]) -> None:
    from conformance.cases import load

    proc = shrinking["proc"]
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert shrinking["meta"]["complete"] is True
    assert_one_record_per_pair(shrinking, ["hostile-exits-on-rerun"])
    recs = shrinking["by"]["hostile-exits-on-rerun"]
    assert {r["verdict"] for r in recs} == {"FAIL"}
    for r in recs:  # each failing case is still saved, whole and loadable
        assert load(shrinking["out"] / r["case_file"]).id


def test_every_escape_was_tried_during_shrinking(shrinking: dict[str, Any]) -> None:
    tried = {m.rsplit("-", 1)[1] for m in shrinking["markers"] if m.startswith("rerun-")}
    assert tried == set(ESCAPES), shrinking["markers"]


# ---- -j: a dying worker charges no innocent case ------------------------------------------------------------

@pytest.fixture(scope="module")
def jobs(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    return {j: run_dir(cli, tmp_path_factory.mktemp(f"hostile-j{j}"), [HEALTHY, spec("DiesOnSome")],
                       "--max-examples", 8, "-j", j) for j in (1, 2)}


def test_dying_worker_charges_only_its_own_cases(jobs: dict[int, dict[str, Any]]) -> None:
    for j, res in jobs.items():
        assert res["proc"].returncode == 1, (j, res["proc"].stderr[-3000:])
        assert_one_record_per_pair(res, ["hostile-dies-on-some"])
        got = {r["case_id"]: (r["verdict"], r["error_kind"]) for r in res["by"]["hostile-dies-on-some"]}
        want = {c: ("ERROR", "crashed") if dies_on(c) else ("PASS", None) for c in got}
        assert got == want, j
        kinds = [want[r["case_id"]] for r in res["by"]["hostile-dies-on-some"]]  # in case order
        first_death = kinds.index(("ERROR", "crashed"))
        assert ("PASS", None) in kinds[first_death + 1:], kinds  # cases queued behind a death still ran


def test_verdicts_do_not_depend_on_jobs(jobs: dict[int, dict[str, Any]]) -> None:
    def key(res: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(r["case_id"], r["adapter"], r["verdict"], r["error_kind"]) for r in res["records"]]

    assert key(jobs[1]) == key(jobs[2])


# ---- memory: a leak costs one ERROR per breach, and the run goes on ---------------------------------------

@pytest.fixture(scope="module")
def leak(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_dir(cli, tmp_path_factory.mktemp("hostile-leak"), [HEALTHY, spec("Leaky")], "--max-examples", 4,
                   "--memory-limit-mb", 600)


def test_leak_costs_one_error_per_breach(leak: dict[str, Any]) -> None:
    assert leak["proc"].returncode == 1, leak["proc"].stderr[-3000:]
    assert_one_record_per_pair(leak, ["hostile-leaky"])
    recs = leak["by"]["hostile-leaky"]
    # a fresh worker holds one leak (< 600 MiB) after its first case, two (> 600 MiB) after its second
    assert LEAK_MB < 600 - 200 and 2 * LEAK_MB > 600
    want = [("PASS", None) if i % 2 == 0 else ("ERROR", "memory") for i in range(len(recs))]
    assert [(r["verdict"], r["error_kind"]) for r in recs] == want, [r["message"] for r in recs]
    for r in recs:
        if r["verdict"] == "ERROR":
            assert "limit of 600 MiB" in r["message"], r["message"]
    meta = {a["name"]: a for a in leak["meta"]["adapters"]}
    assert meta["hostile-leaky"]["worker_restarts"] == len(recs) // 2


def test_outcome_size_is_checked_before_anything_is_read() -> None:
    """The frame header alone (16 bytes) announcing a blob past the limit is refused: nothing is buffered."""
    from conformance import ipc

    head = ipc._HEAD.pack(ipc.MAGIC, 2, 300 << 20)
    reader = ipc.FrameReader(256 << 20)
    with pytest.raises(ipc.ProtocolError, match="300 MiB"):
        reader.feed(head)
    with pytest.raises(ipc.ProtocolError, match="header"):
        ipc.FrameReader().feed(ipc._HEAD.pack(ipc.MAGIC, ipc.MAX_HEADER + 1, 0))


# ---- the exit contract: nothing selected, nothing available, nothing judged ---------------------------------

def test_empty_clause_selection_is_a_usage_error(cli: Any, tmp_path: Path) -> None:
    line = cli.usage_error(cli("run", "--adapter", HEALTHY, "--clauses", ",", "--out", tmp_path / "run"))
    assert "selects no clause" in line


def lib_run(tmp: Path, adapters: list[str], **kw: Any) -> Any:
    """The gate as a library call in this process (cheaper than the CLI; the adapters still run in workers)."""
    from conformance.gate import RunConfig, run

    cfg = {"out": tmp / "run", "clauses": "UPD-MOMENTS", "dtypes": "float32", "max_examples": 2, "corpus": False,
           "shrink": False, "timeout": 10.0, **kw}
    return run(RunConfig(adapters=adapters, **cfg))


@pytest.mark.parametrize("cls", ["Exit0InStep", "NoDtypes"])
def test_alone_it_still_fails_the_run(tmp_path: Path, cls: str) -> None:
    """Without the healthy adapter beside it: sys.exit(0) in step() and judging nothing are still exit 1."""
    res = lib_run(tmp_path, [spec(cls)])
    assert res.exit_code == 1, res.problems
    assert res.records and len({r.case_id for r in res.records}) == len(res.records)
    assert {r.verdict for r in res.records} == ({"ERROR"} if cls == "Exit0InStep" else {"UNSUPPORTED"})
    assert bool(res.problems) == (cls == "NoDtypes"), res.problems


def test_allow_unavailable_skips_and_says_so(tmp_path: Path) -> None:
    res = lib_run(tmp_path, [HEALTHY, spec("Unavailable")], allow_unavailable=True)
    assert res.exit_code == 0, res.problems
    assert {r.adapter for r in res.records} == {HEALTHY}
    assert any("hostile-unavailable" in w for w in res.warnings), res.warnings
    refused = lib_run(tmp_path / "refused", [HEALTHY, spec("Unavailable")])
    assert refused.exit_code == 1 and any("hostile-unavailable" in p for p in refused.problems)
    assert {r.adapter for r in refused.records} == {HEALTHY}


no_gpu = pytest.mark.skipif(HAS_GPU, reason="this machine has a CUDA device")


@pytest.fixture(scope="module")
def torch_allowed(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """With --allow-unavailable: torch-cuda-fused (no CUDA here) and a torch optimizer whose step always raises."""
    pytest.importorskip("torch")
    return run_dir(cli, tmp_path_factory.mktemp("allowed"), [HEALTHY, "torch-cuda-fused", RAISING],
                   "--max-examples", 2, "--allow-unavailable", env=TESTS_PATH)


@no_gpu
def test_requested_unavailable_adapter_fails_the_run_naming_it(batch: dict[str, Any]) -> None:
    problems = " ".join(batch["meta"]["gate"]["problems"])
    assert "torch-cuda-fused" in problems and ("CUDA" in problems or "torch" in problems), problems
    assert "torch-cuda-fused" in batch["proc"].stderr
    assert "torch-cuda-fused" not in batch["by"]


def broken_not_absent(recs: list[dict[str, Any]]) -> bool:
    """The always-raising optimizer's records: ERRORs, apart from what its class cannot take by design
    (no nesterov argument: UNSUPPORTED by declaration) -- never UNSUPPORTED because its probe step raised."""
    return any(r["verdict"] == "ERROR" for r in recs) and all(
        r["verdict"] == "ERROR" or (r["verdict"] == "UNSUPPORTED" and r.get("unsupported_by") == "declared")
        for r in recs)


def test_failing_probe_fails_the_run(batch: dict[str, Any]) -> None:
    """Without --allow-unavailable, an optimizer whose every step raises cannot be green."""
    problems = " ".join(batch["meta"]["gate"]["problems"])
    recs = batch["by"].get(RAISING, [])
    assert "AlwaysRaisingAdam" in problems or broken_not_absent(recs), (problems, [r["message"] for r in recs])


@no_gpu
def test_allow_unavailable_skips_torch_cuda(torch_allowed: dict[str, Any]) -> None:
    res = torch_allowed
    assert "Traceback" not in res["proc"].stderr
    assert "torch-cuda-fused" not in res["by"]
    assert any("torch-cuda-fused" in w for w in res["meta"]["gate"]["warnings"])
    assert not any("torch-cuda-fused" in p for p in res["meta"]["gate"]["problems"])
    assert "skipping torch-cuda-fused" in res["proc"].stderr
    assert all(r["verdict"] == "PASS" for r in res["by"][HEALTHY])


def test_probe_failure_is_not_skippable(torch_allowed: dict[str, Any]) -> None:
    """An optimizer whose step() always raises is broken, not absent: --allow-unavailable must not make it green."""
    res = torch_allowed
    assert res["proc"].returncode == 1, res["proc"].stderr[-3000:]
    assert broken_not_absent(res["by"].get(RAISING, [])), [r["message"] for r in res["by"].get(RAISING, [])]


# ---- list and replay load adapters in workers too --------------------------------------------------------

def test_list_survives_hostile_adapters_and_prints_no_escape(cli: Any, monkeypatch_module: Any) -> None:
    args = [a for cls in ("EscapeName", "EscapeLoadError", "EscapeUnavailable", "Exit0InInit", "OsExit0InAvailable")
            for a in ("--adapter", spec(cls))]
    proc = cli("list", *args, "--adapter", "sys:exit")
    assert proc.returncode == 1, proc.stderr[-3000:]  # asked for by name and not loadable: "no" is exit 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "\x1b" not in proc.stdout + proc.stderr
    for word in ("hostile-", "SystemExit", "exited with status 0 while loading"):
        assert word in proc.stdout, proc.stdout


@pytest.mark.parametrize("cls", ["Exit0InStep", "OsExit0InStep"])
def test_replay_of_an_exiting_adapter_is_an_error(cli: Any, tmp_path: Path, cls: str) -> None:
    from conformance.generate import generate

    case = tmp_path / "case.json"
    case.write_text(generate(("UPD-MOMENTS",), ("float32",), 0, 2)[-1].dumps())
    proc = cli("replay", case, "--adapter", spec(cls), "--timeout", 10)
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    assert ": ERROR -- " in proc.stdout, proc.stdout


def test_messages_before_junk_are_not_lost() -> None:
    """A worker that answers, then writes junk in the same pipe read: the answer counts, the junk is the error."""
    from conformance import ipc

    reader = ipc.FrameReader()
    got = reader.feed(ipc.encode({"type": "begin", "key": 3}) + b"junk" * 8)
    assert got == [{"type": "begin", "key": 3}]
    assert reader.error is not None
    with pytest.raises(ipc.ProtocolError, match="not a frame"):
        reader.feed(b"")
