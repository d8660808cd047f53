"""The gate a CI trusts: determinism, sharding + merge, the known-deviation baseline, and resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pytest

FAULTY = "EpsAfterBias"  # eps after bias correction: FAILs UPD-EPS, passes UPD-MOMENTS
GATE = ("--clauses", "UPD-EPS,UPD-MOMENTS", "--dtypes", "float32", "--max-examples", 4, "--seed", 3, "--quiet")


def _pairs(records: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((r["case_id"], r["adapter"]) for r in records)


# ---- determinism ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def twice(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same run three times in the same --out: twice with one job, once with two jobs per adapter."""
    tmp = tmp_path_factory.mktemp("determinism")
    out = tmp / "run"
    args = ("run", "--adapter", "reference-f32", "--adapter", cli.adapter(FAULTY), *GATE, "--out", out)
    got = []
    for extra in ((), (), ("--jobs", 2)):
        proc = cli(*args, *extra)
        assert proc.returncode == 1, proc.stderr[-3000:]
        got.append({"stable": cli.stable(out), "records": cli.records(out)})
    return {"runs": got}


def test_same_seed_same_results(twice: dict[str, Any]) -> None:
    a, b, _ = twice["runs"]
    verdicts = Counter(r["verdict"] for r in a["records"])
    assert verdicts["PASS"] and verdicts["FAIL"], verdicts  # a run with both outcomes, or the test proves little
    assert [(r["case_id"], r["adapter"], r["verdict"]) for r in a["records"]] == \
        [(r["case_id"], r["adapter"], r["verdict"]) for r in b["records"]]
    assert a["stable"] == b["stable"]


def test_timing_fields_are_the_only_difference(twice: dict[str, Any]) -> None:
    from conformance.records import TIMING_FIELDS

    a, b, _ = twice["runs"]
    for ra, rb in zip(a["records"], b["records"]):
        differ = {k for k in set(ra) | set(rb) if ra.get(k) != rb.get(k)}
        assert differ <= set(TIMING_FIELDS), differ


def test_jobs_do_not_change_results(twice: dict[str, Any]) -> None:
    a, _, j2 = twice["runs"]
    assert j2["stable"] == a["stable"]


def test_case_set_does_not_depend_on_the_adapters_chosen(cli: Any, tmp_path: Path) -> None:
    """The same seed must give the same cases whichever adapters are run: loading a user's adapter file
    (one outside any tests/ directory) must not change what is generated."""
    user = tmp_path / "user_adapter" / "my_adam_adapter.py"
    user.parent.mkdir()
    user.write_text(
        "from adapters.numpy_lowp import NumpyLowPrecisionAdapter\n\n"
        "TUNING = (0.123456, 7.5e-3, 98765, 3.25, -17, 'fused')\n\n\n"
        "class Mine(NumpyLowPrecisionAdapter):\n"
        "    name = 'mine'\n")
    args = ("--clauses", "UPD-MOMENTS,DEC-L2", "--dtypes", "float32", "--max-examples", 3, "--quiet", "--no-shrink")
    alone = cli("run", "--adapter", "reference-f32", *args, "--out", tmp_path / "alone")
    both = cli("run", "--adapter", "reference-f32", "--adapter", f"{user}:Mine", *args, "--out", tmp_path / "both")
    assert alone.returncode == 0 and both.returncode == 0, (alone.stderr[-2000:], both.stderr[-2000:])
    ids_alone = [r["case_id"] for r in cli.records(tmp_path / "alone")]
    ids_both = [r["case_id"] for r in cli.records(tmp_path / "both") if r["adapter"] == "reference-f32"]
    assert ids_both == ids_alone


# ---- shard + merge ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sharded(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("shards")
    dirs = {k: tmp / k for k in ("full", "s1", "s2", "merged")}
    base = ("run", "--adapter", "reference-f32", "--adapter", cli.adapter(FAULTY), *GATE)
    codes = {}
    for key, extra in (("full", ()), ("s1", ("--shard", "1/2")), ("s2", ("--shard", "2/2"))):
        proc = cli(*base, *extra, "--out", dirs[key])
        assert proc.returncode in (0, 1), proc.stderr[-3000:]
        codes[key] = proc.returncode
    proc = cli("report", "--merge", dirs["s1"], dirs["s2"], "--out", dirs["merged"])
    # The merged run's verdict is the unsharded run's (the faulty adapter fails), never one shard's.
    assert proc.returncode == codes["full"] == 1, proc.stderr[-3000:]
    assert json.loads((dirs["merged"] / "run.json").read_text())["gate"]["exit_code"] == 1
    return dirs


