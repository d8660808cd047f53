"""What a second fresh-user audit (wave 8) got past the gate's surfaces.

Each test is one reproduced finding: the pytest plugin refused its own earlier runs (a second session in
the same project was a usage error); two adapters with one name were refused only after the previous
run in --out had been deleted; rich turned the ``:x:`` of ``torch:x:BadAdam`` into an emoji in every
printed line (the replay command could not be pasted); the Python API (and the plugin) read an empty
path as the working directory and an empty selection as "everything"; ``report --merge --out`` chose a
run directory or a report file by whether the name had a suffix, and ``report --out r.html`` wrote
Markdown; ``Event.record`` was documented and never set; the interrupt line promised records that did
not exist; two docstring examples did not run.
"""

from __future__ import annotations

import doctest
import importlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

import conformance
from conformance import cli as cli_module
from conformance import gate

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
TINY = ("--adapter", "reference-f32", "--clauses", "UPD-MOMENTS", "--dtypes", "float32", "--max-examples", 1,
        "--no-corpus", "--no-shrink", "--quiet")
KIT = "examples/kit_numpy.py:adapter"  # a user adapter file whose adapter is named 'numpy-kit'


# ---- the pytest plugin, twice in one project -------------------------------------------------------------

def test_the_plugin_runs_again_over_its_own_earlier_runs(pytester: pytest.Pytester,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    args = ("-p", "no:cacheprovider", "--adam-adapter", "conformance.zoo.numpy_faults:FaithfulAdapter",
            "--adam-clauses", "UPD-MOMENTS", "--adam-dtypes", "float32", "--adam-max-examples", "1")
    first = pytester.runpytest_subprocess(*args)
    first.assert_outcomes(passed=1)
    runs = [p for p in (pytester.path / "reports" / "adam-conformance").iterdir() if p.is_dir()]
    assert len(runs) == 1 and (runs[0] / "run.json").is_file()
    second = pytester.runpytest_subprocess(*args)
    assert second.ret == pytest.ExitCode.OK, second.stderr.str()[-2000:]
    second.assert_outcomes(passed=1)


def test_the_plugin_still_refuses_a_directory_of_other_files(pytester: pytest.Pytester) -> None:
    own = pytester.path / "reports" / "adam-conformance" / "torch_mod_Cls"
    own.mkdir(parents=True)
    (own / "notes.txt").write_text("mine")
    pytester.makepyfile(mod="class Cls: ...")
    result = pytester.runpytest_inprocess("--adam-adapter", "torch:mod:Cls", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is not empty and holds no run (notes.txt)*"])
    assert (own / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("args, says", [
    (("--adam-clauses", ""), "*--adam-clauses '' is empty*"),
    (("--adam-dtypes", ","), "*--adam-dtypes ',' is empty*"),
    (("--adam-out", ""), "*--adam-out is empty*"),
    (("--adam-baseline", " "), "*--adam-baseline is empty*"),
])
def test_the_plugins_empty_options_are_errors(pytester: pytest.Pytester, args: tuple[str, ...], says: str) -> None:
    pytester.makepyfile(mod="class Cls: ...")
    result = pytester.runpytest_inprocess("--adam-adapter", "torch:mod:Cls", *args, "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([says])
    assert "Traceback" not in result.stderr.str()


# ---- a refusal after the workers load leaves the previous run ----------------------------------------------

def test_two_adapters_with_one_name_leave_the_previous_run_as_it_was(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "prev"
    assert cli("run", *TINY, "--out", out).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert "results.jsonl" in before and "run.json" in before
    proc = cli("run", "--adapter", KIT, "--adapter", "./" + KIT, "--clauses", "UPD-MOMENTS", "--dtypes", "float32",
               "--max-examples", 1, "--out", out, "--quiet")
    assert "both named 'numpy-kit'" in cli.usage_error(proc)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    again = cli("run", *TINY, "--out", out)  # and it is still a finished run, which the next run replaces
    assert again.returncode == 0, again.stderr[-2000:]


# ---- printed lines keep the spec as typed ------------------------------------------------------------------

def test_a_spec_with_x_between_colons_prints_as_typed(cli: Any) -> None:
    proc = cli("list", "--adapter", "torch:x:Cls")
    assert proc.returncode == 1
    assert "torch:x:Cls" in proc.stderr + proc.stdout and "\u274c" not in proc.stderr + proc.stdout


# ---- the Python API: empty paths and selections ---------------------------------------------------------

@pytest.mark.parametrize("field, value, says", [
    ("out", "", "RunConfig.out is an empty path"),
    ("baseline", "  ", "RunConfig.baseline is an empty path"),
    ("summary_md", "", "RunConfig.summary_md is an empty path"),
    ("writable", [""], "RunConfig.writable is an empty path"),
    ("clauses", "", "--clauses '' is empty"),
    ("clauses", [], "--clauses '' is empty"),
    ("dtypes", (), "--dtypes '' is empty"),
    ("dtypes", " , ", "--dtypes ' , ' is empty"),
])
def test_empty_paths_and_selections_are_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str,
                                                     value: Any, says: str) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = {"adapters": ["reference-f32"], "out": tmp_path / "run", "max_examples": 1, field: value}
    with pytest.raises(conformance.UsageError, match=says.replace("(", r"\(").replace(")", r"\)")):
        conformance.run(conformance.RunConfig(**cfg))
    assert list(tmp_path.iterdir()) == []  # nothing written, in the working directory least of all


def test_no_selection_still_means_every_clause_and_dtype(tmp_path: Path) -> None:
    p = gate.plan(gate.RunConfig(adapters=["reference-f32"], out=tmp_path / "r"))
    every = gate.plan(gate.RunConfig(adapters=["reference-f32"], out=tmp_path / "r", clauses="*"))
    assert len(p.dtypes) == 4 and p.clauses == every.clauses


def test_on_event_gets_events_and_says_so_when_it_is_not_callable(tmp_path: Path) -> None:
    with pytest.raises(conformance.UsageError, match=r"a callable taking one conformance\.Event"):
        conformance.run(conformance.RunConfig(adapters=["reference-f32"], out=tmp_path / "r"), on_event=3)
    assert not hasattr(conformance.Event("note"), "record")  # documented and never set: gone
    seen: list[Any] = []
    cfg = conformance.RunConfig(adapters=["reference-f32"], out=tmp_path / "r", clauses="UPD-MOMENTS", dtypes="float32",
                                max_examples=1, shrink=False, corpus=False)
    result = conformance.run(cfg, on_event=seen.append)
    assert result.ok and all(isinstance(e, conformance.Event) for e in seen)
    progress = [e for e in seen if e.kind == "progress" and e.total]
    assert progress and progress[-1].done == progress[-1].total


# ---- report: the output's name decides -------------------------------------------------------------------

@pytest.fixture(scope="module")
def shards(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("shards")
    got = []
    for k in (1, 2):
        out = base / f"s{k}"
        proc = cli("run", *TINY, "--shard", f"{k}/2", "--out", out)
        assert out.joinpath("run.json").is_file(), proc.stderr[-2000:]
        got.append(out)
    return got[0], got[1]


@pytest.mark.parametrize("name", ["merged.v2", "merged", "empty-dir"])
def test_report_merge_out_is_a_run_directory_unless_named_as_a_report(cli: Any, shards: tuple[Path, Path],
                                                                      tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    if name == "empty-dir":
        out.mkdir()
    proc = cli("report", "--merge", *shards, "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "run.json").is_file() and (out / "results.jsonl").is_file()


@pytest.mark.parametrize("suffix, starts", [(".md", "#"), (".html", "<!"), (".json", "{")])
def test_a_report_files_format_follows_its_name(cli: Any, shards: tuple[Path, Path], tmp_path: Path, suffix: str,
                                               starts: str) -> None:
    out = tmp_path / f"r{suffix}"
    proc = cli("report", shards[0], "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.read_text().lstrip().startswith(starts)
    merged = tmp_path / f"m{suffix}"
    assert cli("report", "--merge", *shards, "--out", merged).returncode == 0
    assert merged.is_file() and merged.read_text().lstrip().startswith(starts)
    if suffix == ".json":
        json.loads(merged.read_text())


def test_an_explicit_format_wins_over_the_name(cli: Any, shards: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert cli("report", shards[0], "--format", "md", "--out", out).returncode == 0
    assert out.read_text().startswith("#")


# ---- the interrupt line ---------------------------------------------------------------------------------

def test_the_interrupt_line_names_records_only_where_there_are_some(tmp_path: Path) -> None:
    import argparse

    none = argparse.Namespace(command="run", out=tmp_path / "nothing")
    assert cli_module._kept(none) == "" and cli_module._kept(None) == ""
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "results.jsonl").write_text('{"a": 1}\n')
    assert "continue with --resume" in cli_module._kept(none)
    assert cli_module._kept(argparse.Namespace(command="report", out=tmp_path / "nothing")) == ""


# ---- every docstring example runs -----------------------------------------------------------------------

@pytest.mark.parametrize("module", ["conformance.cases", "conformance.compare", "conformance.model"])
def test_docstring_examples_run(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # they read the committed case files under reports/cases
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


# ---- a shrunk case says what was cut ------------------------------------------------------------------

def test_a_shrunk_cases_title_says_what_the_reduction_did() -> None:
    from conformance.cases import load
    from conformance.shrink import _only, _truncate

    case = load(ROOT / "reports/cases/LR-1b5cf19db971.json")  # 5 steps, 2 parameters, ungrouped
    assert (case.num_steps, len(case.params), case.groups) == (5, 2, None) and case.title == "5 steps"
    cut = _truncate(case, 1)
    assert cut.num_steps == 1 and cut.title == "5 steps; shrunk: the first 1 of 5 steps"
    one = _only(cut, case.params[1].name)
    assert one.title == f"{cut.title}; shrunk: {case.params[1].name} alone, of 2"


# ---- the second audit of wave 8: docs against behaviour ---------------------------------------------------

PLUGIN_MODULE = '''
from conformance.zoo.numpy_faults import FaithfulAdapter


class MyLibAdapter(FaithfulAdapter):
    name = "mylib-adam"
'''


@pytest.fixture()
def plugin_env(tmp_path: Path) -> dict[str, str]:
    """An installed plugin as pip leaves one: a dist-info with an entry point, and its module."""
    site = tmp_path / "site"
    (site / "mylib").mkdir(parents=True)
    (site / "mylib" / "__init__.py").write_text("")
    (site / "mylib" / "conformance.py").write_text(PLUGIN_MODULE)
    info = site / "mylib_adam-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mylib-adam\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[adam_conformance.adapters]\nmylib-adam = mylib.conformance:MyLibAdapter\n")
    return {"PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}


def test_list_shows_installed_plugins_and_runs_them_by_name(cli: Any, plugin_env: dict[str, str],
                                                           tmp_path: Path) -> None:
    proc = cli("list", env=plugin_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mylib-adam" in proc.stdout and "plugin mylib.conformance:MyLibAdapter" in proc.stdout
    bad = cli("run", "--adapter", "nosuch-adam", "--out", tmp_path / "r", env=plugin_env)
    assert "installed plugins: mylib-adam" in cli.usage_error(bad)
    ran = cli("run", "--adapter", "mylib-adam", *TINY[2:], "--out", tmp_path / "r", env=plugin_env)
    assert ran.returncode == 0, ran.stderr[-2000:]


@pytest.mark.parametrize("value, says", [
    ("/etc/passwd/x", "$GITHUB_STEP_SUMMARY /etc/passwd/x: /etc/passwd is a file, not a directory"),
    ("{out}/summary.md", "$GITHUB_STEP_SUMMARY {out}/summary.md is one of the files the run writes"),
    ("{tmp}", "$GITHUB_STEP_SUMMARY {tmp} is a directory"),
])
def test_a_bad_step_summary_is_named_by_its_variable(cli: Any, tmp_path: Path, value: str, says: str) -> None:
    out = tmp_path / "run"
    fill = {"out": out, "tmp": tmp_path}
    proc = cli("run", *TINY, "--out", out, env={"GITHUB_STEP_SUMMARY": value.format(**fill)})
    line = cli.usage_error(proc)
    assert says.format(**fill) in line and "--summary-md" not in line, line


def test_a_bad_case_cache_variable_is_an_error(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    line = cli.usage_error(cli("run", *TINY, "--out", tmp_path / "r",
                               env={"ADAM_CONFORMANCE_CASE_CACHE": str(tmp_path / "file")}))
    assert "$ADAM_CONFORMANCE_CASE_CACHE" in line and "is a file" in line, line


def test_nothing_runnable_with_allow_unavailable_is_not_green_and_is_reported(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", "--adapter", "torch-cuda-fused", "--allow-unavailable", "--clauses", "UPD-MOMENTS", "--dtypes",
               "float32", "--max-examples", 1, "--quiet", "--out", out)
    if "torch-cuda-fused" not in proc.stderr + proc.stdout or (out / "results.jsonl").stat().st_size:
        pytest.skip("torch-cuda-fused runs here")
    assert proc.returncode == 1, proc.stderr[-2000:]
    gate_verdict = json.loads((out / "run.json").read_text())["gate"]
    assert gate_verdict["exit_code"] == 1 and "nothing was judged" in gate_verdict["problems"][0]


def test_report_into_a_path_under_a_file_is_one_line(cli: Any, shards: tuple[Path, Path], tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    line = cli.usage_error(cli("report", shards[0], "--out", tmp_path / "f" / "r.md"))
    assert f"{tmp_path / 'f'} is a file, not a directory" in line


def test_each_worker_process_writes_a_log_of_its_own(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "j2"
    proc = cli("run", "--adapter", "reference-f32", "--clauses", "UPD-*", "--dtypes", "float32", "--max-examples", 1,
               "--no-shrink", "--jobs", 2, "--quiet", "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["worker-0.1.log", "worker-0.log"]


# ---- an interrupt between a batch's write and its count ---------------------------------------------------

def test_an_interrupt_while_records_are_written_waits_for_the_batch() -> None:
    """CI caught it: SIGINT after a batch reached results.jsonl but before the gate counted it made the
    end-of-run check drop that record and blame tampering. The gate's handler now holds the interrupt."""
    import signal

    from conformance.records import hold_interrupt, uninterrupted

    done: list[str] = []

    def handler(signum: int, frame: Any) -> None:  # what gate.run installs
        if not hold_interrupt():
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with uninterrupted():
                os.kill(os.getpid(), signal.SIGINT)
                done.append("written")
                done.append("counted")
        assert done == ["written", "counted"]
        with pytest.raises(KeyboardInterrupt):  # outside such a block it is raised at once
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
        with uninterrupted():  # nothing held: nothing raised
            done.append("again")
    finally:
        signal.signal(signal.SIGINT, previous)


# ---- the red team of wave 8 --------------------------------------------------------------------------------

WRONG = '''
import inspect, os, sys, time

import numpy as np

from adapters.numpy_lowp import NumpyAdam, NumpyLowPrecisionAdapter
from conformance import ipc


class EpsInside(NumpyAdam):
    def denominator(self, v):
        return np.sqrt(self.up(v) + self.eps)


class Wrong(NumpyLowPrecisionAdapter):
    name = "wrong-eps-inside"
    impl = EpsInside


class Borrower(Wrong):
    name = "torch-cpu-single"  # a built-in's name, and with it the committed baseline's waivers


class Rebegins(Wrong):
    name = "wrong-rebegins"

    def run(self, case):  # announce the running case again and again: the case's clock restarts each time
        key = inspect.currentframe().f_back.f_locals["key"]
        frame = ipc.encode({"type": "begin", "key": key})
        while True:
            time.sleep(0.3)
            os.write(int(sys.argv[1]), frame)


class Redescribes(Wrong):
    name = "wrong-redescribes"
    done = False

    def run(self, case):
        if not self.done:
            self.done = True
            os.write(int(sys.argv[1]), ipc.encode({"type": "described", "load_error": True, "reason": "x"}))
        return super().run(case)


borrower, rebegins, redescribes = Borrower(), Rebegins(), Redescribes()
'''

EPS = ("--clauses", "UPD-EPS", "--dtypes", "float32", "--max-examples", 2, "--no-shrink", "--no-corpus", "--quiet")


@pytest.fixture()
def wrong_file(tmp_path: Path) -> Path:
    f = tmp_path / "wrong.py"
    f.write_text(WRONG)
    return f


def test_an_adapter_cannot_take_a_registered_adapters_name(cli: Any, wrong_file: Path, tmp_path: Path) -> None:
    proc = cli("run", "--adapter", f"{wrong_file}:borrower", *EPS, "--baseline", ROOT / "reports/baseline.toml",
               "--out", tmp_path / "r")
    line = cli.usage_error(proc)
    assert "calls itself 'torch-cpu-single', the name of a registered adapter" in line, line


@pytest.mark.parametrize("name, says", [("rebegins", "announced the case it was running again"),
                                        ("redescribes", "described itself again while running cases")])
def test_a_worker_that_replays_protocol_frames_is_stopped_not_waited_on(cli: Any, wrong_file: Path, tmp_path: Path,
                                                                       name: str, says: str) -> None:
    out = tmp_path / name
    proc = cli("run", "--adapter", f"{wrong_file}:{name}", *EPS, "--timeout", 3, "--out", out, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    records = cli.records(out)
    assert records and all(r["verdict"] in ("ERROR", "FAIL") for r in records)
    assert any(says in r["message"] for r in records), [r["message"] for r in records]


# ---- a waiver names every clause a failure is charged to -------------------------------------------------

def _baseline(tmp_path: Path, *clauses: str, case: str | None = None) -> Any:
    import tomli_w

    from conformance import baseline as bl

    rows = [{"adapter": "torch-cpu", "clauses": [c], "verdicts": ["FAIL"], "reason": f"known {c}"} for c in clauses]
    if case:
        rows.append({"adapter": "torch-cpu", "case": case, "verdicts": ["FAIL"], "reason": "this case"})
    f = tmp_path / "b.toml"
    f.write_text(tomli_w.dumps({"deviation": rows}))
    return bl.load(f)


def _unexplained(charged: list[str]) -> dict[str, Any]:
    return {"case_id": "DEC-0123456789ab", "adapter": "torch-cpu", "clauses": charged, "deviates": charged,
            "dtype": "float32", "verdict": "FAIL", "error_kind": None, "ratio": 3.0, "message": "worst 3x",
            "kind": "steps"}


def test_a_waiver_for_one_clause_does_not_hide_a_failure_also_charged_to_another(tmp_path: Path) -> None:
    from conformance import baseline as bl

    entries = _baseline(tmp_path, "DEC-FILTER")
    r = _unexplained(["DEC-FILTER", "DEC-L2"])
    bl.apply(entries, r)
    assert r["verdict"] == "FAIL" and r["message"].startswith("not waived: also charged to DEC-L2")
    fails, _ = bl.problems(entries)
    assert len(fails) == 1 and fails[0].startswith("NOT WAIVED:") and "DEC-L2" in fails[0]

    both = _baseline(tmp_path, "DEC-FILTER", "DEC-L2")  # named together (two entries): waived
    r2 = _unexplained(["DEC-FILTER", "DEC-L2"])
    bl.apply(both, r2)
    assert r2["verdict"] == "XFAIL" and bl.problems(both)[0] == []

    by_case = _baseline(tmp_path, case="DEC-0123456789ab")  # a case entry names the case itself
    r3 = _unexplained(["DEC-FILTER", "DEC-L2"])
    bl.apply(by_case, r3)
    assert r3["verdict"] == "XFAIL"


def test_update_baseline_names_every_charged_clause(tmp_path: Path) -> None:
    import tomllib

    from conformance import baseline as bl

    text = bl.from_records([_unexplained(["DEC-FILTER", "DEC-L2", "DEC-FILTER"])])
    rows = tomllib.loads(text)["deviation"]
    assert sorted(c for r in rows for c in r["clauses"]) == ["DEC-FILTER", "DEC-L2"]
    f = tmp_path / "made.toml"
    f.write_text(text)
    r = _unexplained(["DEC-FILTER", "DEC-L2"])
    entries = bl.load(f)
    bl.apply(entries, r)
    assert r["verdict"] == "XFAIL" and bl.problems(entries)[0] == []