def _norm(dirs: dict[str, Path]) -> dict[str, str]:
    """Replay commands name the directory a record was written in (relative to where the CLI runs, so the
    same run gives the same text wherever the checkout is); that is all that may differ."""
    from conftest import ROOT

    keys = ("full", "s1", "s2", "merged")
    return {**{os.path.relpath(dirs[k], ROOT): "<OUT>" for k in keys}, **{str(dirs[k]): "<OUT>" for k in keys}}


def test_shards_partition_the_cases(cli: Any, sharded: dict[str, Path]) -> None:
    full = {r["case_id"] for r in cli.records(sharded["full"])}
    s1 = {r["case_id"] for r in cli.records(sharded["s1"])}
    s2 = {r["case_id"] for r in cli.records(sharded["s2"])}
    assert s1 and s2, "both shards must hold cases for the merge to mean something"
    assert not s1 & s2
    assert s1 | s2 == full


def test_merged_results_equal_the_unsharded_run(cli: Any, sharded: dict[str, Path]) -> None:
    full = cli.stable(sharded["full"], _norm(sharded))
    merged = cli.stable(sharded["merged"], _norm(sharded))
    assert any('"verdict": "FAIL"' in line for line in full)
    assert merged == full


def test_merged_summary_equals_the_unsharded_run(sharded: dict[str, Path]) -> None:
    def summary(key: str) -> dict[str, Any]:
        text = (sharded[key] / "summary.json").read_text()
        for old, new in _norm(sharded).items():
            text = text.replace(old, new)
        return json.loads(text)

    full, merged = summary("full"), summary("merged")
    assert full["failures"], "the faulty adapter must have failures to compare"
    for key in ("cells", "totals", "failures"):
        assert merged[key] == full[key], key
    meta = json.loads((sharded["merged"] / "run.json").read_text())
    assert meta["complete"] is True and meta["shard"] is None
    assert meta["cases"] == json.loads((sharded["full"] / "run.json").read_text())["cases"]


def test_merged_failure_links_resolve(cli: Any, sharded: dict[str, Path]) -> None:
    """summary.md of the merged run links each failure to ``failures/ID.json`` under the merged directory."""
    failing = [r for r in cli.records(sharded["merged"]) if r.get("case_file")]
    assert failing
    missing = [r["case_file"] for r in failing if not (sharded["merged"] / r["case_file"]).is_file()]
    assert not missing, missing


# ---- baseline --------------------------------------------------------------------------------------------

BL_ARGS = ("--clauses", "UPD-EPS", "--dtypes", "float32", "--max-examples", 3, "--quiet", "--no-shrink")


@pytest.fixture(scope="module")
def baseline(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("baseline")
    path = tmp / "b.toml"
    proc = cli("run", "--adapter", cli.adapter(FAULTY), *BL_ARGS, "--out", tmp / "first", "--update-baseline", path)
    return {"tmp": tmp, "path": path, "proc": proc, "records": cli.records(tmp / "first")}


def _gate(cli: Any, tmp: Path, name: str, toml: str, *adapters: str) -> tuple[Any, list[dict[str, Any]], Path]:
    b = tmp / f"{name}.toml"
    b.write_text(toml)
    out = tmp / name
    spec = [x for a in (adapters or (cli.adapter(FAULTY),)) for x in ("--adapter", a)]
    proc = cli("run", *spec, *BL_ARGS, "--baseline", b, "--out", out)
    return proc, cli.records(out), out


def test_without_baseline_the_deviation_fails_the_gate(baseline: dict[str, Any]) -> None:
    assert baseline["proc"].returncode == 1
    fails = [r for r in baseline["records"] if r["verdict"] == "FAIL"]
    assert fails and all("UPD-EPS" in r["deviates"] for r in fails)


def test_update_baseline_writes_an_entry(baseline: dict[str, Any]) -> None:
    data = tomllib.loads(baseline["path"].read_text())
    [entry] = data["deviation"]
    assert entry["adapter"] == "broken-eps-after-bias"
    assert entry["clauses"] == ["UPD-EPS"]
    assert entry["dtypes"] == ["float32"]
    worst = max(r["ratio"] for r in baseline["records"] if r["verdict"] == "FAIL")
    assert worst <= entry["max_ratio"] <= worst * 1.1


def test_baselined_deviation_is_xfail_and_passes_the_gate(cli: Any, baseline: dict[str, Any]) -> None:
    proc, recs, out = _gate(cli, baseline["tmp"], "known", baseline["path"].read_text())
    assert proc.returncode == 0, proc.stderr[-3000:]
    before = {r["case_id"]: r["verdict"] for r in baseline["records"]}
    after = {r["case_id"]: r for r in recs}
    assert set(after) == set(before)
    for cid, verdict in before.items():
        if verdict == "FAIL":
            assert after[cid]["verdict"] == "XFAIL" and after[cid]["raw_verdict"] == "FAIL"
        else:
            assert after[cid]["verdict"] == verdict
    assert "XFAIL" in json.dumps(json.loads((out / "summary.json").read_text())["totals"])


def test_baseline_entry_that_passes_now_is_xpass(cli: Any, baseline: dict[str, Any]) -> None:
    toml = baseline["path"].read_text() + (
        "\n[[deviation]]\nadapter = \"reference-f32\"\nclauses = [\"UPD-EPS\"]\nreason = \"was wrong once\"\n")
    proc, recs, out = _gate(cli, baseline["tmp"], "xpass", toml, "reference-f32", cli.adapter(FAULTY))
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert any(r["adapter"] == "reference-f32" for r in recs)
    xpass = [line for line in proc.stderr.splitlines() if "XPASS" in line]
    assert xpass and "deviation #2" in xpass[0] and "reference-f32" in xpass[0], proc.stderr[-3000:]
    gate = json.loads((out / "summary.json").read_text())["gate"]
    assert any("XPASS" in f and "reference-f32" in f for f in gate["failures"])


def test_baseline_entry_matching_nothing_is_a_warning(cli: Any, baseline: dict[str, Any]) -> None:
    toml = baseline["path"].read_text() + (
        "\n[[deviation]]\nadapter = \"torch-cpu-fused\"\nclauses = [\"DEC-L2\"]\nreason = \"not in this run\"\n")
    proc, _, _ = _gate(cli, baseline["tmp"], "stale", toml)
    assert proc.returncode == 0, proc.stderr[-3000:]
    warn = [line for line in proc.stderr.splitlines() if "warning" in line]
    # torch-cpu-fused did not run: one line says its entries were not checked, none calls them stale
    assert any("torch-cpu-fused" in w and "did not judge" in w for w in warn), proc.stderr[-3000:]
    assert not any("torch-cpu-fused" in w and "matches no case" in w for w in warn), proc.stderr[-3000:]


def test_baseline_entry_of_a_judged_adapter_matching_nothing_is_stale(cli: Any, baseline: dict[str, Any]) -> None:
    toml = baseline["path"].read_text() + (
        "\n[[deviation]]\nadapter = \"reference-f32\"\nclauses = [\"DEC-L2\"]\n"
        "reason = \"no DEC-L2 case in this run\"\n")
    proc, _, _ = _gate(cli, baseline["tmp"], "stale-judged", toml, "reference-f32")
    assert proc.returncode == 0, proc.stderr[-3000:]
    warn = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert any("reference-f32" in w and "matches no case" in w for w in warn), proc.stderr[-3000:]


def test_growth_beyond_max_ratio_is_a_regression(cli: Any, baseline: dict[str, Any]) -> None:
    data = tomllib.loads(baseline["path"].read_text())
    assert "max_ratio" in data["deviation"][0]
    toml = "\n".join(
        "max_ratio = 1e-06" if line.startswith("max_ratio") else line
        for line in baseline["path"].read_text().splitlines()) + "\n"
    proc, recs, _ = _gate(cli, baseline["tmp"], "regressed", toml)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "REGRESSION" in proc.stderr
    fails = [r for r in recs if r["verdict"] == "FAIL"]
    assert fails and all(r["message"].startswith("regression") for r in fails)
    assert not [r for r in recs if r["verdict"] == "XFAIL"]


# ---- interrupt and resume ---------------------------------------------------------------------------------

SLOW_ARGS = ("--clauses", "UPD-MOMENTS,UPD-BIAS,UPD-EPS", "--dtypes", "float32", "--max-examples", 6, "--quiet",
             "--no-shrink")


@pytest.fixture(scope="module")
def all_cases(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The case IDs of an uninterrupted run with the same options (a fast adapter: same case set)."""
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    proc = cli("run", "--adapter", "reference-f32", *SLOW_ARGS, "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ids = [r["case_id"] for r in cli.records(out)]
    assert len(ids) >= 12
    return ids


def _group(pgid: int) -> list[psutil.Process]:
    """Live processes of the run's own session (the CLI and the workers it started)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def _interrupt(cli: Any, out: Path, sig: int, after: int = 3) -> dict[str, Any]:
    """Start a slow run, wait for ``after`` records, send ``sig``; return what it left."""
    err = out.parent / "stderr.txt"
    proc = cli.popen("run", "--adapter", cli.adapter("Slow"), *SLOW_ARGS, "--out", out, stderr=err)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if results.exists() and len(results.read_text().splitlines()) >= after:
            break
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be interrupted: {err.read_text()[-2000:]}")
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the slow run wrote no records in 60 s")
    if sig == signal.SIGINT:
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C does: the whole foreground process group
    else:
        os.kill(proc.pid, sig)
    try:
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return {"rc": rc, "stderr": err.read_text(), "pgid": proc.pid, "killed_at": time.monotonic(),
            "partial": results.read_text()}


def _reap(pgid: int) -> None:
    for p in _group(pgid):
        try:
            p.kill()
        except psutil.Error:
            pass


@pytest.fixture(scope="module")
def interrupted(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("sigint") / "run"
    got = _interrupt(cli, out, signal.SIGINT)
    _reap(got["pgid"])
    return {**got, "out": out}


@pytest.fixture(scope="module")
def killed(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("sigkill") / "run"
    got = _interrupt(cli, out, signal.SIGKILL)
    got["survivors"] = [p.pid for p in _group(got["pgid"])]
    yield {**got, "out": out}
    _reap(got["pgid"])


def _check_partial(cli: Any, state: dict[str, Any], all_cases: list[str]) -> list[dict[str, Any]]:
    lines = [line for line in state["partial"].splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is a whole JSON record
    assert 3 <= len(records) < len(all_cases)
    assert all(r["verdict"] == "PASS" for r in records), [r["message"] for r in records]
    assert set(_pairs(records).values()) == {1}
    report = cli("report", state["out"])
    assert report.returncode == 0, report.stderr[-2000:]
    assert "PARTIAL" in report.stdout
    return records


def _check_resume(cli: Any, state: dict[str, Any], all_cases: list[str]) -> None:
    partial = state["partial"]
    proc = cli("run", "--adapter", cli.adapter("Slow"), *SLOW_ARGS, "--out", state["out"], "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (state["out"] / "results.jsonl").read_text()
    assert text.startswith(partial), "resume must keep the finished records as they were"
    records = cli.records(state["out"])
    pairs = _pairs(records)
    assert set(pairs.values()) == {1}, [k for k, v in pairs.items() if v > 1]
    assert sorted(cid for cid, _ in pairs) == sorted(all_cases)
    assert len(records) == len(all_cases)
    meta = json.loads((state["out"] / "run.json").read_text())
    assert meta["complete"] is True
    done_before = len([line for line in partial.splitlines() if line.strip()])
    assert meta["adapters"][0]["cases_run"] == len(all_cases) - done_before, "finished cases were run again"
    assert "PARTIAL" not in cli("report", state["out"]).stdout


def test_sigint_stops_with_partial_results(cli: Any, interrupted: dict[str, Any], all_cases: list[str]) -> None:
    assert interrupted["rc"] == 130, interrupted["stderr"][-2000:]
    assert "Traceback" not in interrupted["stderr"]
    assert "--resume" in interrupted["stderr"]
    _check_partial(cli, interrupted, all_cases)
    assert json.loads((interrupted["out"] / "run.json").read_text())["complete"] is False


def test_resume_after_sigint(cli: Any, interrupted: dict[str, Any], all_cases: list[str]) -> None:
    _check_resume(cli, interrupted, all_cases)


def test_sigkill_leaves_parseable_partial_results(cli: Any, killed: dict[str, Any], all_cases: list[str]) -> None:
    assert killed["rc"] == -signal.SIGKILL
    _check_partial(cli, killed, all_cases)


def test_resume_after_sigkill(cli: Any, killed: dict[str, Any], all_cases: list[str]) -> None:
    _check_resume(cli, killed, all_cases)


def test_sigkill_leaves_no_orphan_workers(killed: dict[str, Any]) -> None:
    """Adapter workers must not outlive a killed run (a CI timeout kills the gate; its workers may hold a GPU)."""
    deadline = killed["killed_at"] + 5
    alive = [p.pid for p in _group(killed["pgid"])]  # fresh: the fixture may have been set up a while ago
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p.pid for p in _group(killed["pgid"])]
    assert not alive, f"worker processes still running {time.monotonic() - killed['killed_at']:.0f} s after the " \
                      f"run was killed: {_cmdlines(alive)}"


def _cmdlines(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            out.append(f"{proc.status()} ppid={proc.ppid()} " + " ".join(proc.cmdline())[:80])
        except psutil.Error:  # it exited while we looked
            continue
    return out


def test_resume_after_a_torn_last_line(cli: Any, tmp_path: Path) -> None:
    """A run killed mid-write leaves half a record without a newline; resume must not glue the next record to it."""
    out = tmp_path / "run"
    args = ("run", "--adapter", "reference", "--adapter", "reference-f32", "--clauses", "UPD-MOMENTS", "--dtypes",
            "float32", "--max-examples", 4, "--quiet", "--out", out)
    assert cli(*args).returncode == 0
    lines = cli.lines(out)
    total = _pairs(cli.records(out))
    keep = len(lines) // 2
    (out / "results.jsonl").write_text("".join(line + "\n" for line in lines[:keep]) + lines[keep][: len(lines[keep])
                                                                                                   // 2])
    proc = cli(*args, "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = cli.lines(out)
    glued = []
    for line in after[keep:]:
        try:
            json.loads(line)
        except json.JSONDecodeError:
            glued.append(line[:120])
    assert not glued, f"resume appended onto the torn line: {glued}"
    assert _pairs(cli.records(out)) == total


def test_resume_needs_an_earlier_run(cli: Any, tmp_path: Path) -> None:
    line = cli.usage_error(cli("run", "--adapter", "reference", "--resume", "--quiet", "--out", tmp_path / "none"))
    assert "--resume" in line


def test_resume_of_a_complete_run_runs_nothing(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ("run", "--adapter", "reference-f32", "--clauses", "UPD-MOMENTS", "--dtypes", "float32", "--max-examples",
            3, "--quiet", "--out", out)
    assert cli(*args).returncode == 0
    before = (out / "results.jsonl").read_text()
    assert cli(*args, "--resume").returncode == 0
    assert (out / "results.jsonl").read_text() == before
    assert json.loads((out / "run.json").read_text())["adapters"][0]["cases_run"] == 0
    shutil.rmtree(out)


# ---- nothing judged is never green ------------------------------------------------------------------------

N_SHARDS = 5  # more shards than the run below has cases: some hold none


@pytest.fixture(scope="module")
def shards(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("empty-shards")
    base = ("run", "--adapter", "reference-f32", "--clauses", "UPD-MOMENTS", "--dtypes", "float32",
            "--max-examples", 2, "--no-corpus", "--no-shrink", "--quiet")
    runs = []
    for k in range(1, N_SHARDS + 1):
        out = tmp / f"s{k}"
        runs.append({"proc": cli(*base, "--shard", f"{k}/{N_SHARDS}", "--out", out), "out": out,
                     "records": []})
        runs[-1]["records"] = cli.records(out)
    empty = [r for r in runs if not r["records"]]
    assert empty and len(empty) < N_SHARDS, [len(r["records"]) for r in runs]
    return {"runs": runs, "empty": empty, "tmp": tmp}


def test_an_empty_shard_is_not_green(shards: dict[str, Any]) -> None:
    for run in shards["runs"]:
        proc = run["proc"]
        if run["records"]:
            assert proc.returncode == 0, proc.stderr[-2000:]
            continue
        assert proc.returncode == 1, proc.stderr[-2000:]
        assert "nothing was judged" in proc.stderr
        assert json.loads((run["out"] / "run.json").read_text())["gate"]["exit_code"] == 1


def test_a_merge_is_judged_on_its_records_not_on_its_first_shard(cli: Any, shards: dict[str, Any]) -> None:
    """Joined, the shards' records all pass: the empty shards' "nothing judged" does not stand, whichever
    shard comes first. Joined without the shards that hold cases, nothing is judged: red."""
    dirs = [r["out"] for r in shards["runs"]]
    empties = [r["out"] for r in shards["empty"]]
    for name, order in (("empty-first", empties + [d for d in dirs if d not in empties]),
                        ("reversed", dirs[::-1])):
        out = shards["tmp"] / f"merged-{name}"
        proc = cli("report", "--merge", *order, "--out", out)
        assert proc.returncode == 0, proc.stderr[-2000:]
        gate = json.loads((out / "run.json").read_text())["gate"]
        assert gate["exit_code"] == 0 and gate["problems"] == [], gate
    out = shards["tmp"] / "merged-partial"
    proc = cli("report", "--merge", *empties, "--out", out)
    assert proc.returncode == 1, proc.stderr[-2000:]
    problems = " ".join(json.loads((out / "run.json").read_text())["gate"]["problems"])
    assert "missing" in problems and "nothing was judged" in problems, problems
